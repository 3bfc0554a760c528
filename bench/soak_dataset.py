"""soak_dataset: the soak benchmark's organisation: tests/aws/gen_dataset.py with N resource
CIDRs, then every KEEP-th VPC or subnet CIDR kept as it is and the others turned into Elastic IP
("eip") CIDRs, so that 100,000 tracked CIDRs do not mean 100,000 RRD files (the
analyzer keeps one per pool, scope, VPC and subnet; bench-rrd measures RRD at 10k files).
"eip", not "eni" as in bench/model_bench: the AWS-shaped endpoint checks its responses against
the aws CLI v2 package's EC2 model, which does not know "eni" yet.

Usage: soak_dataset.py SRCDIR OUT N KEEP
Prints the private scope id and the pool ids of the dataset's private scope, one per line
("scope ID", "pool ID"), for bench/soak.sh.
"""
import glob
import json
import os
import subprocess
import sys


def main():
    src, out, n, keep = sys.argv[1], sys.argv[2], int(sys.argv[3]), int(sys.argv[4])
    if not os.path.exists(os.path.join(out, ".complete")):
        subprocess.run([sys.executable, os.path.join(src, "tests/aws/gen_dataset.py"), "--out", out,
                        "--seed", "1", "--resource-cidrs", str(n)], check=True, stdout=subprocess.DEVNULL)
        seen = 0
        for path in glob.glob(os.path.join(out, "inventory/get-ipam-resource-cidrs/*.json")):
            with open(path) as f:
                doc = json.load(f)
            for item in doc.get("IpamResourceCidrs", []):
                if item.get("ResourceType") in ("vpc", "subnet"):
                    seen += 1
                    if keep > 1 and seen % keep:
                        item["ResourceType"] = "eip"
            with open(path + ".tmp", "w") as f:
                json.dump(doc, f)
            os.replace(path + ".tmp", path)
        open(os.path.join(out, ".complete"), "w").close()
    with open(os.path.join(out, "truth.json")) as f:
        truth = json.load(f)
    scope = truth["private_scope_id"]
    print("scope", scope)
    with open(os.path.join(out, "inventory/describe-ipam-pools.json")) as f:
        pools = json.load(f)["IpamPools"]
    for p in pools:
        if p.get("IpamScopeArn", "").endswith(scope) and p.get("AddressFamily") == "ipv4":
            print("pool", p["IpamPoolId"])


if __name__ == "__main__":
    main()

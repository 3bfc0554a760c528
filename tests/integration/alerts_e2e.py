"""alerts_e2e: fixtures and checks for 15-alerts-e2e.sh (alerts through the analyzer).

  alerts_e2e.py fixture SRC DST a|b
      copies the aws CLI inventory of SRC (tests/data/aws/org-small) to DST/inventory:
      a: the unmanaged VPC that overlaps a managed one is left out, and a VPC
         vpc-0e2e0e2e0e2e0e2e0 with 10.200.0.0/24 (an on-premise range of the test's
         routing domain) is added; pool ipam-pool-051431193e6c3f339 is 53 % used;
      b: the same without vpc-0e2e0e2e0e2e0e2e0, and that pool grown by 10.72.0.0/14
         (26.6 % used).
  alerts_e2e.py rules POOL [KEY=VALUE...]
      prints the configuration the fixtures are made for: a routing domain "onprem" (scope
      private, static 10.200.0.0/16), a rule "pool_full" (POOL: warning from 49 %, critical
      from 50 %, no for-duration; each KEY=VALUE added to it) and a rule "onprem_overlap".
  alerts_e2e.py event ID POOL SCOPE
      prints one failed AllocateIpamPoolCidr event record as "SCOPE<TAB>JSON" (kcat -K),
      at the current time.
  alerts_e2e.py am FILE EXPR
      evaluates EXPR with `a` bound to the alerts of an Alertmanager /api/v2/alerts answer
      (FILE) that are active; exit 0 when true (prints the alerts otherwise).
  alerts_e2e.py notes LOG... EXPR
      evaluates EXPR with `n` bound to the list of (fingerprint, state, alertname) of the
      /webhook notifications in the receiver logs (in order) and `e` to the entries; exit 0
      when true (prints them otherwise).
  alerts_e2e.py file PATH EXPR
      the same over the JSON lines of a file sink: `n` = (fingerprint, state, alertname),
      `r` = the records.
"""
import datetime
import json
import os
import sys

from checklib import allocate_event, copy_inventory, json_lines, verdict

BIG_POOL = "ipam-pool-051431193e6c3f339"
OVERLAP_VPC = "vpc-0e2e0e2e0e2e0e2e0"
DROP_VPC = "vpc-2fc2222d22649c1b0"  # unmanaged, overlaps vpc-5deb8fc4c7b297d0b
SCOPE = "ipam-scope-1c386bbc4cd613e30"


def fixture(src, dst, variant):
    inv = copy_inventory(src, dst)
    rc_path = os.path.join(inv, "get-ipam-resource-cidrs", SCOPE + ".json")
    with open(rc_path) as f:
        doc = json.load(f)
    items = [r for r in doc["IpamResourceCidrs"] if r["ResourceId"] != DROP_VPC]
    if variant == "a":
        vpc = dict(next(r for r in items if r["ResourceType"] == "vpc"))
        vpc.update({"ResourceId": OVERLAP_VPC, "VpcId": OVERLAP_VPC, "ResourceName": "legacy-dc",
                    "ResourceCidr": "10.200.0.0/24", "ResourceRegion": "eu-central-1",
                    "ResourceTags": [{"Key": "Name", "Value": "legacy-dc"}],
                    "OverlapStatus": "nonoverlapping"})
        items.append(vpc)
    doc["IpamResourceCidrs"] = items
    with open(rc_path, "w") as f:
        json.dump(doc, f, indent=1)
    if variant == "b":
        pc_path = os.path.join(inv, "get-ipam-pool-cidrs", BIG_POOL + ".json")
        with open(pc_path) as f:
            doc = json.load(f)
        more = dict(doc["IpamPoolCidrs"][0])
        more.update({"Cidr": "10.72.0.0/14", "IpamPoolCidrId": "ipam-pool-cidr-0e2e0e2e0e2e",
                     "NetmaskLength": 14})
        doc["IpamPoolCidrs"].append(more)
        with open(pc_path, "w") as f:
            json.dump(doc, f, indent=1)


def rules(pool, *extra):
    print('[domain "onprem"]\nscopes = private\nstatic = 10.200.0.0/16')
    print('[rule "pool_full"]\ntype = utilization\npool = %s' % pool)
    print("warn_trigger = 49\nwarn_reset = 40\ncrit_trigger = 50\ncrit_reset = 45\nfor = 0s")
    for kv in extra:
        print("%s = %s" % tuple(kv.split("=", 1)))
    print('[rule "onprem_overlap"]\ntype = overlap\ndomain = onprem\nseverity = critical')


def event(event_id, pool, scope):
    allocate_event(scope, datetime.datetime.now(datetime.timezone.utc), "111111111111", pool, 16,
                   event_id=event_id, error_code="InvalidParameterValue",
                   error_message="The allocation size is too big for the pool.")


def main():
    cmd = sys.argv[1]
    if cmd == "fixture":
        fixture(sys.argv[2], sys.argv[3], sys.argv[4])
        return 0
    if cmd == "rules":
        rules(*sys.argv[2:])
        return 0
    if cmd == "event":
        event(*sys.argv[2:5])
        return 0
    if cmd == "am":
        with open(sys.argv[2]) as f:
            a = [x for x in json.load(f) if x["status"]["state"] == "active"]
        return verdict(bool(eval(sys.argv[3], {"a": a})), a)
    if cmd == "notes":
        e = [x for path in sys.argv[2:-1] for x in json_lines(path)]
        n = [(x["body"]["fingerprint"], x["body"]["state"], x["body"]["labels"]["alertname"])
             for x in e if x["path"] == "/webhook" and x["valid"]]
        return verdict(bool(eval(sys.argv[-1], {"n": n, "e": e})), n)
    if cmd == "file":
        r = json_lines(sys.argv[2])
        n = [(x["fingerprint"], x["state"], x["labels"]["alertname"]) for x in r]
        return verdict(bool(eval(sys.argv[3], {"n": n, "r": r})), n)
    print("usage: see the module docstring", file=sys.stderr)
    return 2


if __name__ == "__main__":
    sys.exit(main())

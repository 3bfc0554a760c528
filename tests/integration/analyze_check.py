# analyze_check: independent checks and stream builders for tests/integration/10-analyze.sh.
#
#   objects DATA RRDDIR            every pool, scope, VPC and subnet of the dataset has an RRD file
#   pool DATA RRDDIR POOL          the pool's last RRD values equal figures computed here with
#                                  Python's ipaddress from the dataset's files
#   lastvalues RRDDIR              prints "kind/id value..." of every file's last update
#   stream IN OUT PASSES SEED      from one pass per scope (kcat "key<TAB>json" lines) builds
#                                  PASSES passes a day apart with allocation/release events
#                                  between them; prints the expected pass count
#   torn IN OUT                    a later copy of the passes with half the allocations gone:
#                                  one without pass_end, one with wrong counts
#   badmix IN OUT                  bad records (malformed, wrong version, oversized) between
#                                  the good ones; prints the 0-based offsets of the bad ones
#   deadletters FILE OFFSETS       the dead-letter topic (kcat "%o\t%s" lines) holds one letter
#                                  per bad offset with the right code, reason and source
#   keys JOURNALDUMP               "total unique" count of journal keys
import ipaddress
import json
import os
import random
import subprocess
import sys

from checklib import load_json, pool_figures


def dataset_objects(data):
    inv = os.path.join(data, "inventory")
    objs = set()
    for p in load_json(os.path.join(inv, "describe-ipam-pools.json"))["IpamPools"]:
        objs.add(("pool", p["IpamPoolId"]))
    for s in load_json(os.path.join(inv, "describe-ipam-scopes.json"))["IpamScopes"]:
        objs.add(("scope", s["IpamScopeId"]))
    rdir = os.path.join(inv, "get-ipam-resource-cidrs")
    for f in os.listdir(rdir):
        for r in load_json(os.path.join(rdir, f))["IpamResourceCidrs"]:
            if r["ResourceType"] in ("vpc", "subnet"):
                objs.add((r["ResourceType"], r["ResourceId"]))
    return objs


def lastupdate(path):
    out = subprocess.run(["rrdtool", "lastupdate", path], check=True, capture_output=True,
                         text=True).stdout.split("\n")
    names = out[0].split()
    vals = [line for line in out[1:] if line.strip()][-1].split(":", 1)[1].split()
    return dict(zip(names, vals))


def cmd_objects(data, rrddir):
    want = dataset_objects(data)
    have = set()
    for kind in ("pool", "scope", "vpc", "subnet"):
        d = os.path.join(rrddir, kind)
        if os.path.isdir(d):
            have |= {(kind, f[:-4]) for f in os.listdir(d) if f.endswith(".rrd")}
    missing = sorted(want - have)
    print(f"# {len(want)} objects in the dataset, {len(have)} RRD files")
    if missing:
        print(f"# missing: {missing[:10]}")
    return 0 if not missing and want else 1


def cmd_pool(data, rrddir, pool):
    want = pool_figures(data, pool)
    got = lastupdate(os.path.join(rrddir, "pool", pool + ".rrd"))
    ok = True
    for k, v in want.items():
        if v is None:
            continue
        g = float(got[k])
        if abs(g - v) > 1e-6 * max(1.0, abs(v)):
            print(f"# {pool} {k}: RRD has {g}, expected {v}")
            ok = False
    print(f"# {pool}: expected {want}; RRD {got}")
    return 0 if ok else 1


def cmd_lastvalues(rrddir):
    for kind in sorted(os.listdir(rrddir)):
        d = os.path.join(rrddir, kind)
        if not os.path.isdir(d):
            continue
        for f in sorted(os.listdir(d)):
            if f.endswith(".rrd"):
                v = lastupdate(os.path.join(d, f))
                print(kind + "/" + f[:-4], " ".join(f"{k}={v[k]}" for k in sorted(v)))
    return 0


def read_records(path):
    out = []
    with open(path) as f:
        for line in f:
            line = line.rstrip("\n")
            if line:
                k, v = line.split("\t", 1)
                out.append((k, json.loads(v)))
    return out


def fmt_time(ms):
    import datetime
    t = datetime.datetime.fromtimestamp(ms / 1000, tz=datetime.timezone.utc)
    return t.strftime("%Y-%m-%dT%H:%M:%S.") + f"{ms % 1000:03d}Z"


def shift_pass(recs, pass_id, t0_ms):
    """The records of one pass per scope with a new pass id and times at t0."""
    out = []
    for k, r in recs:
        r = dict(r)
        r["ts"] = fmt_time(t0_ms + 1000)
        if "pass" in r:
            r["pass"] = pass_id
        if r["type"] == "pass_begin":
            r["started"] = fmt_time(t0_ms)
            r["ts"] = fmt_time(t0_ms)
        if r["type"] == "pass_end":
            r["ts"] = fmt_time(t0_ms + 2000)
        out.append((k, r))
    return out


def pool_allocations(recs):
    pools, allocs, cidrs = {}, {}, {}
    for _, r in recs:
        if r["type"] == "pool":
            pools[r["pool_id"]] = r
        elif r["type"] == "pool_cidr" and r.get("cidr"):
            cidrs.setdefault(r["pool_id"], []).append(ipaddress.ip_network(r["cidr"]))
        elif r["type"] == "allocation":
            allocs.setdefault(r["pool_id"], []).append(ipaddress.ip_network(r["cidr"]))
    return pools, cidrs, allocs


def cmd_stream(inp, out, passes, seed):
    rnd = random.Random(int(seed))
    recs = read_records(inp)
    pools, cidrs, allocs = pool_allocations(recs)
    # Pools with room for /24 allocations: events allocate and release there.
    cands = sorted(p for p in cidrs if p in pools)
    t0 = 1735689600000  # 2025-01-01
    day = 86400000
    lines = []
    live = []
    n_events = 0
    for i in range(int(passes)):
        base = t0 + i * day
        for k, r in shift_pass(recs, f"stream/{i}", base):
            lines.append((k, r))
        for j in range(rnd.randint(2, 6)):
            pool = rnd.choice(cands)
            scope = pools[pool]["scope"]
            net = cidrs[pool][0]
            ev_time = base + 3600000 * (j + 1)
            n_events += 1
            ev = {"v": 1, "type": "event", "scope": scope, "ts": fmt_time(ev_time + 5000),
                  "source": "collector/stream", "event_id": f"ev-{i}-{j}",
                  "time": fmt_time(ev_time), "account": "111111111111",
                  "region": "eu-central-1", "pool_id": pool, "parsed": True}
            if live and rnd.random() < 0.4:
                p, c, aid = live.pop(rnd.randrange(len(live)))
                ev.update({"name": "ReleaseIpamPoolAllocation", "pool_id": p, "cidr": c,
                           "allocation_id": aid, "scope": pools[p]["scope"]})
            elif rnd.random() < 0.15:
                ev.update({"name": "AllocateIpamPoolCidr", "netmask_length": 8,
                           "error_code": "InvalidParameterValue",
                           "error_message": "The allocation size is too big for the pool."})
            else:
                sub = list(net.subnets(new_prefix=max(net.prefixlen, min(28, net.prefixlen + 6))))
                c = str(rnd.choice(sub))
                aid = f"ipam-pool-alloc-s{i}x{j}"
                ev.update({"name": "AllocateIpamPoolCidr", "cidr": c, "allocation_id": aid,
                           "netmask_length": int(c.split("/")[1])})
                live.append((pool, c, aid))
            lines.append(("111111111111/eu-central-1", ev))
    with open(out, "w") as f:
        for k, r in lines:
            f.write(k + "\t" + json.dumps(r, separators=(",", ":")) + "\n")
    print(f"{len(lines)} {n_events}")
    return 0


def cmd_torn(inp, out):
    recs = read_records(inp)
    t = 1893456000000  # 2030-01-01: later than any pass
    lines = []
    for n, mode in enumerate(("no_end", "bad_counts")):
        i = 0
        for k, r in shift_pass(recs, f"torn/{mode}", t + n * 3600000):
            if r["type"] == "allocation":
                i += 1
                if i % 2 == 0:
                    continue
            if r["type"] == "pass_end":
                if mode == "no_end":
                    continue
                r = dict(r)
                r["counts"] = dict(r["counts"])
                r["counts"]["allocation"] = r["counts"].get("allocation", 0) + 100
            lines.append((k, r))
    with open(out, "w") as f:
        for k, r in lines:
            f.write(k + "\t" + json.dumps(r, separators=(",", ":")) + "\n")
    return 0


def cmd_badmix(inp, out):
    recs = read_records(inp)
    key = recs[0][0]
    good = [k + "\t" + json.dumps(r, separators=(",", ":")) for k, r in recs]
    wrongv = dict(recs[1][1])
    wrongv["v"] = 2
    big = dict(recs[1][1])
    big["description"] = "x" * (1100 * 1024)
    bad = [key + "\t{\"v\":1,\"type\":\"pool\",\"pool_id\":",
           key + "\t" + json.dumps(wrongv, separators=(",", ":")),
           key + "\t" + json.dumps(big, separators=(",", ":")),
           key + "\t" + json.dumps({"v": 1, "type": "pool", "scope": "s", "ts": "2025-01-01T00:00:00Z",
                                    "source": "x"})]
    # All of one key (one partition), bad ones before, between and after the good ones.
    mid = len(good) // 2
    lines = [bad[0]] + good[:mid] + [bad[1], bad[2]] + good[mid:] + [bad[3]]
    offsets = [0, mid + 1, mid + 2, len(lines) - 1]
    with open(out, "w") as f:
        f.write("\n".join(lines) + "\n")
    print(" ".join(map(str, offsets)))
    return 0


def cmd_deadletters(path, offsets):
    want = {int(o) for o in offsets.split()}
    codes = {}
    ok = True
    with open(path) as f:
        for line in f:
            line = line.rstrip("\n")
            if not line:
                continue
            d = json.loads(line)
            for k in ("v", "code", "reason", "topic", "partition", "offset", "key",
                      "payload_bytes", "truncated"):
                if k not in d:
                    print(f"# dead letter without {k}: {line[:200]}")
                    ok = False
            if "payload" not in d and "payload_base64" not in d:
                print("# dead letter without payload")
                ok = False
            codes[d["offset"]] = d
    got = set(codes)
    if got != want:
        print(f"# dead-letter offsets {sorted(got)}, expected {sorted(want)}")
        return 1
    by_offset = sorted(want)
    big = [d for d in codes.values() if d["code"] == "oversized"]
    if len(big) != 1 or not big[0]["truncated"] or big[0]["payload_bytes"] <= 1024 * 1024 or \
            len(big[0].get("payload", "")) > 65536:
        print(f"# oversized letter wrong: {[(d['code'], d['payload_bytes']) for d in big]}")
        ok = False
    if not any("version" in d["reason"] for d in codes.values()):
        print("# no dead letter names the wrong version")
        ok = False
    if codes[by_offset[0]]["code"] != "invalid" or codes[by_offset[0]]["truncated"]:
        print(f"# malformed letter wrong: {codes[by_offset[0]]}")
        ok = False
    for o, d in sorted(codes.items()):
        print(f"# offset {o}: {d['code']}: {d['reason'][:100]}")
    return 0 if ok else 1


def cmd_keys(path):
    keys = []
    with open(path) as f:
        for line in f:
            parts = line.rstrip("\n").split("\t")
            if len(parts) >= 4:
                keys.append(parts[3])
    print(len(keys), len(set(keys)))
    return 0


def main(argv):
    cmds = {"objects": cmd_objects, "pool": cmd_pool, "lastvalues": cmd_lastvalues,
            "stream": cmd_stream, "torn": cmd_torn, "badmix": cmd_badmix,
            "deadletters": cmd_deadletters, "keys": cmd_keys}
    if len(argv) < 2 or argv[1] not in cmds:
        print(__doc__ if __doc__ else "usage", file=sys.stderr)
        return 2
    return cmds[argv[1]](*argv[2:])


if __name__ == "__main__":
    sys.exit(main(sys.argv))

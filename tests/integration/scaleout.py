"""scaleout: records and checks for 23-scale-out.sh (two analyzers in one consumer group).

  scaleout.py pass N LEVEL     prints one complete inventory pass of scope N (0..3) as
                               "key<TAB>record" lines for kcat -K; LEVEL high = the pool 59 % used,
                               low = 6 % used
  scaleout.py scope N          prints the scope id / pool id of scope N ("scope pool")
  scaleout.py notes LOG EXPR   evaluates EXPR over n = [(fingerprint, state, pool_id)] of the
                               webhook notifications logged by tests/alerts/receiver.py
  scaleout.py am FILE EXPR      evaluates EXPR over a = [(pool_id, state)] of the alerts in
                               FILE (Alertmanager's GET /api/v2/alerts) that carry a pool_id
  scaleout.py journal PASSLOG DIR...  every pass id in PASSLOG is journaled exactly once over the
                               journals DIR... (union by key); prints the counts
"""
import json
import os
import sys
import time

from checklib import json_lines, verdict

SRC = "collector/scaleout-test"


def ids(n):
    return "ipam-scope-5ca1e0%011x" % n, "ipam-pool-5ca1e0%011x" % n


def ts(ms):
    return time.strftime("%Y-%m-%dT%H:%M:%S", time.gmtime(ms // 1000)) + ".%03dZ" % (ms % 1000)


def records(n, level, now_ms):
    scope, pool = ids(n)
    pid = "scaleout/%d/%d" % (n, now_ms)
    env = lambda t: {"v": 1, "type": t, "scope": scope, "ts": ts(now_ms), "source": SRC, "pass": pid}
    out = [dict(env("pass_begin"), collector_id="scaleout", started=ts(now_ms))]
    out.append(dict(env("scope"), scope_id=scope, ipam_id="ipam-05ca1e05ca1e05ca1", scope_type="private"))
    out.append(dict(env("pool"), pool_id=pool, scope_id=scope, ipam_id="ipam-05ca1e05ca1e05ca1",
                    locale="eu-central-1", address_family="ipv4", depth=1, state="create-complete",
                    allocation_default_netmask=24))
    net = "10.%d.0.0" % (100 + n)
    out.append(dict(env("pool_cidr"), pool_id=pool, pool_cidr_id="ipam-pool-cidr-%d" % n,
                    cidr=net + "/16", state="provisioned", netmask_length=16))
    allocs = ["10.%d.0.0/17" % (100 + n), "10.%d.128.0/20" % (100 + n), "10.%d.144.0/21" % (100 + n)]
    if level == "low":
        allocs = allocs[1:2]
    for i, c in enumerate(allocs):
        out.append(dict(env("allocation"), pool_id=pool, allocation_id="ipam-pool-alloc-%d-%d" % (n, i),
                        cidr=c, resource_type="custom"))
    out.append(dict(env("pass_end"), counts={"ipam": 0, "scope": 1, "pool": 1, "pool_cidr": 1,
                                             "allocation": len(allocs), "resource_cidr": 0,
                                             "discovered_account": 0}, complete=True))
    return pid, out


def main():
    cmd = sys.argv[1]
    if cmd == "pass":
        now = int(time.time() * 1000)
        pid, recs = records(int(sys.argv[2]), sys.argv[3], now)
        for r in recs:
            print(r["scope"] + "\t" + json.dumps(r, separators=(",", ":")))
        print(pid, file=sys.stderr)
        return 0
    if cmd == "scope":
        print(*ids(int(sys.argv[2])))
        return 0
    if cmd == "notes":
        n = [(x["body"]["fingerprint"], x["body"]["state"], x["body"]["labels"].get("pool_id"))
             for x in json_lines(sys.argv[2]) if x["path"] == "/webhook" and x["valid"]]
        return verdict(bool(eval(sys.argv[3], {"n": n})), n)
    if cmd == "am":
        with open(sys.argv[2]) as f:
            a = [(x["labels"]["pool_id"], x["status"]["state"]) for x in json.load(f)
                 if "pool_id" in x["labels"]]
        return verdict(bool(eval(sys.argv[3], {"a": a})), a)
    if cmd == "journal":
        with open(sys.argv[2]) as f:
            want = {line.strip() for line in f if line.strip()}
        seen = {}
        for d in sys.argv[3:]:
            for name in sorted(os.listdir(d)):
                if not name.endswith(".jsonl"):
                    continue
                with open(os.path.join(d, name)) as f:
                    for line in f:
                        r = json.loads(line)
                        if r["kind"] == "pass":
                            seen[r["key"]] = seen.get(r["key"], 0) + 1
        got = {k.split(":", 2)[2]: c for k, c in seen.items()}
        lost = [p for p in want if p not in got]
        dup = [k for k, c in seen.items() if c > 1]
        print("passes produced %d, journaled %d, lost %d, duplicated %d" % (len(want), len(got), len(lost), len(dup)))
        if lost:
            print("lost:", lost[:5])
        if dup:
            print("duplicated:", dup[:5])
        return 0 if not lost and not dup else 1
    return 2


if __name__ == "__main__":
    sys.exit(main())

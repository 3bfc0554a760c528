"""sinks_check: fixtures and checks for 24-sinks.sh (alert sinks end to end through the analyzer).

  sinks_check.py fixture SRC DST a|b
      copies the aws CLI inventory of SRC (tests/data/aws/org-small) to DST/inventory;
      b: pool ipam-pool-6f8130c4237730edf also lists allocation 10.64.200.0/24
      (ipam-pool-alloc-0516c0516c0516c0516c0516c0516c05), a: it does not.
  sinks_check.py event SCOPE AGE_S
      prints a successful AllocateIpamPoolCidr event of that allocation as "SCOPE<TAB>JSON"
      (kcat -K), AGE_S seconds in the past.
  sinks_check.py kafka FILE EXPR
      evaluates EXPR with `k` bound to the list of (key, record) of a kcat dump (FILE: one
      "KEY<TAB>VALUE" line per message) and `n` to (fingerprint, state, reason) per record;
      exit 0 when true (prints them otherwise).
  sinks_check.py syslog LOG EXPR
      the same over a receiver.py syslog log: `s` = the logged entries.
"""
import datetime
import json
import os
import sys

from checklib import allocate_event, copy_inventory, json_lines, verdict

POOL = "ipam-pool-6f8130c4237730edf"
CIDR = "10.64.200.0/24"
ALLOC = "ipam-pool-alloc-0516c0516c0516c0516c0516c0516c05"


def fixture(src, dst, variant):
    inv = copy_inventory(src, dst)
    if variant == "b":
        path = os.path.join(inv, "get-ipam-pool-allocations", POOL + ".json")
        with open(path) as f:
            doc = json.load(f)
        doc["IpamPoolAllocations"].append({
            "Cidr": CIDR, "IpamPoolAllocationId": ALLOC, "ResourceType": "custom",
            "ResourceOwner": "555555555555", "Description": "sinks test"})
        with open(path, "w") as f:
            json.dump(doc, f, indent=1)


def event(scope, age_s):
    when = datetime.datetime.now(datetime.timezone.utc) - datetime.timedelta(seconds=int(age_s))
    allocate_event(scope, when, "555555555555", POOL, 24, allocation_id=ALLOC, cidr=CIDR)


def load_lines(path):
    if not os.path.exists(path):
        return []
    with open(path) as f:
        return [line.rstrip("\n") for line in f if line.strip()]


def main():
    cmd = sys.argv[1]
    if cmd == "fixture":
        fixture(*sys.argv[2:5])
        return 0
    if cmd == "event":
        event(*sys.argv[2:4])
        return 0
    if cmd == "kafka":
        k = []
        for line in load_lines(sys.argv[2]):
            key, _, value = line.partition("\t")
            k.append((key, json.loads(value)))
        n = [(r["fingerprint"], r["state"], r["labels"].get("reason")) for _, r in k]
        return verdict(bool(eval(sys.argv[3], {"k": k, "n": n})), k)
    if cmd == "syslog":
        s = json_lines(sys.argv[2])
        return verdict(bool(eval(sys.argv[3], {"s": s})), s)
    print("usage: see the module docstring", file=sys.stderr)
    return 2


if __name__ == "__main__":
    sys.exit(main())

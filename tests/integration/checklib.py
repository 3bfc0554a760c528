"""checklib: helpers shared by the Python checkers of the integration scripts.

  copy_inventory(src, dst)   fresh copy of SRC/inventory (aws CLI layout) at DST/inventory
  json_lines(path)           the JSON records of a JSON-lines file ([] when it does not exist)
  verdict(ok, *show)         exit status of a check; prints what it looked at when it failed
  allocate_event(...)        an AllocateIpamPoolCidr event record, printed as "SCOPE<TAB>JSON"
"""
import json
import os
import shutil
import sys
import uuid


def copy_inventory(src, dst):
    """Replaces DST/inventory with a copy of SRC/inventory; returns its path."""
    inv = os.path.join(dst, "inventory")
    if os.path.exists(inv):
        shutil.rmtree(inv)
    shutil.copytree(os.path.join(src, "inventory"), inv)
    return inv


def json_lines(path):
    if not os.path.exists(path):
        return []
    with open(path) as f:
        return [json.loads(line) for line in f if line.strip()]


def verdict(ok, *show):
    if not ok:
        for s in show:
            print(json.dumps(s, indent=1, default=str)[:6000], file=sys.stderr)
    return 0 if ok else 1


def allocate_event(scope, when, account, pool, netmask_length, **fields):
    """Prints an AllocateIpamPoolCidr event record of SCOPE at WHEN (a datetime) by a
    Terraform role of ACCOUNT as one "SCOPE<TAB>JSON" line (kcat -K); FIELDS (event_id,
    cidr, error_code, ...) are added to it, a random event_id when none is given."""
    t = when.strftime("%Y-%m-%dT%H:%M:%S.000Z")
    rec = {
        "v": 1, "type": "event", "scope": scope, "ts": t, "source": "collector/test",
        "event_id": str(uuid.uuid4()), "name": "AllocateIpamPoolCidr", "time": t,
        "account": account, "region": "eu-central-1", "caller_account": account,
        "principal": {"type": "AssumedRole",
                      "arn": "arn:aws:sts::%s:assumed-role/Deployer/terraform" % account,
                      "principal_id": "AROAEXAMPLE:terraform"},
        "source_ip": "198.51.100.7", "user_agent": "terraform", "request_id": str(uuid.uuid4()),
        "pool_id": pool, "netmask_length": netmask_length, "parsed": True,
    }
    rec.update(fields)
    print(scope + "\t" + json.dumps(rec, separators=(",", ":")))

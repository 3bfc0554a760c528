"""checklib: helpers shared by the Python checkers of the integration scripts.

  copy_inventory(src, dst)   fresh copy of SRC/inventory (aws CLI layout) at DST/inventory
  json_lines(path)           the JSON records of a JSON-lines file ([] when it does not exist)
  verdict(ok, *show)         exit status of a check; prints what it looked at when it failed
  allocate_event(...)        an AllocateIpamPoolCidr event record, printed as "SCOPE<TAB>JSON"
  load_json(path)            the JSON document of a file
  pool_figures(data, pool)   a pool's size, used, free, utilization, allocations and largest
                             free prefix computed with ipaddress from a dataset's files
"""
import ipaddress
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


def load_json(path):
    with open(path) as f:
        return json.load(f)


def pool_figures(data, pool):
    """The figures of POOL in dataset DATA (aws CLI layout under DATA/inventory), computed
    independently of ipamwatch: provisioned CIDRs make the size, the collapsed allocations the
    used part; largest_free is the shortest prefix length of the free blocks (None when
    full). Utilization in percent, None for a pool of size 0."""
    inv = os.path.join(data, "inventory")
    cidrs = [ipaddress.ip_network(c["Cidr"]) for c in
             load_json(os.path.join(inv, "get-ipam-pool-cidrs", pool + ".json"))["IpamPoolCidrs"]
             if c.get("State") == "provisioned"]
    allocs = [ipaddress.ip_network(a["Cidr"]) for a in
              load_json(os.path.join(inv, "get-ipam-pool-allocations", pool + ".json"))
              ["IpamPoolAllocations"]]
    used_nets = list(ipaddress.collapse_addresses(allocs))
    size = sum(c.num_addresses for c in cidrs)
    used = sum(n.num_addresses for n in used_nets)
    free = []
    for c in cidrs:
        parts = [c]
        for u in used_nets:
            nxt = []
            for p in parts:
                if u.subnet_of(p):
                    nxt.extend(p.address_exclude(u))
                elif not p.subnet_of(u):
                    nxt.append(p)
            parts = nxt
        free.extend(parts)
    return {"size": size, "used": used, "free": size - used,
            "utilization": 100.0 * used / size if size else None, "allocations": len(allocs),
            "largest_free": min(p.prefixlen for p in free) if free else None}

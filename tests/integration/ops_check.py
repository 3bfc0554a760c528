"""ops_check: helpers of 14-ops.sh.

  ops_check.py port                          print a free TCP port of 127.0.0.1
  ops_check.py expect DATA POOL              print the pool's size, used, utilization and
                                             largest free prefix computed from the dataset
  ops_check.py metrics FILE NAME LABELS...   print the value of series NAME{LABELS} (k=v)
                                             in a /metrics text, exit 1 when absent
  ops_check.py notify SOCKET OUT             receive sd_notify datagrams into OUT (one a line)
  ops_check.py committed BOOTSTRAP GROUP TOPIC...
                                             print "COMMITTED END": the group's committed
                                             offsets and the end offsets summed over the
                                             topics' partitions (kafka-python, no group join)
"""
import ipaddress
import json
import os
import re
import socket
import sys


def load(path):
    with open(path) as f:
        return json.load(f)


def expect(data, pool):
    inv = os.path.join(data, "inventory")
    cidrs = [ipaddress.ip_network(c["Cidr"]) for c in
             load(os.path.join(inv, "get-ipam-pool-cidrs", pool + ".json"))["IpamPoolCidrs"]
             if c.get("State") == "provisioned"]
    allocs = [ipaddress.ip_network(a["Cidr"]) for a in
              load(os.path.join(inv, "get-ipam-pool-allocations", pool + ".json"))
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
    largest = min(p.prefixlen for p in free) if free else "NaN"
    print(size, used, repr(100.0 * used / size), largest)


SERIES = re.compile(r'^([a-zA-Z_:][a-zA-Z0-9_:]*)(\{(.*)\})? (\S+)$')
LABEL = re.compile(r'([a-zA-Z_][a-zA-Z0-9_]*)="((?:[^"\\]|\\.)*)"')


def metrics(path, name, want):
    want = dict(kv.split("=", 1) for kv in want)
    with open(path) as f:
        for line in f:
            m = SERIES.match(line.rstrip("\n"))
            if not m or m.group(1) != name:
                continue
            labels = dict(LABEL.findall(m.group(3) or ""))
            if all(labels.get(k) == v for k, v in want.items()):
                print(m.group(4))
                return 0
    return 1


def port():
    s = socket.socket()
    s.bind(("127.0.0.1", 0))
    print(s.getsockname()[1])
    s.close()


def notify(path, out):
    s = socket.socket(socket.AF_UNIX, socket.SOCK_DGRAM)
    s.bind(path)
    with open(out, "a") as f:
        while True:
            f.write(s.recv(4096).decode() + "\n")
            f.flush()


def committed(bootstrap, group, topics):
    from kafka import KafkaConsumer, TopicPartition
    c = KafkaConsumer(bootstrap_servers=bootstrap, group_id=group, enable_auto_commit=False)
    tps = [TopicPartition(t, p) for t in topics for p in sorted(c.partitions_for_topic(t) or ())]
    print(sum(c.committed(tp) or 0 for tp in tps), sum(c.end_offsets(tps).values()))
    c.close()


def main(argv):
    if argv[1] == "port":
        port()
    elif argv[1] == "expect":
        expect(argv[2], argv[3])
    elif argv[1] == "metrics":
        return metrics(argv[2], argv[3], argv[4:])
    elif argv[1] == "notify":
        notify(argv[2], argv[3])
    elif argv[1] == "committed":
        committed(argv[2], argv[3], argv[4:])
    return 0


if __name__ == "__main__":
    sys.exit(main(sys.argv))

#!/usr/bin/python3
"""overlap_baseline: a straightforward Python `ipaddress` sorted-sweep overlap scan.

Reads the benchmark data ("DOMAIN OWNER PARENT CIDR" lines, as gen_cidrs writes them),
groups the CIDRs by routing domain and family, sorts them by (address, prefix length) and
sweeps with a stack of enclosing networks: every network still on the stack when the next
one starts contains it. A pair is counted unless both have the same owner or one is the
other's declared parent, the same rule the C index applies. Prints key=value lines.

Usage: /usr/bin/python3 overlap_baseline.py FILE
"""
import ipaddress
import sys
import time
from collections import defaultdict


def main():
    path = sys.argv[1]
    c0 = time.process_time()
    t0 = time.perf_counter()
    groups = defaultdict(list)
    n = 0
    with open(path) as f:
        for line in f:
            dom, owner, parent, cidr = line.split()
            net = ipaddress.ip_network(cidr)  # strict: host bits are an error
            groups[(int(dom), net.version)].append(
                (int(net.network_address), net.prefixlen, int(net.broadcast_address),
                 int(owner), int(parent)))
            n += 1
    t1 = time.perf_counter()

    pairs = 0
    for items in groups.values():
        items.sort()
        stack = []
        for start, _plen, end, owner, parent in items:
            while stack and stack[-1][0] < start:
                stack.pop()
            for _end, o, p in stack:
                if o == owner or p == owner or parent == o:
                    continue
                pairs += 1
            stack.append((end, owner, parent))
    t2 = time.perf_counter()
    c2 = time.process_time()

    print(f"py_cidrs={n}")
    print(f"py_pairs={pairs}")
    print(f"py_parse_seconds={t1 - t0:.3f}")
    print(f"py_scan_seconds={t2 - t1:.3f}")
    print(f"py_total_seconds={t2 - t0:.3f}")
    print(f"py_cpu_seconds={c2 - c0:.3f}")


if __name__ == "__main__":
    main()

"""ops_check: helpers of 14-ops.sh.

  ops_check.py port                          print a free TCP port of 127.0.0.1
  ops_check.py expect DATA POOL              print the pool's size, used, utilization and
                                             largest free prefix computed from the dataset
  ops_check.py metrics FILE NAME LABELS...   print the value of series NAME{LABELS} (k=v)
                                             in a /metrics text, exit 1 when absent
  ops_check.py alerting DATA WARN CRIT       print how many alerts a utilization rule with
                                             these triggers fires over the dataset's pools
                                             (one per pool and level reached)
  ops_check.py history DATA POOL END DAYS PER_DAY OUT
                                             write to OUT an hourly rrd_history input of POOL
                                             growing PER_DAY addresses a day for DAYS days up
                                             to its used figure at END (UTC seconds); print the
                                             seconds from END until that trend fills the pool
  ops_check.py near VALUE WANT TOLERANCE     exit 0 when |VALUE - WANT| <= TOLERANCE
  ops_check.py notify SOCKET OUT             receive sd_notify datagrams into OUT (one a line)
  ops_check.py committed BOOTSTRAP GROUP TOPIC...
                                             print "COMMITTED END": the group's committed
                                             offsets and the end offsets summed over the
                                             topics' partitions (kafka-python, no group join)
"""
import os
import re
import socket
import sys

from checklib import load_json, pool_figures


def expect(data, pool):
    f = pool_figures(data, pool)
    largest = f["largest_free"] if f["largest_free"] is not None else "NaN"
    print(f["size"], f["used"], repr(f["utilization"]), largest)


def alerting(data, warn, crit):
    pools = load_json(os.path.join(data, "inventory", "describe-ipam-pools.json"))["IpamPools"]
    n = 0
    for p in pools:
        u = pool_figures(data, p["IpamPoolId"])["utilization"]
        if u is not None:
            n += (u >= float(warn)) + (u >= float(crit))
    print(n)


def history(data, pool, end, days, per_day, out):
    f = pool_figures(data, pool)
    end, days, per_day = int(end), int(days), float(per_day)
    with open(out, "w") as o:
        for h in range(days * 24, -1, -1):
            t = end - h * 3600
            o.write("pool %s %d %d %.3f U\n" % (pool, t, f["size"], f["used"] - per_day * h / 24))
    print(int((f["size"] - f["used"]) / per_day * 86400))


def near(value, want, tolerance):
    return 0 if abs(float(value) - float(want)) <= float(tolerance) else 1


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
    elif argv[1] == "alerting":
        alerting(argv[2], argv[3], argv[4])
    elif argv[1] == "history":
        history(*argv[2:8])
    elif argv[1] == "near":
        return near(argv[2], argv[3], argv[4])
    elif argv[1] == "notify":
        notify(argv[2], argv[3])
    elif argv[1] == "committed":
        committed(argv[2], argv[3], argv[4:])
    return 0


if __name__ == "__main__":
    sys.exit(main(sys.argv))

"""kafka_records: test helper for 03-broker.sh (runs under Debian's /usr/bin/python3).

  gen N                       keyed JSON records, "key<TAB>value" lines, on stdout
  consume BOOTSTRAP TOPIC GROUP COUNT TIMEOUT_S
                              reads COUNT records with kafka-python in consumer group
                              GROUP; prints "partition<TAB>offset<TAB>key<TAB>value"
  verify EXPECTED CONSUMED    compares "key<TAB>value" lines with consumed lines byte
                              for byte; exit 1 with the reason on stderr
"""
import collections
import json
import sys
import time


def gen(n):
    out = sys.stdout.buffer
    for i in range(n):
        scope = "ipam-scope-%02x" % (i % 37)
        rec = {
            "v": 1,
            "type": "pool_cidr",
            "scope": scope,
            "seq": i,
            "cidr": "10.%d.%d.0/24" % ((i >> 8) & 255, i & 255),
            "note": "caf\u00e9 \u2013 \"quoted\" \\ back",
        }
        line = scope.encode() + b"\t" + json.dumps(rec, ensure_ascii=False).encode("utf-8")
        out.write(line + b"\n")
    return 0


def consume(bootstrap, topic, group, count, timeout_s):
    from kafka import KafkaConsumer

    consumer = KafkaConsumer(
        topic,
        bootstrap_servers=bootstrap.split(","),
        group_id=group,
        session_timeout_ms=6000,
        heartbeat_interval_ms=1000,
        fetch_max_wait_ms=5,
        auto_offset_reset="earliest",
        enable_auto_commit=False,
    )
    out = sys.stdout.buffer
    got = 0
    deadline = time.monotonic() + timeout_s
    while got < count and time.monotonic() < deadline:
        batch = consumer.poll(timeout_ms=200)
        for tp, msgs in batch.items():
            for m in msgs:
                out.write(b"%d\t%d\t%s\t%s\n" % (tp.partition, m.offset, m.key or b"", m.value or b""))
                got += 1
    consumer.commit()
    consumer.close()
    out.flush()
    if got < count:
        print("kafka_records: %d of %d records before the timeout" % (got, count), file=sys.stderr)
        return 1
    return 0


def verify(expected_path, consumed_path):
    with open(expected_path, "rb") as f:
        expected = [tuple(l.split(b"\t", 1)) for l in f.read().split(b"\n") if l]
    consumed = []
    with open(consumed_path, "rb") as f:
        for l in f.read().split(b"\n"):
            if not l:
                continue
            part, off, key, value = l.split(b"\t", 3)
            consumed.append((int(part), int(off), key, value))
    problems = []
    if len(consumed) != len(expected):
        problems.append("%d records consumed, %d expected" % (len(consumed), len(expected)))
    got = collections.Counter((k, v) for _, _, k, v in consumed)
    want = collections.Counter(expected)
    if got != want:
        missing = want - got
        extra = got - want
        problems.append("%d records missing, %d unexpected (e.g. %r / %r)" % (
            sum(missing.values()), sum(extra.values()),
            next(iter(missing), None), next(iter(extra), None)))
    positions = collections.Counter((p, o) for p, o, _, _ in consumed)
    dups = [po for po, n in positions.items() if n > 1]
    if dups:
        problems.append("%d offsets read twice, e.g. %r" % (len(dups), dups[0]))
    parts = collections.defaultdict(set)
    for p, _, k, _ in consumed:
        parts[k].add(p)
    split = [k for k, ps in parts.items() if len(ps) > 1]
    if split:
        problems.append("%d keys on several partitions, e.g. %r" % (len(split), split[0]))
    # One key's records come back in the order they were produced.
    order = collections.defaultdict(list)
    for p, o, k, v in sorted(consumed):
        order[k].append(v)
    want_order = collections.defaultdict(list)
    for k, v in expected:
        want_order[k].append(v)
    disordered = [k for k in want_order if order.get(k) != want_order[k]]
    if disordered and not problems:
        problems.append("%d keys out of order, e.g. %r" % (len(disordered), disordered[0]))
    for p in problems:
        print("kafka_records: %s" % p, file=sys.stderr)
    return 1 if problems else 0


def main(argv):
    if len(argv) == 3 and argv[1] == "gen":
        return gen(int(argv[2]))
    if len(argv) == 7 and argv[1] == "consume":
        return consume(argv[2], argv[3], argv[4], int(argv[5]), float(argv[6]))
    if len(argv) == 4 and argv[1] == "verify":
        return verify(argv[2], argv[3])
    print(__doc__, file=sys.stderr)
    return 2


if __name__ == "__main__":
    sys.exit(main(sys.argv))

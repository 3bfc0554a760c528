"""inventory_check: an independent reader of the inventory topic for 07-collect.sh.

Runs under Debian's /usr/bin/python3 (kafka-python). It shares no code with the collector:
it reads the topic as any consumer would and checks what the analyzer relies on.

  dump BOOTSTRAP TOPIC OUT      every message of TOPIC (all partitions, from the start to
                                the high watermark) as JSON lines {partition, offset, key,
                                record} in OUT
  framing DUMP [--incomplete SCOPE REGEX] [--passes N]
                                per scope and pass: pass_begin first, pass_end last, one pass
                                id, pass_end counts equal the records seen of each type, the
                                key is the scope, one partition per scope; every frame
                                complete=true except SCOPE's, whose pass_end must say
                                complete=false with an error matching REGEX; N passes per
                                scope (default 1)
  truth DUMP TRUTH_JSON         per-pass totals equal the dataset's truth.json
  same DUMP_A DUMP_B            the same records per scope, in the same order, ignoring the
                                envelope's ts, source and pass and the pass timing fields
  atleast DUMP PASS_ID N        at least N records of PASS_ID, and a scope it left without
                                pass_end (the pass was torn)
Exit 0 when the check holds, else 1 with the reasons on stderr.
"""
import collections
import json
import re
import sys
import time

INVENTORY = ["ipam", "scope", "pool", "pool_cidr", "allocation", "resource_cidr", "discovered_account"]


def dump(bootstrap, topic, out_path):
    from kafka import KafkaConsumer, TopicPartition

    consumer = KafkaConsumer(
        bootstrap_servers=bootstrap.split(","),
        enable_auto_commit=False,
        fetch_max_wait_ms=5,
        consumer_timeout_ms=2000,
    )
    deadline = time.monotonic() + 20
    parts = None
    while parts is None and time.monotonic() < deadline:
        parts = consumer.partitions_for_topic(topic)
        if parts is None:
            time.sleep(0.2)
    if not parts:
        print("inventory_check: topic %s has no partitions" % topic, file=sys.stderr)
        return 1
    tps = [TopicPartition(topic, p) for p in sorted(parts)]
    consumer.assign(tps)
    consumer.seek_to_beginning(*tps)
    end = consumer.end_offsets(tps)
    rows = []
    while time.monotonic() < deadline and any(consumer.position(tp) < end[tp] for tp in tps):
        for tp, msgs in consumer.poll(timeout_ms=200).items():
            for m in msgs:
                rows.append(
                    {
                        "partition": tp.partition,
                        "offset": m.offset,
                        "key": m.key.decode() if m.key is not None else None,
                        "record": json.loads(m.value),
                    }
                )
    consumer.close()
    got = len(rows)
    want = sum(end.values())
    rows.sort(key=lambda r: (r["partition"], r["offset"]))
    with open(out_path, "w", encoding="utf-8") as f:
        for r in rows:
            f.write(json.dumps(r, sort_keys=True) + "\n")
    if got < want:
        print("inventory_check: read %d of %d messages before the deadline" % (got, want), file=sys.stderr)
        return 1
    return 0


def load(path):
    with open(path, encoding="utf-8") as f:
        return [json.loads(l) for l in f if l.strip()]


def frames(rows):
    """{(scope, pass id): [row, ...]} in offset order, and the problems found on the way."""
    problems = []
    by_key = collections.defaultdict(list)
    for r in rows:
        rec = r["record"]
        if r["key"] != rec.get("scope"):
            problems.append("offset %d: key %r but scope %r" % (r["offset"], r["key"], rec.get("scope")))
        by_key[rec.get("scope")].append(r)
    out = collections.OrderedDict()
    for scope, rs in by_key.items():
        partitions = {r["partition"] for r in rs}
        if len(partitions) != 1:
            problems.append("scope %s spread over partitions %s" % (scope, sorted(partitions)))
        rs.sort(key=lambda r: r["offset"])
        cur = None
        for r in rs:
            rec = r["record"]
            if rec["type"] == "pass_begin":
                if cur is not None:
                    problems.append("scope %s: pass %s begins before pass %s ended" % (scope, rec["pass"], cur))
                cur = rec["pass"]
                out[(scope, cur)] = [r]
                continue
            if cur is None:
                problems.append("scope %s: %s record outside a frame (offset %d)" % (scope, rec["type"], r["offset"]))
                continue
            if rec.get("pass") != cur:
                problems.append("scope %s: %s of pass %s inside pass %s" % (scope, rec["type"], rec.get("pass"), cur))
            out[(scope, cur)].append(r)
            if rec["type"] == "pass_end":
                cur = None
        if cur is not None:
            problems.append("scope %s: pass %s has no pass_end" % (scope, cur))
    return out, problems


def framing(path, args):
    incomplete = {}
    passes = 1
    i = 0
    while i < len(args):
        if args[i] == "--incomplete":
            incomplete[args[i + 1]] = re.compile(args[i + 2])
            i += 3
        elif args[i] == "--passes":
            passes = int(args[i + 1])
            i += 2
        else:
            raise SystemExit("inventory_check: unknown option %s" % args[i])
    rows = load(path)
    fr, problems = frames(rows)
    per_scope = collections.Counter(scope for scope, _ in fr)
    if not fr:
        problems.append("no frame at all")
    for scope, n in per_scope.items():
        if n != passes:
            problems.append("scope %s: %d passes, want %d" % (scope, n, passes))
    for (scope, pid), rs in fr.items():
        begin, end = rs[0]["record"], rs[-1]["record"]
        if end["type"] != "pass_end":
            continue  # reported by frames()
        seen = collections.Counter(r["record"]["type"] for r in rs[1:-1])
        for t in INVENTORY:
            if end.get("counts", {}).get(t, 0) != seen.get(t, 0):
                problems.append(
                    "scope %s pass %s: pass_end counts %s=%s, seen %d"
                    % (scope, pid, t, end.get("counts", {}).get(t), seen.get(t, 0))
                )
        for t in seen:
            if t not in INVENTORY:
                problems.append("scope %s pass %s: %s record inside a frame" % (scope, pid, t))
        if begin.get("collector_id") != begin.get("source"):
            problems.append("scope %s pass %s: pass_begin collector_id %r" % (scope, pid, begin.get("collector_id")))
        if scope in incomplete:
            if end.get("complete") is not False:
                problems.append("scope %s pass %s: complete=%r, want false" % (scope, pid, end.get("complete")))
            elif not incomplete[scope].search(end.get("error") or ""):
                problems.append("scope %s pass %s: error %r does not match %r" % (scope, pid, end.get("error"), incomplete[scope].pattern))
        elif end.get("complete") is not True:
            problems.append("scope %s pass %s: complete=%r (%s)" % (scope, pid, end.get("complete"), end.get("error")))
    for p in problems:
        print("inventory_check: " + p, file=sys.stderr)
    return 1 if problems else 0


def truth(path, truth_path):
    with open(truth_path, encoding="utf-8") as f:
        t = json.load(f)
    rows = load(path)
    fr, problems = frames(rows)
    by_pass = collections.defaultdict(collections.Counter)
    scopes = collections.defaultdict(set)
    for (scope, pid), rs in fr.items():
        scopes[pid].add(scope)
        for r in rs:
            by_pass[pid][r["record"]["type"]] += 1
    n_scopes = t["scopes"]
    want = {
        "pass_begin": n_scopes,
        "pass_end": n_scopes,
        "ipam": n_scopes,  # each frame carries its IPAM
        "scope": t["scopes"],
        "pool": t["pools"],
        "pool_cidr": t["pool_cidrs"],
        "allocation": t["allocations"],
        "resource_cidr": t["resource_cidrs"] + t["public_resource_cidrs"],
        "discovered_account": t["discovered_accounts"] * n_scopes,  # health rides in every frame
    }
    if not by_pass:
        problems.append("no pass")
    for pid, got in by_pass.items():
        for k, v in want.items():
            if got.get(k, 0) != v:
                problems.append("pass %s: %d %s records, truth says %d" % (pid, got.get(k, 0), k, v))
        if scopes[pid] != {t["private_scope_id"], t["public_scope_id"]}:
            problems.append("pass %s framed scopes %s" % (pid, sorted(scopes[pid])))
    # Public resource CIDRs live in the public scope, the rest in the private one.
    for r in rows:
        rec = r["record"]
        if rec["type"] == "resource_cidr" and rec["scope_id"] != rec["scope"]:
            problems.append("resource %s of scope %s framed in %s" % (rec["resource_id"], rec["scope_id"], rec["scope"]))
    for p in problems:
        print("inventory_check: " + p, file=sys.stderr)
    return 1 if problems else 0


ENVELOPE_VOLATILE = ("ts", "source", "pass", "started", "collector_id")


def normal(rows):
    out = collections.defaultdict(list)
    for r in rows:
        rec = {k: v for k, v in r["record"].items() if k not in ENVELOPE_VOLATILE}
        out[r["key"]].append(json.dumps(rec, sort_keys=True))
    return out


def same(path_a, path_b):
    a, b = normal(load(path_a)), normal(load(path_b))
    problems = []
    if set(a) != set(b):
        problems.append("keys differ: %s vs %s" % (sorted(a), sorted(b)))
    for k in sorted(set(a) & set(b)):
        if a[k] != b[k]:
            problems.append("scope %s: %d vs %d records" % (k, len(a[k]), len(b[k])))
            for x, y in zip(a[k], b[k]):
                if x != y:
                    problems.append("first difference:\n  %s\n  %s" % (x, y))
                    break
    for p in problems:
        print("inventory_check: " + p, file=sys.stderr)
    return 1 if problems else 0


def atleast(path, pass_id, n):
    rows = [r for r in load(path) if r["record"].get("pass") == pass_id]
    problems = []
    if len(rows) < n:
        problems.append("%d records of pass %s on the topic, %d were logged as delivered" % (len(rows), pass_id, n))
    begun = {r["record"]["scope"] for r in rows if r["record"]["type"] == "pass_begin"}
    ended = {r["record"]["scope"] for r in rows if r["record"]["type"] == "pass_end"}
    if not begun - ended:
        problems.append("every scope of the interrupted pass %s has a pass_end" % pass_id)
    for p in problems:
        print("inventory_check: " + p, file=sys.stderr)
    return 1 if problems else 0


def main(argv):
    if len(argv) >= 5 and argv[1] == "dump":
        return dump(argv[2], argv[3], argv[4])
    if len(argv) >= 3 and argv[1] == "framing":
        return framing(argv[2], argv[3:])
    if len(argv) == 4 and argv[1] == "truth":
        return truth(argv[2], argv[3])
    if len(argv) == 4 and argv[1] == "same":
        return same(argv[2], argv[3])
    if len(argv) == 5 and argv[1] == "atleast":
        return atleast(argv[2], argv[3], int(argv[4]))
    print(__doc__, file=sys.stderr)
    return 2


if __name__ == "__main__":
    sys.exit(main(sys.argv))

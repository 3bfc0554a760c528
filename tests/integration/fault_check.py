"""fault_check: comparisons of 18-kafka-outage.sh and 19-kill-storm.sh (Debian's /usr/bin/python3).

A run that suffered faults (a Kafka outage, SIGKILLs) is compared with an uninterrupted
reference run on the same input; every command prints what differs and exits 1, else 0.

  unique DUMP                   no two messages of an inventory_check.py dump carry the same
                                record (a duplicate from a retried produce would)
  rrd DIR_A DIR_B               the same RRD files under both folders, and each holds the
                                same data (rrdtool dump: every row of every archive, the
                                last update time and value of every data source)
  report A.json B.json          two `ipamwatch report --format json` outputs say the same,
                                apart from when they were generated and the journal's digest
  alerts KILLED REFERENCE       two file sinks (JSON lines), the killed run's against the
                                reference's: every notification carries an id, the ids are
                                unique, and per fingerprint the killed run holds exactly the
                                reference's notifications (same ids, so the same state,
                                starts_at and ends_at) in the same order: none lost, none
                                extra, none twice; prints the counts
  events BOOTSTRAP TOPIC DATASET ADDED
                                ct_check.py verify over the event records of a topic that
                                carries inventory records too
  chunks FILE N                 splits FILE's lines into N files FILE.0 .. FILE.N-1 of about
                                the same size (in order)
"""
import json
import os
import subprocess
import sys


def load_dump(path):
    with open(path) as f:
        return [json.loads(line) for line in f if line.strip()]


def cmd_unique(path):
    rows = load_dump(path)
    seen = {}
    dups = 0
    for r in rows:
        k = json.dumps(r["record"], sort_keys=True)
        if k in seen:
            dups += 1
            if dups <= 5:
                print(f"# duplicate at {r['partition']}/{r['offset']} of "
                      f"{seen[k]}: {k[:200]}", file=sys.stderr)
        else:
            seen[k] = f"{r['partition']}/{r['offset']}"
    print(f"# {len(rows)} messages, {dups} duplicates")
    return 0 if rows and dups == 0 else 1


def rrd_files(d):
    out = set()
    for root, _, files in os.walk(d):
        for f in files:
            if f.endswith(".rrd"):
                out.add(os.path.relpath(os.path.join(root, f), d))
    return out


def rrd_dump(path):
    return subprocess.run(["rrdtool", "dump", path], check=True, capture_output=True,
                          text=True).stdout


def cmd_rrd(a, b):
    fa, fb = rrd_files(a), rrd_files(b)
    ok = bool(fa) and fa == fb
    if fa != fb:
        print(f"# only in {a}: {sorted(fa - fb)[:5]}; only in {b}: {sorted(fb - fa)[:5]}",
              file=sys.stderr)
    differ = []
    for f in sorted(fa & fb):
        da, db = rrd_dump(os.path.join(a, f)), rrd_dump(os.path.join(b, f))
        if da != db:
            differ.append(f)
            if len(differ) <= 3:
                la, lb = da.splitlines(), db.splitlines()
                for i, (x, y) in enumerate(zip(la, lb)):
                    if x != y:
                        print(f"# {f} line {i + 1}: {x.strip()} | {y.strip()}", file=sys.stderr)
                        break
    print(f"# {len(fa)} and {len(fb)} RRD files, {len(differ)} with different data")
    return 0 if ok and not differ else 1


def strip_report(d):
    """The report without what depends on when it was generated: open intervals are measured
    to the moment of the run, so their duration differs between two runs."""
    d = json.loads(json.dumps(d))
    d.pop("integrity", None)
    for k in ("generated_at", "journal_head_digest"):
        d.get("summary", {}).pop(k, None)
    for rows in d.values():
        for r in rows if isinstance(rows, list) else []:
            if isinstance(r, dict) and r.get("open_ended") is True:
                r.pop("duration_s", None)
    return d


def cmd_report(a, b):
    with open(a) as f:
        ra = strip_report(json.load(f))
    with open(b) as f:
        rb = strip_report(json.load(f))
    if ra != rb:
        for k in sorted(set(ra) | set(rb)):
            xa, xb = ra.get(k), rb.get(k)
            if xa != xb:
                if isinstance(xa, list) and isinstance(xb, list):
                    i = next((i for i, (x, y) in enumerate(zip(xa, xb)) if x != y),
                             min(len(xa), len(xb)))
                    xa, xb = xa[i:i + 1], xb[i:i + 1]
                    print(f"# report section {k}: {len(ra[k])} and {len(rb[k])} rows, "
                          f"first difference at row {i}", file=sys.stderr)
                print(f"# report section {k} differs: {json.dumps(xa)[:600]} | "
                      f"{json.dumps(xb)[:600]}", file=sys.stderr)
        return 1
    n = sum(len(v) for v in ra.values() if isinstance(v, list))
    print(f"# reports agree ({n} rows)")
    return 0 if n else 1


def notifications(path):
    """(fingerprint, state, starts_at, ends_at, rule, id) of each line of a file sink."""
    out = []
    if os.path.exists(path):
        with open(path) as f:
            for line in f:
                if line.strip():
                    r = json.loads(line)
                    out.append((r["fingerprint"], r["state"], r.get("starts_at"),
                                r.get("ends_at"), r["rule"], r.get("id")))
    return out


def per_fingerprint(ns):
    out = {}
    for n in ns:
        out.setdefault(n[0], []).append(n[5])
    return out


def cmd_alerts(killed, ref):
    ka, kb = notifications(killed), notifications(ref)
    ids_a, ids_b = [n[5] for n in ka], [n[5] for n in kb]
    twice = len(ids_a) - len(set(ids_a))
    extra = len(set(ids_a) - set(ids_b))
    lost = len(set(ids_b) - set(ids_a))
    print(f"# {len(ka)} notifications ({twice} twice, {extra} not in the reference, {lost} of "
          f"the reference missing) against {len(kb)} of the reference")
    problems = []
    if not kb:
        problems.append("the reference has no notification")
    if None in ids_a or None in ids_b:
        problems.append("a notification has no id")
    if len(ids_b) != len(set(ids_b)):
        problems.append("the reference holds an id twice")
    if twice or extra or lost:
        problems.append("the notifications differ from the reference's")
    pa, pb = per_fingerprint(ka), per_fingerprint(kb)
    order = [fp for fp in pb if fp in pa and pa[fp] != pb[fp] and
             sorted(pa[fp], key=str) == sorted(pb[fp], key=str)]
    if order:
        problems.append(f"notifications of {len(order)} fingerprints in another order")
    for fp, ns in pb.items():
        states = [n[1] for n in kb if n[0] == fp]
        if states[0] != "firing":
            problems.append(f"the reference resolves {fp} before it fires")
    if problems:
        for p in problems:
            print(f"# {p}", file=sys.stderr)
        for name, ns, other in (("killed", ka, set(ids_b)), ("reference", kb, set(ids_a))):
            print(f"# {name} (* = not in the other):", file=sys.stderr)
            for n in ns:
                mark = " " if n[5] in other else "*"
                print(f"# {mark} {n[0]} {n[1]:8} {n[4]:16} {n[2]} {n[3]} {n[5]}",
                      file=sys.stderr)
        return 1
    return 0


def cmd_events(bootstrap, topic, dataset, added):
    sys.path.insert(0, os.path.dirname(os.path.abspath(__file__)))
    import ct_check

    read_all = ct_check.read_topic
    ct_check.read_topic = lambda b, t: [m for m in read_all(b, t) if m[2].get("type") == "event"]
    return ct_check.verify(bootstrap, topic, dataset, added)


def cmd_chunks(path, n):
    n = int(n)
    with open(path) as f:
        lines = f.readlines()
    for i in range(n):
        with open(f"{path}.{i}", "w") as f:
            f.writelines(lines[len(lines) * i // n:len(lines) * (i + 1) // n])
    return 0


def main(argv):
    cmds = {"unique": cmd_unique, "rrd": cmd_rrd, "report": cmd_report, "alerts": cmd_alerts,
            "events": cmd_events, "chunks": cmd_chunks}
    if len(argv) < 2 or argv[1] not in cmds:
        print(__doc__, file=sys.stderr)
        return 2
    return cmds[argv[1]](*argv[2:])


if __name__ == "__main__":
    sys.exit(main(sys.argv))

"""awsfaults_check: helpers of 28-aws-faults.sh: waits on the collector's log for passes of a
phase, and checks the log lines, the inventory frames, the CloudTrail events and the request
rates of a long-running collector driven through AWS faults.

  awsfaults_check.py wait PID LOG SINCE_MS N TIMEOUT_S [complete|incomplete|any] [MIN_MS [MAX_MS]]
      waits until N passes that started at or after SINCE_MS ended as asked (and took from
      MIN_MS to less than MAX_MS); exit 1 on timeout or when process PID is gone
  awsfaults_check.py errors LOG
      every line at error level is one of the expected ones; per incomplete pass one closing
      line and one line per failed call (operation, AWS error or transport failure, request id)
  awsfaults_check.py phase LOG PHASES NAME KIND [ARG]
      a property of the passes of one phase (see phase_check)
  awsfaults_check.py frames INVENTORY.jsonl TRUTH LOG
      complete passes carry exactly the dataset once; failed ones complete=false or no frame
  awsfaults_check.py rate STATS_BEFORE STATS_AFTER SECONDS MAX_PER_S
      requests per second between two /_stats snapshots
  awsfaults_check.py events BOOTSTRAP TOPIC DATASET PAIRS ADDED.jsonl [TIMEOUT_S]
      each event of the polled pairs (and each added one) is on the topic exactly once

PHASES is a file of lines "NAME START_MS END_MS"; a pass belongs to the phase in which it
started and ended.
"""
import collections
import json
import os
import re
import sys
import time

sys.path.insert(0, os.path.dirname(os.path.abspath(__file__)))

import ct_check  # noqa: E402
import inventory_check  # noqa: E402

LINE = re.compile(r"^(\S+) (error|warn|info|debug) (\S+): (.*)$")
END = re.compile(r"pass (\S+-(\d+)) (complete: .* in (\d+) ms|incomplete after (\d+) ms: (.*))$")
CALL = re.compile(r"^pass (\S+-\d+), scope (\S+): (ec2|sts) (\w+): (.*)$")
SUMMARY = re.compile(r"^pass (\S+-\d+) incomplete after \d+ ms: (?:(\d+) of (\d+) scopes complete|.*)$")
CT_FAIL = re.compile(r"^(\d{12}|self)/([a-z0-9-]+): CloudTrail poll failed: cloudtrail LookupEvents: (.*); "
                     r"retried next round from the checkpoint$")
# What a failed call names after the operation: an AWS error code and message with the request
# id, an answer cut short or broken (with the request id it began with), or a transport failure.
REASON = re.compile(
    r"^(?:(?:credentials: sts AssumeRole: )?[A-Za-z][A-Za-z0-9.]+: .* \(request id [0-9a-f-]{8,}\)"
    r"|.*(?:truncated or malformed XML|unparseable JSON|partial file).* \(request id [0-9a-f-]{8,}\).*"
    r"|.*(?:[Tt]imeout was reached|[Tt]imed out|Operation too slow|Couldn't connect).*)"
    r"(?: after \d+ attempts)?$")


def parse(log):
    out = []
    with open(log, encoding="utf-8", errors="replace") as f:
        for raw in f:
            m = LINE.match(raw.rstrip("\n"))
            if m:
                out.append(m.groups())
    return out


def passes(lines):
    """{pass id: {start, ok, ms}} for every pass that ended."""
    res = {}
    for _, level, module, text in lines:
        if module != "inventory":
            continue
        m = END.match(text)
        if m:
            ok = m.group(3).startswith("complete")
            res[m.group(1)] = {"start": int(m.group(2)), "ok": ok,
                               "ms": int(m.group(4) if ok else m.group(5))}
    return res


def wait(pid, log, since, n, timeout, want="any", min_ms="0", max_ms="86400000"):
    deadline = time.monotonic() + float(timeout)
    while True:
        try:
            with open("/proc/%d/stat" % int(pid), encoding="utf-8") as f:
                gone = f.read().rsplit(")", 1)[1].split()[0] in ("Z", "X")
        except OSError:
            gone = True
        if gone:
            print("# the collector (pid %s) is gone" % pid)
            return 1
        got = [p for p in passes(parse(log)).values()
               if p["start"] >= int(since) and int(min_ms) <= p["ms"] < int(max_ms)
               and (want == "any" or p["ok"] == (want == "complete"))]
        if len(got) >= int(n):
            return 0
        if time.monotonic() > deadline:
            print("# %d of %d %s passes since %s within %s s" % (len(got), int(n), want, since, timeout))
            return 1
        time.sleep(0.2)


def errors(log):
    lines = parse(log)
    problems = []
    calls = collections.Counter()
    summaries = {}
    ct_fails = 0
    for ts, level, module, text in lines:
        if level != "error":
            continue
        m = CALL.match(text) if module == "inventory" else None
        if m:
            if not REASON.match(m.group(5)):
                problems.append("imprecise: " + text)
            calls[m.group(1)] += 1
            continue
        m = SUMMARY.match(text) if module == "inventory" else None
        if m:
            if m.group(1) in summaries:
                problems.append("second closing line for pass %s" % m.group(1))
            summaries[m.group(1)] = (int(m.group(2)), int(m.group(3))) if m.group(2) else None
            continue
        m = CT_FAIL.match(text) if module == "ct_lookup" else None
        if m:
            if not REASON.match(m.group(3)):
                problems.append("imprecise: " + text)
            ct_fails += 1
            continue
        problems.append("unexpected error line: %s %s: %s" % (ts, module, text))
    for pid, counts in summaries.items():
        want = 1 if counts is None or counts[1] == 0 else counts[1] - counts[0]
        if calls[pid] != want:
            problems.append("pass %s: %d lines naming a failed call, want %d" % (pid, calls[pid], want))
    for pid in calls:
        if pid not in summaries:
            problems.append("pass %s: a failed call but no closing line" % pid)
    print("# %d failed passes, %d failed-call lines, %d failed CloudTrail polls"
          % (len(summaries), sum(calls.values()), ct_fails))
    for p in problems[:10]:
        print("# " + p)
    return 1 if problems else 0


def load_phases(path):
    out = {}
    with open(path, encoding="utf-8") as f:
        for line in f:
            name, start, end = line.split()
            out[name] = (int(start), int(end))
    return out


def phase_check(log, phases_path, name, kind, arg=None, arg2=None):
    """Properties of the passes that started and ended inside phase `name`:
    complete N     at least N passes, every one complete, no error line in the phase
    failed CODE    at least one pass, every one failed, each failed call naming CODE
    mixed CODE     at least one complete pass; failed ones name CODE
    slow MS MAX    at least one complete pass that took MS or more but less than MAX, none
                   failed
    warn REGEX     a warn line of the phase matches REGEX"""
    lines = parse(log)
    start, end = load_phases(phases_path)[name]
    ended = {}
    cut = time.strftime("%Y-%m-%dT%H:%M:%S", time.gmtime(end / 1000.0)) + ".%03dZ" % (end % 1000)
    begin = time.strftime("%Y-%m-%dT%H:%M:%S", time.gmtime(start / 1000.0)) + ".%03dZ" % (start % 1000)
    for pid, p in passes(lines).items():
        if p["start"] >= start and p["start"] + p["ms"] <= end:
            ended[pid] = p
    inside = [(ts, lv, mod, text) for ts, lv, mod, text in lines if begin <= ts <= cut]
    calls = collections.defaultdict(list)
    for ts, lv, mod, text in lines:
        m = CALL.match(text) if lv == "error" and mod == "inventory" else None
        if m:
            calls[m.group(1)].append(text)
    ok = [p for p in ended if ended[p]["ok"]]
    bad = [p for p in ended if not ended[p]["ok"]]
    problems = []
    if kind == "complete":
        if len(ok) < int(arg) or bad:
            problems.append("%d complete and %d failed passes, want %s complete" % (len(ok), len(bad), arg))
        errs = [t for ts, lv, mod, t in inside if lv == "error" and mod == "inventory"]
        if errs:
            problems.append("error lines: %s" % errs[:2])
    elif kind in ("failed", "mixed"):
        if kind == "failed" and (not bad or ok):
            problems.append("%d complete and %d failed passes, want failures only" % (len(ok), len(bad)))
        if kind == "mixed" and not ok:
            problems.append("no complete pass")
        for p in bad:
            named = [t for t in calls[p] if re.search(arg, t)]
            if not calls[p] or len(named) != len(calls[p]):
                problems.append("pass %s: failed calls %s do not name %s" % (p, calls[p][:2], arg))
    elif kind == "slow":
        if bad or not [p for p in ok if int(arg) <= ended[p]["ms"] < int(arg2)]:
            problems.append("passes %s, want one complete in %s to %s ms" % (ended, arg, arg2))
    elif kind == "warn":
        if not [t for ts, lv, mod, t in inside if lv == "warn" and re.search(arg, t)]:
            problems.append("no warn line with %r" % arg)
    print("# phase %s: %d passes complete, %d failed" % (name, len(ok), len(bad)))
    for p in problems:
        print("# " + p)
    return 1 if problems else 0


def frames(inv_path, truth_path, log):
    rows = inventory_check.load(inv_path)
    fr, problems = inventory_check.frames(rows)
    lines = parse(log)
    ended = passes(lines)
    # The pass SIGTERM interrupted ends without pass_end, as documented for a torn pass.
    stopped = [m.group(1) for m in (re.match(r"pass (\S+) interrupted: ", t) for _, lv, mod, t in lines
                                    if lv == "warn" and mod == "inventory") if m]
    problems = [p for p in problems if not any("pass %s has no pass_end" % s in p for s in stopped)]
    complete = collections.defaultdict(list)
    for (scope, pid), rs in fr.items():
        end = rs[-1]["record"]
        if end["type"] != "pass_end":
            continue  # reported by frames() unless SIGTERM interrupted the pass
        seen = collections.Counter(r["record"]["type"] for r in rs[1:-1])
        for t, n in end.get("counts", {}).items():
            if seen.get(t, 0) != n:
                problems.append("pass %s scope %s: pass_end says %d %s, frame holds %d" % (pid, scope, n, t, seen.get(t, 0)))
        if pid not in ended and pid in stopped:
            continue  # a scope finished before SIGTERM interrupted the rest of its pass
        if pid not in ended:
            problems.append("pass %s on the topic, not in the log" % pid)
        elif end.get("complete") is True:
            complete[pid].append(rs)
            if not ended[pid]["ok"]:
                problems.append("pass %s scope %s complete, but the pass was logged as failed" % (pid, scope))
        elif ended[pid]["ok"]:
            problems.append("pass %s scope %s: complete=%r in a pass logged complete" % (pid, scope, end.get("complete")))
        elif not re.search(r"\(request id [0-9a-f-]{8,}\)", end.get("error") or ""):
            problems.append("pass %s scope %s: error %r names no request id" % (pid, scope, end.get("error")))
    # Complete passes: the dataset exactly once (the checker of 07-collect on those passes).
    tmp = inv_path + ".complete"
    with open(tmp, "w", encoding="utf-8") as f:
        for r in rows:
            if r["record"].get("pass") in complete and len(complete[r["record"]["pass"]]) == 2:
                f.write(json.dumps(r) + "\n")
    logged_ok = [p for p, v in ended.items() if v["ok"]]
    missing = [p for p in logged_ok if len(complete.get(p, [])) != 2]
    if missing:
        problems.append("passes logged complete without two complete frames: %s" % missing[:3])
    if inventory_check.truth(tmp, truth_path) != 0:
        problems.append("complete passes differ from the dataset's truth")
    print("# %d passes on the topic, %d complete, %d logged complete" % (len({p for _, p in fr}), len(complete), len(logged_ok)))
    for p in problems[:10]:
        print("# " + p)
    return 1 if problems else 0


def rate(before, after, seconds, limit):
    with open(before, encoding="utf-8") as f:
        a = json.load(f)
    with open(after, encoding="utf-8") as f:
        b = json.load(f)
    n = sum(b["requests"].values()) - sum(a["requests"].values())
    r = n / float(seconds)
    print("# %d requests in %.1f s: %.2f/s (at most %s/s)" % (n, float(seconds), r, limit))
    return 0 if 0 < r <= float(limit) else 1


def events(bootstrap, topic, dataset, pairs, added, timeout="0"):
    want, _ = ct_check.expected_ids(dataset, added)
    keys = set(pairs.split(","))
    want = {i: k for i, k in want.items() if k in keys}
    deadline = time.monotonic() + float(timeout)
    while True:
        msgs = ct_check.read_topic(bootstrap, topic)
        seen = collections.Counter(rec.get("event_id") for _, _, rec in msgs)
        missing = [i for i in want if not seen.get(i)]
        if not missing or time.monotonic() > deadline:
            break
        time.sleep(1)
    dups = [i for i, n in seen.items() if n > 1]
    extra = [i for i in seen if i not in want]
    print("# %d expected, %d on the topic, %d missing, %d duplicated, %d unexpected"
          % (len(want), len(msgs), len(missing), len(dups), len(extra)))
    return 0 if want and not missing and not dups and not extra else 1


def main(argv):
    cmd, args = argv[1], argv[2:]
    fn = {"wait": wait, "errors": errors, "phase": phase_check, "frames": frames, "rate": rate,
          "events": events}[cmd]
    return fn(*args)


if __name__ == "__main__":
    sys.exit(main(sys.argv))

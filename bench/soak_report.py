"""soak_report: summary of a bench/soak.sh run: event rate, alert latency, RSS and lag.

Usage: soak_report.py OUT SECONDS RATE [MODE]
MODE "run": the analyzer's RSS column is the one `ipamwatch run` process.
Reads OUT/samples.csv (one row a 10 s), OUT/alerts.tsv (soak_sink.py), OUT/failed.tsv and
OUT/events.out (soak_events' failed allocations and summary) and the daemons' logs. An alert's
latency is its arrival at the webhook minus the moment the generator produced the latest failed
allocation of its pool before that arrival. Warm-up is the first 120 s (or the first fifth
of a shorter run); the RSS slope is a least-squares fit over the samples after it.
"""
import csv
import os
import re
import sys


def pct(values, p):
    if not values:
        return float("nan")
    v = sorted(values)
    k = (len(v) - 1) * p / 100.0
    lo = int(k)
    hi = min(lo + 1, len(v) - 1)
    return v[lo] + (v[hi] - v[lo]) * (k - lo)


def slope(xs, ys):
    n = len(xs)
    if n < 2:
        return float("nan")
    mx, my = sum(xs) / n, sum(ys) / n
    den = sum((x - mx) ** 2 for x in xs)
    return sum((x - mx) * (y - my) for x, y in zip(xs, ys)) / den if den else float("nan")


def read(path):
    try:
        with open(path) as f:
            return f.read()
    except OSError:
        return ""


def main():
    out, secs, rate = sys.argv[1], int(sys.argv[2]), int(sys.argv[3])
    mode = sys.argv[4] if len(sys.argv) > 4 else "separate"
    warm = 120 if secs >= 600 else secs // 5
    rows = list(csv.DictReader(open(os.path.join(out, "samples.csv"))))
    ev = read(os.path.join(out, "events.out")).strip()
    print("events:   %s (target %d/s)" % (ev or "generator printed no summary", rate))

    produced = {}  # pool id -> production times, ascending
    for line in read(os.path.join(out, "failed.tsv")).splitlines():
        f = line.split("\t")
        if len(f) < 3:
            continue  # a line cut short by a generator that was killed
        produced.setdefault(f[1], []).append(int(f[0]))
    fire, fire_at, resolved, bad, unmatched = [], [], 0, 0, 0
    for line in read(os.path.join(out, "alerts.tsv")).splitlines():
        f = line.split("\t")
        if len(f) < 6 or f[1] == "bad":
            bad += 1
        elif f[1] == "firing" and f[4] == "failed":
            arrived = int(f[0])
            before = [t for t in produced.get(f[5], []) if t <= arrived]
            if before:
                fire.append(arrived - before[-1])
                fire_at.append((before[-1], arrived - before[-1]))
            else:
                unmatched += 1
        elif f[1] == "resolved":
            resolved += 1
    nfailed = sum(len(v) for v in produced.values())
    print("alerts:   %d failed allocations produced; %d allocation_failed notifications fired, "
          "%d resolves, %d undecodable, %d without a produced failure"
          % (nfailed, len(fire), resolved, bad, unmatched))
    print("latency:  event produced -> alert delivered to the webhook: p50 %.0f ms, p90 %.0f ms, "
          "p99 %.0f ms, max %.0f ms (%d alerts)"
          % (pct(fire, 50), pct(fire, 90), pct(fire, 99), max(fire) if fire else float("nan"), len(fire)))
    if fire_at:
        t0 = min(t for t, _ in fire_at)
        span = max(secs // 5, 1) * 1000
        for k in range(5):
            part = [l for t, l in fire_at if k * span <= t - t0 < (k + 1) * span]
            if part:
                print("latency:  %4d-%4d s: p50 %5.0f ms, p99 %5.0f ms, max %5.0f ms (%d alerts)"
                      % (k * span // 1000, (k + 1) * span // 1000, pct(part, 50), pct(part, 99),
                         max(part), len(part)))

    loads = [float(r["load1"]) for r in rows]
    if loads:
        print("load:     1-min load average min %.2f, median %.2f, max %.2f over %d samples"
              % (min(loads), pct(loads, 50), max(loads), len(loads)))
    after = [r for r in rows if int(r["t_s"]) >= warm]
    for name in ("broker", "collector", "analyzer", "fake_aws", "generator"):
        col = "rss_%s_kb" % name
        pts = [(int(r["t_s"]), int(r[col] or 0)) for r in after if int(r[col] or 0) > 0]
        if not pts:
            continue
        s = slope([p[0] for p in pts], [p[1] for p in pts])
        peak = max(int(r[col] or 0) for r in rows)
        if name == "analyzer" and mode == "run":
            name = "run"
        print("rss:      %-9s at %3d s %7.1f MiB, end %7.1f MiB, peak %7.1f MiB, slope after warm-up %+.2f MiB/min"
              % (name, pts[0][0], pts[0][1] / 1024, pts[-1][1] / 1024, peak / 1024, s * 60 / 1024))

    for topic in ("inventory", "events"):
        lag = [int(r["lag_" + topic] or 0) for r in rows]
        if lag:
            print("lag:      %-9s median %d, p90 %d, max %d, last sample %d messages"
                  % (topic, pct(lag, 50), pct(lag, 90), max(lag), lag[-1]))
    if rows:
        last = rows[-1]
        print("totals:   analyzer %s messages, %s applied, %s checkpoints; collector %s passes completed, %s records delivered"
              % (last["messages"], last["applied"], last["checkpoints"], last["passes_completed"],
                 last["records_delivered"]))
    alog, clog = read(os.path.join(out, "analyze.err")), read(os.path.join(out, "collect.err"))
    for what, pat, text in (("analyzer torn passes", r"torn", alog),
                            ("analyzer offset resets", r"(?i)out.of.range|offset reset", alog),
                            ("analyzer warnings/errors", r"(?m)^\S+ (warn|error) ", alog),
                            ("collector failed passes", r"(?i)pass .*(fail|incomplete)", clog),
                            ("collector warnings/errors", r"(?m)^\S+ (warn|error) ", clog)):
        print("logs:     %s: %d lines" % (what, len(re.findall(pat, text))))


if __name__ == "__main__":
    main()

# `ipamwatch run`: the collector and the analyzer in one process. On the embedded broker it
# produces the RRD files, journal and alerts that `collect` + `analyze` produce against an
# `ipamwatch broker` process; against an external broker its records are visible to kcat;
# one /metrics serves both jobs; SIGTERM mid-run exits 0 after a final checkpoint; a failing
# collector stops the analyzer with its own exit status; `analyze` alone refuses `embedded`;
# a checkpoint beyond the partitions' ends (recreated topics) is dropped on a new embedded
# broker and refused on an external one.
. "$top_srcdir/tests/integration/lib.sh"
plan 25
DATA="$top_srcdir/tests/data/aws/org-small/inventory"
CHECK="$top_srcdir/tests/integration/analyze_check.py"
port() { "$PYTHON3" "$top_srcdir/tests/integration/ops_check.py" port; }

# conf NAME BOOTSTRAP [METRICS_PORT]: $TMP/NAME.conf, output under $TMP/NAME/, the demo's rules.
conf() {
  sed -e "s|\./demo-out|$TMP/$1|g" -e "s|^bootstrap.servers = .*|bootstrap.servers = $2|" \
    -e "s|^group_id = .*|group_id = run-$1-$$|" -e "s|^listen = .*|listen = ${3:+127.0.0.1:$3}|" \
    "$top_srcdir/config/demo.conf" >"$TMP/$1.conf"
}
# summary NAME: what the outputs say, independent of when the pass ran.
summary() {
  "$PYTHON3" "$CHECK" lastvalues "$TMP/$1/rrd" >"$TMP/$1.rrd.txt" &&
    "$PYTHON3" - "$TMP/$1/alerts.jsonl" "$TMP/$1/journal" >"$TMP/$1.sum.txt" <<'PY'
import glob, json, re, sys
alerts = sorted((a["rule"], a["fingerprint"], a["state"])
                for a in map(json.loads, open(sys.argv[1])))
print("alerts", len(alerts), alerts)
effects = []
for seg in sorted(glob.glob(sys.argv[2] + "/*.jsonl")):
    for line in open(seg):
        r = json.loads(line)
        effects.append((r.get("kind"), re.sub(r"\d{4}-\d\d-\d\dT[0-9:.]+Z|\d{10,}", "T", r.get("key", ""))))
print("journal", len(effects), sorted(effects))
PY
}

check_status 2 "run without -c exits 2" sh -c '"$IPAMWATCH" run --once 2>/dev/null'
conf emb embedded
check_status 2 "analyze with bootstrap.servers = embedded exits 2" \
  sh -c '"$IPAMWATCH" analyze -c "$1" --exit-when-idle 1s 2>"$2"' _ "$TMP/emb.conf" "$TMP/emb-analyze.err"
check "... saying that embedded needs run or demo" \
  grep -q 'embedded keeps data inside one process: use it with `ipamwatch run` or `ipamwatch demo`' \
  "$TMP/emb-analyze.err"

# --- the embedded broker against the two daemons on a broker process ------------------------
check_status 0 "run --once --from-files on the embedded broker exits 0" \
  sh -c '"$IPAMWATCH" run -c "$1" --once --from-files "$2" --collector-id t 2>"$3"' _ \
  "$TMP/emb.conf" "$DATA" "$TMP/emb.err"
check "it announces the embedded development broker" \
  grep -Eq 'embedded development broker at 127\.0\.0\.1:[0-9]+ \(in memory; not for production\)' \
  "$TMP/emb.err"

bg "$IPAMWATCH" broker --bootstrap-file "$TMP/bootstrap" >"$TMP/broker.out" 2>"$TMP/broker.err"
wait_for_file "$TMP/bootstrap" 10 || { echo "Bail out! broker did not start"; exit 1; }
B=$(cat "$TMP/bootstrap")
conf sep "$B"
"$IPAMWATCH" collect -c "$TMP/sep.conf" --once --from-files "$DATA" --collector-id t 2>"$TMP/sep.err" &&
  "$IPAMWATCH" analyze -c "$TMP/sep.conf" --exit-when-idle 2s 2>>"$TMP/sep.err"
check_status 0 "collect + analyze on a broker process (reference) exit 0" test $? -eq 0
summary emb; summary sep
check "same RRD files with the same last values as collect + analyze" \
  sh -c 'test -s "$1" && diff "$1" "$2"' _ "$TMP/emb.rrd.txt" "$TMP/sep.rrd.txt"
check "same journal effects and the same alerts as collect + analyze" \
  sh -c 'grep -q "^alerts [1-9]" "$1" && grep -q "^journal [1-9]" "$1" && diff "$1" "$2"' _ \
  "$TMP/emb.sum.txt" "$TMP/sep.sum.txt"

# --- recreated topics: a checkpoint's offsets beyond the partitions' ends ---------------------
# A new embedded broker's topics are new: the old state is dropped, nothing is skipped.
check_status 0 "run --once again with the same state on a new embedded broker exits 0" \
  sh -c '"$IPAMWATCH" run -c "$1" --once --from-files "$2" --collector-id t 2>"$3"' _ \
  "$TMP/emb.conf" "$DATA" "$TMP/emb2.err"
check "... logging the partition, the checkpoint's offset and the end, then starting empty" \
  sh -c 'grep -Eq "error analyzer: checkpoint [0-9]+ covers ipamwatch\.inventory \[[0-5]\] up to offset [1-9][0-9]* but the partition ends at offset 0" "$1" &&
         grep -q "starting with an empty model" "$1" &&
         grep -Eq "analyzer: stopped: ([0-9]+) messages, \1 applied, 0 skipped" "$1"' _ "$TMP/emb2.err"
check "... and the RRD files end with the same values as after the first run" \
  sh -c '"$1" "$2" lastvalues "$3/emb/rrd" | diff "$3/emb.rrd.txt" -' _ "$PYTHON3" "$CHECK" "$TMP"
# Another cluster (or recreated topics) under an external broker: refused, state untouched.
bg "$IPAMWATCH" broker --bootstrap-file "$TMP/bootstrap2" --topic ipamwatch.inventory \
  --topic ipamwatch.events >/dev/null 2>&1
wait_for_file "$TMP/bootstrap2" 10 || { echo "Bail out! broker did not start"; exit 1; }
cp "$TMP/sep/analyzer/checkpoint.json" "$TMP/sep.ckpt"
check_status 1 "analyze with a checkpoint beyond the partitions' ends (empty topics) exits 1" \
  sh -c '"$IPAMWATCH" analyze -c "$1" -X bootstrap.servers="$(cat "$2")" --exit-when-idle 1s 2>"$3"' _ \
  "$TMP/sep.conf" "$TMP/bootstrap2" "$TMP/recreated.err"
check "... telling which partition, both offsets and what to do, and leaving the checkpoint" \
  sh -c 'grep -Eq "covers ipamwatch\.inventory \[[0-5]\] up to offset [1-9][0-9]* but the partition ends at offset 0: the topic was deleted and created again, or \[kafka\] bootstrap.servers names another cluster.*move .*/checkpoint.json aside" "$1" &&
         cmp -s "$2/sep/analyzer/checkpoint.json" "$2/sep.ckpt"' _ "$TMP/recreated.err" "$TMP"

# --- an external broker: the records are Kafka's, kcat reads them ---------------------------
conf ext "$B"
sed -i "s|^inventory = .*|inventory = ext.inventory|" "$TMP/ext.conf"
check_status 0 "run --once against the broker process exits 0" \
  sh -c '"$IPAMWATCH" run -c "$1" --once --from-files "$2" 2>"$3"' _ "$TMP/ext.conf" "$DATA" "$TMP/ext.err"
check "... without starting an embedded broker" sh -c '! grep -q "embedded development" "$1"' _ "$TMP/ext.err"
"$KCAT" -C -b "$B" -t ext.inventory -e -q -X fetch.wait.max.ms=5 -f '%s\n' >"$TMP/ext.records"
check "kcat reads the pass: every record the pass_end counts, and its RRDs match" \
  "$PYTHON3" - "$TMP/ext.records" "$TMP/ext/rrd" "$TMP/emb.rrd.txt" "$CHECK" <<'PY'
import collections, json, subprocess, sys
recs = [json.loads(l) for l in open(sys.argv[1]) if l.strip()]
n = collections.Counter(r["type"] for r in recs)
ends = [r for r in recs if r["type"] == "pass_end"]
want = collections.Counter()
for e in ends:
    want.update(e["counts"])
ok = ends and all(e["complete"] for e in ends) and all(n[t] == c for t, c in want.items())
out = subprocess.run([sys.executable, sys.argv[4], "lastvalues", sys.argv[2]],
                     capture_output=True, text=True).stdout
ok = ok and out == open(sys.argv[3]).read()
print(f"# {len(recs)} records, {len(ends)} passes, counts {dict(want)}")
sys.exit(0 if ok else 1)
PY

# --- polling mode: one /metrics for both, SIGTERM ends it cleanly ---------------------------
PM=$(port)
conf sig embedded "$PM"
bg "$IPAMWATCH" run -c "$TMP/sig.conf" --from-files "$DATA" 2>"$TMP/sig.err"
RUN=$BG_PID
i=0
until curl -sf "http://127.0.0.1:$PM/metrics" >"$TMP/sig.metrics" 2>/dev/null &&
  grep -Eq '^ipamwatch_analyzer_records_applied_total [1-9]' "$TMP/sig.metrics" ||
  [ $i -ge 200 ]; do sleep 0.1; i=$((i + 1)); done
check "one /metrics serves the collector's and the analyzer's families" \
  sh -c 'grep -q "^ipamwatch_collector_" "$1" && grep -Eq "^ipamwatch_analyzer_records_applied_total [1-9]" "$1"' \
  _ "$TMP/sig.metrics"
check "... with the alerts of every rule of the config, and the sinks' deliveries and spool depth" \
  sh -c 'for r in pool-utilization next-vpc-will-not-fit pool-full-within-90-days overlap-with-on-prem \
           allocation-failed noncompliant stale-data; do
           grep -Eq "^ipamwatch_alerts\{rule=\"$r\",state=\"firing\"\} [0-9]" "$1" || exit 1; done
         grep -Eq "^ipamwatch_sink_deliveries_total\{sink=\"alerts-file\",outcome=\"delivered\"\} [0-9]" "$1" &&
           grep -Eq "^ipamwatch_sink_spool_depth\{sink=\"alerts-topic\"\} [0-9]" "$1"' _ "$TMP/sig.metrics"
check "/readyz is ready with both running" curl -sf "http://127.0.0.1:$PM/readyz" -o /dev/null
kill -TERM "$RUN"
wait "$RUN"
check_status 0 "SIGTERM mid-run exits 0" test $? -eq 0
check "... after the analyzer's final checkpoint and the collector's stop" \
  sh -c 'grep -q "analyzer: stopped:" "$1" && ! grep -q " error " "$1"' _ "$TMP/sig.err"

# --- a failing collector stops the analyzer, and the status says so --------------------------
conf bad embedded
check_status 3 "run with an unreadable --from-files exits 3 (collector failed)" \
  sh -c '"$IPAMWATCH" run -c "$1" --once --from-files "$2/none" 2>"$3"' _ "$TMP/bad.conf" "$TMP" "$TMP/bad.err"

# --- an archive backfill over six partitions is applied in event-time order -------------------
# Fetched in chunks of 1 KiB per partition or of the default size, the journal (the order in
# which the analyzer applied the events) is the same, and it runs in event time across the
# accounts (each account's events sit in their own partitions).
"$PYTHON3" "$top_srcdir/tests/aws/gen_dataset.py" --out "$TMP/org" --seed 23 --events 400 \
  --accounts 3 >/dev/null &&
  "$PYTHON3" "$top_srcdir/tests/integration/archive_check.py" make "$TMP/org" "$TMP/archive" \
    "$TMP/archive.json" && (cd "$TMP" && "$PYTHON3" -c \
    'import json, os; [os.unlink(p) for p in json.load(open("archive.json"))["broken"]]')
journal_order() {
  cat "$TMP/$1"/journal/*.jsonl | "$PYTHON3" -c '
import json, sys
for line in sys.stdin:
    r = json.loads(line)
    print(r["event_time"], r["kind"], r["key"])' >"$TMP/$1.order"
}
conf arca embedded
conf arcb embedded
check_status 0 "run --from-archive over six partitions exits 0 (default and 1 KiB fetches)" sh -c \
  '"$IPAMWATCH" run -c "$1" --from-archive "$3" 2>"$1.err" &&
   "$IPAMWATCH" run -c "$2" -X max.partition.fetch.bytes=1024 --from-archive "$3" 2>"$2.err"' \
  _ "$TMP/arca.conf" "$TMP/arcb.conf" "$TMP/archive"
journal_order arca
journal_order arcb
check "the same journal order whatever the fetch size" \
  sh -c 'test "$(wc -l <"$1")" -gt 100 && cmp "$1" "$2"' _ "$TMP/arca.order" "$TMP/arcb.order"
check "... in event time (no record an hour behind one applied before it)" \
  "$PYTHON3" - "$TMP/arca.order" <<'PY'
import datetime, sys
times = [datetime.datetime.fromisoformat(l.split()[0].replace("Z", "+00:00"))
         for l in open(sys.argv[1])]
late, top = 0, times[0]
for t in times:
    late += (top - t).total_seconds() > 3600
    top = max(top, t)
print(f"# {len(times)} records, {late} an hour or more behind")
sys.exit(0 if late == 0 else 1)
PY

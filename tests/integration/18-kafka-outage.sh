# Kafka unavailable for a minute while both daemons work: `ipamwatch broker` takes its
# brokers down (SIGUSR1) for 60 s in the middle of a collector pass read slowly from the
# AWS-shaped endpoint and while an analyzer consumes a stream that keeps arriving. Neither
# daemon is restarted: the pass completes in the same process with every record on the
# topic once (the same records as a pass of the same files, the dataset's truth), and the
# analyzer catches up on its own; its journal, RRD files and compliance report equal those
# of a reference analyzer that read the same stream afterwards without an outage.
. "$top_srcdir/tests/integration/lib.sh"
need_python botocore kafka
plan 16
INV="$top_srcdir/tests/integration/inventory_check.py"
AC="$top_srcdir/tests/integration/analyze_check.py"
KAFKA_TOOL="$top_builddir/tests/tools/kafka_tool"
OUTAGE=${IPAMWATCH_OUTAGE_S:-60}
CHUNKS=12

# A dataset of 6000 resource CIDRs served at 0.8 s a request: a pass of about 35 s.
"$PYTHON3" "$FA/gen_dataset.py" --out "$TMP/org" --seed 18 --resource-cidrs 6000 --events 20 >/dev/null
aws_env "$TMP/org/credentials.json"

bg "$PYTHON3" "$FA/fake_aws.py" --data "$TMP/org" --port-file "$TMP/port" --faults slow=800ms
start_broker_proc --topic inv:4 --topic ref:4 --topic ev:2 --topic seed:1 --topic stream:1 --topic dlq:1
BROKER=$BROKER_PID
wait_for_file "$TMP/port" 30 || bail "port not written"
URL=$(cat "$TMP/port")

# conf NAME INVENTORY EVENTS GROUP: $TMP/NAME.conf with its own state, RRD and journal
# folders; librdkafka's reconnect and retry settings stay at their defaults.
conf() {
  base_conf "$TMP/$1.conf" "$4" "$TMP/$1" topics.inventory="$2" topics.events="$3" \
    aws.region=eu-central-1 aws.endpoint_url="$URL"
}

# --- the analyzer's input: 30 daily passes with events, fed in 12 chunks ---------------------
conf seed seed seed seed
"$IPAMWATCH" collect -c "$TMP/seed.conf" --once --from-files "$top_srcdir/tests/data/aws/org-small" \
  2>"$TMP/seed.err" || bail "seed pass not collected"
"$KCAT" -C -b "$B" -t seed -e -q -X fetch.wait.max.ms=5 -f '%k\t%s\n' >"$TMP/pass.in"
read -r NREC NEV <<EOF
$("$PYTHON3" "$AC" stream "$TMP/pass.in" "$TMP/stream.in" 30 18)
EOF
"$PYTHON3" "$FC" chunks "$TMP/stream.in" $CHUNKS
mkfifo "$TMP/feed"
# Read-write open does not wait for a reader; no later process may inherit the write end.
exec 3<>"$TMP/feed"
# (timeout: a producer that never recovers fails the test instead of hanging it)
timeout 300 "$KAFKA_TOOL" produce -b "$B" -t stream <"$TMP/feed" 2>"$TMP/feeder.err" 3>&- &
FEEDER=$!
CLEANUP_PIDS="$CLEANUP_PIDS $FEEDER"
feed() { cat "$TMP/stream.in.$1" >&3; }
feed 0
feed 1
feed 2

# --- both daemons at work ----------------------------------------------------------------
conf out stream stream out
conf col inv ev col
bg "$IPAMWATCH" analyze -c "$TMP/out.conf" --commit-records 50 --commit-interval 100ms \
  >"$TMP/analyze.out" 2>"$TMP/analyze.err" 3>&-
ANALYZER=$BG_PID
bg timeout 300 "$IPAMWATCH" collect -c "$TMP/col.conf" --once --collector-id outage \
  >"$TMP/collect.out" 2>"$TMP/collect.err" 3>&-
COLLECTOR=$BG_PID
requests() { curl -sf "$URL/_stats" | "$PYTHON3" -c 'import json,sys; print(sum(json.load(sys.stdin)["requests"].values()))'; }
i=0
while [ "$(requests)" -lt 12 ] && [ $i -lt 300 ]; do sleep 0.1; i=$((i + 1)); done
wait_for_file "$TMP/out/state/checkpoint.json" 20
kill -USR1 "$BROKER"
DOWN_AT=$(date +%s)
diag "brokers down after $(requests) AWS requests of the pass"
# Chunks 3..8 arrive while the brokers are down (the feeder holds them), 9..11 afterwards.
c=3
while [ $c -le 8 ]; do
  sleep $((OUTAGE / 7))
  feed $c
  c=$((c + 1))
done
left=$((OUTAGE - ($(date +%s) - DOWN_AT)))
[ "$left" -gt 0 ] && sleep "$left"
check "both daemons were still running at the end of the outage" \
  sh -c 'kill -0 "$1" && kill -0 "$2"' _ "$COLLECTOR" "$ANALYZER"
check "... and the collector's pass had not ended" \
  sh -c '! grep -q "pass outage-[0-9]* complete" "$1"' _ "$TMP/collect.err"
kill -USR2 "$BROKER"
diag "brokers back after $(($(date +%s) - DOWN_AT)) s"
while [ $c -lt $CHUNKS ]; do feed $c; c=$((c + 1)); done
exec 3>&-
wait "$FEEDER"
check_status 0 "the stream's producer delivered all $NREC records" sh -c 'exit $1' _ $?

# --- the collector --------------------------------------------------------------------------
wait "$COLLECTOR"
check_status 0 "the collector's pass completed in the same process (exit 0)" sh -c 'exit $1' _ $?
check "it logged the pass complete with both scopes" \
  grep -q 'pass outage-[0-9]* complete: 2 scopes' "$TMP/collect.err"
check "the inventory topic holds one complete frame per scope with the dataset's totals" \
  sh -c '"$1" "$2" dump "$3" inv "$4/inv.jsonl" && "$1" "$2" framing "$4/inv.jsonl" &&
         "$1" "$2" truth "$4/inv.jsonl" "$5"' _ "$PYTHON3" "$INV" "$B" "$TMP" "$TMP/org/truth.json"
check "no record is on the topic twice" "$PYTHON3" "$FC" unique "$TMP/inv.jsonl"
conf refc ref ev refc
check "... and they are the records of a pass of the same data from files, in the same order" \
  sh -c '"$1" collect -c "$2" --once --from-files "$3" 2>"$4/ref-collect.err" &&
         "$5" "$6" dump "$7" ref "$4/ref.jsonl" && "$5" "$6" same "$4/inv.jsonl" "$4/ref.jsonl"' \
  _ "$IPAMWATCH" "$TMP/refc.conf" "$TMP/org" "$TMP" "$PYTHON3" "$INV" "$B"

# --- the analyzer ---------------------------------------------------------------------------
# caught_up: the analyzer's checkpoint covers the whole stream.
caught_up() { grep -Eq "\"next\": $NREC,?\$" "$TMP/out/state/checkpoint.json" 2>/dev/null; }
i=0
while ! caught_up && [ $i -lt 600 ]; do sleep 0.1; i=$((i + 1)); done
d="the analyzer caught up with all $NREC records without a restart (same process)"
if kill -0 "$ANALYZER" && caught_up; then pass "$d"; else fail "$d"; fi
kill -TERM "$ANALYZER"
wait "$ANALYZER"
check_status 0 "... and exits 0 on SIGTERM" sh -c 'exit $1' _ $?
check "it logged the brokers unreachable, then reachable again" \
  sh -c 'grep -q "warn kafka: .*Connection refused" "$1" && grep -q "brokers reachable again" "$1"' _ "$TMP/analyze.err"
conf ref stream stream ref
check_status 0 "a reference analyzer in another group reads the same stream without an outage" \
  sh -c '"$1" analyze -c "$2" --exit-when-idle 2s >"$3/ref.out" 2>"$3/ref.err"' _ "$IPAMWATCH" "$TMP/ref.conf" "$TMP"
journal_records out
journal_records ref
check "both journals verify and hold the same records in the same order" \
  sh -c '"$1" verify "$2" >/dev/null && "$1" verify "$3" >/dev/null && [ -s "$4" ] && cmp -s "$4" "$5"' \
  _ "$JT" "$TMP/out/journal" "$TMP/ref/journal" "$TMP/out.j" "$TMP/ref.j"
check "every RRD file holds the same data as the reference's" "$PYTHON3" "$FC" rrd "$TMP/out/rrd" "$TMP/ref/rrd"
check "the compliance reports of the stream's period agree (ledger, failures, utilization)" \
  reports_agree out ref 2024-12-01 2025-03-01
check "no sanitizer report or crash in any log" \
  sh -c '! grep -l "Sanitizer\|runtime error\|Segmentation" "$1"/*.err' _ "$TMP"
diag "stream: $NREC records, $NEV events; outage ${OUTAGE}s"

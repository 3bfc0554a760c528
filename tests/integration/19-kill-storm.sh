# SIGKILL storm: the collector (inventory passes and CloudTrail LookupEvents from the
# AWS-shaped endpoint) and the analyzer (with alert rules and a file sink) are each killed
# at random moments at least 25 times while new CloudTrail events and inventory passes keep
# arriving, and restarted by the test as a supervisor would. Passes alternate between an
# organisation with a 53 % pool and a VPC in an on-premise range, and one without, so alerts
# fire and resolve. Afterwards: every CloudTrail event is on the topic exactly once, and the
# killed analyzer's journal, RRD files, report and alert notifications equal those of an
# uninterrupted analyzer that read the same topic; the file sink holds exactly the reference's
# notifications (same ids, same order per fingerprint): a kill neither loses one nor makes the
# restarted analyzer announce one again.
# IPAMWATCH_TEST_SEED=N replays the kill schedule.
. "$top_srcdir/tests/integration/lib.sh"
need_python botocore kafka
plan 17
CK="$top_srcdir/tests/integration/ct_check.py"
KILLS=${IPAMWATCH_KILLS:-25}
SEED=${IPAMWATCH_TEST_SEED:-$(od -An -N2 -tu2 /dev/urandom | tr -d ' ')}
diag "seed $SEED (IPAMWATCH_TEST_SEED=$SEED to replay)"
BIG=ipam-pool-051431193e6c3f339

# The organisation of tests/data/aws/org-small (same generator arguments) with CloudTrail
# events of the last 30 days, inside LookupEvents' 90. The endpoint serves it with the alert
# conditions (fixture a); the files of fixture b lack them.
"$PYTHON3" "$FA/gen_dataset.py" --out "$TMP/gen" --seed 1 --allocations 12 --events 30 --accounts 2 >/dev/null
mkdir -p "$TMP/org"
cp -r "$TMP/gen/cloudtrail" "$TMP/gen/credentials.json" "$TMP/gen/truth.json" "$TMP/org/"
ae fixture "$TMP/gen" "$TMP/org" a
ae fixture "$TMP/gen" "$TMP/fb" b
aws_env "$TMP/gen/credentials.json"
ACCOUNTS=$("$PYTHON3" -c 'import json,sys; t=json.load(open(sys.argv[1])); print(", ".join([t["admin_account"]] + t["app_accounts"]))' "$TMP/gen/truth.json")
set -- $(echo "$ACCOUNTS" | tr -d ,)
PAIRS="$1/eu-central-1 $1/eu-west-1 $2/eu-central-1 $2/eu-west-1 $3/eu-central-1 $3/eu-west-1"

# One topic with one partition for inventory and events: one total order, so the killed and
# the reference analyzer see the same input.
bg "$PYTHON3" "$FA/fake_aws.py" --data "$TMP/org" --port-file "$TMP/port" --seed 19 --faults slow=60ms \
  2>"$TMP/fake_aws.log"
start_broker_proc --topic all:1 --topic dlq:1
wait_for_file "$TMP/port" 30 || bail "port not written"
URL=$(cat "$TMP/port")

# conf NAME: $TMP/NAME.conf for a collector or an analyzer with its own folders under $TMP/NAME.
conf() {
  alerts_conf "$TMP/$1.conf" "$1" "$TMP/$1" kafka.session.timeout.ms=4000 topics.inventory=all \
    topics.events=all aws.region=eu-central-1 aws.endpoint_url="$URL" aws.max_attempts=10 \
    collector.accounts="$ACCOUNTS" collector.regions="eu-central-1, eu-west-1" \
    collector.member_role_name=ipamwatch-read collector.cloudtrail_interval=10s \
    collector.poll_interval=1h <<EOF
[sink "file"]
type = file
path = $TMP/$1/alerts.jsonl
EOF
}
conf col
conf kill
conf ref
STATE="$TMP/col/collector"
# A first complete pass of each kind, so that alerts fire and resolve even if every killed
# pass is torn.
"$IPAMWATCH" collect -c "$TMP/col.conf" --once --from-files "$TMP/org" 2>>"$TMP/files.err" &&
  "$IPAMWATCH" collect -c "$TMP/col.conf" --once --from-files "$TMP/fb" 2>>"$TMP/files.err" ||
  bail "first passes not collected"

# --- the collector's supervisor (background) -------------------------------------------------
collector_storm() {
  RANDOM=$((SEED + 1))
  n=0 k=0 inflight=0
  while [ $k -lt "$KILLS" ] && [ $n -lt $((KILLS * 2)) ]; do
    n=$((n + 1))
    pair=$(echo $PAIRS | tr ' ' '\n' | sed -n "$((RANDOM % 6 + 1))p")
    "$PYTHON3" "$CK" add "$URL" "$pair" $((RANDOM % 4 + 1)) 600 "$TMP/added.jsonl"
    if [ $((n % 3)) -eq 0 ]; then
      "$IPAMWATCH" collect -c "$TMP/col.conf" --once --from-files "$TMP/fb" 2>>"$TMP/files.err"
    fi
    "$IPAMWATCH" collect -c "$TMP/col.conf" --collector-id storm >/dev/null 2>>"$TMP/col.err" &
    pid=$!
    if [ $((n % 2)) -eq 0 ]; then
      "$PYTHON3" "$CK" kill-in-flight "$STATE" $pid 6 && inflight=$((inflight + 1))
    else
      sleep "$((RANDOM % 3)).$((RANDOM % 10))"
    fi
    kill -KILL $pid 2>/dev/null
    wait $pid 2>/dev/null
    [ $? -eq 137 ] && k=$((k + 1))
  done
  echo "$k $inflight" >"$TMP/col.kills"
}
collector_storm 2>>"$TMP/storm.log" &
COLLECTOR_STORM=$!
CLEANUP_PIDS="$CLEANUP_PIDS $COLLECTOR_STORM"

# --- the analyzer's supervisor ---------------------------------------------------------------
RANDOM=$SEED
n=0 k=0 mid=0
while [ $k -lt "$KILLS" ] && [ $n -lt $((KILLS * 2)) ]; do
  n=$((n + 1))
  before=$(grep -c 'partitions assigned' "$TMP/kill.err" 2>/dev/null)
  "$IPAMWATCH" analyze -c "$TMP/kill.conf" --commit-records 20 --commit-interval 100ms \
    >/dev/null 2>>"$TMP/kill.err" &
  pid=$!
  how=$((RANDOM % 3))
  if [ $how -eq 0 ]; then
    # At any moment of its start: snapshot load, sinks, group join.
    sleep "$((RANDOM % 2)).$((RANDOM % 10))"
  else
    # Once it consumes, after 0-0.9 s, or right after its file sink got a notification (up
    # to 2 s): between the notification and the checkpoint that covers it.
    i=0
    while kill -0 $pid 2>/dev/null && [ $i -lt 200 ] &&
      [ "$(grep -c 'partitions assigned' "$TMP/kill.err")" -le "${before:-0}" ]; do
      sleep 0.05; i=$((i + 1))
    done
    if [ $how -eq 1 ]; then
      sent=$(cat "$TMP/kill/alerts.jsonl" 2>/dev/null | wc -l)
      i=0
      while kill -0 $pid 2>/dev/null && [ $i -lt 100 ] &&
        [ "$(cat "$TMP/kill/alerts.jsonl" 2>/dev/null | wc -l)" -le "$sent" ]; do
        sleep 0.02; i=$((i + 1))
      done
    else
      sleep "0.$((RANDOM % 10))"
    fi
  fi
  if [ "$(grep -c 'partitions assigned' "$TMP/kill.err")" -gt "${before:-0}" ]; then
    mid=$((mid + 1))
  fi
  kill -KILL $pid 2>/dev/null
  wait $pid 2>/dev/null
  [ $? -eq 137 ] && k=$((k + 1))
done
wait "$COLLECTOR_STORM"
read -r CK_KILLS CK_INFLIGHT <"$TMP/col.kills"
diag "collector: $CK_KILLS SIGKILLs ($CK_INFLIGHT with events in flight); analyzer: $k SIGKILLs ($mid while consuming)"
check "the collector was SIGKILLed $KILLS times, at least 3 times with events in flight" \
  test "$CK_KILLS" -eq "$KILLS" -a "$CK_INFLIGHT" -ge 3
check "the analyzer was SIGKILLed $KILLS times, at least 10 times while consuming" \
  test "$k" -eq "$KILLS" -a "$mid" -ge 10

# --- last clean runs ---------------------------------------------------------------------------
check_status 0 "a last collect --once (pass and CloudTrail round) exits 0" \
  sh -c '"$1" collect -c "$2" --once --collector-id last 2>"$3"' _ "$IPAMWATCH" "$TMP/col.conf" "$TMP/last.err"
check_status 0 "a last pass without the alert conditions exits 0" \
  sh -c '"$1" collect -c "$2" --once --from-files "$3" 2>>"$4"' _ "$IPAMWATCH" "$TMP/col.conf" "$TMP/fb" "$TMP/files.err"
check "no CloudTrail id is left in flight" sh -c '! grep -q "\"pending\":{" "$1"/cloudtrail-*.json' _ "$STATE"
check "every dataset and late event is on the topic exactly once" \
  "$PYTHON3" "$FC" events "$B" all "$TMP/org" "$TMP/added.jsonl"
analyze() { "$IPAMWATCH" analyze -c "$TMP/$1.conf" --exit-when-idle 3s >/dev/null 2>>"$TMP/$1.err"; }
analyze ref &
REF=$!
check_status 0 "the killed analyzer's last run finishes the topic and exits 0" analyze kill
wait $REF
check_status 0 "an uninterrupted analyzer in another group reads the same topic, exit 0" sh -c 'exit $1' _ $?

# --- the same results ----------------------------------------------------------------------------
journal_records kill
journal_records ref
check "both journals verify" \
  sh -c '"$1" verify "$2" >/dev/null && "$1" verify "$3" >/dev/null' _ "$JT" "$TMP/kill/journal" "$TMP/ref/journal"
check "the journals hold the same records in the same order ($(wc -l <"$TMP/ref.j") records)" \
  sh -c '[ -s "$1" ] && cmp -s "$1" "$2"' _ "$TMP/ref.j" "$TMP/kill.j"
check "the journal holds overlaps opened and closed and failed allocations" \
  sh -c 'cut -f 2 "$1" | grep -qx overlap_opened && cut -f 2 "$1" | grep -qx overlap_closed &&
         cut -f 2 "$1" | grep -qx allocation_failed' _ "$TMP/ref.j"
check "every RRD file holds the same data as the reference's" "$PYTHON3" "$FC" rrd "$TMP/kill/rrd" "$TMP/ref/rrd"
check "the compliance reports agree" reports_agree kill ref 2024-01-01 2030-01-01
check "alerts fired and resolved: utilization (warning and critical) and an overlap" \
  ae file "$TMP/ref/alerts.jsonl" \
  'len({f for f, s, r in n if r=="pool_full"})==2 and all((g, "resolved", "pool_full") in n for g, s, r in n if r=="pool_full") and any(s=="resolved" for f, s, r in n if r=="onprem_overlap")'
REPLAYS=$(grep -c "was spooled before; replay dropped" "$TMP/kill.err")
diag "the killed analyzer's sink dropped ${REPLAYS:-0} replayed notifications"
check "the file sink holds exactly the reference's notifications: same ids, same order per fingerprint, none extra, none lost" \
  "$PYTHON3" "$FC" alerts "$TMP/kill/alerts.jsonl" "$TMP/ref/alerts.jsonl"
check "no sanitizer report or crash in any log" \
  sh -c '! grep -l "Sanitizer\|runtime error\|Segmentation" "$1"/*.err' _ "$TMP"
check "no error line in the analyzers' logs" sh -c '! grep -h " error " "$1/kill.err" "$1/ref.err"' _ "$TMP"

# Secrets never leave the process, and what the daemons write is private. Distinctive
# secrets (AWS secret key and session token, sasl.password, PagerDuty routing key, Slack
# webhook URL token, webhook HMAC key) go in through the environment; then everything a run
# produced is searched for them: debug logs of check, collect (API, CloudTrail and files), analyze,
# report, graph and forecast, librdkafka's configuration dump, the records of every topic,
# the journal, reports, spools, alert and collector state, /metrics and the crash report of
# an analyzer aborted with SIGABRT. With umask 022 in effect, every state, spool, journal
# and RRD directory the daemons create is 0700 and every file in them 0600.
. "$top_srcdir/tests/integration/lib.sh"
need_python botocore
plan 14
DATA="$top_srcdir/tests/data/aws/org-small"
umask 022

aws_env "$DATA/credentials.json"
export AWS_SESSION_TOKEN="Sess10nT0ken-$$-FwoGZXIvYXdzE"
export IPW_SASL="SaslPassw0rd-$$" IPW_PD="PdR0utingKey-$$" IPW_HMAC="HmacS3cret-$$"
DEAD=$(free_port)
export IPW_SLACK="http://127.0.0.1:$DEAD/services/T0/B0/SlackT0ken-$$"
SECRETS="$AWS_SECRET_ACCESS_KEY $AWS_SESSION_TOKEN $IPW_SASL $IPW_PD $IPW_HMAC SlackT0ken-$$"

bg "$PYTHON3" "$top_srcdir/tests/aws/fake_aws.py" --data "$DATA" --port-file "$TMP/port"
start_broker_proc --topic inv:2 --topic ev:2 --topic dlq:1 --topic alerts:1
wait_for_file "$TMP/port" 30 || bail "port not written"
PORT=$(free_port)
S="$TMP/s" O="$TMP/out"
mkdir -p "$O"

base_conf "$TMP/c.conf" secrets "$S" kafka.sasl.username=ipamwatch 'kafka.sasl.password=${IPW_SASL}' \
  topics.alerts=alerts analyzer.state_dir="$S/analyzer" rrd.step=3600s aws.region=eu-central-1 \
  aws.endpoint_url="$(cat "$TMP/port")" aws.max_attempts=1
cat >>"$TMP/c.conf" <<EOF
[metrics]
analyzer_listen = 127.0.0.1:$PORT
[log]
level = debug
EOF
compliance_rules >>"$TMP/c.conf"
cat >>"$TMP/c.conf" <<EOF
[sink "pd"]
type = pagerduty
url = http://127.0.0.1:$DEAD/v2/enqueue
routing_key = \${IPW_PD}
[sink "slack"]
type = slack
webhook_url = \${IPW_SLACK}
[sink "hook"]
type = webhook
url = http://127.0.0.1:$DEAD/hook
hmac_secret = \${IPW_HMAC}
[sink "kafka"]
type = kafka
[sink "file"]
type = file
path = $O/alerts.jsonl
EOF

# --- produce everything ---------------------------------------------------------------------
check "check accepts the configuration" sh -c '"$1" check -c "$2" >"$3/check.out" 2>"$3/check.err"' \
  _ "$IPAMWATCH" "$TMP/c.conf" "$O"
# librdkafka's own configuration dump (debug=conf) and a pass the endpoint refuses: the
# session token is unknown to it, so requests fail and their errors are logged.
"$IPAMWATCH" collect -c "$TMP/c.conf" --once -X debug=conf >"$O/collect-api.out" 2>"$O/collect-api.err"
check "a pass with an unknown session token fails, with errors logged" \
  sh -c '[ $1 -ne 0 ] && grep -q "error" "$2"' _ $? "$O/collect-api.err"
check "librdkafka dumped its configuration, sasl.password included" \
  grep -q 'sasl.password' "$O/collect-api.err"
check_status 0 "a pass from files is delivered" \
  sh -c '"$1" collect -c "$2" --once --from-files "$3" >"$4/collect.out" 2>"$4/collect.err"' _ "$IPAMWATCH" "$TMP/c.conf" "$DATA" "$O"
# A CloudTrail poll of one account and Region through the endpoint (without the session
# token, which it does not know) leaves the collector's per-account state file.
sed '/^\[collector\]$/a accounts = 111111111111\nregions = eu-central-1\nmember_role_name = ipamwatch-read' \
  "$TMP/c.conf" >"$TMP/ct.conf"
check "a CloudTrail poll through the endpoint writes its state file" \
  sh -c 'env -u AWS_SESSION_TOKEN "$1" collect -c "$2" --once >"$3/collect-ct.out" 2>"$3/collect-ct.err" &&
         [ -s "$4/collector/cloudtrail-111111111111-eu-central-1.json" ]' _ "$IPAMWATCH" "$TMP/ct.conf" "$O" "$S"
# The analyzer runs until its alerts are out, serves /metrics, and is aborted.
ASAN_OPTIONS="${ASAN_OPTIONS:-}:handle_abort=1" "$IPAMWATCH" analyze -c "$TMP/c.conf" \
  >"$O/analyze-abort.out" 2>"$O/analyze-abort.err" &
AN=$!
CLEANUP_PIDS="$CLEANUP_PIDS $AN"
wait_for_file "$O/alerts.jsonl" 30
sleep 2
curl -s --max-time 5 "http://127.0.0.1:$PORT/metrics" >"$O/metrics.txt"
check "/metrics was served" grep -q '^ipamwatch_analyzer_records_applied_total' "$O/metrics.txt"
kill -ABRT "$AN"
wait "$AN"
rc=$?
check "the aborted analyzer died of SIGABRT (status $rc) with a crash report" \
  sh -c '[ "$1" -ne 0 ] && { grep -q "ABRT" "$2" || ! ASAN_OPTIONS=help=1 "$3" version 2>&1 | grep -q detect_leaks; }' \
  _ "$rc" "$O/analyze-abort.err" "$IPAMWATCH"
check_status 0 "a restarted analyzer replays and exits when idle" \
  sh -c '"$1" analyze -c "$2" --exit-when-idle 2s >"$3/analyze.out" 2>"$3/analyze.err"' _ "$IPAMWATCH" "$TMP/c.conf" "$O"
for f in json csv html; do
  "$IPAMWATCH" report -c "$TMP/c.conf" --from 2000-01-01 --to 2100-01-01 --format $f \
    -o "$O/report.$f" >"$O/report-$f.out" 2>"$O/report-$f.err"
done
"$IPAMWATCH" forecast -c "$TMP/c.conf" --format json >"$O/forecast.json" 2>"$O/forecast.err"
"$IPAMWATCH" graph -c "$TMP/c.conf" --pool ipam-pool-051431193e6c3f339 --span 1d --format svg \
  -o "$O/graph.svg" >"$O/graph.out" 2>"$O/graph.err"
for t in inv ev dlq alerts; do
  "$KCAT" -C -b "$B" -t "$t" -e -q -X fetch.wait.max.ms=5 -f '%k %h %s\n' >"$O/topic-$t.txt" 2>/dev/null
done
check "the run left records, journal, spools, reports and alerts to search" \
  sh -c '[ -s "$1/topic-inv.txt" ] && [ -s "$1/topic-alerts.txt" ] && [ -s "$1/report.html" ] &&
         ls "$2"/journal/*.jsonl >/dev/null && [ -d "$2/analyzer/spool/pd" ] && [ -s "$2/analyzer/alerts.json" ]' _ "$O" "$S"

# --- search ---------------------------------------------------------------------------------
# leaks: files under the outputs and the state holding any secret
leaks() { for s in $SECRETS; do grep -rlF -e "$s" "$O" "$S"; done | sort -u; }
L=$(leaks)
check "no secret in any log, record, journal, report, spool, state file, /metrics or crash report" \
  test -z "$L"
for f in $L; do diag "secret found in $f"; done
check "the sinks' notifications are spooled, none delivered (their endpoints are down)" \
  sh -c 'find "$1/analyzer/spool" -type f -size +0 | grep -q .' _ "$S"

# --- file modes (umask 022) -------------------------------------------------------------------
dirs_bad=$(find "$S" -type d ! -perm 0700)
files_bad=$(find "$S" -type f ! -perm 0600)
check "every directory under state, spool, journal and RRD is 0700" test -z "$dirs_bad"
for f in $dirs_bad; do diag "$(stat -c '%a %n' "$f")"; done
check "every file there is 0600" test -z "$files_bad"
for f in $files_bad; do diag "$(stat -c '%a %n' "$f")"; done
check "... and they include RRD files, journal segments, spools and the collector's CloudTrail state" \
  sh -c 'ls "$1"/rrd/pool/*.rrd "$1"/journal/*.jsonl "$1"/collector/cloudtrail-*.json >/dev/null && [ -d "$1/analyzer/spool/hook" ]' _ "$S"

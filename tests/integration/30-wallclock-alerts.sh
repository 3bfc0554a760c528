# A forecast alert across a SIGKILL: a pool with a month of growing history fills within the
# forecast rule's days, so its alert fires in the analyzer's first live round, into a file sink.
# The analyzer is killed (SIGKILL) after the sink spooled the notification and before a
# checkpoint saved the alert state; the restarted analyzer resumes from the state without the
# alert, replays the pass on a later wall clock and fires the forecast again: the same
# notification id, so the sink drops it (the file holds one notification), and the alert is
# firing in the state saved at the end.
. "$top_srcdir/tests/integration/lib.sh"
plan 8
DATA="$top_srcdir/tests/data/aws/org-small"
OPS="$top_srcdir/tests/integration/ops_check.py"
POOL=ipam-pool-051431193e6c3f339

start_broker_proc --topic inv:2 --topic ev:2 --topic dlq:1
base_conf "$TMP/a.conf" wallclock "$TMP"
cat >>"$TMP/a.conf" <<EOF
[rule "fills"]
type = forecast
days = 365
[sink "file"]
type = file
path = $TMP/alerts.jsonl
EOF
# one_fired: the file sink holds exactly one notification, a firing one of rule "fills"
one_fired() {
  "$PYTHON3" -c '
import json, sys
lines = [json.loads(l) for l in open(sys.argv[1]) if l.strip()]
sys.exit(0 if [(a["rule"], a["state"]) for a in lines] == [("fills", "firing")] else 1)' \
    "$TMP/alerts.jsonl" 2>/dev/null
}
# in_state: the saved alert state lists the alert of rule "fills" as firing
in_state() {
  "$PYTHON3" -c '
import json, sys
s = json.load(open(sys.argv[1]))
sys.exit(0 if [a for a in s["alerts"] if a["rule"] == "fills" and a["state"] == "firing"] else 1)' \
    "$TMP/state/alerts.json" 2>/dev/null
}

HEND=$(($(date +%s) - 3600))
FULL_IN=$("$PYTHON3" "$OPS" history "$DATA" "$POOL" "$HEND" 30 2048 "$TMP/hist.in")
diag "$POOL full $FULL_IN s after $HEND by its history"
check "a month of hourly history of $POOL, full within the rule's 365 days, is written" \
  sh -c '"$1" "$2" 60 <"$3" >"$4"' _ "$top_builddir/tests/tools/rrd_history" "$TMP/rrd" \
  "$TMP/hist.in" "$TMP/hist.out"
check "collect publishes a pass" \
  sh -c '"$1" collect -c "$2" --once --from-files "$3" 2>"$4"' _ "$IPAMWATCH" "$TMP/a.conf" "$DATA" \
  "$TMP/collect.err"

# No checkpoint for ten minutes: the kill comes after the notification, before the state save.
bg "$IPAMWATCH" analyze -c "$TMP/a.conf" --commit-interval 600s --commit-records 1000000 \
  2>"$TMP/a1.err"
AN=$BG_PID
check "the forecast alert fires into the file sink" poll 60 one_fired
kill -9 "$AN"
wait "$AN" 2>/dev/null
check "killed before a checkpoint saved it: the alert state does not hold the alert" \
  sh -c '! grep -q "\"fills\"" "$1" 2>/dev/null' _ "$TMP/state/alerts.json"

check_status 0 "the restarted analyzer replays the pass and exits 0" \
  "$IPAMWATCH" analyze -c "$TMP/a.conf" --exit-when-idle 4s 2>"$TMP/a2.err"
check "it fired the alert again (0 sinks took it) ..." \
  grep -Eq "alert fills firing: [0-9a-f]{16} \(0 sinks\)" "$TMP/a2.err"
check "... and the file sink dropped it as spooled before: still one notification" one_fired
check "the state saved at its end holds the alert, firing" in_state

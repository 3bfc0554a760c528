# Alerts through the analyzer, end to end: collected passes and CloudTrail events on the
# development broker make `ipamwatch analyze` fire utilization, overlap (a VPC against an
# on-premise range) and allocation_failed alerts into a real Alertmanager, a signed webhook
# and a JSON-lines file, with the right labels; a pass without the conditions resolves them;
# a restart while they fire pages nobody again; a webhook receiver down for about a minute
# while alerts change loses nothing and gets every fire before its resolve after the restart.
# Also: every rule and sink example of README.md's configuration reference passes `ipamwatch check`.
. "$top_srcdir/tests/integration/lib.sh"
. "$top_srcdir/tests/integration/alertmanager.sh"
plan 32
DATA="$top_srcdir/tests/data/aws/org-small"
SCOPE=ipam-scope-1c386bbc4cd613e30
BIG=ipam-pool-051431193e6c3f339
SHARED=ipam-pool-6f8130c4237730edf
DEDICATED=ipam-pool-3587fd2803bab6c39
SECRET=hmac-E2E-$$
notes() { ae notes "$TMP/r1.log" "$TMP/r2.log" "$1"; }

# --- 1-2: the documented examples ------------------------------------------------------------
EXAMPLE="$top_srcdir/tests/data/config/alerts-example.conf"
check "alerts-example.conf holds every rule and sink example of the README" "$PYTHON3" -c '
import re, sys
doc = open(sys.argv[1]).read()
sec = doc[doc.index("#### Rule examples"):doc.index("\n### Paths")]
blocks = re.findall(r"```ini\n(.*?)```", sec, re.S)
conf = open(sys.argv[2]).read()
types = [t for b in blocks for t in re.findall(r"^type = (\S+)", b, re.M)]
assert len(blocks) == 15 and all(b in conf for b in blocks), "examples out of sync"
assert sorted(types) == sorted(["utilization", "cannot_fit", "forecast", "overlap", "allocation_failed",
    "noncompliant", "stale", "alertmanager", "pagerduty", "slack", "webhook", "syslog", "kafka",
    "file"]), types
' "$top_srcdir/README.md" "$EXAMPLE"
check "... and passes ipamwatch check, which shows all seven rules and seven sinks" sh -c '
  IPAMWATCH_PAGERDUTY_ROUTING_KEY=pd-key IPAMWATCH_SLACK_WEBHOOK_URL=https://hooks.slack.com/services/x \
  IPAMWATCH_WEBHOOK_HMAC_SECRET=hmac "$1" check -c "$2" >"$3" 2>&1 &&
  [ "$(grep -c "^\[rule " "$3")" -eq 7 ] && [ "$(grep -c "^\[sink " "$3")" -eq 7 ]' _ \
  "$IPAMWATCH" "$EXAMPLE" "$TMP/check.out"

# --- services ---------------------------------------------------------------------------------
start_broker_proc --topic inv:2 --topic ev:2 --topic dlq:1
start_receiver r1 --hmac-secret "$SECRET"
am_start "http://127.0.0.1:$RP/alertmanager" || bail "Alertmanager did not start"

base_conf "$TMP/a.conf" alerts-e2e "$TMP"
ae rules "$BIG" "runbook_url=https://wiki.example/ipam/{pool_id}" >>"$TMP/a.conf"
cat >>"$TMP/a.conf" <<EOF
[rule "alloc_failed"]
type = allocation_failed
window = 1h
severity = critical
labels = team=network
[sink "am"]
type = alertmanager
url = $AMURL
[sink "hook"]
type = webhook
url = http://127.0.0.1:$RP/webhook
hmac_secret = $SECRET
[sink "file"]
type = file
path = $TMP/alerts.jsonl
EOF
chmod 600 "$TMP/a.conf"
collect() { ae fixture "$DATA" "$TMP/fx" "$1" && "$IPAMWATCH" collect -c "$TMP/a.conf" --once --from-files "$TMP/fx" 2>>"$TMP/collect.err"; }
failed_event() { ae event "$1" "$2" "$SCOPE" | "$KCAT" -P -b "$B" -t ev -K '	'; }
analyze() { "$IPAMWATCH" analyze -c "$TMP/a.conf" --exit-when-idle "$1" >>"$TMP/analyze.out" 2>>"$TMP/analyze.err"; }
am_check() { am_alerts "$TMP/am.json" && ae am "$TMP/am.json" "$1"; }
FIRING4='[x for x in a if x["labels"]["alertname"]=="pool_full" and x["labels"].get("pool_id")=="'$BIG'" and x["labels"]["severity"]=="critical"] and [x for x in a if x["labels"]["alertname"]=="pool_full" and x["labels"]["severity"]=="warning"] and [x for x in a if x["labels"]["alertname"]=="onprem_overlap" and x["labels"]["domain"]=="onprem" and {x["labels"]["resource_a"], x["labels"]["resource_b"]}=={"static:onprem", "vpc-0e2e0e2e0e2e0e2e0"}] and [x for x in a if x["labels"]["alertname"]=="alloc_failed" and x["labels"]["pool_id"]=="'$SHARED'" and x["labels"]["team"]=="network"]'

# --- 3-11: fire --------------------------------------------------------------------------------
check "collect publishes a pass with a 53 % pool and a VPC in the on-prem range" collect a
check "kcat produces a failed allocation event" failed_event e2e-fail-1 "$SHARED"
check_status 0 "analyze --exit-when-idle consumes them and exits 0" analyze 4s
check "Alertmanager lists the critical and warning utilization, the overlap and the allocation failure" \
  poll 30 am_check "$FIRING4"
check "... with severity, summary and the runbook link filled in" am_check \
  'all(x["annotations"].get("summary") for x in a) and [x for x in a if x["labels"]["alertname"]=="pool_full" and x["annotations"].get("runbook_url")=="https://wiki.example/ipam/'$BIG'"]'
check "the webhook got the four firing notifications, validly signed, once each" poll 30 notes \
  'sorted(s for f, s, r in n)==["firing"]*4 and sorted(r for f, s, r in n)==["alloc_failed","onprem_overlap","pool_full","pool_full"] and len(set(f for f, s, r in n))==4'
check "Alertmanager routed them to its receiver" poll 30 "$PYTHON3" "$RECV" query "$TMP/r1.log" \
  'len(set(a["fingerprint"] for x in e if x["path"]=="/alertmanager" for a in x["body"]["alerts"] if a["status"]=="firing"))>=4'
check "the file sink holds the same four firing notifications" ae file "$TMP/alerts.jsonl" \
  'sorted(s for f, s, r in n)==["firing"]*4'
check "the alert state is kept in state_dir/alerts.json (0600)" \
  sh -c '[ "$(stat -c %a "$1")" = 600 ] && grep -q onprem_overlap "$1"' _ "$TMP/state/alerts.json"

# --- 12-16: restart while firing --------------------------------------------------------------
check "a second pass with the same conditions is collected" collect a
check_status 0 "a restarted analyzer consumes it and exits 0" analyze 4s
check "it re-registered the firing alerts with the Alertmanager sink" \
  grep -q "4 alerts firing and 0 pending from .*(4 re-registered with Alertmanager sinks)" "$TMP/analyze.err"
sleep 2
check "no duplicate page: still one webhook notification per fingerprint and state" notes \
  'len(n)==4 and len(set((f, s) for f, s, r in n))==4'
check "Alertmanager still lists all four active" am_check "$FIRING4"

# --- 17-26: the webhook receiver down for about a minute while alerts change -----------------
kill "$RECV_PID"; wait "$RECV_PID" 2>/dev/null
DOWN_AT=$(date +%s)
check "a pass with the pool grown and the VPC gone is collected" collect b
check "a second failed allocation (another pool) is produced" failed_event e2e-fail-2 "$DEDICATED"
check_status 0 "analyze consumes them with the webhook down and exits 0" analyze 4s
check "the file sink got the three resolves and the new fire" ae file "$TMP/alerts.jsonl" \
  'sorted(s for f, s, r in n[4:])==["firing","resolved","resolved","resolved"] and [r for f, s, r in n[4:] if s=="firing"]==["alloc_failed"]'
check "the webhook's notifications wait in its spool" \
  sh -c '[ "$(cat "$1"/spool.*.jsonl 2>/dev/null | wc -l)" -ge 4 ]' _ "$TMP/state/spool/hook"
check "Alertmanager dropped the resolved utilization and overlap alerts" poll 20 am_check \
  'not [x for x in a if x["labels"]["alertname"] in ("pool_full","onprem_overlap")]'
check "... and lists both allocation failures" am_check \
  'sorted(x["labels"]["pool_id"] for x in a if x["labels"]["alertname"]=="alloc_failed")==sorted(["'$SHARED'","'$DEDICATED'"])'
left=$((60 - ($(date +%s) - DOWN_AT)))
[ "$left" -gt 0 ] && sleep "$left"
diag "webhook receiver down for $(($(date +%s) - DOWN_AT)) s"
bg "$PYTHON3" "$RECV" http --port "$RP" --log "$TMP/r2.log" --hmac-secret "$SECRET"
poll 20 curl -s -o /dev/null "http://127.0.0.1:$RP/"
check_status 0 "a restarted analyzer replays the spool and exits 0" analyze 3s
check "nothing lost: every notification arrived, once" poll 20 notes \
  'len(n)==8 and len(set((f, s) for f, s, r in n))==8'
check "fire before resolve for every alert" notes \
  'all([s for g, s, r in n if g==f][0]=="firing" for f in set(f for f, s, r in n)) and sorted(r for f, s, r in n if s=="resolved")==["onprem_overlap","pool_full","pool_full"]'

# --- 27-32: after the outage ------------------------------------------------------------------
check "the replayed notifications are validly signed" "$PYTHON3" "$RECV" query "$TMP/r2.log" \
  'e and all(x["valid"] for x in e if x["path"]=="/webhook")'
check "the journal holds both failed allocations and the overlap's open and close" \
  sh -c '"$1" dump "$2" | cut -f 3 | sort | uniq -c | grep -Eq " 2 allocation_failed$" &&
         "$1" dump "$2" | cut -f 3 | grep -qx overlap_closed' _ "$top_builddir/tests/tools/journal_tool" "$TMP/journal"
check "the state file lists only the two firing allocation failures" "$PYTHON3" -c '
import json, sys
s = json.load(open(sys.argv[1]))
alerts = s["alerts"]
assert sorted(a["rule"] for a in alerts) == ["alloc_failed", "alloc_failed"], alerts
' "$TMP/state/alerts.json"
check "the webhook spool is empty after delivery" \
  sh -c '[ "$(cat "$1"/spool.*.jsonl 2>/dev/null | wc -l)" -eq 0 ]' _ "$TMP/state/spool/hook"
check "no secret in the analyzer's log" sh -c '! grep -q "$1" "$2"' _ "$SECRET" "$TMP/analyze.err"
check "no alert was refused, left unspooled or invalid" \
  sh -c '! grep -E "does not validate|refused by the sinks|could not be spooled|saving the alert state failed" "$1"' _ "$TMP/analyze.err"

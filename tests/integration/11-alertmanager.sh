# Alert sinks end to end through alert_tool: a real Prometheus Alertmanager (fire shows in
# /api/v2/alerts and reaches its webhook receiver; the resolve removes it and is notified),
# PagerDuty, Slack and signed webhook payloads checked by a local receiver, RFC 5424 syslog
# over UDP, Alertmanager re-posts of firing alerts, a receiver down for ~20 s (nothing lost, fire before resolve), and a restart
# with a non-empty spool (delivered once after the restart).
. "$top_srcdir/tests/integration/lib.sh"
. "$top_srcdir/tests/integration/alertmanager.sh"
plan 28
AT="$top_builddir/tests/tools/alert_tool"
q() { "$PYTHON3" "$RECV" query "$@"; }
# alert FP STATE SEVERITY: one alert record as JSON
alert() {
  ends=""
  [ "$2" = resolved ] && ends=",\"ends_at\":\"$(date -u +%Y-%m-%dT%H:%M:%S.000Z)\""
  printf '{"v":1,"type":"alert","scope":"ipam-scope-1","ts":"2025-03-14T12:00:05.000Z","source":"analyzer/t","fingerprint":"%s","rule":"utilization_high","state":"%s","severity":"%s","labels":{"alertname":"IpamPoolUtilizationHigh","fp":"%s","pool_id":"ipam-pool-1"},"annotations":{"summary":"Pool %s is 91 %% used","runbook_url":"https://wiki.example/rb"},"starts_at":"%s"%s,"value":0.91}\n' \
    "$1" "$2" "$3" "$1" "$1" "$(date -u -d '-1 min' +%Y-%m-%dT%H:%M:%S.000Z)" "$ends"
}

SECRET_KEY=pd-R0UT1NG-KEY-$$
SECRET_HOOK=slack-T0KEN-$$
SECRET_HMAC=hmac-S3CRET-$$

# --- receivers and Alertmanager -------------------------------------------------------------
bg "$PYTHON3" "$RECV" syslog --port-file "$TMP/sl.port" --log "$TMP/sl.log"
start_receiver r1 --hmac-secret "$SECRET_HMAC"
R1=$RP
wait_for_file "$TMP/sl.port" 20 || bail "syslog receiver did not start"
SL=$(cat "$TMP/sl.port")
am_start "http://127.0.0.1:$R1/alertmanager" || bail "Alertmanager did not start"

cat >"$TMP/all.conf" <<EOF
[kafka]
bootstrap.servers = 127.0.0.1:9
[analyzer]
state_dir = $TMP/state
[sink "am"]
type = alertmanager
url = $AMURL
[sink "pd"]
type = pagerduty
url = http://127.0.0.1:$R1/pagerduty
routing_key = $SECRET_KEY
[sink "slack"]
type = slack
webhook_url = http://127.0.0.1:$R1/slack?token=$SECRET_HOOK
[sink "hook"]
type = webhook
url = http://127.0.0.1:$R1/webhook
hmac_secret = $SECRET_HMAC
[sink "syslog"]
type = syslog
address = udp:127.0.0.1:$SL
app_name = ipamwatch-test
EOF
chmod 600 "$TMP/all.conf"
am_list() { am_alerts "$TMP/am.json" && cat "$TMP/am.json"; }
am_has() { am_list | "$PYTHON3" -c 'import json,sys; a=json.load(sys.stdin); sys.exit(0 if any(x["labels"].get("fp")==sys.argv[1] and x["status"]["state"]=="active" for x in a) else 1)' "$1"; }

# --- 1-11: fire -----------------------------------------------------------------------------
alert A1 firing critical >"$TMP/fire.in"
check_status 0 "alert_tool delivers a firing alert to five sinks" \
  sh -c '"$1" -c "$2" --wait 30s "$3" >"$4" 2>"$5"' _ "$AT" "$TMP/all.conf" "$TMP/fire.in" "$TMP/fire.out" "$TMP/fire.err"
check "every sink counted it delivered" sh -c '[ "$(grep -c "submitted=1 delivered=1 failed=0" "$1")" -eq 5 ]' _ "$TMP/fire.out"
check "Alertmanager lists it active in /api/v2/alerts" poll 20 am_has A1
check "... with our labels, annotations and severity" "$PYTHON3" -c '
import json,sys
a=[x for x in json.load(open(sys.argv[1])) if x["labels"].get("fp")=="A1"][0]
assert a["labels"]["alertname"]=="IpamPoolUtilizationHigh" and a["labels"]["severity"]=="critical", a
assert a["annotations"]["summary"]=="Pool A1 is 91 % used", a
' "$TMP/am.json"
check "Alertmanager notified its webhook receiver of the firing alert" poll 30 q "$TMP/r1.log" \
  'any(x["path"]=="/alertmanager" and x["valid"] and x["body"]["status"]=="firing" and x["body"]["alerts"][0]["labels"]["fp"]=="A1" for x in e)'
check "PagerDuty got a valid Events v2 trigger, dedup_key = fingerprint, severity critical" q "$TMP/r1.log" \
  "any(x['path']=='/pagerduty' and x['valid'] and x['body']['event_action']=='trigger' and x['body']['dedup_key']=='A1' and x['body']['routing_key']=='$SECRET_KEY' and x['body']['payload']['severity']=='critical' for x in e)"
check "Slack got a valid FIRING message coloured red" q "$TMP/r1.log" \
  'any(x["path"]=="/slack" and x["valid"] and x["body"]["text"].startswith("[FIRING]") and x["body"]["attachments"][0]["color"]=="#d00000" for x in e)'
check "the webhook got the alert JSON with a valid HMAC signature and timestamp" q "$TMP/r1.log" \
  'any(x["path"]=="/webhook" and x["valid"] and x["body"]["fingerprint"]=="A1" for x in e)'
check "no request was rejected by the receiver" q "$TMP/r1.log" 'all(x["valid"] for x in e)'
check "syslog got one RFC 5424 message with our structured data" poll 10 q "$TMP/sl.log" \
  'len(e)==1 and e[0]["valid"] and e[0]["app"]=="ipamwatch-test" and e[0]["msgid"]=="firing" and e[0]["pri"]==26 and e[0]["sd"]["ipamwatch@32473"]=={"fingerprint":"A1","rule":"utilization_high","state":"firing","severity":"critical"} and e[0]["msg"]=="Pool A1 is 91 % used"'
check "no secret (routing key, webhook URL token, HMAC key) in the logs" \
  sh -c '! grep -qE "$1|$2|$3" "$4"' _ "$SECRET_KEY" "$SECRET_HOOK" "$SECRET_HMAC" "$TMP/fire.err"

# --- 12-17: resolve -------------------------------------------------------------------------
alert A1 resolved critical >"$TMP/resolve.in"
check_status 0 "alert_tool delivers the resolve" \
  sh -c '"$1" -c "$2" --wait 30s "$3" >"$4" 2>"$5"' _ "$AT" "$TMP/all.conf" "$TMP/resolve.in" "$TMP/resolve.out" "$TMP/resolve.err"
am_gone() { am_list >/dev/null && ! am_has "$1"; }
check "the resolved alert is gone from /api/v2/alerts" poll 20 am_gone A1
check "Alertmanager notified its receiver of the resolve" poll 30 q "$TMP/r1.log" \
  'any(x["path"]=="/alertmanager" and x["body"]["status"]=="resolved" and x["body"]["alerts"][0]["labels"]["fp"]=="A1" for x in e)'
check "PagerDuty got the resolve for the same dedup_key" q "$TMP/r1.log" \
  'any(x["path"]=="/pagerduty" and x["valid"] and x["body"]["event_action"]=="resolve" and x["body"]["dedup_key"]=="A1" for x in e)'
check "Slack got a RESOLVED message coloured green" q "$TMP/r1.log" \
  'any(x["path"]=="/slack" and x["valid"] and x["body"]["text"].startswith("[RESOLVED]") and x["body"]["attachments"][0]["color"]=="#2eb886" for x in e)'
check "syslog got the resolve as notice with state=resolved" poll 10 q "$TMP/sl.log" \
  'len(e)==2 and e[1]["valid"] and e[1]["pri"]==29 and e[1]["sd"]["ipamwatch@32473"]["state"]=="resolved"'

# --- 18-22: the webhook receiver is down for ~20 s ------------------------------------------
R2=$(free_port)
cat >"$TMP/down.conf" <<EOF
[kafka]
bootstrap.servers = 127.0.0.1:9
[analyzer]
state_dir = $TMP/state-down
[sink "hook"]
type = webhook
url = http://127.0.0.1:$R2/webhook
hmac_secret = $SECRET_HMAC
[sink "pd"]
type = pagerduty
url = http://127.0.0.1:$R2/pagerduty
routing_key = $SECRET_KEY
EOF
chmod 600 "$TMP/down.conf"
{ alert B1 firing warning; alert B2 firing critical; alert B1 resolved warning
  alert B3 firing info; alert B2 resolved critical; } >"$TMP/down.in"
bg "$AT" -c "$TMP/down.conf" --wait 100s --backoff-min 200ms --backoff-max 2s "$TMP/down.in" \
  >"$TMP/down.out" 2>"$TMP/down.err"
AT_PID=$BG_PID
sleep 20
check "while the receiver is down, alert_tool keeps retrying" kill -0 "$AT_PID"
bg "$PYTHON3" "$RECV" http --port "$R2" --log "$TMP/r2.log" --hmac-secret "$SECRET_HMAC"
wait "$AT_PID"; st=$?
check "after it is back, everything is delivered (alert_tool exits 0)" [ "$st" -eq 0 ]
check "the outage was retried, nothing failed or dropped" \
  sh -c 'grep -Eq "sink hook submitted=5 delivered=5 failed=0 retries=[1-9][0-9]* dropped=0" "$1"' _ "$TMP/down.out"
check "the webhook got each notification exactly once, in order (fire before resolve)" q "$TMP/r2.log" \
  '[(x["body"]["fingerprint"], x["body"]["state"]) for x in e if x["path"]=="/webhook"]==[("B1","firing"),("B2","firing"),("B1","resolved"),("B3","firing"),("B2","resolved")]'
check "PagerDuty got trigger before resolve for each dedup_key, once each" q "$TMP/r2.log" \
  '[(x["body"]["dedup_key"], x["body"]["event_action"]) for x in e if x["path"]=="/pagerduty"]==[("B1","trigger"),("B2","trigger"),("B1","resolve"),("B3","trigger"),("B2","resolve")]'

# --- 23-27: restart with a non-empty spool ---------------------------------------------------
R3=$(free_port)
cat >"$TMP/spool.conf" <<EOF
[kafka]
bootstrap.servers = 127.0.0.1:9
[analyzer]
state_dir = $TMP/state-spool
[sink "hook"]
type = webhook
url = http://127.0.0.1:$R3/webhook
hmac_secret = $SECRET_HMAC
EOF
chmod 600 "$TMP/spool.conf"
{ alert C1 firing critical; alert C1 resolved critical; } >"$TMP/spool.in"
check_status 1 "with the sink down, alert_tool exits 1 and leaves the spool" \
  sh -c '"$1" -c "$2" --wait 1s --drain 100ms "$3" >"$4" 2>"$5"' _ "$AT" "$TMP/spool.conf" "$TMP/spool.in" "$TMP/spool1.out" "$TMP/spool1.err"
check "the spool holds both notifications (0600 in a 0700 directory)" sh -c '
  grep -q "sink hook submitted=2 delivered=0 failed=0 .* depth=2" "$2" &&
  [ "$(cat "$1"/spool.*.jsonl | wc -l)" -eq 2 ] && [ "$(stat -c %a "$1")" = 700 ] &&
  [ "$(stat -c %a "$1"/spool.*.jsonl)" = 600 ]' _ "$TMP/state-spool/spool/hook" "$TMP/spool1.out"
bg "$PYTHON3" "$RECV" http --port "$R3" --log "$TMP/r3.log" --hmac-secret "$SECRET_HMAC"
poll 20 curl -s -o /dev/null "http://127.0.0.1:$R3/"
check_status 0 "a restarted alert_tool with no input replays the spool" \
  sh -c '"$1" -c "$2" --wait 30s /dev/null >"$3" 2>"$4"' _ "$AT" "$TMP/spool.conf" "$TMP/spool2.out" "$TMP/spool2.err"
check_status 0 "a second restart has nothing left to send" \
  sh -c '"$1" -c "$2" --wait 10s /dev/null >"$3" 2>>"$4"' _ "$AT" "$TMP/spool.conf" "$TMP/spool3.out" "$TMP/spool2.err"
check "the receiver got fire then resolve, each once" q "$TMP/r3.log" \
  '[(x["body"]["fingerprint"], x["body"]["state"], x["valid"]) for x in e]==[("C1","firing",True),("C1","resolved",True)]'

# --- 28: firing alerts are re-posted to Alertmanager (it resolves them on its own otherwise) --
cat >"$TMP/repost.conf" <<EOF
[kafka]
bootstrap.servers = 127.0.0.1:9
[analyzer]
state_dir = $TMP/state-repost
[sink "am"]
type = alertmanager
url = http://127.0.0.1:$R3/
EOF
{ alert D1 firing warning; alert D2 firing warning; alert D2 resolved warning; } >"$TMP/repost.in"
"$AT" -c "$TMP/repost.conf" --repost 1s --hold 3500ms --wait 20s "$TMP/repost.in" \
  >"$TMP/repost.out" 2>"$TMP/repost.err"
check "the still-firing alert is re-posted without endsAt, the resolved one is not" q "$TMP/r3.log" \
  'len([x for x in e if x["path"]=="/api/v2/alerts" and x["valid"] and len(x["body"])==1 and x["body"][0]["labels"]["fp"]=="D1" and "endsAt" not in x["body"][0]])>=3 and len([x for x in e if x["path"]=="/api/v2/alerts" and x["body"][0]["labels"]["fp"]=="D2"])==2'

# Alert sinks end to end through the analyzer. A successful allocation seen in CloudTrail that
# a later complete inventory pass does not list fires the stale rule's reflect_lag alert
# (max_reflect_lag 1m); a pass listing it resolves it. Both notifications must arrive:
# on the Kafka sink (the alerts topic of an `ipamwatch broker`, read back with kcat: one
# record per notification, the documented alert record, key = fingerprint), on syslog sinks
# over a unix datagram socket and over TCP (RFC 5424, RFC 6587 octet counting), and on
# webhooks over HTTPS with self-signed certificates: refused with a certificate error logged
# unless `ca_file` names the certificate (then delivered, HMAC verified), refused when the
# certificate names another host even with `ca_file`, delivered with `insecure_skip_verify`.
. "$top_srcdir/tests/integration/lib.sh"
plan 24
DATA="$top_srcdir/tests/data/aws/org-small"
H="$top_srcdir/tests/integration/sinks_check.py"
SCOPE=ipam-scope-1c386bbc4cd613e30
SECRET=hmac-sinks-$$
sc() { "$PYTHON3" "$H" "$@"; }
unset SSL_CERT_FILE SSL_CERT_DIR CURL_CA_BUNDLE

# cert NAME SAN: a self-signed certificate $TMP/NAME.pem with key $TMP/NAME.key
cert() {
  openssl req -x509 -newkey rsa:2048 -nodes -keyout "$TMP/$1.key" -out "$TMP/$1.pem" -days 2 \
    -subj "/CN=ipamwatch sinks test $1" -addext "subjectAltName=$2" >/dev/null 2>&1
}
cert good IP:127.0.0.1
cert other DNS:hooks.example.invalid

# --- services ---------------------------------------------------------------------------------
start_broker_proc --topic inv:2 --topic ev:2 --topic dlq:1 --topic alerts:1
# https NAME CERT: an HTTPS receiver logging to $TMP/NAME.log; its port in $TMP/NAME.port
https() { start_receiver "$1" --hmac-secret "$SECRET" --tls-cert "$TMP/$2.pem" --tls-key "$TMP/$2.key"; }
bg "$PYTHON3" "$RECV" syslog --unix "$TMP/syslog.sock" --port-file "$TMP/unix.port" --log "$TMP/unix.log"
bg "$PYTHON3" "$RECV" syslog --tcp --port-file "$TMP/tcp.port" --log "$TMP/tcp.log"
https noca good
https ca good
https wronghost other
https insecure other
for f in unix tcp; do
  wait_for_file "$TMP/$f.port" 20 || bail "receiver $f did not start"
done
port() { cat "$TMP/$1.port"; }

base_conf "$TMP/s.conf" sinks "$TMP" topics.alerts=alerts
cat >>"$TMP/s.conf" <<EOF
[rule "ipam_lag"]
type = stale
max_pass_age = 1h
max_event_lag = 1h
max_reflect_lag = 1m
severity = warning
[sink "kafka"]
type = kafka
[sink "syslog_unix"]
type = syslog
address = unix:$TMP/syslog.sock
app_name = ipamwatch-test
[sink "syslog_tcp"]
type = syslog
address = tcp:127.0.0.1:$(port tcp)
[sink "hook_noca"]
type = webhook
url = https://127.0.0.1:$(port noca)/webhook
hmac_secret = $SECRET
retry_max = 1h
[sink "hook_ca"]
type = webhook
url = https://127.0.0.1:$(port ca)/webhook
hmac_secret = $SECRET
ca_file = $TMP/good.pem
[sink "hook_wronghost"]
type = webhook
url = https://127.0.0.1:$(port wronghost)/webhook
hmac_secret = $SECRET
ca_file = $TMP/other.pem
[sink "hook_insecure"]
type = webhook
url = https://127.0.0.1:$(port insecure)/webhook
hmac_secret = $SECRET
insecure_skip_verify = yes
EOF
chmod 600 "$TMP/s.conf"
collect() { sc fixture "$DATA" "$TMP/fx" "$1" && "$IPAMWATCH" collect -c "$TMP/s.conf" --once --from-files "$TMP/fx" 2>>"$TMP/collect.err"; }
analyze() { "$IPAMWATCH" analyze -c "$TMP/s.conf" --exit-when-idle "$1" >>"$TMP/analyze.out" 2>>"$TMP/analyze.err"; }
alerts_topic() { "$KCAT" -C -b "$B" -t alerts -e -q -f '%k\t%s\n' >"$TMP/alerts.tsv" 2>>"$TMP/kcat.err" && sc kafka "$TMP/alerts.tsv" "$1"; }
hook() { "$PYTHON3" "$RECV" query "$TMP/$1.log" "$2"; }
syslog_has() { sc syslog "$TMP/$1.log" "$2"; }
REFLECT='n and all(r=="reflect_lag" for f, s, r in n)'

# --- 1-4: an allocation in CloudTrail, then a pass that does not list it ----------------------
check "kcat produces an allocation event of five minutes ago" \
  sh -c '"$1" "$2" event "$3" 300 | "$4" -P -b "$5" -t ev -K "	"' _ "$PYTHON3" "$H" "$SCOPE" "$KCAT" "$B"
check_status 0 "analyze consumes it and exits 0" analyze 4s
check "the alert state tracks the allocation, nothing fired yet" "$PYTHON3" -c '
import json, sys
s = json.load(open(sys.argv[1]))
assert [u["cidr"] for u in s["unreflected"]] == ["10.64.200.0/24"] and not s["alerts"], s
' "$TMP/state/alerts.json"
check "collect publishes a complete pass without the allocation" collect a
check_status 0 "analyze consumes it and exits 0" analyze 4s

# --- 6-13: fired ------------------------------------------------------------------------------
check "Kafka sink: one firing record, key = fingerprint, labels name the allocation" poll 20 alerts_topic \
  "$REFLECT"' and [s for f, s, r in n]==["firing"] and all(key==x["fingerprint"] and x["type"]=="alert" and x["rule"]=="ipam_lag" and x["severity"]=="warning" and x["labels"]["pool_id"]=="ipam-pool-6f8130c4237730edf" and x["labels"]["cidr"]=="10.64.200.0/24" and x["labels"]["allocation_id"].startswith("ipam-pool-alloc-0516") and x["labels"]["account"]=="555555555555" and x["labels"]["scope_id"]=="'$SCOPE'" and "10.64.200.0/24" in x["annotations"]["summary"] for key, x in k)'
FIRED_SYSLOG='len(s)==1 and s[0]["valid"] and s[0]["msgid"]=="firing" and s[0]["sd"]["ipamwatch@32473"]["rule"]=="ipam_lag" and s[0]["sd"]["ipamwatch@32473"]["severity"]=="warning" and "10.64.200.0/24" in s[0]["msg"] and s[0]["pri"]==3*8+4'
check "syslog over a unix datagram socket: RFC 5424 with rule, severity and subject" \
  poll 20 syslog_has unix "$FIRED_SYSLOG"' and s[0]["app"]=="ipamwatch-test"'
check "syslog over TCP: the same, octet-counted" poll 20 syslog_has tcp "$FIRED_SYSLOG"' and s[0]["app"]=="ipamwatch"'
check "webhook with ca_file naming the CA: delivered over HTTPS, signature verified" poll 20 hook ca \
  'len(e)==1 and e[0]["valid"] and e[0]["body"]["state"]=="firing" and e[0]["body"]["labels"]["reason"]=="reflect_lag"'
check "webhook with insecure_skip_verify: delivered despite a certificate for another host" poll 20 hook insecure \
  'len(e)==1 and e[0]["valid"] and e[0]["body"]["state"]=="firing"'
check "webhook without ca_file: nothing delivered" sh -c '[ ! -s "$1" ]' _ "$TMP/noca.log"
check "... a certificate error is logged and the notification stays spooled" sh -c '
  grep "sink hook_noca" "$1" | grep -qiE "certificate|SSL" &&
  [ "$(cat "$2"/spool.*.jsonl 2>/dev/null | wc -l)" -ge 1 ]' _ "$TMP/analyze.err" "$TMP/state/spool/hook_noca"
check "webhook with ca_file but a certificate for another host: refused" sh -c '
  [ ! -s "$1" ] && grep "sink hook_wronghost" "$2" | grep -qiE "certificate|SSL|subject|name"' _ "$TMP/wronghost.log" "$TMP/analyze.err"

# --- 14-22: the inventory lists it: resolved --------------------------------------------------
check "collect publishes a pass that lists the allocation" collect b
check_status 0 "analyze consumes it and exits 0" analyze 4s
check "Kafka sink: firing then resolved, one record each, same key" poll 20 alerts_topic \
  "$REFLECT"' and [s for f, s, r in n]==["firing","resolved"] and len(set(key for key, x in k))==1 and k[1][1]["ends_at"] and k[1][1]["annotations"]["resolution"]=="the inventory lists the allocation"'
RESOLVED_SYSLOG='len(s)==2 and all(x["valid"] for x in s) and [x["msgid"] for x in s]==["firing","resolved"] and s[1]["sd"]["ipamwatch@32473"]["state"]=="resolved" and s[0]["sd"]["ipamwatch@32473"]["fingerprint"]==s[1]["sd"]["ipamwatch@32473"]["fingerprint"] and s[1]["pri"]==3*8+5'
check "syslog unix: the resolve follows" poll 20 syslog_has unix "$RESOLVED_SYSLOG"
check "syslog TCP: the resolve follows" poll 20 syslog_has tcp "$RESOLVED_SYSLOG"
check "webhook with ca_file: the resolve follows, validly signed" poll 20 hook ca \
  'len(e)==2 and all(x["valid"] for x in e) and [x["body"]["state"] for x in e]==["firing","resolved"]'
check "webhook with insecure_skip_verify: the resolve follows" poll 20 hook insecure \
  'len(e)==2 and [x["body"]["state"] for x in e]==["firing","resolved"]'
check "webhook without ca_file: still nothing, both notifications spooled" sh -c '
  [ ! -s "$1" ] && [ "$(cat "$2"/spool.*.jsonl 2>/dev/null | wc -l)" -ge 2 ]' _ "$TMP/noca.log" "$TMP/state/spool/hook_noca"
check "the alert state no longer tracks the allocation" "$PYTHON3" -c '
import json, sys
s = json.load(open(sys.argv[1]))
assert not s["unreflected"] and not s["alerts"], s
' "$TMP/state/alerts.json"

# --- 23-24 ------------------------------------------------------------------------------------
check "no secret in the analyzer's log" sh -c '! grep -q "$1" "$2"' _ "$SECRET" "$TMP/analyze.err"
check "no alert was refused, left unspooled or invalid" \
  sh -c '! grep -E "does not validate|refused by the sinks|could not be spooled|saving the alert state failed" "$1"' _ "$TMP/analyze.err"

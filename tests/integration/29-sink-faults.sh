# Alert sinks slow and answering errors, end to end through one long-running analyzer. Two
# webhook sinks post to two receivers: "errs" answers the first three posts 500, 503, 500;
# "slow" holds the first two posts 12 s, longer than the sinks' 10 s HTTP timeout. A pass
# fires three alerts and, while the slow sink is still stalled, a second pass resolves them:
# the analyzer keeps consuming and commits both passes. Each sink retries (the failures are
# logged, the faulted posts carry the notification that is delivered next) until every
# notification is answered exactly once per (fingerprint, state), each fire before its resolve.
. "$top_srcdir/tests/integration/lib.sh"
need_python kafka
plan 15
DATA="$top_srcdir/tests/data/aws/org-small"
BIG=ipam-pool-051431193e6c3f339
SECRET=hmac-faults-$$
q() { "$PYTHON3" "$RECV" query "$TMP/$1.log" "$2"; }
# (fingerprint, state) of the answered notifications of a receiver log, in arrival order
OK='[(x["body"]["fingerprint"], x["body"]["state"]) for x in e if "fault" not in x and x["valid"]]'
# answered EXPR: EXPR with OK bound to that list
answered() { printf '(lambda OK: %s)(%s)' "$1" "$OK"; }
FAULTED='[x["body"]["fingerprint"] for x in e if "fault" in x]'

start_broker_proc --topic inv:2 --topic ev:2 --topic dlq:1
start_receiver errs --hmac-secret "$SECRET" --fail-first 3
ERRS=$RP
start_receiver slow --hmac-secret "$SECRET" --delay 12 --delay-posts 2
SLOW=$RP
PORT=$(free_port)

base_conf "$TMP/a.conf" sink-faults "$TMP" metrics.analyzer_listen="127.0.0.1:$PORT"
ae rules "$BIG" >>"$TMP/a.conf"
cat >>"$TMP/a.conf" <<EOF
[sink "errs"]
type = webhook
url = http://127.0.0.1:$ERRS/webhook
hmac_secret = $SECRET
[sink "slow"]
type = webhook
url = http://127.0.0.1:$SLOW/webhook
hmac_secret = $SECRET
EOF
chmod 600 "$TMP/a.conf"
collect() { ae fixture "$DATA" "$TMP/fx" "$1" && "$IPAMWATCH" collect -c "$TMP/a.conf" --once --from-files "$TMP/fx" >/dev/null 2>>"$TMP/collect.err"; }
committed_all() { all_committed "sink-faults-$$" inv ev; }

start_analyzer an "$TMP/a.conf"
check "the analyzer joins its group" wait_log 30 "$TMP/an.err" 'partitions assigned'

# --- a pass fires three alerts; the slow receiver holds the first post -------------------------
check "a pass with a 53 % pool and a VPC in the on-prem range is collected" collect a
check "the slow receiver holds the first post" poll 10 q slow 'any(x.get("fault") == "delay" for x in e)'
check "a pass resolving them is collected while the slow sink is stalled" collect b
consumed_while_stalled() { poll 15 committed_all && q slow "not $OK"; }
check "the analyzer keeps consuming: both passes committed, nothing answered by the slow receiver yet" \
  consumed_while_stalled
check "... and keeps serving /healthz" \
  sh -c 'kill -0 "$1" && [ "$(curl -s -o /dev/null -w %{http_code} http://127.0.0.1:$2/healthz)" = 200 ]' _ "$AN" "$PORT"

# --- the sinks retry until everything is delivered --------------------------------------------
EXACTLY='len(OK) == 6 and len(set(OK)) == 6 and sorted(s for f, s in OK) == ["firing"] * 3 + ["resolved"] * 3'
ORDER='all([s for g, s in OK if g == f] == ["firing", "resolved"] for f in set(g for g, s in OK))'
for r in errs slow; do
  check "$r: every notification answered exactly once per (fingerprint, state)" \
    poll 40 q "$r" "$(answered "$EXACTLY")"
  check "$r: each fire before its resolve" q "$r" "$(answered "$ORDER")"
done
check "errs: three faulted posts, each retried with the notification answered next" q errs \
  "len($FAULTED) == 3 and set($FAULTED) == {$OK[0][0]} and all(x[\"valid\"] for x in e)"
check "slow: two held posts, retried with the notification answered next" q slow \
  "len($FAULTED) == 2 and set($FAULTED) == {$OK[0][0]} and all(x[\"valid\"] for x in e)"
check "the analyzer logs the failed deliveries and the recovery of each sink" sh -c '
  grep -q "sink errs (webhook): delivery failed: HTTP status 50[03]; .* retrying" "$1" &&
  grep -Eiq "sink slow \(webhook\): delivery failed: .*(timeout|timed out).* retrying" "$1" &&
  grep -q "sink errs (webhook): delivering again" "$1" &&
  grep -q "sink slow (webhook): delivering again" "$1"' _ "$TMP/an.err"
check "no notification given up, refused or left unspooled" \
  sh -c '! grep -E "giving up a notification|refused by the sinks|could not be spooled" "$1"' _ "$TMP/an.err"
kill -TERM "$AN"
check_status 0 "the analyzer stops with status 0 on SIGTERM" wait "$AN"

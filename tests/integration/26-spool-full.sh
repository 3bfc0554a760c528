# Disk full under a sink's spool: the webhook sink's spool directory lives on a small tmpfs
# that is full when a collected pass fires alerts. The analyzer keeps running and serving
# /healthz, holds the notifications in memory, commits no offset and says why in one
# rate-limited line naming the spool file and ENOSPC; once the mount is grown it spools and
# delivers them by itself, commits everything, and a later pass resolves them: the webhook
# receiver gets every notification once per (fingerprint, state), each fire before its
# resolve. Needs root (mount -t tmpfs).
. "$top_srcdir/tests/integration/lib.sh"
if [ "$(id -u)" != 0 ]; then
  echo "1..0 # SKIP mounting a tmpfs needs root"
  exit 0
fi
if ! mkdir "$TMP/probe" || ! mount -t tmpfs -o size=64k tmpfs "$TMP/probe" 2>/dev/null; then
  echo "1..0 # SKIP mount -t tmpfs is not permitted here"
  exit 0
fi
umount "$TMP/probe"
if ! "$PYTHON3" -c 'import kafka' 2>/dev/null; then
  echo "1..0 # SKIP needs python3-kafka"
  exit 0
fi
plan 15
DATA="$top_srcdir/tests/data/aws/org-small"
H="$top_srcdir/tests/integration/alerts_e2e.py"
OPS="$top_srcdir/tests/integration/ops_check.py"
RECV="$top_srcdir/tests/alerts/receiver.py"
BIG=ipam-pool-051431193e6c3f339
SECRET=hmac-spool-$$
ae() { "$PYTHON3" "$H" "$@"; }
notes() { ae notes "$TMP/recv.log" "$1"; }

SM="$TMP/spool-mount"
mkdir -p "$SM"
trap 'umount "$SM" 2>/dev/null; cleanup' EXIT
mount -t tmpfs -o size=64k,mode=0700 tmpfs "$SM" || { echo "Bail out! mount failed"; exit 1; }

bg "$IPAMWATCH" broker --topic inv:2 --topic ev:2 --topic dlq:1 --bootstrap-file "$TMP/bootstrap" \
  >"$TMP/broker.out" 2>"$TMP/broker.err"
wait_for_file "$TMP/bootstrap" 20 || { echo "Bail out! broker did not start"; exit 1; }
B=$(cat "$TMP/bootstrap")
bg "$PYTHON3" "$RECV" http --port-file "$TMP/recv.port" --log "$TMP/recv.log" --hmac-secret "$SECRET"
wait_for_file "$TMP/recv.port" 20 || { echo "Bail out! receiver did not start"; exit 1; }
RP=$(cat "$TMP/recv.port")
PORT=$("$PYTHON3" "$OPS" port)

cat >"$TMP/a.conf" <<EOF
[kafka]
bootstrap.servers = $B
fetch.wait.max.ms = 5
session.timeout.ms = 6000
[topics]
inventory = inv
events = ev
deadletter = dlq
[analyzer]
group_id = spool-full-$$
state_dir = $TMP/state
[rrd]
dir = $TMP/rrd
step = 60s
[journal]
dir = $TMP/journal
fsync = no
[metrics]
analyzer_listen = 127.0.0.1:$PORT
[domain "onprem"]
scopes = private
static = 10.200.0.0/16
[rule "pool_full"]
type = utilization
pool = $BIG
warn_trigger = 49
warn_reset = 40
crit_trigger = 50
crit_reset = 45
for = 0s
[rule "onprem_overlap"]
type = overlap
domain = onprem
severity = critical
[sink "hook"]
type = webhook
url = http://127.0.0.1:$RP/webhook
hmac_secret = $SECRET
spool_dir = $SM/hook
EOF
chmod 600 "$TMP/a.conf"
collect() { ae fixture "$DATA" "$TMP/fx" "$1" && "$IPAMWATCH" collect -c "$TMP/a.conf" --once --from-files "$TMP/fx" >/dev/null 2>>"$TMP/collect.err"; }
offsets() { "$PYTHON3" "$OPS" committed "$B" "spool-full-$$" inv ev; }
committed_all() { set -- $(offsets); [ "$1" -gt 0 ] && [ "$1" = "$2" ]; }
metric() { curl -s --max-time 5 "http://127.0.0.1:$PORT/metrics" | "$PYTHON3" "$OPS" metrics /dev/stdin "$1"; }
# poll SECONDS CMD...: retries CMD every 0.2 s until it succeeds
poll() {
  n=$(($1 * 5)); shift
  while [ "$n" -gt 0 ]; do "$@" && return 0; sleep 0.2; n=$((n - 1)); done
  return 1
}
LINE="sinks: sink hook: writing spool $SM/hook/spool\.0\.jsonl failed: No space left on device"

# The analyzer starts with an empty spool (its directory and file exist); then the spool's
# file system is filled to the last block and a pass that fires three alerts is collected.
"$IPAMWATCH" analyze -c "$TMP/a.conf" >"$TMP/an.out" 2>"$TMP/an.err" &
AN=$!
CLEANUP_PIDS="$CLEANUP_PIDS $AN"
check "the analyzer joins its group with the webhook spool on a small file system" \
  poll 30 grep -q 'partitions assigned' "$TMP/an.err"
dd if=/dev/zero of="$SM/filler" bs=4k 2>/dev/null
check "a pass with a 53 % pool and a VPC in the on-prem range is collected" collect a

# --- while the spool's file system is full ---------------------------------------------------
check "the spool write fails naming the spool file and ENOSPC" poll 30 grep -q "$LINE" "$TMP/an.err"
check "the checkpoint fails while the notifications wait in memory" \
  poll 10 grep -q "checkpoint failed (alert state: sink hook: spool $SM/hook/spool\.0\.jsonl: No space left on device; [0-9]* notifications held in memory)" "$TMP/an.err"
sleep 4
fails=$(metric ipamwatch_analyzer_checkpoint_failures_total)
lines=$(grep -c "$LINE" "$TMP/an.err")
check "it retries ($fails failed checkpoints) but logs the spool failure at most twice ($lines lines)" \
  sh -c '[ "$1" -ge 3 ] && [ "$2" -ge 1 ] && [ "$2" -le 2 ]' _ "${fails:-0}" "$lines"
set -- $(offsets)
check "no offset is committed (committed $1 of $2)" sh -c '[ "$1" = 0 ] && [ "$2" -gt 0 ]' _ "$1" "$2"
check "the analyzer keeps running and serving /healthz" \
  sh -c 'kill -0 "$1" && [ "$(curl -s -o /dev/null -w %{http_code} http://127.0.0.1:$2/healthz)" = 200 ]' _ "$AN" "$PORT"
check "nothing reached the webhook yet" notes 'len(n) == 0'

# --- the spool's file system grows -------------------------------------------------------------
mount -o remount,size=16m "$SM"
check "the analyzer spools them by itself and commits again" \
  poll 30 sh -c 'grep -q "sink hook: spool $2/hook writable again; [0-9]* held notifications spooled" "$1" &&
                 grep -q "checkpoint [0-9]* written; committing again" "$1"' _ "$TMP/an.err" "$SM"
check "every offset is committed" poll 20 committed_all
check "the webhook got the three fires, once each" poll 20 notes \
  'sorted(s for f, s, r in n) == ["firing"] * 3 and len(set(f for f, s, r in n)) == 3'

# --- a pass without the conditions resolves them -------------------------------------------------
collect b
check "after the pass that resolves them: every notification once per fingerprint and state" \
  poll 30 notes 'len(n) == 6 and len(set((f, s) for f, s, r in n)) == 6'
check "each fire before its resolve" notes \
  'all([s for g, s, r in n if g == f] == ["firing", "resolved"] for f in set(f for f, s, r in n))'
check "every offset is committed again" poll 20 committed_all
kill -TERM "$AN"
check_status 0 "the same analyzer process stops with status 0 on SIGTERM" wait "$AN"

# Disk full under a sink's spool: the webhook sink's spool directory lives on a small tmpfs
# that is full when a collected pass fires alerts. The analyzer keeps running and serving
# /healthz, holds the notifications in memory, commits no offset and says why in one
# rate-limited line naming the spool file and ENOSPC; once the mount is grown it spools and
# delivers them by itself, commits everything, and a later pass resolves them: the webhook
# receiver gets every notification once per (fingerprint, state), each fire before its
# resolve. Needs root (mount -t tmpfs).
. "$top_srcdir/tests/integration/lib.sh"
need_tmpfs
need_python kafka
plan 15
DATA="$top_srcdir/tests/data/aws/org-small"
BIG=ipam-pool-051431193e6c3f339
SECRET=hmac-spool-$$
notes() { ae notes "$TMP/recv.log" "$1"; }

SM="$TMP/spool-mount"
mkdir -p "$SM"
trap 'umount "$SM" 2>/dev/null; cleanup' EXIT
mount -t tmpfs -o size=64k,mode=0700 tmpfs "$SM" || bail "mount failed"

start_broker_proc --topic inv:2 --topic ev:2 --topic dlq:1
start_receiver recv --hmac-secret "$SECRET"
PORT=$(free_port)

alerts_conf "$TMP/a.conf" spool-full "$TMP" metrics.analyzer_listen="127.0.0.1:$PORT" <<EOF
[sink "hook"]
type = webhook
url = http://127.0.0.1:$RP/webhook
hmac_secret = $SECRET
spool_dir = $SM/hook
EOF
collect() { ae fixture "$DATA" "$TMP/fx" "$1" && "$IPAMWATCH" collect -c "$TMP/a.conf" --once --from-files "$TMP/fx" >/dev/null 2>>"$TMP/collect.err"; }
committed_all() { all_committed "spool-full-$$" inv ev; }
LINE="sinks: sink hook: writing spool $SM/hook/spool\.0\.jsonl failed: No space left on device"

# The analyzer starts with an empty spool (its directory and file exist); then the spool's
# file system is filled to the last block and a pass that fires three alerts is collected.
start_analyzer an "$TMP/a.conf"
check "the analyzer joins its group with the webhook spool on a small file system" \
  wait_log 30 "$TMP/an.err" 'partitions assigned'
dd if=/dev/zero of="$SM/filler" bs=4k 2>/dev/null
check "a pass with a 53 % pool and a VPC in the on-prem range is collected" collect a

# --- while the spool's file system is full ---------------------------------------------------
check "the spool write fails naming the spool file and ENOSPC" poll 30 grep -q "$LINE" "$TMP/an.err"
check "the checkpoint fails while the notifications wait in memory" \
  poll 10 grep -q "checkpoint failed (alert state: sink hook: spool $SM/hook/spool\.0\.jsonl: No space left on device; [0-9]* notifications held in memory)" "$TMP/an.err"
sleep 4
check_retried_quietly "$PORT" "$TMP/an.err" "$LINE" 3 "it retries but logs the spool failure at most twice"
set -- $(committed_offsets "spool-full-$$" inv ev)
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

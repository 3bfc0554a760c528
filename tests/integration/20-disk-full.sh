# Disk full under the analyzer: its RRD directory and its journal live on two small tmpfs
# mounts that a collected pass overfills. While they are full the analyzer keeps running,
# commits no offset and says why in rate-limited lines naming the file or directory and
# ENOSPC; once each mount is grown it resumes by itself, commits everything, and its journal,
# RRD files and alerts equal those of a run on a roomy disk. Needs root (mount -t tmpfs).
. "$top_srcdir/tests/integration/lib.sh"
need_tmpfs
need_python kafka
plan 16
DATA="$top_srcdir/tests/data/aws/org-small"
CHECK="$top_srcdir/tests/integration/analyze_check.py"

RRDM="$TMP/rrd-mount" JM="$TMP/journal-mount"
mkdir -p "$RRDM" "$JM"
unmount_all() { umount "$RRDM" 2>/dev/null; umount "$JM" 2>/dev/null; }
trap 'unmount_all; cleanup' EXIT
# RRD files of this step take ~480 KiB each: 8 MiB holds a few of the pass's 97.
mount -t tmpfs -o size=8m,mode=0700 tmpfs "$RRDM" || bail "mount failed"
mount -t tmpfs -o size=256k,mode=0700 tmpfs "$JM" || bail "mount failed"

start_broker_proc --topic inv:2 --topic ev:2 --topic dlq:1
PORT=$(free_port)

# conf NAME GROUP RRD-DIR JOURNAL-DIR: state and alerts under $TMP/NAME
conf() {
  base_conf "$TMP/$1.conf" "$2" "$TMP/$1" rrd.dir="$3" rrd.step=3600s journal.dir="$4" \
    journal.fsync=yes metrics.analyzer_listen="127.0.0.1:$PORT"
  compliance_rules >>"$TMP/$1.conf"
  cat >>"$TMP/$1.conf" <<EOF
[sink "file"]
type = file
path = $TMP/$1/alerts.jsonl
EOF
}
conf full full "$RRDM/rrd" "$JM/journal"
conf ref ref "$TMP/ref/rrd" "$TMP/ref/journal"
# offsets GROUP: "committed end" summed over both topics
offsets() { committed_offsets "$1" inv ev; }

# The analyzer starts on empty topics; then the journal's file system is filled to the last
# block (its HEAD exists already) and a pass is collected.
start_analyzer full "$TMP/full.conf"
check "the analyzer joins its group with both directories on small file systems" \
  wait_log 30 "$TMP/full.err" 'partitions assigned'
dd if=/dev/zero of="$JM/filler" bs=4k 2>/dev/null
"$IPAMWATCH" collect -c "$TMP/full.conf" --once --from-files "$DATA" >/dev/null 2>"$TMP/collect.err"
check_status 0 "the collector delivers one pass" sh -c 'exit $1' _ $?

# --- while the RRD file system is full -----------------------------------------------------
check "the checkpoint fails naming the RRD file and ENOSPC" \
  poll 30 grep -q "checkpoint failed (RRD flush: rrd_create $RRDM/rrd/[a-z]*/[a-z0-9-]*\.rrd: No space left on device" "$TMP/full.err"
sleep 5
check_retried_quietly "$PORT" "$TMP/full.err" 'analyzer: checkpoint failed' 4 \
  "it retries but logs that at most twice"
set -- $(offsets full-$$)
check "no offset is committed (committed $1 of $2) and no checkpoint counted" \
  sh -c '[ "$1" = 0 ] && [ "$2" -gt 0 ] && [ "$3" = 0 ]' _ "$1" "$2" "$(metric "$PORT" ipamwatch_analyzer_checkpoints_total)"
check "the analyzer keeps running and serving /healthz" \
  sh -c 'kill -0 "$1" && [ "$(curl -s -o /dev/null -w %{http_code} http://127.0.0.1:$2/healthz)" = 200 ]' _ "$AN" "$PORT"

# --- the RRD file system grows; the journal's is still full --------------------------------
mount -o remount,size=128m "$RRDM"
check "then the journal sync fails naming the journal directory and ENOSPC" \
  poll 30 grep -q "checkpoint failed (journal sync: $JM/journal: No space left on device)" "$TMP/full.err"
set -- $(offsets full-$$)
check "still no offset committed (committed $1 of $2)" test "$1" = 0
check "the analyzer is still running" kill -0 "$AN"

# --- the journal's file system grows -------------------------------------------------------
mount -o remount,size=16m "$JM"
check "the analyzer resumes by itself: checkpoint written, consumption resumed" \
  poll 30 sh -c 'grep -q "checkpoint [0-9]* written; committing again" "$1" && grep -q "consumption resumed" "$1"' _ "$TMP/full.err"
check "every offset is committed" poll 20 all_committed full-$$ inv ev
kill -TERM "$AN"
check_status 0 "the analyzer stops with status 0 on SIGTERM" wait "$AN"

# --- nothing lost: the same run on a roomy disk ----------------------------------------------
"$IPAMWATCH" analyze -c "$TMP/ref.conf" --exit-when-idle 2s >/dev/null 2>"$TMP/ref.err"
"$JT" dump "$TMP/ref/journal" | cut -f 3-5 >"$TMP/ref.j"
"$JT" dump "$JM/journal" | cut -f 3-5 >"$TMP/full.j"
check "the journal verifies and holds every record of the reference run ($(wc -l <"$TMP/ref.j"))" \
  sh -c '"$1" verify "$2" >/dev/null && [ -s "$3" ] && cmp -s "$3" "$4"' _ "$JT" "$JM/journal" "$TMP/ref.j" "$TMP/full.j"
check "an RRD file for every pool, scope, VPC and subnet" "$PYTHON3" "$CHECK" objects "$DATA" "$RRDM/rrd"
"$PYTHON3" "$CHECK" lastvalues "$TMP/ref/rrd" >"$TMP/ref.last"
"$PYTHON3" "$CHECK" lastvalues "$RRDM/rrd" >"$TMP/full.last"
check "every RRD file's last sample equals the reference run's" \
  sh -c '[ -s "$1" ] && cmp -s "$1" "$2"' _ "$TMP/ref.last" "$TMP/full.last"
# fp FILE: the sorted "fingerprint state" pairs of a file sink's notifications
fp() {
  "$PYTHON3" -c 'import json,sys; print("\n".join(sorted("%s %s" % (a["fingerprint"], a["state"]) for a in map(json.loads, open(sys.argv[1])))))' "$1"
}
check "the same alerts were delivered ($(wc -l <"$TMP/ref/alerts.jsonl") notifications)" \
  sh -c '[ -n "$1" ] && [ "$1" = "$2" ]' _ "$(fp "$TMP/ref/alerts.jsonl")" "$(fp "$TMP/full/alerts.jsonl" 2>/dev/null)"

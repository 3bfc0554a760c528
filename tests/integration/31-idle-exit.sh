# `analyze --exit-when-idle` does not end while records are known to wait: neither while its
# checkpoints fail (consumption paused, more records published meanwhile) nor while the broker
# stands still with a backlog the analyzer learnt at assignment; each run then applies every
# record and says why it went on and what it consumed.
. "$top_srcdir/tests/integration/lib.sh"
plan 10

start_broker_proc --topic inv:1 --topic ev:2 --topic st:2 --topic dlq:1

# events TOPIC PARTITION FIRST COUNT [KCAT ARGS...]: failed allocations a second apart, ids
# FIRST .. FIRST+COUNT-1, to partition PARTITION
events() {
  _t=$1 _p=$2 _f=$3 _n=$4; shift 4
  awk -v p="$_p" -v f="$_f" -v n="$_n" 'BEGIN {
    for (i = f; i < f + n; i++) {
      t = sprintf("2025-02-01T%02d:%02d:%02d", int(i / 3600), int(i / 60) % 60, i % 60)
      printf "111111111111/eu-central-1\t{\"v\":1,\"type\":\"event\",\"scope\":\"ipam-scope-0a\",\"ts\":\"%s.500Z\",\"source\":\"collector/test\",\"event_id\":\"idle-%d-%d\",\"time\":\"%s.000Z\",\"account\":\"111111111111\",\"region\":\"eu-central-1\",\"pool_id\":\"ipam-pool-0a\",\"parsed\":true,\"name\":\"AllocateIpamPoolCidr\",\"netmask_length\":8,\"error_code\":\"InvalidParameterValue\",\"error_message\":\"The allocation size is too big for the pool.\"}\n", t, p, i, t
    }
  }' | "$KCAT" -P -b "$B" -t "$_t" -p "$_p" -K '	' "$@"
}
# stopped NAME N: the run logged N messages consumed and N applied at its end
stopped() { grep -q "stopped: $2 messages, $2 applied, 0 skipped, 0 dead letters" "$TMP/$1.err"; }

# --- 1-6: checkpoints fail while more records arrive ------------------------------------------
# A directory where checkpoint.json's temporary file goes makes every checkpoint fail: the
# analyzer pauses consumption and retries each second. Records published meanwhile are not
# fetched; idle 1 s passes several times before the checkpoint works again.
events ev 0 0 300
events ev 1 0 300
base_conf "$TMP/ck.conf" idle-ck "$TMP/ck" topics.events=ev
mkdir -p "$TMP/ck/state/checkpoint.json.tmp"
start_analyzer ck "$TMP/ck.conf" --exit-when-idle 1s
CK=$AN
wait_log 30 "$TMP/ck.err" "consumption paused until a checkpoint succeeds" ||
  diag "no pause logged: $(tail -3 "$TMP/ck.err")"
events ev 0 300 200
events ev 1 300 200
sleep 3
check "3 s (idle 1 s) after its checkpoint failed the analyzer still runs" kill -0 "$CK"
check "... and said once why it goes on" \
  sh -c '[ "$(grep -c "idle for [0-9]* ms, but the last checkpoint failed: going on" "$1")" = 1 ]' _ "$TMP/ck.err"
rmdir "$TMP/ck/state/checkpoint.json.tmp"
wait "$CK"
check_status 0 "once a checkpoint works it goes on and exits 0" sh -c 'exit $1' _ $?
check "it consumed and applied the 1000 records, 400 of them published while it was paused" \
  stopped ck 1000
check "the group committed all 1000" all_committed "idle-ck-$$" ev
check "the journal holds the 1000 records" sh -c '[ "$("$1" dump "$2" | wc -l)" = 1000 ]' _ "$JT" "$TMP/ck/journal"

# --- 7-10: the broker stands still with a known backlog ----------------------------------------
# One message per message set: the development broker hands out one set per partition and
# fetch, so the backlog takes many fetches. Once the analyzer learnt at assignment where both
# partitions end, the broker process is stopped for 3 s (idle 1 s): nothing arrives, and the
# watermarks say what is missing. No checkpoint is due meanwhile (its commit would wait for
# the broker, a stall that is not idle time either).
N=3000
events st 0 0 $N -X batch.num.messages=1 -X linger.ms=0
events st 1 0 $N -X batch.num.messages=1 -X linger.ms=0
base_conf "$TMP/st.conf" idle-st "$TMP/st" topics.events=st log.level=debug
start_analyzer st "$TMP/st.conf" --exit-when-idle 1s --commit-records 100000 --commit-interval 60s
ST=$AN
i=0
until [ "$(grep -c "st \[[01]\] starts at offset 0, ends at $N" "$TMP/st.err")" = 2 ] || [ $i -ge 1500 ]; do
  sleep 0.02; i=$((i + 1))
done
kill -STOP "$BROKER_PID"
sleep 3
check "3 s into the broker's stall (idle 1 s) the analyzer still runs" kill -0 "$ST"
kill -CONT "$BROKER_PID"
grep -E "idle for [0-9]+ ms, but" "$TMP/st.err" | sed 's/^/# /'
check "... and said why it goes on: records known to wait on the brokers or held by the merge for them" \
  grep -Eq "idle for [0-9]+ ms, but ([0-9]+ messages are known to wait on the brokers|[0-9]+ records wait in the event-time merge)" "$TMP/st.err"
wait "$ST"
check_status 0 "after the stall it exits 0" sh -c 'exit $1' _ $?
check "it consumed and applied all $((2 * N)) records and logged what it consumed" \
  sh -c 'stopped() { grep -q "stopped: $2 messages, $2 applied, 0 skipped, 0 dead letters" "$1"; }
         grep -q "nothing waiting (3 assigned partitions consumed to their high watermarks" "$1" &&
         grep -q "consumed $2 messages: $2 applied" "$1" && stopped "$1" "$2"' _ "$TMP/st.err" $((2 * N))

# The development broker as its own process, with kcat, kafka-python and kafka_tool as
# clients: records come back byte for byte, keys stay on one partition, -X properties
# reach librdkafka, an outage stalls a producer that then recovers with nothing lost or
# duplicated, SIGTERM exits 0.
. "$top_srcdir/tests/integration/lib.sh"
plan 24

KAFKA_TOOL="$top_builddir/tests/tools/kafka_tool"
RECORDS="$top_srcdir/tests/integration/kafka_records.py"
# The dev broker holds an empty fetch for fetch.wait.max.ms and delays group re-joins by
# session.timeout.ms: small values for every librdkafka consumer (toolchain facts G5/G6).
CONSUMER_X="-X fetch.wait.max.ms=5 -X session.timeout.ms=6000"
N=3000

# --- command line ------------------------------------------------------------------------
check "broker --help names the 5 MiB retention limit" \
  sh -c '"$IPAMWATCH" broker --help | grep -q "5 MiB"'
check "broker --help says data is lost on exit and is not for production" \
  sh -c '"$IPAMWATCH" broker --help | grep -q "lost on exit" &&
         "$IPAMWATCH" broker --help | grep -q "NOT for production"'
check_status 2 "broker with an unknown option exits 2" \
  sh -c '"$IPAMWATCH" broker --frobnicate 2>/dev/null'
check "broker with a bad topic count prints usage on stderr" \
  sh -c '"$IPAMWATCH" broker --topic x:0 2>&1 >/dev/null | grep -q "^usage: ipamwatch broker"'

# --- start -------------------------------------------------------------------------------
bg "$IPAMWATCH" broker --topic records:6 --topic outage:3 --bootstrap-file "$TMP/bootstrap" \
  >"$TMP/broker.out" 2>"$TMP/broker.err"
BROKER=$BG_PID
if wait_for_file "$TMP/bootstrap" 10; then pass "bootstrap file written"; else fail "bootstrap file written"; fi
B=$(cat "$TMP/bootstrap" 2>/dev/null)
check "bootstrap list is the first stdout line and matches the file" \
  sh -c '[ -n "$1" ] && [ "$(head -n 1 "$2")" = "$1" ] && echo "$1" | grep -Eq "^127\.0\.0\.1:[0-9]+$"' \
  _ "$B" "$TMP/broker.out"

# --- kcat in, kafka-python and kafka_tool out ---------------------------------------------
"$PYTHON3" "$RECORDS" gen $N >"$TMP/records.in"
check "kcat produces $N keyed JSON records" \
  sh -c '"$KCAT" -P -b "$1" -t records -K "	" -X enable.idempotence=true <"$2"' _ "$B" "$TMP/records.in"

check "kafka-python reads $N records in a consumer group" \
  sh -c '"$PYTHON3" "$1" consume "$2" records "$3" "$4" 30 >"$5"' \
  _ "$RECORDS" "$B" "py-$$" $N "$TMP/records.py"
check "kafka-python: every record byte for byte, one partition per key, key order kept" \
  "$PYTHON3" "$RECORDS" verify "$TMP/records.in" "$TMP/records.py"

check "kafka_tool consume reads $N records in another group" \
  sh -c '"$1" consume -b "$2" -t records -g "$3" -n "$4" --timeout 30 $5 >"$6"' \
  _ "$KAFKA_TOOL" "$B" "tool-$$" $N "$CONSUMER_X" "$TMP/records.tool"
check "kafka_tool: every record byte for byte, one partition per key, key order kept" \
  "$PYTHON3" "$RECORDS" verify "$TMP/records.in" "$TMP/records.tool"
check "both groups saw the same partition and offset for every record" \
  sh -c 'sort "$1" >"$1.s"; sort "$2" >"$2.s"; cmp -s "$1.s" "$2.s"' _ "$TMP/records.py" "$TMP/records.tool"
# shellcheck disable=SC2086
check "kafka_tool's group committed its offsets: a restart reads only a new record" \
  sh -c 'printf "late-key\tlate-value\n" | "$KCAT" -P -b "$2" -t records -K "	" &&
         "$1" consume -b "$2" -t records -g "$5" -n 1 --timeout 30 $3 >"$4" &&
         [ "$(cut -f 3- "$4")" = "late-key	late-value" ]' \
  _ "$KAFKA_TOOL" "$B" "$CONSUMER_X" "$TMP/records.again" "tool-$$"

# --- kafka_tool in, kcat out --------------------------------------------------------------
"$PYTHON3" "$RECORDS" gen 500 | sed 's/ipam-scope/tool-scope/' >"$TMP/tool.in"
check "kafka_tool produces 500 records, all delivery reports positive" \
  "$KAFKA_TOOL" produce -b "$B" -t from-tool -X linger.ms=2 <"$TMP/tool.in"
check "kcat reads them back byte for byte" \
  sh -c '"$KCAT" -C -b "$1" -t from-tool -e -q -X fetch.wait.max.ms=5 -f "%p\t%o\t%k\t%s\n" >"$2" &&
         "$PYTHON3" "$3" verify "$4" "$2"' _ "$B" "$TMP/tool.kcat" "$RECORDS" "$TMP/tool.in"

# --- -X passes through verbatim -----------------------------------------------------------
"$KAFKA_TOOL" produce -b "$B" -t x -X no.such.property=1 </dev/null 2>"$TMP/badx.err"
st=$?
check "an unknown -X property fails (exit 2) with librdkafka's text" \
  sh -c '[ "$1" -eq 2 ] && grep -q "^kafka_tool: -X no.such.property: No such configuration property" "$2"' \
  _ $st "$TMP/badx.err"
"$KAFKA_TOOL" consume -b "$B" -t x -g g -n 1 -X fetch.wait.max.ms=soon 2>"$TMP/badv.err"
st=$?
check "an invalid -X value fails (exit 2) with librdkafka's text" \
  sh -c '[ "$1" -eq 2 ] && grep -q "^kafka_tool: -X fetch.wait.max.ms: Invalid value for configuration property" "$2"' \
  _ $st "$TMP/badv.err"

# --- outage: SIGUSR1 takes the brokers down, SIGUSR2 brings them back on the same port ----
"$PYTHON3" "$RECORDS" gen 1000 | sed 's/ipam-scope/outage-scope/' >"$TMP/outage.in"
head -n 500 "$TMP/outage.in" >"$TMP/outage.1"
tail -n 500 "$TMP/outage.in" >"$TMP/outage.2"
mkfifo "$TMP/outage.fifo"
# Read-write open does not wait for a reader; the producer must not inherit the write end.
# Not through bg(): an asynchronous command's stdin is /dev/null unless redirected on it.
exec 3<>"$TMP/outage.fifo"
"$KAFKA_TOOL" produce -b "$B" -t outage -X reconnect.backoff.max.ms=500 \
  <"$TMP/outage.fifo" 2>"$TMP/outage.err" 3>&- &
PRODUCER=$!
CLEANUP_PIDS="$CLEANUP_PIDS $PRODUCER"
cat "$TMP/outage.1" >&3
sleep 1
kill -USR1 "$BROKER"
sleep 0.5
cat "$TMP/outage.2" >&3
exec 3>&-
sleep 3
check "while the brokers are down the producer waits for its delivery reports" kill -0 "$PRODUCER"
check "the broker logged the outage" grep -q "brokers down" "$TMP/broker.err"
check "a new connection is refused while down" \
  sh -c '! "$KCAT" -L -b "$1" -m 2 -X reconnect.backoff.max.ms=100 >/dev/null 2>&1' _ "$B"
kill -USR2 "$BROKER"
wait "$PRODUCER"
check_status 0 "after the brokers come back the producer delivers everything and exits 0" \
  sh -c 'exit $1' _ $?
check "the outage lost and duplicated nothing, key order kept" \
  sh -c '"$KCAT" -C -b "$1" -t outage -e -q -X fetch.wait.max.ms=5 -f "%p\t%o\t%k\t%s\n" >"$2" &&
         "$PYTHON3" "$3" verify "$4" "$2"' _ "$B" "$TMP/outage.kcat" "$RECORDS" "$TMP/outage.in"

# --- stop ---------------------------------------------------------------------------------
kill -TERM "$BROKER"
wait "$BROKER"
check_status 0 "broker exits 0 on SIGTERM" sh -c 'exit $1' _ $?
check "the bootstrap file is removed on exit" test ! -e "$TMP/bootstrap"
CLEANUP_PIDS=""

#!/bin/sh
# RRD files on a shared host: the analyzer writes through a real rrdcached over TCP
# ([rrd] daemon = 127.0.0.1:PORT, rrdcached -b BASE -B -R) and never touches its local
# [rrd] dir. The files appear under rrdcached's base directory with the same history as a
# direct-mode run of the same stream (fetched through the daemon after FLUSHALL); a second
# analyzer in another group over the same stream finds the files through the daemon and
# writes nothing twice; graph, forecast and report read through the daemon.
. "$top_srcdir/tests/integration/lib.sh"
plan 15
DATA="$top_srcdir/tests/data/aws/org-small"
CHECK="$top_srcdir/tests/integration/analyze_check.py"
KNOWN_POOL=ipam-pool-051431193e6c3f339

start_broker_proc --topic inv:2 --topic ev:2 --topic dlq:1 --topic stream:1

# rrdcached on a free TCP port of 127.0.0.1 with its own base directory (writes held an
# hour: only FLUSH and FLUSHALL put samples in the files).
mkdir -p "$TMP/base" "$TMP/rrdj"
PORT=$(free_port)
bg rrdcached -g -l "127.0.0.1:$PORT" -b "$TMP/base" -B -R -F -w 3600 -f 7200 \
  -j "$TMP/rrdj" -p "$TMP/rrdcached.pid" -o "$TMP/rrdcached.log" </dev/null >/dev/null 2>&1
# rrdc CMD...: sends each command line to the daemon, prints the replies.
rrdc() {
  "$PYTHON3" - "$PORT" "$@" <<'EOF'
import socket, sys
s = socket.create_connection(("127.0.0.1", int(sys.argv[1])), timeout=30)
f = s.makefile("rwb")
for cmd in sys.argv[2:]:
    f.write((cmd + "\n").encode()); f.flush()
    line = f.readline().decode()
    sys.stdout.write(line)
    n = int(line.split()[0])
    for _ in range(max(n, 0)):
        sys.stdout.write(f.readline().decode())
EOF
}
pong() { rrdc PING | grep -q PONG; }
poll 5 pong >/dev/null 2>&1 || bail "rrdcached did not start"

# conf NAME GROUP [DAEMON]: $TMP/NAME.conf over the stream topic; an RRD dir of its own.
conf() {
  mkdir -p "$TMP/$1/rrd"
  base_conf "$TMP/$1.conf" "$2" "$TMP/$1" topics.inventory=stream topics.events=stream "${3:+rrd.daemon=$3}"
}
analyze() { n=$1; shift; "$IPAMWATCH" analyze -c "$TMP/$n.conf" "$@" >"$TMP/$n.out" 2>>"$TMP/$n.err"; }
empty_dir() { [ -d "$1" ] && [ -z "$(find "$1" -mindepth 1 | head -1)" ]; }

# --- a stream of 4 passes a day apart (with events between), as in 10-analyze.sh -----------
base_conf "$TMP/col.conf" col "$TMP/col"
"$IPAMWATCH" collect -c "$TMP/col.conf" --once --from-files "$DATA" 2>"$TMP/collect.err" ||
  bail "collect failed: $(tail -3 "$TMP/collect.err")"
"$KCAT" -C -b "$B" -t inv -e -q -X fetch.wait.max.ms=5 -f '%k\t%s\n' >"$TMP/pass.in"
read -r NREC NEV <<EOF
$("$PYTHON3" "$CHECK" stream "$TMP/pass.in" "$TMP/stream.in" 4 1)
EOF
"$KCAT" -P -b "$B" -t stream -K '	' -l "$TMP/stream.in" ||
  bail "kcat could not produce the stream"
diag "stream of $NREC records ($NEV events)"

# --- 1-5: the reference (direct) and the TCP analyzer consume the same stream -------------
conf ref ref
conf tcp tcp "127.0.0.1:$PORT"
analyze ref --exit-when-idle 2s &
REF=$!
check_status 0 "analyze with [rrd] daemon = 127.0.0.1:PORT consumes the stream and exits 0" \
  analyze tcp --exit-when-idle 2s
wait $REF
check_status 0 "the direct-mode reference run exits 0" sh -c 'exit $1' _ $?
check "the TCP analyzer's local [rrd] dir stays empty" empty_dir "$TMP/tcp/rrd"
rrdc FLUSHALL >/dev/null
# FLUSHALL returns at once: wait until the daemon's queue is empty.
i=0
while ! rrdc STATS | grep -q '^QueueLength: 0$' && [ $i -lt 100 ]; do sleep 0.1; i=$((i + 1)); done
check "an RRD file for every pool, scope, VPC and subnet under rrdcached's base directory" \
  "$PYTHON3" "$CHECK" objects "$DATA" "$TMP/base"
"$PYTHON3" "$CHECK" lastvalues "$TMP/ref/rrd" >"$TMP/ref.last"
"$PYTHON3" "$CHECK" lastvalues "$TMP/base" >"$TMP/tcp.last"
check "every file's last update equals the direct run's" \
  sh -c '[ -s "$1" ] && cmp -s "$1" "$2"' _ "$TMP/ref.last" "$TMP/tcp.last"

# --- 6-7: the history read through the daemon ------------------------------------------------
# (rrdcached's FETCH reads the finest archive covering the range: no -r on either side.)
LAST=$(rrdtool last "$TMP/ref/rrd/pool/$KNOWN_POOL.rrd")
rrdtool fetch --daemon "127.0.0.1:$PORT" "pool/$KNOWN_POOL.rrd" AVERAGE \
  -s $((LAST - 5 * 86400)) -e "$LAST" >"$TMP/tcp.fetch" 2>"$TMP/tcp.fetch.err"
rrdtool fetch "$TMP/ref/rrd/pool/$KNOWN_POOL.rrd" AVERAGE \
  -s $((LAST - 5 * 86400)) -e "$LAST" >"$TMP/ref.fetch"
check "rrdtool fetch through the daemon returns three days of known values of $KNOWN_POOL" \
  sh -c '[ "$(grep -c "^ *[0-9]*: [0-9]" "$1")" -ge $((3 * 1440)) ]' _ "$TMP/tcp.fetch"
check "... equal to the direct run's file over the whole stream" cmp -s "$TMP/ref.fetch" "$TMP/tcp.fetch"

# --- 8-10: another analyzer over the same files and stream writes nothing twice -------------
conf tcp2 tcp2 "127.0.0.1:$PORT"
U1=$(rrdc STATS | sed -n 's/^UpdatesReceived: //p')
check_status 0 "a second TCP analyzer in another group consumes the same stream" \
  analyze tcp2 --exit-when-idle 2s
U2=$(rrdc STATS | sed -n 's/^UpdatesReceived: //p')
check "... finds every file through the daemon: no update sent ($U1 before, $U2 after), none rejected" \
  sh -c '[ -n "$1" ] && [ "$1" = "$2" ] && ! grep -qi "error\|illegal" "$3"' _ "$U1" "$U2" "$TMP/tcp2.err"
"$PYTHON3" "$CHECK" lastvalues "$TMP/base" >"$TMP/tcp2.last"
check "... and every file's last update is unchanged" cmp -s "$TMP/tcp.last" "$TMP/tcp2.last"

# --- 11-16: graph, forecast and report read through the daemon --------------------------------
END=$(date -u -d "@$LAST" +%Y-%m-%dT%H:%M:%SZ)
graph() { "$IPAMWATCH" graph -c "$TMP/$1.conf" --pool "$KNOWN_POOL" --span 1w --end "$END" \
  --forecast -o "$TMP/$1.png" >"$TMP/$1.g.out" 2>"$TMP/$1.g.err"; }
check_status 0 "graph --forecast of $KNOWN_POOL through the daemon" graph tcp
graph ref
check "... draws the utilization, the same picture as from the direct run's file" \
  sh -c '"$1" "$2" png "$3" 800 300 7FB3E6 >/dev/null && cmp -s "$3" "$4"' \
  _ "$PYTHON3" "$top_srcdir/tests/integration/graph_forecast.py" "$TMP/tcp.png" "$TMP/ref.png"
"$IPAMWATCH" graph -c "$TMP/tcp.conf" --pool ipam-pool-nope -o "$TMP/nope.png" 2>"$TMP/nope.err"
st=$?
check "graph of an unknown pool: exit 1 naming the file and the daemon" \
  sh -c "[ $st -eq 1 ] && grep -q 'pool/ipam-pool-nope.rrd not found via rrdcached at 127.0.0.1:$PORT' '$TMP/nope.err'"
"$IPAMWATCH" forecast -c "$TMP/tcp.conf" --format json >"$TMP/tcp.fc" 2>"$TMP/tcp.fc.err"
st=$?
"$IPAMWATCH" forecast -c "$TMP/ref.conf" --format json >"$TMP/ref.fc" 2>/dev/null
# Daily points: rrdcached returns finer rows, consolidated by the store to days.
check "forecast through the daemon: every pool with the direct run's figures and dates" \
  "$PYTHON3" -c '
import json, sys
t, r = (json.load(open(p))["pools"] for p in sys.argv[2:4])
sys.exit(0 if sys.argv[1] == "0" and t == r and len(t) > 0 else 1)' \
  "$st" "$TMP/tcp.fc" "$TMP/ref.fc"
DAY0=$(date -u -d "@$((LAST - 5 * 86400))" +%Y-%m-%d)
DAY1=$(date -u -d "@$((LAST + 86400))" +%Y-%m-%d)
"$IPAMWATCH" report -c "$TMP/tcp.conf" --from "$DAY0" --to "$DAY1" --format json \
  -o "$TMP/tcp.report" 2>"$TMP/tcp.report.err"
st=$?
"$IPAMWATCH" report -c "$TMP/ref.conf" --from "$DAY0" --to "$DAY1" --format json \
  -o "$TMP/ref.report" 2>/dev/null
check "report through the daemon has the direct run's pool utilization; local dirs stay empty" \
  "$PYTHON3" -c '
import json, os, sys
t, r = (json.load(open(p)) for p in sys.argv[2:4])
u = lambda d: d["utilization"]
ok = sys.argv[1] == "0" and len(u(t)) > 0 and u(t) == u(r)
ok = ok and not os.listdir(sys.argv[4]) and not os.listdir(sys.argv[5])
sys.exit(0 if ok else 1)' "$st" "$TMP/tcp.report" "$TMP/ref.report" "$TMP/tcp/rrd" "$TMP/tcp2/rrd"

#!/bin/sh
# Scale-out: two analyzers in one consumer group with [analyzer] partition_state share four
# scopes on two inventory partitions while passes keep arriving; utilization alerts fire on
# both, to a webhook and to a real Alertmanager. One is killed with SIGKILL, later restarted
# (taking a partition back from the live other one), then the other stops gracefully: each
# time the partitions move with their state (model and alerts) through the state topic. No
# alert is paged twice; the alerts resolve after the moves and stay resolved in
# Alertmanager although the analyzer that lost a partition re-posts its firing alerts every
# second (it disowns the moved ones); the moved scopes' RRD files have no unknown value
# after the first takeover, every pass is journaled exactly once over the two analyzers'
# journals, and `report --journal A --journal B` verifies and reads both.
. "$top_srcdir/tests/integration/lib.sh"
. "$top_srcdir/tests/integration/alertmanager.sh"
plan 16
S="$top_srcdir/tests/integration/scaleout.py"
so() { "$PYTHON3" "$S" "$@"; }

start_broker_proc --topic inv:2 --topic ev:2 --topic dlq:1 --topic st:1
start_receiver r
am_start "http://127.0.0.1:$RP/alertmanager" || bail "Alertmanager did not start"
am_check() { am_alerts "$TMP/am.json" && so am "$TMP/am.json" "$1"; }
for n in a b; do
  base_conf "$TMP/$n.conf" scaleout "$TMP" topics.state=st analyzer.state_dir="$TMP/state-$n" \
    analyzer.partition_state=yes rrd.step=1s journal.dir="$TMP/journal-$n"
  cat >>"$TMP/$n.conf" <<CONF
[rule "pool_high"]
type = utilization
object = pool
warn_trigger = 50
warn_reset = 40
crit_trigger = 99
crit_reset = 98
for = 0s
[sink "hook"]
type = webhook
url = http://127.0.0.1:$RP/webhook
[sink "am"]
type = alertmanager
url = $AMURL
repost_interval = 1s
CONF
done

# Passes of the four scopes every second: scopes 0 and 2 on partition 0, 1 and 3 on 1.
echo high >"$TMP/level"
produce() {
  while [ ! -e "$TMP/stop" ]; do
    l=$(cat "$TMP/level")
    for p in 0 1; do
      { so pass $p "$l"; so pass $((p + 2)) "$l"; } 2>>"$TMP/passes" |
        "$KCAT" -P -b "$B" -t inv -p $p -K '	' 2>>"$TMP/kcat.err"
    done
    sleep 1
  done
}
bg produce
# analyze NAME [LOG]: analyzer NAME, logging to LOG.err (default NAME.err)
analyze() { bg "$IPAMWATCH" analyze -c "$TMP/$1.conf" >>"$TMP/${2:-$1}.out" 2>>"$TMP/${2:-$1}.err"; }
analyze a; PA=$BG_PID
analyze b; PB=$BG_PID
fired4='len([x for x in n if x[1]=="firing"])==4 and len(set(x[0] for x in n))==4'
resolved4='len([x for x in n if x[1]=="resolved"])==4 and len(set(x[0] for x in n if x[1]=="resolved"))==4 and len([x for x in n if x[1]=="firing"])==4'
check "both analyzers split the partitions; the four pools fire, once each" \
  sh -c 'i=0; while [ $i -lt 300 ]; do "$1" "$2" notes "$3" "$4" 2>/dev/null && exit 0; sleep 0.2; i=$((i+1)); done; "$1" "$2" notes "$3" "$4"' \
  _ "$PYTHON3" "$S" "$TMP/r.log" "$fired4"
check "... and Alertmanager lists the four active" poll 20 am_check \
  'len(set(p for p, s in a if s == "active")) == 4'
check "each analyzer owns one inventory partition and checkpoints" poll 20 sh -c \
  'grep -q "adopted the state of inv\|group scaleout" "$1" && grep -q "group scaleout" "$2" && [ -s "$3"/checkpoint.json ] && [ -s "$4"/checkpoint.json ]' \
  _ "$TMP/a.err" "$TMP/b.err" "$TMP/state-a" "$TMP/state-b"
sleep 2
T0=$(date +%s)
kill -9 "$PA"; wait "$PA" 2>/dev/null
check "after SIGKILL of one analyzer the other adopts its partition's state" sh -c \
  'i=0; while [ $i -lt 300 ]; do [ "$(grep -c "adopted the state of inv" "$1")" -ge 2 ] && exit 0; sleep 0.1; i=$((i+1)); done; exit 1' _ "$TMP/b.err"
sleep 4
check "no duplicate page after the takeover" so notes "$TMP/r.log" "$fired4"
analyze a a2; PA=$BG_PID
check "the restarted analyzer takes a partition back from the live one with its state" sh -c \
  'i=0; while [ $i -lt 300 ]; do grep -q "adopted the state of inv" "$1" && exit 0; sleep 0.1; i=$((i+1)); done; exit 1' _ "$TMP/a2.err"
sleep 3
echo low >"$TMP/level"
check "the four alerts resolve after the moves, once each" sh -c \
  'i=0; while [ $i -lt 200 ]; do "$1" "$2" notes "$3" "$4" 2>/dev/null && exit 0; sleep 0.1; i=$((i+1)); done; "$1" "$2" notes "$3" "$4"' \
  _ "$PYTHON3" "$S" "$TMP/r.log" "$resolved4"
poll 10 am_check 'len(a) == 0' >/dev/null 2>&1
sleep 4
check "... and stay resolved in Alertmanager while both analyzers run" am_check 'len(a) == 0'
kill -TERM "$PB"; wait "$PB"; rc=$?
check "the other stops gracefully (exit $rc)" [ "$rc" -eq 0 ]
check "the restarted one adopts both partitions" sh -c \
  'i=0; while [ $i -lt 300 ]; do [ "$(grep -c "adopted the state of inv" "$1")" -ge 3 ] && exit 0; sleep 0.1; i=$((i+1)); done; exit 1' _ "$TMP/a2.err"
sleep 3
check "no page and no resolve twice after three moves" so notes "$TMP/r.log" "$resolved4"
check "... and Alertmanager lists none of them" am_check 'len(a) == 0'
touch "$TMP/stop"
sleep 2
T1=$(( $(date +%s) - 2 ))
kill -TERM "$PA"; wait "$PA"
check "the last analyzer stops gracefully" [ $? -eq 0 ]
nan=0
for n in 0 1 2 3; do
  set -- $(so scope $n)
  f="$TMP/rrd/pool/$2.rrd"
  rrdtool fetch "$f" AVERAGE -r 1 -s "$T0" -e "$T1" >"$TMP/fetch.$n" 2>&1 || nan=$((nan + 1000))
  c=$(grep -c -i 'nan' "$TMP/fetch.$n")
  nan=$((nan + c))
done
check "the pools' RRD files have no unknown value from the kill to the end ($nan)" [ "$nan" -eq 0 ]
check "every pass is journaled exactly once over both journals" so journal "$TMP/passes" \
  "$TMP/journal-a" "$TMP/journal-b"
"$IPAMWATCH" report -c "$TMP/a.conf" --journal "$TMP/journal-a" --journal "$TMP/journal-b" \
  --from "$(date -u -d yesterday +%F)" --to "$(date -u -d tomorrow +%F)" -o "$TMP/report.json" \
  2>"$TMP/report.err"
check "report reads both journals as one, each chain verified" sh -c \
  'grep -q "journal $2: [0-9]* records verified.*; journal $3: [0-9]* records verified" "$1/report.err" &&
   "$4" -c "import json,sys; i=json.load(open(sys.argv[1]))[\"integrity\"]; sys.exit(not (i[\"ok\"] and len(i[\"journals\"])==2 and i[\"records\"]==sum(j[\"records\"] for j in i[\"journals\"])>0))" "$1/report.json"' \
  _ "$TMP" "$TMP/journal-a" "$TMP/journal-b" "$PYTHON3"

# analyzer_rig.sh: the persistent-broker variant of analyzer_bench.sh, for alternating runs of
# two analyzer builds against one loaded topic (the figures of bench/RESULTS.md name it).
# Usage: sh analyzer_rig.sh start IPAMWATCH MODEL_BENCH RECORDS_TSV
#          frames RECORDS_TSV (render_records output) into 160 partitions, starts a development
#          broker with IPAMWATCH and loads the topic with kcat
#        sh analyzer_rig.sh run IPAMWATCH [sched|perf]
#          kcat's raw consume of the topic, then `analyze --exit-when-idle 2s` in a fresh group
#          (journal fsync on, 300 s step); prints kcat's ms, analyze's ms from its partition
#          assignment (the 2 s idle taken off), user/sys CPU, peak RSS and minor faults;
#          `sched` records `perf sched`, `perf` a profile (options in $PERFOPT) into the rig dir
#        sh analyzer_rig.sh kcatg
#          kcat's raw consume, then kcat in a fresh consumer group (librdkafka's high-level
#          consumer, as analyze uses it, doing nothing with the records): ms from its
#          partition assignment to its exit
#        sh analyzer_rig.sh stop
# $RIG is the rig's directory (default /tmp/ipamwatch-rig); $EXTRA adds SECTION.KEY=VALUE
# settings to the analyzer's configuration (tests/integration/base_conf.sh).
set -eu
R=${RIG:-/tmp/ipamwatch-rig}
here=$(cd "$(dirname "$0")" && pwd)
mkdir -p "$R"
case $1 in
start)
  "$3" --frame 160 1000 "$4" >"$R/framed.tsv"
  "$2" broker --topic inv:160 --topic ev:1 --topic dlq:1 --bootstrap-file "$R/bootstrap" \
    >/dev/null 2>"$R/broker.err" &
  echo $! >"$R/broker.pid"
  i=0
  while [ ! -s "$R/bootstrap" ] && [ $i -lt 50 ]; do sleep 0.1; i=$((i + 1)); done
  B=$(cat "$R/bootstrap")
  kcat -P -b "$B" -t inv -K '	' -X enable.idempotence=true <"$R/framed.tsv"
  echo "started $B" ;;
run)
  B=$(cat "$R/bootstrap")
  d=$R/run-$(date +%s%N)
  mkdir -p "$d"
  . "$here/../tests/integration/base_conf.sh"
  # shellcheck disable=SC2086
  base_conf "$d/a.conf" rig "$d" rrd.step=300s journal.fsync=yes ${EXTRA:-}
  t0=$(date +%s%3N)
  k=$(kcat -C -b "$B" -t inv -e -q -X fetch.wait.max.ms=5 -f 'x\n' | wc -l)
  t1=$(date +%s%3N)
  echo "kcat $k $((t1 - t0)) ms load $(cut -d' ' -f1 /proc/loadavg)"
  case ${3:-} in
  sched) set -- perf sched record -o "$R/sched.data" -- "$2" ;;
  perf)
    # shellcheck disable=SC2086
    set -- perf record ${PERFOPT:--g} -o "$R/perf.data" -- "$2" ;;
  *) set -- /usr/bin/time -f '%U/%S/%MkB/%Rminflt' "$2" ;;
  esac
  t0=$(date +%s%3N)
  "$@" analyze -c "$d/a.conf" --exit-when-idle 2s >"$d/a.out" 2>"$d/a.err" || true
  t1=$(date +%s%3N)
  at=$(sed -n 's/^\([0-9T:.-]*Z\) .*partitions assigned.*/\1/p' "$d/a.err" | head -1)
  atms=$(date -d "$at" +%s%3N)
  echo "analyze total $((t1 - t0 - 2000)) ms, from assign $((t1 - atms - 2000)) ms;" \
    "$(grep -o 'stopped:.*' "$d/a.err") $(tail -1 "$d/a.err")"
  [ -n "${KEEP:-}" ] || rm -rf "$d" ;;
kcatg)
  B=$(cat "$R/bootstrap")
  t0=$(date +%s%3N)
  k=$(kcat -C -b "$B" -t inv -e -q -X fetch.wait.max.ms=5 -f 'x\n' | wc -l)
  t1=$(date +%s%3N)
  echo "kcat $k $((t1 - t0)) ms load $(cut -d' ' -f1 /proc/loadavg)"
  # stderr lines (the group's "assigned" notice) get the time they were read.
  k=$({ kcat -G "rig-$(date +%s%N)" -b "$B" -X auto.offset.reset=earliest \
    -X fetch.wait.max.ms=5 -e -f 'x\n' inv 2>&1 >&3 |
    while IFS= read -r l; do echo "$(date +%s%3N) $l"; done >"$R/kcatg.err"; } 3>&1 | wc -l)
  t1=$(date +%s%3N)
  at=$(grep -m1 'assigned' "$R/kcatg.err" | cut -d' ' -f1)
  echo "kcat -G $k from assign $((t1 - at)) ms" ;;
stop) kill "$(cat "$R/broker.pid")" ;;
*) echo "usage: analyzer_rig.sh start IPAMWATCH MODEL_BENCH RECORDS_TSV | run IPAMWATCH [sched|perf] | kcatg | stop" >&2; exit 2 ;;
esac

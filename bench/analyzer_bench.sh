# analyzer_bench.sh: the model (apply rate, peak RSS per tracked CIDR) and `ipamwatch analyze`
# against kcat's raw consume of the same topic, on N resource-CIDR records.
# Usage: sh analyzer_bench.sh model|analyzer SRCDIR IPAMWATCH RENDER_RECORDS MODEL_BENCH [N]
# The dataset (gen_dataset.py --resource-cidrs N --seed 1, shared with collector_bench.sh)
# and its records rendered by the collector's code are cached under
# ${IPAMWATCH_BENCH_CACHE:-/tmp/ipamwatch-bench-cache}.
#   model:    one complete pass per scope, as collected, applied by bench/model_bench (rates,
#             save/load) and, in separate processes, peak RSS without and with an overlap
#             domain holding every scope.
#   analyzer: the records split into PARTS scopes, one per partition (the development broker
#             keeps at most 5 MiB per partition: toolchain facts G4), every KEEP-th VPC or
#             subnet kept and the others turned into ENI CIDRs (a million RRD files is not a
#             configuration anyone runs; bench-rrd measures RRD at 10k files); produced by kcat,
#             then (a) kcat -C to /dev/null, (b) analyze --exit-when-idle 2s in a fresh group
#             and (c) kcat -G in a fresh group, same broker, same records. The dev broker's
#             first group join takes a fixed 3 s (toolchain facts G6), which (a) does not pay:
#             analyze is timed from its partition assignment (its log line) to its exit, idle
#             wait subtracted (final checkpoint included), and compared with (a); its whole run
#             (join included) is compared with (c), which pays the same join.
set -eu
mode=$1
src=$2
ipamwatch=$3
render=$4
mbench=$5
n=${6:-1000000}
parts=${BENCH_ANALYZER_PARTS:-160}
keep=${BENCH_ANALYZER_KEEP:-1000}
. "$src/bench/lib.sh"
bench_dataset
records="$cache/records-$n.tsv"
if [ ! -s "$records" ]; then
  echo "# rendering the records of $data (cached)"
  "$render" "$data" bench >"$records.tmp" 2>"$tmp/render.err"
  mv "$records.tmp" "$records"
fi
echo "# $(uname -srm), $(nproc) cores, load average: $(cut -d' ' -f1-3 /proc/loadavg)"

if [ "$mode" = model ]; then
  "$mbench" --frame 0 1 "$records" >"$tmp/framed.tsv"
  echo "# model: $(wc -l <"$tmp/framed.tsv") framed records"
  "$mbench" --memory "$tmp/framed.tsv"
  "$mbench" --memory --domain "$tmp/framed.tsv" | sed 's/^mem_/mem_domain_/'
  "$mbench" "$tmp/framed.tsv"
  echo "# load average after: $(cut -d' ' -f1-3 /proc/loadavg)"
  exit 0
fi

"$mbench" --frame "$parts" "$keep" "$records" >"$tmp/framed.tsv"
lines=$(wc -l <"$tmp/framed.tsv")
bytes=$(wc -c <"$tmp/framed.tsv")
objs=$(grep -c '"resource_type":"\(vpc\|subnet\)"' "$tmp/framed.tsv" || true)
echo "# analyzer: $lines records ($bytes bytes) in $parts scopes/partitions, $objs VPC/subnet CIDRs"
"$ipamwatch" broker --topic inv:"$parts" --topic ev:1 --topic dlq:1 \
  --bootstrap-file "$tmp/bootstrap" >/dev/null 2>"$tmp/broker.err" &
pids="$pids $!"
wait_file "$tmp/bootstrap" 10
b=$(cat "$tmp/bootstrap")
t0=$(now_ms)
"$kcat" -P -b "$b" -t inv -K '	' -X enable.idempotence=true <"$tmp/framed.tsv"
t1=$(now_ms)
echo "# produced in $((t1 - t0)) ms"

t0=$(now_ms)
got=$("$kcat" -C -b "$b" -t inv -e -q -X fetch.wait.max.ms=5 -f 'x\n' | wc -l)
t1=$(now_ms)
k_ms=$((t1 - t0))
[ "$got" -eq "$lines" ] || { echo "analyzer_bench.sh: kcat consumed $got of $lines (broker trimmed partitions?)" >&2; exit 1; }

mkdir -p "$tmp/a"
. "$src/tests/integration/base_conf.sh"
B=$b
base_conf "$tmp/a.conf" bench "$tmp/a" rrd.step=300s journal.fsync=yes
t0=$(now_ms)
"$ipamwatch" analyze -c "$tmp/a.conf" --exit-when-idle 2s >"$tmp/a.out" 2>"$tmp/a.err"
t1=$(now_ms)
a_ms=$((t1 - t0 - 2000))
# The log line of the assignment (UTC, milliseconds) marks the end of the group join.
at=$(sed -n 's/^\([0-9T:.-]*Z\) .*partitions assigned.*/\1/p' "$tmp/a.err" | head -1)
[ -n "$at" ] || { echo "analyzer_bench.sh: no assignment logged by analyze" >&2; exit 1; }
as_ms=$((t1 - $(date -u -d "$at" +%s%3N) - 2000))
sed 's/^/#   /' "$tmp/a.err" | tail -5
applied=$(sed -n 's/.* \([0-9]*\) messages, \([0-9]*\) applied.*/\2/p' "$tmp/a.err" | tail -1)
[ "${applied:-0}" -eq "$lines" ] || { echo "analyzer_bench.sh: analyze applied ${applied:-0} of $lines" >&2; exit 1; }
rrds=$(find "$tmp/a/rrd" -name '*.rrd' | wc -l)

# kcat in a consumer group of its own: pays the same first join as analyze.
t0=$(now_ms)
got=$("$kcat" -b "$b" -G "kcat-$$" -X fetch.wait.max.ms=5 -X session.timeout.ms=6000 \
  -X auto.offset.reset=earliest -e -q -f 'x\n' inv | wc -l)
t1=$(now_ms)
g_ms=$((t1 - t0))
[ "$got" -eq "$lines" ] || { echo "analyzer_bench.sh: kcat -G consumed $got of $lines" >&2; exit 1; }
awk -v l="$lines" -v km="$k_ms" -v gm="$g_ms" -v am="$a_ms" -v sm="$as_ms" -v r="$rrds" 'BEGIN {
  kr = l / (km / 1000.0); gr = l / (gm / 1000.0); ar = l / (am / 1000.0); sr = l / (sm / 1000.0);
  printf "kcat consume: %d records in %.2f s: %.0f records/s (no group)\n", l, km / 1000.0, kr;
  printf "analyze:      %d records in %.2f s from its assignment to its exit (idle wait subtracted): %.0f records/s, %d RRD files\n", l, sm / 1000.0, sr, r;
  printf "ratio:        %.1f %% of kcat (target >= 50 %%)\n", 100.0 * sr / kr;
  printf "kcat -G:      %d records in %.2f s, group join included: %.0f records/s\n", l, gm / 1000.0, gr;
  printf "analyze:      %.2f s, group join included: %.0f records/s\n", am / 1000.0, ar;
  printf "ratio joined: %.1f %% of kcat -G\n", 100.0 * ar / gr;
}'
echo "# load average after: $(cut -d' ' -f1-3 /proc/loadavg)"

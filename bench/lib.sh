# lib.sh: the setup collector_bench.sh and analyzer_bench.sh share. Source it (set -eu on)
# after setting src (the source tree) and n (how many resource CIDRs). It sets
#   py, kcat        Debian's Python (PYTHON3) and kcat (KCAT)
#   cache, data     the dataset cache (IPAMWATCH_BENCH_CACHE) and, in it, the folder of the
#                   dataset of n resource CIDRs that bench_dataset makes
#   tmp, pids       a fresh temporary folder, removed at exit after every process listed in
#                   pids is killed and waited for
# and defines now_ms, wait_file and bench_dataset.
bench_name=${0##*/}
py=${PYTHON3:-/usr/bin/python3}
kcat=${KCAT:-kcat}
cache=${IPAMWATCH_BENCH_CACHE:-/tmp/ipamwatch-bench-cache}
data="$cache/org-$n"
tmp=$(mktemp -d "${TMPDIR:-/tmp}/ipamwatch-${bench_name%.sh}.XXXXXX")
pids=""
cleanup() {
  for p in $pids; do kill "$p" 2>/dev/null || true; done
  for p in $pids; do wait "$p" 2>/dev/null || true; done
  rm -rf "$tmp"
}
trap cleanup EXIT INT TERM
# now_ms: prints the time in milliseconds since the epoch
now_ms() { date +%s%3N; }
# wait_file FILE SECONDS: waits until FILE is not empty; ends the script if it stays empty
wait_file() {
  i=0; while [ ! -s "$1" ] && [ $i -lt $(($2 * 10)) ]; do sleep 0.1; i=$((i + 1)); done
  [ -s "$1" ] || { echo "$bench_name: $1 not written" >&2; exit 1; }
}
# bench_dataset: makes $data (gen_dataset.py --resource-cidrs $n --seed 1) unless the cache
# already holds it complete
bench_dataset() {
  [ ! -e "$data/.complete" ] || return 0
  echo "# generating $n resource CIDRs into $data (cached)"
  rm -rf "$data"
  mkdir -p "$cache"
  "$py" "$src/tests/aws/gen_dataset.py" --out "$data" --seed 1 --resource-cidrs "$n" >/dev/null
  touch "$data/.complete"
}

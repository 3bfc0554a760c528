#!/bin/sh
# run-overlap: the overlap engine benchmark and its Python baseline on the same data, with ratios.
# Usage: run-overlap.sh GEN BENCH PYTHON3 BASELINE_PY   (BENCH_CIDRS=N overrides 1000000)
set -eu
gen=$1 bench=$2 py=$3 baseline=$4
n=${BENCH_CIDRS:-1000000}
data=bench/cidrs-$n.txt
mkdir -p bench
"$gen" "$n" 1 >"$data.tmp"
mv "$data.tmp" "$data"

# One core for both sides, when taskset exists.
pin=""
if command -v taskset >/dev/null 2>&1; then pin="taskset -c 0"; fi

cpu=$(grep -m1 'model name' /proc/cpuinfo 2>/dev/null | cut -d: -f2 | sed 's/^ *//')
echo "machine=$(uname -srm), ${cpu:-unknown cpu}, $(nproc) cores"
echo "data=$data ($(wc -l <"$data") lines, gen_cidrs seed 1)"
c=$($pin "$bench" "$data")
m=$($pin "$bench" --memory "$data")
p=$($pin "$py" "$baseline" "$data")
printf '%s\n%s\n%s\n' "$c" "$m" "$p"
printf '%s\n%s\n%s\n' "$c" "$m" "$p" | awk -F= '
    { v[$1] = $2 }
    END {
        if (v["pairs"] != v["py_pairs"]) {
            printf "FAIL: C found %s pairs, Python %s\n", v["pairs"], v["py_pairs"]
            exit 1
        }
        e2e = v["parse_seconds"] + v["build_seconds"] + v["scan_seconds"]
        printf "ratio_end_to_end=%.1f (Python parse+sort+sweep %.3f s / C parse+build+scan %.3f s)\n", v["py_total_seconds"] / e2e, v["py_total_seconds"], e2e
        printf "ratio_scan=%.1f (Python sort+sweep %.3f s / C scan of the built index %.4f s)\n", v["py_scan_seconds"] / v["scan_seconds"], v["py_scan_seconds"], v["scan_seconds"]
        printf "ratio_build_scan=%.1f (Python sort+sweep / C build+scan %.3f s)\n", v["py_scan_seconds"] / v["build_scan_seconds"], v["build_scan_seconds"]
        printf "target scan < 1 s: %s\n", (v["scan_seconds"] < 1 ? "met" : "missed")
        printf "target >= 20x Python (end to end): %s\n", (v["py_total_seconds"] / e2e >= 20 ? "met" : "missed")
        printf "target incremental median <= 10 us: %s\n", (v["insert_median_us"] <= 10 && v["remove_median_us"] <= 10 ? "met" : "missed")
        printf "target <= 200 bytes per CIDR: %s\n", (v["mem_bytes_per_cidr"] <= 200 ? "met" : "missed")
    }'

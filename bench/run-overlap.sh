#!/bin/sh
# run-overlap: the overlap engine benchmark and its Python baseline on the same data, with ratios.
# Usage: run-overlap.sh GEN BENCH PYTHON3 BASELINE_PY
#   BENCH_CIDRS=N  data size (default 1000000)
#   BENCH_RUNS=N   end-to-end comparisons, C and Python alternating (default 5)
#
# The end-to-end comparison does the same work on both sides, each in a process of its own
# pinned to the same core: text in (read and parse every line), all overlapping pairs out
# (C: overlap_scan_array, a radix sort and a stack sweep; Python: ipaddress, sort, stack
# sweep), with the same owner/parent exclusions. Both must find the same number of pairs.
# The ratio is wall-clock time; CPU time is shown beside it because other work on a shared
# machine slows the longer Python run more. The load average before each run is printed.
set -eu
gen=$1 bench=$2 py=$3 baseline=$4
n=${BENCH_CIDRS:-1000000}
runs=${BENCH_RUNS:-5}
data=bench/cidrs-$n.txt
mkdir -p bench
"$gen" "$n" 1 >"$data.tmp"
mv "$data.tmp" "$data"

# One core for both sides, when taskset exists.
pin=""
if command -v taskset >/dev/null 2>&1; then pin="taskset -c 0"; fi
load() { cut -d' ' -f1-3 /proc/loadavg 2>/dev/null || echo unknown; }

cpu=$(grep -m1 'model name' /proc/cpuinfo 2>/dev/null | cut -d: -f2 | sed 's/^ *//')
echo "machine=$(uname -srm), ${cpu:-unknown cpu}, $(nproc) cores"
echo "data=$data ($(wc -l <"$data") lines, gen_cidrs seed 1)"

# Index figures (build, scan of the built index, incremental ops, free space) and memory.
echo "load_before_index_run=$(load)"
c=$($pin "$bench" "$data")
m=$($pin "$bench" --memory "$data")
printf '%s\n%s\n' "$c" "$m"
printf '%s\n%s\n' "$c" "$m" | awk -F= '
    { v[$1] = $2 }
    END {
        if (v["pairs"] == "") exit 1
        printf "target full scan < 1 s: %s (batch %.4f s, index %.4f s)\n",
            (v["batch_scan_seconds"] < 1 && v["scan_seconds"] < 1 ? "met" : "missed"),
            v["batch_scan_seconds"], v["scan_seconds"]
        printf "target incremental median <= 10 us: %s\n",
            (v["insert_median_us"] <= 10 && v["remove_median_us"] <= 10 ? "met" : "missed")
        printf "target <= 200 bytes per CIDR: %s\n", (v["mem_bytes_per_cidr"] <= 200 ? "met" : "missed")
    }'

# End to end, C and Python alternating so that both see the same moments of the machine.
all=""
i=1
while [ "$i" -le "$runs" ]; do
    l=$(load)
    e=$($pin "$bench" --scan "$data")
    p=$($pin "$py" "$baseline" "$data")
    r=$(printf 'run=%s\nload=%s\n%s\n%s\n' "$i" "$l" "$e" "$p" | awk -F= '
        { v[$1] = $2 }
        END {
            if (v["e2e_pairs"] != v["py_pairs"] || v["e2e_pairs"] != pairs_index) {
                printf "FAIL: C found %s pairs (index %s), Python %s\n", v["e2e_pairs"], pairs_index, v["py_pairs"]
                exit 1
            }
            printf "run %s (load %s): C parse %.4f + scan %.4f = %.4f s (cpu %.4f); " \
                   "Python parse %.3f + sort/sweep %.3f = %.3f s (cpu %.3f); " \
                   "ratio %.1fx wall, %.1fx cpu\n", v["run"], v["load"],
                v["e2e_parse_seconds"], v["e2e_scan_seconds"], v["e2e_total_seconds"],
                v["e2e_cpu_seconds"], v["py_parse_seconds"], v["py_scan_seconds"],
                v["py_total_seconds"], v["py_cpu_seconds"],
                v["py_total_seconds"] / v["e2e_total_seconds"],
                v["py_cpu_seconds"] / v["e2e_cpu_seconds"]
        }' pairs_index="$(printf '%s\n' "$c" | sed -n 's/^pairs=//p')" -) || {
        echo "$r"
        exit 1
    }
    echo "$r"
    all="$all$r
"
    i=$((i + 1))
done
printf '%s' "$all" | awk '
    {
        for (i = 1; i <= NF; i++) {
            if ($i == "ratio") { w[++n] = substr($(i + 1), 1, length($(i + 1)) - 1) + 0 }
            if ($i == "wall,") { c[n] = substr($(i + 1), 1, length($(i + 1)) - 1) + 0 }
        }
    }
    function median(a, k,    i, j, t, b) {
        for (i = 1; i <= k; i++) b[i] = a[i]
        for (i = 2; i <= k; i++) for (j = i; j > 1 && b[j - 1] > b[j]; j--) { t = b[j]; b[j] = b[j - 1]; b[j - 1] = t }
        lo = b[1]; hi = b[k]
        return k % 2 ? b[(k + 1) / 2] : (b[k / 2] + b[k / 2 + 1]) / 2
    }
    END {
        if (n == 0) exit 1
        mw = median(w, n); wlo = lo; whi = hi
        mc = median(c, n)
        printf "ratio_end_to_end_median=%.1f (min %.1f, max %.1f over %d runs; cpu-time median %.1f)\n", mw, wlo, whi, n, mc
        printf "target >= 20x Python (end to end, median): %s\n", (mw >= 20 ? "met" : "missed")
    }'

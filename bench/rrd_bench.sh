# rrd_bench.sh: runs bench/rrd_bench against a private rrdcached on a temporary unix socket.
# Usage: sh rrd_bench.sh BENCH_BINARY [FILES [STEPS]]
# Needs about FILES x 0.62 MB of disk in ${TMPDIR:-/tmp} (6.2 GB for 10,000 files).
set -eu
bin=$1
files=${2:-10000}
steps=${3:-3}
tmp=$(mktemp -d "${TMPDIR:-/tmp}/ipamwatch-rrdbench.XXXXXX")
pid=""
cleanup() {
  if [ -n "$pid" ]; then kill "$pid" 2>/dev/null || true; wait "$pid" 2>/dev/null || true; fi
  rm -rf "$tmp"
}
trap cleanup EXIT INT TERM
mkdir -p "$tmp/journal" "$tmp/rrd"
# Writes only when asked (FLUSH) or after an hour, as in production; journal on.
rrdcached -g -l "unix:$tmp/rrdcached.sock" -p "$tmp/rrdcached.pid" -b "$tmp" \
  -j "$tmp/journal" -F -w 3600 -f 7200 -o "$tmp/rrdcached.log" </dev/null >/dev/null 2>&1 &
pid=$!
i=0
while [ ! -S "$tmp/rrdcached.sock" ] && [ $i -lt 50 ]; do sleep 0.1; i=$((i + 1)); done
[ -S "$tmp/rrdcached.sock" ] || { echo "rrd_bench.sh: rrdcached did not start" >&2; exit 1; }
echo "# rrd_bench: $files files, $steps steps, $(nproc) cores, rrdcached $(rrdcached -h 2>&1 | head -1 | awk '{print $2}')"
"$bin" --dir "$tmp/rrd" --daemon "unix:$tmp/rrdcached.sock" --files "$files" --steps "$steps"
echo "# disk: $(du -sh "$tmp/rrd" | cut -f1) for $files files ($(du -k "$tmp/rrd/pool/obj-000000.rrd" | cut -f1) KiB each)"

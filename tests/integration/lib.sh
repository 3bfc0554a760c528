# lib.sh: helpers every integration script sources; TAP output, temp dirs, service cleanup.
# Usage: . "$top_srcdir/tests/integration/lib.sh"; plan N; ok CMD...; finish
set -u
: "${IPAMWATCH:=$top_builddir/ipamwatch}"
: "${PYTHON3:=/usr/bin/python3}"
: "${KCAT:=kcat}"
TAP_N=0
TAP_FAILED=0
TMP=$(mktemp -d "${TMPDIR:-/tmp}/ipamwatch-test.XXXXXX")
CLEANUP_PIDS=""

cleanup() {
  for p in $CLEANUP_PIDS; do kill "$p" 2>/dev/null; done
  for p in $CLEANUP_PIDS; do wait "$p" 2>/dev/null; done
  rm -rf "$TMP"
}
trap cleanup EXIT
trap 'exit 130' INT
trap 'exit 143' TERM

plan() { echo "1..$1"; }
diag() { printf '# %s\n' "$*"; }
# pass/fail DESCRIPTION
pass() { TAP_N=$((TAP_N + 1)); echo "ok $TAP_N - $1"; }
fail() { TAP_N=$((TAP_N + 1)); TAP_FAILED=$((TAP_FAILED + 1)); echo "not ok $TAP_N - $1"; }
# check DESCRIPTION CMD...: passes when CMD exits 0
check() { d=$1; shift; if "$@"; then pass "$d"; else fail "$d"; fi; }
# check_status WANT DESCRIPTION CMD...: passes when CMD exits with WANT
check_status() {
  want=$1; d=$2; shift 2
  "$@"; got=$?
  if [ "$got" -eq "$want" ]; then pass "$d"; else fail "$d (exit $got, want $want)"; fi
}
# bg CMD...: starts CMD in the background and registers it for cleanup; sets BG_PID
bg() { "$@" & BG_PID=$!; CLEANUP_PIDS="$CLEANUP_PIDS $BG_PID"; }
# wait_for_file FILE SECONDS
wait_for_file() {
  i=0; while [ ! -s "$1" ] && [ $i -lt $(($2 * 10)) ]; do sleep 0.1; i=$((i + 1)); done
  [ -s "$1" ]
}

#!/bin/sh
# run.sh: builds every tests/fuzz/fuzz_*.c as a libFuzzer target and runs each for a fixed time.
#
# Called by `make fuzz` in a build configured with `CC=clang ./configure --enable-fuzzers`
# (which instruments libipamwatch.a for coverage and ASan/UBSan). Each target fuzz_NAME runs
# from the seed corpus tests/fuzz/corpus/NAME/ (read only) plus a working corpus in the build
# tree, for SECONDS (default 20). Any crash, leak or sanitizer report fails the run; the
# reproducer is left in tests/fuzz/ of the build tree.
#
# Environment (set by make): FUZZ_ENABLED, CC, FUZZ_CFLAGS, FUZZ_LIBS, top_srcdir; optional
# FUZZ_TARGETS, a space-separated list of target names (e.g. "ec2_xml ct_lookup") to run
# only those; FUZZ_JOBS, how many targets build and run at once (default: the processors).
set -u
seconds=${1:-20}
: "${top_srcdir:=$(cd "$(dirname "$0")/../.." && pwd)}"
if [ "${FUZZ_ENABLED:-no}" != yes ]; then
  echo "fuzz: configure with CC=clang --enable-fuzzers to build the fuzz targets" >&2
  exit 2
fi
# FUZZ_JOBS targets (default: one per processor) build and run at a time; each leaves its
# verdict in tests/fuzz/NAME.result, printed in target order once its batch is done.
jobs=${FUZZ_JOBS:-$(getconf _NPROCESSORS_ONLN 2>/dev/null || echo 1)}
[ "$jobs" -ge 1 ] 2>/dev/null || jobs=1
mkdir -p tests/fuzz

# one SRC: builds and runs the target of SRC; writes "ok N", "build" or "fail" to its .result
one() {
  name=$(basename "$1" .c)
  short=${name#fuzz_}
  bin=tests/fuzz/$name
  result=tests/fuzz/$name.result
  # shellcheck disable=SC2086 # flag lists are meant to split
  if ! $CC $FUZZ_CFLAGS -fsanitize=fuzzer,address,undefined -o "$bin" "$1" $FUZZ_LIBS \
       >"tests/fuzz/$name.build.log" 2>&1; then
    echo build >"$result"
    return
  fi
  work=tests/fuzz/corpus-$short
  mkdir -p "$work"
  seeds=""
  [ -d "$top_srcdir/tests/fuzz/corpus/$short" ] && seeds="$top_srcdir/tests/fuzz/corpus/$short"
  # shellcheck disable=SC2086
  if ASAN_OPTIONS=detect_leaks=1 UBSAN_OPTIONS=halt_on_error=1:print_stacktrace=1 \
     "$bin" -max_total_time="$seconds" -timeout=10 -rss_limit_mb=2048 -print_final_stats=1 \
       -artifact_prefix=tests/fuzz/"$name"- "$work" $seeds >"tests/fuzz/$name.log" 2>&1; then
    echo "ok $(grep -m1 -o 'stat::number_of_executed_units: *[0-9]*' \
      "tests/fuzz/$name.log" | grep -o '[0-9]*$')" >"$result"
  else
    echo fail >"$result"
  fi
}

# report NAME...: prints the verdicts of the targets NAME and counts them
report() {
  for name in "$@"; do
    read -r verdict runs <"tests/fuzz/$name.result" || verdict=fail
    case $verdict in
      ok) echo "fuzz: ok $name ($runs runs)" ;;
      build)
        echo "fuzz: FAIL $name does not build"
        tail -n 40 "tests/fuzz/$name.build.log"
        failed=$((failed + 1)) ;;
      *)
        echo "fuzz: FAIL $name; log tests/fuzz/$name.log:"
        tail -n 40 "tests/fuzz/$name.log"
        failed=$((failed + 1)) ;;
    esac
    [ "$verdict" = build ] || ran=$((ran + 1))
  done
}

failed=0
ran=0
batch=""
nbatch=0
for src in "$top_srcdir"/tests/fuzz/fuzz_*.c; do
  [ -f "$src" ] || continue
  name=$(basename "$src" .c)
  case " ${FUZZ_TARGETS:-${name#fuzz_}} " in
    *" ${name#fuzz_} "*) ;;
    *) continue ;;
  esac
  echo "fuzz: building and running $name for ${seconds}s"
  rm -f "tests/fuzz/$name.result"
  one "$src" &
  batch="$batch $name"
  nbatch=$((nbatch + 1))
  if [ "$nbatch" -ge "$jobs" ]; then
    wait
    # shellcheck disable=SC2086
    report $batch
    batch=""
    nbatch=0
  fi
done
wait
# shellcheck disable=SC2086
[ -z "$batch" ] || report $batch
echo "fuzz: $ran targets run, $failed failed"
[ "$failed" -eq 0 ] && [ "$ran" -gt 0 ]

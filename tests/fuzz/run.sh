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
# only those.
set -u
seconds=${1:-20}
: "${top_srcdir:=$(cd "$(dirname "$0")/../.." && pwd)}"
if [ "${FUZZ_ENABLED:-no}" != yes ]; then
  echo "fuzz: configure with CC=clang --enable-fuzzers to build the fuzz targets" >&2
  exit 2
fi
mkdir -p tests/fuzz
failed=0
ran=0
for src in "$top_srcdir"/tests/fuzz/fuzz_*.c; do
  [ -f "$src" ] || continue
  name=$(basename "$src" .c)
  short=${name#fuzz_}
  case " ${FUZZ_TARGETS:-$short} " in
    *" $short "*) ;;
    *) continue ;;
  esac
  bin=tests/fuzz/$name
  echo "fuzz: building $name"
  # shellcheck disable=SC2086 # flag lists are meant to split
  if ! $CC $FUZZ_CFLAGS -fsanitize=fuzzer,address,undefined -o "$bin" "$src" $FUZZ_LIBS; then
    echo "fuzz: FAIL $name does not build"
    failed=$((failed + 1))
    continue
  fi
  work=tests/fuzz/corpus-$short
  mkdir -p "$work"
  seeds=""
  [ -d "$top_srcdir/tests/fuzz/corpus/$short" ] && seeds="$top_srcdir/tests/fuzz/corpus/$short"
  echo "fuzz: running $name for ${seconds}s"
  # shellcheck disable=SC2086
  if ASAN_OPTIONS=detect_leaks=1 UBSAN_OPTIONS=halt_on_error=1:print_stacktrace=1 \
     "$bin" -max_total_time="$seconds" -timeout=10 -rss_limit_mb=2048 -print_final_stats=1 \
       -artifact_prefix=tests/fuzz/"$name"- "$work" $seeds >"tests/fuzz/$name.log" 2>&1; then
    echo "fuzz: ok $name ($(grep -m1 -o 'stat::number_of_executed_units: *[0-9]*' \
      "tests/fuzz/$name.log" | grep -o '[0-9]*$') runs)"
  else
    echo "fuzz: FAIL $name; log tests/fuzz/$name.log:"
    tail -n 40 "tests/fuzz/$name.log"
    failed=$((failed + 1))
  fi
  ran=$((ran + 1))
done
echo "fuzz: $ran targets run, $failed failed"
[ "$failed" -eq 0 ] && [ "$ran" -gt 0 ]

# run.sh: runs one integration script under its interpreter, or reports it skipped (TAP) when
# the build was configured with --disable-integration-tests.
# Usage: run.sh INTERPRETER SCRIPT [ARGS...]
interp=$1
shift
if [ "${IPAMWATCH_INTEGRATION:-yes}" = no ]; then
  echo "1..0 # SKIP integration tests disabled by configure"
  exit 0
fi
exec $interp "$@"

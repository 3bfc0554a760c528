# The front end: help, version, unknown commands and options exit 2 with usage.
. "$top_srcdir/tests/integration/lib.sh"
plan 6

check "help exits 0 and lists commands" sh -c '"$IPAMWATCH" help | grep -q "broker"'
check "version prints the package version" sh -c '"$IPAMWATCH" version | grep -q "^ipamwatch [0-9]"'
check_status 2 "no command exits 2" sh -c '"$IPAMWATCH" 2>/dev/null'
check_status 2 "unknown command exits 2" sh -c '"$IPAMWATCH" frobnicate 2>/dev/null'
check "unknown command prints usage to stderr" sh -c '"$IPAMWATCH" frobnicate 2>&1 >/dev/null | grep -q "^usage:"'
check_status 2 "a subcommand not built says so and exits 2" sh -c '"$IPAMWATCH" demo 2>&1 | grep -q "not built"; r=$?; "$IPAMWATCH" demo 2>/dev/null; s=$?; [ $r -eq 0 ] && exit $s; exit 1'

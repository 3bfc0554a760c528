# The front end: help, version, unknown commands and options exit 2 with usage.
. "$top_srcdir/tests/integration/lib.sh"
plan 6

check "help exits 0 and lists commands" sh -c '"$IPAMWATCH" help | grep -q "broker"'
check "version prints the package version" sh -c '"$IPAMWATCH" version | grep -q "^ipamwatch [0-9]"'
check_status 2 "no command exits 2" sh -c '"$IPAMWATCH" 2>/dev/null'
check_status 2 "unknown command exits 2" sh -c '"$IPAMWATCH" frobnicate 2>/dev/null'
check "unknown command prints usage to stderr" sh -c '"$IPAMWATCH" frobnicate 2>&1 >/dev/null | grep -q "^usage:"'
check "every command listed by help answers --help with its usage and exit 0" sh -c '
  for c in $("$IPAMWATCH" help | sed -n "s/^  \([a-z]*\) .*/\1/p"); do
    case $c in help|version) continue ;; esac
    "$IPAMWATCH" "$c" --help 2>&1 | grep -qi "usage: ipamwatch $c" || { echo "$c: no usage"; exit 1; }
    "$IPAMWATCH" "$c" --help >/dev/null 2>&1 || { echo "$c: --help exit $?"; exit 1; }
  done'

# lib.sh: helpers every integration script sources; TAP output, temp dirs, service cleanup.
# Usage: . "$top_srcdir/tests/integration/lib.sh"; plan N; ok CMD...; finish
set -u
: "${IPAMWATCH:=$top_builddir/ipamwatch}"
: "${PYTHON3:=/usr/bin/python3}"
: "${KCAT:=kcat}"
# Programs several scripts run: the AWS-shaped endpoint's folder (fake_aws.py, gen_dataset.py),
# the fault checker, the journal tool and the alert receiver
FA="$top_srcdir/tests/aws"
FC="$top_srcdir/tests/integration/fault_check.py"
JT="$top_builddir/tests/tools/journal_tool"
RECV="$top_srcdir/tests/alerts/receiver.py"
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

# bail TEXT...: ends the script with a TAP "Bail out!" line
bail() { echo "Bail out! $*"; exit 1; }
# poll SECONDS CMD...: retries CMD (output discarded) every 0.2 s until it succeeds; after
# SECONDS it runs CMD once more with its output, and returns that status
poll() {
  _pt=$1; shift; _pi=0
  while [ $_pi -lt $((_pt * 5)) ]; do "$@" >/dev/null 2>&1 && return 0; sleep 0.2; _pi=$((_pi + 1)); done
  "$@"
}
# wait_log SECONDS FILE ERE: waits until a line of FILE matches ERE (grep -E)
wait_log() { poll "$1" grep -Eq "$3" "$2"; }
# free_port: prints a free TCP port of 127.0.0.1
free_port() { "$PYTHON3" -c 'import socket; s=socket.socket(); s.bind(("127.0.0.1",0)); print(s.getsockname()[1])'; }

# start_broker_proc ARGS...: starts `ipamwatch broker ARGS` in the background (registered for
# cleanup; output in $TMP/broker.out and $TMP/broker.err), waits for its bootstrap list in
# $TMP/bootstrap and sets B to the list and BROKER_PID to the process; bails out when the
# broker does not start within 20 s
start_broker_proc() {
  bg "$IPAMWATCH" broker "$@" --bootstrap-file "$TMP/bootstrap" >"$TMP/broker.out" 2>"$TMP/broker.err"
  BROKER_PID=$BG_PID
  wait_for_file "$TMP/bootstrap" 20 || bail "broker did not start"
  B=$(cat "$TMP/bootstrap")
}
# start_receiver NAME ARGS...: starts tests/alerts/receiver.py http ARGS in the background
# logging to $TMP/NAME.log, waits for its port in $TMP/NAME.port and sets RP to the port and
# RECV_PID to the process; bails out when it does not start within 20 s
start_receiver() {
  _rn=$1; shift
  bg "$PYTHON3" "$RECV" http --port-file "$TMP/$_rn.port" --log "$TMP/$_rn.log" "$@"
  RECV_PID=$BG_PID
  wait_for_file "$TMP/$_rn.port" 20 || bail "receiver $_rn did not start"
  RP=$(cat "$TMP/$_rn.port")
}

# base_conf FILE GROUP DIR [SECTION.KEY=VALUE...]: the configuration most scripts start from
. "$top_srcdir/tests/integration/base_conf.sh"

# start_analyzer NAME CONF [ARGS...]: starts `ipamwatch analyze -c CONF ARGS` in the background
# (registered for cleanup; output in $TMP/NAME.out and $TMP/NAME.err) and sets AN to it
start_analyzer() {
  _an=$1 _ac=$2; shift 2
  bg "$IPAMWATCH" analyze -c "$_ac" "$@" >"$TMP/$_an.out" 2>"$TMP/$_an.err"
  AN=$BG_PID
}
# committed_offsets GROUP TOPIC...: prints "COMMITTED END", GROUP's committed offsets and the
# end offsets summed over every partition of the topics on broker $B (kafka-python, no join)
committed_offsets() { "$PYTHON3" "$top_srcdir/tests/integration/ops_check.py" committed "$B" "$@"; }
# all_committed GROUP TOPIC...: true when GROUP has committed every record of the topics
all_committed() { set -- $(committed_offsets "$@"); [ "$1" -gt 0 ] && [ "$1" = "$2" ]; }
# metric PORT NAME [LABEL=VALUE...]: prints one series' value from http://127.0.0.1:PORT/metrics
metric() {
  _mp=$1; shift
  curl -s --max-time 5 "http://127.0.0.1:$_mp/metrics" | "$PYTHON3" "$top_srcdir/tests/integration/ops_check.py" metrics /dev/stdin "$@"
}

# ae ARGS...: runs the alert checker tests/integration/alerts_e2e.py (fixtures, rules, notes)
ae() { "$PYTHON3" "$top_srcdir/tests/integration/alerts_e2e.py" "$@"; }
# alerts_conf FILE GROUP DIR [SECTION.KEY=VALUE...] <SECTIONS: writes FILE as base_conf does,
# then the alert rules of `ae rules $BIG` (an on-premise routing domain with its overlap rule,
# utilization thresholds for pool $BIG), then SECTIONS ([sink], more [rule]s); mode 600
alerts_conf() {
  base_conf "$@" && ae rules "$BIG" >>"$1" && cat >>"$1" && chmod 600 "$1"
}
# journal_records NAME: writes $TMP/NAME.j, the records of the journal $TMP/NAME/journal
# without their sequence numbers (event time, kind, key, data a line)
journal_records() { "$JT" dump "$TMP/$1/journal" | cut -f 2-5 >"$TMP/$1.j"; }
# reports_agree A B FROM TO: writes the JSON compliance reports of $TMP/A.conf and $TMP/B.conf
# for FROM..TO to $TMP/A.report.json and $TMP/B.report.json; true when both are written and
# fault_check.py finds them equal
reports_agree() {
  for _rn in "$1" "$2"; do
    "$IPAMWATCH" report -c "$TMP/$_rn.conf" --from "$3" --to "$4" --format json \
      -o "$TMP/$_rn.report.json" 2>/dev/null || return 1
  done
  "$PYTHON3" "$FC" report "$TMP/$1.report.json" "$TMP/$2.report.json"
}

# need_python MODULE...: ends the script as skipped (TAP "1..0 # SKIP") unless $PYTHON3 imports
# every MODULE (Debian's python3-MODULE packages)
need_python() {
  "$PYTHON3" -c "import $(echo "$*" | tr ' ' ,)" 2>/dev/null && return 0
  echo "1..0 # SKIP needs python3-$(echo "$*" | sed 's/ / and python3-/g')"
  exit 0
}
# need_tmpfs: ends the script as skipped unless it may mount a tmpfs (root, and permitted)
need_tmpfs() {
  if [ "$(id -u)" != 0 ]; then
    echo "1..0 # SKIP mounting a tmpfs needs root"
    exit 0
  fi
  if ! mkdir "$TMP/probe" || ! mount -t tmpfs -o size=64k tmpfs "$TMP/probe" 2>/dev/null; then
    echo "1..0 # SKIP mount -t tmpfs is not permitted here"
    exit 0
  fi
  umount "$TMP/probe"
}
# aws_env CREDENTIALS_JSON: nothing of the machine's AWS setup leaks in: every AWS_* variable
# unset, HOME at $TMP/home (no shared config or credentials file), no IMDS; then the first key
# of CREDENTIALS_JSON (a tests/aws/gen_dataset.py credentials.json) is exported as
# AWS_ACCESS_KEY_ID and AWS_SECRET_ACCESS_KEY
aws_env() {
  for _av in $(env | sed -n 's/^\(AWS_[A-Z0-9_]*\)=.*/\1/p'); do unset "$_av"; done
  export HOME="$TMP/home" AWS_EC2_METADATA_DISABLED=true
  mkdir -p "$HOME"
  set -- $("$PYTHON3" -c 'import json,sys; k=json.load(open(sys.argv[1]))["keys"][0]; print(k["access_key_id"], k["secret_access_key"])' "$1")
  export AWS_ACCESS_KEY_ID="$1" AWS_SECRET_ACCESS_KEY="$2"
}
# compliance_rules: prints configuration sections for the org-small dataset's compliance
# alerts: a routing domain "corporate" (scope private with 10.0.0.0/12 and 172.16.0.0/16 of
# the on-premise network), an overlap rule over it and a noncompliant rule
compliance_rules() {
  cat <<EOF
[domain "corporate"]
scopes = private
static = 10.0.0.0/12, 172.16.0.0/16
[rule "overlap"]
type = overlap
domain = corporate
[rule "noncompliant"]
type = noncompliant
EOF
}
# check_retried_quietly PORT LOG BRE MIN DESCRIPTION: passes when the analyzer serving
# /metrics on PORT counted at least MIN failed checkpoints while LOG holds one or two lines
# matching BRE: a failure retried on every checkpoint but logged rate-limited
check_retried_quietly() {
  _rf=$(metric "$1" ipamwatch_analyzer_checkpoint_failures_total)
  _rl=$(grep -c "$3" "$2")
  check "$5 ($_rf failed checkpoints, $_rl log lines)" \
    sh -c '[ "$1" -ge "$3" ] && [ "$2" -ge 1 ] && [ "$2" -le 2 ]' _ "${_rf:-0}" "$_rl" "$4"
}

# CloudTrail LookupEvents through `ipamwatch collect`: three accounts reached by AssumeRole x
# two Regions against the AWS-shaped endpoint, at most 2 requests/s per account and Region
# even when throttled, relevant events only, and exactly once on the events topic although
# the collector is SIGKILLed at 24 moments (half of them while events are in flight) and new
# events keep arriving late (inside the overlap window).
. "$top_srcdir/tests/integration/lib.sh"
need_python botocore kafka
plan 14
CK="$top_srcdir/tests/integration/ct_check.py"
KILLS=24

"$PYTHON3" "$FA/gen_dataset.py" --out "$TMP/org" --seed 11 --events 300 --accounts 2 >/dev/null
aws_env "$TMP/org/credentials.json"
ACCOUNTS=$("$PYTHON3" -c 'import json,sys; t=json.load(open(sys.argv[1])); print(", ".join([t["admin_account"]] + t["app_accounts"]))' "$TMP/org/truth.json")
set -- $(echo "$ACCOUNTS" | tr -d ,)
PAIRS="$1/eu-central-1 $1/eu-west-1 $2/eu-central-1 $2/eu-west-1 $3/eu-central-1 $3/eu-west-1"

bg "$PYTHON3" "$FA/fake_aws.py" --data "$TMP/org" --port-file "$TMP/port" --seed 9
start_broker_proc --topic inv:4 --topic ct:4
wait_for_file "$TMP/port" 30 || bail "port not written"
URL=$(cat "$TMP/port")
STATE="$TMP/state"
{
  printf '[aws]\nregion = eu-central-1\nendpoint_url = %s\nmax_attempts = 10\n' "$URL"
  printf '[kafka]\nbootstrap.servers = %s\n' "$B"
  printf '[topics]\ninventory = inv\nevents = ct\n'
  printf '[collector]\naccounts = %s\nregions = eu-central-1, eu-west-1\n' "$ACCOUNTS"
  printf 'member_role_name = ipamwatch-read\ncloudtrail_interval = 10s\npoll_interval = 1h\n'
  printf 'state_dir = %s\n' "$STATE"
} >"$TMP/c.conf"
collect() { n=$1; shift; "$IPAMWATCH" collect "$@" -c "$TMP/c.conf" >"$TMP/$n.out" 2>"$TMP/$n.err"; }
stat_ct() { curl -sf "$URL/_stats" | "$PYTHON3" -c "import json,sys; print(sum(json.load(sys.stdin)['cloudtrail'][sys.argv[1]].values()))" "$1"; }

# --- 1-6: first poll (90 days back) with 30 % of the requests throttled ---------------------
curl -sf -X POST -d '{"faults": "throttle=0.3"}' "$URL/_control" >/dev/null
check_status 0 "collect --once with throttle=0.3 exits 0 (throttling never aborts the poll)" \
  collect first --once
curl -sf -X POST -d '{"faults": ""}' "$URL/_control" >/dev/null
THROTTLED=$(stat_ct throttled)
check "ThrottlingException answers ($THROTTLED) were waited out and retried" \
  sh -c "[ $THROTTLED -gt 0 ] && grep -q 'ct_lookup: .*throttled' '$TMP/first.err'"
check "every account was read through its role, each pair at most 2 requests/s" \
  "$PYTHON3" "$CK" rate "$URL" 6 2
check "the topic holds each relevant dataset event once, AssumeRole (sts) events none" \
  "$PYTHON3" "$CK" verify "$B" ct "$TMP/org" "$TMP/added.jsonl"
check "state files are 0600 in a 0700 directory, one per account and Region" \
  sh -c "[ \$(stat -c %a '$STATE') = 700 ] && [ \$(ls '$STATE'/cloudtrail-*.json | wc -l) -eq 6 ] &&
         [ -z \"\$(find '$STATE' -name 'cloudtrail-*.json' ! -perm 600)\" ]"
N1=$("$PYTHON3" "$CK" count "$B" ct)
collect again --once
check "a second poll over the overlapping window publishes nothing again" \
  sh -c "[ \$('$PYTHON3' '$CK' count '$B' ct) -eq $N1 ]"

# --- 7-10: SIGKILL at random moments and while events are in flight ------------------------
curl -sf -X POST "$URL/_reset" >/dev/null
RANDOM=$$
kills=0
inflight=0
i=0
while [ $i -lt $KILLS ]; do
  i=$((i + 1))
  # New events become visible, up to 14 minutes late (inside the 15 minute overlap).
  pair=$(echo $PAIRS | tr ' ' '\n' | sed -n "$((RANDOM % 6 + 1))p")
  "$PYTHON3" "$CK" add "$URL" "$pair" $((RANDOM % 4 + 2)) 840 "$TMP/added.jsonl"
  "$IPAMWATCH" collect -c "$TMP/c.conf" >>"$TMP/kill.out" 2>>"$TMP/kill.err" &
  pid=$!
  if [ $((i % 2)) -eq 0 ]; then
    if "$PYTHON3" "$CK" kill-in-flight "$STATE" $pid 8; then inflight=$((inflight + 1)); fi
  else
    sleep "$((RANDOM % 4)).$((RANDOM % 10))"
  fi
  kill -9 $pid 2>/dev/null
  wait $pid 2>/dev/null
  [ $? -eq 137 ] && kills=$((kills + 1))
done
diag "$kills SIGKILLs, $inflight of them with events in flight"
check "the collector was SIGKILLed $KILLS times" [ "$kills" -eq $KILLS ]
check "at least 3 of the kills hit events in flight" [ "$inflight" -ge 3 ]
check "restarts reconciled in-flight events against the topic" \
  grep -q 'events in flight were on ct already' "$TMP/kill.err"
check "no pair ever saw more than 2 LookupEvents requests in one second across restarts" \
  "$PYTHON3" "$CK" rate "$URL" 1 2

# --- 11-14: a last clean poll; every event exactly once -------------------------------------
check_status 0 "collect --once after the kills exits 0" collect last --once
check "no ids are left in flight" sh -c "! grep -q '\"pending\":{' '$STATE'/cloudtrail-*.json"
check "every dataset and late event is on the topic exactly once" \
  "$PYTHON3" "$CK" verify "$B" ct "$TMP/org" "$TMP/added.jsonl"
check "no error line in any collector log" sh -c "! grep -h ' error ' '$TMP'/*.err | grep -v broker"

# One long-running `ipamwatch collect` (poll mode, CloudTrail polled for two accounts) against
# the AWS-shaped endpoint while it throttles 30 % of the requests, answers bursts of 5xx, stalls
# answers for 10 s, truncates and breaks XML and JSON answers, expires session tokens, refuses
# revoked credentials and runs its clock an hour ahead. Each pass completes or fails with one
# precise line per failed call (operation, AWS error, request id) and a closing line; the same
# process recovers once the faults stop, and Kafka holds every complete pass and every
# CloudTrail event exactly once.
. "$top_srcdir/tests/integration/lib.sh"
need_python botocore kafka
plan 21
CK="$top_srcdir/tests/integration/awsfaults_check.py"

"$PYTHON3" "$FA/gen_dataset.py" --out "$TMP/org" --seed 28 --events 40 --accounts 2 >/dev/null
aws_env "$TMP/org/credentials.json"
ADMIN=$("$PYTHON3" -c 'import json,sys; t=json.load(open(sys.argv[1])); print(t["admin_account"], t["app_accounts"][0])' "$TMP/org/truth.json")
set -- $ADMIN
PAIRS="$1/eu-central-1,$2/eu-central-1"

bg "$PYTHON3" "$FA/fake_aws.py" --data "$TMP/org" --port-file "$TMP/port" --seed 28
FAKE=$BG_PID
start_broker_proc --topic inv:4 --topic ct:4
wait_for_file "$TMP/port" 30 || bail "port not written"
URL=$(cat "$TMP/port")
# A stalled answer must end at request_timeout (2 s) and be retried, not wait out the stall.
base_conf "$TMP/c.conf" af "$TMP" topics.events=ct collector.state_dir="$TMP/state" \
  aws.region=eu-central-1 aws.endpoint_url="$URL" aws.role_arn="arn:aws:iam::$1:role/ipamwatch-read" \
  aws.request_timeout=2s aws.connect_timeout=1s aws.max_attempts=8 \
  collector.poll_interval=1s collector.accounts="$1, $2" collector.member_role_name=ipamwatch-read \
  collector.regions=eu-central-1 collector.cloudtrail_interval=10s

now_ms() { date +%s%3N; }
stats() { curl -sf "$URL/_stats" >"$TMP/stats-$1.json"; }
# faults SPEC [OPS...]: the endpoint's faults from now on, limited to OPS when given
faults() {
  spec=$1; shift
  if [ $# -gt 0 ]; then
    ops=$(printf '"%s",' "$@")
    body="{\"faults\": \"$spec\", \"fault_ops\": [${ops%,}]}"
  else
    body="{\"faults\": \"$spec\"}"
  fi
  curl -sf -X POST -d "$body" "$URL/_control" >/dev/null
}
# phase NAME ... phase_end: a phase; its passes are those that start and end inside it
phase() { PHASE=$1; PHASE_START=$(now_ms); stats "$1-start"; }
phase_end() {
  end=$(now_ms)
  echo "$PHASE $PHASE_START $end" >>"$TMP/phases"
  stats "$PHASE-end"
  diag "phase $PHASE: $(((end - PHASE_START) / 1000)) s"
}
# waitpass N TIMEOUT [complete|incomplete|any] [MIN_MS [MAX_MS]]: N passes of this phase ended so
waitpass() { "$PYTHON3" "$CK" wait "$PID" "$TMP/c.err" "$PHASE_START" "$@"; }
inphase() { "$PYTHON3" "$CK" phase "$TMP/c.err" "$TMP/phases" "$@"; }

"$IPAMWATCH" collect -c "$TMP/c.conf" --collector-id af >"$TMP/c.out" 2>"$TMP/c.err" &
PID=$!
CLEANUP_PIDS="$CLEANUP_PIDS $PID"
T0=$(date +%s)

# --- no fault -------------------------------------------------------------------------------
phase clean
waitpass 1 60 complete
phase_end

# --- 1-2: 30 % throttling: every pass completes through retries ------------------------------
phase throttle
faults "throttle=0.3"
waitpass 2 40 any
phase_end
check "throttle=0.3: passes complete, no error line" inphase throttle complete 2
check "throttle=0.3: the endpoint throttled requests that were retried" \
  "$PYTHON3" -c 'import json,sys; a,b=(json.load(open(p))["outcomes"] for p in sys.argv[1:]); sys.exit(b.get("RequestLimitExceeded",0) <= a.get("RequestLimitExceeded",0))' \
  "$TMP/stats-throttle-start.json" "$TMP/stats-throttle-end.json"

# --- 3: bursts of 5xx -----------------------------------------------------------------------
phase bursts
for i in 1 2; do faults "error500=1"; sleep 1.5; faults ""; sleep 1; done
waitpass 1 30 complete
phase_end
check "5xx bursts: a pass completes; a failed one names InternalError" inphase bursts mixed 'InternalError'

# --- 4: answers stalled for 10 s: the request timeout (2 s) ends them and they are retried ---
phase slow
faults "slow=10s@0.3" DescribeIpamScopes LookupEvents
waitpass 1 40 complete 2000 10000
phase_end
check "10 s stalls: a pass completes in under 10 s after a timed-out request was retried" inphase slow slow 2000 10000

# --- 5: truncated XML: the scopes' frames end complete=false, one line per failed call -----
phase truncate
faults "truncate=1" GetIpamResourceCidrs LookupEvents
waitpass 1 60 incomplete
phase_end
check "truncated GetIpamResourceCidrs answers: the pass fails, each call named with its request id" \
  inphase truncate failed 'ec2 GetIpamResourceCidrs: .*partial file.*\(request id [0-9a-f-]+\) after 8 attempts'

# --- 6: malformed XML: the pass fails before any frame ---------------------------------------
phase malformed
faults "malformed=1" DescribeIpamPools LookupEvents
# CloudTrail events that can only be read once the faults are over.
"$PYTHON3" "$top_srcdir/tests/integration/ct_check.py" add "$URL" "$1/eu-central-1" 3 600 "$TMP/added.jsonl"
waitpass 1 40 incomplete
phase_end
check "malformed DescribeIpamPools answers: the pass fails, the call named with its request id" \
  inphase malformed failed 'ec2 DescribeIpamPools: truncated or malformed XML .*\(request id [0-9a-f-]+\)'

# --- 7-8: session tokens that expire: refreshed through STS, passes complete -----------------
phase expire
faults "expire_tokens=0.3"
waitpass 2 30 any
phase_end
check "expired session tokens: credentials refreshed, passes complete" inphase expire complete 2
check "... the endpoint issued new session credentials" \
  "$PYTHON3" -c 'import json,sys; a,b=(json.load(open(p))["by_operation"].get("AssumeRole",{}).get("ok",0) for p in sys.argv[1:]); sys.exit(b <= a)' \
  "$TMP/stats-expire-start.json" "$TMP/stats-expire-end.json"

# --- 9-10: revoked credentials: one line per pass, no tight loop ----------------------------
phase revoke
faults "revoke=1"
sleep 4
waitpass 2 20 incomplete
phase_end
check "revoked credentials: each pass fails with one line naming AuthFailure" inphase revoke failed 'AuthFailure|InvalidClientTokenId'
REVOKE_S=$(awk '$1 == "revoke" { printf "%.1f", ($3 - $2) / 1000 }' "$TMP/phases")
check "... and the collector does not hammer the endpoint (at most 3 requests/s over ${REVOKE_S} s)" \
  "$PYTHON3" "$CK" rate "$TMP/stats-revoke-start.json" "$TMP/stats-revoke-end.json" "$REVOKE_S" 3

# --- 11-12: the endpoint's clock an hour ahead: the offset is learnt from the Date header -----
phase skew
faults "skew=1h"
waitpass 2 30 complete
phase_end
check "clock skew: passes complete, no error line" inphase skew complete 2
check "... after one warning with the offset taken from the Date header" inphase skew warn 'the local clock is 3[56][0-9][0-9] s behind AWS'

# --- 13-16: faults off: the same process recovers -------------------------------------------
phase final
faults ""
waitpass 2 30 complete
phase_end
check "faults off: passes complete again" inphase final complete 2
check "the same collector process ran through every phase ($(($(date +%s) - T0)) s)" kill -0 $PID
check "the CloudTrail poller recovered: each event of the two pairs (and the late ones) once on the topic" \
  "$PYTHON3" "$CK" events "$B" ct "$TMP/org" "$PAIRS" "$TMP/added.jsonl" 30
kill -TERM $PID
wait $PID
check_status 0 "SIGTERM stops it with exit 0" sh -c "exit $?"

# --- 17-21: the whole log and the whole topic -----------------------------------------------
check "every error line is an expected one: per failed pass one line per failed call and one closing line" \
  "$PYTHON3" "$CK" errors "$TMP/c.err"
check "CloudTrail polls on cut or broken JSON failed with one line naming LookupEvents and the request id" \
  grep -Eq 'error ct_lookup: [0-9]{12}/eu-central-1: CloudTrail poll failed: cloudtrail LookupEvents: .*(partial file|unparseable JSON).*\(request id [0-9a-f-]+\)' "$TMP/c.err"
check "complete passes hold the dataset exactly once; failed frames say complete=false with the error" \
  sh -c "'$PYTHON3' '$top_srcdir/tests/integration/inventory_check.py' dump '$B' inv '$TMP/inv.jsonl' &&
         '$PYTHON3' '$CK' frames '$TMP/inv.jsonl' '$TMP/org/truth.json' '$TMP/c.err'"
check "no sanitizer report or crash" sh -c "! grep -l 'Sanitizer\|runtime error\|Segmentation' '$TMP'/*.err"
check "the endpoint saw no signature failure and is still up" \
  sh -c "kill -0 $FAKE && curl -sf '$URL/_stats' | '$PYTHON3' -c 'import json,sys; sys.exit(json.load(sys.stdin)[\"signature_failures\"] != 0)'"

# `ipamwatch collect` end to end: the AWS-shaped endpoint and aws CLI files into the
# development broker, read back by an independent consumer (kafka-python). A pass is framed
# per scope and complete, matches the dataset's truth, survives throttling, fails precisely on
# a permanent error, bad files and a dead cluster, stops promptly on SIGTERM without losing
# what it confirmed, and polls.
. "$top_srcdir/tests/integration/lib.sh"
need_python botocore kafka
plan 50
DATA="$top_srcdir/tests/data/aws/org-small"
CHECK="$top_srcdir/tests/integration/inventory_check.py"
SMALL_TRUTH="$DATA/truth.json"

aws_env "$DATA/credentials.json"
truth() { "$PYTHON3" -c 'import json,sys; print(json.load(open(sys.argv[1]))[sys.argv[2]])' "$1" "$2"; }

# --- services ------------------------------------------------------------------------------
bg "$IPAMWATCH" broker --topic api:8 --topic env:8 --topic files:8 --topic throttle:4 \
  --topic broken:4 --topic fileerr:4 --topic nodisco:4 --topic sigterm:4 --topic poll:4 \
  --bootstrap-file "$TMP/bootstrap" >"$TMP/broker.out" 2>"$TMP/broker.err"
bg "$PYTHON3" "$FA/fake_aws.py" --data "$DATA" --port-file "$TMP/port" --seed 7
FAKE=$BG_PID
# A dataset whose public scope has no resource CIDR listing: GetIpamResourceCidrs of that
# scope fails every time (InvalidIpamScopeId.NotFound, not retryable).
cp -r "$DATA" "$TMP/broken"
rm "$TMP/broken/inventory/get-ipam-resource-cidrs/$(truth "$SMALL_TRUTH" public_scope_id).json"
bg "$PYTHON3" "$FA/fake_aws.py" --data "$TMP/broken" --port-file "$TMP/port-broken"
# A larger dataset served slowly, for SIGTERM in the middle of a pass.
"$PYTHON3" "$FA/gen_dataset.py" --out "$TMP/mid" --seed 5 --resource-cidrs 6000 >/dev/null
bg "$PYTHON3" "$FA/fake_aws.py" --data "$TMP/mid" --port-file "$TMP/port-mid" --faults slow=250ms
for f in bootstrap port port-broken port-mid; do
  wait_for_file "$TMP/$f" 30 || { echo "Bail out! $f not written"; exit 1; }
done
B=$(cat "$TMP/bootstrap")
URL=$(cat "$TMP/port")

# conf NAME TOPIC [ENDPOINT [AWS-LINES [KAFKA-LINES [COLLECTOR-LINES]]]]: writes
# $TMP/NAME.conf; the *-LINES are added to their section (printf %b escapes). The [kafka]
# section carries consumer properties too, as a section shared with the analyzer does.
conf() {
  {
    printf '[aws]\nregion = eu-central-1\n'
    if [ -n "${3:-}" ]; then printf 'endpoint_url = %s\n' "$3"; fi
    printf '%b\n' "${4:-}"
    printf '[kafka]\nbootstrap.servers = %s\nfetch.wait.max.ms = 10\nsession.timeout.ms = 6000\n' "$B"
    printf '%b\n' "${5:-}"
    printf '[topics]\ninventory = %s\n[collector]\nstate_dir = %s\n' "$2" "$TMP/state"
    printf '%b\n' "${6:-}"
  } >"$TMP/$1.conf"
}
# collect NAME ARGS...: runs collect with stdout/stderr in $TMP/NAME.out/.err; returns its status
collect() { n=$1; shift; "$IPAMWATCH" collect "$@" >"$TMP/$n.out" 2>"$TMP/$n.err"; }
dump() { "$PYTHON3" "$CHECK" dump "$B" "$1" "$TMP/$1.jsonl"; }

# --- 1-8: the API, endpoint from [aws] endpoint_url ------------------------------------------
conf api api "$URL" "" 'topic.metadata.refresh.fast.cnt = 3'
check_status 0 "collect --once from the API exits 0" collect api --once -c "$TMP/api.conf" --collector-id c1
check "it logs the pass complete with both scopes" grep -q 'pass c1-[0-9]* complete: 2 scopes' "$TMP/api.err"
check "consumer properties of the shared [kafka] section give no producer warning" \
  sh -c "! grep -q 'will be ignored' '$TMP/api.err'"
check "other librdkafka configuration warnings still reach the log" \
  grep -q 'warn kafka: .*CONFWARN.*topic.metadata.refresh.fast.cnt is deprecated' "$TMP/api.err"
check "an independent consumer reads the whole topic" dump api
check "per scope: pass_begin first, pass_end last, one pass id, counts match, complete, one partition" \
  "$PYTHON3" "$CHECK" framing "$TMP/api.jsonl"
check "totals equal the dataset's truth (pools, pool CIDRs, allocations, resource CIDRs incl. public)" \
  "$PYTHON3" "$CHECK" truth "$TMP/api.jsonl" "$SMALL_TRUTH"
check "the endpoint saw no signature failure" \
  sh -c "curl -sf '$URL/_stats' | '$PYTHON3' -c 'import json,sys; sys.exit(json.load(sys.stdin)[\"signature_failures\"] != 0)'"

# --- 9-11: endpoint from AWS_ENDPOINT_URL; --from-files gives the same records ---------------
conf env env
collect_env() { (export AWS_ENDPOINT_URL="$URL"; collect env --once -c "$TMP/env.conf"); }
check_status 0 "AWS_ENDPOINT_URL instead of endpoint_url: exit 0" collect_env
check "... and the same records as with endpoint_url" \
  sh -c "'$PYTHON3' '$CHECK' dump '$B' env '$TMP/env.jsonl' && '$PYTHON3' '$CHECK' same '$TMP/api.jsonl' '$TMP/env.jsonl'"
conf files files
check_status 0 "collect --once --from-files on the same dataset exits 0" \
  collect files --once -c "$TMP/files.conf" --from-files "$DATA"
check "--from-files publishes the same records as the API (ignoring ts, source, pass)" \
  sh -c "'$PYTHON3' '$CHECK' dump '$B' files '$TMP/files.jsonl' &&
         '$PYTHON3' '$CHECK' framing '$TMP/files.jsonl' &&
         '$PYTHON3' '$CHECK' same '$TMP/api.jsonl' '$TMP/files.jsonl'"

# --- 12-15: throttling on 30 % of the requests ----------------------------------------------
curl -sf -X POST "$URL/_reset" >/dev/null
curl -sf -X POST -d '{"faults": "throttle=0.3"}' "$URL/_control" >/dev/null
conf throttle throttle "$URL" 'max_attempts = 10'
check_status 0 "throttle=0.3: the pass still completes (exit 0)" collect throttle --once -c "$TMP/throttle.conf"
curl -sf -X POST -d '{"faults": ""}' "$URL/_control" >/dev/null
check "throttle=0.3: the endpoint throttled requests that were retried" \
  sh -c "curl -sf '$URL/_stats' | '$PYTHON3' -c 'import json,sys; o=json.load(sys.stdin)[\"outcomes\"]; sys.exit(not (o.get(\"RequestLimitExceeded\", 0) > 0 and o.get(\"ok\", 0) > 0))'"
check "throttle=0.3: complete frames and the dataset's totals" \
  sh -c "'$PYTHON3' '$CHECK' dump '$B' throttle '$TMP/throttle.jsonl' &&
         '$PYTHON3' '$CHECK' framing '$TMP/throttle.jsonl' &&
         '$PYTHON3' '$CHECK' truth '$TMP/throttle.jsonl' '$SMALL_TRUTH'"
check "throttle=0.3: no error line" sh -c "! grep -q ' error ' '$TMP/throttle.err'"

# --- 16-20: a call that fails every time ----------------------------------------------------
PUB=$(truth "$SMALL_TRUTH" public_scope_id)
PRIV=$(truth "$SMALL_TRUTH" private_scope_id)
conf broken broken "$(cat "$TMP/port-broken")"
check_status 1 "GetIpamResourceCidrs failing for one scope: exit 1" collect broken --once -c "$TMP/broken.conf"
check "the failing scope's pass_end says complete=false with the error; the other scope is complete" \
  sh -c "'$PYTHON3' '$CHECK' dump '$B' broken '$TMP/broken.jsonl' &&
         '$PYTHON3' '$CHECK' framing '$TMP/broken.jsonl' --incomplete $PUB 'GetIpamResourceCidrs: InvalidIpamScopeId.NotFound: .*request id [0-9a-f-]+'"
check "one log line names the operation, the AWS error and the request id" \
  sh -c "[ \$(grep -c 'GetIpamResourceCidrs.*request id' '$TMP/broken.err') -eq 1 ] &&
         grep -q 'error inventory: pass .*, scope $PUB: ec2 GetIpamResourceCidrs: InvalidIpamScopeId.NotFound: .*(request id [0-9a-f-]*)' '$TMP/broken.err'"
check "the closing line sums up: 1 of 2 scopes complete" grep -q 'incomplete after [0-9]* ms: 1 of 2 scopes complete' "$TMP/broken.err"
curl -sf -X POST -d '{"faults": "expire_tokens=1"}' "$URL/_control" >/dev/null
conf expired broken "$URL" 'role_arn = arn:aws:iam::111111111111:role/ipamwatch-read\nmax_attempts = 3'
check_status 1 "session tokens that always expire: exit 1" collect expired --once -c "$TMP/expired.conf"
check "... with an error line naming the expiry" grep -Eq 'error .*(ExpiredToken|RequestExpired)' "$TMP/expired.err"
curl -sf -X POST -d '{"faults": ""}' "$URL/_control" >/dev/null

# --- paged listing: pages fetched ahead while answers break ---------------------------------
# Pages of 5 items, each requested as soon as the one before arrived and parsed apart; with
# 30 % of the answers cut and garbled, the listing still yields every item once, in order.
TOOL="$top_builddir/tests/tools/aws_tool"
pages() { n=$1; shift; "$TOOL" -e "$URL" -r eu-central-1 -m 5 "$@" get-ipam-resource-cidrs "$PRIV" >"$TMP/$n.out" 2>"$TMP/$n.err"; }
pages pages-clean
curl -sf -X POST -d '{"faults": "malformed=0.3"}' "$URL/_control" >/dev/null
pages pages-broken -a 10
curl -sf -X POST -d '{"faults": ""}' "$URL/_control" >/dev/null
check "malformed=0.3 on a listing of 5-item pages: the same items in the same order" \
  sh -c "[ \$(grep -c '\"op\"' '$TMP/pages-clean.out') -gt 10 ] &&
         grep '\"op\"' '$TMP/pages-clean.out' >'$TMP/pages-clean.items' &&
         grep '\"op\"' '$TMP/pages-broken.out' | cmp -s - '$TMP/pages-clean.items'"
check "... through re-requested pages" \
  "$PYTHON3" -c 'import json,sys; s=json.loads(open(sys.argv[1]).read().splitlines()[-1])["summary"]; sys.exit(not (s["ok"] and s["retries"] > 0))' "$TMP/pages-broken.out"

# --- 21-27: bad files ---------------------------------------------------------------------
conf fileerr fileerr
# badfiles NAME EDIT: a copy of the dataset with EDIT applied in its inventory folder
badfiles() { rm -rf "$TMP/$1"; cp -r "$DATA" "$TMP/$1"; (cd "$TMP/$1/inventory" && eval "$2"); }
POOL_FILE=$(ls "$DATA/inventory/get-ipam-pool-cidrs" | head -n 1)
badfiles empty ": >describe-ipam-pools.json"
check_status 1 "an empty file: exit 1" collect empty --once -c "$TMP/fileerr.conf" --from-files "$TMP/empty"
check "... with an error naming the file" grep -q "error .*$TMP/empty/inventory/describe-ipam-pools.json" "$TMP/empty.err"
badfiles malformed "printf '{\"IpamPoolCidrs\": [ {\"Cidr\": ' >get-ipam-pool-cidrs/$POOL_FILE"
check_status 1 "a malformed JSON file: exit 1" collect malformed --once -c "$TMP/fileerr.conf" --from-files "$TMP/malformed"
check "... with an error naming the file and the position" \
  grep -q "error .*$TMP/malformed/inventory/get-ipam-pool-cidrs/$POOL_FILE: line [0-9]* column [0-9]*" "$TMP/malformed.err"
badfiles paged "$PYTHON3 -c 'import json; d=json.load(open(\"describe-ipam-scopes.json\")); d[\"NextToken\"]=\"eyJ2IjoxfQ==\"; json.dump(d, open(\"describe-ipam-scopes.json\", \"w\"))'"
check_status 1 "a file that still holds a NextToken: exit 1" collect paged --once -c "$TMP/fileerr.conf" --from-files "$TMP/paged"
check "... with an error naming the file and the NextToken" \
  grep -q "error .*$TMP/paged/inventory/describe-ipam-scopes.json: holds only one page (NextToken" "$TMP/paged.err"
conf nodisco nodisco
badfiles nodisco "rm -rf describe-ipam-resource-discoveries.json get-ipam-discovered-accounts"
collect nodisco --once -c "$TMP/nodisco.conf" --from-files "$TMP/nodisco"
check_status 0 "missing optional discovery files: exit 0" sh -c "exit $?"
check "... complete frames without discovered accounts" \
  sh -c "'$PYTHON3' '$CHECK' dump '$B' nodisco '$TMP/nodisco.jsonl' &&
         '$PYTHON3' '$CHECK' framing '$TMP/nodisco.jsonl' &&
         ! grep -q '\"type\": \"discovered_account\"' '$TMP/nodisco.jsonl'"

# --- 28-30: Kafka down at start -------------------------------------------------------------
DEAD=$("$PYTHON3" -c 'import socket; s=socket.socket(); s.bind(("127.0.0.1", 0)); print(s.getsockname()[1])')
start=$(date +%s)
check_status 1 "bootstrap at a closed port, message.timeout.ms=5000: exit 1" \
  collect dead --once -c "$TMP/api.conf" -X bootstrap.servers=127.0.0.1:$DEAD -X message.timeout.ms=5000
took=$(( $(date +%s) - start ))
check "... with 'not delivered' in the log" grep -q 'error inventory: pass .* incomplete after [0-9]* ms: [0-9]* of [0-9]* records not delivered' "$TMP/dead.err"
check "... and no hang beyond the timeout (took ${took}s)" test "$took" -le 12

# --- 31-34: SIGTERM in the middle of a slow pass --------------------------------------------
conf sigterm sigterm "$(cat "$TMP/port-mid")"
"$IPAMWATCH" collect --once -c "$TMP/sigterm.conf" --collector-id term >"$TMP/sigterm.out" 2>"$TMP/sigterm.err" &
COLLECT=$!
# Signal once two pages of the private scope's resource CIDRs were served: thousands of
# records are then queued or in flight.
MID=$(cat "$TMP/port-mid")
rcpages() { curl -sf "$MID/_stats" | "$PYTHON3" -c 'import json,sys; print(json.load(sys.stdin)["requests"].get("GetIpamResourceCidrs", 0))'; }
i=0
while [ "$(rcpages)" -lt 3 ] && [ $i -lt 300 ]; do sleep 0.1; i=$((i + 1)); done
kill -TERM $COLLECT
t0=$(date +%s%N)
wait $COLLECT
st=$?
ms=$(( ($(date +%s%N) - t0) / 1000000 ))
check_status 0 "SIGTERM during a pass: exit 0" sh -c "exit $st"
check "... promptly (${ms} ms)" test "$ms" -lt 3000
check "... logging the pass interrupted with what was delivered" \
  grep -q 'warn inventory: pass term-[0-9]* interrupted: [0-9]* of [0-9]* records delivered, 0 failed' "$TMP/sigterm.err"
TERM_PASS=$(sed -n 's/.*pass \(term-[0-9]*\) interrupted: \([0-9]*\) of.*/\1/p' "$TMP/sigterm.err")
TERM_N=$(sed -n 's/.*pass term-[0-9]* interrupted: \([0-9]*\) of.*/\1/p' "$TMP/sigterm.err")
check "nothing it logged as delivered is missing from the topic (${TERM_N:-?} records)" \
  sh -c "[ '${TERM_N:-0}' -gt 0 ] && '$PYTHON3' '$CHECK' dump '$B' sigterm '$TMP/sigterm.jsonl' &&
         '$PYTHON3' '$CHECK' atleast '$TMP/sigterm.jsonl' '$TERM_PASS' '$TERM_N'"

# --- 35-38: poll mode -----------------------------------------------------------------------
conf poll poll "$URL" "" "" 'poll_interval = 2s'
"$IPAMWATCH" collect -c "$TMP/poll.conf" --collector-id poller >"$TMP/poll.out" 2>"$TMP/poll.err" &
COLLECT=$!
i=0
while [ "$(grep -c 'pass poller-[0-9]* complete' "$TMP/poll.err")" -lt 2 ] && [ $i -lt 200 ]; do
  sleep 0.1; i=$((i + 1))
done
check "poll mode: two passes complete, poll_interval apart" \
  sh -c "[ \$(grep -c 'pass poller-[0-9]* complete' '$TMP/poll.err') -ge 2 ]"
kill -TERM $COLLECT
wait $COLLECT
check_status 0 "poll mode: SIGTERM stops it with exit 0" sh -c "exit $?"
check "poll mode: the topic holds two complete passes per scope" \
  sh -c "'$PYTHON3' '$CHECK' dump '$B' poll '$TMP/poll.jsonl' &&
         '$PYTHON3' '$CHECK' framing '$TMP/poll.jsonl' --passes 2"
check "poll mode: each pass matches the dataset's truth" \
  "$PYTHON3" "$CHECK" truth "$TMP/poll.jsonl" "$SMALL_TRUTH"

# --- 39-42: usage errors --------------------------------------------------------------------
conf embedded api "$URL"
check_status 2 "bootstrap.servers = embedded: exit 2" \
  collect embedded --once -c "$TMP/embedded.conf" -X bootstrap.servers=embedded
check "... with a clear error" grep -q 'embedded keeps data inside one process' "$TMP/embedded.err"
check_status 2 "collect without -c: exit 2" collect noconf --once
check "... with the usage on stderr" \
  sh -c "grep -q 'a configuration file is required' '$TMP/noconf.err' && grep -q '^usage: ipamwatch collect' '$TMP/noconf.err'"

# --- 43-45: hygiene -------------------------------------------------------------------------
check "no sanitizer report or crash in any run" sh -c "! grep -l 'Sanitizer\|runtime error\|Segmentation' '$TMP'/*.err"
check "no secret in any log" \
  sh -c "! grep -l -e '$AWS_SECRET_ACCESS_KEY' -e '$AWS_ACCESS_KEY_ID' '$TMP'/*.err"
check "the fake endpoint is still up (no request crashed it)" kill -0 "$FAKE"

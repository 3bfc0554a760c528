# The collector's AWS client against the AWS-shaped test endpoint: every credential source
# gets credentials the endpoint accepts (signatures checked by botocore there), pagination
# follows every page, and faults (throttling, 5xx, slow, truncated and malformed answers,
# expired tokens) end in a complete result or one precise error line, never a crash.
. "$top_srcdir/tests/integration/lib.sh"
need_python botocore
plan 31
TOOL="$top_builddir/tests/tools/aws_tool"
DATA="$top_srcdir/tests/data/aws/org-small"
bg "$PYTHON3" "$FA/fake_aws.py" --data "$DATA" --port-file "$TMP/port" --seed 11 \
  --log "$TMP/requests.log"
wait_for_file "$TMP/port" 30 || { echo "Bail out! fake_aws did not start"; exit 1; }
URL=$(cat "$TMP/port")

ADMIN_KEY=AKIAIPAMWATCHADMIN01
ADMIN_SECRET=adminSecretKey/For+The/Fake+Endpoint0001
APP_KEY=AKIAIPAMWATCHAPP0001
APP_SECRET=appSecretKey/For+The/Fake+Endpoint00002
WEB_TOKEN=$("$PYTHON3" -c 'import json,sys; print(json.load(open(sys.argv[1]))["web_identity_tokens"][0])' "$DATA/credentials.json")
CT_TOKEN=$("$PYTHON3" -c 'import json,sys; print(json.load(open(sys.argv[1]))["container_authorization_token"])' "$DATA/credentials.json")

# Nothing of the machine leaks in: own HOME, no AWS variables, no IMDS unless asked.
for v in $(env | sed -n 's/^\(AWS_[A-Z0-9_]*\)=.*/\1/p'); do unset "$v"; done
export HOME="$TMP/home" AWS_EC2_METADATA_DISABLED=true AWS_REGION=eu-central-1
export AWS_ENDPOINT_URL="$URL"
mkdir -p "$HOME/.aws"

truth() { "$PYTHON3" -c 'import json,sys; print(json.load(open(sys.argv[1]))[sys.argv[2]])' "$DATA/truth.json" "$1"; }
PRIV=$(truth private_scope_id)
PASS_ITEMS=$(( $(truth ipams) + $(truth scopes) + $(truth pools) + $(truth pool_cidrs) \
  + $(truth allocations) + $(truth resource_cidrs) + $(truth public_resource_cidrs) + 1 \
  + $(truth discovered_accounts) ))

# run NAME CMD...: runs CMD (the tool, possibly under env) with stdout in $TMP/NAME.out, stderr in $TMP/NAME.err
run() { n=$1; shift; "$@" >"$TMP/$n.out" 2>"$TMP/$n.err"; }
# summary NAME KEY: a value of the tool's summary line
summary() { "$PYTHON3" -c 'import json,sys; print(json.loads(open(sys.argv[1]).read().splitlines()[-1])["summary"][sys.argv[2]])' "$TMP/$1.out" "$2"; }
# field NAME PYEXPR: evaluates PYEXPR on the first line's JSON document `d`
field() { "$PYTHON3" -c 'import json,sys; d=json.loads(open(sys.argv[1]).readline()); print(eval(sys.argv[2]))' "$TMP/$1.out" "$2"; }
faults() { curl -sf -X POST -d "{\"faults\": \"$1\"}" "$URL/_control" >/dev/null; }
errlines() { grep -c ' error ' "$TMP/$1.err"; }

# 1-3: environment keys, a whole inventory pass, and pagination in small pages
export AWS_ACCESS_KEY_ID=$ADMIN_KEY AWS_SECRET_ACCESS_KEY=$ADMIN_SECRET
check "environment keys: a whole inventory pass succeeds" run pass "$TOOL" pass
check "the pass delivers every item of the dataset ($PASS_ITEMS)" test "$(summary pass items)" = "$PASS_ITEMS"
run page "$TOOL" -m 5 get-ipam-resource-cidrs "$PRIV"
check "MaxResults=5 follows every page of the private scope's resource CIDRs" \
  sh -c "[ $(summary page items) -eq $(truth resource_cidrs) ] && [ $(summary page requests) -ge $(( $(truth resource_cidrs) / 5 )) ]"

# 4-5: shared credentials file, profile named by AWS_PROFILE; [profile x] in config
cat >"$HOME/.aws/credentials" <<EOF
[app]
aws_access_key_id = $APP_KEY
aws_secret_access_key = $APP_SECRET
[admin]
aws_access_key_id = $ADMIN_KEY
aws_secret_access_key = $ADMIN_SECRET
EOF
cat >"$HOME/.aws/config" <<EOF
[profile app]
region = eu-west-1
[profile chained]
role_arn = arn:aws:iam::333333333333:role/ipamwatch-read
source_profile = admin
role_session_name = chain-test
[profile webid]
role_arn = arn:aws:iam::555555555555:role/ipamwatch-read
web_identity_token_file = $TMP/webid-token
EOF
printf '%s\n' "$WEB_TOKEN" >"$TMP/webid-token"
unset AWS_ACCESS_KEY_ID AWS_SECRET_ACCESS_KEY
run prof env AWS_PROFILE=app "$TOOL" caller-identity
check "profile from the shared credentials file signs as its account" test "$(field prof 'd["identity"]["account"]')" = 222222222222
run profcreds env AWS_PROFILE=app "$TOOL" creds
check "the source is named, with only the key's last 4 characters" \
  sh -c "grep -q '\"source\":\"profile app (credentials)\"' '$TMP/profcreds.out' && grep -q '\"key_suffix\":\"0001\"' '$TMP/profcreds.out' && ! grep -q '$APP_KEY' '$TMP/profcreds.out'"

# 6: role_arn + source_profile: AssumeRole signed by the source profile's keys
run chained "$TOOL" -p chained caller-identity
check "role_arn + source_profile assumes the role (account 333333333333)" \
  sh -c "grep -q 'assumed-role/ipamwatch-read/chain-test' '$TMP/chained.out' && grep -q '\"account\":\"333333333333\"' '$TMP/chained.out'"

# 7: web_identity_token_file in a profile
run webprof "$TOOL" -p webid caller-identity
check "web_identity_token_file in a profile (AssumeRoleWithWebIdentity)" test "$(field webprof 'd["identity"]["account"]')" = 555555555555

# 8: web identity from the environment, then an EC2 call
rm -f "$HOME/.aws/config" "$HOME/.aws/credentials"
run webenv env AWS_WEB_IDENTITY_TOKEN_FILE="$TMP/webid-token" \
  AWS_ROLE_ARN=arn:aws:iam::111111111111:role/ipamwatch-read AWS_ROLE_SESSION_NAME=irsa "$TOOL" describe-ipams
check "web identity from the environment: DescribeIpams accepted" test "$(summary webenv items)" = 1

# 9: container credentials with a token file
printf '%s\n' "$CT_TOKEN" >"$TMP/ct-token"
run container env AWS_CONTAINER_CREDENTIALS_FULL_URI="$URL/container-credentials" \
  AWS_CONTAINER_AUTHORIZATION_TOKEN_FILE="$TMP/ct-token" "$TOOL" describe-ipam-scopes
check "container credentials: DescribeIpamScopes accepted" test "$(summary container items)" = "$(truth scopes)"
# 10: and with the token in the environment, a wrong one refused cleanly
run containerbad env AWS_CONTAINER_CREDENTIALS_FULL_URI="$URL/container-credentials" \
  AWS_CONTAINER_AUTHORIZATION_TOKEN=wrong "$TOOL" describe-ipams
check "container credentials with a wrong token: exit 1, one error line" \
  sh -c "[ $(errlines containerbad) -eq 1 ] && grep -q 'container credentials' '$TMP/containerbad.err'"

# 11: IMDSv2
run imds env AWS_EC2_METADATA_DISABLED=false AWS_EC2_METADATA_SERVICE_ENDPOINT="$URL" "$TOOL" describe-ipam-pools
check "IMDSv2 (token, role, credentials): DescribeIpamPools accepted" test "$(summary imds items)" = "$(truth pools)"
curl -sf "$URL/_stats" >"$TMP/stats-imds.json"
check "IMDSv2: a session token was issued, no request went without it" \
  "$PYTHON3" -c 'import json,sys; o=json.load(open(sys.argv[1]))["by_operation"]["IMDS"]; sys.exit(not (o.get("token", 0) >= 1 and o.get("credentials", 0) >= 1 and not o.get("Unauthorized")))' "$TMP/stats-imds.json"

# 12-13: AssumeRole on top of the chain (with an external id), and a role in another account
export AWS_ACCESS_KEY_ID=$ADMIN_KEY AWS_SECRET_ACCESS_KEY=$ADMIN_SECRET
run ontop "$TOOL" -R arn:aws:iam::444444444444:role/ipamwatch-read -x ext-42 caller-identity
check "settings role_arn assumed on top of environment keys" test "$(field ontop 'd["identity"]["account"]')" = 444444444444
run ontopct "$TOOL" -R arn:aws:iam::222222222222:role/ipamwatch-read lookup-events
check "CloudTrail LookupEvents (JSON 1.1) signed with assumed-role credentials" test "$(summary ontopct ok)" = True

# 14-15: a client error is not retried and is reported with code, message and request id
run notfound "$TOOL" get-ipam-pool-allocations ipam-pool-0000000000000dead
check "an unknown pool fails after one request" test "$(summary notfound requests)" = 1
check "one precise error line: operation, AWS code, request id" \
  sh -c "[ $(errlines notfound) -eq 1 ] && grep -Eq 'ec2 GetIpamPoolAllocations: InvalidIpamPoolId.NotFound: .*\(request id [0-9a-f-]+\)' '$TMP/notfound.err'"

# 16-23: faults: every pass completes through retries, with the same items
for spec in throttle=0.3 error500=0.3 truncate=0.3 malformed=0.3; do
  faults "$spec"
  run "f-$spec" "$TOOL" -a 10 pass
  check "$spec: the pass completes with every item" test "$(summary "f-$spec" items)" = "$PASS_ITEMS"
  check "$spec: it needed retries" test "$(summary "f-$spec" retries)" -gt 0
done

# 24: slow answers beyond the request timeout are retried
faults "slow=3s@0.5"
run slow "$TOOL" -a 10 -t 1000 -m 5 describe-ipam-pools
check "slow answers: timeouts retried, all pools listed" \
  sh -c "[ $(summary slow items) -eq $(truth pools) ] && [ $(summary slow retries) -gt 0 ]"

# 25-26: expired session tokens: refreshed through STS and retried
faults "expire_tokens=0.3"
run expire "$TOOL" -a 10 -R arn:aws:iam::111111111111:role/ipamwatch-read pass
check "expired tokens: credentials refreshed and the pass completes" \
  sh -c "[ $(summary expire items) -eq $PASS_ITEMS ] && [ $(summary expire refreshes) -gt 0 ]"
faults "expire_tokens=1"
run expireall "$TOOL" -a 3 -R arn:aws:iam::111111111111:role/ipamwatch-read describe-ipams
check "tokens that always expire: a clean failure with one error line" \
  sh -c "[ $(summary expireall ok) = False ] && [ $(errlines expireall) -eq 1 ] && grep -Eq 'ExpiredToken|RequestExpired' '$TMP/expireall.err'"

# 27: throttling that never ends: a clean failure after the configured attempts
faults "throttle=1"
run throttled "$TOOL" -a 3 describe-ipams
check "throttled on every attempt: one error line naming RequestLimitExceeded and the attempts" \
  sh -c "[ $(errlines throttled) -eq 1 ] && grep -q 'RequestLimitExceeded.*after 3 attempts' '$TMP/throttled.err'"
faults ""

# 28-30: the endpoint saw no bad signature, nothing crashed, no secret reached a log
curl -sf "$URL/_stats" >"$TMP/stats.json"
check "the endpoint counted no signature failure" test "$("$PYTHON3" -c 'import json,sys; print(json.load(open(sys.argv[1]))["signature_failures"])' "$TMP/stats.json")" = 0
check "no sanitizer report or crash in any run" sh -c "! grep -l 'Sanitizer\|runtime error\|Segmentation' '$TMP'/*.err"
check "no secret or session token in any log" \
  sh -c "! grep -l -e '$ADMIN_SECRET' -e '$APP_SECRET' -e '$ADMIN_KEY' -e '$APP_KEY' -e '$CT_TOKEN' -e 'SessionToken' '$TMP'/*.err"

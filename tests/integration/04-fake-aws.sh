# The AWS-shaped test endpoint, seen through Debian's aws CLI v2: every IPAM operation pages
# and round-trips to the dataset files, signatures are enforced, faults and CloudTrail's rate
# limit show up as AWS reports them, and the credential endpoints answer as the SDKs expect.
. "$top_srcdir/tests/integration/lib.sh"
AWS=/usr/bin/aws
if [ ! -x "$AWS" ] || ! "$PYTHON3" -c 'import botocore' 2>/dev/null; then
  echo "1..0 # SKIP needs Debian's awscli and python3-botocore"
  exit 0
fi
plan 24
DATA=$TMP/data
NOW=2025-03-15T00:00:00Z
"$PYTHON3" "$FA/gen_dataset.py" --out "$DATA" --seed 7 --resource-cidrs 300 --allocations 2100 \
  --events 80 --now $NOW 2>/dev/null || { echo "Bail out! gen_dataset failed"; exit 1; }
bg "$PYTHON3" "$FA/fake_aws.py" --data "$DATA" --port-file "$TMP/port" --seed 7 --strict \
  --log "$TMP/requests.log"
wait_for_file "$TMP/port" 20 || { echo "Bail out! fake_aws did not start"; exit 1; }
URL=$(cat "$TMP/port")

# Nothing on the machine may leak into the CLI: no config, no profiles, no IMDS probing.
export HOME=$TMP/home AWS_CONFIG_FILE=$TMP/home/none AWS_SHARED_CREDENTIALS_FILE=$TMP/home/none
export AWS_EC2_METADATA_DISABLED=true AWS_PAGER="" AWS_DEFAULT_REGION=eu-central-1
export AWS_ACCESS_KEY_ID=AKIAIPAMWATCHADMIN01
export AWS_SECRET_ACCESS_KEY=adminSecretKey/For+The/Fake+Endpoint0001
unset AWS_SESSION_TOKEN AWS_PROFILE AWS_DEFAULT_PROFILE AWS_ROLE_ARN AWS_WEB_IDENTITY_TOKEN_FILE \
  AWS_CONTAINER_CREDENTIALS_FULL_URI AWS_CONTAINER_CREDENTIALS_RELATIVE_URI
mkdir -p "$HOME"
T=$(printf '%s' "$DATA/truth.json")
truth() { "$PYTHON3" -c 'import json,sys; print(json.load(open(sys.argv[1]))[sys.argv[2]])' "$T" "$1"; }
PRIV=$(truth private_scope_id)
PUB=$(truth public_scope_id)
DISCO=$(truth resource_discovery_id)
INV=$DATA/inventory
aws_() { "$AWS" --endpoint-url "$URL" --output json "$@"; }
# same FILE1 FILE2 [KEY REGION]: the CLI's JSON equals the dataset file (optionally only the
# items of one DiscoveryRegion)
same() {
  "$PYTHON3" - "$@" <<'EOF'
import json, sys
got = json.load(open(sys.argv[1]))
want = json.load(open(sys.argv[2]))
if len(sys.argv) > 3:
    key, region = sys.argv[3], sys.argv[4]
    want = {key: [i for i in want[key] if i["DiscoveryRegion"] == region]}
got.pop("NextToken", None)
if got != want:
    k = next(iter(want))
    print("# %s: %d items from the CLI, %d in the dataset" % (k, len(got.get(k, [])), len(want[k])))
    sys.exit(1)
EOF
}

# 1-5: the account-wide lists, a few items per page
aws_ ec2 describe-ipams --page-size 5 >"$TMP/ipams.json"
check "describe-ipams round-trips" same "$TMP/ipams.json" "$INV/describe-ipams.json"
aws_ ec2 describe-ipam-scopes --page-size 5 >"$TMP/scopes.json"
check "describe-ipam-scopes round-trips" same "$TMP/scopes.json" "$INV/describe-ipam-scopes.json"
aws_ ec2 describe-ipam-pools --page-size 5 >"$TMP/pools.json"
check "describe-ipam-pools round-trips over several pages" same "$TMP/pools.json" "$INV/describe-ipam-pools.json"
aws_ ec2 describe-ipam-resource-discoveries --page-size 5 >"$TMP/disco.json"
check "describe-ipam-resource-discoveries round-trips" same "$TMP/disco.json" \
  "$INV/describe-ipam-resource-discoveries.json"
for r in eu-central-1 eu-west-1; do
  aws_ ec2 get-ipam-discovered-accounts --ipam-resource-discovery-id "$DISCO" --discovery-region $r \
    --page-size 5 >"$TMP/acct-$r.json"
done
check "get-ipam-discovered-accounts round-trips per discovery Region" sh -c "
  $(declare -f same); PYTHON3='$PYTHON3'
  same '$TMP/acct-eu-central-1.json' '$INV/get-ipam-discovered-accounts/$DISCO.json' IpamDiscoveredAccounts eu-central-1 &&
  same '$TMP/acct-eu-west-1.json' '$INV/get-ipam-discovered-accounts/$DISCO.json' IpamDiscoveredAccounts eu-west-1"

# 6-8: per pool and per scope, in parallel (the CLI starts slowly); allocations are asked for in
# the pool's locale Region, as AWS wants.
"$PYTHON3" -c '
import json, sys
for p in json.load(open(sys.argv[1]))["IpamPools"]:
    loc = p["Locale"] if p["Locale"] != "None" else "eu-central-1"
    print(p["IpamPoolId"], loc)' "$INV/describe-ipam-pools.json" >"$TMP/pool-list"
mkdir -p "$TMP/cidrs" "$TMP/allocs"
export URL TMP AWS
xargs -P 4 -n 2 sh -c '"$AWS" --endpoint-url "$URL" ec2 get-ipam-pool-cidrs --ipam-pool-id "$0" --page-size 5 \
  >"$TMP/cidrs/$0.json" && "$AWS" --endpoint-url "$URL" --region "$1" ec2 get-ipam-pool-allocations \
  --ipam-pool-id "$0" --page-size 1000 >"$TMP/allocs/$0.json"' <"$TMP/pool-list"
bad=0
while read -r pid _; do
  same "$TMP/cidrs/$pid.json" "$INV/get-ipam-pool-cidrs/$pid.json" || bad=$((bad + 1))
done <"$TMP/pool-list"
check "get-ipam-pool-cidrs round-trips for every pool ($bad differ)" test $bad -eq 0
bad=0
while read -r pid _; do
  same "$TMP/allocs/$pid.json" "$INV/get-ipam-pool-allocations/$pid.json" || bad=$((bad + 1))
done <"$TMP/pool-list"
check "get-ipam-pool-allocations round-trips for every pool, >1000 items paged ($bad differ)" test $bad -eq 0
aws_ ec2 get-ipam-resource-cidrs --ipam-scope-id "$PRIV" --page-size 100 >"$TMP/rc-priv.json" &
aws_ ec2 get-ipam-resource-cidrs --ipam-scope-id "$PUB" --page-size 5 >"$TMP/rc-pub.json"
wait $!
check "get-ipam-resource-cidrs round-trips for both scopes" sh -c "
  $(declare -f same); PYTHON3='$PYTHON3'
  same '$TMP/rc-priv.json' '$INV/get-ipam-resource-cidrs/$PRIV.json' &&
  same '$TMP/rc-pub.json' '$INV/get-ipam-resource-cidrs/$PUB.json'"

# 9: pagination actually happened (several pages per operation, in the locale Regions)
check "operations were paged and allocations asked in locale Regions" "$PYTHON3" -c '
import json, sys, urllib.request
s = json.load(urllib.request.urlopen(sys.argv[1] + "/_stats"))
r = s["requests"]
ok = r["DescribeIpamPools"] >= 3 and r["GetIpamResourceCidrs"] >= 6 and r["GetIpamPoolAllocations"] > 14
ok = ok and s["regions"]["GetIpamPoolAllocations"].get("eu-west-1", 0) > 0
ok = ok and s["signature_failures"] == 0 and set(s["outcomes"]) == {"ok"}
print("# requests", r, "outcomes", s["outcomes"])
sys.exit(0 if ok else 1)' "$URL"

# 10-11: a wrong secret is rejected the way AWS does it
AWS_SECRET_ACCESS_KEY=wrongSecretKey/For+The/Fake+Endpoint00001 aws_ ec2 describe-ipams \
  >/dev/null 2>"$TMP/badsig.err"
rc=$?
check "a request signed with a wrong secret fails (aws exit $rc, want 254)" test $rc -eq 254
check "... with SignatureDoesNotMatch" grep -q SignatureDoesNotMatch "$TMP/badsig.err"

# 12: throttling fault -> RequestLimitExceeded (HTTP 503) once the CLI gives up
curl -sf -X POST -d '{"faults": "throttle=1"}' "$URL/_control" >/dev/null
AWS_MAX_ATTEMPTS=1 aws_ ec2 describe-ipam-pools >/dev/null 2>"$TMP/throttle.err"
rc=$?
curl -sf -X POST -d '{"faults": ""}' "$URL/_control" >/dev/null
check "throttle fault answers RequestLimitExceeded (exit $rc)" sh -c \
  "[ $rc -eq 254 ] && grep -q RequestLimitExceeded '$TMP/throttle.err'"

# 13: CloudTrail newest first within StartTime/EndTime, over several pages
START=2025-03-01T00:00:00Z
END=2025-03-12T00:00:00Z
AWS_MAX_ATTEMPTS=10 aws_ cloudtrail lookup-events --start-time $START --end-time $END --page-size 3 \
  >"$TMP/events.json" 2>"$TMP/events.err"
check "lookup-events pages newest first within the window" "$PYTHON3" - "$TMP/events.json" \
  "$DATA/cloudtrail/111111111111/eu-central-1.json" $START $END <<'EOF'
import datetime, json, sys
got = json.load(open(sys.argv[1]))["Events"]
ts = lambda s: datetime.datetime.fromisoformat(s.replace("Z", "+00:00")).timestamp()
lo, hi = ts(sys.argv[3]), ts(sys.argv[4])
want = [e for e in json.load(open(sys.argv[2]))["Events"] if lo <= ts(e["EventTime"]) <= hi]
want.sort(key=lambda e: (-ts(e["EventTime"]), e["EventId"]))
print("# %d events in the window" % len(want))
sys.exit(0 if got == want and len(want) > 3 else 1)
EOF

# 14-15: a burst of LookupEvents above 2/s is throttled and counted (curl signs SigV4 itself)
curl -sf -X POST "$URL/_reset" >/dev/null
for i in 1 2 3 4 5 6; do
  curl -s -X POST "$URL/" --aws-sigv4 "aws:amz:eu-west-1:cloudtrail" \
    --user "$AWS_ACCESS_KEY_ID:$AWS_SECRET_ACCESS_KEY" -H 'Content-Type: application/x-amz-json-1.1' \
    -H 'X-Amz-Target: com.amazonaws.cloudtrail.v20131101.CloudTrail_20131101.LookupEvents' \
    -d '{"MaxResults":5}' >"$TMP/burst-$i.json"
done
check "a burst above 2 requests/s gets ThrottlingException" sh -c "cat '$TMP'/burst-*.json | grep -q ThrottlingException"
check "/_stats counts the throttled requests and the peak rate" "$PYTHON3" -c '
import json, sys, urllib.request
c = json.load(urllib.request.urlopen(sys.argv[1] + "/_stats"))["cloudtrail"]
k = "111111111111/eu-west-1"
print("# cloudtrail", c)
sys.exit(0 if c["throttled"].get(k, 0) >= 1 and c["max_per_second"].get(k, 0) >= 3 else 1)' "$URL"

# 16-18: IMDSv2
tok=$(curl -sf -X PUT -H 'X-aws-ec2-metadata-token-ttl-seconds: 60' "$URL/latest/api/token")
check "IMDSv2 hands out a session token" test -n "$tok"
code=$(curl -s -o /dev/null -w '%{http_code}' "$URL/latest/meta-data/iam/security-credentials/")
check "IMDS answers 401 without the token" test "$code" = 401
role=$(curl -sf -H "X-aws-ec2-metadata-token: $tok" "$URL/latest/meta-data/iam/security-credentials/")
curl -sf -H "X-aws-ec2-metadata-token: $tok" "$URL/latest/meta-data/iam/security-credentials/$role" \
  >"$TMP/imds.json"
check "IMDS role $role yields credentials with Code Success" "$PYTHON3" -c '
import json, sys
d = json.load(open(sys.argv[1]))
sys.exit(0 if d["Code"] == "Success" and d["AccessKeyId"].startswith("ASIA") and d["Token"] else 1)' "$TMP/imds.json"

# 19-20: container credentials
curl -sf -H 'Authorization: ipamwatch-container-token-0001' "$URL/container-credentials" >"$TMP/ecs.json"
check "container endpoint returns credentials for the right token" "$PYTHON3" -c '
import json, sys
d = json.load(open(sys.argv[1]))
sys.exit(0 if set(["AccessKeyId", "SecretAccessKey", "Token", "Expiration"]) <= set(d) else 1)' "$TMP/ecs.json"
code=$(curl -s -o /dev/null -w '%{http_code}' -H 'Authorization: wrong' "$URL/container-credentials")
check "container endpoint refuses a wrong token ($code)" test "$code" = 403

# 21-24: issued credentials are accepted; AssumeRole lands in the role's account
creds() { "$PYTHON3" -c 'import json,sys; d=json.load(open(sys.argv[1])); d=d.get("Credentials", d)
print(d.get("AccessKeyId"), d.get("SecretAccessKey"), d.get("SessionToken") or d.get("Token"))' "$1"; }
set -- $(creds "$TMP/imds.json")
AWS_ACCESS_KEY_ID=$1 AWS_SECRET_ACCESS_KEY=$2 AWS_SESSION_TOKEN=$3 aws_ ec2 describe-ipams >"$TMP/imds-ipams.json"
check "IMDS credentials are accepted by EC2" same "$TMP/imds-ipams.json" "$INV/describe-ipams.json"
aws_ sts assume-role --role-arn arn:aws:iam::222222222222:role/ipamwatch-read \
  --role-session-name ipamwatch-test >"$TMP/assumed.json"
set -- $(creds "$TMP/assumed.json")
AWS_ACCESS_KEY_ID=$1 AWS_SECRET_ACCESS_KEY=$2 AWS_SESSION_TOKEN=$3 aws_ sts get-caller-identity \
  >"$TMP/whoami.json"
check "AssumeRole credentials are accepted and belong to the role's account" \
  grep -q '"Account": "222222222222"' "$TMP/whoami.json"
AWS_ACCESS_KEY_ID=$1 AWS_SECRET_ACCESS_KEY=$2 AWS_SESSION_TOKEN=wrong-token aws_ sts get-caller-identity \
  >/dev/null 2>"$TMP/badtok.err"
check "a session key with a wrong token is refused" grep -q InvalidClientTokenId "$TMP/badtok.err"
aws_ sts assume-role-with-web-identity --role-arn arn:aws:iam::111111111111:role/ipamwatch-read \
  --role-session-name web --web-identity-token "$("$PYTHON3" -c 'import json,sys; print(json.load(open(sys.argv[1]))["web_identity_tokens"][0])' "$DATA/credentials.json")" \
  >"$TMP/web.json" 2>"$TMP/web.err"
check "AssumeRoleWithWebIdentity (unsigned) returns credentials" grep -q '"SessionToken"' "$TMP/web.json"

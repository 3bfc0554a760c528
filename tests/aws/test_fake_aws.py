#!/usr/bin/python3
"""Validation of the AWS-shaped test endpoint: every response it emits is checked against
botocore's models (strict walk), parsed with botocore's own parsers and compared with the
dataset; errors, authentication, faults and determinism are exercised. Prints TAP."""

import datetime
import http.client
import json
import os
import shutil
import subprocess
import sys
import tempfile
import time
import urllib.parse

HERE = os.path.dirname(os.path.abspath(__file__))
sys.path.insert(0, HERE)

from botocore.auth import SigV4Auth  # noqa: E402
from botocore.awsrequest import AWSRequest  # noqa: E402
from botocore.credentials import Credentials  # noqa: E402
from botocore.parsers import create_parser  # noqa: E402

import aws_model  # noqa: E402
import dataset  # noqa: E402

N = 0
FAILED = 0
ADMIN = ("AKIAIPAMWATCHADMIN01", "adminSecretKey/For+The/Fake+Endpoint0001", None)


def ok(cond, desc, detail=""):
    global N, FAILED
    N += 1
    if cond:
        print("ok %d - %s" % (N, desc))
    else:
        FAILED += 1
        print("not ok %d - %s" % (N, desc))
        if detail:
            for line in str(detail).splitlines()[:10]:
                print("# " + line)
    sys.stdout.flush()


def raises(fn, exc):
    try:
        fn()
    except exc as e:
        return str(e) or True
    return False


class Client:
    def __init__(self, url):
        u = urllib.parse.urlsplit(url)
        self.host, self.port = u.hostname, u.port
        self.url = url

    def raw(self, method, path, body=b"", headers=None):
        c = http.client.HTTPConnection(self.host, self.port, timeout=30)
        c.request(method, path, body=body, headers=headers or {})
        r = c.getresponse()
        data = r.read()
        c.close()
        return r.status, dict(r.getheaders()), data

    def signed(self, service, region, body, headers, creds=ADMIN, when=None):
        req = AWSRequest(method="POST", url=self.url + "/", data=body, headers=headers)
        signer = SigV4Auth(Credentials(*creds), service, region)
        when = when or datetime.datetime.utcnow()
        req.context["timestamp"] = when.strftime("%Y%m%dT%H%M%SZ")
        signer._modify_request_before_signing(req)
        cr = signer.canonical_request(req)
        sig = signer.signature(signer.string_to_sign(req, cr), req)
        signer._inject_signature_to_request(req, sig)
        hdrs = dict(req.headers.items())
        return self.raw("POST", "/", body, hdrs)

    def ec2(self, params, region="eu-central-1", creds=ADMIN, when=None):
        p = {"Version": "2016-11-15"}
        p.update(params)
        body = urllib.parse.urlencode(p).encode()
        return self.signed(
            "ec2", region, body, {"Content-Type": "application/x-www-form-urlencoded; charset=utf-8"}, creds, when
        )

    def sts(self, params, creds=ADMIN, signed=True):
        p = {"Version": "2011-06-15"}
        p.update(params)
        body = urllib.parse.urlencode(p).encode()
        h = {"Content-Type": "application/x-www-form-urlencoded; charset=utf-8"}
        if not signed:
            return self.raw("POST", "/", body, h)
        return self.signed("sts", "eu-central-1", body, h, creds)

    def lookup(self, req, region="eu-central-1", creds=ADMIN):
        return self.signed(
            "cloudtrail",
            region,
            json.dumps(req).encode(),
            {"Content-Type": "application/x-amz-json-1.1", "X-Amz-Target": "com.amazonaws.cloudtrail.v20131101.CloudTrail_20131101.LookupEvents"},
            creds,
        )

    def control(self, faults):
        return self.raw("POST", "/_control", json.dumps({"faults": faults}).encode())

    def stats(self):
        return json.loads(self.raw("GET", "/_stats")[2])


def start(data, tmp, name, *extra):
    port = os.path.join(tmp, name + ".port")
    p = subprocess.Popen(
        [sys.executable, os.path.join(HERE, "fake_aws.py"), "--data", data, "--port-file", port] + list(extra),
        stdout=subprocess.DEVNULL,
    )
    for _ in range(200):
        if os.path.exists(port):
            with open(port) as f:
                return p, Client(f.read().strip())
        if p.poll() is not None:
            break
        time.sleep(0.05)
    raise RuntimeError("fake_aws did not start")


def parse_ec2(op, status, headers, body):
    opm = aws_model.model("ec2").operation_model(op)
    return create_parser("ec2").parse({"status_code": status, "headers": headers, "body": body}, opm.output_shape)


def page_all(cli, op, params, result_key, region="eu-central-1", size=5):
    """All items of op through pages of size; every page is strictly checked."""
    items, token, pages = [], None, 0
    while True:
        p = dict(params, Action=op, MaxResults=str(size))
        if token:
            p["NextToken"] = token
        st, hd, body = cli.ec2(p, region)
        if st != 200:
            raise AssertionError("%s: HTTP %d %s" % (op, st, body[:300]))
        aws_model.check_ec2_response(op, body)
        doc = parse_ec2(op, st, hd, body)
        items.extend(doc.get(result_key, []))
        pages += 1
        token = doc.get("NextToken")
        if not token:
            return items, pages


def normalise(items):
    """botocore returns datetimes; the CLI files hold ISO strings."""
    def fix(v):
        if isinstance(v, datetime.datetime):
            return aws_model.cli_timestamp(v)
        if isinstance(v, dict):
            return {k: fix(x) for k, x in v.items()}
        if isinstance(v, list):
            return [fix(x) for x in v]
        return v
    return fix(items)


def main():
    tmp = tempfile.mkdtemp(prefix="fake-aws-test.")
    procs = []
    try:
        run(tmp, procs)
    finally:
        for p in procs:
            p.terminate()
            p.wait(10)
        shutil.rmtree(tmp, ignore_errors=True)
    print("1..%d" % N)
    return 1 if FAILED else 0


def run(tmp, procs):
    data = os.path.join(tmp, "data")
    subprocess.check_call(
        [sys.executable, os.path.join(HERE, "gen_dataset.py"), "--out", data, "--seed", "3", "--resource-cidrs", "120",
         "--allocations", "1100", "--events", "40", "--now", "2025-03-15T00:00:00Z"],
        stderr=subprocess.DEVNULL,
    )
    truth = json.load(open(os.path.join(data, "truth.json")))
    inv = os.path.join(data, "inventory")
    p, cli = start(data, tmp, "a", "--seed", "5", "--strict")
    procs.append(p)

    # Every operation, paged, strictly checked, parsed by botocore and equal to the dataset.
    pools = json.load(open(os.path.join(inv, "describe-ipam-pools.json")))["IpamPools"]
    cases = [
        ("DescribeIpams", {}, "describe-ipams.json"),
        ("DescribeIpamScopes", {}, "describe-ipam-scopes.json"),
        ("DescribeIpamPools", {}, "describe-ipam-pools.json"),
        ("DescribeIpamResourceDiscoveries", {}, "describe-ipam-resource-discoveries.json"),
        ("DescribeIpamResourceDiscoveryAssociations", {}, "describe-ipam-resource-discovery-associations.json"),
        ("GetIpamResourceCidrs", {"IpamScopeId": truth["private_scope_id"]},
         "get-ipam-resource-cidrs/%s.json" % truth["private_scope_id"]),
        ("GetIpamResourceCidrs", {"IpamScopeId": truth["public_scope_id"]},
         "get-ipam-resource-cidrs/%s.json" % truth["public_scope_id"]),
    ]
    for op, params, fname in cases:
        key = dataset.EC2_LISTS[op][1]
        want = json.load(open(os.path.join(inv, fname)))[key]
        try:
            got, pages = page_all(cli, op, params, key)
            ok(normalise(got) == want and (pages > 1 or len(want) <= 5),
               "%s %s: %d items in %d strictly valid pages equal the dataset" % (op, list(params.values()), len(got), pages))
        except (AssertionError, aws_model.XmlDrift) as e:
            ok(False, "%s pages" % op, e)
    bad = []
    for pool in pools:
        pid = pool["IpamPoolId"]
        region = pool["Locale"] if pool["Locale"] != "None" else "eu-central-1"
        for op, size, fname in (("GetIpamPoolCidrs", 5, "get-ipam-pool-cidrs"),
                                ("GetIpamPoolAllocations", 1000, "get-ipam-pool-allocations")):
            key = dataset.EC2_LISTS[op][1]
            want = json.load(open(os.path.join(inv, fname, pid + ".json")))[key]
            try:
                # Pool CIDRs live in the home Region, allocations in the pool's locale.
                where = region if op == "GetIpamPoolAllocations" else "eu-central-1"
                got, _ = page_all(cli, op, {"IpamPoolId": pid}, key, where, size)
                if normalise(got) != want:
                    bad.append((op, pid))
            except (AssertionError, aws_model.XmlDrift) as e:
                bad.append((op, pid, str(e)))
    ok(not bad, "GetIpamPoolCidrs and GetIpamPoolAllocations of all %d pools are valid and complete" % len(pools), bad)
    accounts = []
    for region in ("eu-central-1", "eu-west-1"):
        got, _ = page_all(cli, "GetIpamDiscoveredAccounts",
                          {"IpamResourceDiscoveryId": truth["resource_discovery_id"], "DiscoveryRegion": region},
                          "IpamDiscoveredAccounts")
        accounts += normalise(got)
    want = json.load(open(os.path.join(inv, "get-ipam-discovered-accounts", truth["resource_discovery_id"] + ".json")))
    ok(accounts == want["IpamDiscoveredAccounts"], "GetIpamDiscoveredAccounts per Region equals the dataset")

    # Filters and request parameters select like EC2.
    vpcs, _ = page_all(cli, "GetIpamResourceCidrs", {"IpamScopeId": truth["private_scope_id"], "ResourceType": "vpc"},
                       "IpamResourceCidrs", size=1000)
    ok(len(vpcs) == truth["resource_cidrs_by_type"]["vpc"] and all(v["ResourceType"] == "vpc" for v in vpcs),
       "ResourceType=vpc returns exactly the %d VPCs" % truth["resource_cidrs_by_type"]["vpc"])
    over, _ = page_all(cli, "GetIpamResourceCidrs", {"IpamScopeId": truth["private_scope_id"],
                                                     "Filter.1.Name": "overlap-status", "Filter.1.Value.1": "overlapping"},
                       "IpamResourceCidrs", size=1000)
    ok(len(over) == 2, "the overlap-status filter finds the one overlapping pair", len(over))
    regional, _ = page_all(cli, "DescribeIpamPools", {"Filter.1.Name": "locale", "Filter.1.Value.1": "eu-west-*"},
                           "IpamPools")
    ok(regional and all(x["Locale"] == "eu-west-1" for x in regional), "wildcard filter on locale")

    # The strict checker rejects what botocore's parser would swallow.
    st, hd, page = cli.ec2({"Action": "DescribeIpamPools", "MaxResults": "5"})
    drifts = {
        "unknown element": page.replace(b"<poolDepth>", b"<poolDeepth>", 1).replace(b"</poolDepth>", b"</poolDeepth>", 1),
        "list without <item>": page.replace(b"<item>", b"<member>", 1).replace(b"</item>", b"</member>", 1),
        "non-integer": page.replace(b"<poolDepth>1<", b"<poolDepth>one<", 1),
        "unknown enum": page.replace(b"<state>create-complete<", b"<state>created<", 1),
        "bad boolean": page.replace(b"<autoImport>false<", b"<autoImport>no<", 1),
        "wrong root": page.replace(b"DescribeIpamPoolsResponse", b"DescribeIpamsResponse"),
        "missing requestId": page.replace(b"<requestId>", b"<requestID>", 1).replace(b"</requestId>", b"</requestID>", 1),
        "repeated member": page.replace(b"<poolDepth>", b"<locale>x</locale><poolDepth>", 1),
    }
    caught = [k for k, v in drifts.items() if v != page and raises(lambda v=v: aws_model.check_ec2_response("DescribeIpamPools", v), aws_model.XmlDrift)]
    ok(sorted(caught) == sorted(drifts), "the strict check catches every kind of drift", set(drifts) - set(caught))
    parsed = parse_ec2("DescribeIpamPools", 200, {}, drifts["unknown element"])
    ok("PoolDepth" not in parsed["IpamPools"][0], "(botocore alone drops the misspelt element silently)")

    # Errors in EC2's envelope with the right status.
    def ec2_err(params, region="eu-central-1", creds=ADMIN, when=None):
        st, _, body = cli.ec2(params, region, creds, when)
        code, _ = aws_model.check_ec2_error(body)
        return st, code

    pid = pools[0]["IpamPoolId"]
    table = [
        ({"Action": "DescribeIpamPools", "NextToken": "bm90LWEtdG9rZW4="}, (400, "InvalidPaginationToken")),
        ({"Action": "DescribeIpamPools", "MaxResults": "4"}, (400, "InvalidParameterValue")),
        ({"Action": "GetIpamPoolAllocations", "IpamPoolId": pid, "MaxResults": "5"}, (400, "InvalidParameterValue")),
        ({"Action": "GetIpamPoolCidrs", "IpamPoolId": "ipam-pool-00000000000000000"}, (400, "InvalidIpamPoolId.NotFound")),
        ({"Action": "GetIpamPoolCidrs"}, (400, "MissingParameter")),
        ({"Action": "DescribeIpamPools", "PoolIds.1": pid}, (400, "UnknownParameter")),
        ({"Action": "DescribeIpamPools", "Filter.1.Name": "no-such-field", "Filter.1.Value.1": "x"}, (400, "InvalidParameterValue")),
        ({"Action": "DescribeIpamPools", "DryRun": "true"}, (412, "DryRunOperation")),
        ({"Action": "TerminateInstances"}, (400, "InvalidAction")),
    ]
    got = [ec2_err(p) for p, _ in table]
    ok(got == [w for _, w in table], "EC2 client errors carry AWS's codes and statuses", list(zip(got, [w for _, w in table])))
    # A token is bound to the other parameters of its request.
    st, hd, body = cli.ec2({"Action": "GetIpamResourceCidrs", "IpamScopeId": truth["private_scope_id"], "MaxResults": "5"})
    tok = parse_ec2("GetIpamResourceCidrs", st, hd, body)["NextToken"]
    ok(ec2_err({"Action": "GetIpamResourceCidrs", "IpamScopeId": truth["private_scope_id"], "ResourceType": "vpc",
                "NextToken": tok}) == (400, "InvalidPaginationToken"), "a NextToken is refused with other parameters")

    # Authentication.
    auth = [
        (dict(creds=("AKIANOSUCHKEY0000000", "x" * 40, None)), (401, "AuthFailure")),
        (dict(creds=(ADMIN[0], "wrong" * 8, None)), (403, "SignatureDoesNotMatch")),
        (dict(creds=("ASIAIPAMWATCHEXPIRED", "expiredSecret/For+The/Fake+Endpoint004", "IQoJb3JpZ2luX2VjEExpiredToken")),
         (400, "RequestExpired")),
        (dict(when=datetime.datetime.utcnow() - datetime.timedelta(minutes=20)), (400, "RequestExpired")),
    ]
    got = [ec2_err({"Action": "DescribeIpams"}, **kw) for kw, _ in auth]
    ok(got == [w for _, w in auth], "unknown key, bad signature, expired session and a 20-minute skew are refused", got)
    st, _, body = cli.ec2({"Action": "DescribeIpams"}, creds=("ASIAIPAMWATCHSESSION", "sessionSecret/For+The/Fake+Endpoint003",
                                                             "IQoJb3JpZ2luX2VjEFakeSessionToken+/="))
    ok(st == 200, "a static session key with its token is accepted")
    st, hd, body = cli.ec2({"Action": "DescribeIpamPools"}, region="eu-west-1")
    ok(st == 200 and parse_ec2("DescribeIpamPools", st, hd, body).get("IpamPools") == [],
       "IPAM lists are empty outside the home Region")
    st, hd, body = cli.ec2({"Action": "DescribeIpamPools"},
                           creds=("AKIAIPAMWATCHAPP0001", "appSecretKey/For+The/Fake+Endpoint00002", None))
    ok(st == 200 and parse_ec2("DescribeIpamPools", st, hd, body).get("IpamPools") == [],
       "an application account does not see the delegated admin's IPAM")
    st, hd, body = cli.ec2({"Action": "GetIpamPoolAllocations", "IpamPoolId": pools[-1]["IpamPoolId"]}, region="us-east-1")
    ok((st, aws_model.check_ec2_error(body)[0]) == (400, "InvalidIpamPoolId.NotFound"),
       "allocations are not found outside the pool's locale and home Regions")

    # STS, strictly checked.
    st, _, body = cli.sts({"Action": "AssumeRole", "RoleArn": "arn:aws:iam::333333333333:role/ipamwatch-read",
                           "RoleSessionName": "collector"})
    try:
        aws_model.check_sts_response("AssumeRole", body)
        resp = create_parser("query").parse({"status_code": st, "headers": {}, "body": body},
                                            aws_model.model("sts").operation_model("AssumeRole").output_shape)
        c = resp["Credentials"]
        ok(st == 200 and c["AccessKeyId"].startswith("ASIA"), "AssumeRole answers a strictly valid STS document")
    except aws_model.XmlDrift as e:
        ok(False, "AssumeRole document", e)
        c = None
    if c:
        role = (c["AccessKeyId"], c["SecretAccessKey"], c["SessionToken"])
        st, _, body = cli.sts({"Action": "GetCallerIdentity"}, creds=role)
        aws_model.check_sts_response("GetCallerIdentity", body)
        ok(st == 200 and b"<Account>333333333333</Account>" in body, "assumed credentials act in the role's account")
        st, _, body = cli.lookup({"MaxResults": 5}, creds=role)
        ok(st == 200, "assumed credentials are accepted by CloudTrail")
    st, _, body = cli.sts({"Action": "AssumeRole", "RoleArn": "arn:aws:iam::999999999999:role/nope", "RoleSessionName": "x1"})
    ok((st, aws_model.check_sts_error(body)[0]) == (403, "AccessDenied"), "AssumeRole of an unknown role: AccessDenied")
    st, _, body = cli.sts({"Action": "GetCallerIdentity"}, creds=(ADMIN[0], "bad" * 10, None))
    ok((st, aws_model.check_sts_error(body)[0]) == (403, "SignatureDoesNotMatch"), "STS signature errors use STS's envelope")
    st, _, body = cli.sts({"Action": "AssumeRoleWithWebIdentity", "RoleArn": "arn:aws:iam::111111111111:role/ipamwatch-read",
                           "RoleSessionName": "web", "WebIdentityToken": "forged"}, signed=False)
    ok((st, aws_model.check_sts_error(body)[0]) == (400, "InvalidIdentityToken"), "a forged web identity token is refused")

    # CloudTrail.
    st, hd, body = cli.lookup({"StartTime": 1738368000, "EndTime": 1742000000, "MaxResults": 50}, region="eu-central-1")
    doc = json.loads(body)
    try:
        n = aws_model.check_cloudtrail_lookup(doc)
        times = [e["EventTime"] for e in doc["Events"]]
        ok(st == 200 and n > 0 and times == sorted(times, reverse=True) and "x-amzn-RequestId" in hd,
           "LookupEvents is model-valid, epoch times, newest first (%d events)" % n)
    except aws_model.XmlDrift as e:
        ok(False, "LookupEvents document", e)
    time.sleep(1.1)
    st, _, body = cli.lookup({"LookupAttributes": [{"AttributeKey": "Color", "AttributeValue": "x"}]})
    ok(st == 400 and json.loads(body)["__type"] == "InvalidLookupAttributesException", "unknown lookup attribute refused")
    time.sleep(1.1)
    st, _, body = cli.lookup({"LookupAttributes": [{"AttributeKey": "EventName", "AttributeValue": "AllocateIpamPoolCidr"}],
                              "StartTime": 0, "EndTime": 1742000000}, region="eu-central-1")
    evs = json.loads(body).get("Events", [])
    ok(st == 200 and evs and all(e["EventName"] == "AllocateIpamPoolCidr" for e in evs), "EventName lookup attribute filters")

    # Faults.
    cli.control("malformed=1")
    st, _, body = cli.ec2({"Action": "DescribeIpams"})
    ok(st == 200 and raises(lambda: aws_model.check_ec2_response("DescribeIpams", body), aws_model.XmlDrift),
       "malformed fault sends a broken document")
    cli.control("truncate=1")
    ok(raises(lambda: cli.ec2({"Action": "DescribeIpams"}), http.client.IncompleteRead), "truncate fault cuts the body short")
    cli.control("error500=1")
    ok(ec2_err({"Action": "DescribeIpams"}) == (500, "InternalError"), "error500 fault answers InternalError")
    cli.control("skew=20m")
    st, hd, body = cli.ec2({"Action": "DescribeIpams"})
    server = datetime.datetime.strptime(hd["Date"], "%a, %d %b %Y %H:%M:%S GMT")
    offset = server - datetime.datetime.utcnow()
    st2, _, _ = cli.ec2({"Action": "DescribeIpams"}, when=datetime.datetime.utcnow() + offset)
    ok(st == 400 and b"RequestExpired" in body and st2 == 200,
       "skew fault: RequestExpired, and a client that corrects by the Date header gets through")
    cli.control("")
    st, _, body = cli.sts({"Action": "AssumeRole", "RoleArn": "arn:aws:iam::111111111111:role/ipamwatch-read",
                           "RoleSessionName": "exp"})
    c = create_parser("query").parse({"status_code": st, "headers": {}, "body": body},
                                     aws_model.model("sts").operation_model("AssumeRole").output_shape)["Credentials"]
    sess = (c["AccessKeyId"], c["SecretAccessKey"], c["SessionToken"])
    cli.control("expire_tokens=1")
    first = ec2_err({"Action": "DescribeIpams"}, creds=sess)
    cli.control("")
    again = ec2_err({"Action": "DescribeIpams"}, creds=sess)
    ok(first == (400, "RequestExpired") and again == (400, "RequestExpired") and cli.ec2({"Action": "DescribeIpams"})[0] == 200,
       "expire_tokens fault expires session credentials for good, static keys keep working")
    s = cli.stats()
    ok(s["faults"].get("malformed") == 1 and s["faults"].get("truncate") == 1 and s["signature_failures"] >= 2,
       "/_stats counts faults and signature failures", s["faults"])

    # Determinism: the same seed gives the same fault sequence.
    seqs = []
    for name in ("b", "c"):
        p2, c2 = start(data, tmp, name, "--seed", "42", "--faults", "throttle=0.5,error500=0.2", "--lazy")
        procs.append(p2)
        seqs.append([c2.ec2({"Action": "DescribeIpams"})[0] for _ in range(16)])
    ok(seqs[0] == seqs[1] and len(set(seqs[0])) == 3, "faults are repeatable with --seed", seqs)
    bad = raises(lambda: subprocess.check_call([sys.executable, os.path.join(HERE, "fake_aws.py"), "--data", data,
                                                "--port-file", os.path.join(tmp, "x.port"), "--faults", "explode=1"],
                                               stderr=subprocess.DEVNULL), subprocess.CalledProcessError)
    ok(bad, "an unknown fault is refused at start")


if __name__ == "__main__":
    sys.exit(main())

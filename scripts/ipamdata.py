"""ipamdata: shared building blocks of the seeded IPAM dataset generators.

DESIGN: tests/aws/gen_dataset.py (test and benchmark organisations) and scripts/demo-dataset
(the demo's three-year organisation) write the same file formats: the aws CLI's JSON output
of the IPAM calls (collector/cli_files.h) and CloudTrail event documents, either wrapped as
LookupEvents items or as log-archive files (collector/ct_archive.h). Everything random comes
from one random.Random passed in by the caller, and each helper draws from it in a fixed
order, so a generator's output is a pure function of its seed and arguments. Written JSON
uses fixed indentation and key order: same inputs, same bytes.
"""

import datetime
import gzip
import ipaddress
import json
import os
import uuid

HOME = "eu-central-1"
REGIONS = ["eu-central-1", "eu-west-1"]
ADMIN = "111111111111"
AZ = {"eu-central-1": ["euc1-az1", "euc1-az2", "euc1-az3"], "eu-west-1": ["euw1-az1", "euw1-az2", "euw1-az3"]}
EC2_XMLNS = "http://ec2.amazonaws.com/doc/2016-11-15/"

# Key order of an aws CLI IpamPool item.
POOL_KEYS = ["OwnerId", "IpamPoolId", "SourceIpamPoolId", "IpamPoolArn", "IpamScopeArn", "IpamScopeType", "IpamArn",
             "IpamRegion", "Locale", "PoolDepth", "State", "Description", "AutoImport", "AddressFamily",
             "AllocationMinNetmaskLength", "AllocationMaxNetmaskLength", "AllocationDefaultNetmaskLength",
             "AllocationResourceTags", "Tags", "AwsService"]


class Ids:
    """Unique, seeded identifiers in the AWS formats."""

    def __init__(self, rng):
        self.rng = rng
        self.used_ids = set()

    def hexid(self, prefix, n=17):
        """A new id: prefix + n hex digits, never handed out before."""
        while True:
            v = "%s%0*x" % (prefix, n, self.rng.getrandbits(4 * n))
            if v not in self.used_ids:
                self.used_ids.add(v)
                return v

    def uuid(self):
        return str(uuid.UUID(int=self.rng.getrandbits(128), version=4))


def ts(dt):
    """ISO 8601 in UTC with an explicit offset, as the aws CLI prints times."""
    return dt.astimezone(datetime.timezone.utc).isoformat()


def zulu(dt):
    """CloudTrail's eventTime format."""
    return dt.astimezone(datetime.timezone.utc).strftime("%Y-%m-%dT%H:%M:%SZ")


def carve(state, net, prefix):
    """Next aligned block of /prefix inside net after the cursor in state[net]; None if full."""
    net = ipaddress.ip_network(net)
    size = 1 << (net.max_prefixlen - prefix)
    cur = state.get(net, int(net.network_address))
    cur = (cur + size - 1) // size * size
    if cur + size > int(net.broadcast_address) + 1:
        return None
    state[net] = cur + size
    return ipaddress.ip_network((cur, prefix))


def scope_arn(scope_id, owner=ADMIN):
    return "arn:aws:ec2::%s:ipam-scope/%s" % (owner, scope_id)


def pool_item(pid, name, ipam_arn, scope_id, parent_id=None, locale="None", rules=None, desc=None, depth=1,
              owner=ADMIN, home=HOME):
    """One describe-ipam-pools item (IPv4, private scope) in the aws CLI's key order."""
    p = {
        "OwnerId": owner,
        "IpamPoolId": pid,
        "IpamPoolArn": "arn:aws:ec2::%s:ipam-pool/%s" % (owner, pid),
        "IpamScopeArn": scope_arn(scope_id, owner),
        "IpamScopeType": "private",
        "IpamArn": ipam_arn,
        "IpamRegion": home,
        "Locale": locale,
        "PoolDepth": depth,
        "State": "create-complete",
        "Description": desc or name,
        "AutoImport": locale != "None",
        "AddressFamily": "ipv4",
        "AllocationResourceTags": [],
        "Tags": [{"Key": "Name", "Value": name}],
    }
    if parent_id:
        p["SourceIpamPoolId"] = parent_id
    if rules:
        p["AllocationMinNetmaskLength"], p["AllocationMaxNetmaskLength"], p["AllocationDefaultNetmaskLength"] = rules
    if locale != "None":
        p["AwsService"] = "ec2"
    return {k: p[k] for k in POOL_KEYS if k in p}


def ipam_items(ipam_id, ipam_arn, pub, priv, disco, assoc, pool_count):
    """The IPAM in the delegated admin account with its two default scopes, its default
    resource discovery and that discovery's association: (ipams, scopes, discoveries,
    associations), aws CLI items in the CLI's key order."""
    ipams = [{
        "OwnerId": ADMIN, "IpamId": ipam_id, "IpamArn": ipam_arn, "IpamRegion": HOME,
        "PublicDefaultScopeId": pub, "PrivateDefaultScopeId": priv, "ScopeCount": 2,
        "Description": "Organisation IPAM (delegated admin)",
        "OperatingRegions": [{"RegionName": r} for r in REGIONS], "State": "create-complete",
        "Tags": [{"Key": "Name", "Value": "org-ipam"}],
        "DefaultResourceDiscoveryId": disco, "DefaultResourceDiscoveryAssociationId": assoc,
        "ResourceDiscoveryAssociationCount": 1,
    }]
    scopes = [
        {"OwnerId": ADMIN, "IpamScopeId": pub, "IpamScopeArn": scope_arn(pub), "IpamArn": ipam_arn, "IpamRegion": HOME,
         "IpamScopeType": "public", "IsDefault": True, "PoolCount": 0, "State": "create-complete", "Tags": []},
        {"OwnerId": ADMIN, "IpamScopeId": priv, "IpamScopeArn": scope_arn(priv), "IpamArn": ipam_arn, "IpamRegion": HOME,
         "IpamScopeType": "private", "IsDefault": True, "Description": "private space", "PoolCount": pool_count,
         "State": "create-complete", "Tags": []},
    ]
    discoveries = [{
        "OwnerId": ADMIN, "IpamResourceDiscoveryId": disco,
        "IpamResourceDiscoveryArn": "arn:aws:ec2::%s:ipam-resource-discovery/%s" % (ADMIN, disco),
        "IpamResourceDiscoveryRegion": HOME, "OperatingRegions": [{"RegionName": r} for r in REGIONS],
        "IsDefault": True, "State": "create-complete", "Tags": [],
    }]
    associations = [{
        "OwnerId": ADMIN, "IpamResourceDiscoveryAssociationId": assoc,
        "IpamResourceDiscoveryAssociationArn": "arn:aws:ec2::%s:ipam-resource-discovery-association/%s" % (ADMIN, assoc),
        "IpamResourceDiscoveryId": disco, "IpamId": ipam_id, "IpamArn": ipam_arn, "IpamRegion": HOME,
        "IsDefault": True, "ResourceDiscoveryStatus": "active", "State": "associate-complete", "Tags": [],
    }]
    return ipams, scopes, discoveries, associations


def eip_item(ipam_id, pub, region, owner, eip, i):
    """Elastic IP number i (203.0.113.10+i) of the public scope."""
    return {"IpamId": ipam_id, "IpamScopeId": pub, "ResourceRegion": region, "ResourceOwnerId": owner,
            "ResourceId": eip, "ResourceName": "nat-%d" % i, "ResourceCidr": "203.0.113.%d/32" % (10 + i),
            "ResourceType": "eip", "ResourceTags": [], "IpUsage": 1.0, "ComplianceStatus": "unmanaged",
            "ManagementState": "unmanaged", "OverlapStatus": "nonoverlapping"}


def resource_cidr_item(ipam_id, scope_id, region, owner, rid, name, cidr, rtype, usage, comp, mgmt, overlap, vpc,
                       pool_id=None, tags=None):
    """One get-ipam-resource-cidrs item in the aws CLI's key order."""
    item = {"IpamId": ipam_id, "IpamScopeId": scope_id}
    if pool_id:
        item["IpamPoolId"] = pool_id
    item.update(
        {
            "ResourceRegion": region,
            "ResourceOwnerId": owner,
            "ResourceId": rid,
            "ResourceName": name,
            "ResourceCidr": str(cidr),
            "ResourceType": rtype,
            "ResourceTags": tags if tags is not None else [{"Key": "Name", "Value": name}],
            "IpUsage": usage,
            "ComplianceStatus": comp,
            "ManagementState": mgmt,
            "OverlapStatus": overlap,
            "VpcId": vpc,
        }
    )
    return item


def assumed_role_identity(acct, role, session, akid, when, invoked_by=None):
    """A CloudTrail userIdentity of an assumed-role session (invokedBy for service callers)."""
    ident = {
        "type": "AssumedRole", "principalId": "AROAEXAMPLE%s:%s" % (acct[-6:], session),
        "arn": "arn:aws:sts::%s:assumed-role/%s/%s" % (acct, role, session), "accountId": acct, "accessKeyId": akid,
        "sessionContext": {
            "sessionIssuer": {"type": "Role", "principalId": "AROAEXAMPLE%s" % acct[-6:],
                              "arn": "arn:aws:iam::%s:role/%s" % (acct, role), "accountId": acct, "userName": role},
            "attributes": {"creationDate": zulu(when - datetime.timedelta(minutes=3)), "mfaAuthenticated": "false"}},
    }
    if invoked_by:
        ident["invokedBy"] = invoked_by
    return ident


def access_key_id(rng):
    return "ASIA" + "".join(rng.choice("ABCDEFGHIJKLMNOPQRSTUVWXYZ234567") for _ in range(16))


def ct_document(ids, name, acct, region, when, identity, params, response, error=None, source="ec2.amazonaws.com",
                source_ip=None, user_agent=None, request_id=None):
    """One CloudTrail event document (a log file's Records element). `identity` is a
    userIdentity object; source_ip and user_agent are drawn when not given."""
    rng = ids.rng
    rid = request_id or ids.uuid()
    eid = ids.uuid()
    if source_ip is None:
        source_ip = "198.51.100.%d" % rng.randint(2, 250)
    if user_agent is None:
        user_agent = rng.choice(["aws-cli/2.15.30 md/command#ec2",
                                 "APN/1.0 HashiCorp/1.0 Terraform/1.7.5 aws-sdk-go-v2/1.26.0"])
    doc = {
        "eventVersion": "1.10",
        "userIdentity": identity,
        "eventTime": zulu(when),
        "eventSource": source,
        "eventName": name,
        "awsRegion": region,
        "sourceIPAddress": source_ip,
        "userAgent": user_agent,
        "requestParameters": params,
        "responseElements": None if error else response,
        "requestID": rid,
        "eventID": eid,
        "readOnly": False,
        "eventType": "AwsApiCall",
        "managementEvent": True,
        "recipientAccountId": acct,
        "eventCategory": "Management",
    }
    if error:
        doc["errorCode"], doc["errorMessage"] = error
    return doc


def lookup_item(doc, when, user, resources=()):
    """Wraps a document as a LookupEvents item (the document as a JSON string)."""
    return {
        "EventId": doc["eventID"], "EventName": doc["eventName"], "ReadOnly": "false",
        "AccessKeyId": doc["userIdentity"].get("accessKeyId", ""),
        "EventTime": ts(when), "EventSource": doc["eventSource"], "Username": user,
        "Resources": [{"ResourceType": t, "ResourceName": n} for t, n in resources],
        "CloudTrailEvent": json.dumps(doc, separators=(",", ":")),
    }


def write_json(path, doc):
    os.makedirs(os.path.dirname(path), exist_ok=True)
    with open(path, "w", encoding="utf-8") as f:
        json.dump(doc, f, indent=4)
        f.write("\n")


def write_list(path, key, items, big=False):
    """Write {"key": [items]} streaming, one item per line when big."""
    os.makedirs(os.path.dirname(path), exist_ok=True)
    n = 0
    with open(path, "w", encoding="utf-8") as f:
        if not big:
            items = list(items)
            json.dump({key: items}, f, indent=4)
            f.write("\n")
            return len(items)
        f.write('{\n    "%s": [\n' % key)
        first = True
        buf = []
        for it in items:
            buf.append(("" if first else ",\n") + json.dumps(it, separators=(", ", ": ")))
            first = False
            n += 1
            if len(buf) >= 10000:
                f.write("".join(buf))
                buf = []
        f.write("".join(buf))
        f.write("\n    ]\n}\n")
    return n


def archive_path(root, acct, region, start, unique, org=None):
    """Where CloudTrail delivers the log file of `acct`/`region` covering the 5 minutes from
    `start`: AWSLogs/[org/]acct/CloudTrail/region/yyyy/mm/dd/acct_CloudTrail_region_stampZ_unique.json.gz."""
    parts = [root, "AWSLogs"] + ([org] if org else []) + [acct, "CloudTrail", region, start.strftime("%Y"),
                                                          start.strftime("%m"), start.strftime("%d")]
    name = "%s_CloudTrail_%s_%s_%s.json.gz" % (acct, region, start.strftime("%Y%m%dT%H%MZ"), unique)
    return os.path.join(*parts, name)


def write_archive_file(path, records):
    """One CloudTrail log file {"Records": [...]} gzip'd reproducibly (no name, mtime 0)."""
    os.makedirs(os.path.dirname(path), exist_ok=True)
    data = json.dumps({"Records": records}, separators=(",", ":")).encode("utf-8")
    with open(path, "wb") as raw:
        with gzip.GzipFile(filename="", mode="wb", fileobj=raw, mtime=0, compresslevel=6) as f:
            f.write(data)

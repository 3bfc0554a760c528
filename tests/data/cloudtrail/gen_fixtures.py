"""gen_fixtures: writes the CloudTrail fixtures of tests/unit/test_ct_event.c (deterministic).

  python3 gen_fixtures.py [OUTDIR]

events.json   {"Records": [...]}: one successful and one failed call of every event name of
              the IP allocation audit list (aws-ipam-api.md 3.6), shaped like the documented
              examples: newer IPAM actions nest their members in <Action>Request /
              <Action>Response, older EC2 actions use flat lowerCamel members.
expected.json {eventID: {field: value}}: what normalising each record must give, written
              here from where AWS puts each item, not from the normaliser's output.
"""
import json
import os
import sys

XMLNS = "http://ec2.amazonaws.com/doc/2016-11-15/"
ACCT = "111122223333"
MEMBER = "222233334444"
POOL = "ipam-pool-0fedcba9876543210"
POOL6 = "ipam-pool-06a5b4c3d2e1f0a9b"
ALLOC = "ipam-pool-alloc-4a7c9e1b3d5f47a2b6c8d0e2f4a6b8c0d"
VPC = "vpc-0123abcd4567ef890"
SUBNET = "subnet-0a1b2c3d4e5f67890"
IPAM = "ipam-0123456789abcdef0"
SCOPE = "ipam-scope-0a1b2c3d4e5f60718"
DISC = "ipam-res-disco-0b1c2d3e4f5a6b7c8"
DISC_ASSOC = "ipam-res-disco-assoc-0c1d2e3f4a5b6c7d8"
POLICY = "ipam-policy-0d1e2f3a4b5c6d7e8"
PUBPOOL = "ipv4pool-ec2-0123456789abcdef0"
EIP = "eipalloc-0a9b8c7d6e5f40312"
ENI = "eni-0f1e2d3c4b5a69788"
RESV = "scr-0a1b2c3d4e5f6a7b8"

# Who calls: a rotation of identity shapes, with the principal fields they give.
IDENTITIES = [
    ({"type": "AssumedRole", "principalId": "AROAEXAMPLEID12345678:alice@example.com",
      "arn": "arn:aws:sts::%s:assumed-role/NetworkAdmin/alice@example.com" % ACCT,
      "accountId": ACCT, "accessKeyId": "ASIAEXAMPLEKEYID0001",
      "sessionContext": {"sessionIssuer": {"type": "Role", "principalId": "AROAEXAMPLEID12345678",
                                           "arn": "arn:aws:iam::%s:role/NetworkAdmin" % ACCT,
                                           "accountId": ACCT, "userName": "NetworkAdmin"},
                         "attributes": {"creationDate": "2025-03-14T09:58:01Z", "mfaAuthenticated": "false"}}},
     {"caller_account": ACCT, "principal.type": "AssumedRole",
      "principal.arn": "arn:aws:sts::%s:assumed-role/NetworkAdmin/alice@example.com" % ACCT,
      "principal.principal_id": "AROAEXAMPLEID12345678:alice@example.com",
      "principal.session_issuer_arn": "arn:aws:iam::%s:role/NetworkAdmin" % ACCT}),
    ({"type": "IAMUser", "principalId": "AIDAEXAMPLEID11112222",
      "arn": "arn:aws:iam::%s:user/bob" % ACCT, "accountId": int(ACCT),
      "accessKeyId": "AKIAEXAMPLEKEYID0003", "userName": "bob"},
     {"caller_account": ACCT, "principal.type": "IAMUser",
      "principal.arn": "arn:aws:iam::%s:user/bob" % ACCT,
      "principal.principal_id": "AIDAEXAMPLEID11112222"}),
    ({"type": "Root", "principalId": ACCT, "arn": "arn:aws:iam::%s:root" % ACCT,
      "accountId": ACCT, "accessKeyId": ""},
     {"caller_account": ACCT, "principal.type": "Root", "principal.arn": "arn:aws:iam::%s:root" % ACCT,
      "principal.principal_id": ACCT}),
    ({"type": "AWSService", "invokedBy": "ipam.amazonaws.com"},
     {"principal.type": "AWSService"}),
]

# (name, requestParameters, responseElements, fields from the request, fields from the response)
def specs():
    def new(name, req, resp):
        return ({name + "Request": req},
                {name + "Response": dict({"xmlns": XMLNS, "requestId": "00000000-0000-4000-8000-000000000000"}, **resp)})

    alloc_obj = {"cidr": "10.16.32.0/24", "ipamPoolAllocationId": ALLOC, "description": "reserved for DR",
                 "resourceType": "custom", "resourceOwner": ACCT}
    S = []

    def add(name, req, resp, from_req, from_resp, nested=True):
        if nested:
            req, resp = new(name, req, resp)
        else:
            resp = dict({"requestId": "00000000-0000-4000-8000-000000000000"}, **resp)
        S.append((name, req, resp, from_req, from_resp))

    add("AllocateIpamPoolCidr",
        {"IpamPoolId": POOL, "NetmaskLength": 24, "Description": "reserved for DR", "ClientToken": "tok-1"},
        {"ipamPoolAllocation": alloc_obj},
        {"pool_id": POOL, "netmask_length": 24}, {"cidr": "10.16.32.0/24", "allocation_id": ALLOC})
    add("ReleaseIpamPoolAllocation",
        {"IpamPoolId": POOL, "Cidr": "10.16.32.0/24", "IpamPoolAllocationId": ALLOC},
        {"success": True},
        {"pool_id": POOL, "cidr": "10.16.32.0/24", "allocation_id": ALLOC}, {})
    add("ModifyIpamPoolAllocation",
        {"IpamPoolId": POOL, "IpamPoolAllocationId": ALLOC, "Description": "moved to DR"},
        {"ipamPoolAllocation": dict(alloc_obj, resourceId=VPC, resourceType="vpc")},
        {"pool_id": POOL, "allocation_id": ALLOC},
        {"cidr": "10.16.32.0/24", "resource_id": VPC, "vpc_id": VPC})
    add("ProvisionIpamPoolCidr",
        {"IpamPoolId": POOL, "Cidr": "10.64.0.0/16"},
        {"ipamPoolCidr": {"cidr": "10.64.0.0/16", "state": "pending-provision",
                          "ipamPoolCidrId": "ipam-pool-cidr-0a1b2c3d", "netmaskLength": 16}},
        {"pool_id": POOL, "cidr": "10.64.0.0/16"}, {"netmask_length": 16})
    add("DeprovisionIpamPoolCidr",
        {"IpamPoolId": POOL, "Cidr": "10.64.0.0/16"},
        {"ipamPoolCidr": {"cidr": "10.64.0.0/16", "state": "pending-deprovision"}},
        {"pool_id": POOL, "cidr": "10.64.0.0/16"}, {})
    add("MoveByoipCidrToIpam",
        {"Cidr": "198.51.100.0/24", "IpamPoolId": POOL, "IpamPoolOwner": ACCT},
        {"byoipCidr": {"cidr": "198.51.100.0/24", "state": "pending-transfer"}},
        {"pool_id": POOL, "cidr": "198.51.100.0/24"}, {})
    add("CreateIpamPool",
        {"IpamScopeId": SCOPE, "Locale": "eu-central-1", "SourceIpamPoolId": POOL, "AddressFamily": "ipv4",
         "AllocationDefaultNetmaskLength": 24, "TagSpecification": {"tag": 1, "ResourceType": "ipam-pool"}},
        {"ipamPool": {"ipamPoolId": "ipam-pool-0aaaabbbbccccdddd", "sourceIpamPoolId": POOL,
                      "ipamScopeArn": "arn:aws:ec2::%s:ipam-scope/%s" % (ACCT, SCOPE), "state": "create-in-progress"}},
        {}, {"pool_id": "ipam-pool-0aaaabbbbccccdddd"})
    add("ModifyIpamPool",
        {"IpamPoolId": POOL, "AllocationDefaultNetmaskLength": 22},
        {"ipamPool": {"ipamPoolId": POOL, "state": "modify-in-progress"}},
        {"pool_id": POOL}, {})
    add("DeleteIpamPool", {"IpamPoolId": POOL, "Cascade": True},
        {"ipamPool": {"ipamPoolId": POOL, "state": "delete-in-progress"}}, {"pool_id": POOL}, {})
    add("ModifyIpamResourceCidr",
        {"ResourceId": VPC, "ResourceCidr": "10.16.0.0/20", "ResourceRegion": "eu-central-1",
         "CurrentIpamScopeId": SCOPE, "Monitored": False},
        {"ipamResourceCidr": {"resourceId": VPC, "resourceCidr": "10.16.0.0/20", "vpcId": VPC,
                              "ipamPoolId": POOL, "managementState": "ignored"}},
        {"resource_id": VPC, "cidr": "10.16.0.0/20", "vpc_id": VPC}, {"pool_id": POOL})
    add("CreateIpam", {"OperatingRegion": {"item": {"RegionName": "eu-central-1"}}, "Tier": "advanced"},
        {"ipam": {"ipamId": IPAM, "ipamRegion": "eu-central-1"}}, {}, {"resource_id": IPAM})
    add("ModifyIpam", {"IpamId": IPAM, "AddOperatingRegion": [{"RegionName": "eu-west-1"}]},
        {"ipam": {"ipamId": IPAM}}, {"resource_id": IPAM}, {})
    add("DeleteIpam", {"IpamId": IPAM, "Cascade": True}, {"ipam": {"ipamId": IPAM}},
        {"resource_id": IPAM}, {})
    add("CreateIpamScope", {"IpamId": IPAM, "Description": "on-prem"},
        {"ipamScope": {"ipamScopeId": SCOPE, "ipamArn": "arn:aws:ec2::%s:ipam/%s" % (ACCT, IPAM)}},
        {}, {"resource_id": SCOPE})
    add("ModifyIpamScope", {"IpamScopeId": SCOPE, "Description": "x"}, {"ipamScope": {"ipamScopeId": SCOPE}},
        {"resource_id": SCOPE}, {})
    add("DeleteIpamScope", {"IpamScopeId": SCOPE}, {"ipamScope": {"ipamScopeId": SCOPE}},
        {"resource_id": SCOPE}, {})
    add("CreateIpamResourceDiscovery", {"OperatingRegion": [{"RegionName": "eu-central-1"}]},
        {"ipamResourceDiscovery": {"ipamResourceDiscoveryId": DISC}}, {}, {"resource_id": DISC})
    add("ModifyIpamResourceDiscovery", {"IpamResourceDiscoveryId": DISC, "Description": "x"},
        {"ipamResourceDiscovery": {"ipamResourceDiscoveryId": DISC}}, {"resource_id": DISC}, {})
    add("DeleteIpamResourceDiscovery", {"IpamResourceDiscoveryId": DISC},
        {"ipamResourceDiscovery": {"ipamResourceDiscoveryId": DISC}}, {"resource_id": DISC}, {})
    add("AssociateIpamResourceDiscovery", {"IpamId": IPAM, "IpamResourceDiscoveryId": DISC},
        {"ipamResourceDiscoveryAssociation": {"ipamResourceDiscoveryAssociationId": DISC_ASSOC,
                                              "ipamResourceDiscoveryId": DISC}},
        {}, {"resource_id": DISC_ASSOC})
    add("DisassociateIpamResourceDiscovery", {"IpamResourceDiscoveryAssociationId": DISC_ASSOC},
        {"ipamResourceDiscoveryAssociation": {"ipamResourceDiscoveryAssociationId": DISC_ASSOC}},
        {"resource_id": DISC_ASSOC}, {})
    # An account id logged unquoted, as the XML->JSON conversion does with numeric strings.
    add("EnableIpamOrganizationAdminAccount", {"DelegatedAdminAccountId": int(MEMBER)}, {"success": True},
        {"resource_id": MEMBER}, {})
    add("DisableIpamOrganizationAdminAccount", {"DelegatedAdminAccountId": MEMBER}, {"success": True},
        {"resource_id": MEMBER}, {})
    add("ProvisionIpamByoasn", {"IpamId": IPAM, "Asn": "64512", "AsnAuthorizationContext": {"Message": "m"}},
        {"byoasn": {"asn": "64512", "state": "provisioned"}}, {"resource_id": "64512"}, {})
    add("DeprovisionIpamByoasn", {"IpamId": IPAM, "Asn": 64512},
        {"byoasn": {"asn": "64512", "state": "deprovisioned"}}, {"resource_id": "64512"}, {})
    add("AssociateIpamByoasn", {"Asn": "64512", "Cidr": "198.51.100.0/24"},
        {"asnAssociation": {"asn": "64512", "cidr": "198.51.100.0/24", "state": "associated"}},
        {"resource_id": "64512", "cidr": "198.51.100.0/24"}, {})
    add("DisassociateIpamByoasn", {"Asn": "64512", "Cidr": "198.51.100.0/24"},
        {"asnAssociation": {"asn": "64512", "cidr": "198.51.100.0/24", "state": "disassociated"}},
        {"resource_id": "64512", "cidr": "198.51.100.0/24"}, {})
    add("CreateIpamPolicy", {"IpamId": IPAM}, {"ipamPolicy": {"ipamPolicyId": POLICY}}, {}, {"resource_id": POLICY})
    for n in ("ModifyIpamPolicyAllocationRules", "EnableIpamPolicy", "DisableIpamPolicy", "DeleteIpamPolicy"):
        add(n, {"IpamPolicyId": POLICY}, {"ipamPolicy": {"ipamPolicyId": POLICY}}, {"resource_id": POLICY}, {})

    # Older EC2 actions: flat lowerCamel members, lists as {"items": [...]}.
    add("CreateVpc",
        {"ipv4IpamPoolId": POOL, "ipv4NetmaskLength": 20, "instanceTenancy": "default",
         "amazonProvidedIpv6CidrBlock": False,
         "tagSpecificationSet": {"items": [{"resourceType": "vpc", "tags": [{"key": "Name", "value": "payments-prod"}]}]}},
        {"vpc": {"vpcId": VPC, "state": "pending", "ownerId": MEMBER, "cidrBlock": "10.16.0.0/20",
                 "cidrBlockAssociationSet": {"items": [{"cidrBlock": "10.16.0.0/20",
                                                        "associationId": "vpc-cidr-assoc-0a1b2c3d4e5f60718",
                                                        "cidrBlockState": {"state": "associated"}}]},
                 "ipv6CidrBlockAssociationSet": {}, "isDefault": False}},
        {"pool_id": POOL, "netmask_length": 20}, {"cidr": "10.16.0.0/20", "resource_id": VPC, "vpc_id": VPC},
        nested=False)
    add("CreateDefaultVpc", {},
        {"vpc": {"vpcId": VPC, "cidrBlock": "172.31.0.0/16", "isDefault": True}},
        {}, {"cidr": "172.31.0.0/16", "resource_id": VPC, "vpc_id": VPC}, nested=False)
    add("DeleteVpc", {"vpcId": VPC}, {"_return": True}, {"resource_id": VPC, "vpc_id": VPC}, {}, nested=False)
    add("AssociateVpcCidrBlock", {"vpcId": VPC, "ipv6IpamPoolId": POOL6, "ipv6NetmaskLength": 56},
        {"vpcId": VPC, "ipv6CidrBlockAssociation": {"ipv6CidrBlock": "2001:db8:1200::/56",
                                                    "associationId": "vpc-cidr-assoc-0b",
                                                    "ipv6CidrBlockState": {"state": "associating"}}},
        {"pool_id": POOL6, "netmask_length": 56, "resource_id": VPC, "vpc_id": VPC},
        {"cidr": "2001:db8:1200::/56"}, nested=False)
    add("DisassociateVpcCidrBlock", {"associationId": "vpc-cidr-assoc-0a1b2c3d4e5f60718"},
        {"vpcId": VPC, "cidrBlockAssociation": {"cidrBlock": "10.16.16.0/20",
                                                "associationId": "vpc-cidr-assoc-0a1b2c3d4e5f60718",
                                                "cidrBlockState": {"state": "disassociating"}}},
        {}, {"cidr": "10.16.16.0/20", "resource_id": VPC, "vpc_id": VPC}, nested=False)
    add("CreateSubnet", {"vpcId": VPC, "cidrBlock": "10.16.1.0/24", "availabilityZone": "eu-central-1a"},
        {"subnet": {"subnetId": SUBNET, "vpcId": VPC, "cidrBlock": "10.16.1.0/24", "state": "available"}},
        {"cidr": "10.16.1.0/24", "vpc_id": VPC}, {"resource_id": SUBNET}, nested=False)
    add("CreateDefaultSubnet", {"availabilityZone": "eu-central-1b"},
        {"subnet": {"subnetId": SUBNET, "vpcId": VPC, "cidrBlock": "172.31.16.0/20"}},
        {}, {"cidr": "172.31.16.0/20", "resource_id": SUBNET, "vpc_id": VPC}, nested=False)
    add("DeleteSubnet", {"subnetId": SUBNET}, {"_return": True}, {"resource_id": SUBNET}, {}, nested=False)
    add("AssociateSubnetCidrBlock", {"subnetId": SUBNET, "ipv6CidrBlock": "2001:db8:1200:1::/64"},
        {"subnetId": SUBNET, "ipv6CidrBlockAssociation": {"ipv6CidrBlock": "2001:db8:1200:1::/64",
                                                          "associationId": "subnet-cidr-assoc-0c"}},
        {"resource_id": SUBNET, "cidr": "2001:db8:1200:1::/64"}, {}, nested=False)
    add("DisassociateSubnetCidrBlock", {"associationId": "subnet-cidr-assoc-0c"},
        {"subnetId": SUBNET, "ipv6CidrBlockAssociation": {"ipv6CidrBlock": "2001:db8:1200:1::/64",
                                                          "associationId": "subnet-cidr-assoc-0c"}},
        {}, {"resource_id": SUBNET, "cidr": "2001:db8:1200:1::/64"}, nested=False)
    add("CreateSubnetCidrReservation", {"SubnetId": SUBNET, "Cidr": "10.16.1.64/26", "ReservationType": "prefix"},
        {"subnetCidrReservation": {"subnetCidrReservationId": RESV, "subnetId": SUBNET, "cidr": "10.16.1.64/26"}},
        {"cidr": "10.16.1.64/26"}, {"resource_id": RESV})
    add("DeleteSubnetCidrReservation", {"SubnetCidrReservationId": RESV},
        {"deletedSubnetCidrReservation": {"subnetCidrReservationId": RESV, "subnetId": SUBNET,
                                          "cidr": "10.16.1.64/26"}},
        {"resource_id": RESV}, {"cidr": "10.16.1.64/26"})
    add("AllocateAddress", {"domain": "vpc", "ipamPoolId": POOL},
        {"publicIp": "198.51.100.17", "allocationId": EIP, "domain": "vpc"},
        {"pool_id": POOL}, {"cidr": "198.51.100.17/32", "resource_id": EIP}, nested=False)
    add("ReleaseAddress", {"allocationId": EIP}, {"_return": True}, {"resource_id": EIP}, {}, nested=False)
    add("CreatePublicIpv4Pool", {"NetworkBorderGroup": "eu-central-1"}, {"poolId": PUBPOOL},
        {}, {"resource_id": PUBPOOL})
    add("DeletePublicIpv4Pool", {"PoolId": PUBPOOL}, {"returnValue": True}, {"resource_id": PUBPOOL}, {})
    add("ProvisionPublicIpv4PoolCidr", {"IpamPoolId": POOL, "PoolId": PUBPOOL, "NetmaskLength": "28"},
        {"poolId": PUBPOOL, "poolAddressRange": {"firstAddress": "198.51.100.0", "lastAddress": "198.51.100.15",
                                                 "addressCount": 16}},
        {"pool_id": POOL, "resource_id": PUBPOOL, "netmask_length": 28}, {})
    add("DeprovisionPublicIpv4PoolCidr", {"PoolId": PUBPOOL, "Cidr": "198.51.100.0/28"},
        {"poolId": PUBPOOL, "deprovisionedAddressSet": {"item": "198.51.100.0"}},
        {"resource_id": PUBPOOL, "cidr": "198.51.100.0/28"}, {})
    for n, state in (("ProvisionByoipCidr", "pending-provision"), ("DeprovisionByoipCidr", "pending-deprovision"),
                     ("AdvertiseByoipCidr", "pending-advertising"), ("WithdrawByoipCidr", "pending-withdrawal")):
        add(n, {"cidr": "203.0.113.0/24"}, {"byoipCidr": {"cidr": "203.0.113.0/24", "state": state}},
            {"cidr": "203.0.113.0/24"}, {}, nested=False)
    # Subnet fill (optional list): normalised, but not relevant to the archive filter.
    add("CreateNetworkInterface", {"subnetId": SUBNET},
        {"networkInterface": {"networkInterfaceId": ENI, "subnetId": SUBNET, "vpcId": VPC,
                              "privateIpAddress": "10.16.1.10"}},
        {}, {"resource_id": ENI, "vpc_id": VPC}, nested=False)
    return S


ERRORS = [
    ("Client.InvalidParameterValue", "The allocation size is too big for the pool."),
    ("Client.UnauthorizedOperation", "You are not authorized to perform this operation."),
    ("Client.DependencyViolation", "The vpc has dependencies and cannot be deleted."),
    ("Server.InternalError", "An internal error has occurred."),
]


def main(outdir):
    records = []
    expected = {}
    for i, (name, req, resp, from_req, from_resp) in enumerate(specs()):
        for failed in (False, True):
            k = 2 * i + int(failed)
            ident, pfields = IDENTITIES[k % len(IDENTITIES)]
            region = ("eu-central-1", "eu-west-1")[k % 2]
            eid = "%08x-0000-4000-8000-%012x" % (k + 1, k + 1)
            rid = "%08x-1111-4111-8111-%012x" % (k + 1, k + 1)
            t = "2025-03-%02dT%02d:%02d:%02dZ" % (1 + k % 28, k % 24, (7 * k) % 60, (13 * k) % 60)
            doc = {
                "eventVersion": "1.10", "userIdentity": ident, "eventTime": t,
                "eventSource": "ec2.amazonaws.com", "eventName": name, "awsRegion": region,
                "sourceIPAddress": "203.0.113.%d" % (k % 250 + 1),
                "userAgent": "aws-cli/2.15.30 md/command#ec2.%s" % name.lower(),
                "requestParameters": req,
                "responseElements": None if failed else resp,
                "requestID": rid, "eventID": eid, "readOnly": False, "eventType": "AwsApiCall",
                "managementEvent": True, "recipientAccountId": ACCT, "eventCategory": "Management",
            }
            exp = {"name": name, "time": t.replace("Z", ".000Z"), "account": ACCT, "region": region,
                   "source_ip": "203.0.113.%d" % (k % 250 + 1), "request_id": rid,
                   "user_agent": doc["userAgent"], "parsed": True}
            exp.update(pfields)
            exp.update(from_req)
            if failed:
                code, msg = ERRORS[i % len(ERRORS)]
                doc["errorCode"], doc["errorMessage"] = code, msg
                exp["error_code"] = code.split(".", 1)[1]
                exp["error_message"] = msg
            else:
                exp.update(from_resp)
            records.append(doc)
            expected[eid] = exp
    os.makedirs(outdir, exist_ok=True)
    with open(os.path.join(outdir, "events.json"), "w") as f:
        json.dump({"Records": records}, f, indent=1, sort_keys=False)
        f.write("\n")
    with open(os.path.join(outdir, "expected.json"), "w") as f:
        json.dump(expected, f, indent=1, sort_keys=True)
        f.write("\n")
    return 0


if __name__ == "__main__":
    sys.exit(main(sys.argv[1] if len(sys.argv) > 1 else os.path.dirname(os.path.abspath(__file__))))

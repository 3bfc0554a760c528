#!/usr/bin/python3
"""Deterministic generator of an AWS organisation's IPAM data in the aws CLI JSON layout.

DESIGN: one seeded random.Random drives every choice, so --seed and --now fix the output
byte for byte. The organisation is the product's seed case: an IPAM in a delegated admin
account (home eu-central-1, operating eu-central-1 and eu-west-1), a private scope with the
top-level pools "AWS Private" (regional pools with shared, dedicated and egress VPC pools) and
"Corporate Network" (regional pools with "Dedicated Subnets" pools), application accounts with
VPCs and subnets allocated from the pools, a few noncompliant VPCs, exactly one overlapping
pair, manual reservations, a resource discovery with one failing account, and CloudTrail
events modelled on the IPAM reference (allocations that succeed and fail, releases, VPC and
subnet life cycle). Beyond the core, --resource-cidrs fills the scope with unmanaged VPC
groups (IPv4 from 100.64.0.0/10, then IPv6 ULA) so a benchmark can ask for 1,000,000 items;
big lists are written item by item. DIR/truth.json holds the counts a test can assert.

Usage: gen_dataset.py --out DIR [--seed N] [--resource-cidrs N] [--events N]
       [--allocations N] [--accounts N] [--now ISO8601]
"""

import argparse
import collections
import datetime
import ipaddress
import json
import os
import random
import sys

sys.path.insert(0, os.path.join(os.path.dirname(os.path.abspath(__file__)), "..", "..", "scripts"))
from ipamdata import (ADMIN, AZ, HOME, REGIONS, Ids, access_key_id, assumed_role_identity, carve,  # noqa: E402
                      ct_document, eip_item, ipam_items, lookup_item, pool_item, resource_cidr_item, write_json,
                      write_list)
from ipamdata import ts as iso_ts  # noqa: E402


class Gen(Ids):
    def __init__(self, args):
        super().__init__(random.Random(args.seed))
        self.a = args
        self.now = (
            datetime.datetime.fromisoformat(args.now.replace("Z", "+00:00"))
            if args.now
            else datetime.datetime.now(datetime.timezone.utc).replace(minute=0, second=0, microsecond=0)
        )
        if self.now.tzinfo is None:
            self.now = self.now.replace(tzinfo=datetime.timezone.utc)
        self.truth = collections.defaultdict(collections.Counter)

    def ts(self, dt):
        return iso_ts(dt)


def build(args):
    g = Gen(args)
    rng = g.rng
    apps = ["%d" % (222222222222 + 111111111111 * i) if i < 7 else "%012d" % rng.randrange(10**11, 10**12) for i in range(args.accounts)]
    accounts = [ADMIN] + apps
    ipam_id = g.hexid("ipam-")
    ipam_arn = "arn:aws:ec2::%s:ipam/%s" % (ADMIN, ipam_id)
    priv = g.hexid("ipam-scope-")
    pub = g.hexid("ipam-scope-")
    disco = g.hexid("ipam-res-disco-")
    assoc = g.hexid("ipam-res-disco-assoc-")
    created = g.now - datetime.timedelta(days=400)

    pools = []
    pool_cidrs = {}
    allocs = collections.defaultdict(list)
    cursors = {}

    def pool(name, cidrs, parent=None, locale="None", rules=None, desc=None, depth=1):
        pid = g.hexid("ipam-pool-")
        p = pool_item(pid, name, ipam_arn, priv, parent["IpamPoolId"] if parent else None, locale, rules, desc, depth)
        pools.append(p)
        pool_cidrs[pid] = [
            {
                "Cidr": c,
                "State": "provisioned",
                "IpamPoolCidrId": g.hexid("ipam-pool-cidr-", 33),
                "NetmaskLength": int(c.split("/")[1]),
            }
            for c in cidrs
        ]
        if parent:
            for c in cidrs:
                allocs[parent["IpamPoolId"]].append(
                    {
                        "Cidr": c,
                        "IpamPoolAllocationId": g.hexid("ipam-pool-alloc-", 32),
                        "ResourceId": pid,
                        "ResourceType": "ipam-pool",
                        "ResourceRegion": HOME,
                        "ResourceOwner": ADMIN,
                    }
                )
        return p

    aws_top = pool("AWS Private", ["10.64.0.0/13"], desc="AWS Private: all VPC space")
    corp_top = pool("Corporate Network", ["10.128.0.0/14"], desc="Corporate Network, harmonised with on-premise")
    pool_cidrs[corp_top["IpamPoolId"]].append(
        {
            "State": "failed-provision",
            "FailureReason": {"Code": "cidr-not-available", "Message": "The CIDR is not available in the source pool."},
            "IpamPoolCidrId": g.hexid("ipam-pool-cidr-", 33),
            "NetmaskLength": 16,
        }
    )
    leaf = []  # (pool, kind, region)
    subnet_pools = []
    base = {"eu-central-1": 64, "eu-west-1": 68}
    cbase = {"eu-central-1": 128, "eu-west-1": 130}
    for region in REGIONS:
        b = base[region]
        reg = pool("AWS Private %s" % region, ["10.%d.0.0/14" % b], aws_top, region, depth=2)
        leaf.append((pool("%s shared VPC" % region, ["10.%d.0.0/16" % b], reg, region, (16, 22, 20), depth=3), "shared", region))
        leaf.append((pool("%s dedicated VPC" % region, ["10.%d.0.0/16" % (b + 1)], reg, region, (18, 22, 21), depth=3), "dedicated", region))
        leaf.append((pool("%s egress VPC" % region, ["10.%d.0.0/19" % (b + 2)], reg, region, (22, 24, 24), depth=3), "egress", region))
        creg = pool("Corporate Network %s" % region, ["10.%d.0.0/16" % cbase[region], "10.%d.0.0/17" % (cbase[region] + 1)],
                    corp_top, region, depth=2)
        sp = pool("Dedicated Subnets %s" % region, ["10.%d.0.0/17" % cbase[region]], creg, region, (24, 28, 27), depth=3)
        subnet_pools.append((sp, region))

    # Resource CIDRs of the private scope: the core first.
    core = []
    vpcs_by_region = collections.defaultdict(list)

    def rc(region, owner, rid, name, cidr, rtype, usage, comp, mgmt, overlap, vpc, pool_id=None, tags=None):
        return resource_cidr_item(ipam_id, priv, region, owner, rid, name, cidr, rtype, usage, comp, mgmt, overlap, vpc,
                                  pool_id, tags)

    def vpc_group(region, owner, name, cidr, pool_id, comp, overlap="nonoverlapping", nsub=None, out=None):
        vid = g.hexid("vpc-")
        net = ipaddress.ip_network(cidr)
        nsub = rng.randint(2, 4) if nsub is None else nsub
        sublen = min(net.prefixlen + 2, 28) if net.version == 4 else 64
        subs = list(net.subnets(new_prefix=sublen))[:nsub] if net.version == 4 else [
            ipaddress.ip_network((int(net.network_address) + (i << 64), 64)) for i in range(nsub)
        ]
        tags = [{"Key": "Name", "Value": name}, {"Key": "team", "Value": "team-%s" % owner[-3:]}]
        out.append(
            rc(region, owner, vid, name, cidr, "vpc", round(len(subs) / (1 << (sublen - net.prefixlen)), 4),
               comp, "managed" if pool_id else "unmanaged", overlap, vid, pool_id, tags)
        )
        for i, s in enumerate(subs):
            sid = g.hexid("subnet-")
            item = rc(region, owner, sid, "%s-%s" % (name, "abc"[i % 3]), s, "subnet",
                      round(rng.uniform(0.01, 0.97), 4) if net.version == 4 else 0.0,
                      "unmanaged", "unmanaged", "nonoverlapping", vid)
            out.append(item)
        vpcs_by_region[region].append((vid, owner))
        return vid

    sizes = {"shared": [20, 21, 22], "dedicated": [21, 22], "egress": [24]}
    counts = {"shared": 3, "dedicated": 4, "egress": 1}
    for p, kind, region in leaf:
        for i in range(counts[kind]):
            owner = apps[rng.randrange(len(apps))]
            pref = rng.choice(sizes[kind])
            cidr = carve(cursors, pool_cidrs[p["IpamPoolId"]][0]["Cidr"], pref)
            name = "%s-%s-%d" % (kind, region, i + 1)
            vid = vpc_group(region, owner, name, cidr, p["IpamPoolId"], "compliant", out=core)
            allocs[p["IpamPoolId"]].append(
                {"Cidr": str(cidr), "IpamPoolAllocationId": g.hexid("ipam-pool-alloc-", 32), "ResourceId": vid,
                 "ResourceType": "vpc", "ResourceRegion": region, "ResourceOwner": owner}
            )
        # one manual reservation per leaf pool
        c = carve(cursors, pool_cidrs[p["IpamPoolId"]][0]["Cidr"], p["AllocationDefaultNetmaskLength"])
        allocs[p["IpamPoolId"]].append(
            {"Cidr": str(c), "IpamPoolAllocationId": g.hexid("ipam-pool-alloc-", 32), "Description": "reserved for DR",
             "ResourceType": "custom", "ResourceOwner": ADMIN}
        )
    # Noncompliant: a VPC smaller than the pool allows, and one in the wrong Region.
    ded_west = [p for p, k, r in leaf if k == "dedicated" and r == "eu-west-1"][0]
    c = carve(cursors, pool_cidrs[ded_west["IpamPoolId"]][0]["Cidr"], 24)
    owner = apps[0]
    vid = vpc_group("eu-west-1", owner, "too-small-eu-west-1", c, ded_west["IpamPoolId"], "noncompliant", nsub=1, out=core)
    allocs[ded_west["IpamPoolId"]].append({"Cidr": str(c), "IpamPoolAllocationId": g.hexid("ipam-pool-alloc-", 32),
                                           "ResourceId": vid, "ResourceType": "vpc", "ResourceRegion": "eu-west-1",
                                           "ResourceOwner": owner})
    c = carve(cursors, pool_cidrs[ded_west["IpamPoolId"]][0]["Cidr"], 22)
    vid = vpc_group("eu-central-1", apps[1 % len(apps)], "wrong-region-eu-central-1", c, ded_west["IpamPoolId"], "noncompliant", nsub=2, out=core)
    allocs[ded_west["IpamPoolId"]].append({"Cidr": str(c), "IpamPoolAllocationId": g.hexid("ipam-pool-alloc-", 32),
                                           "ResourceId": vid, "ResourceType": "vpc", "ResourceRegion": "eu-central-1",
                                           "ResourceOwner": apps[1 % len(apps)]})
    # Exactly one overlapping pair: a hand-made VPC over the first shared VPC of eu-central-1.
    victim = next(i for i in core if i["ResourceType"] == "vpc" and i["ResourceName"] == "shared-eu-central-1-1")
    victim["OverlapStatus"] = "overlapping"
    vnet = ipaddress.ip_network(victim["ResourceCidr"])
    over = list(vnet.subnets(new_prefix=vnet.prefixlen + 1))[1]
    vpc_group("eu-central-1", apps[-1], "legacy-import", over, None, "unmanaged", "overlapping", nsub=0, out=core)

    # Dedicated subnets allocated from the Corporate Network subnet pools.
    for i in range(args.allocations):
        sp, region = subnet_pools[i % len(subnet_pools)]
        pref = 28 if args.allocations > 400 else rng.choice([26, 27, 28])
        c = carve(cursors, pool_cidrs[sp["IpamPoolId"]][0]["Cidr"], pref)
        if c is None:
            break
        vid, owner = vpcs_by_region[region][rng.randrange(len(vpcs_by_region[region]))]
        sid = g.hexid("subnet-")
        core.append(rc(region, owner, sid, "dedicated-%d" % i, c, "subnet", round(rng.uniform(0.05, 0.95), 4),
                       "compliant", "managed", "nonoverlapping", vid, sp["IpamPoolId"]))
        # The model's allocation types stop at custom: a dedicated subnet is a custom allocation.
        allocs[sp["IpamPoolId"]].append({"Cidr": str(c), "IpamPoolAllocationId": g.hexid("ipam-pool-alloc-", 32),
                                         "Description": "dedicated subnet %s" % sid, "ResourceType": "custom",
                                         "ResourceOwner": owner})

    # Pool ordering of allocations: by address, as IPAM lists them.
    for pid in allocs:
        allocs[pid].sort(key=lambda a: ipaddress.ip_network(a["Cidr"]))

    ipams, scopes, discoveries, associations = ipam_items(ipam_id, ipam_arn, pub, priv, disco, assoc, len(pools))
    discovered = []
    for region in REGIONS:
        for i, acct in enumerate(accounts):
            last = g.now - datetime.timedelta(minutes=rng.randint(3, 25))
            d = {"AccountId": acct, "DiscoveryRegion": region, "LastAttemptedDiscoveryTime": g.ts(last)}
            if acct == apps[-1] and region == "eu-west-1":
                d["FailureReason"] = {"Code": "assume-role-failure",
                                      "Message": "IPAM could not assume AWSServiceRoleForIPAM in account %s" % acct}
                d["LastSuccessfulDiscoveryTime"] = g.ts(last - datetime.timedelta(days=3))
            else:
                d["LastSuccessfulDiscoveryTime"] = g.ts(last)
            discovered.append(d)
    public = []
    for i in range(4):
        region = REGIONS[i % 2]
        eip = g.hexid("eipalloc-")
        public.append(eip_item(ipam_id, pub, region, apps[i % len(apps)], eip, i))
    return g, dict(apps=apps, accounts=accounts, ipam_id=ipam_id, priv=priv, pub=pub, disco=disco, ipams=ipams,
                   scopes=scopes, pools=pools, pool_cidrs=pool_cidrs, allocs=allocs, core=core, public=public,
                   discoveries=discoveries, associations=associations, discovered=discovered, leaf=leaf,
                   subnet_pools=subnet_pools)


def filler(g, o, n):
    """Yield resource CIDR items beyond the core until n: unmanaged VPC groups in 100.64.0.0/10,
    then IPv6 ULA /56 VPCs with /64 subnets. Never overlapping anything."""
    rng = g.rng
    v4 = ipaddress.ip_network("100.64.0.0/10")
    v6 = int(ipaddress.ip_address("fd12:3456:7800::"))
    i = 0
    made = 0
    while made < n:
        region = REGIONS[i % 2]
        owner = o["apps"][i % len(o["apps"])]
        vid = "vpc-%017x" % (0x10000000000000 + i)
        if i < 4096:
            vnet = ipaddress.ip_network((int(v4.network_address) + (i << 10), 22))
            subs = list(vnet.subnets(new_prefix=24))[:3]
        else:
            vnet = ipaddress.ip_network((v6 + ((i - 4096) << 72), 56))
            subs = [ipaddress.ip_network((int(vnet.network_address) + (k << 64), 64)) for k in range(3)]
        name = "app-%d" % i
        base = {"IpamId": o["ipam_id"], "IpamScopeId": o["priv"], "ResourceRegion": region, "ResourceOwnerId": owner}
        items = [dict(base, ResourceId=vid, ResourceName=name, ResourceCidr=str(vnet), ResourceType="vpc",
                      ResourceTags=[{"Key": "Name", "Value": name}], IpUsage=0.75 if vnet.version == 4 else 0.0,
                      ComplianceStatus="unmanaged", ManagementState="unmanaged", OverlapStatus="nonoverlapping", VpcId=vid)]
        for k, s in enumerate(subs):
            items.append(dict(base, ResourceId="subnet-%017x" % (0x10000000000000 + i * 4 + k), ResourceName="%s-%d" % (name, k),
                              ResourceCidr=str(s), ResourceType="subnet", ResourceTags=[],
                              IpUsage=round(rng.random(), 4) if s.version == 4 else 0.0,
                              ComplianceStatus="unmanaged", ManagementState="unmanaged", OverlapStatus="nonoverlapping",
                              VpcId=vid))
        for it in items:
            if made >= n:
                return
            made += 1
            yield it
        i += 1


def ct_event(g, name, acct, region, when, user, params, response, error=None, source="ec2.amazonaws.com", resources=()):
    akid = access_key_id(g.rng)
    role = "NetworkAdmin" if acct == ADMIN else "Deployer"
    doc = ct_document(g, name, acct, region, when, assumed_role_identity(acct, role, user, akid, when), params, response,
                      error, source)
    return lookup_item(doc, when, user, resources)


def events(g, o, n):
    """n CloudTrail events spread over the 30 days before --now; returns {(acct, region): [...]}."""
    rng = g.rng
    out = collections.defaultdict(list)
    leaf = o["leaf"]
    kinds = [("alloc_ok", 20), ("alloc_fail", 10), ("release", 10), ("create_vpc", 18), ("create_vpc_fail", 4),
             ("delete_vpc", 8), ("create_subnet", 15), ("delete_subnet", 5), ("modify_cidr", 4),
             ("assoc_cidr", 3), ("assume_role", 3)]
    names = [k for k, w in kinds for _ in range(w)]
    users = ["alice@example.com", "bob@example.com", "terraform", "network-pipeline"]
    for i in range(n):
        kind = names[rng.randrange(len(names))]
        p, pkind, region = leaf[rng.randrange(len(leaf))]
        pid = p["IpamPoolId"]
        when = g.now - datetime.timedelta(seconds=rng.randint(60, 30 * 86400))
        user = rng.choice(users)
        app = o["apps"][rng.randrange(len(o["apps"]))]
        mask = p.get("AllocationDefaultNetmaskLength", 24)
        cidr = "10.%d.%d.0/%d" % (rng.randint(64, 71), rng.randrange(0, 256, 4), mask)
        if kind == "alloc_ok":
            aid = g.hexid("ipam-pool-alloc-", 32)
            ev = ct_event(g, "AllocateIpamPoolCidr", ADMIN, region, when, user,
                          {"AllocateIpamPoolCidrRequest": {"IpamPoolId": pid, "NetmaskLength": mask,
                                                           "Description": "reservation %d" % i, "ClientToken": g.uuid()}},
                          {"AllocateIpamPoolCidrResponse": {"xmlns": "http://ec2.amazonaws.com/doc/2016-11-15/",
                                                            "requestId": g.uuid(),
                                                            "ipamPoolAllocation": {"cidr": cidr, "ipamPoolAllocationId": aid,
                                                                                   "description": "reservation %d" % i,
                                                                                   "resourceType": "custom",
                                                                                   "resourceOwner": ADMIN}}})
            acct = ADMIN
        elif kind == "alloc_fail":
            err = rng.choice([
                ("Client.InvalidParameterValue", "The allocation size is too big for the pool."),
                ("Client.InvalidParameterValue", "The allocation netmask length must be between %d and %d."
                 % (p.get("AllocationMinNetmaskLength", 16), p.get("AllocationMaxNetmaskLength", 28))),
                ("Client.UnauthorizedOperation", "You are not authorized to perform this operation."),
            ])
            acct = ADMIN if err[0] != "Client.UnauthorizedOperation" else app
            ev = ct_event(g, "AllocateIpamPoolCidr", acct, region, when, user,
                          {"AllocateIpamPoolCidrRequest": {"IpamPoolId": pid, "NetmaskLength": mask - 4 if "big" in err[1] else mask,
                                                           "ClientToken": g.uuid()}}, None, err)
        elif kind == "release":
            acct = ADMIN
            ev = ct_event(g, "ReleaseIpamPoolAllocation", ADMIN, region, when, user,
                          {"ReleaseIpamPoolAllocationRequest": {"IpamPoolId": pid, "Cidr": cidr,
                                                                "IpamPoolAllocationId": g.hexid("ipam-pool-alloc-", 32)}},
                          {"ReleaseIpamPoolAllocationResponse": {"xmlns": "http://ec2.amazonaws.com/doc/2016-11-15/",
                                                                 "requestId": g.uuid(), "success": True}})
        elif kind in ("create_vpc", "create_vpc_fail"):
            acct = app
            vid = g.hexid("vpc-")
            err = ("Client.InvalidParameterValue", "The allocation size is too big for the pool.") if kind == "create_vpc_fail" else None
            ev = ct_event(g, "CreateVpc", app, region, when, "terraform",
                          {"ipv4IpamPoolId": pid, "ipv4NetmaskLength": mask, "instanceTenancy": "default",
                           "amazonProvidedIpv6CidrBlock": False},
                          {"requestId": g.uuid(), "vpc": {"vpcId": vid, "state": "pending", "ownerId": app, "cidrBlock": cidr,
                                                          "cidrBlockAssociationSet": {"items": [{"cidrBlock": cidr,
                                                                                                 "associationId": g.hexid("vpc-cidr-assoc-"),
                                                                                                 "cidrBlockState": {"state": "associated"}}]},
                                                          "ipv6CidrBlockAssociationSet": {}, "instanceTenancy": "default",
                                                          "isDefault": False}},
                          err, resources=() if err else [("AWS::EC2::VPC", vid)])
        elif kind == "delete_vpc":
            acct = app
            vid = g.hexid("vpc-")
            ev = ct_event(g, "DeleteVpc", app, region, when, "terraform", {"vpcId": vid},
                          {"requestId": g.uuid(), "_return": True}, resources=[("AWS::EC2::VPC", vid)])
        elif kind in ("create_subnet", "delete_subnet"):
            acct = app
            vid = g.hexid("vpc-")
            sid = g.hexid("subnet-")
            sub = "10.%d.%d.0/24" % (rng.randint(64, 71), rng.randrange(256))
            if kind == "create_subnet":
                ev = ct_event(g, "CreateSubnet", app, region, when, "terraform",
                              {"vpcId": vid, "cidrBlock": sub, "availabilityZoneId": rng.choice(AZ[region])},
                              {"requestId": g.uuid(), "subnet": {"subnetId": sid, "state": "available", "vpcId": vid,
                                                                 "cidrBlock": sub, "ownerId": app}},
                              resources=[("AWS::EC2::Subnet", sid), ("AWS::EC2::VPC", vid)])
            else:
                ev = ct_event(g, "DeleteSubnet", app, region, when, "terraform", {"subnetId": sid},
                              {"requestId": g.uuid(), "_return": True}, resources=[("AWS::EC2::Subnet", sid)])
        elif kind == "modify_cidr":
            acct = ADMIN
            region = HOME
            ev = ct_event(g, "ModifyIpamResourceCidr", ADMIN, HOME, when, user,
                          {"ModifyIpamResourceCidrRequest": {"ResourceId": g.hexid("vpc-"), "ResourceCidr": cidr,
                                                             "ResourceRegion": region, "CurrentIpamScopeId": o["priv"],
                                                             "Monitored": False}},
                          {"ModifyIpamResourceCidrResponse": {"xmlns": "http://ec2.amazonaws.com/doc/2016-11-15/",
                                                              "requestId": g.uuid()}})
        elif kind == "assoc_cidr":
            acct = app
            vid = g.hexid("vpc-")
            ev = ct_event(g, "AssociateVpcCidrBlock", app, region, when, "terraform",
                          {"vpcId": vid, "ipv4IpamPoolId": pid, "ipv4NetmaskLength": mask},
                          {"requestId": g.uuid(), "vpcId": vid, "cidrBlockAssociation": {"cidrBlock": cidr,
                                                                                         "associationId": g.hexid("vpc-cidr-assoc-"),
                                                                                         "cidrBlockState": {"state": "associating"}}},
                          resources=[("AWS::EC2::VPC", vid)])
        else:
            acct = app
            ev = ct_event(g, "AssumeRole", app, region, when, "IpamResourceMonitoring",
                          {"roleArn": "arn:aws:iam::%s:role/aws-service-role/ipam.amazonaws.com/AWSServiceRoleForIPAM" % app,
                           "roleSessionName": "IpamResourceMonitoring"},
                          {"credentials": {"accessKeyId": "ASIAEXAMPLE", "expiration": "Jan 1, 2030, 12:00:00 AM"}},
                          source="sts.amazonaws.com")
        out[(acct, region)].append(ev)
        g.truth["events_by_name"][ev["EventName"]] += 1
        if "errorCode" in ev["CloudTrailEvent"]:
            g.truth["events_failed_by_code"][json.loads(ev["CloudTrailEvent"])["errorCode"]] += 1
        g.truth["events_by_account_region"]["%s/%s" % (acct, region)] += 1
    return out


def main(argv=None):
    ap = argparse.ArgumentParser(description="generate an IPAM dataset in the aws CLI JSON layout")
    ap.add_argument("--out", required=True)
    ap.add_argument("--seed", type=int, default=1)
    ap.add_argument("--resource-cidrs", type=int, default=0, help="resource CIDRs in the private scope (min: the core)")
    ap.add_argument("--events", type=int, default=60)
    ap.add_argument("--allocations", type=int, default=24, help="dedicated-subnet allocations (up to 4096)")
    ap.add_argument("--accounts", type=int, default=5, help="application accounts")
    ap.add_argument("--now", help="end of the CloudTrail window, ISO 8601 (default: this hour)")
    args = ap.parse_args(argv)
    if args.accounts < 2 or args.allocations < 0:
        ap.error("--accounts must be at least 2")
    g, o = build(args)
    out = args.out
    inv = os.path.join(out, "inventory")
    t = g.truth
    write_json(os.path.join(inv, "describe-ipams.json"), {"Ipams": o["ipams"]})
    write_json(os.path.join(inv, "describe-ipam-scopes.json"), {"IpamScopes": o["scopes"]})
    write_json(os.path.join(inv, "describe-ipam-pools.json"), {"IpamPools": o["pools"]})
    write_json(os.path.join(inv, "describe-ipam-resource-discoveries.json"), {"IpamResourceDiscoveries": o["discoveries"]})
    write_json(os.path.join(inv, "describe-ipam-resource-discovery-associations.json"),
               {"IpamResourceDiscoveryAssociations": o["associations"]})
    for pid, cidrs in o["pool_cidrs"].items():
        write_json(os.path.join(inv, "get-ipam-pool-cidrs", pid + ".json"), {"IpamPoolCidrs": cidrs})
        t["pool_cidrs_by_state"].update(c["State"] for c in cidrs)
    for p in o["pools"]:
        al = o["allocs"].get(p["IpamPoolId"], [])
        write_json(os.path.join(inv, "get-ipam-pool-allocations", p["IpamPoolId"] + ".json"), {"IpamPoolAllocations": al})
        t["allocations_by_type"].update(a["ResourceType"] for a in al)
        t["allocations_per_pool"][p["IpamPoolId"]] = len(al)
    write_json(os.path.join(inv, "get-ipam-discovered-accounts", o["disco"] + ".json"),
               {"IpamDiscoveredAccounts": o["discovered"]})
    core = o["core"]
    n = max(args.resource_cidrs, len(core))
    if args.resource_cidrs and args.resource_cidrs < len(core):
        sys.stderr.write("gen_dataset: --resource-cidrs raised to the core size %d\n" % len(core))

    def all_items():
        for it in core:
            yield it
        yield from filler(g, o, n - len(core))

    def counted(items):
        for it in items:
            t["resource_cidrs_by_type"][it["ResourceType"]] += 1
            t["resource_cidrs_by_compliance"][it["ComplianceStatus"]] += 1
            t["resource_cidrs_by_management"][it["ManagementState"]] += 1
            t["resource_cidrs_by_overlap"][it["OverlapStatus"]] += 1
            t["resource_cidrs_by_family"]["ipv6" if ":" in it["ResourceCidr"] else "ipv4"] += 1
            yield it

    written = write_list(os.path.join(inv, "get-ipam-resource-cidrs", o["priv"] + ".json"), "IpamResourceCidrs",
                         counted(all_items()), big=n > 5000)
    write_list(os.path.join(inv, "get-ipam-resource-cidrs", o["pub"] + ".json"), "IpamResourceCidrs", o["public"])
    ev = events(g, o, args.events)
    for (acct, region), lst in sorted(ev.items()):
        lst.sort(key=lambda e: e["EventTime"])
        write_json(os.path.join(out, "cloudtrail", acct, region + ".json"), {"Events": lst})
    roles = {"arn:aws:iam::%s:role/ipamwatch-read" % a: {"account": a} for a in o["accounts"]}
    write_json(os.path.join(out, "credentials.json"), {
        "keys": [
            {"access_key_id": "AKIAIPAMWATCHADMIN01", "secret_access_key": "adminSecretKey/For+The/Fake+Endpoint0001",
             "session_token": None, "account": ADMIN, "expires": None},
            {"access_key_id": "AKIAIPAMWATCHAPP0001", "secret_access_key": "appSecretKey/For+The/Fake+Endpoint00002",
             "session_token": None, "account": o["apps"][0], "expires": None},
            {"access_key_id": "ASIAIPAMWATCHSESSION", "secret_access_key": "sessionSecret/For+The/Fake+Endpoint003",
             "session_token": "IQoJb3JpZ2luX2VjEFakeSessionToken+/=", "account": ADMIN,
             "expires": "2099-01-01T00:00:00Z"},
            {"access_key_id": "ASIAIPAMWATCHEXPIRED", "secret_access_key": "expiredSecret/For+The/Fake+Endpoint004",
             "session_token": "IQoJb3JpZ2luX2VjEExpiredToken", "account": ADMIN, "expires": "2020-01-01T00:00:00Z"},
        ],
        "roles": roles,
        "web_identity_tokens": ["eyJhbGciOiJSUzI1NiJ9.eyJzdWIiOiJzeXN0ZW06c2VydmljZWFjY291bnQ6aXBhbXdhdGNoOmNvbGxlY3RvciJ9.c2ln"],
        "container_authorization_token": "ipamwatch-container-token-0001",
        "imds_role": "ipamwatch-node",
    })
    truth = {
        "seed": args.seed,
        "now": g.ts(g.now),
        "ipam_id": o["ipam_id"],
        "home_region": HOME,
        "operating_regions": REGIONS,
        "admin_account": ADMIN,
        "app_accounts": o["apps"],
        "private_scope_id": o["priv"],
        "public_scope_id": o["pub"],
        "resource_discovery_id": o["disco"],
        "ipams": len(o["ipams"]),
        "scopes": len(o["scopes"]),
        "pools": len(o["pools"]),
        "top_level_pools": sorted(p["Tags"][0]["Value"] for p in o["pools"] if "SourceIpamPoolId" not in p),
        "pool_cidrs": sum(len(c) for c in o["pool_cidrs"].values()),
        "allocations": sum(len(a) for a in o["allocs"].values()),
        "resource_cidrs": written,
        "public_resource_cidrs": len(o["public"]),
        "overlapping_pairs": 1,
        "discovered_accounts": len(o["discovered"]),
        "discovery_failures": sum(1 for d in o["discovered"] if "FailureReason" in d),
        "events": args.events,
    }
    for k, v in sorted(t.items()):
        truth[k] = dict(sorted(v.items()))
    write_json(os.path.join(out, "truth.json"), truth)
    return 0


if __name__ == "__main__":
    sys.exit(main())

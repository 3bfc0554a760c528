"""demo_check: checks of the demo dataset (scripts/demo-dataset) and of `ipamwatch demo`'s
outputs against the dataset's truth.json. Used by tests/integration/16-demo.sh.

Usage: demo_check.py replay DATASET          archive replayed onto inventory-start = inventory
       demo_check.py truth DATASET           truth.json agrees with the files
       demo_check.py alerts OUT CONF         alerts.jsonl: every planted alert, nothing else
       demo_check.py quiet OUT CONF          alerts.jsonl: no alert of the types that must not fire
       demo_check.py once OUT                alerts.jsonl: one firing notification per alert until its resolve
       demo_check.py report OUT              report.csv / report.html: the quarter's figures, overlaps, peaks
       demo_check.py graphs OUT              graphs/: every span of the top pools, valid images
       demo_check.py forecast OUT            forecast.txt: the planted pool fills within weeks
OUT is the demo's output folder; the dataset is OUT/dataset. Exit 0 when the check holds,
else 1 with the reasons on stderr.
"""

import collections
import csv
import datetime
import glob
import gzip
import ipaddress
import json
import os
import re
import struct
import sys
import xml.etree.ElementTree as ET

PERIOD_TYPES = ("AllocateIpamPoolCidr", "ReleaseIpamPoolAllocation", "ProvisionIpamPoolCidr",
                "DeprovisionIpamPoolCidr")
SPANS = ["1d", "1w", "1m", "1y", "3y"]
ONPREM = [ipaddress.ip_network("10.0.0.0/12"), ipaddress.ip_network("172.16.0.0/16")]

problems = []


def bad(msg):
    problems.append(msg)


def load(path):
    with open(path, encoding="utf-8") as f:
        return json.load(f)


def when(s):
    return datetime.datetime.fromisoformat(s.replace("Z", "+00:00"))


def inventory(d):
    """The parts of an aws CLI inventory folder the checks compare."""
    pools = load(os.path.join(d, "describe-ipam-pools.json"))["IpamPools"]
    out = {"pools": {p["IpamPoolId"]: p for p in pools}, "cidrs": {}, "allocs": {}, "res": []}
    for p in pools:
        pid = p["IpamPoolId"]
        out["cidrs"][pid] = sorted(c["Cidr"] for c in load(os.path.join(d, "get-ipam-pool-cidrs", pid + ".json"))
                                   ["IpamPoolCidrs"] if c["State"] == "provisioned")
        out["allocs"][pid] = load(os.path.join(d, "get-ipam-pool-allocations", pid + ".json"))["IpamPoolAllocations"]
    for f in sorted(glob.glob(os.path.join(d, "get-ipam-resource-cidrs", "*.json"))):
        out["res"] += load(f)["IpamResourceCidrs"]
    return out


def archive_records(d):
    """Every (path, record) of the CloudTrail archive, checking the delivery layout."""
    out = []
    pat = re.compile(r"AWSLogs/o-[a-z0-9]+/(\d{12})/CloudTrail/([a-z0-9-]+)/(\d{4})/(\d\d)/(\d\d)/"
                     r"(\d{12})_CloudTrail_([a-z0-9-]+)_(\d{8}T\d{4}Z)_[0-9A-F]{16}\.json\.gz$")
    for path in sorted(glob.glob(os.path.join(d, "cloudtrail", "**", "*.json.gz"), recursive=True)):
        rel = os.path.relpath(path, os.path.join(d, "cloudtrail"))
        m = pat.match(rel)
        if not m:
            bad("archive file outside the CloudTrail layout: %s" % rel)
            continue
        acct, region, y, mo, da, acct2, region2, stamp = m.groups()
        slot = datetime.datetime.strptime(stamp, "%Y%m%dT%H%MZ").replace(tzinfo=datetime.timezone.utc)
        if acct != acct2 or region != region2 or (y, mo, da) != (stamp[:4], stamp[4:6], stamp[6:8]):
            bad("%s: folders and file name disagree" % rel)
        with gzip.open(path, "rt", encoding="utf-8") as f:
            recs = json.load(f)["Records"]
        for r in recs:
            t = when(r["eventTime"])
            if not (slot <= t < slot + datetime.timedelta(minutes=5)):
                bad("%s: event %s at %s outside the file's 5 minutes" % (rel, r["eventID"], r["eventTime"]))
            if r["recipientAccountId"] != acct or r["awsRegion"] != region:
                bad("%s: event %s of %s/%s" % (rel, r["eventID"], r["recipientAccountId"], r["awsRegion"]))
            out.append((path, r))
    return out


def cmd_replay(ds):
    """Applies the archive to inventory-start with the semantics of the events and compares
    the result with the current inventory: pool CIDRs, allocations, VPCs."""
    truth = load(os.path.join(ds, "truth.json"))
    start, now = when(truth["start"]), when(truth["now"])
    st, end = inventory(os.path.join(ds, "inventory-start")), inventory(os.path.join(ds, "inventory"))
    cidrs = {pid: set(c) for pid, c in st["cidrs"].items()}
    allocs = {pid: {a["Cidr"] for a in lst} for pid, lst in st["allocs"].items()}
    vpcs = {r["ResourceId"]: r["ResourceCidr"] for r in st["res"] if r["ResourceType"] == "vpc"}
    by_id = {}
    recs = archive_records(ds)
    if len(recs) != truth["counts"]["events"]:
        bad("archive holds %d events, truth says %d" % (len(recs), truth["counts"]["events"]))
    recs.sort(key=lambda pr: (pr[1]["eventTime"], pr[0]))
    days = set()
    for _, r in recs:
        t = when(r["eventTime"])
        if t >= now:
            bad("event %s after now" % r["eventID"])
        if t >= start:
            days.add((t - start).days)
        if "errorCode" in r:
            continue
        name, q, resp = r["eventName"], r["requestParameters"], r["responseElements"]
        if t < start:
            continue  # the set-up the start inventory already holds
        if name == "CreateVpc":
            v = resp["vpc"]
            net = ipaddress.ip_network(v["cidrBlock"])
            if any(net.overlaps(ipaddress.ip_network(c)) for c in allocs[q["ipv4IpamPoolId"]]):
                bad("VPC %s %s at %s overlaps an allocation of its pool" % (v["vpcId"], net, r["eventTime"]))
            vpcs[v["vpcId"]] = v["cidrBlock"]
            allocs[q["ipv4IpamPoolId"]].add(v["cidrBlock"])
            by_id[v["vpcId"]] = q["ipv4IpamPoolId"]
        elif name == "DeleteVpc":
            cidr = vpcs.pop(q["vpcId"])
            allocs[by_id[q["vpcId"]]].discard(cidr)
        elif name == "AllocateIpamPoolCidr":
            a = resp["AllocateIpamPoolCidrResponse"]["ipamPoolAllocation"]
            pid = q["AllocateIpamPoolCidrRequest"]["IpamPoolId"]
            if a["cidr"] in allocs[pid]:
                bad("allocation %s handed out twice in %s" % (a["cidr"], pid))
            allocs[pid].add(a["cidr"])
        elif name == "ReleaseIpamPoolAllocation":
            rq = q["ReleaseIpamPoolAllocationRequest"]
            allocs[rq["IpamPoolId"]].discard(rq["Cidr"])
        elif name == "ProvisionIpamPoolCidr":
            rq = q["ProvisionIpamPoolCidrRequest"]
            cidrs[rq["IpamPoolId"]].add(rq["Cidr"])
    missing = sorted(set(range((now - start).days)) - days)
    if missing:
        bad("%d days without any event (first: day %d): RRD history would have gaps" % (len(missing), missing[0]))
    for pid in end["pools"]:
        if set(end["cidrs"][pid]) != cidrs[pid]:
            bad("pool %s: CIDRs %s, replay gives %s" % (pid, sorted(end["cidrs"][pid]), sorted(cidrs[pid])))
        got = {a["Cidr"] for a in end["allocs"][pid]}
        if got != allocs[pid]:
            bad("pool %s: %d allocations, replay gives %d (%s)" % (pid, len(got), len(allocs[pid]),
                                                                   sorted(got ^ allocs[pid])[:4]))
    endv = {r["ResourceId"]: r["ResourceCidr"] for r in end["res"] if r["ResourceType"] == "vpc"}
    if endv != vpcs:
        bad("VPCs differ from the replay: %s" % sorted(set(endv.items()) ^ set(vpcs.items()))[:4])


def used_size(inv, pid):
    size = sum(ipaddress.ip_network(c).num_addresses for c in inv["cidrs"][pid])
    used = sum(ipaddress.ip_network(a["Cidr"]).num_addresses for a in inv["allocs"][pid])
    return used, size


def free_blocks(inv, pid):
    """Free address ranges of a pool as a list of networks."""
    free = []
    for c in inv["cidrs"][pid]:
        rest = [ipaddress.ip_network(c)]
        for a in inv["allocs"][pid]:
            an = ipaddress.ip_network(a["Cidr"])
            nxt = []
            for r in rest:
                nxt += list(r.address_exclude(an)) if an.subnet_of(r) else ([] if r.subnet_of(an) else [r])
            rest = nxt
        free += rest
    return free


def cmd_truth(ds):
    truth = load(os.path.join(ds, "truth.json"))
    inv = inventory(os.path.join(ds, "inventory"))
    now = when(truth["now"])
    qfrom = now - datetime.timedelta(days=truth["report"]["period"]["days"])
    planted_pools = {a["labels"]["pool_id"] for a in truth["alerts"] if "pool_id" in a["labels"]}
    fc = next(a for a in truth["alerts"] if a["type"] == "forecast")["labels"]["pool_id"]
    cf = next(a for a in truth["alerts"] if a["type"] == "cannot_fit")["labels"]["pool_id"]
    for pid, p in inv["pools"].items():
        used, size = used_size(inv, pid)
        util = 100.0 * used / size
        t = truth["pools"].get(pid)
        if not t or abs(t["utilization"] - util) > 1e-3:
            bad("pool %s: utilization %.4f, truth %s" % (pid, util, t and t["utilization"]))
        if util >= 75 and pid not in planted_pools:
            bad("pool %s is %.1f %% used but no alert is planted on it" % (pid, util))
        dflt = p.get("AllocationDefaultNetmaskLength")
        if dflt:
            fits = any(b.prefixlen <= dflt for b in free_blocks(inv, pid))
            if fits == (pid == cf):
                bad("pool %s: a /%d %s" % (pid, dflt, "fits" if fits else "does not fit"))
    free = 100 - truth["pools"][cf]["utilization"]
    if not 25 <= free <= 40:
        bad("the cannot-fit pool has %.1f %% free, not about 30 %%" % free)
    if truth["pools"][fc]["utilization"] < 80:
        bad("the forecast pool is below the warning level")
    top = truth["report"]["top_pool_utilization"]
    for pid, p in inv["pools"].items():
        if "SourceIpamPoolId" not in p and abs(top[pid]["utilization"] - truth["pools"][pid]["utilization"]) > 1e-9:
            bad("top pool %s: utilization differs within truth.json" % pid)
    # Overlaps: the pairs in the inventory are exactly the planted open ones.
    res = [r for r in inv["res"] if r["IpamScopeId"] == truth["private_scope_id"]]
    pairs = set()
    for i, a in enumerate(res):
        na = ipaddress.ip_network(a["ResourceCidr"])
        for s in ONPREM:
            if na.overlaps(s):
                pairs.add(frozenset([(a["ResourceId"], a["ResourceCidr"]), ("static:corporate", str(s))]))
        for b in res[i + 1:]:
            same_vpc = a["VpcId"] == b["VpcId"]
            if not same_vpc and na.overlaps(ipaddress.ip_network(b["ResourceCidr"])):
                pairs.add(frozenset([(a["ResourceId"], a["ResourceCidr"]), (b["ResourceId"], b["ResourceCidr"])]))
    want = {frozenset((s["resource"], s["cidr"]) for s in a["pair"]) for a in truth["alerts"]
            if a["type"] == "overlap" and a["state"] == "firing"}
    if pairs != want:
        bad("overlapping pairs in the inventory %s, planted %s" % (sorted(map(sorted, pairs)), sorted(map(sorted, want))))
    nc = {(r["ResourceId"], r["ResourceCidr"]) for r in res if r["ComplianceStatus"] == "noncompliant"}
    want_nc = {(a["labels"]["resource_id"], a["labels"]["cidr"]) for a in truth["alerts"] if a["type"] == "noncompliant"}
    if nc != want_nc:
        bad("noncompliant resources %s, planted %s" % (sorted(nc), sorted(want_nc)))
    # The report figures, recounted from the archive.
    recs = [r for _, r in archive_records(ds) if qfrom <= when(r["eventTime"]) < now]
    ok = [r for r in recs if "errorCode" not in r and r["eventName"] in PERIOD_TYPES]
    failed_alloc = [r for r in recs if "errorCode" in r and (
        r["eventName"] == "AllocateIpamPoolCidr" or "ipv4IpamPoolId" in (r["requestParameters"] or {}))]
    failed = [r for r in recs if "errorCode" in r]
    rep = truth["report"]
    count = collections.Counter(r["eventName"] for r in ok)
    for key, name in (("allocations", "AllocateIpamPoolCidr"), ("releases", "ReleaseIpamPoolAllocation"),
                      ("provisions", "ProvisionIpamPoolCidr"), ("deprovisions", "DeprovisionIpamPoolCidr")):
        if rep[key] != count[name]:
            bad("report %s: truth %d, archive %d" % (key, rep[key], count[name]))
    if rep["failed_allocations"] != len(failed_alloc) or rep["failed"] != len(failed):
        bad("failed: truth %d/%d, archive %d/%d" % (rep["failed_allocations"], rep["failed"], len(failed_alloc),
                                                   len(failed)))
    principals = {r["userIdentity"]["arn"] for r in ok + failed_alloc}
    if rep["principals"] != len(principals) or sorted(principals) != rep["principal_arns"]:
        bad("principals: truth %d, archive %d" % (rep["principals"], len(principals)))
    first_day = [r for r in ok + failed_alloc if when(r["eventTime"]) < qfrom + datetime.timedelta(days=1)]
    if first_day:
        bad("%d ledger events on the period's first day" % len(first_day))
    cfn = [r for r in ok if r["userIdentity"].get("invokedBy") == "cloudformation.amazonaws.com"]
    if not cfn or len(cfn) < len(ok) // 2:
        bad("allocations are not made by self-service roles through CloudFormation")


def final_alerts(path):
    """fingerprint -> last notification of alerts.jsonl; and every notification."""
    last, every = {}, []
    with open(path, encoding="utf-8") as f:
        for line in f:
            if line.strip():
                r = json.loads(line)
                every.append(r)
                last[r["fingerprint"]] = r
    return last, every


def rule_types(conf):
    """[rule "NAME"] -> type, from the demo's configuration."""
    types, name = {}, None
    with open(conf, encoding="utf-8") as f:
        for line in f:
            line = line.strip()
            m = re.match(r'\[rule "([^"]+)"\]', line)
            if m:
                name = m.group(1)
            elif line.startswith("["):
                name = None
            elif name and re.match(r"type\s*=", line):
                types[name] = line.split("=", 1)[1].strip()
    return types


def matches(planted, alert):
    labels = alert["labels"]
    if any(labels.get(k) != v for k, v in planted["labels"].items()):
        return False
    if planted["type"] == "overlap":
        got = {(labels.get("resource_a"), labels.get("cidr_a")), (labels.get("resource_b"), labels.get("cidr_b"))}
        return got == {(s["resource"], s["cidr"]) for s in planted["pair"]}
    return True


def cmd_quiet(out, conf):
    """The rule types the truth lists as not firing never notified, in any state."""
    truth = load(os.path.join(out, "dataset", "truth.json"))
    types = rule_types(conf)
    for r in final_alerts(os.path.join(out, "alerts.jsonl"))[1]:
        if types.get(r["rule"]) in truth["not_firing"]:
            bad("%s %s (%s): must not fire" % (r["rule"], r["state"], r["labels"]))


def cmd_once(out):
    """Each alert pages once until its resolve: one "firing" notification per fingerprint and
    episode. The replayed changes are up to three years old, and the demo ends long before a
    rule's repeat_interval (4h) of wall time could bring a reminder."""
    firing = {}
    for r in final_alerts(os.path.join(out, "alerts.jsonl"))[1]:
        fp = r["fingerprint"]
        if r["state"] == "firing":
            firing[fp] = firing.get(fp, 0) + 1
            if firing[fp] == 2:
                bad("%s %s: a second firing notification before its resolve (at %s)" %
                    (r["rule"], r["labels"], r.get("ts")))
        elif r["state"] == "resolved":
            if not firing.get(fp):
                bad("%s %s: resolved without firing" % (r["rule"], r["labels"]))
            firing[fp] = 0


def cmd_alerts(out, conf):
    """Every planted alert ends in its state; no other alert (of the types that may fire)."""
    truth = load(os.path.join(out, "dataset", "truth.json"))
    types = rule_types(conf)
    last, every = final_alerts(os.path.join(out, "alerts.jsonl"))
    found = set()
    for planted in truth["alerts"]:
        want = planted.get("state", "firing")
        hits = [a for a in last.values() if types.get(a["rule"]) == planted["type"] and matches(planted, a)]
        if len(hits) != 1:
            bad("planted %s alert %s: %d alerts match" % (planted["type"], planted.get("pair", planted["labels"]),
                                                          len(hits)))
            continue
        if hits[0]["state"] != want:
            bad("planted %s alert %s ended %s, want %s" % (planted["type"], planted["labels"], hits[0]["state"], want))
        if want == "resolved" and not any(a["fingerprint"] == hits[0]["fingerprint"] and a["state"] == "firing"
                                          for a in every):
            bad("planted %s alert %s resolved without firing first" % (planted["type"], planted["labels"]))
        found.add(hits[0]["fingerprint"])
    for fp, a in sorted(last.items()):
        if fp not in found and types.get(a["rule"]) not in truth["not_firing"]:
            bad("alert not planted: %s %s %s" % (a["rule"], a["state"], a["labels"]))
    kinds = {types.get(a["rule"]) for a in last.values() if a["state"] == "firing"}
    missing = {p["type"] for p in truth["alerts"]} - kinds
    if missing:
        bad("alert kinds never firing at the end: %s" % sorted(missing))


def cmd_report(out):
    truth = load(os.path.join(out, "dataset", "truth.json"))
    rep = truth["report"]
    with open(os.path.join(out, "report.csv"), encoding="utf-8", newline="") as f:
        first = f.readline()
        rows = list(csv.DictReader(f))
    if "verified" not in first or "BROKEN" in first:
        bad("report.csv: journal not verified intact: %s" % first.strip())
    summary = {r["key"]: r["value"] for r in rows if r["section"] == "summary"}
    for key in ("allocations", "releases", "provisions", "deprovisions", "failed_allocations", "failed", "overlaps",
                "overlaps_opened", "overlaps_closed", "overlaps_open_at_end", "noncompliant", "noncompliant_at_end",
                "unmanaged"):
        got = summary.get("counts." + key)
        if got is None and key == "unmanaged":
            continue  # reports without the unmanaged section
        if got is None or int(got) != rep[key]:
            bad("report counts.%s = %s, truth %d" % (key, got, rep[key]))
    ledger = [r for r in rows if r["section"] == "ledger"]
    principals = {r["principal_arn"] for r in ledger}
    if principals != set(rep["principal_arns"]):
        bad("report ledger: %d distinct principals, truth %d" % (len(principals), rep["principals"]))
    util = {r["pool_id"]: r for r in rows if r["section"] == "utilization"}
    for pid, t in rep["top_pool_utilization"].items():
        got = util.get(pid, {}).get("end_utilization")
        if not got or abs(float(got) - t["utilization"]) > 0.01:
            bad("top pool %s (%s): end utilization %s, truth %.4f" % (pid, t["name"], got, t["utilization"]))
    for pid, t in truth["pools"].items():
        got = util.get(pid, {}).get("end_utilization")
        if not got or abs(float(got) - t["utilization"]) > 0.01:
            bad("pool %s (%s): end utilization %s, truth %.4f" % (pid, t["name"], got, t["utilization"]))
    # Overlap intervals: each planted pair once, opened (and closed) at the generator's event
    # times to the second; a closed one lasts closed - opened, an open one until the period's end.
    end = when(summary["period.to"])
    overlaps = [r for r in rows if r["section"] == "overlap"]
    if len(overlaps) != len(rep["overlap_intervals"]):
        bad("report: %d overlap rows, truth %d" % (len(overlaps), len(rep["overlap_intervals"])))
    for t in rep["overlap_intervals"]:
        ids = [s["resource"] for s in t["pair"]]
        got = [r for r in overlaps if all(i in r["pair"] + r["a"] + r["b"] for i in ids)]
        if len(got) != 1:
            bad("report: %d overlap rows for %s, truth 1" % (len(got), " / ".join(ids)))
            continue
        r = got[0]
        opened = when(t["opened"])
        want_closed = when(t["closed"]) if t["closed"] else None
        want_dur = int(((want_closed or end) - opened).total_seconds())
        if not r["opened"] or when(r["opened"]) != opened:
            bad("overlap %s: opened %s, truth %s" % (" / ".join(ids), r["opened"], t["opened"]))
        if (when(r["closed"]) if r["closed"] else None) != want_closed:
            bad("overlap %s: closed %r, truth %s" % (" / ".join(ids), r["closed"], t["closed"]))
        if r["open_ended"] != ("false" if want_closed else "true") or int(r["duration_s"] or -1) != want_dur:
            bad("overlap %s: duration_s %s open_ended %s, truth %d %s" % (" / ".join(ids), r["duration_s"],
                                                                       r["open_ended"], want_dur, not want_closed))
    # Peaks over the period (RRD MAX rows): at least the highest state a day of the period
    # ended in, at most the highest momentary state from the day before the period (a MAX row
    # can reach back before the period's start, and can hold a change undone within minutes).
    for pid, t in rep["peak_utilization"].items():
        got = util.get(pid, {}).get("peak_utilization")
        if not got or not t["peak_daily"] - 0.01 <= float(got) <= t["peak_momentary"] + 0.01:
            bad("pool %s (%s): peak utilization %s, truth %.4f (up to %.4f)" % (
                pid, t["name"], got, t["peak_daily"], t["peak_momentary"]))
    with open(os.path.join(out, "report.html"), encoding="utf-8") as f:
        html = f.read()
    digest = summary.get("journal_head_digest", "")
    if not digest or digest not in html or "data:image/png;base64," not in html:
        bad("report.html lacks the journal digest or its graphs")
    for key in ("allocations", "failed_allocations", "overlaps_opened"):
        if not re.search(r"\b%s\b\W{1,40}?\b%d\b" % (key, rep[key]), html):
            bad("report.html does not show %s = %d" % (key, rep[key]))


def png_size(path):
    with open(path, "rb") as f:
        head = f.read(24)
    if head[:8] != b"\x89PNG\r\n\x1a\n" or head[12:16] != b"IHDR":
        return None
    return struct.unpack(">II", head[16:24])


def cmd_graphs(out):
    truth = load(os.path.join(out, "dataset", "truth.json"))
    fc = next(a for a in truth["alerts"] if a["type"] == "forecast")["labels"]["pool_id"]
    files = os.listdir(os.path.join(out, "graphs"))
    pools = sorted({m.group(1) for m in (re.match(r"(ipam-pool-[0-9a-f]+)-\w+\.(png|svg)$", f) for f in files) if m})
    if fc not in pools:
        bad("no graphs of the pool forecast to fill (%s); graphed: %s" % (fc, pools))
    if not pools or len(pools) > 8:
        bad("%d pools graphed" % len(pools))
    sizes = set()
    for pid in pools:
        for span in SPANS:
            path = os.path.join(out, "graphs", "%s-%s.png" % (pid, span))
            size = png_size(path) if os.path.exists(path) else None
            if size is None:
                bad("%s: missing or not a PNG" % os.path.basename(path))
                continue
            sizes.add(size)
            if os.path.getsize(path) < 2000:
                bad("%s: %d bytes, too small for a drawn graph" % (os.path.basename(path), os.path.getsize(path)))
        svg = os.path.join(out, "graphs", "%s-3y.svg" % pid)
        try:
            root = ET.parse(svg).getroot()
            if not root.tag.endswith("svg"):
                raise ValueError("root element %s" % root.tag)
            w = float(re.sub(r"[a-z]+$", "", root.get("width", "0")))
            h = float(re.sub(r"[a-z]+$", "", root.get("height", "0")))
            sizes.add((round(w), round(h)))
        except (OSError, ET.ParseError, ValueError) as e:
            bad("%s: not an SVG image: %s" % (os.path.basename(svg), e))
    if len(sizes) != 1 or any(w < 400 or h < 150 for w, h in sizes):
        bad("graph sizes %s: want one size, at least 400x150" % sorted(sizes))


def cmd_forecast(out):
    truth = load(os.path.join(out, "dataset", "truth.json"))
    planted = next(a for a in truth["alerts"] if a["type"] == "forecast")
    fc = planted["labels"]["pool_id"]
    now = when(truth["now"])
    with open(os.path.join(out, "forecast.txt"), encoding="utf-8") as f:
        lines = f.read().splitlines()
    dated = {}
    for line in lines:
        m = re.match(r"(ipam-pool-[0-9a-f]+)\s.*?\s(\d{4}-\d\d-\d\d)\s", line)
        if m:
            dated[m.group(1)] = datetime.datetime.strptime(m.group(2), "%Y-%m-%d").replace(tzinfo=datetime.timezone.utc)
    if fc not in dated:
        bad("forecast.txt gives no date for %s (%s)" % (fc, planted["name"]))
        return
    days = (dated[fc] - now).total_seconds() / 86400
    if not planted["days_min"] <= days <= planted["days_max"]:
        bad("%s projected full in %.1f days, expected %.1f to %.1f" % (fc, days, planted["days_min"], planted["days_max"]))
    for pid, t in dated.items():
        if pid != fc and (t - now).days < 90:
            bad("forecast.txt: %s projected full on %s, within the forecast rule's 90 days" % (pid, t.date()))


def main(argv):
    cmds = {"replay": cmd_replay, "truth": cmd_truth, "alerts": cmd_alerts, "quiet": cmd_quiet, "report": cmd_report,
            "graphs": cmd_graphs, "forecast": cmd_forecast, "once": cmd_once}
    if len(argv) < 2 or argv[0] not in cmds:
        sys.stderr.write(__doc__)
        return 2
    cmds[argv[0]](*argv[1:])
    for p in problems[:30]:
        sys.stderr.write("demo_check %s: %s\n" % (argv[0], p))
    if len(problems) > 30:
        sys.stderr.write("demo_check %s: ... and %d more\n" % (argv[0], len(problems) - 30))
    return 1 if problems else 0


if __name__ == "__main__":
    sys.exit(main(sys.argv[1:]))

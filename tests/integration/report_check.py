"""Known history for tests/integration/13-report.sh and the checks of its reports.

  gen OUT                      records of a known day (key TAB record per line) for kcat
  json REPORT SCHEMA WHAT      validate REPORT against SCHEMA, then check WHAT
                               (all | scope | wide) against the known history
  csv REPORT                   parse with the csv module and check rows and counts
  tamper JOURNAL               edit one byte of a data field; prints "FILE LINE SEQ"
  first REPORT FORMAT FILE LINE SEQ
                               the report's first line names a broken chain at FILE LINE SEQ
  html REPORT PNG              self-contained page with data: PNG graphs; the PNG is real
Every check prints what differs and exits 1 on a mismatch.
"""
import csv
import datetime as dt
import json
import os
import re
import struct
import sys

T0 = dt.datetime(2025, 1, 6, tzinfo=dt.timezone.utc)
S1 = "ipam-scope-0a000000000000001"
S2 = "ipam-scope-0b000000000000002"
P1 = "ipam-pool-0a000000000000001"
P2 = "ipam-pool-0a000000000000002"
P3 = "ipam-pool-0b000000000000003"
ALICE = "arn:aws:sts::111111111111:assumed-role/NetworkAdmin/alice"
BOB = "arn:aws:iam::111111111111:user/bob"
CAROL = "arn:aws:iam::111111111111:user/carol"
DAVE = "arn:aws:iam::333333333333:user/dave"
ADMIN = "arn:aws:iam::111111111111:user/admin"
TF = "arn:aws:sts::222222222222:assumed-role/Deployer/terraform"
UM = "vpc-00000000000000um"


def ts(hours=0.0, seconds=0):
    t = T0 + dt.timedelta(hours=hours, seconds=seconds)
    return t.strftime("%Y-%m-%dT%H:%M:%S.000Z")


def iso(hours=0.0):
    return (T0 + dt.timedelta(hours=hours)).strftime("%Y-%m-%dT%H:%M:%SZ")


def env(rtype, scope, when, pass_id=None):
    r = {"v": 1, "type": rtype, "scope": scope, "ts": when, "source": "collector/test"}
    if pass_id:
        r["pass"] = pass_id
    return r


def event(eid, name, hours, principal, ptype, scope, account="111111111111", **kw):
    r = {"v": 1, "type": "event", "scope": scope, "ts": ts(hours), "source": "collector/test",
         "event_id": eid, "name": name, "time": ts(hours), "account": account,
         "region": "eu-central-1", "caller_account": account,
         "principal": {"type": ptype, "arn": principal}}
    r.update(kw)
    r["parsed"] = True
    return r


def passes(scope, hours, pools, pcidrs, allocs, res):
    pid = "test/%s/%d" % (scope, int(hours * 3600))
    out = []
    b = env("pass_begin", scope, ts(hours), pid)
    b.update({"collector_id": "test", "started": ts(hours)})
    out.append(b)
    s = env("scope", scope, ts(hours), pid)
    s.update({"scope_id": scope, "scope_type": "private"})
    out.append(s)
    for p, cidr, netmask in pools:
        r = env("pool", scope, ts(hours), pid)
        r.update({"pool_id": p, "scope_id": scope, "locale": "eu-central-1",
                  "address_family": "ipv4", "depth": 1, "state": "create-complete",
                  "allocation_default_netmask": netmask})
        out.append(r)
    for p, cidr in pcidrs:
        r = env("pool_cidr", scope, ts(hours), pid)
        r.update({"pool_id": p, "cidr": cidr, "state": "provisioned"})
        out.append(r)
    for p, aid, cidr, rtype, rid in allocs:
        r = env("allocation", scope, ts(hours), pid)
        r.update({"pool_id": p, "allocation_id": aid, "cidr": cidr, "resource_type": rtype})
        if rid:
            r["resource_id"] = rid
        r.update({"resource_owner": "111111111111", "resource_region": "eu-central-1"})
        out.append(r)
    for rid, cidr, pool, comp, *mgmt in res:
        r = env("resource_cidr", scope, ts(hours), pid)
        r.update({"scope_id": scope, "resource_type": "vpc", "resource_id": rid, "cidr": cidr,
                  "name": rid + "-name", "owner": "222222222222", "region": "eu-central-1",
                  "vpc_id": rid})
        if pool:
            r["pool_id"] = pool
        r.update({"compliance_status": comp, "overlap_status": "nonoverlapping",
                  "management_state": mgmt[0] if mgmt else "managed", "ip_usage": 0.5})
        out.append(r)
    e = env("pass_end", scope, ts(hours, 5), pid)
    e["counts"] = {"scope": 1, "pool": len(pools), "pool_cidr": len(pcidrs),
                   "allocation": len(allocs), "resource_cidr": len(res)}
    e["complete"] = True
    out.append(e)
    return out


def history():
    recs = []
    # Before the period: only in a wider report.
    recs.append(event("ev-carol-1", "AllocateIpamPoolCidr", -48, CAROL, "IAMUser", S1,
                      pool_id=P1, allocation_id="ipam-pool-alloc-c", cidr="10.0.200.0/24"))
    recs += passes(S1, 0, [(P1, "10.0.0.0/16", 20), (P2, "10.1.0.0/16", 20)],
                   [(P1, "10.0.0.0/16"), (P2, "10.1.0.0/16")],
                   [(P1, "ipam-pool-alloc-1", "10.0.0.0/20", "vpc", "vpc-0000000000000001"),
                    (P2, "ipam-pool-alloc-4", "10.1.0.0/18", "custom", None)],
                   [("vpc-0000000000000001", "10.0.0.0/20", P1, "compliant"),
                    ("vpc-00000000000000nc", "10.1.0.0/20", None, "noncompliant")])
    # S2 has an unmanaged VPC until its second pass, which no longer lists it.
    recs += passes(S2, 1 / 6, [(P3, "172.16.0.0/16", 20)], [(P3, "172.16.0.0/16")],
                   [(P3, "ipam-pool-alloc-5", "172.16.0.0/20", "custom", None)],
                   [(UM, "172.16.128.0/20", None, "unmanaged", "unmanaged")])
    recs.append(event("ev-alice-1", "AllocateIpamPoolCidr", 1, ALICE, "AssumedRole", S1,
                      pool_id=P1, allocation_id="ipam-pool-alloc-2", cidr="10.0.16.0/20",
                      netmask_length=20))
    recs.append(event("ev-bob-1", "AllocateIpamPoolCidr", 2, BOB, "IAMUser", S1,
                      pool_id=P1, allocation_id="ipam-pool-alloc-3", cidr="10.0.32.0/19"))
    recs.append(event("ev-dave-1", "AllocateIpamPoolCidr", 2.5, DAVE, "IAMUser", S2,
                      account="333333333333", pool_id=P3, allocation_id="ipam-pool-alloc-6",
                      cidr="172.16.16.0/20"))
    recs.append(event("ev-alice-2", "AllocateIpamPoolCidr", 3, ALICE, "AssumedRole", S1,
                      pool_id=P1, netmask_length=16, error_code="InvalidParameterValue",
                      error_message="The allocation size is too big for the pool."))
    recs.append(event("ev-bob-2", "ReleaseIpamPoolAllocation", 4, BOB, "IAMUser", S1,
                      pool_id=P1, allocation_id="ipam-pool-alloc-2", cidr="10.0.16.0/20"))
    recs.append(event("ev-tf-1", "CreateVpc", 5, TF, "AssumedRole", S1, account="222222222222",
                      cidr="10.0.0.0/24", resource_id="vpc-00000000000000ov",
                      vpc_id="vpc-00000000000000ov"))
    recs.append(event("ev-admin-1", "ProvisionIpamPoolCidr", 6, ADMIN, "IAMUser", S1,
                      pool_id=P2, cidr="10.2.0.0/16"))
    recs.append(event("ev-tf-2", "DeleteVpc", 7, TF, "AssumedRole", S1, account="222222222222",
                      resource_id="vpc-00000000000000ov", vpc_id="vpc-00000000000000ov"))
    recs.append(event("ev-tf-3", "CreateVpc", 8, TF, "AssumedRole", S1, account="222222222222",
                      cidr="192.168.1.0/24", resource_id="vpc-00000000000000op",
                      vpc_id="vpc-00000000000000op"))
    recs += passes(S2, 9, [(P3, "172.16.0.0/16", 20)], [(P3, "172.16.0.0/16")],
                   [(P3, "ipam-pool-alloc-5", "172.16.0.0/20", "custom", None),
                    (P3, "ipam-pool-alloc-6", "172.16.16.0/20", "custom", None)], [])
    # Changes nothing; makes the analyzer sample the final figures.
    recs.append(event("ev-admin-2", "ModifyIpamPool", 12, ADMIN, "IAMUser", S1, pool_id=P1))
    return recs


def gen(out):
    with open(out, "w") as f:
        for r in history():
            f.write("%s\t%s\n" % (r["scope"], json.dumps(r, separators=(",", ":"))))


class Checker:
    def __init__(self):
        self.bad = 0

    def eq(self, what, got, want):
        if got != want:
            print("# %s: got %r, want %r" % (what, got, want))
            self.bad += 1

    def near(self, what, got, want, tol=0.01):
        if got is None or abs(float(got) - want) > tol:
            print("# %s: got %r, want %r" % (what, got, want))
            self.bad += 1

    def done(self):
        sys.exit(1 if self.bad else 0)


def expect_ledger(what):
    rows = [(iso(1), "allocation", ALICE, True), (iso(2), "allocation", BOB, True),
            (iso(2.5), "allocation", DAVE, True), (iso(3), "allocation_failed", ALICE, False),
            (iso(4), "release", BOB, True), (iso(6), "provision", ADMIN, True)]
    if what == "scope":
        rows = [r for r in rows if r[2] != DAVE]
    if what == "wide":
        rows.insert(0, (iso(-48), "allocation", CAROL, True))
    return rows


def check_json(path, schema_path, what):
    import jsonschema
    c = Checker()
    doc = json.load(open(path))
    schema = json.load(open(schema_path))
    jsonschema.Draft7Validator.check_schema(schema)
    errs = list(jsonschema.Draft7Validator(schema).iter_errors(doc))
    for e in errs[:5]:
        print("# schema: %s at %s" % (e.message, list(e.absolute_path)))
    c.eq("schema errors", len(errs), 0)
    c.eq("first member", list(doc)[0], "integrity")
    c.eq("integrity ok", doc["integrity"]["ok"], True)
    got = [(r["time"], r["kind"], r["principal_arn"], r["success"]) for r in doc["ledger"]]
    c.eq("ledger (time, kind, principal, success)", got, expect_ledger(what))
    led = {r["event_id"]: r for r in doc["ledger"]}
    if "ev-alice-1" in led:
        r = led["ev-alice-1"]
        c.eq("alice's allocation", (r["pool_id"], r["cidr"], r["account"], r["region"],
                                    r["principal_type"], r["allocation_id"]),
             (P1, "10.0.16.0/20", "111111111111", "eu-central-1", "AssumedRole",
              "ipam-pool-alloc-2"))
    f = doc["failed_allocations"]
    c.eq("failed allocations", [(r["principal_arn"], r["pool_id"], r["error_code"],
                                 r["error_message"]) for r in f],
         [(ALICE, P1, "InvalidParameterValue", "The allocation size is too big for the pool.")])
    ov = sorted(doc["overlaps"], key=lambda r: r["opened"])
    want_ov = [(iso(5), iso(7), 7200, False), (iso(8), None, 16 * 3600, True)]
    c.eq("overlaps (opened, closed, duration, open-ended)",
         [(r["opened"], r["closed"], r["duration_s"], r["open_ended"]) for r in ov], want_ov)
    if len(ov) == 2:
        c.eq("closed pair", sorted([ov[0]["a"], ov[0]["b"]]),
             ["vpc-0000000000000001/10.0.0.0/20", "vpc-00000000000000ov/10.0.0.0/24"])
        c.eq("open pair domain", ov[1]["domain"], "corp")
    nc = doc["noncompliant"]
    c.eq("noncompliant", [(r["resource_id"], r["cidr"], r["since"], r["open_ended"]) for r in nc],
         [("vpc-00000000000000nc", "10.1.0.0/20", iso(0), True)])
    um = doc["unmanaged"]
    want_um = [] if what == "scope" else [(UM, "172.16.128.0/20", S2, "unmanaged", iso(1 / 6),
                                           iso(9), 9 * 3600 - 600, False, "deleted")]
    c.eq("unmanaged (id, cidr, scope, status, since, until, duration, open-ended, resolved as)",
         [(r["resource_id"], r["cidr"], r["scope_id"], r["status"], r["since"], r["until"],
           r["duration_s"], r["open_ended"], r["resolved_as"]) for r in um], want_um)
    util = {r["pool_id"]: r for r in doc["utilization"]}
    want_util = {P1: (25.0, 18.75), P2: (25.0, 12.5), P3: (12.5, 12.5)}
    if what == "scope":
        del want_util[P3]
    c.eq("pools", sorted(util), sorted(want_util))
    for p, (peak, end) in want_util.items():
        if p in util:
            c.near(p + " peak", util[p]["peak_utilization"], peak)
            c.near(p + " end", util[p]["end_utilization"], end)
    if P1 in util:
        pt = util[P1]["peak_time"]
        c.eq("P1 peak time within (bob's allocation, the release]", iso(2) < pt <= iso(4), True)
    s = doc["summary"]
    led_rows = expect_ledger(what)
    c.eq("summary counts", (s["counts"]["ledger"], s["counts"]["failed"],
                            s["counts"]["overlaps"], s["counts"]["overlaps_open_at_end"],
                            s["counts"]["noncompliant"], s["counts"]["pools"],
                            s["counts"]["unmanaged"], s["counts"]["unmanaged_at_end"]),
         (len(led_rows), 1, 2, 1, 1, len(want_util), len(want_um), 0))
    c.eq("summary scope", s["scope"], S1 if what == "scope" else None)
    c.eq("summary head digest = integrity head digest", s["journal_head_digest"],
         doc["integrity"]["head_digest"])
    c.eq("digest is 64 hex", bool(re.fullmatch("[0-9a-f]{64}", s["journal_head_digest"])), True)
    c.done()


def check_csv(path):
    c = Checker()
    with open(path, newline="") as f:
        first = f.readline()
        c.eq("first line is the integrity comment", first.startswith("# integrity: journal: "),
             True)
        rows = list(csv.DictReader(f))
    by = {}
    for r in rows:
        by.setdefault(r["section"], []).append(r)
    c.eq("sections", sorted(by), sorted(["ledger", "failed", "overlap", "noncompliant",
                                         "unmanaged", "utilization", "summary"]))
    c.eq("unmanaged rows", [(r["resource_id"], r["until"], r["resolved_as"])
                            for r in by.get("unmanaged", [])], [(UM, iso(9), "deleted")])
    c.eq("ledger principals", [r["principal_arn"] for r in by.get("ledger", [])],
         [r[2] for r in expect_ledger("all")])
    c.eq("ledger success", [r["success"] for r in by.get("ledger", [])],
         ["true", "true", "true", "false", "true", "true"])
    c.eq("failed", [(r["error_code"], r["pool_id"]) for r in by.get("failed", [])],
         [("InvalidParameterValue", P1)])
    c.eq("overlap durations", sorted(r["duration_s"] for r in by.get("overlap", [])),
         ["57600", "7200"])
    util = {r["pool_id"]: r for r in by.get("utilization", [])}
    c.near("P1 peak", util.get(P1, {}).get("peak_utilization"), 25.0)
    summ = {r["key"]: r["value"] for r in by.get("summary", [])}
    c.eq("summary ledger count", summ.get("counts.ledger"), "6")
    c.eq("summary period", (summ.get("period.from"), summ.get("period.to")), (iso(0), iso(24)))
    c.done()


def tamper(journal):
    """Changes one character inside the "data" of alice's first allocation record."""
    for name in sorted(os.listdir(journal)):
        if not name.endswith(".jsonl"):
            continue
        path = os.path.join(journal, name)
        lines = open(path, "rb").read().split(b"\n")
        for i, line in enumerate(lines):
            if b'"key":"ev-alice-1"' in line:
                at = line.index(b'"data":')
                k = line.index(b"10.0.16.0/20", at)
                lines[i] = line[:k] + b"10.0.17.0/20" + line[k + 12:]
                open(path, "wb").write(b"\n".join(lines))
                seq = json.loads(line)["seq"]
                print(name, i + 1, seq)
                return
    sys.exit("alice's record not found")


def check_first(path, fmt, fname, line, seq):
    c = Checker()
    text = open(path).read()
    first = text.split("\n", 1)[0]
    where = "%s line %s (seq %s)" % (fname, line, seq)
    if fmt == "csv":
        c.eq("CSV first row is the broken-chain comment",
             first.startswith("# integrity: journal: BROKEN") and where in first, True)
    elif fmt == "json":
        doc = json.loads(text)
        c.eq("JSON integrity is the first member", list(doc)[0], "integrity")
        f = doc["integrity"]["fault"] or {}
        c.eq("JSON integrity", (doc["integrity"]["ok"], f.get("file"), f.get("line"),
                                f.get("seq"), f.get("kind")),
             (False, fname, int(line), int(seq), "edited"))
        c.eq("JSON first line opens the integrity object", first.strip(), "{")
        c.eq("JSON second line", text.split("\n")[1].strip(), '"integrity": {')
    else:
        body = text.split("<body>", 1)[1] if "<body>" in text else ""
        c.eq("HTML banner is the first element of the body",
             body.lstrip().startswith('<div class="banner"') and where in
             body.split("</div>", 1)[0], True)
        c.eq("banner is red", bool(re.search(r"\.banner\{background:#c00", text)), True)
    c.done()


def png_size(path):
    data = open(path, "rb").read()
    if data[:8] != b"\x89PNG\r\n\x1a\n":
        return None
    w, h = struct.unpack(">II", data[16:24])
    return w, h, len(data)


def check_html(path, png):
    import base64
    c = Checker()
    text = open(path).read()
    imgs = re.findall(r'<img [^>]*src="data:image/png;base64,([A-Za-z0-9+/=]+)"', text)
    c.eq("embedded PNG graphs (one per pool, top 5)", len(imgs), 3)
    for i, b in enumerate(imgs):
        raw = base64.b64decode(b)
        c.eq("graph %d is a PNG" % i, raw[:8], b"\x89PNG\r\n\x1a\n")
    c.eq("no external resources", re.findall(r'(?:src|href)="(?!data:)[^"]*"', text), [])
    c.eq("print rules", "@media print" in text, True)
    c.eq("alice in the ledger table", ALICE in text, True)
    c.eq("the unmanaged VPC in its table", "Unmanaged resources" in text and UM in text, True)
    size = png_size(png) if os.path.exists(png) else None
    ok = size is not None and size[0] >= 1000 and size[1] >= 1000 and size[2] > 10000
    if not ok:
        print("# screenshot: %r" % (size,))
    c.eq("screenshot is a non-trivial PNG", ok, True)
    c.done()


def main():
    cmd = sys.argv[1]
    if cmd == "gen":
        gen(sys.argv[2])
    elif cmd == "json":
        check_json(sys.argv[2], sys.argv[3], sys.argv[4])
    elif cmd == "csv":
        check_csv(sys.argv[2])
    elif cmd == "tamper":
        tamper(sys.argv[2])
    elif cmd == "first":
        check_first(*sys.argv[2:7])
    elif cmd == "html":
        check_html(sys.argv[2], sys.argv[3])
    else:
        sys.exit("unknown command " + cmd)


if __name__ == "__main__":
    main()

"""archive_check: helpers of 08-archive.sh (runs under Debian's /usr/bin/python3).

  archive_check.py make DATASET_DIR OUT_DIR EXPECTED.json
      Turns a generated dataset's CloudTrail events (cloudtrail/<account>/<region>.json,
      LookupEvents pages) into a CloudTrail log archive as S3 delivers it: one file per
      account, Region and hour, gzip'd, under AWSLogs/<account>/CloudTrail/<region>/yyyy/mm/dd/,
      plus noise (read-only and STS events), an organisation-trail copy of one account
      (AWSLogs/<org-id>/<account>/..., same events: duplicates), a plain .json file, a digest
      file, and three broken files (corrupt gzip, truncated gzip, malformed JSON) whose
      events exist nowhere else. Writes what must reach Kafka: {"events": {id: {...}},
      "lost": [ids only in broken files], "broken": [paths], "files": N}.
  archive_check.py verify BOOTSTRAP TOPIC EXPECTED.json TIMEOUT_S
      Reads the topic with kafka-python (own group) and checks: every expected event exactly
      once, none of the lost ones, nothing else; each record an event keyed account/region
      with the right name, time, account and Region; per key, event time never goes back.
"""
import collections
import datetime
import glob
import gzip
import json
import os
import sys
import time
import uuid

ORG = "o-a1b2c3d4e5"


def iso_ms(s):
    t = datetime.datetime.strptime(s, "%Y-%m-%dT%H:%M:%SZ").replace(tzinfo=datetime.timezone.utc)
    return t.strftime("%Y-%m-%dT%H:%M:%S.000Z"), t


def noise(account, region, t, n):
    out = []
    for i in range(n):
        out.append({
            "eventVersion": "1.10", "eventTime": (t + datetime.timedelta(seconds=i)).strftime("%Y-%m-%dT%H:%M:%SZ"),
            "eventSource": "ec2.amazonaws.com", "eventName": ("DescribeVpcs", "DescribeIpamPools", "RunInstances")[i % 3],
            "awsRegion": region, "sourceIPAddress": "ipam.amazonaws.com", "userAgent": "ipam.amazonaws.com",
            "requestParameters": {"maxResults": 1000}, "responseElements": None,
            "requestID": str(uuid.uuid4()), "eventID": str(uuid.uuid4()), "readOnly": True,
            "eventType": "AwsApiCall", "recipientAccountId": account,
        })
    return out


def make(dataset, out, expected_path):
    os.makedirs(out, exist_ok=True)
    groups = collections.defaultdict(list)
    expected = {}
    for page in sorted(glob.glob(os.path.join(dataset, "cloudtrail", "*", "*.json"))):
        with open(page) as f:
            for item in json.load(f)["Events"]:
                doc = json.loads(item["CloudTrailEvent"])
                account, region = doc["recipientAccountId"], doc["awsRegion"]
                stamp, t = iso_ms(doc["eventTime"])
                hour = t.replace(minute=0, second=0)
                groups[(account, region, hour)].append(doc)
                if doc["eventSource"] == "ec2.amazonaws.com" and doc["eventName"] != "AssumeRole":
                    expected[doc["eventID"]] = {"name": doc["eventName"], "time": stamp,
                                                "account": account, "region": region}
    accounts = sorted({a for a, _, _ in groups})
    org_copy = accounts[-1]
    files = 0

    def path_for(account, region, hour, prefix, suffix):
        d = os.path.join(out, "AWSLogs", *prefix, "CloudTrail", region, hour.strftime("%Y"),
                         hour.strftime("%m"), hour.strftime("%d"))
        os.makedirs(d, exist_ok=True)
        name = "%s_CloudTrail_%s_%s_%s%s" % (account, region, (hour + datetime.timedelta(minutes=55)).strftime("%Y%m%dT%H%MZ"),
                                             uuid.uuid4().hex[:16], suffix)
        return os.path.join(d, name)

    for i, ((account, region, hour), docs) in enumerate(sorted(groups.items())):
        recs = list(reversed(docs)) + noise(account, region, hour, 3)  # not in time order inside
        body = json.dumps({"Records": recs}).encode()
        plain = i % 7 == 3
        p = path_for(account, region, hour, [account], ".json" if plain else ".json.gz")
        with open(p, "wb") as f:
            f.write(body if plain else gzip.compress(body))
        files += 1
        if account == org_copy:
            p = path_for(account, region, hour, [ORG, account], ".json.gz")
            with open(p, "wb") as f:
                f.write(gzip.compress(body))
            files += 1
    # Broken files, each holding events found nowhere else.
    lost, broken = [], []
    account = accounts[0]
    hour = datetime.datetime(2024, 1, 2, 3, 0, tzinfo=datetime.timezone.utc)
    for kind in ("corrupt", "truncated", "malformed"):
        hour += datetime.timedelta(hours=1)
        docs = noise(account, "eu-west-1", hour, 2)
        for d in docs:
            d["eventName"] = "AllocateIpamPoolCidr"
            d["readOnly"] = False
            d["eventID"] = "lost-%s-%s" % (kind, uuid.uuid4())
            lost.append(d["eventID"])
        body = json.dumps({"Records": docs}).encode()
        p = path_for(account, "eu-west-1", hour, [account], ".json" if kind == "malformed" else ".json.gz")
        if kind == "corrupt":
            z = bytearray(gzip.compress(body))
            for k in range(len(z) // 2, len(z) // 2 + 6):
                z[k] ^= 0xA5
            data = bytes(z)
        elif kind == "truncated":
            z = gzip.compress(body)
            data = z[: len(z) - 20]
        else:
            data = body.replace(b'"readOnly"', b'"readOnly" "x"', 1)
        with open(p, "wb") as f:
            f.write(data)
        broken.append(p)
        files += 1
    # A digest file (not a log file) and an unrelated file are ignored.
    d = os.path.join(out, "AWSLogs", accounts[0], "CloudTrail-Digest", "eu-west-1", "2024", "01", "02")
    os.makedirs(d, exist_ok=True)
    with open(os.path.join(d, "%s_CloudTrail-Digest_eu-west-1_x_20240102T0400Z.json.gz" % accounts[0]), "wb") as f:
        f.write(gzip.compress(b'{"digestStartTime":"2024-01-02T03:00:00Z"}'))
    with open(os.path.join(out, "README.txt"), "w") as f:
        f.write("not a log file\n")
    with open(expected_path, "w") as f:
        json.dump({"events": expected, "lost": lost, "broken": broken, "files": files}, f, indent=1)
    return 0


def verify(bootstrap, topic, expected_path, timeout_s):
    from kafka import KafkaConsumer

    with open(expected_path) as f:
        exp = json.load(f)
    want = exp["events"]
    consumer = KafkaConsumer(topic, bootstrap_servers=bootstrap.split(","), group_id="archive-%s" % uuid.uuid4(),
                             session_timeout_ms=6000, heartbeat_interval_ms=1000, fetch_max_wait_ms=5,
                             auto_offset_reset="earliest", enable_auto_commit=False)
    msgs = []
    deadline = time.monotonic() + float(timeout_s)
    quiet_until = None
    while time.monotonic() < deadline:
        batch = consumer.poll(timeout_ms=200)
        for tp, ms in batch.items():
            msgs.extend((tp.partition, m.offset, m.key, m.value) for m in ms)
        if len(msgs) >= len(want):
            # Keep reading a little to see anything extra.
            quiet_until = quiet_until or time.monotonic() + 2.0
            if time.monotonic() > quiet_until:
                break
    consumer.close()
    problems = []
    seen = collections.Counter()
    by_key = collections.defaultdict(list)
    for part, off, key, value in msgs:
        rec = json.loads(value)
        eid = rec.get("event_id")
        seen[eid] += 1
        if rec.get("type") != "event" or rec.get("v") != 1:
            problems.append("%s: not a v1 event record" % eid)
            continue
        w = want.get(eid)
        if w is None:
            continue
        for k in ("name", "time", "account", "region"):
            if rec.get(k) != w[k]:
                problems.append("%s: %s is %r, want %r" % (eid, k, rec.get(k), w[k]))
        if rec.get("parsed") is not True:
            problems.append("%s: not parsed" % eid)
        if key != ("%s/%s" % (w["account"], w["region"])).encode():
            problems.append("%s: key %r" % (eid, key))
        by_key[key].append((part, off, rec["time"]))
    missing = [e for e in want if seen[e] == 0]
    dups = [e for e, n in seen.items() if n > 1]
    extra = [e for e in seen if e not in want]
    lost = [e for e in exp["lost"] if seen[e]]
    if missing:
        problems.append("%d of %d events missing, e.g. %s" % (len(missing), len(want), missing[0]))
    if dups:
        problems.append("%d events published more than once, e.g. %s" % (len(dups), dups[0]))
    if extra:
        problems.append("%d unexpected records, e.g. %s" % (len(extra), extra[0]))
    if lost:
        problems.append("%d events of skipped files published" % len(lost))
    for key, rows in by_key.items():
        rows.sort()
        times = [t for _, _, t in rows]
        if times != sorted(times):
            problems.append("key %r: event time goes back in the partition" % key)
    for p in problems[:20]:
        print("archive_check: %s" % p, file=sys.stderr)
    print("archive_check: %d records read, %d expected, %d keys" % (len(msgs), len(want), len(by_key)),
          file=sys.stderr)
    return 1 if problems else 0


def main(argv):
    if len(argv) == 5 and argv[1] == "make":
        return make(argv[2], argv[3], argv[4])
    if len(argv) == 6 and argv[1] == "verify":
        return verify(argv[2], argv[3], argv[4], argv[5])
    print(__doc__, file=sys.stderr)
    return 2


if __name__ == "__main__":
    sys.exit(main(sys.argv))

"""ct_check: helpers of 09-cloudtrail.sh: CloudTrail events added to the AWS-shaped endpoint
at runtime, a watcher that SIGKILLs the collector while events are in flight, and an
independent kafka-python reader that checks the events topic holds every event once.

  ct_check.py add URL ACCOUNT/REGION N MAXLAG_S ADDED.jsonl
  ct_check.py kill-in-flight STATE_DIR PID TIMEOUT_S
  ct_check.py verify BOOTSTRAP TOPIC DATASET_DIR ADDED.jsonl
  ct_check.py count BOOTSTRAP TOPIC
  ct_check.py rate URL PAIRS MAX_PER_S
"""
import glob
import json
import os
import signal
import sys
import time
import urllib.request
import uuid


def add(url, key, n, maxlag, out):
    account, region = key.split("/", 1)
    now = time.time()
    items = []
    with open(out, "a", encoding="utf-8") as f:
        for i in range(int(n)):
            eid = str(uuid.uuid4())
            # Delivered late, as CloudTrail does: the event happened up to MAXLAG_S ago.
            t = now - (int(maxlag) * ((i * 7919) % 1000) / 1000.0)
            iso = time.strftime("%Y-%m-%dT%H:%M:%SZ", time.gmtime(t))
            doc = {
                "eventVersion": "1.10",
                "userIdentity": {"type": "AssumedRole", "accountId": account,
                                 "arn": "arn:aws:sts::%s:assumed-role/NetworkAdmin/test" % account,
                                 "principalId": "AROAEXAMPLE:test"},
                "eventTime": iso, "eventSource": "ec2.amazonaws.com",
                "eventName": "AllocateIpamPoolCidr", "awsRegion": region,
                "sourceIPAddress": "198.51.100.9", "userAgent": "test",
                "requestParameters": {"AllocateIpamPoolCidrRequest": {"IpamPoolId": "ipam-pool-0123456789abcdef0",
                                                                      "NetmaskLength": 24}},
                "responseElements": {"AllocateIpamPoolCidrResponse": {"ipamPoolAllocation": {
                    "cidr": "10.99.%d.0/24" % (i % 256),
                    "ipamPoolAllocationId": "ipam-pool-alloc-%032x" % uuid.uuid4().int}}},
                "requestID": str(uuid.uuid4()), "eventID": eid, "readOnly": False,
                "eventType": "AwsApiCall", "managementEvent": True,
                "recipientAccountId": account, "eventCategory": "Management",
            }
            items.append({"EventId": eid, "EventName": "AllocateIpamPoolCidr", "ReadOnly": "false",
                          "AccessKeyId": "ASIAEXAMPLE", "EventTime": t,
                          "EventSource": "ec2.amazonaws.com", "Username": "test", "Resources": [],
                          "CloudTrailEvent": json.dumps(doc)})
            f.write(json.dumps({"id": eid, "key": key, "time": t}) + "\n")
    body = json.dumps({"add_events": {key: items}}).encode()
    req = urllib.request.Request(url + "/_control", data=body, method="POST")
    with urllib.request.urlopen(req, timeout=10) as r:
        r.read()
    return 0


def in_flight(state_dir):
    for path in glob.glob(os.path.join(state_dir, "cloudtrail-*.json")):
        try:
            with open(path, encoding="utf-8") as f:
                if json.load(f).get("pending"):
                    return True
        except (OSError, ValueError):
            pass
    return False


def kill_in_flight(state_dir, pid, timeout):
    """SIGKILL pid as soon as a state file shows ids in flight; exit 1 on timeout."""
    end = time.monotonic() + float(timeout)
    while time.monotonic() < end:
        if in_flight(state_dir):
            os.kill(int(pid), signal.SIGKILL)
            return 0
        time.sleep(0.001)
    return 1


def read_topic(bootstrap, topic):
    import kafka  # Debian's python3-kafka

    c = kafka.KafkaConsumer(bootstrap_servers=bootstrap.split(","), enable_auto_commit=False,
                            group_id=None, fetch_max_wait_ms=10, consumer_timeout_ms=3000)
    parts = [kafka.TopicPartition(topic, p) for p in sorted(c.partitions_for_topic(topic) or [])]
    if not parts:
        return []
    c.assign(parts)
    c.seek_to_beginning(*parts)
    ends = c.end_offsets(parts)
    out = []
    deadline = time.monotonic() + 60
    while any(c.position(tp) < ends[tp] for tp in parts) and time.monotonic() < deadline:
        for tp, msgs in c.poll(timeout_ms=500).items():
            for m in msgs:
                out.append((tp.partition, m.key.decode() if m.key else None, json.loads(m.value)))
    c.close()
    return out


def expected_ids(dataset, added):
    want = {}
    for path in glob.glob(os.path.join(dataset, "cloudtrail", "*", "*.json")):
        acct = os.path.basename(os.path.dirname(path))
        region = os.path.basename(path)[:-5]
        with open(path, encoding="utf-8") as f:
            for e in json.load(f)["Events"]:
                if e["EventSource"] == "ec2.amazonaws.com":
                    want[e["EventId"]] = "%s/%s" % (acct, region)
    ignored = set()
    for path in glob.glob(os.path.join(dataset, "cloudtrail", "*", "*.json")):
        with open(path, encoding="utf-8") as f:
            ignored |= {e["EventId"] for e in json.load(f)["Events"] if e["EventSource"] != "ec2.amazonaws.com"}
    if os.path.exists(added):
        with open(added, encoding="utf-8") as f:
            for line in f:
                d = json.loads(line)
                want[d["id"]] = d["key"]
    return want, ignored


def verify(bootstrap, topic, dataset, added):
    want, ignored = expected_ids(dataset, added)
    msgs = read_topic(bootstrap, topic)
    seen = {}
    bad = 0
    part_of = {}
    for part, key, rec in msgs:
        eid = rec.get("event_id")
        seen[eid] = seen.get(eid, 0) + 1
        if rec.get("type") != "event" or key != "%s/%s" % (rec.get("account"), rec.get("region")):
            bad += 1
        part_of.setdefault(key, set()).add(part)
    missing = [i for i in want if seen.get(i, 0) == 0]
    dups = {i: n for i, n in seen.items() if n > 1}
    extra = [i for i in seen if i not in want]
    print("# %d expected, %d messages, %d missing, %d duplicated, %d unexpected (%d not relevant), "
          "%d malformed" % (len(want), len(msgs), len(missing), len(dups), len(extra),
                            len([i for i in extra if i in ignored]), bad))
    for i in missing[:5]:
        print("# missing %s (%s)" % (i, want[i]))
    for i in list(dups)[:5]:
        print("# %s on the topic %d times" % (i, dups[i]))
    split = [k for k, p in part_of.items() if len(p) > 1]
    if split:
        print("# keys over several partitions: %s" % split[:3])
    ok = not missing and not dups and not extra and not bad and not split
    return 0 if ok and len(want) > 0 else 1


def count(bootstrap, topic):
    print(len(read_topic(bootstrap, topic)))
    return 0


def rate(url, pairs, limit):
    with urllib.request.urlopen(url + "/_stats", timeout=10) as r:
        st = json.load(r)["cloudtrail"]
    mx = st.get("max_per_second", {})
    print("# LookupEvents per account/Region: requests %s, max per second %s, throttled %s"
          % (st.get("requests"), mx, st.get("throttled")))
    return 0 if len(mx) >= int(pairs) and max(mx.values()) <= int(limit) else 1


def main(argv):
    cmd, args = argv[1], argv[2:]
    fn = {"add": add, "kill-in-flight": kill_in_flight, "verify": verify, "count": count,
          "rate": rate}[cmd]
    return fn(*args)


if __name__ == "__main__":
    sys.exit(main(sys.argv))

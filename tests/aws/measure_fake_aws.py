#!/usr/bin/python3
"""Measures how many GetIpamResourceCidrs items/s the test endpoint delivers to one client.

Starts fake_aws.py on DIR (or uses --url), pages through the private scope with MaxResults=1000
over one keep-alive connection, signing every request, and prints one JSON line with the
start-up time, items, pages, bytes, seconds and items/s. The client only counts items, so the
figure is the endpoint's delivery rate, the ceiling any collector benchmark against it sees.

Usage: measure_fake_aws.py --data DIR [--url URL] [--max-results N]
"""

import argparse
import datetime
import http.client
import json
import os
import re
import subprocess
import sys
import tempfile
import time
import urllib.parse

from botocore.auth import SigV4Auth
from botocore.awsrequest import AWSRequest
from botocore.credentials import Credentials

HERE = os.path.dirname(os.path.abspath(__file__))


def main():
    ap = argparse.ArgumentParser()
    ap.add_argument("--data", required=True)
    ap.add_argument("--url")
    ap.add_argument("--max-results", type=int, default=1000)
    a = ap.parse_args()
    truth = json.load(open(os.path.join(a.data, "truth.json")))
    key = json.load(open(os.path.join(a.data, "credentials.json")))["keys"][0]
    proc = None
    t0 = time.monotonic()
    if not a.url:
        port = tempfile.mktemp(prefix="fake-aws-port.")
        proc = subprocess.Popen([sys.executable, os.path.join(HERE, "fake_aws.py"), "--data", a.data, "--port-file", port])
        while not os.path.exists(port):
            if proc.poll() is not None:
                sys.exit("fake_aws exited")
            time.sleep(0.05)
        a.url = open(port).read().strip()
        os.unlink(port)
    startup = time.monotonic() - t0
    u = urllib.parse.urlsplit(a.url)
    conn = http.client.HTTPConnection(u.hostname, u.port)
    creds = Credentials(key["access_key_id"], key["secret_access_key"], key["session_token"])
    token, items, pages, nbytes = None, 0, 0, 0
    t1 = time.monotonic()
    while True:
        p = {"Action": "GetIpamResourceCidrs", "Version": "2016-11-15", "IpamScopeId": truth["private_scope_id"],
             "MaxResults": str(a.max_results)}
        if token:
            p["NextToken"] = token
        body = urllib.parse.urlencode(p).encode()
        req = AWSRequest("POST", a.url + "/", data=body,
                         headers={"Content-Type": "application/x-www-form-urlencoded; charset=utf-8"})
        SigV4Auth(creds, "ec2", truth["home_region"]).add_auth(req)
        conn.request("POST", "/", body, dict(req.headers.items()))
        r = conn.getresponse()
        data = r.read()
        if r.status != 200:
            sys.exit("HTTP %d: %s" % (r.status, data[:300]))
        pages += 1
        nbytes += len(data)
        items += data.count(b"<item><ipamId>")
        m = re.search(rb"<nextToken>([^<]+)</nextToken>", data)
        if not m:
            break
        token = m.group(1).decode().replace("&amp;", "&")
    secs = time.monotonic() - t1
    if proc:
        proc.terminate()
        proc.wait()
    print(json.dumps({"startup_s": round(startup, 2), "items": items, "pages": pages, "bytes": nbytes,
                      "seconds": round(secs, 3), "items_per_s": int(items / secs), "when": datetime.datetime.utcnow().isoformat()}))
    return 0 if items == truth["resource_cidrs"] else 1


if __name__ == "__main__":
    sys.exit(main())

#!/usr/bin/python3
"""AWS-shaped test endpoint: EC2 IPAM, STS, CloudTrail LookupEvents, IMDSv2 and container
credentials on one 127.0.0.1 port, serving a dataset in the aws CLI's JSON layout.

DESIGN: one ThreadingHTTPServer; a request is routed by method, path, X-Amz-Target and Action.
Every signed request is verified with botocore's SigV4 (aws_auth.py); responses are rendered
from botocore's output shapes (aws_model.py), inventory pages are slices of pre-rendered
collections (dataset.py). Faults (throttling, 5xx, slow, truncated and malformed bodies,
expired session tokens, revoked keys, clock skew) are drawn per request from one seeded generator so a run
is repeatable; they can be changed at runtime through POST /_control. GET /_stats reports what
clients did (per operation, per outcome, CloudTrail request rate per account and Region).

Usage: fake_aws.py --data DIR --port-file FILE [--faults SPEC] [--seed N] [--log FILE]
       [--strict] [--session-ttl SECONDS] [--cache-dir DIR] [--lazy]
"""

import argparse
import base64
import collections
import hashlib
import hmac
import json
import os
import random
import re
import signal
import socket
import ssl
import sys
import threading
import time
import urllib.parse
import uuid
from http.server import BaseHTTPRequestHandler, ThreadingHTTPServer

sys.path.insert(0, os.path.dirname(os.path.abspath(__file__)))

import aws_auth  # noqa: E402
import aws_model  # noqa: E402
import dataset  # noqa: E402

CT_TARGET = "com.amazonaws.cloudtrail.v20131101.CloudTrail_20131101.LookupEvents"
CT_PREFIX = "com.amazonaws.cloudtrail.v20131101.CloudTrail_20131101."
STS_ACTIONS = ("AssumeRole", "AssumeRoleWithWebIdentity", "GetCallerIdentity")
LOOKUP_KEYS = (
    "EventId",
    "EventName",
    "ReadOnly",
    "Username",
    "ResourceType",
    "ResourceName",
    "EventSource",
    "AccessKeyId",
)
FAULT_KINDS = ("throttle", "error500", "slow", "truncate", "malformed", "expire_tokens", "skew")
# Drawn after FAULT_KINDS and only while configured, so seeded runs of the kinds above see the
# same faults as before these were added. revoke: the request's credentials are refused as
# unknown (a deleted or deactivated key).
EXTRA_FAULT_KINDS = ("revoke",)


def parse_duration(s):
    """'10s', '5m', '2h', '1.5' (seconds) -> seconds."""
    m = re.match(r"^(\d+(?:\.\d+)?)(ms|s|m|h)?$", s.strip())
    if not m:
        raise ValueError("bad duration %r" % s)
    v = float(m.group(1))
    return v * {"ms": 0.001, "s": 1, "m": 60, "h": 3600, None: 1}[m.group(2)]


def parse_faults(spec):
    """Parse a fault SPEC into {kind: (probability, argument)}; raises ValueError."""
    out = {}
    for part in (spec or "").split(","):
        part = part.strip()
        if not part:
            continue
        if "=" not in part:
            raise ValueError("fault %r needs =VALUE" % part)
        kind, val = part.split("=", 1)
        kind = kind.strip()
        if kind not in FAULT_KINDS + EXTRA_FAULT_KINDS:
            raise ValueError("unknown fault %r (known: %s)" % (kind, ", ".join(FAULT_KINDS + EXTRA_FAULT_KINDS)))
        arg = None
        if kind in ("slow", "skew") and re.search(r"[a-z]", val.split("@")[0]):
            dur, _, p = val.partition("@")
            arg = parse_duration(dur)
            prob = float(p) if p else 1.0
        elif kind in ("slow", "skew") and "@" in val:
            dur, _, p = val.partition("@")
            arg = parse_duration(dur)
            prob = float(p)
        else:
            prob = float(val)
            arg = {"slow": 5.0, "skew": 3600.0}.get(kind)
        if not 0.0 <= prob <= 1.0:
            raise ValueError("fault %s: probability %s outside 0..1" % (kind, prob))
        out[kind] = (prob, arg)
    return out


class Faults:
    """Seeded per-request fault draws. draw() takes one number per fault kind in a fixed order,
    so a given sequence of requests sees the same faults on every run."""

    def __init__(self, spec, seed):
        self.lock = threading.Lock()
        self.rng = random.Random(seed)
        self.spec = parse_faults(spec)
        self.text = spec or ""
        self.ops = None

    def set(self, spec, ops=None):
        """Replace the faults; ops (a list of operation names) limits them to those
        operations, None to every operation."""
        parsed = parse_faults(spec)
        if ops is not None and (not isinstance(ops, list) or not all(isinstance(o, str) for o in ops)):
            raise ValueError("fault_ops must be a list of operation names")
        with self.lock:
            self.spec = parsed
            self.text = spec or ""
            self.ops = frozenset(ops) if ops is not None else None

    def draw(self, op=None):
        """{kind: argument} of the faults this request (of operation op) gets."""
        with self.lock:
            hit = {}
            for kind in FAULT_KINDS:
                r = self.rng.random()
                if kind in self.spec and r < self.spec[kind][0]:
                    hit[kind] = self.spec[kind][1]
            for kind in EXTRA_FAULT_KINDS:
                if kind in self.spec and self.rng.random() < self.spec[kind][0]:
                    hit[kind] = self.spec[kind][1]
            if self.ops is not None and op not in self.ops:
                return {}
            return hit


class Stats:
    """Counters behind GET /_stats; thread-safe."""

    def __init__(self):
        self.lock = threading.Lock()
        self.reset()

    def reset(self):
        with getattr(self, "lock", threading.Lock()):
            self.requests = collections.Counter()
            self.outcomes = collections.Counter()
            self.by_op = collections.defaultdict(collections.Counter)
            self.regions = collections.defaultdict(collections.Counter)
            self.faults = collections.Counter()
            self.auth = collections.Counter()
            self.items = collections.Counter()
            self.ct_requests = collections.Counter()
            self.ct_throttled = collections.Counter()
            self.ct_max = collections.Counter()
            self.ct_windows = collections.defaultdict(collections.deque)
            self.bytes_out = 0

    def count(self, op, outcome, region=None, items=0, nbytes=0):
        with self.lock:
            self.requests[op] += 1
            self.outcomes[outcome] += 1
            self.by_op[op][outcome] += 1
            if region:
                self.regions[op][region] += 1
            self.items[op] += items
            self.bytes_out += nbytes

    def ct_arrival(self, key, now):
        """Record a LookupEvents request of key ('account/region') at now; returns how many
        requests arrived in the last second, this one included."""
        with self.lock:
            w = self.ct_windows[key]
            w.append(now)
            while w and w[0] <= now - 1.0:
                w.popleft()
            self.ct_requests[key] += 1
            if len(w) > self.ct_max[key]:
                self.ct_max[key] = len(w)
            return len(w)

    def snapshot(self):
        with self.lock:
            return {
                "requests": dict(self.requests),
                "outcomes": dict(self.outcomes),
                "by_operation": {k: dict(v) for k, v in self.by_op.items()},
                "regions": {k: dict(v) for k, v in self.regions.items()},
                "faults": dict(self.faults),
                "signature_failures": self.auth.get("signature", 0),
                "auth_failures": dict(self.auth),
                "items": dict(self.items),
                "bytes": self.bytes_out,
                "cloudtrail": {
                    "requests": dict(self.ct_requests),
                    "throttled": dict(self.ct_throttled),
                    "max_per_second": dict(self.ct_max),
                },
            }


class ApiError(Exception):
    """An error answer: code, message, HTTP status."""

    def __init__(self, code, message, status=400):
        super().__init__(message)
        self.code = code
        self.message = message
        self.status = status


class Throttle:
    """CloudTrail's 2 requests/s per (account, Region): a request is accepted when fewer than
    `rate` accepted requests of the same key fall in the last second."""

    def __init__(self, rate):
        self.rate = rate
        self.lock = threading.Lock()
        self.accepted = collections.defaultdict(collections.deque)

    def admit(self, key, now):
        with self.lock:
            w = self.accepted[key]
            while w and w[0] <= now - 1.0:
                w.popleft()
            if len(w) >= self.rate:
                return False
            w.append(now)
            return True


class Endpoint:
    """Shared state of the server: dataset, credentials, faults, stats, tokens."""

    def __init__(self, args):
        self.args = args
        self.data = dataset.Dataset(args.data, args.cache_dir)
        self.creds = aws_auth.CredentialStore(os.path.join(args.data, "credentials.json"), args.seed)
        self.faults = Faults(args.faults, args.seed)
        self.stats = Stats()
        self.throttle = Throttle(args.cloudtrail_rate)
        self.token_key = hashlib.sha256(b"fake-aws-%d" % (args.seed or 0)).digest()
        self.imds_tokens = {}
        self.imds_creds = None
        self.lock = threading.Lock()
        self.stopping = threading.Event()
        self.log = open(args.log, "a", buffering=1, encoding="utf-8") if args.log else None
        self.home = self.data.ipams[0]["IpamRegion"] if self.data.ipams else "us-east-1"
        self.owner = self.data.ipams[0]["OwnerId"] if self.data.ipams else None

    def write_log(self, line):
        if self.log:
            with self.lock:
                self.log.write(line + "\n")

    # Pagination tokens: opaque, HMAC-protected, bound to the request's other parameters.
    def make_token(self, bind, offset):
        raw = json.dumps([offset, bind], separators=(",", ":")).encode()
        mac = hmac.new(self.token_key, raw, hashlib.sha256).digest()[:12]
        return base64.b64encode(mac + raw).decode()

    def read_token(self, token, bind):
        try:
            raw = base64.b64decode(token.encode(), validate=True)
            mac, body = raw[:12], raw[12:]
            if not hmac.compare_digest(mac, hmac.new(self.token_key, body, hashlib.sha256).digest()[:12]):
                return None
            offset, b = json.loads(body)
            if b != bind or not isinstance(offset, int) or offset < 0:
                return None
            return offset
        except (ValueError, TypeError):
            return None


def _request_id():
    return str(uuid.uuid4())


def _sorted_bind(params, drop):
    return hashlib.sha256(
        json.dumps(sorted((k, v) for k, v in params.items() if k not in drop)).encode()
    ).hexdigest()[:16]


def _wire_names(shape):
    names = {}
    for name, m in shape.members.items():
        wire = m.serialization.get("queryName")
        if not wire:
            loc = m.serialization.get("name")
            wire = loc[0].upper() + loc[1:] if loc else name
        names[wire] = name
    return names


_EC2_OP_META = {}


def _ec2_op_meta(op):
    """(wire names, wire names of the required members, MaxResults min, max) of an EC2
    operation, read from the model once per operation: a listing asks for them on every page."""
    meta = _EC2_OP_META.get(op)
    if meta is None:
        opm = aws_model.model("ec2").operation_model(op)
        wire = _wire_names(opm.input_shape)
        required = [[k for k, v in wire.items() if v == req][0] for req in opm.input_shape.required_members]
        mshape = opm.input_shape.members["MaxResults"]
        meta = (wire, required, mshape.metadata.get("min", 1), mshape.metadata.get("max", 1000))
        _EC2_OP_META[op] = meta
    return meta


def _indexed(params, prefix):
    """Values of PREFIX.1, PREFIX.2, ... in index order."""
    out = []
    pat = re.compile(r"^%s\.(\d+)$" % re.escape(prefix))
    for k, v in params.items():
        m = pat.match(k)
        if m:
            out.append((int(m.group(1)), v))
    return [v for _, v in sorted(out)]


def _filters(params):
    idx = set()
    for k in params:
        m = re.match(r"^Filter\.(\d+)\.", k)
        if m:
            idx.add(int(m.group(1)))
    out = []
    for i in sorted(idx):
        name = params.get("Filter.%d.Name" % i)
        if not name:
            raise ApiError("InvalidParameterValue", "Filter.%d.Name is required" % i)
        vals = _indexed(params, "Filter.%d.Value" % i)
        if not vals:
            raise ApiError("InvalidParameterValue", "Filter %s needs at least one value" % name)
        out.append((name, vals))
    return out


class Handler(BaseHTTPRequestHandler):
    protocol_version = "HTTP/1.1"
    disable_nagle_algorithm = True  # headers and body go out as separate writes
    server_version = "AmazonEC2"
    sys_version = ""

    def log_message(self, fmt, *args):  # noqa: D401 - silence the default stderr log
        return

    @property
    def ep(self):
        return self.server.endpoint

    # -- plumbing --------------------------------------------------------------------------
    def read_body(self):
        te = self.headers.get("Transfer-Encoding", "")
        if te.lower() == "chunked":
            chunks = []
            while True:
                line = self.rfile.readline(65537)
                size = int(line.split(b";")[0].strip() or b"0", 16)
                if size == 0:
                    while self.rfile.readline(65537) not in (b"\r\n", b"\n", b""):
                        pass
                    break
                chunks.append(self.rfile.read(size))
                self.rfile.readline(3)
            return b"".join(chunks)
        n = int(self.headers.get("Content-Length") or 0)
        return self.rfile.read(n) if n > 0 else b""

    def send(self, status, ctype, parts, extra=None, fault=None):
        """Write a response made of the byte buffers in parts; fault may be 'truncate' (send
        half of the body, then close) or 'malformed' (cut the document and add garbage)."""
        total = sum(len(p) for p in parts)
        if fault == "malformed":
            body = b"".join(bytes(p) for p in parts)
            body = body[: max(1, len(body) // 2)] + b"<<\x00 not-a-document &&"
            parts, total = [body], len(body)
        self.send_response(status)
        self.send_header("Content-Type", ctype)
        self.send_header("Content-Length", str(total))
        self.send_header("Date", self.date_header())
        for k, v in (extra or {}).items():
            self.send_header(k, v)
        self.end_headers()
        if fault == "truncate":
            budget = total // 2
            for p in parts:
                if budget <= 0:
                    break
                self.wfile.write(p[:budget])
                budget -= len(p)
            self.wfile.flush()
            self.close_connection = True
            try:
                self.connection.shutdown(socket.SHUT_RDWR)
            except OSError:
                pass
            return total
        for p in parts:
            self.wfile.write(p)
        return total

    def date_header(self):
        return time.strftime("%a, %d %b %Y %H:%M:%S GMT", time.gmtime(self.clock))

    def plain(self, status, text, ctype="text/plain", extra=None):
        return self.send(status, ctype, [text.encode() if isinstance(text, str) else text], extra)

    def json_out(self, status, doc, ctype="application/json", extra=None):
        return self.send(status, ctype, [json.dumps(doc).encode()], extra)

    # -- routing ---------------------------------------------------------------------------
    def do_GET(self):
        self.route("GET")

    def do_PUT(self):
        self.route("PUT")

    def do_POST(self):
        self.route("POST")

    def route(self, method):
        self.clock = time.time()
        self.t0 = time.monotonic()
        url = urllib.parse.urlsplit(self.path)
        path, query = url.path, url.query
        try:
            body = self.read_body()
        except (ValueError, OSError):
            self.close_connection = True
            return
        try:
            if path.startswith("/latest/"):
                return self.imds(method, path)
            if path == "/container-credentials":
                return self.container(method)
            if path == "/_stats" and method == "GET":
                return self.json_out(200, self.ep.stats.snapshot())
            if path == "/_reset" and method == "POST":
                self.ep.stats.reset()
                return self.json_out(200, {"reset": True})
            if path == "/_control" and method == "POST":
                return self.control(body)
            if path != "/":
                return self.plain(404, "not found")
            if method == "POST" and self.headers.get("X-Amz-Target"):
                return self.cloudtrail(body)
            if method == "POST":
                ctype = self.headers.get("Content-Type", "")
                if not ctype.startswith("application/x-www-form-urlencoded"):
                    return self.ec2_fail(ApiError("InvalidParameterValue", "Unsupported content type"), None)
                params = dict(urllib.parse.parse_qsl(body.decode("utf-8"), keep_blank_values=True))
            elif method == "GET" and query:
                params = dict(urllib.parse.parse_qsl(query, keep_blank_values=True))
            else:
                return self.plain(405, "method not allowed")
            if params.get("Action") in STS_ACTIONS:
                return self.sts(method, path, query, body, params)
            return self.ec2(method, path, query, body, params)
        except (BrokenPipeError, ConnectionResetError):
            self.close_connection = True

    def control(self, body):
        try:
            doc = json.loads(body or b"{}")
            if "faults" in doc:
                self.ep.faults.set(doc["faults"], doc.get("fault_ops"))
            for akid in doc.get("expire", []):
                self.ep.creds.expire(akid)
            for acct_region, items in doc.get("add_events", {}).items():
                account, region = acct_region.split("/", 1)
                self.ep.data.add_events(account, region, items)
        except (ValueError, TypeError, AttributeError, KeyError) as e:
            return self.json_out(400, {"error": str(e)})
        return self.json_out(200, {"faults": self.ep.faults.text})

    # -- common request steps --------------------------------------------------------------
    def pre_faults(self, op):
        """Draw this request's faults; applies skew to the server clock and sleeps for slow."""
        hit = self.ep.faults.draw(op)
        for k in hit:
            self.ep.stats.faults[k] += 1
        if "skew" in hit:
            self.clock = time.time() + hit["skew"]
        if "slow" in hit:
            self.ep.stopping.wait(hit["slow"])
        return hit

    def authenticate(self, method, path, query, body, service, skew_limit, hit):
        try:
            p = self.ep.creds.verify(
                method, path, query, self.headers, body, service, self.clock, skew_limit
            )
        except aws_auth.AuthError as e:
            with self.ep.stats.lock:
                self.ep.stats.auth[e.kind] += 1
            raise
        if p.session and "expire_tokens" in hit:
            self.ep.creds.expire(p.access_key_id)
            raise aws_auth.AuthError("expired", "The security token included in the request is expired")
        if "revoke" in hit:
            with self.ep.stats.lock:
                self.ep.stats.auth["revoked"] += 1
            raise aws_auth.AuthError("unknown_key", "The security token included in the request is invalid.")
        return p

    def finish_log(self, op, status, outcome, region, account, nbytes):
        self.ep.write_log(
            "%s %s %s %s %s %d %s %.1fms %d"
            % (
                time.strftime("%Y-%m-%dT%H:%M:%SZ", time.gmtime()),
                self.client_address[0],
                op,
                account or "-",
                region or "-",
                status,
                outcome,
                (time.monotonic() - self.t0) * 1000,
                nbytes,
            )
        )

    # -- EC2 -------------------------------------------------------------------------------
    EC2_AUTH = {
        "missing": ("AuthFailure", 401),
        "malformed": ("AuthFailure", 401),
        "unknown_key": ("AuthFailure", 401),
        "bad_token": ("AuthFailure", 401),
        "signature": ("SignatureDoesNotMatch", 403),
        "scope": ("SignatureDoesNotMatch", 403),
        "expired": ("RequestExpired", 400),
        "skew": ("RequestExpired", 400),
    }

    def ec2_fail(self, err, op, region=None, account=None):
        rid = _request_id()
        n = self.send(err.status, "text/xml;charset=UTF-8", [aws_model.ec2_error(err.code, err.message, rid)])
        self.ep.stats.count(op or "unknown", err.code, region, 0, n)
        self.finish_log(op or "unknown", err.status, err.code, region, account, n)

    def ec2(self, method, path, query, body, params):
        op = params.get("Action", "")
        if op not in dataset.EC2_LISTS:
            return self.ec2_fail(
                ApiError("InvalidAction", "The action %s is not valid for this web service." % op), op
            )
        hit = self.pre_faults(op)
        try:
            p = self.authenticate(method, path, query, body, "ec2", 900, hit)
        except aws_auth.AuthError as e:
            code, status = self.EC2_AUTH[e.kind]
            return self.ec2_fail(ApiError(code, e.message, status), op)
        if "throttle" in hit:
            return self.ec2_fail(ApiError("RequestLimitExceeded", "Request limit exceeded.", 503), op, p.region, p.account)
        if "error500" in hit:
            return self.ec2_fail(
                ApiError("InternalError", "An internal error has occurred", 500), op, p.region, p.account
            )
        try:
            parts, items = self.ec2_list(op, params, p)
        except ApiError as e:
            return self.ec2_fail(e, op, p.region, p.account)
        fault = "truncate" if "truncate" in hit else "malformed" if "malformed" in hit else None
        if self.ep.args.strict and fault is None:
            aws_model.check_ec2_response(op, b"".join(bytes(x) for x in parts))
        n = self.send(200, "text/xml;charset=UTF-8", parts, fault=fault)
        outcome = fault or "ok"
        self.ep.stats.count(op, outcome, p.region, items, n)
        self.finish_log(op, 200, outcome, p.region, p.account, n)

    def ec2_list(self, op, params, p):
        wire, required, lo, hi = _ec2_op_meta(op)
        for k in params:
            if k in ("Action", "Version"):
                continue
            if k.split(".", 1)[0] not in wire:
                raise ApiError("UnknownParameter", "The parameter %s is not recognized" % k.split(".", 1)[0])
        if params.get("Version") != "2016-11-15":
            raise ApiError("MissingParameter" if "Version" not in params else "InvalidParameterValue",
                           "Version must be 2016-11-15")
        for w in required:
            if not params.get(w):
                raise ApiError("MissingParameter", "The request must contain the parameter %s" % w)
        if params.get("DryRun") == "true":
            raise ApiError("DryRunOperation", "Request would have succeeded, but DryRun flag is set.", 412)
        maxres = params.get("MaxResults")
        if maxres is None:
            limit = min(max(1000, lo), hi)
        else:
            try:
                limit = int(maxres)
            except ValueError:
                raise ApiError("InvalidParameterValue", "Invalid value '%s' for maxResults" % maxres) from None
            if not lo <= limit <= hi:
                raise ApiError(
                    "InvalidParameterValue",
                    "Value ( %d ) for parameter maxResults is invalid. Expecting a value between %d and %d."
                    % (limit, lo, hi),
                )
        _, _, id_param = dataset.EC2_LISTS[op]
        ident = params.get(id_param) if id_param else None
        data = self.ep.data
        visible = p.account == self.ep.owner
        coll = None
        if id_param is None:
            if visible and p.region == self.ep.home:
                coll = data.collection(op)
        else:
            ok_region = p.region == self.ep.home
            if op == "GetIpamPoolAllocations" and ident in data.pools:
                loc = data.pools[ident].get("Locale", "None")
                ok_region = p.region in (self.ep.home, loc)
            if op == "GetIpamDiscoveredAccounts":
                disco = data.discoveries.get(ident, {})
                ok_region = p.region == disco.get("IpamResourceDiscoveryRegion", self.ep.home)
            if visible and ok_region:
                coll = data.collection(op, ident)
            if coll is None:
                kind = {
                    "IpamPoolId": "InvalidIpamPoolId.NotFound",
                    "IpamScopeId": "InvalidIpamScopeId.NotFound",
                    "IpamResourceDiscoveryId": "InvalidIpamResourceDiscoveryId.NotFound",
                }[id_param]
                raise ApiError(kind, "The %s '%s' does not exist" % (id_param, ident))
        preds = []
        flt = _filters(params)
        if flt:
            preds.append(dataset.match_filters(flt))
        if op in dataset.ID_LISTS:
            wire_id, field = dataset.ID_LISTS[op]
            ids = _indexed(params, wire_id)
            if ids:
                idset = set(ids)
                preds.append(lambda it, f=field, s=idset: it.get(f) in s)
        extra = {
            "GetIpamResourceCidrs": [
                ("IpamPoolId", "IpamPoolId"),
                ("ResourceId", "ResourceId"),
                ("ResourceType", "ResourceType"),
                ("ResourceOwner", "ResourceOwnerId"),
            ],
            "GetIpamPoolAllocations": [("IpamPoolAllocationId", "IpamPoolAllocationId")],
            "GetIpamDiscoveredAccounts": [("DiscoveryRegion", "DiscoveryRegion")],
        }.get(op, [])
        for wname, field in extra:
            if params.get(wname):
                preds.append(lambda it, f=field, v=params[wname]: it.get(f) == v)
        if op == "GetIpamResourceCidrs" and params.get("ResourceTag.Key"):
            tk, tv = params["ResourceTag.Key"], params.get("ResourceTag.Value")
            preds.append(
                lambda it: any(
                    t.get("Key") == tk and (tv is None or t.get("Value") == tv)
                    for t in it.get("ResourceTags", [])
                )
            )
        bind = [op, ident or "", _sorted_bind(params, ("NextToken", "MaxResults"))]
        start = 0
        if params.get("NextToken"):
            start = self.ep.read_token(params["NextToken"], bind)
            if start is None:
                raise ApiError("InvalidPaginationToken", "The specified pagination token is not valid or is expired.")
        head, tail = aws_model.ec2_page_parts(op, _request_id())
        if coll is None:
            return [head, tail, aws_model.ec2_page_end(op, None)], 0
        selection = None
        if preds:
            key = json.dumps(sorted((k, v) for k, v in params.items() if k not in ("NextToken", "MaxResults", "Action", "Version")))

            def match(it):
                return all(pr(it) for pr in preds)

            try:
                selection = coll.select(key, match)
            except dataset.FilterError as e:
                raise ApiError("InvalidParameterValue", str(e)) from None
        total = coll.total(selection)
        if start > total:
            raise ApiError("InvalidPaginationToken", "The specified pagination token is not valid or is expired.")
        body = coll.page(start, limit, selection)
        nxt = start + limit
        token = self.ep.make_token(bind, nxt) if nxt < total else None
        return [head] + body + [tail, aws_model.ec2_page_end(op, token)], min(limit, total - start)

    # -- STS -------------------------------------------------------------------------------
    STS_AUTH = {
        "missing": ("MissingAuthenticationToken", 403),
        "malformed": ("IncompleteSignature", 403),
        "unknown_key": ("InvalidClientTokenId", 403),
        "bad_token": ("InvalidClientTokenId", 403),
        "signature": ("SignatureDoesNotMatch", 403),
        "scope": ("SignatureDoesNotMatch", 403),
        "expired": ("ExpiredToken", 403),
        "skew": ("RequestExpired", 400),
    }

    def sts_fail(self, err, op, region=None, account=None):
        n = self.send(
            err.status,
            "text/xml",
            [aws_model.sts_error(err.code, err.message, _request_id(), err.status < 500)],
        )
        self.ep.stats.count(op, err.code, region, 0, n)
        self.finish_log(op, err.status, err.code, region, account, n)

    def sts(self, method, path, query, body, params):
        op = params["Action"]
        hit = self.pre_faults(op)
        p = None
        if op != "AssumeRoleWithWebIdentity":
            try:
                p = self.authenticate(method, path, query, body, "sts", 900, hit)
            except aws_auth.AuthError as e:
                code, status = self.STS_AUTH[e.kind]
                return self.sts_fail(ApiError(code, e.message, status), op)
        region = p.region if p else None
        account = p.account if p else None
        if "throttle" in hit:
            return self.sts_fail(ApiError("Throttling", "Rate exceeded", 400), op, region, account)
        if "error500" in hit:
            return self.sts_fail(ApiError("InternalFailure", "An internal error occurred", 500), op, region, account)
        try:
            if params.get("Version") != "2011-06-15":
                raise ApiError("InvalidParameterValue", "Version must be 2011-06-15")
            result = self.sts_op(op, params, p)
        except ApiError as e:
            return self.sts_fail(e, op, region, account)
        doc = aws_model.sts_response(op, result, _request_id())
        if self.ep.args.strict:
            aws_model.check_sts_response(op, doc)
        fault = "truncate" if "truncate" in hit else "malformed" if "malformed" in hit else None
        n = self.send(200, "text/xml", [doc], fault=fault)
        self.ep.stats.count(op, fault or "ok", region, 0, n)
        self.finish_log(op, 200, fault or "ok", region, account, n)

    def sts_op(self, op, params, p):
        if op == "GetCallerIdentity":
            k = self.ep.creds.lookup(p.access_key_id)
            return {"UserId": p.access_key_id, "Account": p.account, "Arn": k["arn"]}
        arn = params.get("RoleArn", "")
        session = params.get("RoleSessionName", "")
        if not arn:
            raise ApiError("MissingParameter", "RoleArn is required")
        if not re.match(r"^[\w+=,.@-]{2,64}$", session):
            raise ApiError("ValidationError", "RoleSessionName must be 2-64 characters of [\\w+=,.@-]")
        try:
            duration = int(params.get("DurationSeconds", "3600"))
        except ValueError:
            raise ApiError("ValidationError", "DurationSeconds must be an integer") from None
        if not 900 <= duration <= 43200:
            raise ApiError("ValidationError", "DurationSeconds must be between 900 and 43200")
        role = self.ep.creds.roles.get(arn)
        if op == "AssumeRoleWithWebIdentity":
            tok = params.get("WebIdentityToken", "")
            if tok not in self.ep.creds.web_identity_tokens:
                raise ApiError("InvalidIdentityToken", "The web identity token could not be validated.")
        if role is None:
            raise ApiError(
                "AccessDenied",
                "User is not authorized to perform: sts:AssumeRole on resource: %s" % arn,
                403,
            )
        ttl = duration if self.ep.args.session_ttl is None else min(duration, self.ep.args.session_ttl)
        role_name = arn.rsplit("/", 1)[-1]
        user_arn = "arn:aws:sts::%s:assumed-role/%s/%s" % (role["account"], role_name, session)
        c = self.ep.creds.issue(role["account"], user_arn, ttl)
        rid = "AROA" + hashlib.sha1(arn.encode()).hexdigest()[:16].upper()
        out = {
            "Credentials": {
                "AccessKeyId": c["AccessKeyId"],
                "SecretAccessKey": c["SecretAccessKey"],
                "SessionToken": c["SessionToken"],
                "Expiration": c["Expiration"],
            },
            "AssumedRoleUser": {"AssumedRoleId": "%s:%s" % (rid, session), "Arn": user_arn},
        }
        if op == "AssumeRoleWithWebIdentity":
            out["SubjectFromWebIdentityToken"] = "system:serviceaccount:ipamwatch:collector"
            out["Provider"] = "oidc.test.invalid"
            out["Audience"] = "sts.amazonaws.com"
        else:
            out["PackedPolicySize"] = 0
        return out

    # -- CloudTrail ------------------------------------------------------------------------
    CT_AUTH = {
        "missing": ("MissingAuthenticationTokenException", 400),
        "malformed": ("IncompleteSignatureException", 400),
        "unknown_key": ("UnrecognizedClientException", 400),
        "bad_token": ("UnrecognizedClientException", 400),
        "signature": ("SignatureDoesNotMatch", 403),
        "scope": ("SignatureDoesNotMatch", 403),
        "expired": ("ExpiredTokenException", 400),
        "skew": ("InvalidSignatureException", 400),
    }

    def ct_fail(self, err, region=None, account=None):
        rid = _request_id()
        n = self.json_out(
            err.status,
            {"__type": err.code, "message": err.message},
            "application/x-amz-json-1.1",
            {"x-amzn-RequestId": rid},
        )
        self.ep.stats.count("LookupEvents", err.code, region, 0, n)
        self.finish_log("LookupEvents", err.status, err.code, region, account, n)

    def cloudtrail(self, body):
        target = self.headers.get("X-Amz-Target", "")
        if target != CT_TARGET:
            if target.startswith(CT_PREFIX):
                return self.ct_fail(ApiError("UnknownOperationException", "Operation %s is not served here" % target))
            return self.ct_fail(ApiError("UnknownOperationException", "Unknown target %s" % target))
        hit = self.pre_faults("LookupEvents")
        try:
            p = self.authenticate("POST", "/", "", body, "cloudtrail", 300, hit)
        except aws_auth.AuthError as e:
            code, status = self.CT_AUTH[e.kind]
            return self.ct_fail(ApiError(code, e.message, status))
        key = "%s/%s" % (p.account, p.region)
        self.ep.stats.ct_arrival(key, time.monotonic())
        if "throttle" in hit or not self.ep.throttle.admit(key, time.monotonic()):
            with self.ep.stats.lock:
                self.ep.stats.ct_throttled[key] += 1
            return self.ct_fail(ApiError("ThrottlingException", "Rate exceeded"), p.region, p.account)
        if "error500" in hit:
            return self.ct_fail(ApiError("InternalFailure", "An internal error occurred", 500), p.region, p.account)
        try:
            doc = self.lookup(body, p)
        except ApiError as e:
            return self.ct_fail(e, p.region, p.account)
        if self.ep.args.strict:
            aws_model.check_cloudtrail_lookup(doc)
        fault = "truncate" if "truncate" in hit else "malformed" if "malformed" in hit else None
        out = json.dumps(doc).encode()
        n = self.send(
            200,
            "application/x-amz-json-1.1",
            [out],
            {"x-amzn-RequestId": _request_id()},
            fault=fault,
        )
        self.ep.stats.count("LookupEvents", fault or "ok", p.region, len(doc["Events"]), n)
        self.finish_log("LookupEvents", 200, fault or "ok", p.region, p.account, n)

    def lookup(self, body, p):
        try:
            req = json.loads(body or b"{}")
        except ValueError:
            raise ApiError("SerializationException", "Request body is not valid JSON") from None
        if not isinstance(req, dict):
            raise ApiError("SerializationException", "Request body must be an object")
        known = {"LookupAttributes", "StartTime", "EndTime", "EventCategory", "MaxResults", "NextToken"}
        for k in req:
            if k not in known:
                raise ApiError("SerializationException", "Unknown member %s" % k)
        attrs = req.get("LookupAttributes") or []
        if len(attrs) > 1:
            raise ApiError("InvalidLookupAttributesException", "You cannot specify more than one lookup attribute.")
        attr = None
        if attrs:
            a = attrs[0]
            if a.get("AttributeKey") not in LOOKUP_KEYS or not a.get("AttributeValue"):
                raise ApiError("InvalidLookupAttributesException", "Invalid lookup attribute %r" % a)
            attr = (a["AttributeKey"], a["AttributeValue"])
        maxres = req.get("MaxResults", 50)
        if isinstance(maxres, bool) or not isinstance(maxres, int) or not 1 <= maxres <= 50:
            raise ApiError("InvalidMaxResultsException", "MaxResults must be between 1 and 50")
        if "EventCategory" in req and req["EventCategory"] != "insight":
            raise ApiError("InvalidEventCategoryException", "EventCategory must be insight")

        def ts(name, default):
            v = req.get(name)
            if v is None:
                return default
            try:
                return aws_model.parse_timestamp(v).timestamp()
            except (ValueError, TypeError, OverflowError):
                raise ApiError("SerializationException", "%s is not a timestamp" % name) from None

        now = time.time()
        start = ts("StartTime", now - 90 * 86400)
        end = ts("EndTime", now)
        if start > end:
            raise ApiError("InvalidTimeRangeException", "Start time must be before end time.")
        if req.get("EventCategory") == "insight":
            events = []
        else:
            events = self.ep.data.events(p.account, p.region)
        bind = [p.account, p.region, _sorted_bind(req, ("NextToken", "MaxResults"))]
        offset = 0
        if req.get("NextToken"):
            offset = self.ep.read_token(req["NextToken"], bind)
            if offset is None:
                raise ApiError("InvalidNextTokenException", "Invalid NextToken.")
        sel = [e for e in events if start <= e["EventTime"] <= end and (attr is None or _ev_match(e, attr))]
        page = sel[offset : offset + maxres]
        out = {"Events": page}
        if offset + maxres < len(sel):
            out["NextToken"] = self.ep.make_token(bind, offset + maxres)
        return out

    # -- IMDSv2 and container credentials --------------------------------------------------
    def imds_credentials(self):
        ep = self.ep
        with ep.lock:
            c = ep.imds_creds
            if c is not None:
                k = ep.creds.lookup(c["AccessKeyId"])
                if k is None or k["revoked"] or c["Expiration"] - time.time() < 300:
                    c = None
            if c is None:
                ttl = ep.args.session_ttl or 21600
                arn = "arn:aws:sts::%s:assumed-role/%s/i-0fa1e0a5b1c2d3e4f" % (ep.creds.default_account, ep.creds.imds_role)
                c = ep.creds.issue(ep.creds.default_account, arn, ttl)
                ep.imds_creds = c
            return c

    def imds(self, method, path):
        ep = self.ep
        if path == "/latest/api/token":
            if method != "PUT":
                return self.plain(405, "")
            ttl = self.headers.get("X-aws-ec2-metadata-token-ttl-seconds", "")
            if not ttl.isdigit() or not 1 <= int(ttl) <= 21600:
                ep.stats.count("IMDS", "BadRequest")
                return self.plain(400, "")
            tok = base64.urlsafe_b64encode(os.urandom(42)).decode()
            with ep.lock:
                now = time.time()
                for t in [t for t, e in ep.imds_tokens.items() if e < now]:
                    del ep.imds_tokens[t]
                ep.imds_tokens[tok] = now + int(ttl)
            ep.stats.count("IMDS", "token")
            return self.plain(200, tok, extra={"X-aws-ec2-metadata-token-ttl-seconds": ttl})
        if method != "GET":
            return self.plain(405, "")
        tok = self.headers.get("X-aws-ec2-metadata-token")
        with ep.lock:
            good = tok is not None and ep.imds_tokens.get(tok, 0) > time.time()
        if not good:
            ep.stats.count("IMDS", "Unauthorized")
            return self.plain(401, "")
        base = "/latest/meta-data/iam/security-credentials/"
        if path in (base, base[:-1]):
            ep.stats.count("IMDS", "ok")
            return self.plain(200, ep.creds.imds_role)
        if path == base + ep.creds.imds_role:
            c = self.imds_credentials()
            ep.stats.count("IMDS", "credentials")
            return self.json_out(
                200,
                {
                    "Code": "Success",
                    "LastUpdated": aws_auth.iso_utc(time.time()),
                    "Type": "AWS-HMAC",
                    "AccessKeyId": c["AccessKeyId"],
                    "SecretAccessKey": c["SecretAccessKey"],
                    "Token": c["SessionToken"],
                    "Expiration": aws_auth.iso_utc(c["Expiration"]),
                },
                "text/plain",
            )
        if path == "/latest/meta-data/placement/region":
            return self.plain(200, ep.home)
        if path == "/latest/dynamic/instance-identity/document":
            return self.json_out(
                200,
                {"accountId": ep.creds.default_account, "region": ep.home, "instanceId": "i-0fa1e0a5b1c2d3e4f"},
            )
        ep.stats.count("IMDS", "NotFound")
        return self.plain(404, "")

    def container(self, method):
        ep = self.ep
        if method != "GET":
            return self.plain(405, "")
        auth = self.headers.get("Authorization")
        if not auth:
            ep.stats.count("ContainerCredentials", "Unauthorized")
            return self.json_out(401, {"code": "InvalidToken", "message": "Authorization header is missing"})
        if auth != ep.creds.container_token:
            ep.stats.count("ContainerCredentials", "AccessDenied")
            return self.json_out(403, {"code": "AccessDenied", "message": "Authorization token is not valid"})
        ttl = ep.args.session_ttl or 21600
        acct = ep.creds.doc.get("container_account", ep.creds.default_account)
        role_arn = "arn:aws:iam::%s:role/ipamwatch-task" % acct
        c = ep.creds.issue(acct, "arn:aws:sts::%s:assumed-role/ipamwatch-task/task" % acct, ttl)
        ep.stats.count("ContainerCredentials", "ok")
        return self.json_out(
            200,
            {
                "AccessKeyId": c["AccessKeyId"],
                "SecretAccessKey": c["SecretAccessKey"],
                "Token": c["SessionToken"],
                "Expiration": aws_auth.iso_utc(c["Expiration"]),
                "RoleArn": role_arn,
                "AccountId": acct,
            },
        )


def _ev_match(e, attr):
    key, val = attr
    if key == "ResourceType":
        return any(r.get("ResourceType") == val for r in e.get("Resources") or [])
    if key == "ResourceName":
        return any(r.get("ResourceName") == val for r in e.get("Resources") or [])
    return str(e.get(key, "")) == val


class Server(ThreadingHTTPServer):
    daemon_threads = True
    request_queue_size = 128
    allow_reuse_address = True


def main(argv=None):
    ap = argparse.ArgumentParser(description="AWS-shaped test endpoint (EC2 IPAM, STS, CloudTrail, IMDS)")
    ap.add_argument("--data", required=True, help="dataset folder (inventory/, cloudtrail/, credentials.json)")
    ap.add_argument("--port-file", required=True, help="file receiving http://127.0.0.1:PORT once listening")
    ap.add_argument("--faults", default="", help="fault SPEC, e.g. throttle=0.3,slow=10s@0.2")
    ap.add_argument("--seed", type=int, default=1, help="seed of fault draws and issued credentials")
    ap.add_argument("--log", help="append one line per request to this file")
    ap.add_argument("--port", type=int, default=0, help="port to bind (default: ephemeral)")
    ap.add_argument("--strict", action="store_true", help="check every response against the model")
    ap.add_argument("--session-ttl", type=float, default=None, help="lifetime cap of issued credentials (s)")
    ap.add_argument("--cloudtrail-rate", type=int, default=2, help="LookupEvents requests/s per account and Region")
    ap.add_argument("--cache-dir", help="where rendered big collections are cached (default DIR/.fake-aws-cache)")
    ap.add_argument("--lazy", action="store_true", help="render collections on first use, not at start")
    ap.add_argument("--tls-cert", help="serve HTTPS with this PEM certificate (chain)")
    ap.add_argument("--tls-key", help="private key of --tls-cert (default: in the same file)")
    args = ap.parse_args(argv)
    try:
        parse_faults(args.faults)
        ep = Endpoint(args)
        if not args.lazy:
            ep.data.preload()
    except (ValueError, OSError, KeyError, aws_model.XmlDrift) as e:
        sys.stderr.write("fake_aws: %s\n" % e)
        return 2
    srv = Server(("127.0.0.1", args.port), Handler)
    srv.endpoint = ep
    scheme = "http"
    if args.tls_cert:
        # The handshake runs in each request's thread, so a client that refuses the
        # certificate fails its own connection only.
        ctx = ssl.SSLContext(ssl.PROTOCOL_TLS_SERVER)
        ctx.load_cert_chain(args.tls_cert, args.tls_key)
        srv.socket = ctx.wrap_socket(srv.socket, server_side=True, do_handshake_on_connect=False)
        scheme = "https"

    def stop(signum, frame):
        ep.stopping.set()
        threading.Thread(target=srv.shutdown, daemon=True).start()

    signal.signal(signal.SIGTERM, stop)
    signal.signal(signal.SIGINT, stop)
    tmp = "%s.%d.tmp" % (args.port_file, os.getpid())
    with open(tmp, "w", encoding="utf-8") as f:
        f.write("%s://127.0.0.1:%d\n" % (scheme, srv.server_address[1]))
    os.replace(tmp, args.port_file)
    try:
        srv.serve_forever(poll_interval=0.2)
    finally:
        srv.server_close()
    return 0


if __name__ == "__main__":
    sys.exit(main())

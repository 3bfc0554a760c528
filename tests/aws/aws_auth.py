"""Credentials the test endpoint accepts and SigV4 verification of incoming requests.

DESIGN: the static keys come from DIR/credentials.json; STS, IMDS and the container endpoint
issue session credentials at runtime, kept in memory until they expire. A signature is
verified by rebuilding the request with exactly the headers the client listed in SignedHeaders
and letting botocore's SigV4Auth compute the signature with the stored secret, so the check
is the one AWS's own SDK applies. All methods are thread-safe.
"""

import base64
import datetime
import hmac
import json
import os
import random
import re
import threading
import time

from botocore.auth import SigV4Auth
from botocore.awsrequest import AWSRequest
from botocore.credentials import Credentials

_AUTH_RE = re.compile(
    r"^AWS4-HMAC-SHA256\s+Credential=([^/,\s]+)/(\d{8})/([^/,\s]+)/([^/,\s]+)/aws4_request\s*,"
    r"\s*SignedHeaders=([^,\s]+)\s*,\s*Signature=([0-9a-f]{64})\s*$"
)


class AuthError(Exception):
    """Authentication failed. kind is one of: missing, malformed, unknown_key, bad_token,
    signature, scope, expired, skew."""

    def __init__(self, kind, message):
        super().__init__(message)
        self.kind = kind
        self.message = message


class Principal:
    """The identity behind a verified request."""

    def __init__(self, access_key_id, account, arn, region, service, session):
        self.access_key_id = access_key_id
        self.account = account
        self.arn = arn
        self.region = region
        self.service = service
        self.session = session


def iso_utc(ts):
    """Epoch seconds as ISO 8601 UTC without fraction (the form IMDS and ECS use)."""
    return datetime.datetime.fromtimestamp(ts, tz=datetime.timezone.utc).strftime(
        "%Y-%m-%dT%H:%M:%SZ"
    )


def parse_iso(s):
    """ISO 8601 to epoch seconds."""
    s = s.strip().replace("Z", "+00:00")
    dt = datetime.datetime.fromisoformat(s)
    if dt.tzinfo is None:
        dt = dt.replace(tzinfo=datetime.timezone.utc)
    return dt.timestamp()


class CredentialStore:
    """Static keys from credentials.json plus session credentials issued at runtime."""

    def __init__(self, path, seed=None):
        with open(path, encoding="utf-8") as f:
            doc = json.load(f)
        self.doc = doc
        self.roles = doc.get("roles", {})
        self.web_identity_tokens = list(doc.get("web_identity_tokens", []))
        self.container_token = doc.get("container_authorization_token")
        self.imds_role = doc.get("imds_role", "ipamwatch-node")
        keys = doc.get("keys", [])
        if not keys:
            raise ValueError("%s: no keys" % path)
        self.default_account = doc.get("imds_account", keys[0]["account"])
        self._lock = threading.Lock()
        self._keys = {}
        for k in keys:
            exp = parse_iso(k["expires"]) if k.get("expires") else None
            self._keys[k["access_key_id"]] = {
                "secret": k["secret_access_key"],
                "token": k.get("session_token"),
                "account": k["account"],
                "expires": exp,
                "arn": k.get("arn", "arn:aws:iam::%s:user/ipamwatch" % k["account"]),
                "revoked": False,
            }
        self._rng = random.Random(seed if seed is not None else os.getpid())

    def _rand(self, alphabet, n):
        return "".join(self._rng.choice(alphabet) for _ in range(n))

    def issue(self, account, arn, ttl):
        """Create session credentials for account valid ttl seconds; returns a dict with
        AccessKeyId, SecretAccessKey, SessionToken, Expiration (epoch seconds)."""
        with self._lock:
            akid = "ASIA" + self._rand("ABCDEFGHIJKLMNOPQRSTUVWXYZ234567", 16)
            secret = self._rand(
                "ABCDEFGHIJKLMNOPQRSTUVWXYZabcdefghijklmnopqrstuvwxyz0123456789+/", 40
            )
            raw = bytes(self._rng.getrandbits(8) for _ in range(300))
            token = "IQoJb3JpZ2luX2Vj" + base64.b64encode(raw).decode()
            exp = time.time() + ttl
            self._keys[akid] = {
                "secret": secret,
                "token": token,
                "account": account,
                "expires": exp,
                "arn": arn,
                "revoked": False,
            }
        return {"AccessKeyId": akid, "SecretAccessKey": secret, "SessionToken": token, "Expiration": exp}

    def expire(self, access_key_id):
        """Mark session credentials as expired from now on."""
        with self._lock:
            k = self._keys.get(access_key_id)
            if k is not None:
                k["revoked"] = True

    def lookup(self, access_key_id):
        """The stored key record or None."""
        with self._lock:
            return self._keys.get(access_key_id)

    def verify(self, method, path, query, headers, body, expect_service, now, skew_limit):
        """Verify a SigV4 signed request. headers: case-insensitive mapping (email.Message);
        now: the server clock (epoch seconds). Returns a Principal; raises AuthError."""
        auth = headers.get("Authorization")
        if not auth:
            raise AuthError("missing", "Request is missing Authentication Token")
        m = _AUTH_RE.match(auth.strip())
        if not m:
            raise AuthError("malformed", "Authorization header is malformed: %s" % auth[:60])
        akid, day, region, service, signed, signature = m.groups()
        amz_date = headers.get("X-Amz-Date")
        if not amz_date or not re.match(r"^\d{8}T\d{6}Z$", amz_date) or amz_date[:8] != day:
            raise AuthError("malformed", "X-Amz-Date missing or not matching the credential scope")
        key = self.lookup(akid)
        if key is None:
            raise AuthError("unknown_key", "The security token included in the request is invalid.")
        token = headers.get("X-Amz-Security-Token")
        if key["token"] is not None and token != key["token"]:
            raise AuthError("bad_token", "The security token included in the request is invalid.")
        if key["token"] is None and token:
            raise AuthError("bad_token", "The security token included in the request is invalid.")
        if service != expect_service:
            raise AuthError(
                "scope", "Credential should be scoped to correct service: '%s'." % expect_service
            )
        names = signed.split(";")
        if "host" not in names:
            raise AuthError("malformed", "'Host' must be a signed header.")
        req_headers = {}
        for n in names:
            v = headers.get_all(n) if hasattr(headers, "get_all") else None
            if not v:
                raise AuthError("signature", "Signed header %s is missing from the request." % n)
            req_headers[n] = ",".join(v) if len(v) > 1 else v[0]
        url = "http://%s%s" % (req_headers["host"], path)
        if query:
            url += "?" + query
        req = AWSRequest(method=method, url=url, headers=req_headers, data=body)
        req.context["timestamp"] = amz_date
        signer = SigV4Auth(Credentials(akid, key["secret"], key["token"]), service, region)
        creq = signer.canonical_request(req)
        want = signer.signature(signer.string_to_sign(req, creq), req)
        if not hmac.compare_digest(want, signature):
            raise AuthError(
                "signature",
                "The request signature we calculated does not match the signature you provided. "
                "Check your AWS Secret Access Key and signing method.",
            )
        req_ts = datetime.datetime.strptime(amz_date, "%Y%m%dT%H%M%SZ").replace(
            tzinfo=datetime.timezone.utc
        ).timestamp()
        if abs(now - req_ts) > skew_limit:
            raise AuthError(
                "skew",
                "Signature expired: %s is now earlier than %s (%s - %d min.)"
                % (amz_date, time.strftime("%Y%m%dT%H%M%SZ", time.gmtime(now)),
                   time.strftime("%Y%m%dT%H%M%SZ", time.gmtime(now)), skew_limit // 60)
                if req_ts < now
                else "Signature not yet current: %s is still later than %s"
                % (amz_date, time.strftime("%Y%m%dT%H%M%SZ", time.gmtime(now + skew_limit))),
            )
        if key["revoked"] or (key["expires"] is not None and key["expires"] <= time.time()):
            raise AuthError("expired", "The security token included in the request is expired")
        return Principal(akid, key["account"], key["arn"], region, service, key["token"] is not None)

"""receiver: a local endpoint for the alert sinks' notifications, checking their documented shapes.

  receiver.py http --port N|0 [--port-file F] --log F [--hmac-secret S] [--tls-cert PEM --tls-key KEY]
                   [--fail-first N] [--delay S [--delay-posts M]]
      HTTP (HTTPS with --tls-cert) on 127.0.0.1. POST /alertmanager (Alertmanager webhook_config payload),
      /pagerduty (Events API v2), /slack (incoming webhook), /webhook (ipamwatch alert JSON
      signed with HMAC-SHA256 over "<X-Ipamwatch-Timestamp>.<body>"). Each request is
      checked; valid ones get the service's success answer (202 for PagerDuty, 200 "ok"
      otherwise; /api/v2/alerts takes Alertmanager API v2 posts), invalid ones 400 (401 for a bad signature). Every request is appended
      to the log as one JSON line: {"path", "valid", "why", "body"}.
      Faults, in the order of the posts: --fail-first N answers the first N posts 500 and 503
      in turn; --delay S then holds the next M posts (--delay-posts, default 1) S seconds
      before answering. A faulted post is logged on arrival with "fault": the status or "delay".
  receiver.py syslog --port-file F --log F [--tcp | --unix PATH]
      UDP syslog on 127.0.0.1 (--tcp: TCP with RFC 6587 octet counting, "LEN SP MSG";
      --unix: a unix datagram socket at PATH, the port file then holds PATH); each message
      is parsed per RFC 5424 (header, structured data with escapes, MSG) and logged as
      {"path": "/syslog", "valid", "why", "pri", "version", "timestamp", "hostname", "app",
      "procid", "msgid", "sd", "msg", "transport"}.
  receiver.py query LOG EXPR
      evaluates the Python expression EXPR with `e` bound to the list of logged entries;
      exit 0 when it is true, 1 otherwise (prints the entries then).
"""
import argparse
import hashlib
import hmac
import http.server
import json
import re
import socket
import sys
import threading
import time
import urllib.parse

LOCK = threading.Lock()
POSTS = [0]  # posts seen, for the faults of the first ones


def next_fault(args):
    """The fault the next post gets: an HTTP status, "delay" or None."""
    with LOCK:
        POSTS[0] += 1
        i = POSTS[0]
    if i <= args.fail_first:
        return 500 if i % 2 else 503
    if args.delay and i <= args.fail_first + args.delay_posts:
        return "delay"
    return None


def log(path, entry):
    with LOCK, open(path, "a") as f:
        f.write(json.dumps(entry) + "\n")


def check_alertmanager(body, headers, args):
    if body.get("version") != "4" or body.get("status") not in ("firing", "resolved"):
        return "not an Alertmanager webhook payload (version 4, status)"
    alerts = body.get("alerts")
    if not isinstance(alerts, list) or not alerts:
        return "no alerts"
    for a in alerts:
        if "alertname" not in a.get("labels", {}) or a.get("status") not in ("firing", "resolved"):
            return "alert without alertname/status"
    return None


def check_am_api(body, headers, args):
    """Alertmanager API v2 POST /api/v2/alerts: an array of postable alerts."""
    if not isinstance(body, list) or not body:
        return "not a non-empty array"
    for a in body:
        if not isinstance(a.get("labels"), dict) or "alertname" not in a["labels"]:
            return "postable alert without labels.alertname"
        for k in ("startsAt", "endsAt"):
            if k in a and not re.match(r"\d{4}-\d\d-\d\dT", a[k]):
                return k + " is not RFC 3339"
    return None


def check_pagerduty(body, headers, args):
    if not isinstance(body.get("routing_key"), str) or len(body["routing_key"]) == 0:
        return "routing_key missing"
    action = body.get("event_action")
    if action not in ("trigger", "acknowledge", "resolve"):
        return "bad event_action"
    if not isinstance(body.get("dedup_key"), str) or not body["dedup_key"]:
        return "dedup_key missing"
    if action == "trigger":
        p = body.get("payload")
        if not isinstance(p, dict):
            return "payload missing"
        if not isinstance(p.get("summary"), str) or not 0 < len(p["summary"]) <= 1024:
            return "payload.summary missing or too long"
        if not isinstance(p.get("source"), str) or not p["source"]:
            return "payload.source missing"
        if p.get("severity") not in ("critical", "error", "warning", "info"):
            return "payload.severity not critical/error/warning/info"
        if "custom_details" in p and not isinstance(p["custom_details"], dict):
            return "custom_details not an object"
    return None


def check_slack(body, headers, args):
    if not isinstance(body.get("text"), str) or not body["text"]:
        return "text missing"
    atts = body.get("attachments", [])
    if not isinstance(atts, list):
        return "attachments not a list"
    for a in atts:
        if not re.fullmatch(r"#[0-9a-fA-F]{6}", a.get("color", "")):
            return "attachment color not #rrggbb"
    return None


def check_webhook(body, headers, args, raw):
    ts = headers.get("X-Ipamwatch-Timestamp")
    if not ts or not ts.isdigit():
        return "timestamp header missing"
    if abs(time.time() - int(ts)) > 300:
        return "timestamp outside 5 minutes (replay)"
    if args.hmac_secret:
        sig = headers.get("X-Ipamwatch-Signature", "")
        want = "sha256=" + hmac.new(args.hmac_secret.encode(), ts.encode() + b"." + raw,
                                    hashlib.sha256).hexdigest()
        if not hmac.compare_digest(sig, want):
            return "bad signature"
    if body.get("type") != "alert" or not body.get("fingerprint"):
        return "not an alert record"
    return None


def serve_http(args):
    class Handler(http.server.BaseHTTPRequestHandler):
        def log_message(self, *a):
            pass

        def do_POST(self):
            n = int(self.headers.get("Content-Length", "0"))
            raw = self.rfile.read(n)
            why = None
            try:
                body = json.loads(raw)
            except ValueError:
                body, why = None, "body is not JSON"
            status, text = 200, b"ok"
            path = urllib.parse.urlsplit(self.path).path
            if why is None:
                if path == "/alertmanager":
                    why = check_alertmanager(body, self.headers, args)
                elif path == "/api/v2/alerts":
                    why = check_am_api(body, self.headers, args)
                elif path == "/pagerduty":
                    why = check_pagerduty(body, self.headers, args)
                    status, text = 202, b'{"status":"success","message":"Event processed"}'
                elif path == "/slack":
                    why = check_slack(body, self.headers, args)
                elif path == "/webhook":
                    why = check_webhook(body, self.headers, args, raw)
                else:
                    why = "unknown path"
            if why is not None:
                status, text = (401 if why == "bad signature" else 400), why.encode()
            entry = {"path": path, "valid": why is None, "why": why, "body": body}
            fault = next_fault(args)
            if fault is not None:
                entry["fault"] = fault
            log(args.log, entry)
            if fault == "delay":
                time.sleep(args.delay)
            elif fault is not None:
                status, text = fault, b"injected fault"
            try:
                self.send_response(status)
                self.send_header("Content-Length", str(len(text)))
                self.end_headers()
                self.wfile.write(text)
            except OSError:
                pass  # a delayed post's client gave up

    http.server.ThreadingHTTPServer.allow_reuse_address = True
    srv = http.server.ThreadingHTTPServer(("127.0.0.1", args.port), Handler)
    if args.tls_cert:
        import ssl
        ctx = ssl.SSLContext(ssl.PROTOCOL_TLS_SERVER)
        ctx.load_cert_chain(args.tls_cert, args.tls_key)
        srv.socket = ctx.wrap_socket(srv.socket, server_side=True)

        def handle_error(request, client_address):
            # A client that refuses the certificate aborts the handshake: logged, not fatal.
            log(args.log, {"path": None, "valid": False, "why": "TLS handshake failed",
                           "body": None})
        srv.handle_error = handle_error
    if args.port_file:
        with open(args.port_file + ".tmp", "w") as f:
            f.write(str(srv.server_address[1]))
        import os
        os.rename(args.port_file + ".tmp", args.port_file)
    srv.serve_forever()


SYSLOG_RE = re.compile(
    r"<(\d{1,3})>(\d{1,2}) (\S+) (\S{1,255}) (\S{1,48}) (\S{1,128}) (\S{1,32}) (.*)\Z", re.S)
TS_RE = re.compile(r"\d{4}-\d\d-\d\dT\d\d:\d\d:\d\d(\.\d{1,6})?(Z|[+-]\d\d:\d\d)\Z")


def parse_sd(s):
    """Parses STRUCTURED-DATA at the start of s; returns (dict of SD-ID -> params, rest)."""
    if s.startswith("-"):
        return {}, s[1:]
    sd = {}
    i = 0
    while i < len(s) and s[i] == "[":
        m = re.match(r"\[([^ =\]\"]{1,32})", s[i:])
        if not m:
            raise ValueError("bad SD-ID")
        sdid = m.group(1)
        i += m.end()
        params = {}
        while s[i] == " ":
            m = re.match(r" ([^ =\]\"]{1,32})=\"", s[i:])
            if not m:
                raise ValueError("bad SD-PARAM")
            name = m.group(1)
            i += m.end()
            val = []
            while True:
                c = s[i]
                if c == "\\" and s[i + 1] in "\"\\]":
                    val.append(s[i + 1])
                    i += 2
                elif c == '"':
                    i += 1
                    break
                elif c in "]":
                    raise ValueError("unescaped ] in PARAM-VALUE")
                else:
                    val.append(c)
                    i += 1
            params[name] = "".join(val)
        if s[i] != "]":
            raise ValueError("SD-ELEMENT not closed")
        i += 1
        sd[sdid] = params
    if not sd:
        raise ValueError("no structured data")
    return sd, s[i:]


def syslog_entry(args, data, transport):
    entry = {"path": "/syslog", "valid": False, "why": None, "transport": transport}
    try:
        text = data.decode("utf-8")
        m = SYSLOG_RE.match(text)
        if not m:
            raise ValueError("header does not match RFC 5424")
        pri, ver, ts, host, app, procid, msgid, rest = m.groups()
        if int(pri) > 191 or ver != "1":
            raise ValueError("bad PRI or VERSION")
        if not TS_RE.match(ts):
            raise ValueError("bad TIMESTAMP")
        sd, rest = parse_sd(rest)
        if rest and not rest.startswith(" "):
            raise ValueError("no SP before MSG")
        entry.update(valid=True, pri=int(pri), version=int(ver), timestamp=ts, hostname=host,
                     app=app, procid=procid, msgid=msgid, sd=sd, msg=rest[1:])
    except (ValueError, IndexError, UnicodeDecodeError) as e:
        entry["why"] = str(e)
        entry["raw"] = data.decode("utf-8", "replace")
    log(args.log, entry)


def syslog_tcp_client(args, conn):
    """Reads RFC 6587 octet-counted frames ("LEN SP MSG") until the peer closes."""
    buf = b""
    with conn:
        while True:
            chunk = conn.recv(65536)
            if not chunk:
                if buf:
                    log(args.log, {"path": "/syslog", "valid": False, "transport": "tcp",
                                   "why": "connection closed inside a frame",
                                   "raw": buf.decode("utf-8", "replace")})
                return
            buf += chunk
            while True:
                sp = buf.find(b" ")
                if sp < 0:
                    break
                if not buf[:sp].isdigit() or sp > 9:
                    log(args.log, {"path": "/syslog", "valid": False, "transport": "tcp",
                                   "why": "frame does not start with an octet count",
                                   "raw": buf.decode("utf-8", "replace")})
                    return
                n = int(buf[:sp])
                if len(buf) < sp + 1 + n:
                    break
                syslog_entry(args, buf[sp + 1:sp + 1 + n], "tcp")
                buf = buf[sp + 1 + n:]


def serve_syslog(args):
    import os
    if args.unix:
        sock = socket.socket(socket.AF_UNIX, socket.SOCK_DGRAM)
        sock.bind(args.unix)
        where = args.unix
    elif args.tcp:
        sock = socket.socket(socket.AF_INET, socket.SOCK_STREAM)
        sock.setsockopt(socket.SOL_SOCKET, socket.SO_REUSEADDR, 1)
        sock.bind(("127.0.0.1", 0))
        sock.listen(8)
        where = str(sock.getsockname()[1])
    else:
        sock = socket.socket(socket.AF_INET, socket.SOCK_DGRAM)
        sock.bind(("127.0.0.1", 0))
        where = str(sock.getsockname()[1])
    with open(args.port_file + ".tmp", "w") as f:
        f.write(where)
    os.rename(args.port_file + ".tmp", args.port_file)
    while True:
        if args.tcp:
            conn, _ = sock.accept()
            threading.Thread(target=syslog_tcp_client, args=(args, conn), daemon=True).start()
            continue
        data, _ = sock.recvfrom(65536)
        syslog_entry(args, data, "unix" if args.unix else "udp")


def query(args):
    try:
        with open(args.log) as f:
            e = [json.loads(line) for line in f if line.strip()]
    except FileNotFoundError:
        e = []
    ok = bool(eval(args.expr, {"e": e, "len": len, "any": any, "all": all}))  # noqa: S307
    if not ok:
        for x in e:
            print("# " + json.dumps(x)[:400])
    return 0 if ok else 1


def main():
    ap = argparse.ArgumentParser()
    sub = ap.add_subparsers(dest="cmd", required=True)
    h = sub.add_parser("http")
    h.add_argument("--port", type=int, default=0)
    h.add_argument("--port-file")
    h.add_argument("--log", required=True)
    h.add_argument("--hmac-secret")
    h.add_argument("--tls-cert")
    h.add_argument("--tls-key")
    h.add_argument("--fail-first", type=int, default=0)
    h.add_argument("--delay", type=float, default=0)
    h.add_argument("--delay-posts", type=int, default=1)
    s = sub.add_parser("syslog")
    s.add_argument("--port-file", required=True)
    s.add_argument("--log", required=True)
    g = s.add_mutually_exclusive_group()
    g.add_argument("--tcp", action="store_true")
    g.add_argument("--unix")
    q = sub.add_parser("query")
    q.add_argument("log")
    q.add_argument("expr")
    args = ap.parse_args()
    if args.cmd == "http":
        serve_http(args)
    elif args.cmd == "syslog":
        serve_syslog(args)
    else:
        sys.exit(query(args))


if __name__ == "__main__":
    main()

"""soak_sink: webhook receiver for bench/soak.sh: appends one tab-separated line per alert
notification (arrival ms, state, starts_at ms, fingerprint, rule, pool_id label) to OUT and answers 200.

Usage: soak_sink.py PORT_FILE OUT
Writes http://127.0.0.1:PORT to PORT_FILE once listening; runs until killed.
"""
import datetime
import http.server
import json
import os
import sys
import time


def ms_of(text):
    if not text:
        return -1
    t = datetime.datetime.fromisoformat(text.replace("Z", "+00:00"))
    return int(t.timestamp() * 1000)


class Handler(http.server.BaseHTTPRequestHandler):
    protocol_version = "HTTP/1.1"

    def do_POST(self):
        body = self.rfile.read(int(self.headers.get("Content-Length", "0")))
        now = int(time.time() * 1000)
        try:
            rec = json.loads(body)
            line = "%d\t%s\t%d\t%s\t%s\t%s\n" % (
                now, rec.get("state"), ms_of(rec.get("starts_at")), rec.get("fingerprint"),
                rec.get("rule"), (rec.get("labels") or {}).get("pool_id", "-"))
        except (ValueError, TypeError) as e:
            line = "%d\tbad\t-1\t-\t%s\n" % (now, str(e).replace("\t", " "))
        self.server.out.write(line)
        self.server.out.flush()
        self.send_response(200)
        self.send_header("Content-Length", "0")
        self.end_headers()

    def log_message(self, fmt, *args):
        pass


def main():
    srv = http.server.ThreadingHTTPServer(("127.0.0.1", 0), Handler)
    srv.out = open(sys.argv[2], "a")
    with open(sys.argv[1] + ".tmp", "w") as f:
        f.write("http://127.0.0.1:%d\n" % srv.server_address[1])
    os.replace(sys.argv[1] + ".tmp", sys.argv[1])
    srv.serve_forever()


if __name__ == "__main__":
    main()

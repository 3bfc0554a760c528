"""graph_forecast: synthetic pool histories for 12-graph-forecast.sh, and checks of the
`ipamwatch graph` images and `ipamwatch forecast` outputs against the known truth.

  graph_forecast.py gen END_EPOCH TRUTH.json      samples on stdout (rrd_history input)
  graph_forecast.py png FILE W H [--color RRGGBB]  checks a PNG (size, drawn, a colour)
  graph_forecast.py svg FILE W H                   checks an SVG (parses, size, drawn)
  graph_forecast.py forecast FORMAT OUTPUT TRUTH.json   checks a forecast listing
  graph_forecast.py records                        scope and pool records on stdout (names)

Each check prints one line and exits 0 when it holds, 1 (with the reason) otherwise.
"""
import csv
import io
import json
import struct
import sys
import xml.etree.ElementTree as ET
import zlib

DAY = 86400
YEARS3 = 1096 * DAY


def pools(end):
    """Pool histories: id -> (size, used(t), truth of the full date or None, status)."""
    def linear(size, rate, full_in_days, step_at=None, step=0):
        full = end + full_in_days * DAY

        def used(t):
            u = size - rate * (full - t) / DAY
            if step_at is not None and t < step_at:
                u -= step
            return max(u, 0.0)
        return used, full

    out = {}
    u, full = linear(65536, 40, 120)
    out["ipam-pool-fast"] = (65536, u, full, "date")
    # One /20 allocated 30 days ago: space used, but not a trend.
    u, full = linear(16384, 10, 200, step_at=end - 30 * DAY, step=4096)
    out["ipam-pool-step"] = (16384, u, full, "date")
    u, full = linear(65536, 20, 400)
    out["ipam-pool-slow"] = (65536, u, full, "beyond_horizon")
    out["ipam-pool-flat"] = (65536, lambda t: 5000.0, None, "flat")
    out["ipam-pool-shrink"] = (65536, lambda t: 30000.0 + 15 * (end - t) / DAY, None,
                               "shrinking")
    return out


def gen(end, truth_path):
    start = end - YEARS3
    lines = []
    truth = {}
    for pid, (size, used, full, status) in pools(end).items():
        truth[pid] = {"full": full, "status": status, "size": size,
                      "used_now": used(end)}
        for t in range(start, end + 1, 3600):
            lines.append("pool %s %d %d %.3f 20\n" % (pid, t, size, used(t)))
    # Three days only: too little history for a date.
    for t in range(end - 3 * DAY, end + 1, 3600):
        lines.append("pool ipam-pool-young %d 4096 %.3f 24\n" % (t, 100 + (end - t) / 3600))
    truth["ipam-pool-young"] = {"full": None, "status": "too_little_data", "size": 4096,
                                "used_now": 100}
    # A scope and a VPC for the other object kinds, one sample a day.
    for t in range(start, end + 1, DAY):
        frac = (t - start) / YEARS3
        lines.append("scope ipam-scope-main %d 131072 %.0f U\n" % (t, 20000 + 60000 * frac))
        lines.append("vpc vpc-0123 %d 4096 %.0f 22\n" % (t, 1000 + 2000 * frac))
    sys.stdout.writelines(lines)
    with open(truth_path, "w") as f:
        json.dump({"end": end, "pools": truth}, f)


# Names of the objects in the analyzer snapshot the graph titles read (records below): a
# Name tag (with characters that are markup elsewhere), a description only; ipam-pool-flat
# has neither and ipam-pool-slow is not in the snapshot, so their ids serve.
NAMES = {"ipam-pool-fast": "prod-euc1 fast & <growing>",
         "ipam-pool-step": "step pool, described only",
         "ipam-scope-main": "Main private scope"}


def records():
    """Scope and pool records (wire form, no pass) naming the objects of NAMES."""
    scope = "ipam-scope-main"
    env = {"v": 1, "scope": scope, "ts": "2025-03-14T10:00:03.250Z",
           "source": "collector/test"}
    out = [dict(env, type="scope", scope_id=scope,
                arn="arn:aws:ec2::111122223333:ipam-scope/" + scope,
                ipam_id="ipam-0123456789abcdef0",
                ipam_arn="arn:aws:ec2::111122223333:ipam/ipam-0123456789abcdef0",
                owner="111122223333", scope_type="private", is_default=True, pool_count=3,
                state="create-complete", description="scope description",
                tags={"Name": NAMES[scope]})]
    for pid in ("ipam-pool-fast", "ipam-pool-step", "ipam-pool-flat"):
        rec = dict(env, type="pool", pool_id=pid,
                   arn="arn:aws:ec2::111122223333:ipam-pool/" + pid, scope_id=scope,
                   scope_arn="arn:aws:ec2::111122223333:ipam-scope/" + scope,
                   ipam_id="ipam-0123456789abcdef0", owner="111122223333",
                   locale="eu-central-1", address_family="ipv4", depth=1,
                   state="create-complete", auto_import=False, publicly_advertisable=False)
        if pid == "ipam-pool-fast":
            rec["description"] = "not the name: the Name tag wins"
            rec["tags"] = {"Name": NAMES[pid], "env": "prod"}
        elif pid == "ipam-pool-step":
            rec["description"] = NAMES[pid]
        out.append(rec)
    for r in out:
        sys.stdout.write(json.dumps(r, separators=(",", ":")) + "\n")


def fail(msg):
    print("FAIL: " + msg)
    sys.exit(1)


def png_pixels(data):
    """Decodes an 8-bit RGB/RGBA/palette PNG into (width, height, list of RGB tuples)."""
    if data[:8] != b"\x89PNG\r\n\x1a\n":
        fail("not a PNG signature")
    pos, idat, plte = 8, b"", None
    w = h = depth = ctype = None
    while pos < len(data):
        n, kind = struct.unpack(">I4s", data[pos:pos + 8])
        body = data[pos + 8:pos + 8 + n]
        if kind == b"IHDR":
            w, h, depth, ctype = struct.unpack(">IIBB", body[:10])
        elif kind == b"PLTE":
            plte = [tuple(body[i:i + 3]) for i in range(0, len(body), 3)]
        elif kind == b"IDAT":
            idat += body
        pos += 12 + n
    if depth != 8 or ctype not in (2, 3, 6):
        return w, h, None
    bpp = {2: 3, 3: 1, 6: 4}[ctype]
    raw = zlib.decompress(idat)
    stride = w * bpp
    prev = bytearray(stride)
    pixels = []
    i = 0
    for _ in range(h):
        f = raw[i]
        line = bytearray(raw[i + 1:i + 1 + stride])
        i += 1 + stride
        for x in range(stride):
            a = line[x - bpp] if x >= bpp else 0
            b = prev[x]
            c = prev[x - bpp] if x >= bpp else 0
            if f == 1:
                line[x] = (line[x] + a) & 255
            elif f == 2:
                line[x] = (line[x] + b) & 255
            elif f == 3:
                line[x] = (line[x] + (a + b) // 2) & 255
            elif f == 4:
                p = a + b - c
                pa, pb, pc = abs(p - a), abs(p - b), abs(p - c)
                pr = a if pa <= pb and pa <= pc else (b if pb <= pc else c)
                line[x] = (line[x] + pr) & 255
        prev = line
        for x in range(0, stride, bpp):
            pixels.append(plte[line[x]] if ctype == 3 else tuple(line[x:x + 3]))
    return w, h, pixels


def check_png(path, want_w, want_h, colors):
    data = open(path, "rb").read()
    w, h, pixels = png_pixels(data)
    if (w, h) != (want_w, want_h):
        fail("%s is %sx%s, want %dx%d" % (path, w, h, want_w, want_h))
    if len(data) < 4000:
        fail("%s is only %d bytes" % (path, len(data)))
    if pixels is None:
        fail("%s: unexpected PNG pixel format" % path)
    distinct = len(set(pixels))
    if distinct < 8:
        fail("%s has only %d colours: nothing drawn" % (path, distinct))
    counts = {}
    for p in pixels:
        counts[p] = counts.get(p, 0) + 1
    for spec in colors:
        want_absent = spec.startswith("!")
        hexa = spec.lstrip("!")
        rgb = tuple(int(hexa[i:i + 2], 16) for i in (0, 2, 4))
        n = counts.get(rgb, 0)
        if want_absent and n > 0:
            fail("%s: colour %s drawn on %d pixels, want none" % (path, hexa, n))
        if not want_absent and n < 20:
            fail("%s: colour %s drawn on %d pixels, want 20 or more" % (path, hexa, n))
    print("%s: %dx%d PNG, %d bytes, %d colours" % (path, w, h, len(data), distinct))


def check_svg(path, want_w, want_h):
    data = open(path, "rb").read()
    try:
        root = ET.fromstring(data)
    except ET.ParseError as e:
        fail("%s does not parse as XML: %s" % (path, e))
    if not root.tag.endswith("svg"):
        fail("%s: root element is %s" % (path, root.tag))

    def px(v):
        v = (v or "").strip()
        for unit in ("pt", "px"):
            if v.endswith(unit):
                v = v[:-len(unit)]
        return float(v) if v else None
    w, h = px(root.get("width")), px(root.get("height"))
    if (w, h) != (want_w, want_h):
        fail("%s is %sx%s, want %dx%d" % (path, w, h, want_w, want_h))
    shapes = sum(1 for e in root.iter() if e.tag.split("}")[-1] in ("path", "use", "rect",
                                                                   "line", "polyline"))
    if shapes < 50 or len(data) < 10000:
        fail("%s: %d shapes in %d bytes: nothing drawn" % (path, shapes, len(data)))
    print("%s: %gx%g SVG, %d bytes, %d shapes" % (path, w, h, len(data), shapes))


def parse_time(s):
    import datetime
    if not s:
        return None
    d = datetime.datetime.strptime(s, "%Y-%m-%dT%H:%M:%SZ")
    return int(d.replace(tzinfo=datetime.timezone.utc).timestamp())


def parse_table(text):
    lines = text.rstrip("\n").split("\n")
    if not lines[0].startswith("POOL"):
        fail("table header is %r" % lines[0])
    rows = []
    for line in lines[1:]:
        cols = line.split()
        date = cols[5] if len(cols) > 5 and cols[5] != "-" else None
        full = parse_time(date + "T12:00:00Z") if date else None
        rows.append({"pool": cols[0], "date": full, "status": None, "table": line})
    return rows


def check_forecast(fmt, path, truth_path):
    truth = json.load(open(truth_path))["pools"]
    text = open(path).read()
    if fmt == "json":
        doc = json.loads(text)
        rows = doc["pools"]
        for r in rows:
            r["date"] = parse_time(r["date"])
    elif fmt == "csv":
        rows = list(csv.DictReader(io.StringIO(text)))
        for r in rows:
            r["date"] = parse_time(r["date"])
    else:
        rows = parse_table(text)
    order = [r["pool"] for r in rows]
    want = ["ipam-pool-fast", "ipam-pool-step", "ipam-pool-slow"]
    if order[:3] != want:
        fail("%s order %s, want %s first" % (fmt, order, want))
    if sorted(order) != sorted(truth):
        fail("%s lists %s, want %s" % (fmt, sorted(order), sorted(truth)))
    # The dated pools are within a day of the truth (a day's slack for the table's days).
    slack = 1.5 * DAY if fmt == "table" else DAY
    for r in rows:
        t = truth[r["pool"]]
        if t["full"] is None:
            if r["date"] is not None:
                fail("%s: %s has a date %s, want none" % (fmt, r["pool"], r["date"]))
        else:
            if r["date"] is None or abs(r["date"] - t["full"]) > slack:
                fail("%s: %s date %s, truth %s" % (fmt, r["pool"], r["date"], t["full"]))
        if r.get("status") is not None and r["status"] != t["status"]:
            fail("%s: %s status %s, want %s" % (fmt, r["pool"], r["status"], t["status"]))
    if fmt in ("json", "csv"):
        for r in rows:
            t = truth[r["pool"]]
            util = float(r["utilization_percent"])
            if abs(util - 100.0 * t["used_now"] / t["size"]) > 1.0:
                fail("%s: %s utilization %s, truth %.1f" % (fmt, r["pool"], util,
                                                            100.0 * t["used_now"] / t["size"]))
        fast = next(r for r in rows if r["pool"] == "ipam-pool-fast")
        g = float(fast["growth_per_month"])
        if abs(g - 40 * 30.436875) > 1:
            fail("%s: growth per month %s, want %.1f" % (fmt, g, 40 * 30.436875))
        if str(fast["largest_free_prefix"]) not in ("20", "20.0"):
            fail("%s: largest free %s, want 20" % (fmt, fast["largest_free_prefix"]))
    print("%s: %d pools in order %s" % (fmt, len(rows), " ".join(order)))


def main():
    cmd = sys.argv[1]
    if cmd == "gen":
        gen(int(sys.argv[2]), sys.argv[3])
    elif cmd == "png":
        check_png(sys.argv[2], int(sys.argv[3]), int(sys.argv[4]), sys.argv[5:])
    elif cmd == "svg":
        check_svg(sys.argv[2], int(sys.argv[3]), int(sys.argv[4]))
    elif cmd == "forecast":
        check_forecast(sys.argv[2], sys.argv[3], sys.argv[4])
    elif cmd == "records":
        records()

    else:
        fail("unknown command " + cmd)


if __name__ == "__main__":
    main()

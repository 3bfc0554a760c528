# `ipamwatch graph` and `ipamwatch forecast` over a synthetic three-year history written
# through rrd_store: PNG and SVG images of every span have the requested size and are drawn;
# thresholds follow the utilization rules; the trend line appears only with --forecast; a
# missing object is a clear error; the forecast table, CSV and JSON list the pools in order
# of exhaustion with dates within a day of the truth; titles name the object as the
# analyzer's last snapshot has it, else by its id.
. "$top_srcdir/tests/integration/lib.sh"
plan 42
PY="$top_srcdir/tests/integration/graph_forecast.py"
HIST="$top_builddir/tests/tools/rrd_history"
# The history ends on the current hour: graphs and the horizon are relative to now.
END=$(( $(date +%s) / 3600 * 3600 ))

conf() { # conf FILE [extra lines]: a configuration over $TMP/rrd
  cat >"$1" <<EOF
[kafka]
bootstrap.servers = 127.0.0.1:9
[analyzer]
state_dir = $TMP/state
[rrd]
dir = $TMP/rrd
step = 300s
[journal]
dir = $TMP/journal
$2
EOF
}
conf "$TMP/c.conf" ""
conf "$TMP/rules.conf" "[rule \"pool-util\"]
type = utilization
warn_trigger = 50
crit_trigger = 60"

check "backfill three years of hourly samples of 5 pools, a scope and a VPC" \
  sh -c "'$PYTHON3' '$PY' gen $END '$TMP/truth.json' | '$HIST' '$TMP/rrd' 300 >'$TMP/hist.out'"
diag "$(cat "$TMP/hist.out")"

for span in 1d 1w 1m 1y 3y; do
  "$IPAMWATCH" graph -c "$TMP/c.conf" --pool ipam-pool-fast --span "$span" --width 640 \
    --height 280 -o "$TMP/fast-$span.png" >"$TMP/out" 2>"$TMP/err"
  # The utilization area colour is drawn; without --forecast there is no trend line.
  check "PNG of $span: 640x280, drawn, no trend line" \
    "$PYTHON3" "$PY" png "$TMP/fast-$span.png" 640 280 7FB3E6 '!8E44AD'
  "$IPAMWATCH" graph -c "$TMP/c.conf" --pool ipam-pool-fast --span "$span" \
    -o "$TMP/fast-$span.svg" >"$TMP/out" 2>"$TMP/err"
  check "SVG of $span: parses, 800x300, drawn" "$PYTHON3" "$PY" svg "$TMP/fast-$span.svg" 800 300
done

check_status 0 "graph --forecast of the pool with a step" \
  "$IPAMWATCH" graph -c "$TMP/c.conf" --pool ipam-pool-step --span 1y --forecast \
  -o "$TMP/step.png"
check "the forecast graph has the trend line" \
  "$PYTHON3" "$PY" png "$TMP/step.png" 800 300 7FB3E6 8E44AD
check "--format svg wins over the file name" sh -c \
  "'$IPAMWATCH' graph -c '$TMP/c.conf' --pool ipam-pool-fast --format svg -o '$TMP/x.png' >/dev/null 2>&1 && head -c 200 '$TMP/x.png' | grep -q '<svg\|<?xml'"
check_status 0 "graph of a scope" \
  "$IPAMWATCH" graph -c "$TMP/c.conf" --scope ipam-scope-main --span 3y -o "$TMP/scope.png"
check "the scope graph is drawn" "$PYTHON3" "$PY" png "$TMP/scope.png" 800 300 7FB3E6
check_status 0 "graph of a VPC by --resource" \
  "$IPAMWATCH" graph -c "$TMP/c.conf" --resource vpc-0123 --span 1y -o "$TMP/vpc.svg"

# Thresholds: the warning line (orange) sits at 80 % by default, at 50 % with the rule:
# lower on the image (a larger row number).
"$IPAMWATCH" graph -c "$TMP/rules.conf" --pool ipam-pool-fast --span 1m -o "$TMP/rule.png" \
  >/dev/null 2>&1
check "the warning line follows the utilization rule" "$PYTHON3" -c "
import sys; sys.path.insert(0, '$top_srcdir/tests/integration'); import graph_forecast as g
def row(path):
    w, h, px = g.png_pixels(open(path, 'rb').read())
    counts = [sum(1 for x in range(w) if px[y * w + x] == (255, 153, 0)) for y in range(h)]
    return max(range(h), key=lambda y: counts[y])
d, r = row('$TMP/fast-1m.png'), row('$TMP/rule.png')
d = d * 300 / 280  # the default image is 280 high here
print('# warning line at row %d (80 %%), %d (50 %%)' % (d, r))
sys.exit(0 if r > d + 40 else 1)"

"$IPAMWATCH" graph -c "$TMP/c.conf" --pool ipam-pool-nope -o "$TMP/nope.png" >/dev/null \
  2>"$TMP/nope.err"
st=$?
if [ $st -eq 1 ]; then pass "missing pool: exit 1"; else fail "missing pool: exit $st, want 1"; fi
check "missing pool: the error names the file looked for" \
  grep -q "no history for pool 'ipam-pool-nope': $TMP/rrd/pool/ipam-pool-nope.rrd" "$TMP/nope.err"
check "missing pool: no image written" test ! -e "$TMP/nope.png"
"$IPAMWATCH" graph -c "$TMP/c.conf" --resource subnet-404 -o "$TMP/nope.png" >/dev/null \
  2>"$TMP/nope2.err"
check "missing subnet: the error names the subnet file" grep -q "subnet/subnet-404.rrd" \
  "$TMP/nope2.err"
sed "s|^dir = .*rrd\$|dir = $TMP/no-such-rrd|" "$TMP/c.conf" >"$TMP/nodir.conf"
"$IPAMWATCH" graph -c "$TMP/nodir.conf" --pool ipam-pool-fast -o "$TMP/nodir.png" >/dev/null \
  2>"$TMP/nodir.err"
st=$?
check "missing RRD directory: graph exits 1 naming it and creates nothing" sh -c \
  "[ $st -eq 1 ] && grep -q '$TMP/no-such-rrd' '$TMP/nodir.err' && [ ! -e '$TMP/no-such-rrd' ]"
check_status 2 "graph without -o is a usage error" \
  "$IPAMWATCH" graph -c "$TMP/c.conf" --pool ipam-pool-fast
check_status 2 "graph with an unknown span is a usage error" \
  "$IPAMWATCH" graph -c "$TMP/c.conf" --pool ipam-pool-fast --span 2q -o "$TMP/q.png"

for fmt in table csv json; do
  "$IPAMWATCH" forecast -c "$TMP/c.conf" --format "$fmt" >"$TMP/fc.$fmt" 2>"$TMP/fc.err"
  check "forecast $fmt: order and dates within a day of the truth" \
    "$PYTHON3" "$PY" forecast "$fmt" "$TMP/fc.$fmt" "$TMP/truth.json"
done
"$IPAMWATCH" forecast -c "$TMP/c.conf" --format json --horizon 500d >"$TMP/h.json" 2>/dev/null
check "forecast --horizon 500d: the slow pool is within the horizon" "$PYTHON3" -c "
import json, sys
p = {r['pool']: r for r in json.load(open('$TMP/h.json'))['pools']}
sys.exit(0 if p['ipam-pool-slow']['within_horizon'] and p['ipam-pool-slow']['status'] == 'date'
         else 1)"
check_status 2 "forecast with an unknown format is a usage error" \
  "$IPAMWATCH" forecast -c "$TMP/c.conf" --format xml
conf "$TMP/empty.conf" ""
sed -i "s|$TMP/rrd|$TMP/absent|" "$TMP/empty.conf"
"$IPAMWATCH" forecast -c "$TMP/empty.conf" >/dev/null 2>"$TMP/absent.err"
st=$?
check "forecast without an RRD directory: exit 1 naming it" \
  sh -c "[ $st -eq 1 ] && grep -q '$TMP/absent/pool' '$TMP/absent.err'"

# Titles name the object as the analyzer's last snapshot has it (Name tag, else description),
# with the id; without a snapshot, or for an object it does not name, the id alone. rrdtool
# draws the title as glyph paths, not text: a default title is checked by drawing the same
# graph again with the expected --title and comparing the two SVGs byte for byte.
E=$(date -u -d "@$END" +%Y-%m-%dT%H:%M:%SZ)
DAY=$(date -u -d "@$END" +%Y-%m-%d)
titled() { # titled TITLE GRAPH-ARGS...: the default title is TITLE
  tt_want=$1
  shift
  "$IPAMWATCH" graph -c "$TMP/c.conf" "$@" --end "$E" -o "$TMP/t-default.svg" >/dev/null \
    2>"$TMP/t-default.err" &&
    "$IPAMWATCH" graph -c "$TMP/c.conf" "$@" --end "$E" --title "$tt_want" \
      -o "$TMP/t-want.svg" >/dev/null 2>&1 &&
    cmp -s "$TMP/t-default.svg" "$TMP/t-want.svg"
}
check "no snapshot: the title names the pool by its id" \
  titled "Pool ipam-pool-fast - utilization, 1 year to $DAY" --pool ipam-pool-fast --span 1y
untitled() { ! titled "$@"; }
check "... and another title draws another image (the comparison sees titles)" \
  untitled "Pool ipam-pool-fast - utilization, 1 month to $DAY" --pool ipam-pool-fast --span 1y
mkdir -p "$TMP/state"
check "a snapshot of the analyzer with the scope's and pools' names" sh -c \
  "'$PYTHON3' '$PY' records | '$top_builddir/tests/tools/model_snapshot' '$TMP/state/model-3.snap' >'$TMP/snap.out' &&
   printf '%s\n' '{\"version\": 1, \"generation\": 3, \"last_sample\": 0, \"offsets\": [], \"scopes\": {}}' >'$TMP/state/checkpoint.json'"
diag "$(cat "$TMP/snap.out")"
check "the title names the pool by its Name tag, then its id" \
  titled "Pool prod-euc1 fast & <growing> (ipam-pool-fast) - utilization, 1 year to $DAY" \
  --pool ipam-pool-fast --span 1y
narrow() { # 660 pixels show 80 characters, 600 show 73, 440 show 53
  titled "prod-euc1 fast & <growing> (ipam-pool-fast) - utilization, 1 year to $DAY" \
    --pool ipam-pool-fast --span 1y --width 660 &&
    titled "prod-euc1 fast & <growing> (ipam-pool-fast), 1 year to $DAY" \
      --pool ipam-pool-fast --span 1y --width 600 &&
    titled "prod-euc1 f... (ipam-pool-fast), 1 year to $DAY" \
      --pool ipam-pool-fast --span 1y --width 440
}
check "a narrower image: the noun goes, then \"- utilization\", then the name is cut short" narrow
check "a pool without a Name tag is named by its description" \
  titled "Pool step pool, described only (ipam-pool-step) - utilization, 1 month to $DAY" \
  --pool ipam-pool-step --forecast
check "a scope is named by its Name tag" \
  titled "Scope Main private scope (ipam-scope-main) - utilization, 3 years to $DAY" \
  --scope ipam-scope-main --span 3y
check "a pool without a name in the snapshot: the id" \
  titled "Pool ipam-pool-flat - utilization, 1 week to $DAY" --pool ipam-pool-flat --span 1w
check "a pool not in the snapshot (history older than it): the id" \
  titled "Pool ipam-pool-slow - utilization, 1 week to $DAY" --pool ipam-pool-slow --span 1w
echo '{"version": 1, "generation": ' >"$TMP/state/checkpoint.json"
check "an unreadable checkpoint: the id, and the graph is drawn" \
  titled "Pool ipam-pool-fast - utilization, 1 day to $DAY" --pool ipam-pool-fast --span 1d
check "... with a warning naming the checkpoint" grep -q "state/checkpoint.json" \
  "$TMP/t-default.err"

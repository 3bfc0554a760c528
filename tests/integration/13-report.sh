# `ipamwatch report` over a known day produced through the real pipeline (broker, kcat,
# analyze): ledger, failures, overlap durations, noncompliant and unmanaged resources and
# utilization peaks match the inputs in JSON (validated against docs/report-schema.json), CSV
# and HTML (rendered by headless Chromium); a tampered journal is named on the first line, and
# --strict refuses.
. "$top_srcdir/tests/integration/lib.sh"
plan 25
CHECK="$top_srcdir/tests/integration/report_check.py"
SCHEMA="$top_srcdir/docs/report-schema.json"
S1=ipam-scope-0a000000000000001
CHROMIUM=${CHROMIUM:-chromium}

start_broker_proc --topic stream:1 --topic dlq:1
base_conf "$TMP/r.conf" report "$TMP" topics.inventory=stream topics.events=stream
cat >>"$TMP/r.conf" <<EOF
[domain "corp"]
scopes = $S1
static = 192.168.0.0/16
EOF
report() { "$IPAMWATCH" report -c "$TMP/r.conf" "$@"; }
DAY="--from 2025-01-06 --to 2025-01-07"

# --- 1-3: the known history through broker and analyzer --------------------------------------
"$PYTHON3" "$CHECK" gen "$TMP/history.in"
check "kcat produces the known history ($(wc -l <"$TMP/history.in") records)" \
  "$KCAT" -P -b "$B" -t stream -K '	' -l "$TMP/history.in"
check_status 0 "analyze --exit-when-idle 3s consumes it" \
  sh -c '"$1" analyze -c "$2" --exit-when-idle 3s >"$3/analyze.out" 2>"$3/analyze.err"' \
  _ "$IPAMWATCH" "$TMP/r.conf" "$TMP"
check "nothing was dead-lettered" grep -q " 0 dead letters" "$TMP/analyze.err"

# --- 4-8: usage -----------------------------------------------------------------------------
check_status 2 "report without --from exits 2" sh -c '"$1" report -c "$2" --to 2025-01-07 2>/dev/null' _ "$IPAMWATCH" "$TMP/r.conf"
check_status 2 "report with --to before --from exits 2" \
  sh -c '"$1" report -c "$2" --from 2025-01-07 --to 2025-01-06 2>/dev/null' _ "$IPAMWATCH" "$TMP/r.conf"
check_status 2 "report with a bad --format exits 2" \
  sh -c '"$1" report -c "$2" --from 2025-01-06 --to 2025-01-07 --format xml 2>/dev/null' _ "$IPAMWATCH" "$TMP/r.conf"

# --- JSON -----------------------------------------------------------------------------------
# shellcheck disable=SC2086
check_status 0 "JSON report of the day exits 0" report $DAY -o "$TMP/day.json" 2>"$TMP/day.err"
check "stderr has the verified record count and the head digest" \
  grep -Eq '^journal: [1-9][0-9]* records verified, head [0-9a-f]{64} \(seq [0-9]+\)$' "$TMP/day.err"
check "the digest on stderr is the journal's head" \
  sh -c 'd=$(sed -n "s/.*head \([0-9a-f]*\) .*/\1/p" "$1"); grep -q "\"head_digest\": \"$d\"" "$2" && cut -d" " -f2 "$3/journal/HEAD" | grep -qx "$d"' \
  _ "$TMP/day.err" "$TMP/day.json" "$TMP"
check "JSON validates against the schema; ledger, failures, overlaps (2 h closed, open-ended), noncompliance, peaks match the history" \
  "$PYTHON3" "$CHECK" json "$TMP/day.json" "$SCHEMA" all
# shellcheck disable=SC2086
report $DAY --scope "$S1" -o "$TMP/scope.json" 2>/dev/null
check "--scope keeps that scope's ledger and pools only" \
  "$PYTHON3" "$CHECK" json "$TMP/scope.json" "$SCHEMA" scope
report --from 2025-01-03 --to 2025-01-07 -o "$TMP/wide.json" 2>/dev/null
check "a wider period adds the allocation made before the day" \
  "$PYTHON3" "$CHECK" json "$TMP/wide.json" "$SCHEMA" wide
report --from 2025-01-06T01:30:00Z --to 2025-01-06T02:30:00Z --format json >"$TMP/hour.json" 2>/dev/null
check "an hour's report to stdout holds only that hour's allocation" \
  "$PYTHON3" -c 'import json,sys; d=json.load(open(sys.argv[1])); l=d["ledger"]; sys.exit(not (len(l)==1 and l[0]["event_id"]=="ev-bob-1"))' "$TMP/hour.json"

# --- CSV ------------------------------------------------------------------------------------
# shellcheck disable=SC2086
check_status 0 "CSV report exits 0" report $DAY -o "$TMP/day.csv" 2>/dev/null
check "CSV parses with the csv module: sections, principals, success, durations, summary" \
  "$PYTHON3" "$CHECK" csv "$TMP/day.csv"

# --- HTML -----------------------------------------------------------------------------------
# shellcheck disable=SC2086
check_status 0 "HTML report exits 0" report $DAY --format html -o "$TMP/day.html" 2>/dev/null
if command -v "$CHROMIUM" >/dev/null 2>&1; then
  check_status 0 "headless Chromium renders the page and exits 0" \
    sh -c 'timeout 60 "$1" --headless --no-sandbox --disable-gpu --no-first-run \
      --disable-background-networking --disable-component-update --disable-sync \
      --user-data-dir="$2/chr" --screenshot="$2/report.png" --window-size=1200,2000 \
      "file://$2/day.html" >"$2/chromium.out" 2>&1' _ "$CHROMIUM" "$TMP"
else
  fail "headless Chromium renders the page and exits 0 ($CHROMIUM not installed: scripts/install-deps)"
fi
check "HTML: embedded data: PNG graphs, no external resources, print rules; screenshot non-trivial" \
  "$PYTHON3" "$CHECK" html "$TMP/day.html" "$TMP/report.png"

# --- tampering ------------------------------------------------------------------------------
cp -r "$TMP/journal" "$TMP/journal.orig"
read -r SEG LINE SEQ <<EOF
$("$PYTHON3" "$CHECK" tamper "$TMP/journal")
EOF
diag "edited $SEG line $LINE (seq $SEQ)"
# shellcheck disable=SC2086
check_status 1 "--strict exits 1 on the edited journal" report $DAY --strict -o "$TMP/strict.json" 2>"$TMP/strict.err"
check "... writes no report and names the record on stderr" \
  sh -c '[ ! -e "$1" ] && grep -q "BROKEN: edited record in $2 line $3 (seq $4)" "$5"' \
  _ "$TMP/strict.json" "$SEG" "$LINE" "$SEQ" "$TMP/strict.err"
for fmt in json csv html; do
  # shellcheck disable=SC2086
  report $DAY -o "$TMP/broken.$fmt" 2>/dev/null
  check "$fmt: a broken chain is reported first, with file, line and seq" \
    "$PYTHON3" "$CHECK" first "$TMP/broken.$fmt" "$fmt" "$SEG" "$LINE" "$SEQ"
done
rm -rf "$TMP/journal"
mv "$TMP/journal.orig" "$TMP/journal"
# shellcheck disable=SC2086
check_status 0 "the restored journal passes --strict again" report $DAY --strict -o "$TMP/again.json" 2>/dev/null
check "... and yields the same report (generated-at aside)" \
  "$PYTHON3" -c 'import json,sys; a,b=(json.load(open(p)) for p in sys.argv[1:3]); [d["summary"].pop("generated_at") for d in (a,b)]; sys.exit(a!=b)' \
  "$TMP/day.json" "$TMP/again.json"

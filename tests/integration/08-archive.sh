# `ipamwatch collect --from-archive`: a CloudTrail log archive (several accounts, Regions and
# days, an organisation-trail copy, plain and gzip files, noise) into the events topic of
# the development broker. Every relevant event arrives once, in event-time order per key;
# corrupt, truncated and malformed files are named on stderr and skipped while the rest is
# published; the exit status and the summary line say so. An independent kafka-python
# consumer checks the topic.
. "$top_srcdir/tests/integration/lib.sh"
need_python kafka
plan 13
CK="$top_srcdir/tests/integration/archive_check.py"

"$PYTHON3" "$top_srcdir/tests/aws/gen_dataset.py" --out "$TMP/org" --seed 23 --events 400 \
  --accounts 3 >/dev/null
"$PYTHON3" "$CK" make "$TMP/org" "$TMP/archive" "$TMP/expected.json" ||
  { echo "Bail out! archive not built"; exit 1; }
jq_() { "$PYTHON3" -c 'import json,sys; print(eval(sys.argv[2], {}, json.load(open(sys.argv[1]))))' "$TMP/expected.json" "$1"; }
FILES=$(jq_ 'files')
WANT=$(jq_ 'len(events)')
diag "archive: $FILES files, $WANT relevant events"

start_broker_proc --topic ct:4 --topic ct2:4
printf '[kafka]\nbootstrap.servers = %s\n[topics]\nevents = ct\n' "$B" >"$TMP/c.conf"
printf '[kafka]\nbootstrap.servers = %s\n[topics]\nevents = ct2\n' "$B" >"$TMP/c2.conf"

# --- the archive with three broken files ------------------------------------------------------
"$IPAMWATCH" collect -c "$TMP/c.conf" --from-archive "$TMP/archive" --collector-id arch-1 \
  >"$TMP/run1.out" 2>"$TMP/run1.err"
check_status 1 "files were skipped: collect --from-archive exits 1" sh -c "exit $?"
check "the summary counts every file, every relevant event once, 3 files skipped" \
  grep -q "^$FILES files, $WANT events published, 3 files skipped" "$TMP/run1.out"
check "the summary counts the duplicates of the organisation-trail copy" \
  sh -c 'grep -Eq "[1-9][0-9]* duplicates" "$1"' _ "$TMP/run1.out"
i=0
for kind in corrupt truncated malformed; do
  p=$(jq_ "broken[$i]")
  i=$((i + 1))
  case $kind in
    corrupt) why="" ;; truncated) why="truncated gzip stream" ;; *) why="malformed JSON" ;;
  esac
  check "the $kind file is named on stderr with the reason, skipped" \
    sh -c 'grep -F "$1" "$2" | grep -F "$3" | grep -q "file skipped"' _ "$p" "$TMP/run1.err" "$why"
done
check "kafka-python: every relevant event once, nothing from skipped files, keys and fields right, time order per key" \
  "$PYTHON3" "$CK" verify "$B" ct "$TMP/expected.json" 60
check "records carry the collector id as source" \
  sh -c '"$KCAT" -C -b "$1" -t ct -e -q -c 5 -X fetch.wait.max.ms=5 | grep -c "\"source\":\"arch-1\"" | grep -qx 5' _ "$B"

# --- only good files: exit 0 ---------------------------------------------------------------
for p in $(jq_ '" ".join(broken)'); do rm -f "$p"; done
"$IPAMWATCH" collect -c "$TMP/c2.conf" --from-archive "$TMP/archive" >"$TMP/run2.out" 2>"$TMP/run2.err"
check_status 0 "an archive without broken files: exit 0" sh -c "exit $?"
check "summary: $((FILES - 3)) files, $WANT events published, 0 files skipped" \
  grep -q "^$((FILES - 3)) files, $WANT events published, 0 files skipped" "$TMP/run2.out"
check "kcat reads exactly $WANT records from the second topic" \
  sh -c '[ "$("$KCAT" -C -b "$1" -t ct2 -e -q -X fetch.wait.max.ms=5 | wc -l)" -eq "$2" ]' _ "$B" "$WANT"

# --- usage ---------------------------------------------------------------------------------
"$IPAMWATCH" collect -c "$TMP/c.conf" --from-archive "$TMP/nowhere" >"$TMP/run3.out" 2>"$TMP/run3.err"
st=$?
check "a missing folder: exit 1 naming it" \
  sh -c '[ "$1" -eq 1 ] && grep -q "nowhere" "$2"' _ $st "$TMP/run3.err"
check_status 2 "--from-archive with --from-files is a usage error (exit 2)" \
  sh -c '"$1" collect -c "$2" --from-archive "$3" --from-files "$3" 2>/dev/null' _ "$IPAMWATCH" "$TMP/c.conf" "$TMP/archive"

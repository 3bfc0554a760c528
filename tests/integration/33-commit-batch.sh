#!/bin/sh
# The analyzer commits a checkpoint's offsets of every partition in one request (a refused
# commit and its retry: tests/unit/test_kafka.c).
. "$top_srcdir/tests/integration/lib.sh"
plan 4

start_broker_proc --topic inv:1 --topic ev:6 --topic dlq:1

# 50 records to each partition of ev (what they hold does not matter here: applied or sent to
# the dead-letter topic, each is consumed and its offset committed)
for p in 0 1 2 3 4 5; do
  "$PYTHON3" "$top_srcdir/tests/integration/kafka_records.py" gen 50 | "$KCAT" -P -b "$B" -t ev -p $p -K '	'
done

# No checkpoint is due before the end: the final one commits what the run consumed.
base_conf "$TMP/one.conf" batch-one "$TMP/one" kafka.debug=cgrp log.level=debug
start_analyzer one "$TMP/one.conf" --exit-when-idle 1s --commit-records 100000 --commit-interval 60s
wait "$AN"
check_status 0 "the run exits 0" sh -c 'exit $1' _ $?
grep "Committing offsets for" "$TMP/one.err" | sed 's/^/# /'
check "its checkpoint committed the six partitions in one request" \
  sh -c '[ "$(grep -c "Committing offsets for" "$1")" = 1 ] && grep -q "Committing offsets for 6 partition(s)" "$1"' _ "$TMP/one.err"
check "it consumed the 300 records" grep -q "stopped: 300 messages" "$TMP/one.err"
check "the group committed all 300" all_committed "batch-one-$$" ev

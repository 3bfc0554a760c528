# tests/: unit tests (cmocka, TAP output) and integration scripts (TAP).
UNIT_CFLAGS = $(AM_CFLAGS) $(CMOCKA_CFLAGS) -I$(top_srcdir)/tests/unit
UNIT_LDADD = $(IPAMWATCH_LIBS) $(CMOCKA_LIBS)

check_PROGRAMS += tests/unit/test_units
tests_unit_test_units_SOURCES = tests/unit/test_units.c tests/unit/testing.h
tests_unit_test_units_CFLAGS = $(UNIT_CFLAGS)
tests_unit_test_units_LDADD = $(UNIT_LDADD)

TESTS += tests/unit/test_units

check_PROGRAMS += tests/unit/test_log
tests_unit_test_log_SOURCES = tests/unit/test_log.c tests/unit/testing.h
tests_unit_test_log_CFLAGS = $(UNIT_CFLAGS)
tests_unit_test_log_LDADD = $(UNIT_LDADD)
TESTS += tests/unit/test_log

TESTS += tests/integration/01-cli.sh
EXTRA_DIST += tests/integration/lib.sh tests/integration/01-cli.sh

# Kafka client layer and development broker.
check_PROGRAMS += tests/unit/test_kafka tests/tools/kafka_tool
tests_unit_test_kafka_SOURCES = tests/unit/test_kafka.c tests/unit/testing.h
tests_unit_test_kafka_CFLAGS = $(UNIT_CFLAGS)
tests_unit_test_kafka_LDADD = $(UNIT_LDADD)
tests_tools_kafka_tool_SOURCES = tests/tools/kafka_tool.c
tests_tools_kafka_tool_LDADD = $(IPAMWATCH_LIBS)
TESTS += tests/unit/test_kafka tests/integration/03-broker.sh
EXTRA_DIST += tests/integration/03-broker.sh tests/integration/kafka_records.py

# Address-space engine: prefixes, overlap index, free space.
check_PROGRAMS += tests/unit/test_prefix tests/unit/test_overlap tests/unit/test_freespace
tests_unit_test_prefix_SOURCES = tests/unit/test_prefix.c tests/unit/testing.h
tests_unit_test_prefix_CFLAGS = $(UNIT_CFLAGS)
tests_unit_test_prefix_LDADD = $(UNIT_LDADD)
tests_unit_test_overlap_SOURCES = tests/unit/test_overlap.c tests/unit/testing.h
tests_unit_test_overlap_CFLAGS = $(UNIT_CFLAGS)
tests_unit_test_overlap_LDADD = $(UNIT_LDADD)
tests_unit_test_freespace_SOURCES = tests/unit/test_freespace.c tests/unit/testing.h
tests_unit_test_freespace_CFLAGS = $(UNIT_CFLAGS)
tests_unit_test_freespace_LDADD = $(UNIT_LDADD)
TESTS += tests/unit/test_prefix tests/unit/test_overlap tests/unit/test_freespace

# Record format: unit test, golden records (also the documented examples), fuzz entry point.
check_PROGRAMS += tests/unit/test_record
tests_unit_test_record_SOURCES = tests/unit/test_record.c tests/unit/testing.h
tests_unit_test_record_CPPFLAGS = $(AM_CPPFLAGS) -DTOP_SRCDIR='"$(abs_top_srcdir)"'
tests_unit_test_record_CFLAGS = $(UNIT_CFLAGS)
tests_unit_test_record_LDADD = $(UNIT_LDADD)
TESTS += tests/unit/test_record
EXTRA_DIST += docs/records.md tests/fuzz/fuzz_record.c \
	tests/data/records/pass_begin.json \
	tests/data/records/ipam.json \
	tests/data/records/scope.json \
	tests/data/records/pool.json \
	tests/data/records/pool_cidr.json \
	tests/data/records/allocation.json \
	tests/data/records/resource_cidr.json \
	tests/data/records/discovered_account.json \
	tests/data/records/pass_end.json \
	tests/data/records/event.json \
	tests/data/records/event_failed.json \
	tests/data/records/event_release.json \
	tests/data/records/event_unparsed.json \
	tests/data/records/alert.json \
	tests/fuzz/corpus/record/pool.json \
	tests/fuzz/corpus/record/event.json \
	tests/fuzz/corpus/record/event_failed.json \
	tests/fuzz/corpus/record/event_unparsed.json \
	tests/fuzz/corpus/record/pass_end.json \
	tests/fuzz/corpus/record/alert.json

# AWS client of the collector: credentials, transport, streaming EC2 XML, IPAM operations.
check_PROGRAMS += tests/unit/test_aws_client tests/unit/test_aws_creds tests/unit/test_aws_xml \
	tests/tools/aws_tool
tests_unit_test_aws_client_SOURCES = tests/unit/test_aws_client.c tests/unit/testing.h \
	tests/unit/aws_test_server.h
tests_unit_test_aws_client_CFLAGS = $(UNIT_CFLAGS)
tests_unit_test_aws_client_LDADD = $(UNIT_LDADD)
tests_unit_test_aws_creds_SOURCES = tests/unit/test_aws_creds.c tests/unit/testing.h \
	tests/unit/aws_test_server.h
tests_unit_test_aws_creds_CFLAGS = $(UNIT_CFLAGS)
tests_unit_test_aws_creds_LDADD = $(UNIT_LDADD)
tests_unit_test_aws_xml_SOURCES = tests/unit/test_aws_xml.c tests/unit/testing.h
tests_unit_test_aws_xml_CPPFLAGS = $(AM_CPPFLAGS) -DTOP_SRCDIR='"$(abs_top_srcdir)"'
tests_unit_test_aws_xml_CFLAGS = $(UNIT_CFLAGS)
tests_unit_test_aws_xml_LDADD = $(UNIT_LDADD)
tests_tools_aws_tool_SOURCES = tests/tools/aws_tool.c
tests_tools_aws_tool_LDADD = $(IPAMWATCH_LIBS)
TESTS += tests/unit/test_aws_client tests/unit/test_aws_creds tests/unit/test_aws_xml \
	tests/integration/05-aws-client.sh
EXTRA_DIST += tests/integration/05-aws-client.sh \
	tests/data/aws-client/describe-ipam-pools.xml \
	tests/data/aws-client/get-ipam-resource-cidrs.xml \
	tests/data/aws-client/get-ipam-pool-allocations.xml \
	tests/data/aws-client/get-ipam-pool-cidrs.xml \
	tests/data/aws-client/error.xml \
	tests/data/aws-client/sts-assume-role.xml \
	tests/data/aws-client/sts-error.xml \
	tests/data/aws-client/billion-laughs.xml \
	tests/data/aws-client/external-entity.xml

# rrd_store: RRD files directly and through a real rrdcached (spawned on a temp socket).
check_PROGRAMS += tests/unit/test_rrd_store
tests_unit_test_rrd_store_SOURCES = tests/unit/test_rrd_store.c tests/unit/testing.h
tests_unit_test_rrd_store_CFLAGS = $(UNIT_CFLAGS)
tests_unit_test_rrd_store_LDADD = $(UNIT_LDADD)
TESTS += tests/unit/test_rrd_store

# Configuration: parser, key table, secrets, [kafka] validation; `ipamwatch check`.
check_PROGRAMS += tests/unit/test_config
tests_unit_test_config_SOURCES = tests/unit/test_config.c tests/unit/testing.h
tests_unit_test_config_CPPFLAGS = $(AM_CPPFLAGS) -DTOP_SRCDIR='"$(abs_top_srcdir)"'
tests_unit_test_config_CFLAGS = $(UNIT_CFLAGS)
tests_unit_test_config_LDADD = $(UNIT_LDADD)
TESTS += tests/unit/test_config tests/integration/02-check.sh
EXTRA_DIST += tests/integration/02-check.sh \
	tests/data/config/unknown-key.conf \
	tests/data/config/bad-duration.conf \
	tests/data/config/bad-kafka-property.conf \
	tests/data/config/bad-kafka-value.conf \
	tests/data/config/unknown-empty-section.conf \
	tests/fuzz/fuzz_config.c tests/fuzz/corpus/config

# Fuzzing: `make fuzz` (configure with CC=clang --enable-fuzzers) builds every
# tests/fuzz/fuzz_*.c against the instrumented library and runs each for FUZZ_SECONDS.
FUZZ_SECONDS = 20
if ENABLE_FUZZERS
AM_CFLAGS += -fsanitize=fuzzer-no-link,address,undefined
AM_LDFLAGS += -fsanitize=address,undefined
FUZZ_ENABLED = yes
else
FUZZ_ENABLED = no
endif
.PHONY: fuzz
fuzz: libipamwatch.a
	FUZZ_ENABLED=$(FUZZ_ENABLED) CC='$(CC)' top_srcdir='$(top_srcdir)' \
	FUZZ_CFLAGS='$(DEFS) $(DEFAULT_INCLUDES) -I$(top_srcdir) -I$(top_srcdir)/common $(CPPFLAGS) $(AM_CFLAGS) $(CFLAGS)' \
	FUZZ_LIBS='$(IPAMWATCH_LIBS) $(LIBS)' $(SHELL) $(top_srcdir)/tests/fuzz/run.sh $(FUZZ_SECONDS)
EXTRA_DIST += tests/fuzz/run.sh tests/fuzz/fuzz_prefix.c tests/fuzz/fuzz_overlap.c \
	tests/fuzz/corpus/prefix tests/fuzz/corpus/overlap

check_PROGRAMS += tests/unit/test_journal
tests_unit_test_journal_SOURCES = tests/unit/test_journal.c tests/unit/testing.h
tests_unit_test_journal_CFLAGS = $(UNIT_CFLAGS)
tests_unit_test_journal_LDADD = $(UNIT_LDADD)
TESTS += tests/unit/test_journal

# AWS-shaped test endpoint (EC2 IPAM, STS, CloudTrail, IMDS, container credentials), its
# dataset generator and strict model check; a small generated organisation as fixture.
TESTS += tests/aws/test_fake_aws.py tests/integration/04-fake-aws.sh
EXTRA_DIST += tests/integration/04-fake-aws.sh tests/aws/fake_aws.py tests/aws/aws_model.py \
	tests/aws/aws_auth.py tests/aws/dataset.py tests/aws/gen_dataset.py \
	tests/aws/test_fake_aws.py tests/aws/measure_fake_aws.py tests/aws/README.md tests/data/aws

# CloudTrail LookupEvents poller: checkpoint state (unit), collector against the fake
# endpoint with SIGKILLs (integration).
check_PROGRAMS += tests/unit/test_ct_state
tests_unit_test_ct_state_SOURCES = tests/unit/test_ct_state.c tests/unit/testing.h
tests_unit_test_ct_state_CFLAGS = $(UNIT_CFLAGS)
tests_unit_test_ct_state_LDADD = $(UNIT_LDADD)
TESTS += tests/unit/test_ct_state

# Inventory collector: item mapping (XML and aws CLI spellings), `collect` end to end.
check_PROGRAMS += tests/unit/test_ipam_map
tests_unit_test_ipam_map_SOURCES = tests/unit/test_ipam_map.c tests/unit/testing.h
tests_unit_test_ipam_map_CPPFLAGS = $(AM_CPPFLAGS) -DTOP_SRCDIR='"$(abs_top_srcdir)"'
tests_unit_test_ipam_map_CFLAGS = $(UNIT_CFLAGS)
tests_unit_test_ipam_map_LDADD = $(UNIT_LDADD)
TESTS += tests/unit/test_ipam_map tests/integration/07-collect.sh
EXTRA_DIST += tests/integration/07-collect.sh tests/integration/inventory_check.py \
	tests/data/ipam-map

# Analyzer daemon: dead-letter envelope (unit); `analyze` end to end against the dev broker
# (pass, dead letters, SIGKILLs, torn passes), with a journal reader tool.
check_PROGRAMS += tests/unit/test_deadletter tests/tools/journal_tool
tests_unit_test_deadletter_SOURCES = tests/unit/test_deadletter.c tests/unit/testing.h
tests_unit_test_deadletter_CFLAGS = $(UNIT_CFLAGS)
tests_unit_test_deadletter_LDADD = $(UNIT_LDADD)
tests_tools_journal_tool_SOURCES = tests/tools/journal_tool.c
tests_tools_journal_tool_LDADD = $(IPAMWATCH_LIBS)
TESTS += tests/unit/test_deadletter tests/integration/10-analyze.sh
EXTRA_DIST += tests/integration/10-analyze.sh tests/integration/analyze_check.py

# Analyzer model: passes, events, overlap by domain, figures, persistence.
check_PROGRAMS += tests/unit/test_model
tests_unit_test_model_SOURCES = tests/unit/test_model.c tests/unit/testing.h
tests_unit_test_model_CFLAGS = $(UNIT_CFLAGS)
tests_unit_test_model_CPPFLAGS = $(AM_CPPFLAGS) -DTOP_SRCDIR='"$(abs_top_srcdir)"'
tests_unit_test_model_LDADD = $(UNIT_LDADD)
TESTS += tests/unit/test_model
TESTS += tests/integration/09-cloudtrail.sh
EXTRA_DIST += tests/integration/09-cloudtrail.sh tests/integration/ct_check.py

# CloudTrail normalisation (every audited event name, XML->JSON quirks, damaged documents).
check_PROGRAMS += tests/unit/test_ct_event
tests_unit_test_ct_event_SOURCES = tests/unit/test_ct_event.c tests/unit/testing.h
tests_unit_test_ct_event_CPPFLAGS = $(AM_CPPFLAGS) -DTOP_SRCDIR='"$(abs_top_srcdir)"'
tests_unit_test_ct_event_CFLAGS = $(UNIT_CFLAGS)
tests_unit_test_ct_event_LDADD = $(UNIT_LDADD)
TESTS += tests/unit/test_ct_event
EXTRA_DIST += tests/data/cloudtrail/gen_fixtures.py tests/data/cloudtrail/events.json \
	tests/data/cloudtrail/expected.json
check_PROGRAMS += tests/unit/test_ct_archive
tests_unit_test_ct_archive_SOURCES = tests/unit/test_ct_archive.c tests/unit/testing.h
tests_unit_test_ct_archive_CFLAGS = $(UNIT_CFLAGS)
tests_unit_test_ct_archive_LDADD = $(UNIT_LDADD)
TESTS += tests/unit/test_ct_archive
TESTS += tests/integration/08-archive.sh
EXTRA_DIST += tests/integration/08-archive.sh tests/integration/archive_check.py
EXTRA_DIST += tests/fuzz/fuzz_ct_event.c tests/fuzz/corpus/ct_event

# Alert sinks: payload shapes, HMAC, RFC 5424, spools (unit); a real Alertmanager, the
# PagerDuty/Slack/webhook/syslog shapes, outages and restarts through alert_tool (integration).
check_PROGRAMS += tests/unit/test_sinks tests/tools/alert_tool
tests_unit_test_sinks_SOURCES = tests/unit/test_sinks.c tests/unit/testing.h
tests_unit_test_sinks_CFLAGS = $(UNIT_CFLAGS)
tests_unit_test_sinks_LDADD = $(UNIT_LDADD)
tests_tools_alert_tool_SOURCES = tests/tools/alert_tool.c
tests_tools_alert_tool_LDADD = $(IPAMWATCH_LIBS)
TESTS += tests/unit/test_sinks tests/integration/11-alertmanager.sh
EXTRA_DIST += tests/integration/11-alertmanager.sh tests/alerts/receiver.py

# Alert rule engine: every rule type, lifecycle, repeats, restarts, fingerprints.
check_PROGRAMS += tests/unit/test_alert_engine
tests_unit_test_alert_engine_SOURCES = tests/unit/test_alert_engine.c tests/unit/testing.h
tests_unit_test_alert_engine_CFLAGS = $(UNIT_CFLAGS)
tests_unit_test_alert_engine_LDADD = $(UNIT_LDADD)
TESTS += tests/unit/test_alert_engine

# Record writer (record_encode's JSON printer) against jansson.
check_PROGRAMS += tests/unit/test_record_write
tests_unit_test_record_write_SOURCES = tests/unit/test_record_write.c tests/unit/testing.h
tests_unit_test_record_write_CFLAGS = $(UNIT_CFLAGS)
tests_unit_test_record_write_LDADD = $(UNIT_LDADD)
TESTS += tests/unit/test_record_write

# Forecast (unit: synthetic histories); graph and forecast commands end to end over a
# synthetic three-year RRD history written through rrd_store.
check_PROGRAMS += tests/unit/test_forecast tests/tools/rrd_history
tests_unit_test_forecast_SOURCES = tests/unit/test_forecast.c tests/unit/testing.h
tests_unit_test_forecast_CFLAGS = $(UNIT_CFLAGS)
tests_unit_test_forecast_LDADD = $(UNIT_LDADD)
tests_tools_rrd_history_SOURCES = tests/tools/rrd_history.c
tests_tools_rrd_history_LDADD = $(IPAMWATCH_LIBS)
TESTS += tests/unit/test_forecast tests/integration/12-graph-forecast.sh
EXTRA_DIST += tests/integration/12-graph-forecast.sh tests/integration/graph_forecast.py

# Operations: Prometheus registry, HTTP endpoints, sd_notify (unit); metrics of both daemons
# scraped by a real Prometheus, units, man pages and `make install` (integration).
check_PROGRAMS += tests/unit/test_metrics
tests_unit_test_metrics_SOURCES = tests/unit/test_metrics.c tests/unit/testing.h
tests_unit_test_metrics_CFLAGS = $(UNIT_CFLAGS)
tests_unit_test_metrics_LDADD = $(UNIT_LDADD)
TESTS += tests/unit/test_metrics

# Compliance report: a known day through broker, kcat and analyzer; JSON (schema), CSV,
# HTML (headless Chromium), tampered journal.
check_PROGRAMS += tests/unit/test_report
tests_unit_test_report_SOURCES = tests/unit/test_report.c tests/unit/testing.h
tests_unit_test_report_CFLAGS = $(UNIT_CFLAGS)
tests_unit_test_report_LDADD = $(UNIT_LDADD)
TESTS += tests/unit/test_report tests/integration/13-report.sh
EXTRA_DIST += tests/integration/13-report.sh tests/integration/report_check.py

# Shared helpers: atomic file replace, full writes, mkdir -p, error buffers, trimming.
check_PROGRAMS += tests/unit/test_fileio
tests_unit_test_fileio_SOURCES = tests/unit/test_fileio.c tests/unit/testing.h
tests_unit_test_fileio_CFLAGS = $(UNIT_CFLAGS)
tests_unit_test_fileio_LDADD = $(UNIT_LDADD)
TESTS += tests/unit/test_fileio
TESTS += tests/integration/14-ops.sh
EXTRA_DIST += tests/integration/14-ops.sh tests/integration/ops_check.py

# Alerts through the analyzer: broker, real Alertmanager, webhook receiver, file sink; fire,
# resolve, restart without a second page, a minute-long webhook outage; documented examples.
TESTS += tests/integration/15-alerts-e2e.sh
EXTRA_DIST += tests/integration/15-alerts-e2e.sh tests/integration/alerts_e2e.py \
	tests/integration/alertmanager.sh tests/data/config/alerts-example.conf

# Record format: the single-pass decoder against jansson (golden, generated, mutated texts).
check_PROGRAMS += tests/unit/test_record_read
tests_unit_test_record_read_SOURCES = tests/unit/test_record_read.c tests/unit/testing.h
tests_unit_test_record_read_CPPFLAGS = $(AM_CPPFLAGS) -DTOP_SRCDIR='"$(abs_top_srcdir)"'
tests_unit_test_record_read_CFLAGS = $(UNIT_CFLAGS)
tests_unit_test_record_read_LDADD = $(UNIT_LDADD)
TESTS += tests/unit/test_record_read
check_PROGRAMS += tests/unit/test_alert_wiring
tests_unit_test_alert_wiring_SOURCES = tests/unit/test_alert_wiring.c tests/unit/testing.h
tests_unit_test_alert_wiring_CFLAGS = $(UNIT_CFLAGS)
tests_unit_test_alert_wiring_LDADD = $(UNIT_LDADD)
TESTS += tests/unit/test_alert_wiring

# Every fixture and seed corpus travels in the tarball as a whole folder, so a new file
# cannot be forgotten.
EXTRA_DIST += tests/data tests/fuzz/corpus
dist-hook: dist-prune-caches
dist-prune-caches:
	find $(distdir) -name __pycache__ -prune -exec rm -rf {} + ; true
.PHONY: dist-prune-caches

# Safety: disk full under the analyzer, TLS verification (AWS, Kafka), secrets and file
# modes of everything a run leaves behind, leak-checked start-run-stop cycles.
TESTS += tests/integration/22-leaks.sh
EXTRA_DIST += tests/integration/22-leaks.sh
TESTS += tests/integration/21-tls.sh
EXTRA_DIST += tests/integration/21-tls.sh
TESTS += tests/integration/20-disk-full.sh
EXTRA_DIST += tests/integration/20-disk-full.sh
TESTS += tests/integration/25-secrets-modes.sh
EXTRA_DIST += tests/integration/25-secrets-modes.sh

# Faults across processes: the brokers down for a minute under a collector pass and a
# consuming analyzer; SIGKILL storms of both daemons against an uninterrupted reference.
TESTS += tests/integration/18-kafka-outage.sh tests/integration/19-kill-storm.sh
EXTRA_DIST += tests/integration/18-kafka-outage.sh tests/integration/19-kill-storm.sh \
	tests/integration/fault_check.py

# `ipamwatch run`: collector and analyzer in one process, embedded or external broker.
TESTS += tests/integration/17-run.sh
EXTRA_DIST += tests/integration/17-run.sh

# Scale-out: two analyzers hand partitions and their state (model, alerts) to each other.
TESTS += tests/integration/23-scale-out.sh
EXTRA_DIST += tests/integration/23-scale-out.sh tests/integration/scaleout.py

# Alert sinks end to end through the analyzer (Kafka, syslog over unix and TCP, webhooks over
# HTTPS with and without the CA), on the stale rule's allocation-not-in-inventory alert.
TESTS += tests/integration/24-sinks.sh
EXTRA_DIST += tests/integration/24-sinks.sh tests/integration/sinks_check.py
check_PROGRAMS += tests/unit/test_partstate
tests_unit_test_partstate_SOURCES = tests/unit/test_partstate.c tests/unit/testing.h
tests_unit_test_partstate_CFLAGS = $(UNIT_CFLAGS)
tests_unit_test_partstate_LDADD = $(UNIT_LDADD)
TESTS += tests/unit/test_partstate

# Hostile input: XML entities, deep nesting and 50 MB streams; deep, NUL and invalid UTF-8
# JSON in records, CloudTrail archives and pages, aws CLI files; config bytes. Each case runs
# in a child process with a peak RSS bound. New libFuzzer targets and their corpora.
check_PROGRAMS += tests/unit/test_hostile_xml tests/unit/test_hostile_json \
	tests/unit/test_hostile_config
tests_unit_test_hostile_xml_SOURCES = tests/unit/test_hostile_xml.c tests/unit/testing.h \
	tests/unit/hostile.h
tests_unit_test_hostile_xml_CFLAGS = $(UNIT_CFLAGS)
tests_unit_test_hostile_xml_LDADD = $(UNIT_LDADD)
tests_unit_test_hostile_json_SOURCES = tests/unit/test_hostile_json.c tests/unit/testing.h \
	tests/unit/hostile.h
tests_unit_test_hostile_json_CFLAGS = $(UNIT_CFLAGS)
tests_unit_test_hostile_json_LDADD = $(UNIT_LDADD)
tests_unit_test_hostile_config_SOURCES = tests/unit/test_hostile_config.c tests/unit/testing.h \
	tests/unit/hostile.h
tests_unit_test_hostile_config_CFLAGS = $(UNIT_CFLAGS)
tests_unit_test_hostile_config_LDADD = $(UNIT_LDADD)
TESTS += tests/unit/test_hostile_xml tests/unit/test_hostile_json tests/unit/test_hostile_config
EXTRA_DIST += tests/fuzz/README.md tests/fuzz/fuzz_common.h tests/fuzz/fuzz_ec2_xml.c \
	tests/fuzz/fuzz_ct_archive.c tests/fuzz/fuzz_cli_files.c tests/fuzz/fuzz_ct_lookup.c

# The demo against the ground truth of its generated dataset (and the generator itself).
TESTS += tests/integration/16-demo.sh
EXTRA_DIST += tests/integration/16-demo.sh tests/integration/demo_check.py

# Disk full under a sink's spool: notifications held in memory, no commit, resumed (root).
TESTS += tests/integration/26-spool-full.sh
EXTRA_DIST += tests/integration/26-spool-full.sh

# Event-time merge of the analyzer over partitions.
check_PROGRAMS += tests/unit/test_ordered
tests_unit_test_ordered_SOURCES = tests/unit/test_ordered.c tests/unit/testing.h
tests_unit_test_ordered_CFLAGS = $(UNIT_CFLAGS)
tests_unit_test_ordered_LDADD = $(UNIT_LDADD)
TESTS += tests/unit/test_ordered

# RRD files on a shared host: analyzer, graph, forecast and report through rrdcached over TCP.
TESTS += tests/integration/27-rrdcached-tcp.sh
EXTRA_DIST += tests/integration/27-rrdcached-tcp.sh

# Bounded replay and duplicate detection: the model's event-id window, the journal's key index.
check_PROGRAMS += tests/unit/test_eventwin tests/unit/test_journal_keys
tests_unit_test_eventwin_SOURCES = tests/unit/test_eventwin.c tests/unit/testing.h
tests_unit_test_eventwin_CFLAGS = $(UNIT_CFLAGS)
tests_unit_test_eventwin_LDADD = $(UNIT_LDADD)
tests_unit_test_journal_keys_SOURCES = tests/unit/test_journal_keys.c tests/unit/testing.h
tests_unit_test_journal_keys_CFLAGS = $(UNIT_CFLAGS)
tests_unit_test_journal_keys_LDADD = $(UNIT_LDADD)
TESTS += tests/unit/test_eventwin tests/unit/test_journal_keys

# The journal's streamed write path: chunks written as appended, crash mid-stream, failed writes.
check_PROGRAMS += tests/unit/test_journal_stream
tests_unit_test_journal_stream_SOURCES = tests/unit/test_journal_stream.c tests/unit/testing.h
tests_unit_test_journal_stream_CFLAGS = $(UNIT_CFLAGS)
tests_unit_test_journal_stream_LDADD = $(UNIT_LDADD)
TESTS += tests/unit/test_journal_stream

# A long-running collector through AWS faults: throttling, 5xx, stalls, broken answers,
# expired and revoked credentials, clock skew; recovery in the same process.
TESTS += tests/integration/28-aws-faults.sh
EXTRA_DIST += tests/integration/28-aws-faults.sh tests/integration/awsfaults_check.py

# Helpers the integration scripts share besides lib.sh (checkers; the base configuration).
EXTRA_DIST += tests/integration/checklib.py tests/integration/base_conf.sh

# Alert sinks slow and answering errors while alerts fire and resolve: retried, nothing lost.
TESTS += tests/integration/29-sink-faults.sh
EXTRA_DIST += tests/integration/29-sink-faults.sh

# Fixtures the unit tests share (headers only).
EXTRA_DIST += tests/unit/fixtures.h tests/unit/golden.h tests/unit/journal_fixture.h

# Graph titles name the object from an analyzer snapshot: a snapshot written from records.
check_PROGRAMS += tests/tools/model_snapshot
tests_tools_model_snapshot_SOURCES = tests/tools/model_snapshot.c
tests_tools_model_snapshot_LDADD = $(IPAMWATCH_LIBS)

# The journal's line writer against jansson's output, byte for byte, on random effects.
check_PROGRAMS += tests/unit/test_journal_format
tests_unit_test_journal_format_SOURCES = tests/unit/test_journal_format.c tests/unit/testing.h
tests_unit_test_journal_format_CFLAGS = $(UNIT_CFLAGS)
tests_unit_test_journal_format_LDADD = $(UNIT_LDADD)
TESTS += tests/unit/test_journal_format

# Alerts and notifications per rule, pools' time to exhaustion and pool labels on /metrics.
check_PROGRAMS += tests/unit/test_alert_metrics
tests_unit_test_alert_metrics_SOURCES = tests/unit/test_alert_metrics.c tests/unit/testing.h
tests_unit_test_alert_metrics_CFLAGS = $(UNIT_CFLAGS)
tests_unit_test_alert_metrics_LDADD = $(UNIT_LDADD)
TESTS += tests/unit/test_alert_metrics

# Alerts fired by the wall clock across a SIGKILL.
TESTS += tests/integration/30-wallclock-alerts.sh
EXTRA_DIST += tests/integration/30-wallclock-alerts.sh

# Object names in the model: the name look-up, names across save/load and earlier formats.
check_PROGRAMS += tests/unit/test_model_names
tests_unit_test_model_names_SOURCES = tests/unit/test_model_names.c tests/unit/testing.h
tests_unit_test_model_names_CFLAGS = $(UNIT_CFLAGS)
tests_unit_test_model_names_CPPFLAGS = $(AM_CPPFLAGS) -DTOP_SRCDIR='"$(abs_top_srcdir)"'
tests_unit_test_model_names_LDADD = $(UNIT_LDADD)
TESTS += tests/unit/test_model_names

# When `analyze --exit-when-idle` may end; and a run that must not end while a checkpoint
# fails and records wait on the broker.
check_PROGRAMS += tests/unit/test_analyzer_idle
tests_unit_test_analyzer_idle_SOURCES = tests/unit/test_analyzer_idle.c tests/unit/testing.h
tests_unit_test_analyzer_idle_CFLAGS = $(UNIT_CFLAGS)
tests_unit_test_analyzer_idle_LDADD = $(UNIT_LDADD)
TESTS += tests/unit/test_analyzer_idle

# Paged EC2 listings: the nextToken sniffed from raw answers, the fetch/parse pipeline.
check_PROGRAMS += tests/unit/test_ec2_pipeline
tests_unit_test_ec2_pipeline_SOURCES = tests/unit/test_ec2_pipeline.c tests/unit/testing.h \
	tests/unit/aws_test_server.h
tests_unit_test_ec2_pipeline_CPPFLAGS = $(AM_CPPFLAGS) -DTOP_SRCDIR='"$(abs_top_srcdir)"'
tests_unit_test_ec2_pipeline_CFLAGS = $(UNIT_CFLAGS)
tests_unit_test_ec2_pipeline_LDADD = $(UNIT_LDADD)
TESTS += tests/unit/test_ec2_pipeline
TESTS += tests/integration/31-idle-exit.sh
EXTRA_DIST += tests/integration/31-idle-exit.sh

# Polled messages decoded on a worker thread beside the analyzer's loop.
check_PROGRAMS += tests/unit/test_decoder
tests_unit_test_decoder_SOURCES = tests/unit/test_decoder.c tests/unit/testing.h
tests_unit_test_decoder_CPPFLAGS = $(AM_CPPFLAGS) -DTOP_SRCDIR='"$(abs_top_srcdir)"'
tests_unit_test_decoder_CFLAGS = $(UNIT_CFLAGS)
tests_unit_test_decoder_LDADD = $(UNIT_LDADD)
TESTS += tests/unit/test_decoder
TESTS += tests/integration/32-rebalance-decode.sh
EXTRA_DIST += tests/integration/32-rebalance-decode.sh

# One commit request a checkpoint; a failed commit stays pending and is retried.
TESTS += tests/integration/33-commit-batch.sh
EXTRA_DIST += tests/integration/33-commit-batch.sh

# bench/: benchmarks, built only by `make bench` (never installed). Use an optimised build
# without sanitizers: `CFLAGS=-O2 /work/main/configure && make bench`. Further benchmarks add
# themselves with `EXTRA_PROGRAMS += ...` and `bench: bench-NAME`.
EXTRA_PROGRAMS = bench/gen_cidrs bench/bench_overlap
bench_gen_cidrs_SOURCES = bench/gen_cidrs.c
bench_bench_overlap_SOURCES = bench/bench_overlap.c
bench_bench_overlap_LDADD = $(IPAMWATCH_LIBS)
EXTRA_DIST += bench/overlap_baseline.py bench/run-overlap.sh bench/RESULTS.md
CLEANFILES += bench/gen_cidrs$(EXEEXT) bench/bench_overlap$(EXEEXT) bench/cidrs-*.txt

.PHONY: bench bench-overlap
bench: bench-overlap
# Overlap scan, incremental latency, free space, memory; Python ipaddress baseline alongside.
bench-overlap: bench/gen_cidrs$(EXEEXT) bench/bench_overlap$(EXEEXT)
	@test -z "$(SANITIZER_CFLAGS)" || \
	  echo "warning: built with sanitizers; configure without --enable-sanitizers for real figures"
	$(SHELL) $(top_srcdir)/bench/run-overlap.sh bench/gen_cidrs$(EXEEXT) \
	  bench/bench_overlap$(EXEEXT) '$(PYTHON3)' $(top_srcdir)/bench/overlap_baseline.py

# RRD: one step for 10,000 files directly and through a private rrdcached (bench/rrd_bench.sh).
EXTRA_PROGRAMS += bench/rrd_bench
bench_rrd_bench_SOURCES = bench/rrd_bench.c
bench_rrd_bench_LDADD = $(IPAMWATCH_LIBS)
EXTRA_DIST += bench/rrd_bench.sh
CLEANFILES += bench/rrd_bench$(EXEEXT)
.PHONY: bench-rrd
bench: bench-rrd
bench-rrd: bench/rrd_bench$(EXEEXT)
	@test -z "$(SANITIZER_CFLAGS)" || \
	  echo "warning: built with sanitizers; configure without --enable-sanitizers for real figures"
	$(SHELL) $(top_srcdir)/bench/rrd_bench.sh bench/rrd_bench$(EXEEXT)

# Collector: `collect --once` of 1M resource CIDRs from the AWS-shaped endpoint into the dev
# broker vs kcat producing the same records pre-rendered (bench/collector_bench.sh).
EXTRA_PROGRAMS += bench/render_records
bench_render_records_SOURCES = bench/render_records.c
bench_render_records_LDADD = $(IPAMWATCH_LIBS)
EXTRA_DIST += bench/collector_bench.sh bench/lib.sh
CLEANFILES += bench/render_records$(EXEEXT)
.PHONY: bench-collector
bench: bench-collector
bench-collector: ipamwatch$(EXEEXT) bench/render_records$(EXEEXT)
	@test -z "$(SANITIZER_CFLAGS)" || \
	  echo "warning: built with sanitizers; configure without --enable-sanitizers for real figures"
	PYTHON3='$(PYTHON3)' $(SHELL) $(top_srcdir)/bench/collector_bench.sh $(top_srcdir) \
	  ./ipamwatch$(EXEEXT) bench/render_records$(EXEEXT) $(BENCH_COLLECTOR_ITEMS)
BENCH_COLLECTOR_ITEMS = 1000000

# Model: apply rate and peak RSS per tracked CIDR of 1M resource CIDRs in one pass
# (bench/model_bench.c); analyzer: `analyze` against kcat's raw consume of the same topic
# (bench/analyzer_bench.sh). Both use the collector benchmark's cached 1M dataset.
EXTRA_PROGRAMS += bench/model_bench
bench_model_bench_SOURCES = bench/model_bench.c
bench_model_bench_LDADD = $(IPAMWATCH_LIBS)
EXTRA_DIST += bench/analyzer_bench.sh
EXTRA_DIST += bench/analyzer_rig.sh
CLEANFILES += bench/model_bench$(EXEEXT)
.PHONY: bench-model bench-analyzer
bench: bench-model bench-analyzer
bench-model: bench/render_records$(EXEEXT) bench/model_bench$(EXEEXT)
	@test -z "$(SANITIZER_CFLAGS)" || \
	  echo "warning: built with sanitizers; configure without --enable-sanitizers for real figures"
	PYTHON3='$(PYTHON3)' $(SHELL) $(top_srcdir)/bench/analyzer_bench.sh model $(top_srcdir) \
	  ./ipamwatch$(EXEEXT) bench/render_records$(EXEEXT) bench/model_bench$(EXEEXT) \
	  $(BENCH_ANALYZER_ITEMS)
bench-analyzer: ipamwatch$(EXEEXT) bench/render_records$(EXEEXT) bench/model_bench$(EXEEXT)
	@test -z "$(SANITIZER_CFLAGS)" || \
	  echo "warning: built with sanitizers; configure without --enable-sanitizers for real figures"
	PYTHON3='$(PYTHON3)' $(SHELL) $(top_srcdir)/bench/analyzer_bench.sh analyzer $(top_srcdir) \
	  ./ipamwatch$(EXEEXT) bench/render_records$(EXEEXT) bench/model_bench$(EXEEXT) \
	  $(BENCH_ANALYZER_ITEMS)
BENCH_ANALYZER_ITEMS = 1000000

# Soak: broker, collector (100k resource CIDRs from the AWS-shaped endpoint every 30 s) and
# analyzer as separate processes (SOAK_MODE=run: one `ipamwatch run`) for SOAK_SECONDS
# (default 600) with 5,000 events/s produced by bench/soak_events; RSS, lag and alert
# latency (bench/soak.sh). Not part of `make bench`: it takes ten minutes.
EXTRA_PROGRAMS += bench/soak_events
bench_soak_events_SOURCES = bench/soak_events.c
bench_soak_events_LDADD = $(IPAMWATCH_LIBS)
EXTRA_DIST += bench/soak.sh bench/soak_sink.py bench/soak_report.py bench/soak_dataset.py
CLEANFILES += bench/soak_events$(EXEEXT)
.PHONY: bench-soak
bench-soak: ipamwatch$(EXEEXT) bench/soak_events$(EXEEXT)
	@test -z "$(SANITIZER_CFLAGS)" || \
	  echo "warning: built with sanitizers; configure without --enable-sanitizers for real figures"
	PYTHON3='$(PYTHON3)' $(SHELL) $(top_srcdir)/bench/soak.sh $(top_srcdir) ./ipamwatch$(EXEEXT) \
	  bench/soak_events$(EXEEXT)

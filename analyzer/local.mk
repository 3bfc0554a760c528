# analyzer: sources are added here as modules land.
libipamwatch_a_SOURCES += analyzer/overlap.c analyzer/overlap.h analyzer/freespace.c analyzer/freespace.h
libipamwatch_a_SOURCES += analyzer/rrd_store.c analyzer/rrd_store.h
libipamwatch_a_SOURCES += analyzer/journal.c analyzer/journal.h
EXTRA_DIST += docs/journal.md
EXTRA_DIST += docs/rrd.md
libipamwatch_a_SOURCES += analyzer/analyzer.c analyzer/analyzer.h analyzer/deadletter.c analyzer/deadletter.h
libipamwatch_a_SOURCES += analyzer/analyzer_idle.c analyzer/analyzer_idle.h
libipamwatch_a_SOURCES += analyzer/model.c analyzer/model.h
libipamwatch_a_SOURCES += analyzer/forecast.c analyzer/forecast.h
EXTRA_DIST += docs/forecast.md docs/graph-example.png
libipamwatch_a_SOURCES += analyzer/report.c analyzer/report_write.c analyzer/report.h
EXTRA_DIST += docs/report.md docs/report-schema.json
libipamwatch_a_SOURCES += analyzer/analyzer_metrics.c analyzer/analyzer_metrics.h
libipamwatch_a_SOURCES += analyzer/analyzer_alerts.c analyzer/analyzer_alerts.h
libipamwatch_a_SOURCES += analyzer/partstate.c analyzer/partstate.h
libipamwatch_a_SOURCES += analyzer/ordered.c analyzer/ordered.h
libipamwatch_a_SOURCES += analyzer/eventwin.c analyzer/eventwin.h

# alerts: sources are added here as modules land.
libipamwatch_a_SOURCES += alerts/sinks.c alerts/sinks.h alerts/sink_deliver.c alerts/sink_deliver.h \
	alerts/sink_payload.c alerts/sink_payload.h
libipamwatch_a_SOURCES += alerts/engine.c alerts/engine.h

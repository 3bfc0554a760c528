# common/: code every component shares (logging, allocation, units, record format, Kafka).
libipamwatch_a_SOURCES += \
	common/log.c common/log.h \
	common/xalloc.c common/xalloc.h \
	common/units.c common/units.h \
	common/kv.h common/hash.h
libipamwatch_a_SOURCES += common/record.c common/record.h
libipamwatch_a_SOURCES += common/record_write.c common/record_write.h
libipamwatch_a_SOURCES += common/record_read.c common/record_fields.h
libipamwatch_a_SOURCES += common/prefix.c common/prefix.h
libipamwatch_a_SOURCES += common/kafka.c common/kafka.h common/devbroker.c common/devbroker.h
libipamwatch_a_SOURCES += common/metrics.c common/metrics.h common/sdnotify.c common/sdnotify.h
libipamwatch_a_SOURCES += common/fileio.c common/fileio.h common/text.c common/text.h

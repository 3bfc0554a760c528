# common/: code every component shares (logging, allocation, units, record format, Kafka).
libipamwatch_a_SOURCES += \
	common/log.c common/log.h \
	common/xalloc.c common/xalloc.h \
	common/units.c common/units.h \
	common/kv.h

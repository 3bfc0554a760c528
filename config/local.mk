# config/: the configuration parser and the example configurations.
libipamwatch_a_SOURCES += \
	config/config.c config/config.h \
	config/config_keys.c config/config_keys.h \
	config/config_kafka.c \
	config/config_dump.c
dist_noinst_DATA += config/ipamwatch.conf.example
# `ipamwatch demo` reads its configuration from pkgdatadir, next to its dataset generator
# (the copy in $(sysconfdir)/ipamwatch is an example to edit).
dist_pkgdata_DATA += config/demo.conf

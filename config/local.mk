# config/: the configuration parser and the example configurations.
libipamwatch_a_SOURCES += \
	config/config.c config/config.h \
	config/config_keys.c config/config_keys.h \
	config/config_kafka.c \
	config/config_dump.c
dist_noinst_DATA += config/ipamwatch.conf.example config/demo.conf

# tests/: unit tests (cmocka, TAP output) and integration scripts (TAP).
UNIT_CFLAGS = $(AM_CFLAGS) $(CMOCKA_CFLAGS) -I$(top_srcdir)/tests/unit
UNIT_LDADD = $(IPAMWATCH_LIBS) $(CMOCKA_LIBS)

check_PROGRAMS += tests/unit/test_units
tests_unit_test_units_SOURCES = tests/unit/test_units.c tests/unit/testing.h
tests_unit_test_units_CFLAGS = $(UNIT_CFLAGS)
tests_unit_test_units_LDADD = $(UNIT_LDADD)

TESTS += tests/unit/test_units

TESTS += tests/integration/01-cli.sh
EXTRA_DIST += tests/integration/lib.sh tests/integration/01-cli.sh

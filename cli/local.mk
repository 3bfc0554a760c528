# cli/: the `ipamwatch` front end.
bin_PROGRAMS += ipamwatch
ipamwatch_SOURCES = cli/main.c cli/commands.h cli/cli_common.c cli/cli_common.h
ipamwatch_SOURCES += cli/cmd_broker.c
ipamwatch_SOURCES += cli/cmd_check.c
ipamwatch_SOURCES += cli/cmd_collect.c
ipamwatch_SOURCES += cli/cmd_analyze.c
ipamwatch_LDADD = $(IPAMWATCH_LIBS)
ipamwatch_SOURCES += cli/cmd_graph.c cli/cmd_forecast.c
ipamwatch_SOURCES += cli/cmd_report.c
ipamwatch_SOURCES += cli/cmd_run.c
ipamwatch_SOURCES += cli/cmd_demo.c
# `demo` finds its data in $IPAMWATCH_DATADIR, this source tree (the binary of this build
# tree only) or the installed pkgdatadir.
ipamwatch_CPPFLAGS = $(AM_CPPFLAGS) -DIPAMWATCH_PKGDATADIR='"$(pkgdatadir)"' \
	-DIPAMWATCH_SRCDIR='"$(abs_top_srcdir)"' -DIPAMWATCH_BUILDDIR='"$(abs_top_builddir)"'

# cli/: the `ipamwatch` front end.
bin_PROGRAMS += ipamwatch
ipamwatch_SOURCES = cli/main.c cli/commands.h
ipamwatch_LDADD = $(IPAMWATCH_LIBS)

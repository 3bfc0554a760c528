# systemd/: what `make install` adds beyond the binary: the service units (ExecStart and the
# configuration path filled in from bindir/sysconfdir), the man pages and the example
# configurations (in $(sysconfdir)/ipamwatch/).
UNIT_FILES = systemd/ipamwatch-collector.service systemd/ipamwatch-analyzer.service
if HAVE_SYSTEMDSYSTEMUNITDIR
systemdsystemunit_DATA = $(UNIT_FILES)
endif
# distcheck installs below its own prefix: units must go there too, not into /lib.
AM_DISTCHECK_CONFIGURE_FLAGS += \
	--with-systemdsystemunitdir=$${dc_install_base}/$(systemdsystemunitdir)
CLEANFILES += $(UNIT_FILES)
EXTRA_DIST += systemd/ipamwatch-collector.service.in systemd/ipamwatch-analyzer.service.in

UNIT_SUBST = sed -e 's|@bindir[@]|$(bindir)|g' -e 's|@sysconfdir[@]|$(sysconfdir)|g' \
	-e 's|@localstatedir[@]|$(localstatedir)|g'
systemd/ipamwatch-collector.service: $(top_srcdir)/systemd/ipamwatch-collector.service.in Makefile
	$(AM_V_GEN)$(MKDIR_P) systemd && $(UNIT_SUBST) $(top_srcdir)/systemd/ipamwatch-collector.service.in >$@.tmp && mv $@.tmp $@
systemd/ipamwatch-analyzer.service: $(top_srcdir)/systemd/ipamwatch-analyzer.service.in Makefile
	$(AM_V_GEN)$(MKDIR_P) systemd && $(UNIT_SUBST) $(top_srcdir)/systemd/ipamwatch-analyzer.service.in >$@.tmp && mv $@.tmp $@

dist_man_MANS = man/ipamwatch.1 man/ipamwatch.conf.5

examplesdir = $(sysconfdir)/ipamwatch
examples_DATA = config/ipamwatch.conf.example config/demo.conf

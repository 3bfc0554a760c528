# collector: sources are added here as modules land.
libipamwatch_a_SOURCES += \
	collector/aws_client.c collector/aws_client.h \
	collector/aws_creds.c collector/aws_creds.h \
	collector/ec2_xml.c collector/ec2_xml.h \
	collector/ec2_ipam.c collector/ec2_ipam.h \
	collector/ipam_map.c collector/ipam_map.h \
	collector/publisher.c collector/publisher.h \
	collector/inventory.c collector/inventory.h \
	collector/cli_files.c collector/cli_files.h \
	collector/collector.c collector/collector.h
# CloudTrail LookupEvents poller and its exactly-once checkpoints.
libipamwatch_a_SOURCES += collector/ct_state.c collector/ct_state.h \
	collector/ct_lookup.c collector/ct_lookup.h
# CloudTrail event normalisation and the `collect --from-archive` source.
libipamwatch_a_SOURCES += collector/ct_event.c collector/ct_event.h \
	collector/ct_archive.c collector/ct_archive.h
libipamwatch_a_SOURCES += collector/collector_metrics.c collector/collector_metrics.h

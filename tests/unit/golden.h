/* golden: the golden record files, tests/data/records/NAME.json (also the documented
 * examples), that the record, record reader and model unit tests read. */
#ifndef IPAMWATCH_GOLDEN_H
#define IPAMWATCH_GOLDEN_H

#include "testing.h"

/* Every golden record, one per record type and variant. */
static const char *const golden_names[] __attribute__((unused)) = {
    "pass_begin",     "ipam",       "scope",         "pool",
    "pool_cidr",      "allocation", "resource_cidr", "discovered_account",
    "pass_end",       "event",      "event_failed",  "event_release",
    "event_unparsed", "alert",
};
#define NGOLDEN (sizeof golden_names / sizeof golden_names[0])

/* The golden encoding of record file `name`, trailing newline removed; fails the test when it
 * cannot be read. Owned by the caller (free); its length in *len. */
static inline char *golden(const char *name, size_t *len)
{
    char rel[256];
    snprintf(rel, sizeof rel, "tests/data/records/%s.json", name);
    char *buf = testing_read_src(rel, len);
    while (*len > 0 && buf[*len - 1] == '\n')
        buf[--*len] = '\0';
    return buf;
}

#endif

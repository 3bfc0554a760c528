/* units: the one parser for durations and sizes, shared by config and command line. */
#include "units.h"

#include <ctype.h>
#include <errno.h>
#include <stdio.h>
#include <string.h>
#include <strings.h>

static int parse_uint(const char **p, uint64_t *v)
{
    const char *s = *p;
    if (!isdigit((unsigned char)*s))
        return -EINVAL;
    uint64_t acc = 0;
    while (isdigit((unsigned char)*s)) {
        unsigned d = (unsigned)(*s - '0');
        if (acc > (UINT64_MAX - d) / 10)
            return -ERANGE;
        acc = acc * 10 + d;
        s++;
    }
    *p = s;
    *v = acc;
    return 0;
}

int units_parse_duration_ms(const char *s, int64_t *ms)
{
    static const struct {
        const char *unit;
        uint64_t factor;
    } units[] = {{"ms", 1},         {"s", 1000},        {"m", 60000},
                 {"h", 3600000},    {"d", 86400000ULL}, {"w", 604800000ULL}};
    if (!s || !*s)
        return -EINVAL;
    const char *p = s;
    uint64_t total = 0;
    while (*p) {
        uint64_t v;
        int rc = parse_uint(&p, &v);
        if (rc < 0)
            return rc;
        uint64_t factor = 0;
        if (*p == '\0') {
            if (p != s && total == 0 && strspn(s, "0123456789") == strlen(s))
                factor = 1000; /* bare number: seconds */
            else
                return -EINVAL;
        } else {
            for (size_t i = 0; i < sizeof units / sizeof units[0]; i++) {
                size_t ul = strlen(units[i].unit);
                if (strncmp(p, units[i].unit, ul) == 0 && !isalpha((unsigned char)p[ul])) {
                    factor = units[i].factor;
                    p += ul;
                    break;
                }
            }
            if (!factor)
                return -EINVAL;
        }
        if (v > (UINT64_MAX / factor) || total + v * factor < total)
            return -ERANGE;
        total += v * factor;
        if (total > (uint64_t)INT64_MAX)
            return -ERANGE;
    }
    *ms = (int64_t)total;
    return 0;
}

int units_parse_size(const char *s, uint64_t *bytes)
{
    static const struct {
        const char *unit;
        uint64_t factor;
    } units[] = {{"", 1},
                 {"B", 1},
                 {"K", 1024ULL},
                 {"KiB", 1024ULL},
                 {"KB", 1000ULL},
                 {"M", 1048576ULL},
                 {"MiB", 1048576ULL},
                 {"MB", 1000000ULL},
                 {"G", 1073741824ULL},
                 {"GiB", 1073741824ULL},
                 {"GB", 1000000000ULL},
                 {"T", 1099511627776ULL},
                 {"TiB", 1099511627776ULL},
                 {"TB", 1000000000000ULL}};
    if (!s)
        return -EINVAL;
    const char *p = s;
    uint64_t v;
    int rc = parse_uint(&p, &v);
    if (rc < 0)
        return rc;
    for (size_t i = 0; i < sizeof units / sizeof units[0]; i++) {
        if (strcasecmp(p, units[i].unit) == 0 &&
            (strcmp(p, units[i].unit) == 0 || strlen(p) > 1)) {
            if (units[i].factor && v > UINT64_MAX / units[i].factor)
                return -ERANGE;
            *bytes = v * units[i].factor;
            return 0;
        }
    }
    return -EINVAL;
}

void units_format_duration(int64_t ms, char *buf, unsigned len)
{
    static const struct {
        const char *unit;
        int64_t factor;
    } units[] = {{"w", 604800000LL}, {"d", 86400000LL}, {"h", 3600000LL},
                 {"m", 60000LL},     {"s", 1000LL}};
    for (size_t i = 0; i < sizeof units / sizeof units[0]; i++) {
        if (ms != 0 && ms % units[i].factor == 0) {
            snprintf(buf, len, "%lld%s", (long long)(ms / units[i].factor), units[i].unit);
            return;
        }
    }
    snprintf(buf, len, "%lldms", (long long)ms);
}

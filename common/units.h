/* units: the one parser for durations ("30s", "5m", "2h", "90d") and sizes ("64KiB", "5MB"). */
#ifndef IPAMWATCH_UNITS_H
#define IPAMWATCH_UNITS_H

#include <stdint.h>

/* Parses a duration: a non-negative integer followed by ms, s, m, h, d or w (a bare number is
 * seconds); compound forms like "1h30m" are accepted. Stores milliseconds in *ms.
 * Returns 0, -EINVAL on bad text, -ERANGE on overflow. Any thread. */
int units_parse_duration_ms(const char *s, int64_t *ms);

/* Parses a size: an integer with an optional unit B, K/KB/KiB, M/MB/MiB, G/GB/GiB, T/TB/TiB
 * (KB = 1000, KiB = K = 1024). Stores bytes in *bytes. Returns 0, -EINVAL or -ERANGE. */
int units_parse_size(const char *s, uint64_t *bytes);

/* Formats a duration in ms in the shortest exact unit ("90d", "1500ms") into buf. */
void units_format_duration(int64_t ms, char *buf, unsigned len);

#endif

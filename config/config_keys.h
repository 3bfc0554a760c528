/* config_keys: the table of every configuration key (internal to config/).
 *
 * DESIGN: one row per key, in the style of redis' config.c: section, name, type, bounds,
 * default (as text, parsed by the same code as the file, so a default can never be a value
 * the parser would refuse), offset of the field in the section's struct, flags, and for
 * [rule]/[sink] the types the key belongs to. The loader and config_dump() follow the
 * table in its order; README.md's configuration reference lists the keys in the same order.
 */
#ifndef IPAMWATCH_CONFIG_KEYS_H
#define IPAMWATCH_CONFIG_KEYS_H

#include <stdbool.h>
#include <stddef.h>
#include <stdio.h>

enum cfg_section {
    CFG_SEC_AWS,
    CFG_SEC_COLLECTOR,
    CFG_SEC_KAFKA,
    CFG_SEC_TOPICS,
    CFG_SEC_ANALYZER,
    CFG_SEC_RRD,
    CFG_SEC_JOURNAL,
    CFG_SEC_METRICS,
    CFG_SEC_LOG,
    CFG_SEC_DOMAIN,
    CFG_SEC_RULE,
    CFG_SEC_SINK,
    CFG_SEC_COUNT
};

enum cfg_type {
    CFG_T_STRING,
    CFG_T_SECRET, /* string; ${VAR}, @/path or literal; printed as <redacted> */
    CFG_T_BOOL,
    CFG_T_INT,      /* int */
    CFG_T_NUMBER,   /* double */
    CFG_T_DURATION, /* int64_t milliseconds */
    CFG_T_SIZE,     /* uint64_t bytes */
    CFG_T_ENUM,     /* int-sized enum; names[] indexed by value */
    CFG_T_LIST,     /* struct config_list */
};

#define CFG_F_REQUIRED 0x1u /* must be given (for [rule]/[sink]: when the type matches) */
#define CFG_F_SECONDS  0x2u /* duration in whole seconds */

struct cfg_key {
    enum cfg_section section;
    const char *name;
    enum cfg_type type;
    size_t offset;            /* into struct config, or config_domain/_rule/_sink */
    const char *def;          /* default as text; NULL = not set */
    double lo, hi;            /* bounds of int, number, duration (ms) and size (bytes) */
    const char *const *names; /* enum: NULL-terminated value names */
    unsigned flags;
    unsigned types; /* [rule]/[sink]: bitmask of 1u << type; 0 = every type */
    /* Extra check of a string or of each list item; returns false with the reason in why. */
    bool (*check)(const char *text, char *why, size_t whylen);
};

extern const struct cfg_key cfg_keys[];
extern const size_t cfg_n_keys;
/* Section names indexed by enum cfg_section ("aws", ..., "domain", "rule", "sink"). */
extern const char *const cfg_section_names[CFG_SEC_COUNT];
extern const char *const cfg_rule_type_names[];
extern const char *const cfg_sink_type_names[];

/* Returns the key `name` of `section` that belongs to `type` (a rule or sink type; -1 for
 * other sections), else any key of that name (the caller then reports that it belongs to
 * another type; see cfg_key_applies()), or NULL when the section has no such key. */
const struct cfg_key *cfg_key_find(enum cfg_section section, const char *name, int type);

/* True when key k belongs to a [rule]/[sink] of type `type` (always true elsewhere). */
bool cfg_key_applies(const struct cfg_key *k, int type);

/* Parses `text` into the field of `base` (the struct the section maps to), replacing and
 * freeing any previous value. Secrets are resolved: ${VAR} from the environment, @path from
 * a file; *literal is set true for a literal secret. Returns 0, or -EINVAL with what is
 * wrong in why (without file, line or key). */
int cfg_key_set(const struct cfg_key *k, void *base, const char *text, bool *literal, char *why,
                size_t whylen);

/* Frees the field of `base` (strings wiped first when secret). */
void cfg_key_free(const struct cfg_key *k, void *base);

/* Writes "name = value\n" for the field of `base`, secrets as <redacted>. Returns 0 or
 * -EIO. */
int cfg_key_print(const struct cfg_key *k, const void *base, FILE *out);
/* Prints "name = value" so that config_load() reads the same value back (a value starting
 * with ';' is written as "name =;..."). Returns 0 or -EIO. */
int cfg_print_pair(FILE *out, const char *name, const char *value);

/* Resolves a secret reference: ${VAR} or @path, else a literal copy (*literal = true).
 * Returns a string owned by the caller, or NULL with the reason in why. */
char *cfg_secret_resolve(const char *text, bool *literal, char *why, size_t whylen);

/* Wipes and frees a secret string; NULL is a no-op. */
void cfg_secret_free(char *s);

#endif

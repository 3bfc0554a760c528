/* config_dump: writes the effective configuration as INI text that config_load() reads back,
 * following the key table so every default shows; secrets are printed as <redacted>. */
#include "config/config.h"

#include <errno.h>
#include <string.h>

#include "config/config_keys.h"

static int dump_keys(enum cfg_section kind, const void *base, int type, FILE *out)
{
    for (size_t i = 0; i < cfg_n_keys; i++) {
        const struct cfg_key *k = &cfg_keys[i];
        if (k->section == kind && cfg_key_applies(k, type) && cfg_key_print(k, base, out) < 0)
            return -EIO;
    }
    return 0;
}

static int dump_kafka(const struct config *cfg, FILE *out)
{
    if (fprintf(out, "[kafka]\n") < 0)
        return -EIO;
    for (size_t i = 0; i < cfg->n_kafka; i++) {
        const char *key = cfg->kafka[i].key;
        bool seen = false;
        for (size_t j = 0; j < i && !seen; j++)
            seen = strcmp(cfg->kafka[j].key, key) == 0;
        if (seen)
            continue; /* printed at its first place with its last value */
        const char *value = config_kafka_get(cfg, key);
        if (cfg_print_pair(out, key, config_redact(key, value)) < 0)
            return -EIO;
    }
    return fputc('\n', out) == EOF ? -EIO : 0;
}

int config_dump(const struct config *cfg, FILE *out)
{
    if (fprintf(out, "# effective configuration of %s (defaults included, secrets redacted)\n",
                cfg->path) < 0)
        return -EIO;
    for (int s = 0; s < CFG_SEC_COUNT; s++) {
        if (s == CFG_SEC_KAFKA) {
            if (dump_kafka(cfg, out) < 0)
                return -EIO;
            continue;
        }
        if (s == CFG_SEC_DOMAIN || s == CFG_SEC_RULE || s == CFG_SEC_SINK)
            continue;
        if (fprintf(out, "[%s]\n", cfg_section_names[s]) < 0 ||
            dump_keys((enum cfg_section)s, cfg, -1, out) < 0 || fputc('\n', out) == EOF)
            return -EIO;
    }
    for (size_t i = 0; i < cfg->n_domains; i++) {
        const struct config_domain *d = &cfg->domains[i];
        if (fprintf(out, "[domain \"%s\"]\n", d->name) < 0 ||
            dump_keys(CFG_SEC_DOMAIN, d, -1, out) < 0 || fputc('\n', out) == EOF)
            return -EIO;
    }
    for (size_t i = 0; i < cfg->n_rules; i++) {
        const struct config_rule *r = &cfg->rules[i];
        if (fprintf(out, "[rule \"%s\"]\n", r->name) < 0 ||
            dump_keys(CFG_SEC_RULE, r, (int)r->type, out) < 0 || fputc('\n', out) == EOF)
            return -EIO;
    }
    for (size_t i = 0; i < cfg->n_sinks; i++) {
        const struct config_sink *s = &cfg->sinks[i];
        if (fprintf(out, "[sink \"%s\"]\n", s->name) < 0 ||
            dump_keys(CFG_SEC_SINK, s, (int)s->type, out) < 0 || fputc('\n', out) == EOF)
            return -EIO;
    }
    return fflush(out) == EOF ? -EIO : 0;
}

/* config: loads the INI file once into a validated, read-only struct config.
 *
 * DESIGN: three passes. (1) libinih reads the file from memory through our reader, which
 * counts lines and recognises section headers itself, so an unknown or misnamed section is
 * fatal even when it holds no key; the handler only collects raw key/value/line triples per
 * section and refuses duplicates. (2) The sections are applied in file order through the key
 * table (config_keys.c); [rule] and [sink] sections are applied once their `type` is known,
 * so a key of another type is refused whatever its position. (3) Cross-checks that need the
 * whole file: thresholds, references between sections, the Kafka bootstrap list, and the
 * file mode when it holds a literal secret. The first error wins and names FILE:LINE.
 */
#include "config/config.h"

#include <ctype.h>
#include <errno.h>
#include <fcntl.h>
#include <ini.h>
#include <stdarg.h>
#include <stdlib.h>
#include <string.h>
#include <sys/stat.h>
#include <unistd.h>

#include "config/config_keys.h"
#include "text.h"
#include "units.h"
#include "xalloc.h"

#define CONFIG_FILE_MAX (16u << 20) /* a configuration file is small; refuse anything huge */
#define CONFIG_LINE_MAX 65536       /* longest line (a long accounts list fits) */
#define CONFIG_KEY_MAX  48          /* libinih truncates longer names silently */

struct raw_kv {
    char *key;
    char *value;
    unsigned line;
};

struct raw_section {
    enum cfg_section kind;
    char *name;  /* [rule "NAME"]: NAME; NULL for fixed sections */
    char *title; /* as printed in messages: aws, rule "NAME" */
    unsigned line;
    struct raw_kv *kv;
    size_t n, cap;
};

struct parse {
    const char *path;
    const char *buf;
    size_t len, pos;
    unsigned lineno;
    bool mid_line;
    struct raw_section *secs;
    size_t n_secs, cap_secs;
    size_t *rule_sec, *sink_sec; /* raw section of cfg->rules[i] / cfg->sinks[i] */
    size_t cap_domains, cap_rules, cap_sinks, cap_kafka;
    /* first literal secret, for the file-mode check */
    unsigned secret_line;
    char *secret_title, *secret_key;
    bool failed;
    char *err;
    size_t errlen;
};

static const char *const cfg_x_file = "-X";

/* Records the first error as "FILE:LINE: [title] key: what". */
static void __attribute__((format(printf, 5, 6)))
perr(struct parse *p, unsigned line, const char *title, const char *key, const char *fmt, ...)
{
    if (p->failed)
        return;
    p->failed = true;
    char what[768];
    va_list ap;
    va_start(ap, fmt);
    vsnprintf(what, sizeof what, fmt, ap); /* a truncated message is still a message */
    va_end(ap);
    char loc[512];
    if (line)
        snprintf(loc, sizeof loc, "%s:%u", p->path, line);
    else
        snprintf(loc, sizeof loc, "%s", p->path);
    if (!p->err || !p->errlen)
        return;
    if (title && key)
        text_errbuf_set(p->err, p->errlen, "%s: [%s] %s: %s", loc, title, key, what);
    else if (title)
        text_errbuf_set(p->err, p->errlen, "%s: [%s]: %s", loc, title, what);
    else if (key)
        text_errbuf_set(p->err, p->errlen, "%s: %s: %s", loc, key, what);
    else
        text_errbuf_set(p->err, p->errlen, "%s: %s", loc, what);
}

/* ---- pass 1: libinih, with our reader and handler ---- */

static bool valid_section_name(const char *s)
{
    size_t n = strlen(s);
    return n > 0 && n <= 128 &&
           strspn(s, "abcdefghijklmnopqrstuvwxyzABCDEFGHIJKLMNOPQRSTUVWXYZ0123456789_.-") == n;
}

static bool is_named(enum cfg_section kind)
{
    return kind == CFG_SEC_DOMAIN || kind == CFG_SEC_RULE || kind == CFG_SEC_SINK;
}

/* A section header line: validates it and opens the raw section. Returns false on error. */
static bool open_section(struct parse *p, const char *s, size_t n)
{
    const char *close = memchr(s, ']', n);
    if (!close)
        return true; /* libinih reports the missing ']' as a syntax error */
    const char *after = close + 1;
    while (after < s + n && isspace((unsigned char)*after))
        after++;
    char *inner = xstrndup(s + 1, (size_t)(close - s - 1));
    char *word = inner;
    while (isspace((unsigned char)*word))
        word++;
    size_t wlen = strcspn(word, " \t\"");
    char *rest = text_trim(word + wlen);
    size_t rlen = strlen(rest);
    word[wlen] = '\0';

    bool ok = false;
    char *name = NULL;
    if (after < s + n && *after != ';' && *after != '#') {
        perr(p, p->lineno, NULL, NULL, "unexpected text after the section header's ']'");
        goto done;
    }
    int kind = -1;
    for (int i = 0; i < CFG_SEC_COUNT; i++)
        if (strcmp(word, cfg_section_names[i]) == 0)
            kind = i;
    if (kind < 0) {
        perr(p, p->lineno, word[0] ? word : "", NULL,
             "unknown section (known: aws, collector, kafka, topics, analyzer, rrd, journal, "
             "metrics, log, domain \"NAME\", rule \"NAME\", sink \"NAME\")");
        goto done;
    }
    if (is_named((enum cfg_section)kind)) {
        if (rlen < 2 || rest[0] != '"' || rest[rlen - 1] != '"') {
            perr(p, p->lineno, word, NULL, "needs a quoted name: [%s \"NAME\"]", word);
            goto done;
        }
        name = xstrndup(rest + 1, rlen - 2);
        if (!valid_section_name(name)) {
            perr(p, p->lineno, word, NULL,
                 "bad name \"%s\": use 1 to 128 letters, digits, '_', '.' or '-'", name);
            goto done;
        }
    } else if (rlen) {
        perr(p, p->lineno, word, NULL, "takes no name: write [%s]", word);
        goto done;
    }
    for (size_t i = 0; i < p->n_secs; i++) {
        struct raw_section *o = &p->secs[i];
        if ((int)o->kind == kind && (!name || strcmp(o->name, name) == 0)) {
            perr(p, p->lineno, o->title, NULL, "section given twice (first at line %u)", o->line);
            goto done;
        }
    }
    p->secs = xgrow(p->secs, &p->cap_secs, p->n_secs + 1, sizeof *p->secs);
    struct raw_section *sec = &p->secs[p->n_secs++];
    memset(sec, 0, sizeof *sec);
    sec->kind = (enum cfg_section)kind;
    sec->name = name;
    sec->title = name ? xasprintf("%s \"%s\"", word, name) : xstrdup(word);
    sec->line = p->lineno;
    name = NULL;
    ok = true;
done:
    free(name);
    free(inner);
    return ok;
}

/* libinih's reader: hands out the file a line (or a piece of a long line) at a time. */
static char *read_line(char *str, int num, void *stream)
{
    struct parse *p = stream;
    if (p->failed || p->pos >= p->len || num < 2)
        return NULL;
    const char *start = p->buf + p->pos;
    const char *nl = memchr(start, '\n', p->len - p->pos);
    size_t linelen = nl ? (size_t)(nl - start) + 1 : p->len - p->pos;
    if (!p->mid_line) {
        p->lineno++;
        if (linelen > CONFIG_LINE_MAX - 3) {
            perr(p, p->lineno, NULL, NULL, "line longer than %d bytes", CONFIG_LINE_MAX - 3);
            return NULL;
        }
        const char *s = start;
        if (p->lineno == 1 && linelen >= 3 && memcmp(s, "\xEF\xBB\xBF", 3) == 0)
            s += 3; /* UTF-8 byte order mark, which libinih skips too */
        while (s < start + linelen && isspace((unsigned char)*s))
            s++;
        if (s < start + linelen && *s == '[' && !open_section(p, s, linelen - (size_t)(s - start)))
            return NULL;
    }
    size_t take = linelen < (size_t)num - 1 ? linelen : (size_t)num - 1;
    memcpy(str, start, take);
    str[take] = '\0';
    p->pos += take;
    p->mid_line = take < linelen;
    return str;
}

static int on_key(void *user, const char *section, const char *name, const char *value)
{
    struct parse *p = user;
    (void)section; /* the reader tracks sections (libinih truncates long ones) */
    if (p->failed)
        return 0;
    if (p->n_secs == 0) {
        perr(p, p->lineno, NULL, name, "key outside any section (put it under a [section])");
        return 0;
    }
    struct raw_section *sec = &p->secs[p->n_secs - 1];
    if (strlen(name) >= CONFIG_KEY_MAX) {
        perr(p, p->lineno, sec->title, name, "key name longer than %d characters",
             CONFIG_KEY_MAX - 1);
        return 0;
    }
    for (size_t i = 0; i < sec->n; i++) {
        if (strcmp(sec->kv[i].key, name) == 0) {
            perr(p, p->lineno, sec->title, name, "given twice (first at line %u)", sec->kv[i].line);
            return 0;
        }
    }
    sec->kv = xgrow(sec->kv, &sec->cap, sec->n + 1, sizeof *sec->kv);
    sec->kv[sec->n++] = (struct raw_kv){xstrdup(name), xstrdup(value ? value : ""), p->lineno};
    return 1;
}

/* Runs libinih over p->buf with the options this format needs, restoring them afterwards. */
static void parse_ini(struct parse *p)
{
    bool multiline = ini_allow_multiline, use_stack = ini_use_stack;
    bool allow_realloc = ini_allow_realloc, stop = ini_stop_on_first_error;
    int max_line = ini_max_line;
    ini_allow_multiline = false; /* an indented line is a key, not a continuation */
    ini_use_stack = false;       /* heap line buffer that grows to CONFIG_LINE_MAX */
    ini_allow_realloc = true;
    ini_max_line = CONFIG_LINE_MAX;
    ini_stop_on_first_error = true;
    int rc = ini_parse_stream(read_line, p, on_key, p);
    ini_allow_multiline = multiline;
    ini_use_stack = use_stack;
    ini_allow_realloc = allow_realloc;
    ini_max_line = max_line;
    ini_stop_on_first_error = stop;
    if (p->failed)
        return;
    if (rc > 0)
        perr(p, (unsigned)rc, NULL, NULL,
             "syntax error: expected [section], key = value, or a comment (# or ;)");
    else if (rc < 0)
        perr(p, 0, NULL, NULL, "cannot parse (libinih error %d)", rc);
}

/* ---- pass 2: apply sections through the key table ---- */

static const struct raw_kv *raw_find(const struct raw_section *sec, const char *key)
{
    for (size_t i = 0; i < sec->n; i++)
        if (strcmp(sec->kv[i].key, key) == 0)
            return &sec->kv[i];
    return NULL;
}

static unsigned raw_line(const struct raw_section *sec, const char *key)
{
    const struct raw_kv *kv = raw_find(sec, key);
    return kv ? kv->line : sec->line;
}

static void note_literal(struct parse *p, unsigned line, const char *title, const char *key)
{
    if (p->secret_line)
        return;
    p->secret_line = line;
    p->secret_title = xstrdup(title);
    p->secret_key = xstrdup(key);
}

/* Names the types (of `kind`) that have key `name`, as "a|b". */
static void key_owner_types(enum cfg_section kind, const char *name, char *buf, size_t len)
{
    const char *const *names = kind == CFG_SEC_RULE ? cfg_rule_type_names : cfg_sink_type_names;
    unsigned bits = 0;
    for (size_t i = 0; i < cfg_n_keys; i++)
        if (cfg_keys[i].section == kind && strcmp(cfg_keys[i].name, name) == 0)
            bits |= cfg_keys[i].types;
    size_t off = 0;
    buf[0] = '\0';
    for (int t = 0; names[t] && off < len; t++)
        if (bits & (1u << t))
            off += (size_t)snprintf(buf + off, len - off, "%s%s", off ? "|" : "", names[t]);
}

/* Applies every key of `sec` (except `type`) to `base`; type is -1 for unnamed sections. */
static void apply_keys(struct parse *p, const struct raw_section *sec, void *base, int type)
{
    char why[512];
    for (size_t i = 0; i < sec->n && !p->failed; i++) {
        const struct raw_kv *kv = &sec->kv[i];
        if (type >= 0 && strcmp(kv->key, "type") == 0)
            continue;
        const struct cfg_key *k = cfg_key_find(sec->kind, kv->key, type);
        if (!k) {
            perr(p, kv->line, sec->title, kv->key, "unknown key");
            return;
        }
        if (!cfg_key_applies(k, type)) {
            char owners[256];
            key_owner_types(sec->kind, kv->key, owners, sizeof owners);
            const char *const *names =
                sec->kind == CFG_SEC_RULE ? cfg_rule_type_names : cfg_sink_type_names;
            perr(p, kv->line, sec->title, kv->key, "not a key of %s %ss (only of type %s)",
                 names[type], cfg_section_names[sec->kind], owners);
            return;
        }
        bool literal = false;
        if (cfg_key_set(k, base, kv->value, &literal, why, sizeof why) < 0) {
            perr(p, kv->line, sec->title, kv->key, "%s", why);
            return;
        }
        if (literal)
            note_literal(p, kv->line, sec->title, kv->key);
    }
}

/* Sets the defaults of every key of `kind` that belongs to `type`. */
static void apply_defaults(enum cfg_section kind, void *base, int type)
{
    char why[256];
    for (size_t i = 0; i < cfg_n_keys; i++) {
        const struct cfg_key *k = &cfg_keys[i];
        if (k->section != kind || !k->def || !cfg_key_applies(k, type))
            continue;
        bool literal;
        if (cfg_key_set(k, base, k->def, &literal, why, sizeof why) < 0)
            abort(); /* a default the parser refuses is a bug in the table */
    }
}

/* Reports a required string key of `kind`/`type` that is unset in `base`. */
static void check_required(struct parse *p, const struct raw_section *sec, const void *base,
                           int type, const char *what)
{
    for (size_t i = 0; i < cfg_n_keys && !p->failed; i++) {
        const struct cfg_key *k = &cfg_keys[i];
        if (k->section != sec->kind || !(k->flags & CFG_F_REQUIRED) || !cfg_key_applies(k, type) ||
            (k->type != CFG_T_STRING && k->type != CFG_T_SECRET))
            continue;
        if (*(char *const *)((const char *)base + k->offset) == NULL)
            perr(p, raw_line(sec, k->name), sec->title, k->name, "required%s%s%s",
                 what ? " for " : "", what ? what : "",
                 raw_find(sec, k->name) ? " (is empty)" : "");
    }
}

/* Applies the `type` key of a rule or sink section; returns the type or -1. */
static int apply_type(struct parse *p, const struct raw_section *sec, void *base)
{
    const struct cfg_key *k = cfg_key_find(sec->kind, "type", -1);
    const struct raw_kv *kv = raw_find(sec, "type");
    char why[512];
    if (!kv) {
        char names[256];
        size_t off = 0;
        names[0] = '\0';
        for (int i = 0; k->names[i] && off < sizeof names; i++)
            off += (size_t)snprintf(names + off, sizeof names - off, "%s%s", i ? "|" : "",
                                    k->names[i]);
        perr(p, sec->line, sec->title, "type", "required: one of %s", names);
        return -1;
    }
    bool literal;
    if (cfg_key_set(k, base, kv->value, &literal, why, sizeof why) < 0) {
        perr(p, kv->line, sec->title, "type", "%s", why);
        return -1;
    }
    return *(const int *)((const char *)base + k->offset);
}

static void apply_kafka(struct parse *p, struct config *cfg, const struct raw_section *sec)
{
    for (size_t i = 0; i < sec->n && !p->failed; i++) {
        const struct raw_kv *kv = &sec->kv[i];
        char *value;
        if (config_is_secret_key(kv->key) && kv->value[0]) {
            char why[512];
            bool literal;
            value = cfg_secret_resolve(kv->value, &literal, why, sizeof why);
            if (!value) {
                perr(p, kv->line, sec->title, kv->key, "%s", why);
                return;
            }
            if (literal)
                note_literal(p, kv->line, sec->title, kv->key);
        } else {
            value = xstrdup(kv->value);
        }
        cfg->kafka = xgrow(cfg->kafka, &p->cap_kafka, cfg->n_kafka + 1, sizeof *cfg->kafka);
        cfg->kafka[cfg->n_kafka++] =
            (struct config_kv){xstrdup(kv->key), value, cfg->path, kv->line};
    }
}

static void apply_overrides(struct parse *p, struct config *cfg, const struct config_kv *ov,
                            size_t n)
{
    for (size_t i = 0; i < n && !p->failed; i++) {
        char *value;
        if (!ov[i].key || !*ov[i].key || !ov[i].value) {
            if (p->err && p->errlen)
                snprintf(p->err, p->errlen, "-X: empty Kafka property");
            p->failed = true;
            return;
        }
        if (config_is_secret_key(ov[i].key) && ov[i].value[0]) {
            char why[512];
            bool literal;
            value = cfg_secret_resolve(ov[i].value, &literal, why, sizeof why);
            if (!value) {
                if (p->err && p->errlen)
                    snprintf(p->err, p->errlen, "-X: [kafka] %s: %s", ov[i].key, why);
                p->failed = true;
                return;
            }
        } else {
            value = xstrdup(ov[i].value);
        }
        cfg->kafka = xgrow(cfg->kafka, &p->cap_kafka, cfg->n_kafka + 1, sizeof *cfg->kafka);
        cfg->kafka[cfg->n_kafka++] = (struct config_kv){xstrdup(ov[i].key), value, cfg_x_file, 0};
    }
}

static void apply_section(struct parse *p, struct config *cfg, size_t idx)
{
    struct raw_section *sec = &p->secs[idx];
    switch (sec->kind) {
    case CFG_SEC_KAFKA:
        apply_kafka(p, cfg, sec);
        return;
    case CFG_SEC_DOMAIN: {
        cfg->domains =
            xgrow(cfg->domains, &p->cap_domains, cfg->n_domains + 1, sizeof *cfg->domains);
        struct config_domain *d = &cfg->domains[cfg->n_domains++];
        memset(d, 0, sizeof *d);
        d->name = xstrdup(sec->name);
        d->line = sec->line;
        apply_keys(p, sec, d, -1);
        return;
    }
    case CFG_SEC_RULE: {
        cfg->rules = xgrow(cfg->rules, &p->cap_rules, cfg->n_rules + 1, sizeof *cfg->rules);
        p->rule_sec = xrealloc(p->rule_sec, p->cap_rules * sizeof *p->rule_sec);
        struct config_rule *r = &cfg->rules[cfg->n_rules];
        p->rule_sec[cfg->n_rules++] = idx;
        memset(r, 0, sizeof *r);
        r->name = xstrdup(sec->name);
        r->line = sec->line;
        int type = apply_type(p, sec, r);
        if (type < 0)
            return;
        apply_defaults(CFG_SEC_RULE, r, type);
        apply_keys(p, sec, r, type);
        char what[64];
        snprintf(what, sizeof what, "%s rules", cfg_rule_type_names[type]);
        check_required(p, sec, r, type, what);
        return;
    }
    case CFG_SEC_SINK: {
        cfg->sinks = xgrow(cfg->sinks, &p->cap_sinks, cfg->n_sinks + 1, sizeof *cfg->sinks);
        p->sink_sec = xrealloc(p->sink_sec, p->cap_sinks * sizeof *p->sink_sec);
        struct config_sink *s = &cfg->sinks[cfg->n_sinks];
        p->sink_sec[cfg->n_sinks++] = idx;
        memset(s, 0, sizeof *s);
        s->name = xstrdup(sec->name);
        s->line = sec->line;
        int type = apply_type(p, sec, s);
        if (type < 0)
            return;
        apply_defaults(CFG_SEC_SINK, s, type);
        apply_keys(p, sec, s, type);
        char what[64];
        snprintf(what, sizeof what, "%s sinks", cfg_sink_type_names[type]);
        check_required(p, sec, s, type, what);
        return;
    }
    default:
        apply_keys(p, sec, cfg, -1);
        check_required(p, sec, cfg, -1, NULL);
        return;
    }
}

/* ---- pass 3: checks that need the whole file ---- */

static void check_rule(struct parse *p, const struct config *cfg, struct config_rule *r,
                       const struct raw_section *sec)
{
    if (r->type == CONFIG_RULE_UTILIZATION) {
        /* A reset not given sits 5 points under its trigger. */
        if (!raw_find(sec, "warn_reset"))
            r->warn_reset = r->warn_trigger >= 5 ? r->warn_trigger - 5 : 0;
        if (!raw_find(sec, "crit_reset"))
            r->crit_reset = r->crit_trigger >= 5 ? r->crit_trigger - 5 : 0;
        if (r->warn_reset >= r->warn_trigger)
            perr(p, raw_line(sec, raw_find(sec, "warn_reset") ? "warn_reset" : "warn_trigger"),
                 sec->title, "warn_reset", "%g must be below warn_trigger (%g)", r->warn_reset,
                 r->warn_trigger);
        else if (r->crit_reset >= r->crit_trigger)
            perr(p, raw_line(sec, raw_find(sec, "crit_reset") ? "crit_reset" : "crit_trigger"),
                 sec->title, "crit_reset", "%g must be below crit_trigger (%g)", r->crit_reset,
                 r->crit_trigger);
        else if (r->warn_trigger >= r->crit_trigger)
            perr(p, raw_line(sec, raw_find(sec, "warn_trigger") ? "warn_trigger" : "crit_trigger"),
                 sec->title, "warn_trigger", "%g must be below crit_trigger (%g)", r->warn_trigger,
                 r->crit_trigger);
    }
    if (r->type == CONFIG_RULE_OVERLAP && r->domain) {
        bool found = false;
        for (size_t i = 0; i < cfg->n_domains && !found; i++)
            found = strcmp(cfg->domains[i].name, r->domain) == 0;
        if (!found)
            perr(p, raw_line(sec, "domain"), sec->title, "domain",
                 "no [domain \"%s\"] section is defined", r->domain);
    }
}

static void check_sink(struct parse *p, struct config *cfg, struct config_sink *s,
                       const struct raw_section *sec)
{
    for (size_t i = 0; i < s->rules.n && !p->failed; i++) {
        bool found = false;
        for (size_t j = 0; j < cfg->n_rules && !found; j++)
            found = strcmp(cfg->rules[j].name, s->rules.items[i]) == 0;
        if (!found)
            perr(p, raw_line(sec, "rules"), sec->title, "rules",
                 "no [rule \"%s\"] section is defined", s->rules.items[i]);
    }
    if (!p->failed && s->backoff_max_ms < s->backoff_min_ms) {
        /* A backoff_max not given sits at its default or at backoff_min, the longer. */
        if (!raw_find(sec, "backoff_max")) {
            s->backoff_max_ms = s->backoff_min_ms;
        } else {
            char max[32], min[32];
            units_format_duration(s->backoff_max_ms, max, sizeof max);
            units_format_duration(s->backoff_min_ms, min, sizeof min);
            perr(p, raw_line(sec, "backoff_max"), sec->title, "backoff_max",
                 "%s is shorter than backoff_min (%s)", max, min);
        }
    }
    if (s->type == CONFIG_SINK_KAFKA && !s->topic)
        s->topic = xstrdup(cfg->topics.alerts);
    if (!s->spool_dir)
        s->spool_dir = xasprintf("%s/spool/%s", cfg->analyzer.state_dir, s->name);
}

static void check_kafka_required(struct parse *p, const struct config *cfg)
{
    const char *bs = config_kafka_get(cfg, "bootstrap.servers");
    if (bs && *bs)
        return;
    const struct raw_section *sec = NULL;
    for (size_t i = 0; i < p->n_secs; i++)
        if (p->secs[i].kind == CFG_SEC_KAFKA)
            sec = &p->secs[i];
    if (sec)
        perr(p, raw_line(sec, "bootstrap.servers"), "kafka", "bootstrap.servers",
             "required: a host:port list, or 'embedded' for the in-process dev broker");
    else
        perr(p, p->lineno, "kafka", "bootstrap.servers",
             "required, and the file has no [kafka] section (add [kafka] with "
             "bootstrap.servers = host:port, or embedded for the dev broker)");
}

static void check_secret_mode(struct parse *p, mode_t mode)
{
    if (!p->secret_line || !(mode & (S_IRGRP | S_IROTH)))
        return;
    perr(p, p->secret_line, p->secret_title, p->secret_key,
         "the file holds this secret literally but its mode %04o lets group or others read "
         "it: run 'chmod 600 %s', or give the secret as ${ENV_VAR} or @/path/to/file",
         (unsigned)(mode & 07777), p->path);
}

/* ---- load, default, free ---- */

static struct config *config_alloc(const char *path)
{
    struct config *cfg = xcalloc(1, sizeof *cfg);
    cfg->path = xstrdup(path);
    for (int s = 0; s < CFG_SEC_COUNT; s++)
        if (!is_named((enum cfg_section)s) && s != CFG_SEC_KAFKA)
            apply_defaults((enum cfg_section)s, cfg, -1);
    return cfg;
}

enum log_level config_log_level(const struct config *cfg)
{
    static const enum log_level levels[] = {LOG_LEVEL_ERR, LOG_LEVEL_WARN, LOG_LEVEL_INFO,
                                            LOG_LEVEL_DEBUG};
    return (unsigned)cfg->log.level < 4 ? levels[cfg->log.level] : LOG_LEVEL_INFO;
}

struct config *config_default(void)
{
    return config_alloc("(defaults)");
}

/* Reads the whole file; returns the buffer (owned by the caller) or NULL with err set. */
static char *read_file(const char *path, struct stat *st, size_t *len, char *err, size_t errlen)
{
    char *buf = NULL;
    int fd = open(path, O_RDONLY | O_CLOEXEC | O_NOCTTY);
    if (fd < 0) {
        snprintf(err, errlen, "%s: cannot open: %s", path, strerror(errno));
        return NULL;
    }
    if (fstat(fd, st) < 0) {
        snprintf(err, errlen, "%s: cannot stat: %s", path, strerror(errno));
        goto fail;
    }
    if (!S_ISREG(st->st_mode)) {
        snprintf(err, errlen, "%s: not a regular file", path);
        goto fail;
    }
    if ((uint64_t)st->st_size > CONFIG_FILE_MAX) {
        snprintf(err, errlen, "%s: larger than %u bytes", path, CONFIG_FILE_MAX);
        goto fail;
    }
    size_t cap = (size_t)st->st_size + 1, n = 0;
    buf = xmalloc(cap);
    for (;;) {
        if (n + 1 >= cap) {
            if (cap > CONFIG_FILE_MAX) {
                snprintf(err, errlen, "%s: larger than %u bytes", path, CONFIG_FILE_MAX);
                goto fail;
            }
            buf = xrealloc(buf, cap *= 2);
        }
        ssize_t r = read(fd, buf + n, cap - n - 1);
        if (r < 0 && errno == EINTR)
            continue;
        if (r < 0) {
            snprintf(err, errlen, "%s: cannot read: %s", path, strerror(errno));
            goto fail;
        }
        if (r == 0)
            break;
        n += (size_t)r;
    }
    buf[n] = '\0';
    const char *nul = memchr(buf, '\0', n);
    size_t bad = text_utf8_span(buf, n);
    if (nul || bad < n) {
        size_t at = nul && (size_t)(nul - buf) < bad ? (size_t)(nul - buf) : bad;
        unsigned line = 1;
        const char *bol = buf;
        for (const char *q = buf; q < buf + at; q++)
            if (*q == '\n') {
                line++;
                bol = q + 1;
            }
        snprintf(err, errlen, "%s:%u: %s at column %zu; the file must be UTF-8 text", path, line,
                 buf + at == nul ? "a NUL byte" : "not valid UTF-8", (size_t)(buf + at - bol) + 1);
        goto fail;
    }
    close(fd);
    *len = n;
    return buf;
fail:
    free(buf);
    close(fd);
    return NULL;
}

static void parse_free(struct parse *p)
{
    for (size_t i = 0; i < p->n_secs; i++) {
        struct raw_section *sec = &p->secs[i];
        for (size_t j = 0; j < sec->n; j++) {
            free(sec->kv[j].key);
            cfg_secret_free(sec->kv[j].value); /* may hold a literal secret */
        }
        free(sec->kv);
        free(sec->name);
        free(sec->title);
    }
    free(p->secs);
    free(p->rule_sec);
    free(p->sink_sec);
    free(p->secret_title);
    free(p->secret_key);
}

struct config *config_load(const char *path, const struct config_kv *overrides, size_t n, char *err,
                           size_t errlen)
{
    struct stat st;
    size_t len = 0;
    char *buf = read_file(path, &st, &len, err, errlen);
    if (!buf)
        return NULL;
    struct config *cfg = config_alloc(path);
    struct parse p = {.path = cfg->path, .buf = buf, .len = len, .err = err, .errlen = errlen};
    parse_ini(&p);
    for (size_t i = 0; i < p.n_secs && !p.failed; i++)
        apply_section(&p, cfg, i);
    for (size_t i = 0; i < cfg->n_rules && !p.failed; i++)
        check_rule(&p, cfg, &cfg->rules[i], &p.secs[p.rule_sec[i]]);
    for (size_t i = 0; i < cfg->n_sinks && !p.failed; i++)
        check_sink(&p, cfg, &cfg->sinks[i], &p.secs[p.sink_sec[i]]);
    if (!p.failed)
        apply_overrides(&p, cfg, overrides, n);
    if (!p.failed)
        check_kafka_required(&p, cfg);
    if (!p.failed)
        check_secret_mode(&p, st.st_mode);
    bool failed = p.failed;
    parse_free(&p);
    explicit_bzero(buf, len); /* the text may hold literal secrets */
    free(buf);
    if (failed)
        goto fail;
    return cfg;
fail:
    config_free(cfg);
    return NULL;
}

static void free_section_keys(enum cfg_section kind, void *base)
{
    for (size_t i = 0; i < cfg_n_keys; i++)
        if (cfg_keys[i].section == kind)
            cfg_key_free(&cfg_keys[i], base);
}

void config_free(struct config *cfg)
{
    if (!cfg)
        return;
    for (int s = 0; s < CFG_SEC_COUNT; s++)
        if (!is_named((enum cfg_section)s) && s != CFG_SEC_KAFKA)
            free_section_keys((enum cfg_section)s, cfg);
    for (size_t i = 0; i < cfg->n_kafka; i++) {
        free(cfg->kafka[i].key);
        cfg_secret_free(cfg->kafka[i].value);
    }
    free(cfg->kafka);
    for (size_t i = 0; i < cfg->n_domains; i++) {
        free_section_keys(CFG_SEC_DOMAIN, &cfg->domains[i]);
        free(cfg->domains[i].name);
    }
    free(cfg->domains);
    for (size_t i = 0; i < cfg->n_rules; i++) {
        free_section_keys(CFG_SEC_RULE, &cfg->rules[i]);
        free(cfg->rules[i].name);
    }
    free(cfg->rules);
    for (size_t i = 0; i < cfg->n_sinks; i++) {
        free_section_keys(CFG_SEC_SINK, &cfg->sinks[i]);
        free(cfg->sinks[i].name);
    }
    free(cfg->sinks);
    free(cfg->path);
    free(cfg);
}

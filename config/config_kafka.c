/* config_kafka: the [kafka] pass-through: -X parsing, secret redaction, and validation of the
 * properties with librdkafka's own parser so its words (and our file:line) reach the user. */
#include "config/config.h"

#include <ctype.h>
#include <errno.h>
#include <librdkafka/rdkafka.h>
#include <stdlib.h>
#include <string.h>

#include "config/config_keys.h"
#include "xalloc.h"

bool config_is_secret_key(const char *key)
{
    static const char *const exact[] = {/* librdkafka */
                                        "sasl.password", "ssl.key.password",
                                        "ssl.keystore.password", "sasl.oauthbearer.client.secret",
                                        "sasl.oauthbearer.config", "ssl.key.pem", "ssl_key",
                                        /* ours */
                                        "access_key_id", "secret_access_key", "session_token",
                                        "routing_key", "webhook_url", "hmac_secret"};
    static const char *const parts[] = {"password", "secret", "passphrase", "private"};
    if (!key)
        return false;
    for (size_t i = 0; i < sizeof exact / sizeof exact[0]; i++)
        if (strcmp(key, exact[i]) == 0)
            return true;
    char lower[128];
    size_t n = 0;
    for (; key[n] && n < sizeof lower - 1; n++)
        lower[n] = (char)tolower((unsigned char)key[n]);
    lower[n] = '\0';
    for (size_t i = 0; i < sizeof parts / sizeof parts[0]; i++)
        if (strstr(lower, parts[i]))
            return true;
    return false;
}

const char *config_redact(const char *key, const char *value)
{
    if (!value)
        return "";
    return config_is_secret_key(key) && *value ? "<redacted>" : value;
}

int config_kv_parse(const char *arg, struct config_kv *kv, char *err, size_t errlen)
{
    memset(kv, 0, sizeof *kv);
    const char *eq = arg ? strchr(arg, '=') : NULL;
    if (!eq) {
        /* The argument is not echoed: it may be a secret typed without its key. */
        snprintf(err, errlen, "-X: expected key=value (no '=' in the argument)");
        return -EINVAL;
    }
    size_t klen = (size_t)(eq - arg);
    if (klen == 0 || strcspn(arg, " \t\r\n") < klen) {
        snprintf(err, errlen, "-X: expected key=value with a non-empty key without spaces");
        return -EINVAL;
    }
    kv->key = xstrndup(arg, klen);
    kv->value = xstrdup(eq + 1);
    kv->file = "-X";
    kv->line = 0;
    return 0;
}

void config_kv_clear(struct config_kv *kv)
{
    if (!kv)
        return;
    free(kv->key);
    cfg_secret_free(kv->value);
    kv->key = NULL;
    kv->value = NULL;
}

const char *config_kafka_get(const struct config *cfg, const char *key)
{
    for (size_t i = cfg->n_kafka; i-- > 0;)
        if (strcmp(cfg->kafka[i].key, key) == 0)
            return cfg->kafka[i].value;
    return NULL;
}

int config_check_kafka(const struct config *cfg, char *err, size_t errlen)
{
    rd_kafka_conf_t *conf = rd_kafka_conf_new();
    int rc = 0;
    for (size_t i = 0; i < cfg->n_kafka; i++) {
        const struct config_kv *kv = &cfg->kafka[i];
        char errstr[512];
        if (rd_kafka_conf_set(conf, kv->key, kv->value, errstr, sizeof errstr) == RD_KAFKA_CONF_OK)
            continue;
        /* librdkafka may quote the value; a secret's value must not reach the message. */
        if (config_is_secret_key(kv->key) && *kv->value && strstr(errstr, kv->value))
            snprintf(errstr, sizeof errstr, "invalid value (not shown: the property is secret)");
        char loc[512];
        if (kv->line)
            snprintf(loc, sizeof loc, "%s:%u", kv->file, kv->line);
        else
            snprintf(loc, sizeof loc, "%s", kv->file ? kv->file : "-X");
        snprintf(err, errlen, "%s: [kafka] %s: %s", loc, kv->key, errstr);
        rc = -EINVAL;
        break;
    }
    rd_kafka_conf_destroy(conf);
    return rc;
}

/* deadletter: the JSON envelope of a Kafka message the analyzer could not decode. */
#include "analyzer/deadletter.h"

#include <errno.h>
#include <stdbool.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include <jansson.h>

#include "xalloc.h"

static const char b64[] = "ABCDEFGHIJKLMNOPQRSTUVWXYZabcdefghijklmnopqrstuvwxyz0123456789+/";

static char *base64(const unsigned char *p, size_t n)
{
    char *out = xmalloc((n + 2) / 3 * 4 + 1);
    size_t o = 0, i = 0;
    for (; i + 2 < n; i += 3) {
        uint32_t v = (uint32_t)p[i] << 16 | (uint32_t)p[i + 1] << 8 | p[i + 2];
        out[o++] = b64[v >> 18 & 63];
        out[o++] = b64[v >> 12 & 63];
        out[o++] = b64[v >> 6 & 63];
        out[o++] = b64[v & 63];
    }
    if (i < n) {
        uint32_t v = (uint32_t)p[i] << 16 | (i + 1 < n ? (uint32_t)p[i + 1] << 8 : 0);
        out[o++] = b64[v >> 18 & 63];
        out[o++] = b64[v >> 12 & 63];
        out[o++] = i + 1 < n ? b64[v >> 6 & 63] : '=';
        out[o++] = '=';
    }
    out[o] = '\0';
    return out;
}

/* Sets `name` to the bytes as a JSON string when they are UTF-8 without NUL, otherwise
 * sets `name`_base64. */
static void set_bytes(json_t *obj, const char *name, const void *p, size_t n)
{
    json_t *s = memchr(p, '\0', n) ? NULL : json_stringn(p, n);
    if (s) {
        json_object_set_new(obj, name, s);
        return;
    }
    char key[64];
    snprintf(key, sizeof key, "%s_base64", name);
    char *enc = base64(p, n);
    json_object_set_new(obj, key, json_string_nocheck(enc));
    free(enc);
}

char *deadletter_encode(const char *code, const char *reason, const struct deadletter_source *src,
                        size_t *len)
{
    json_t *o = json_object();
    json_object_set_new(o, "v", json_integer(DEADLETTER_VERSION));
    json_object_set_new(o, "code", json_string(code ? code : "invalid"));
    json_t *r = reason ? json_string(reason) : NULL;
    json_object_set_new(o, "reason", r ? r : json_string("(not UTF-8)"));
    json_object_set_new(o, "topic", json_string(src->topic ? src->topic : ""));
    json_object_set_new(o, "partition", json_integer(src->partition));
    json_object_set_new(o, "offset", json_integer(src->offset));
    if (src->key)
        set_bytes(o, "key", src->key, src->keylen);
    else
        json_object_set_new(o, "key", json_null());
    size_t keep = src->len < DEADLETTER_PAYLOAD_MAX ? src->len : DEADLETTER_PAYLOAD_MAX;
    const unsigned char *p = src->payload;
    /* Cut on a UTF-8 character boundary so that truncated text stays text. */
    if (keep < src->len)
        while (keep > 0 && (p[keep] & 0xC0) == 0x80)
            keep--;
    json_object_set_new(o, "payload_bytes", json_integer((json_int_t)src->len));
    json_object_set_new(o, "truncated", json_boolean(keep < src->len));
    set_bytes(o, "payload", keep ? (const void *)p : "", keep);
    char *out = json_dumps(o, JSON_COMPACT | JSON_PRESERVE_ORDER);
    json_decref(o);
    if (!out)
        abort(); /* only on allocation failure */
    *len = strlen(out);
    return out;
}

const char *deadletter_code(int decode_rc)
{
    return decode_rc == -E2BIG ? "oversized" : "invalid";
}

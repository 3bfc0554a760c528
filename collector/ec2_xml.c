/* ec2_xml: streaming parser of EC2/STS Query XML answers into jansson items. */
#include "ec2_xml.h"

#include <errno.h>
#include <stdarg.h>
#include <stdint.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include <libxml/parser.h>
#include <libxml/parserInternals.h>

#include "xalloc.h"

#define EC2_XML_MAX_META 256

struct frame {
    char *name;        /* local name, owned */
    json_t *container; /* object or array built from children; NULL while none */
    bool list;         /* children are <item> elements */
    bool has_children;
    bool in_item; /* inside a result item (or the item itself) */
    char *text;
    size_t tlen, tcap;
};

struct ec2_xml {
    char *operation;
    char *required_key;
    xmlParserCtxtPtr ctxt;
    struct frame stack[EC2_XML_MAX_DEPTH];
    int depth;
    char root[128];
    bool root_closed;
    json_t *items;
    json_t *meta;
    size_t item_count;
    size_t missing_item; /* 1-based index of the first item without the required key */
    char failure[512];   /* first fatal reason */
    bool failed;
};

/* Fields of the EC2 model that are not strings; everything else stays text. */
static const char *const int_fields[] = {"poolDepth",
                                         "scopeCount",
                                         "poolCount",
                                         "netmaskLength",
                                         "allocationMinNetmaskLength",
                                         "allocationMaxNetmaskLength",
                                         "allocationDefaultNetmaskLength",
                                         "resourceDiscoveryAssociationCount",
                                         NULL};
static const char *const double_fields[] = {"ipUsage", NULL};
static const char *const bool_fields[] = {"isDefault", "autoImport", "publiclyAdvertisable",
                                          "enablePrivateGua", NULL};

static bool in_list(const char *const *list, const char *name)
{
    for (; *list; list++)
        if (strcmp(*list, name) == 0)
            return true;
    return false;
}

static void fail_with(ec2_xml_t *x, const char *fmt, ...) __attribute__((format(printf, 2, 3)));

static void fail_with(ec2_xml_t *x, const char *fmt, ...)
{
    if (x->failed)
        return;
    x->failed = true;
    va_list ap;
    va_start(ap, fmt);
    vsnprintf(x->failure, sizeof x->failure, fmt, ap);
    va_end(ap);
    if (x->ctxt)
        xmlStopParser(x->ctxt);
}

static bool ends_with(const char *s, const char *suffix)
{
    size_t n = strlen(s), m = strlen(suffix);
    return n >= m && strcmp(s + n - m, suffix) == 0;
}

static bool blank(const char *s, size_t n)
{
    for (size_t i = 0; i < n; i++)
        if (s[i] != ' ' && s[i] != '\n' && s[i] != '\r' && s[i] != '\t')
            return false;
    return true;
}

static json_t *typed_value(const char *name, const char *text)
{
    char *end;
    if (in_list(int_fields, name) && *text) {
        errno = 0;
        long long v = strtoll(text, &end, 10);
        if (!*end && errno == 0)
            return json_integer(v);
    } else if (in_list(double_fields, name) && *text) {
        errno = 0;
        double v = strtod(text, &end);
        if (!*end && errno == 0)
            return json_real(v);
    } else if (in_list(bool_fields, name)) {
        if (strcmp(text, "true") == 0)
            return json_true();
        if (strcmp(text, "false") == 0)
            return json_false();
    }
    return json_string(text);
}

static void frame_clear(struct frame *f)
{
    free(f->name);
    free(f->text);
    json_decref(f->container);
    memset(f, 0, sizeof *f);
}

static void on_start(void *ud, const xmlChar *local, const xmlChar *prefix, const xmlChar *uri,
                     int nns, const xmlChar **ns, int nattr, int ndef, const xmlChar **attrs)
{
    ec2_xml_t *x = ud;
    const char *name = (const char *)local;
    if (x->failed)
        return;
    if (x->depth >= EC2_XML_MAX_DEPTH) {
        fail_with(x, "elements nested deeper than %d levels", EC2_XML_MAX_DEPTH);
        return;
    }
    if (x->depth == 0 && x->root_closed) {
        fail_with(x, "content after the root element");
        return;
    }
    struct frame *parent = x->depth > 0 ? &x->stack[x->depth - 1] : NULL;
    struct frame *f = &x->stack[x->depth];
    memset(f, 0, sizeof *f);
    f->name = xstrdup(name);
    if (parent) {
        parent->has_children = true;
        parent->tlen = 0;
        if (parent->in_item)
            f->in_item = true;
        else if (x->depth == 2 && strcmp(name, "item") == 0)
            f->in_item = true; /* a result item: root > xxxSet > item */
    } else {
        snprintf(x->root, sizeof x->root, "%s", name);
    }
    x->depth++;
}

static void attach(ec2_xml_t *x, struct frame *parent, const char *name, json_t *value)
{
    if (!parent->container) {
        parent->list = strcmp(name, "item") == 0;
        parent->container = parent->list ? json_array() : json_object();
    }
    if (parent->list && strcmp(name, "item") == 0)
        json_array_append_new(parent->container, value);
    else if (!parent->list && strcmp(name, "item") != 0)
        json_object_set_new(parent->container, name, value);
    else
        json_decref(value); /* mixed list and fields: not an EC2 shape, ignored */
}

static void on_end(void *ud, const xmlChar *local, const xmlChar *prefix, const xmlChar *uri)
{
    ec2_xml_t *x = ud;
    if (x->failed || x->depth == 0)
        return;
    struct frame *f = &x->stack[x->depth - 1];
    struct frame *parent = x->depth > 1 ? &x->stack[x->depth - 2] : NULL;
    const char *text = f->text ? f->text : "";
    if (f->text)
        f->text[f->tlen] = '\0';

    if (f->in_item) {
        json_t *value;
        if (f->container) {
            value = f->container;
            f->container = NULL;
        } else if (f->has_children) {
            value = json_object(); /* children were all dropped */
        } else if (ends_with(f->name, "Set") && blank(text, f->tlen)) {
            value = json_array();
        } else {
            value = typed_value(f->name, text);
        }
        if (parent && !parent->in_item) {
            /* a complete result item */
            x->item_count++;
            if (x->required_key && !x->missing_item &&
                (!json_is_object(value) || !json_object_get(value, x->required_key)))
                x->missing_item = x->item_count;
            json_array_append_new(x->items, value);
        } else if (parent) {
            attach(x, parent, f->name, value);
        } else {
            json_decref(value);
        }
    } else if (!f->has_children && json_object_size(x->meta) < EC2_XML_MAX_META &&
               !json_object_get(x->meta, f->name)) {
        json_object_set_new(x->meta, f->name, json_stringn(text, f->tlen));
    }
    frame_clear(f);
    x->depth--;
    if (x->depth == 0)
        x->root_closed = true;
}

static void on_chars(void *ud, const xmlChar *ch, int len)
{
    ec2_xml_t *x = ud;
    if (x->failed || x->depth == 0 || len <= 0)
        return;
    struct frame *f = &x->stack[x->depth - 1];
    if (f->has_children)
        return; /* whitespace between child elements */
    if (f->tlen + (size_t)len > EC2_XML_MAX_TEXT) {
        fail_with(x, "text of <%s> longer than 1 MiB", f->name);
        return;
    }
    if (f->tlen + (size_t)len + 1 > f->tcap)
        f->text = xgrow(f->text, &f->tcap, f->tlen + (size_t)len + 1, 1);
    memcpy(f->text + f->tlen, ch, (size_t)len);
    f->tlen += (size_t)len;
}

static void on_doctype(void *ud, const xmlChar *name, const xmlChar *ext, const xmlChar *sys)
{
    fail_with(ud, "a DOCTYPE is not allowed in an AWS answer (<!DOCTYPE %s>)", (const char *)name);
}

static void on_entity_decl(void *ud, const xmlChar *name, int type, const xmlChar *pub,
                           const xmlChar *sys, xmlChar *content)
{
    fail_with(ud, "entity declaration '%s' refused", (const char *)name);
}

static xmlEntityPtr on_get_entity(void *ud, const xmlChar *name)
{
    /* Only the five predefined entities exist; libxml2 resolves those itself. */
    return xmlGetPredefinedEntity(name);
}

static void on_pi(void *ud, const xmlChar *target, const xmlChar *data)
{
}

static void on_serror(void *ud, xmlErrorPtr error)
{
    ec2_xml_t *x = ud;
    if (!error || error->level < XML_ERR_ERROR || x->failed)
        return;
    char msg[300];
    snprintf(msg, sizeof msg, "line %d: %s", error->line,
             error->message ? error->message : "parse error");
    size_t n = strlen(msg);
    while (n > 0 && (msg[n - 1] == '\n' || msg[n - 1] == ' '))
        msg[--n] = '\0';
    fail_with(x, "%s", msg);
}

ec2_xml_t *ec2_xml_new(const char *operation, const char *required_key)
{
    ec2_xml_t *x = xcalloc(1, sizeof *x);
    x->operation = xstrdup(operation ? operation : "?");
    x->required_key = required_key ? xstrdup(required_key) : NULL;
    x->items = json_array();
    x->meta = json_object();

    xmlSAXHandler sax;
    memset(&sax, 0, sizeof sax);
    sax.initialized = XML_SAX2_MAGIC;
    sax.startElementNs = on_start;
    sax.endElementNs = on_end;
    sax.characters = on_chars;
    sax.cdataBlock = on_chars;
    sax.internalSubset = on_doctype;
    sax.externalSubset = on_doctype;
    sax.entityDecl = on_entity_decl;
    sax.getEntity = on_get_entity;
    sax.processingInstruction = on_pi;
    sax.serror = on_serror;
    x->ctxt = xmlCreatePushParserCtxt(&sax, x, NULL, 0, NULL);
    if (!x->ctxt) {
        fprintf(stderr, "ec2_xml: xmlCreatePushParserCtxt: out of memory\n");
        abort();
    }
    xmlCtxtUseOptions(x->ctxt, XML_PARSE_NONET | XML_PARSE_NOERROR | XML_PARSE_NOWARNING);
    x->ctxt->replaceEntities = 0;
    x->ctxt->loadsubset = 0;
    x->ctxt->validate = 0;
    return x;
}

void ec2_xml_free(ec2_xml_t *x)
{
    if (!x)
        return;
    while (x->depth > 0)
        frame_clear(&x->stack[--x->depth]);
    if (x->ctxt) {
        if (x->ctxt->myDoc)
            xmlFreeDoc(x->ctxt->myDoc);
        xmlFreeParserCtxt(x->ctxt);
    }
    json_decref(x->items);
    json_decref(x->meta);
    free(x->operation);
    free(x->required_key);
    free(x);
}

int ec2_xml_feed(ec2_xml_t *x, const char *buf, size_t len)
{
    while (len > 0 && !x->failed) {
        int n = len > (1u << 30) ? (1 << 30) : (int)len;
        int rc = xmlParseChunk(x->ctxt, buf, n, 0);
        if (rc != 0 && !x->failed)
            fail_with(x, "parse error %d", rc);
        buf += n;
        len -= (size_t)n;
    }
    return x->failed ? -EBADMSG : 0;
}

int ec2_xml_finish(ec2_xml_t *x, char *err, size_t errlen)
{
    if (!x->failed) {
        int rc = xmlParseChunk(x->ctxt, NULL, 0, 1);
        if (rc != 0 && !x->failed)
            fail_with(x, "%s", "document is incomplete");
        if (!x->failed && !x->root_closed)
            fail_with(x, "%s", "document is incomplete");
    }
    const char *rid = ec2_xml_request_id(x);
    if (x->failed) {
        snprintf(err, errlen, "%s: truncated or malformed XML (%s)%s%s%s", x->operation, x->failure,
                 rid ? " (request id " : "", rid ? rid : "", rid ? ")" : "");
        return -EBADMSG;
    }
    if (x->missing_item) {
        snprintf(err, errlen, "%s: item %zu of the answer has no %s (request id %s)", x->operation,
                 x->missing_item, x->required_key, rid ? rid : "none");
        return -EBADMSG;
    }
    return 0;
}

json_t *ec2_xml_items(ec2_xml_t *x)
{
    return x->items;
}

json_t *ec2_xml_take_items(ec2_xml_t *x)
{
    json_t *items = x->items;
    x->items = json_array();
    return items;
}

const char *ec2_xml_meta(ec2_xml_t *x, const char *name)
{
    return json_string_value(json_object_get(x->meta, name));
}

const char *ec2_xml_root(ec2_xml_t *x)
{
    return x->root;
}

bool ec2_xml_is_error(ec2_xml_t *x)
{
    return strcmp(x->root, "Response") == 0 || strcmp(x->root, "ErrorResponse") == 0;
}

const char *ec2_xml_request_id(ec2_xml_t *x)
{
    static const char *const names[] = {"requestId", "RequestID", "RequestId", NULL};
    for (int i = 0; names[i]; i++) {
        const char *v = ec2_xml_meta(x, names[i]);
        if (v && *v)
            return v;
    }
    return NULL;
}

const char *ec2_xml_next_token(ec2_xml_t *x)
{
    const char *t = ec2_xml_meta(x, "nextToken");
    return t && *t ? t : NULL;
}

/* ec2_xml: streaming parser of EC2/STS Query XML answers into flat item nodes (and, on
 * demand, jansson items).
 *
 * DESIGN: the collector reads up to a million items per pass, so the SAX handler builds no
 * JSON: every element inside a result item becomes one node in a per-page array (name
 * interned by libxml2's dictionary, text in one growing arena, parent/child/sibling links),
 * which costs no allocation per item once the arrays have grown. Callers on the hot path
 * read the nodes (ec2_xml_item_node and friends); ec2_xml_items() and ec2_xml_item_json()
 * build the documented jansson shape from the same nodes for everybody else.
 */
#include "ec2_xml.h"

#include <errno.h>
#include <limits.h>
#include <stdarg.h>
#include <stdint.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include <libxml/parser.h>
#include <libxml/parserInternals.h>

#include "xalloc.h"

#define EC2_XML_MAX_META 256

/* The element being parsed at one depth. */
struct frame {
    const char *name; /* local name, from the parser's dictionary */
    int node;         /* its node when inside a result item, else -1 */
    bool has_children;
    bool in_item;   /* inside a result item (or the item itself) */
    bool is_item;   /* a result item */
    bool has_req;   /* a result item with a child named like the required key */
    size_t tlen;    /* text so far: in texts[depth], or in the arena from text_at in an item */
    size_t text_at; /* in an item: where the element's text starts in the arena */
};

struct node {
    const char *name; /* libxml2 dictionary string: lives as long as the parser */
    size_t text;      /* offset of the NUL-terminated text in the arena */
    int parent, first_child, last_child, next;
    bool has_children;
};

struct textbuf {
    char *p;
    size_t cap;
};

struct ec2_xml {
    char *operation;
    char *required_key;
    const char *required_name; /* required_key in the parser's dictionary */
    xmlParserCtxtPtr ctxt;
    struct frame stack[EC2_XML_MAX_DEPTH];
    struct textbuf texts[EC2_XML_MAX_DEPTH]; /* text of the open element at each depth */
    int depth;
    char root[128];
    bool root_closed;
    struct node *nodes;
    size_t n_nodes, nodes_cap;
    char *arena;
    size_t arena_len, arena_cap;
    int *items_idx; /* node of each complete result item */
    size_t n_items, items_cap;
    json_t *items; /* built from the nodes on demand */
    json_t *meta;
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

static int new_node(ec2_xml_t *x, const char *name, int parent)
{
    if (x->n_nodes + 1 > x->nodes_cap)
        x->nodes = xgrow(x->nodes, &x->nodes_cap, x->n_nodes + 1, sizeof x->nodes[0]);
    int id = (int)x->n_nodes++;
    struct node *n = &x->nodes[id];
    n->name = name;
    n->text = 0; /* the arena starts with an empty string */
    n->parent = parent;
    n->first_child = n->last_child = n->next = -1;
    n->has_children = false;
    if (parent >= 0) {
        struct node *p = &x->nodes[parent];
        if (p->last_child >= 0)
            x->nodes[p->last_child].next = id;
        else
            p->first_child = id;
        p->last_child = id;
        p->has_children = true;
    }
    return id;
}

/* Copies `len` bytes of text into the arena; returns its offset. */
static size_t arena_put(ec2_xml_t *x, const char *text, size_t len)
{
    if (x->arena_len + len + 1 > x->arena_cap)
        x->arena = xgrow(x->arena, &x->arena_cap, x->arena_len + len + 1, 1);
    size_t off = x->arena_len;
    memcpy(x->arena + off, text, len);
    x->arena[off + len] = '\0';
    x->arena_len += len + 1;
    return off;
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
    int d = x->depth;
    struct frame *f = &x->stack[d];
    *f = (struct frame){.name = name, .node = -1};
    if (d > 0) {
        struct frame *parent = &x->stack[d - 1];
        parent->has_children = true;
        if (parent->in_item) {
            /* Text before a child is whitespace between elements: the parent's text is the
             * last thing in the arena, so dropping it gives the space back. */
            if (parent->tlen)
                x->arena_len = parent->text_at;
            f->in_item = true;
            f->node = new_node(x, name, parent->node);
            if (parent->is_item && name == x->required_name)
                parent->has_req = true; /* names are interned: equal names, equal pointers */
        } else if (x->depth == 2 && strcmp(name, "item") == 0) {
            f->in_item = true; /* a result item: root > xxxSet > item */
            f->is_item = true;
            f->node = new_node(x, name, -1);
        }
        parent->tlen = 0;
        f->text_at = x->arena_len;
    } else {
        snprintf(x->root, sizeof x->root, "%s", name);
    }
    x->depth++;
}

static void on_end(void *ud, const xmlChar *local, const xmlChar *prefix, const xmlChar *uri)
{
    ec2_xml_t *x = ud;
    if (x->failed || x->depth == 0)
        return;
    struct frame *f = &x->stack[x->depth - 1];
    if (f->in_item) {
        if (!f->has_children && f->tlen > 0) {
            /* on_chars left the text at the end of the arena, with room for its NUL */
            x->nodes[f->node].text = f->text_at;
            x->arena[x->arena_len++] = '\0';
        }
        if (f->is_item) {
            /* a complete result item */
            if (x->n_items + 1 > x->items_cap)
                x->items_idx =
                    xgrow(x->items_idx, &x->items_cap, x->n_items + 1, sizeof x->items_idx[0]);
            x->items_idx[x->n_items++] = f->node;
            if (x->required_key && !x->missing_item && !f->has_req)
                x->missing_item = x->n_items;
        }
    } else if (!f->has_children && json_object_size(x->meta) < EC2_XML_MAX_META &&
               !json_object_get(x->meta, f->name)) {
        const char *text = x->texts[x->depth - 1].p;
        json_object_set_new(x->meta, f->name, json_stringn(text ? text : "", f->tlen));
    }
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
    if (f->in_item) {
        /* Straight into the arena, where on_end leaves it (plus room for the NUL). */
        if (x->arena_len + (size_t)len + 1 > x->arena_cap)
            x->arena = xgrow(x->arena, &x->arena_cap, x->arena_len + (size_t)len + 1, 1);
        memcpy(x->arena + x->arena_len, ch, (size_t)len);
        x->arena_len += (size_t)len;
        f->tlen += (size_t)len;
        return;
    }
    struct textbuf *tb = &x->texts[x->depth - 1];
    if (f->tlen + (size_t)len + 1 > tb->cap)
        tb->p = xgrow(tb->p, &tb->cap, f->tlen + (size_t)len + 1, 1);
    memcpy(tb->p + f->tlen, ch, (size_t)len);
    f->tlen += (size_t)len;
    tb->p[f->tlen] = '\0';
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

/* The SAX2 handlers of every parser. */
static void sax_init(xmlSAXHandler *sax)
{
    memset(sax, 0, sizeof *sax);
    sax->initialized = XML_SAX2_MAGIC;
    sax->startElementNs = on_start;
    sax->endElementNs = on_end;
    sax->characters = on_chars;
    sax->cdataBlock = on_chars;
    sax->internalSubset = on_doctype;
    sax->externalSubset = on_doctype;
    sax->entityDecl = on_entity_decl;
    sax->getEntity = on_get_entity;
    sax->processingInstruction = on_pi;
    sax->serror = on_serror;
}

static ec2_xml_t *alloc_parser(const char *operation, const char *required_key)
{
    ec2_xml_t *x = xcalloc(1, sizeof *x);
    x->operation = xstrdup(operation ? operation : "?");
    x->required_key = required_key ? xstrdup(required_key) : NULL;
    x->meta = json_object();
    arena_put(x, "", 0); /* offset 0: the empty text of nodes without text */
    return x;
}

/* Settings shared by the push and the memory parser, once x->ctxt exists. */
static void setup_ctxt(ec2_xml_t *x)
{
    if (x->required_key) {
        x->required_name =
            (const char *)xmlDictLookup(x->ctxt->dict, (const xmlChar *)x->required_key, -1);
        if (!x->required_name) {
            fprintf(stderr, "ec2_xml: xmlDictLookup: out of memory\n");
            abort();
        }
    }
    /* AWS answers in UTF-8 whatever the declaration says: ignoring the declared encoding
     * keeps a page's meaning independent of how the network cut it into chunks (libxml2's
     * push parser handles an unknown declared encoding differently by chunk size). */
    xmlCtxtUseOptions(x->ctxt, XML_PARSE_NONET | XML_PARSE_NOERROR | XML_PARSE_NOWARNING |
                                   XML_PARSE_IGNORE_ENC);
    x->ctxt->replaceEntities = 0;
    x->ctxt->loadsubset = 0;
    x->ctxt->validate = 0;
}

ec2_xml_t *ec2_xml_new(const char *operation, const char *required_key)
{
    ec2_xml_t *x = alloc_parser(operation, required_key);
    xmlSAXHandler sax;
    sax_init(&sax);
    x->ctxt = xmlCreatePushParserCtxt(&sax, x, NULL, 0, NULL);
    if (!x->ctxt) {
        fprintf(stderr, "ec2_xml: xmlCreatePushParserCtxt: out of memory\n");
        abort();
    }
    setup_ctxt(x);
    return x;
}

void ec2_xml_free(ec2_xml_t *x)
{
    if (!x)
        return;
    for (int i = 0; i < EC2_XML_MAX_DEPTH; i++)
        free(x->texts[i].p);
    free(x->nodes);
    free(x->arena);
    free(x->items_idx);
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

/* The verdict on a document the parser has seen all of. */
static int verdict(ec2_xml_t *x, char *err, size_t errlen)
{
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

int ec2_xml_finish(ec2_xml_t *x, char *err, size_t errlen)
{
    if (!x->failed) {
        int rc = xmlParseChunk(x->ctxt, NULL, 0, 1);
        if (rc != 0 && !x->failed)
            fail_with(x, "%s", "document is incomplete");
        if (!x->failed && !x->root_closed)
            fail_with(x, "%s", "document is incomplete");
    }
    return verdict(x, err, errlen);
}

int ec2_xml_parse_whole(const char *operation, const char *required_key, const char *buf,
                        size_t len, ec2_xml_t **out, char *err, size_t errlen)
{
    if (len == 0 || len > INT_MAX || memchr(buf, '\0', len)) {
        /* libxml2's memory parser takes neither an empty nor a huge buffer, and ends the
         * document at a NUL byte (accepting whatever follows a complete root): the push
         * parser judges these */
        ec2_xml_t *x = ec2_xml_new(operation, required_key);
        *out = x;
        ec2_xml_feed(x, buf, len);
        return ec2_xml_finish(x, err, errlen);
    }
    ec2_xml_t *x = alloc_parser(operation, required_key);
    *out = x;
    x->ctxt = xmlCreateMemoryParserCtxt(buf, (int)len);
    if (!x->ctxt) {
        fprintf(stderr, "ec2_xml: xmlCreateMemoryParserCtxt: out of memory\n");
        abort();
    }
    sax_init(x->ctxt->sax);
    x->ctxt->userData = x;
    setup_ctxt(x);
    xmlParseDocument(x->ctxt);
    if (!x->failed && !x->ctxt->wellFormed)
        fail_with(x, "%s", "malformed document");
    if (!x->failed && !x->root_closed)
        fail_with(x, "%s", "document is incomplete");
    return verdict(x, err, errlen);
}

/* Builds the jansson value of `node` (a new reference). */
static json_t *node_json(const ec2_xml_t *x, int node)
{
    const struct node *n = &x->nodes[node];
    if (!n->has_children) {
        const char *text = x->arena + n->text;
        if (ends_with(n->name, "Set") && blank(text, strlen(text)))
            return json_array();
        return typed_value(n->name, text);
    }
    /* The first child decides: <item> children make a list, named children an object;
     * children of the other kind are not an EC2 shape and are ignored. */
    bool list = strcmp(x->nodes[n->first_child].name, "item") == 0;
    json_t *v = list ? json_array() : json_object();
    for (int c = n->first_child; c >= 0; c = x->nodes[c].next) {
        bool is_item = strcmp(x->nodes[c].name, "item") == 0;
        if (list && is_item)
            json_array_append_new(v, node_json(x, c));
        else if (!list && !is_item)
            json_object_set_new(v, x->nodes[c].name, node_json(x, c));
    }
    return v;
}

json_t *ec2_xml_item_json(const ec2_xml_t *x, int node)
{
    return node_json(x, node);
}

json_t *ec2_xml_items(ec2_xml_t *x)
{
    if (!x->items) {
        x->items = json_array();
        for (size_t i = 0; i < x->n_items; i++)
            json_array_append_new(x->items, node_json(x, x->items_idx[i]));
    }
    return x->items;
}

json_t *ec2_xml_take_items(ec2_xml_t *x)
{
    json_t *items = ec2_xml_items(x);
    x->items = json_array();
    return items;
}

size_t ec2_xml_item_count(const ec2_xml_t *x)
{
    return x->n_items;
}

int ec2_xml_item_node(const ec2_xml_t *x, size_t i)
{
    return i < x->n_items ? x->items_idx[i] : -1;
}

const char *ec2_xml_node_name(const ec2_xml_t *x, int node)
{
    return x->nodes[node].name;
}

const char *ec2_xml_node_text(const ec2_xml_t *x, int node)
{
    return x->arena + x->nodes[node].text;
}

int ec2_xml_node_child(const ec2_xml_t *x, int node)
{
    return x->nodes[node].first_child;
}

int ec2_xml_node_next(const ec2_xml_t *x, int node)
{
    return x->nodes[node].next;
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

static bool xml_space(char ch)
{
    return ch == ' ' || ch == '\n' || ch == '\r' || ch == '\t';
}

/* Appends code point `cp` as UTF-8; false for one XML does not allow in a reference. */
static bool put_utf8(char *o, size_t *n, unsigned long cp)
{
    if (cp == 0 || (cp >= 0xd800 && cp <= 0xdfff) || cp > 0x10ffff || cp == 0xfffe ||
        cp == 0xffff || (cp < 0x20 && cp != 0x9 && cp != 0xa && cp != 0xd))
        return false;
    if (cp < 0x80) {
        o[(*n)++] = (char)cp;
    } else if (cp < 0x800) {
        o[(*n)++] = (char)(0xc0 | (cp >> 6));
        o[(*n)++] = (char)(0x80 | (cp & 0x3f));
    } else if (cp < 0x10000) {
        o[(*n)++] = (char)(0xe0 | (cp >> 12));
        o[(*n)++] = (char)(0x80 | ((cp >> 6) & 0x3f));
        o[(*n)++] = (char)(0x80 | (cp & 0x3f));
    } else {
        o[(*n)++] = (char)(0xf0 | (cp >> 18));
        o[(*n)++] = (char)(0x80 | ((cp >> 12) & 0x3f));
        o[(*n)++] = (char)(0x80 | ((cp >> 6) & 0x3f));
        o[(*n)++] = (char)(0x80 | (cp & 0x3f));
    }
    return true;
}

/* Unescapes the text t[0..n) of an element into a new string; NULL when it holds anything
 * but characters and the references the parser expands itself. */
static char *unescape_text(const char *t, size_t n)
{
    static const struct {
        const char *name;
        char ch;
    } predefined[] = {{"lt", '<'}, {"gt", '>'}, {"amp", '&'}, {"quot", '"'}, {"apos", '\''}};
    char *o = xmalloc(n + 1); /* a reference never expands beyond its own length */
    size_t k = 0;
    for (size_t i = 0; i < n; i++) {
        char ch = t[i];
        if (ch == '<' || ch == '\r' || ch == '\0')
            goto fail; /* markup, CDATA, comments; CR is normalised by the parser */
        if (ch != '&') {
            o[k++] = ch;
            continue;
        }
        const char *semi = memchr(t + i + 1, ';', n - i - 1);
        if (!semi || semi - (t + i) > 12)
            goto fail;
        const char *ref = t + i + 1;
        size_t rl = (size_t)(semi - ref);
        bool found = false;
        for (size_t j = 0; j < sizeof predefined / sizeof predefined[0] && !found; j++) {
            if (strlen(predefined[j].name) == rl && memcmp(ref, predefined[j].name, rl) == 0) {
                o[k++] = predefined[j].ch;
                found = true;
            }
        }
        if (!found && rl >= 2 && ref[0] == '#') {
            bool hex = ref[1] == 'x';
            size_t d = hex ? 2 : 1;
            unsigned long cp = 0;
            if (d >= rl)
                goto fail;
            for (; d < rl; d++) {
                char c = ref[d];
                int v = c >= '0' && c <= '9'          ? c - '0'
                        : hex && c >= 'a' && c <= 'f' ? c - 'a' + 10
                        : hex && c >= 'A' && c <= 'F' ? c - 'A' + 10
                                                      : -1;
                if (v < 0 || cp > 0x10ffff)
                    goto fail;
                cp = cp * (hex ? 16 : 10) + (unsigned long)v;
            }
            found = put_utf8(o, &k, cp);
        }
        if (!found)
            goto fail;
        i += rl + 1;
    }
    o[k] = '\0';
    return o;
fail:
    free(o);
    return NULL;
}

int ec2_xml_sniff_next_token(const char *body, size_t len, char **token)
{
    static const char stag[] = "<nextToken>", etag[] = "</nextToken>", empty[] = "<nextToken/>";
    const size_t sl = sizeof stag - 1, el = sizeof etag - 1, ml = sizeof empty - 1;
    *token = NULL;
    size_t n = len;
    while (n > 0 && xml_space(body[n - 1]))
        n--;
    /* The root's end tag "</XxxResponse>" (an error document's root is Response or
     * ErrorResponse: no token there). */
    if (n < 4 || body[n - 1] != '>')
        return -EAGAIN;
    size_t lt = n - 1;
    while (lt > 0 && body[lt] != '<' && n - lt < 160)
        lt--;
    if (body[lt] != '<' || body[lt + 1] != '/')
        return -EAGAIN;
    const char *root = body + lt + 2;
    size_t rootlen = n - 1 - (lt + 2);
    static const char suffix[] = "Response";
    const size_t sufl = sizeof suffix - 1;
    if (rootlen <= sufl || memcmp(root + rootlen - sufl, suffix, sufl) != 0 ||
        (rootlen == 13 && memcmp(root, "ErrorResponse", 13) == 0))
        return -EAGAIN;
    for (size_t i = 0; i < rootlen; i++)
        if (xml_space(root[i]) || root[i] == '<' || root[i] == '/')
            return -EAGAIN;
    size_t e = lt;
    while (e > 0 && xml_space(body[e - 1]))
        e--;
    if (e >= ml && memcmp(body + e - ml, empty, ml) == 0)
        return 0;
    if (e < el || memcmp(body + e - el, etag, el) != 0)
        return 0;
    size_t te = e - el, ts = te;
    while (ts > 0 && body[ts - 1] != '<' && te - ts <= EC2_XML_MAX_TEXT)
        ts--;
    if (ts == 0 || te - ts > EC2_XML_MAX_TEXT)
        return -EAGAIN;
    ts--; /* at the '<' */
    if (te - ts < sl || memcmp(body + ts, stag, sl) != 0)
        return -EAGAIN;
    ts += sl;
    if (ts == te)
        return 0;
    char *tok = unescape_text(body + ts, te - ts);
    if (!tok)
        return -EAGAIN;
    *token = tok;
    return 1;
}

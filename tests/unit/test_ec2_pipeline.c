/* Unit tests for the paged listing pipeline: the nextToken sniffed from raw bytes (entities,
 * absent and empty tokens, bodies cut anywhere, error documents, random tokens against the
 * parser), in-order delivery over many pages, and the discard and re-request of pages whose
 * parse contradicts the sniff or fails (malformed bodies, error documents with HTTP 200). */
#include "config.h"

#include "testing.h"

#include <errno.h>
#include <pthread.h>
#include <string.h>

#include <curl/curl.h>
#include <jansson.h>

#include "aws_test_server.h"
#include "collector/aws_client.h"
#include "collector/aws_creds.h"
#include "collector/ec2_ipam.h"
#include "collector/ec2_xml.h"
#include "log.h"
#include "xalloc.h"

/* ---- Sniffing ----------------------------------------------------------------------- */

static const char doc_head[] =
    "<?xml version=\"1.0\" encoding=\"UTF-8\"?>\n<GetIpamPoolCidrsResponse "
    "xmlns=\"http://ec2.amazonaws.com/doc/2016-11-15/\">\n<requestId>r1</requestId>\n"
    "<ipamPoolCidrSet><item><cidr>10.0.0.0/16</cidr><ipamPoolCidrId>c1</ipamPoolCidrId>"
    "</item></ipamPoolCidrSet>\n";

/* A page ending with `tail` (the text between the item set and the root's end tag). */
static char *doc_with(const char *tail)
{
    return xasprintf("%s%s</GetIpamPoolCidrsResponse>\n", doc_head, tail);
}

/* The token the parser finds in `doc`, or NULL (owned by the caller). */
static char *parsed_token(const char *doc)
{
    ec2_xml_t *x = ec2_xml_new("GetIpamPoolCidrs", NULL);
    char err[512];
    ec2_xml_feed(x, doc, strlen(doc));
    char *tok = NULL;
    if (ec2_xml_finish(x, err, sizeof err) == 0 && ec2_xml_next_token(x))
        tok = xstrdup(ec2_xml_next_token(x));
    ec2_xml_free(x);
    return tok;
}

static int sniff(const char *doc, char **tok)
{
    return ec2_xml_sniff_next_token(doc, strlen(doc), tok);
}

static void test_sniff_cases(void **state)
{
    static const struct {
        const char *tail;
        int rc;
        const char *token;
    } cases[] = {
        {"<nextToken>abc+/=</nextToken>", 1, "abc+/="},
        {"<nextToken>a&amp;b&lt;c&gt;d&quot;e&apos;f</nextToken>", 1, "a&b<c>d\"e'f"},
        {"<nextToken>&#65;&#x42;&#xe9;&#x20AC;&#x1F600;</nextToken>", 1,
         "AB\xc3\xa9\xe2\x82\xac\xf0\x9f\x98\x80"},
        {"<nextToken> spaced\ttoken </nextToken>\n  ", 1, " spaced\ttoken "},
        {"", 0, NULL},             /* absent: the last page */
        {"<nextToken/>", 0, NULL}, /* empty forms */
        {"<nextToken></nextToken>", 0, NULL},
        {"<nextToken>a&foo;b</nextToken>", -EAGAIN, NULL}, /* not a predefined entity */
        {"<nextToken>a&amp</nextToken>", -EAGAIN, NULL},
        {"<nextToken>&#0;</nextToken>", -EAGAIN, NULL},
        {"<nextToken>&#xD800;</nextToken>", -EAGAIN, NULL},
        {"<nextToken>&#;</nextToken>", -EAGAIN, NULL},
        {"<nextToken><![CDATA[abc]]></nextToken>", -EAGAIN, NULL},
        {"<nextToken>a<!-- c -->b</nextToken>", -EAGAIN, NULL},
        {"<nextToken>a\r\nb</nextToken>", -EAGAIN, NULL}, /* the parser normalises CR */
        {"<nextToken a=\"1\">abc</nextToken>", -EAGAIN, NULL},
        {"<other>abc</other>", 0, NULL},
    };
    for (size_t i = 0; i < sizeof cases / sizeof cases[0]; i++) {
        char *doc = doc_with(cases[i].tail);
        char *tok = (char *)"unset";
        int rc = sniff(doc, &tok);
        if (rc != cases[i].rc)
            fail_msg("case %zu (%s): %d, expected %d", i, cases[i].tail, rc, cases[i].rc);
        if (cases[i].token) {
            assert_string_equal(tok, cases[i].token);
            /* what the parser makes of the same bytes */
            char *p = parsed_token(doc);
            assert_non_null(p);
            assert_string_equal(p, tok);
            free(p);
        } else {
            assert_null(tok);
        }
        free(tok);
        free(doc);
    }
}

static void test_sniff_error_and_odd_documents(void **state)
{
    static const char *const docs[] = {
        /* EC2 error documents, even with a token-like element at the end */
        "<?xml version=\"1.0\"?><Response><Errors><Error><Code>InternalError</Code>"
        "<Message>x</Message></Error></Errors><RequestID>r</RequestID>"
        "<nextToken>t1</nextToken></Response>",
        "<ErrorResponse><Error><Code>Throttling</Code></Error><RequestId>r</RequestId>"
        "<nextToken>t1</nextToken></ErrorResponse>",
        /* not a result's root, garbage after the root, no markup at all */
        "<GetIpamPoolCidrs><nextToken>t1</nextToken></GetIpamPoolCidrs>",
        "<GetIpamPoolCidrsResponse><nextToken>t1</nextToken></GetIpamPoolCidrsResponse>junk",
        "nextToken",
        "",
        ">",
        "</>",
    };
    for (size_t i = 0; i < sizeof docs / sizeof docs[0]; i++) {
        char *tok = NULL;
        int rc = sniff(docs[i], &tok);
        if (rc != -EAGAIN)
            fail_msg("document %zu: %d, expected -EAGAIN", i, rc);
        assert_null(tok);
    }
}

/* A body cut anywhere (the token split across its end, the end tag half there) tells
 * nothing; only the whole body gives the token. */
static void test_sniff_cut_bodies(void **state)
{
    char *doc = doc_with("<nextToken>eyJ2IjoiMiIsImMiOiJ&amp;x</nextToken>");
    size_t len = strlen(doc);
    size_t full = len;
    while (full > 0 && doc[full - 1] == '\n')
        full--;
    for (size_t n = 0; n < full; n++) {
        char *tok = NULL;
        int rc = ec2_xml_sniff_next_token(doc, n, &tok);
        if (rc != -EAGAIN)
            fail_msg("cut at %zu of %zu: %d (%s)", n, len, rc, tok ? tok : "-");
    }
    for (size_t n = full; n <= len; n++) {
        char *tok = NULL;
        assert_int_equal(ec2_xml_sniff_next_token(doc, n, &tok), 1);
        assert_string_equal(tok, "eyJ2IjoiMiIsImMiOiJ&x");
        free(tok);
    }
    free(doc);
}

/* Random tokens written with random escapes: the sniff agrees with the parser. */
static void test_sniff_random_against_parser(void **state)
{
    unsigned seed = testing_seed();
    for (int round = 0; round < 2000; round++) {
        char text[512], want[512];
        size_t tl = 0, wl = 0;
        int n = 1 + (int)(testing_xorshift(&seed) % 40);
        for (int i = 0; i < n; i++) {
            unsigned cp = 0x20 + testing_xorshift(&seed) % 0x5f; /* printable ASCII */
            if (testing_xorshift(&seed) % 8 == 0)
                cp = 0xa0 + testing_xorshift(&seed) % 0x2000; /* and some beyond */
            char u[8];
            size_t ul = testing_put_utf8(u, cp);
            memcpy(want + wl, u, ul);
            wl += ul;
            unsigned how = testing_xorshift(&seed) % 4;
            if (cp == '<' || cp == '&' || how == 1)
                tl += (size_t)snprintf(text + tl, sizeof text - tl, "&#%u;", cp);
            else if (how == 2)
                tl += (size_t)snprintf(text + tl, sizeof text - tl, "&#x%X;", cp);
            else if (how == 3 && (cp == '>' || cp == '"' || cp == '\''))
                tl += (size_t)snprintf(text + tl, sizeof text - tl, "%s",
                                       cp == '>'   ? "&gt;"
                                       : cp == '"' ? "&quot;"
                                                   : "&apos;");
            else {
                memcpy(text + tl, u, ul);
                tl += ul;
            }
        }
        text[tl] = '\0';
        want[wl] = '\0';
        char *tail = xasprintf("<nextToken>%s</nextToken>", text);
        char *doc = doc_with(tail);
        char *tok = NULL;
        int rc = sniff(doc, &tok);
        char *p = parsed_token(doc);
        if (rc != 1 || !p || strcmp(tok, want) != 0 || strcmp(p, want) != 0)
            fail_msg("seed %u round %d: token '%s': sniff %d '%s', parse '%s'", testing_seed(),
                     round, text, rc, tok ? tok : "-", p ? p : "-");
        free(p);
        free(tok);
        free(doc);
        free(tail);
    }
}

/* ---- The whole-buffer parse against the push parser ------------------------------- */

/* Parses `doc` both ways and fails unless they agree: result, error class, items, meta. */
static void same_both_ways(const char *what, const char *doc, size_t len, const char *required)
{
    char e1[512] = "", e2[512] = "";
    ec2_xml_t *a = ec2_xml_new("Op", required);
    size_t off = 0;
    while (off < len) { /* in chunks, as the network delivers */
        size_t n = len - off < 4096 ? len - off : 4096;
        ec2_xml_feed(a, doc + off, n);
        off += n;
    }
    int ra = ec2_xml_finish(a, e1, sizeof e1);
    ec2_xml_t *b = NULL;
    int rb = ec2_xml_parse_whole("Op", required, doc, len, &b, e2, sizeof e2);
    assert_non_null(b);
    if (ra != rb)
        fail_msg("%s: push %d (%s), whole %d (%s)", what, ra, e1, rb, e2);
    if (ra == 0) {
        char *ja = json_dumps(ec2_xml_items(a), JSON_COMPACT);
        char *jb = json_dumps(ec2_xml_items(b), JSON_COMPACT);
        if (strcmp(ja, jb) != 0)
            fail_msg("%s: items differ", what);
        free(ja);
        free(jb);
        const char *ta = ec2_xml_next_token(a), *tb = ec2_xml_next_token(b);
        assert_true((!ta && !tb) || (ta && tb && strcmp(ta, tb) == 0));
        const char *ia = ec2_xml_request_id(a), *ib = ec2_xml_request_id(b);
        assert_true((!ia && !ib) || (ia && ib && strcmp(ia, ib) == 0));
        assert_int_equal(ec2_xml_is_error(a), ec2_xml_is_error(b));
        assert_int_equal(ec2_xml_item_count(a), ec2_xml_item_count(b));
    } else {
        /* the same class of failure, named the same way */
        bool ma = strstr(e1, "truncated or malformed XML") != NULL;
        bool mb = strstr(e2, "truncated or malformed XML") != NULL;
        if (ma != mb || (strstr(e1, "DOCTYPE") != NULL) != (strstr(e2, "DOCTYPE") != NULL) ||
            (strstr(e1, "deeper") != NULL) != (strstr(e2, "deeper") != NULL) ||
            (strstr(e1, "1 MiB") != NULL) != (strstr(e2, "1 MiB") != NULL))
            fail_msg("%s: push '%s', whole '%s'", what, e1, e2);
    }
    ec2_xml_free(a);
    ec2_xml_free(b);
}

static void test_parse_whole_same_as_push(void **state)
{
    static const char *const files[] = {
        "describe-ipam-pools.xml",
        "error.xml",
        "external-entity.xml",
        "billion-laughs.xml",
        "get-ipam-pool-allocations.xml",
        "get-ipam-pool-cidrs.xml",
        "get-ipam-resource-cidrs.xml",
        "sts-assume-role.xml",
        "sts-error.xml",
    };
    for (size_t i = 0; i < sizeof files / sizeof files[0]; i++) {
        char rel[256];
        snprintf(rel, sizeof rel, "tests/data/aws-client/%s", files[i]);
        size_t len;
        char *doc = testing_read_src(rel, &len);
        same_both_ways(files[i], doc, len, NULL);
        same_both_ways(files[i], doc, len, "ipamPoolId");
        /* every cut of the body fails both ways */
        for (size_t n = 0; n < len; n += 1 + n / 16)
            same_both_ways(files[i], doc, n, NULL);
        free(doc);
    }
    static const char *const docs[] = {
        "",
        "   ",
        "<a/>",
        "<R><s><item><x>1</x></item></s></R><R/>",
        "<R><s><item><x>1</x></item></s></R>trailing",
        "<R><s><item><x>a&amp;b&#233;</x></item><item><x><![CDATA[<c>]]></x></item></s></R>",
        "<R><s><item><x>1</x></item></s>",
        "<R><s><item><x>&undefined;</x></item></s></R>",
        "<?xml version=\"1.0\" encoding=\"ISO-8859-1\"?><R><s><item><x>\xc3\xa9</x></item></s></R>",
        "<R><s><item><x>\xff\xfe</x></item></s></R>",
        "<R><s><item><x>1</y></item></s></R>",
    };
    for (size_t i = 0; i < sizeof docs / sizeof docs[0]; i++)
        same_both_ways(docs[i], docs[i], strlen(docs[i]), NULL);
    /* NUL bytes: libxml2's memory parser would end the document at the first one */
    static const char nul_after_root[] = "<R><s><item><x>1</x></item></s></R>\0trailing";
    same_both_ways("NUL after the root", nul_after_root, sizeof nul_after_root - 1, NULL);
    static const char nul_inside[] = "<R><s><item><x>1\0</x></item></s></R>";
    same_both_ways("NUL inside", nul_inside, sizeof nul_inside - 1, NULL);
    /* limits: nesting and text size */
    char deep[200 * 3 + 1] = "";
    for (int i = 0; i < 200; i++)
        memcpy(deep + 3 * i, "<a>", 3);
    same_both_ways("deep", deep, strlen(deep), NULL);
    size_t big = EC2_XML_MAX_TEXT + 10;
    char *doc = xmalloc(big + 100);
    int off = snprintf(doc, 100, "<R><s><item><x>");
    memset(doc + off, 'a', big);
    memcpy(doc + off + big, "</x></item></s></R>", 20);
    same_both_ways("huge text", doc, strlen(doc), NULL);
    free(doc);
}

/* ---- The pipeline against a token-keyed endpoint ------------------------------------ */

#define NPAGES 40
#define NITEMS 5

enum fault {
    F_NONE,
    F_MALFORMED,  /* a broken middle, an intact end: the sniff succeeds, the parse fails */
    F_ERROR_DOC,  /* an AWS error document with HTTP 200 */
    F_WRONG_TAIL, /* a second nextToken at the end: the sniff takes a decoy token */
    F_HIDDEN,     /* the token before the items: the sniff finds none */
};

struct endpoint {
    pthread_mutex_t lock;
    enum fault fault[NPAGES + 1]; /* index NPAGES: the decoy page */
    int fault_times[NPAGES + 1];  /* how many requests of the page get the fault (-1 all) */
    int requests[NPAGES + 1];
    int total;
    char *resp[NPAGES + 1][2]; /* per page: clean and faulty answer */
};

/* The token of page k (k >= 1) as sent and as it is written in XML. */
static void token_of(int k, char *raw, size_t rawlen, char *xml, size_t xmllen)
{
    snprintf(raw, rawlen, "tok/%d+&<x>=", k);
    snprintf(xml, xmllen, "tok/%d+&amp;&lt;x&gt;=", k);
}

static char *page_answer(int k, enum fault f)
{
    char raw[64], next[64], items[NITEMS * 128] = "";
    size_t il = 0;
    for (int i = 0; i < NITEMS; i++)
        il += (size_t)snprintf(items + il, sizeof items - il,
                               "<item><cidr>10.%d.%d.0/24</cidr><ipamPoolCidrId>%s%d-%d"
                               "</ipamPoolCidrId></item>",
                               k % 256, i, k == NPAGES ? "decoy" : "c", k, i);
    if (k + 1 < NPAGES)
        token_of(k + 1, raw, sizeof raw, next, sizeof next);
    else
        next[0] = '\0';
    char *body;
    if (f == F_ERROR_DOC)
        body = xasprintf("<?xml version=\"1.0\"?><Response><Errors><Error><Code>InternalError"
                         "</Code><Message>boom</Message></Error></Errors><RequestID>r%d-err"
                         "</RequestID></Response>",
                         k);
    else if (f == F_HIDDEN)
        body = xasprintf("<GetIpamPoolCidrsResponse><requestId>r%d</requestId>"
                         "<nextToken>%s</nextToken><ipamPoolCidrSet>%s</ipamPoolCidrSet>"
                         "</GetIpamPoolCidrsResponse>",
                         k, next, items);
    else
        body = xasprintf("<GetIpamPoolCidrsResponse><requestId>r%d</requestId><ipamPoolCidrSet>%s%s"
                         "</ipamPoolCidrSet>%s%s%s%s</GetIpamPoolCidrsResponse>",
                         k, items, f == F_MALFORMED ? "<item><cidr>x</cird></item>" : "",
                         next[0] ? "<nextToken>" : "", next, next[0] ? "</nextToken>" : "",
                         f == F_WRONG_TAIL ? "<nextToken>decoy</nextToken>" : "");
    char *r = ts_response(200, "text/xml", body);
    free(body);
    return r;
}

static const char *pick(void *ud, const char *request, int n)
{
    struct endpoint *ep = ud;
    int k = 0;
    const char *t = strstr(request, "&NextToken=");
    if (t) {
        /* "tok%2F<k>%2B..." or "decoy" */
        if (strncmp(t + 11, "decoy", 5) == 0)
            k = NPAGES;
        else
            k = atoi(t + 11 + strlen("tok%2F"));
    }
    if (k < 0 || k > NPAGES)
        k = 0;
    pthread_mutex_lock(&ep->lock);
    int seen = ep->requests[k]++;
    ep->total++;
    bool faulty = ep->fault[k] != F_NONE && (ep->fault_times[k] < 0 || seen < ep->fault_times[k]);
    pthread_mutex_unlock(&ep->lock);
    return ep->resp[k][faulty];
}

struct run {
    struct test_server ts;
    struct endpoint ep;
    aws_creds_t *creds;
    aws_client_t *c;
    json_t *ids; /* ipamPoolCidrId of every item handed out, in order */
    int stop_at; /* item number at which on_node stops the listing (0: never) */
};

static void run_up(struct run *r)
{
    memset(r, 0, sizeof *r);
    pthread_mutex_init(&r->ep.lock, NULL);
    for (int k = 0; k <= NPAGES; k++) {
        r->ep.resp[k][0] = page_answer(k, F_NONE);
        r->ep.resp[k][1] = NULL;
    }
    r->ids = json_array();
}

/* Sets the fault of page k for its first `times` requests (-1: all). Before run_go. */
static void run_fault(struct run *r, int k, enum fault f, int times)
{
    r->ep.fault[k] = f;
    r->ep.fault_times[k] = times;
    free(r->ep.resp[k][1]);
    r->ep.resp[k][1] = page_answer(k, f);
}

static int on_node(void *ctx, const ec2_xml_t *x, int node)
{
    struct run *r = ctx;
    for (int c = ec2_xml_node_child(x, node); c >= 0; c = ec2_xml_node_next(x, c))
        if (strcmp(ec2_xml_node_name(x, c), "ipamPoolCidrId") == 0)
            json_array_append_new(r->ids, json_string(ec2_xml_node_text(x, c)));
    if (r->stop_at && (int)json_array_size(r->ids) == r->stop_at)
        return 7;
    return 0;
}

static int run_go(struct run *r, int attempts, struct ec2_ipam_stats *st, char *err, size_t errlen)
{
    for (int k = 0; k <= NPAGES; k++)
        if (!r->ep.resp[k][1])
            r->ep.resp[k][1] = page_answer(k, F_NONE);
    ts_start_pick(&r->ts, NULL, 0, pick, &r->ep);
    char url[64], cerr[256];
    snprintf(url, sizeof url, "http://127.0.0.1:%d", r->ts.port);
    struct aws_settings s = {.region = "eu-central-1",
                             .endpoint_url = url,
                             .max_attempts = attempts,
                             .rng_seed = 7,
                             .timeout_ms = 5000};
    r->creds = aws_creds_new_static("AKIDTESTKEY1234", "secretsecretsecret", NULL);
    r->c = aws_client_new(&s, r->creds, cerr, sizeof cerr);
    assert_non_null(r->c);
    return ec2_ipam_list_nodes(r->c, EC2_GET_IPAM_POOL_CIDRS, NULL, "ipam-pool-0abc", NULL, 5,
                               on_node, r, st, err, errlen);
}

static void run_down(struct run *r)
{
    aws_client_free(r->c);
    aws_creds_free(r->creds);
    ts_stop(&r->ts);
    for (int k = 0; k <= NPAGES; k++) {
        free(r->ep.resp[k][0]);
        free(r->ep.resp[k][1]);
    }
    pthread_mutex_destroy(&r->ep.lock);
    json_decref(r->ids);
}

/* The ids of pages 0..pages-1 were handed out once each, in order, and nothing else. */
static void assert_in_order(struct run *r, int pages)
{
    if (json_array_size(r->ids) != (size_t)pages * NITEMS)
        fail_msg("%zu items handed out, expected %d", json_array_size(r->ids), pages * NITEMS);
    for (int k = 0; k < pages; k++)
        for (int i = 0; i < NITEMS; i++) {
            char want[32];
            snprintf(want, sizeof want, "c%d-%d", k, i);
            const char *got = json_string_value(json_array_get(r->ids, (size_t)(k * NITEMS + i)));
            if (strcmp(got, want) != 0)
                fail_msg("item %d: %s, expected %s", k * NITEMS + i, got, want);
        }
}

/* run_go() with 3 attempts that must succeed; the listing's counts in *st. */
static void run_ok(struct run *r, struct ec2_ipam_stats *st)
{
    char err[512] = "";
    if (run_go(r, 3, st, err, sizeof err) != 0)
        fail_msg("listing failed: %s", err);
}

static void test_pipeline_in_order(void **state)
{
    struct run r;
    run_up(&r);
    struct ec2_ipam_stats st;
    run_ok(&r, &st);
    assert_in_order(&r, NPAGES);
    assert_int_equal(st.pages, NPAGES);
    assert_int_equal(st.items, NPAGES * NITEMS);
    assert_int_equal(r.ep.total, NPAGES); /* nothing requested twice */
    for (int k = 0; k < NPAGES; k++)
        assert_int_equal(r.ep.requests[k], 1);
    /* the token went out unescaped and percent-encoded */
    assert_non_null(strstr(r.ts.requests[1], "&NextToken=tok%2F1%2B%26%3Cx%3E%3D"));
    struct aws_client_stats cs;
    aws_client_get_stats(r.c, &cs);
    assert_int_equal(cs.retries, 0);
    run_down(&r);
}

static void test_pipeline_discards_and_rerequests(void **state)
{
    struct run r;
    run_up(&r);
    /* Faulty first answers at least 6 pages after the last page that makes the listing
     * drop what it fetched ahead (4 waiting + 1 in flight), so that each of them is surely
     * handed over once before it is re-requested. */
    run_fault(&r, 3, F_WRONG_TAIL, -1); /* every answer: the parse's token wins */
    run_fault(&r, 5, F_MALFORMED, 1);
    run_fault(&r, 12, F_ERROR_DOC, 1);
    run_fault(&r, 18, F_HIDDEN, -1);
    run_fault(&r, 20, F_MALFORMED, 1);
    run_fault(&r, 27, F_MALFORMED, 1);
    struct ec2_ipam_stats st;
    run_ok(&r, &st);
    assert_in_order(&r, NPAGES);
    assert_int_equal(st.pages, NPAGES);
    /* each failed page was asked for again, once */
    assert_int_equal(r.ep.requests[5], 2);
    assert_int_equal(r.ep.requests[12], 2);
    assert_int_equal(r.ep.requests[20], 2);
    assert_int_equal(r.ep.requests[27], 2);
    assert_int_equal(r.ep.requests[3], 1);
    assert_int_equal(r.ep.requests[18], 1);
    assert_true(r.ep.requests[NPAGES] <= 1); /* the decoy: at most requested and dropped */
    struct aws_client_stats cs;
    aws_client_get_stats(r.c, &cs);
    assert_int_equal(cs.retries, 4); /* the four re-requests were retries */
    assert_int_equal(cs.quota_tokens, 500);
    run_down(&r);
}

static void test_pipeline_gives_up(void **state)
{
    struct testing_capture cap;
    testing_capture_begin(&cap);
    log_set_level(LOG_LEVEL_DEBUG);
    struct run r;
    run_up(&r);
    run_fault(&r, 6, F_MALFORMED, -1);
    char err[512] = "";
    struct ec2_ipam_stats st;
    int rc = run_go(&r, 3, &st, err, sizeof err);
    char *log = testing_capture_end(&cap);
    log_set_level(LOG_LEVEL_INFO);
    assert_int_equal(rc, -EBADMSG);
    if (!strstr(err, "ec2 GetIpamPoolCidrs: truncated or malformed XML") ||
        !strstr(err, "(request id r6)") || !strstr(err, "after 3 attempts"))
        fail_msg("error text: %s", err);
    if (!strstr(log, "(request id r6); requesting the page again"))
        fail_msg("log: %s", log);
    free(log);
    assert_in_order(&r, 6); /* pages before the failed one only */
    assert_int_equal(st.pages, 6);
    assert_int_equal(r.ep.requests[6], 3); /* max_attempts in all */
    struct aws_client_stats cs;
    aws_client_get_stats(r.c, &cs);
    assert_int_equal(cs.quota_tokens, 490);
    run_down(&r);

    /* One attempt allowed: the first unusable answer ends the listing. */
    run_up(&r);
    run_fault(&r, 2, F_ERROR_DOC, -1);
    rc = run_go(&r, 1, &st, err, sizeof err);
    assert_int_equal(rc, -EBADMSG);
    if (!strstr(err, "error document with HTTP 200: InternalError (request id r2-err)"))
        fail_msg("error text: %s", err);
    assert_int_equal(r.ep.requests[2], 1);
    assert_in_order(&r, 2);
    run_down(&r);
}

static void test_pipeline_stop(void **state)
{
    struct run r;
    run_up(&r);
    r.stop_at = 17 * NITEMS + 2;
    char err[512] = "";
    int rc = run_go(&r, 3, NULL, err, sizeof err);
    assert_int_equal(rc, 7);
    assert_int_equal(json_array_size(r.ids), 17 * NITEMS + 2);
    /* bounded look-ahead: a few pages at most were requested beyond the stop */
    if (r.ep.total > 18 + 6)
        fail_msg("%d pages requested", r.ep.total);
    run_down(&r);
}

int main(void)
{
    curl_global_init(CURL_GLOBAL_DEFAULT);
    log_init("test_ec2_pipeline", LOG_LEVEL_INFO, true, false);
    const struct CMUnitTest tests[] = {
        cmocka_unit_test(test_sniff_cases),
        cmocka_unit_test(test_sniff_error_and_odd_documents),
        cmocka_unit_test(test_sniff_cut_bodies),
        cmocka_unit_test(test_sniff_random_against_parser),
        cmocka_unit_test(test_parse_whole_same_as_push),
        cmocka_unit_test(test_pipeline_in_order),
        cmocka_unit_test(test_pipeline_discards_and_rerequests),
        cmocka_unit_test(test_pipeline_gives_up),
        cmocka_unit_test(test_pipeline_stop),
    };
    int rc = cmocka_run_group_tests(tests, NULL, NULL);
    curl_global_cleanup();
    return rc;
}

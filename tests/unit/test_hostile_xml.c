/* Unit tests: hostile EC2/STS XML answers through ec2_xml, fed as curl hands a body over.
 *
 * Entity expansion, external entities and XInclude must be neither expanded nor fetched,
 * deep nesting and 50 MB text, CDATA, comments, attributes and names must fail with a
 * reason that names the call, and every case must keep the parser's peak RSS growth under
 * HOSTILE_BOUND_KB (64 MiB) while 50 MB stream through it. */
#include <errno.h>
#include <stdbool.h>
#include <stdlib.h>
#include <string.h>

#include <jansson.h>

#include "collector/ec2_xml.h"
#include "hostile.h"
#include "testing.h"

#define MB (1024u * 1024u)

/* A document streamed in 64 KiB chunks: head, `n` bytes of `fill`, tail. */
struct stream {
    const char *head;
    char fill;
    size_t n;
    const char *tail;
    size_t fed; /* bytes the parser took before it refused the rest */
};

static int feed_stream(ec2_xml_t *x, struct stream *s)
{
    static char chunk[64 * 1024];
    memset(chunk, s->fill, sizeof chunk);
    int rc = ec2_xml_feed(x, s->head, strlen(s->head));
    s->fed = strlen(s->head);
    for (size_t left = s->n; rc == 0 && left > 0;) {
        size_t k = left < sizeof chunk ? left : sizeof chunk;
        rc = ec2_xml_feed(x, chunk, k);
        left -= k;
        s->fed += k;
    }
    if (rc == 0)
        rc = ec2_xml_feed(x, s->tail, strlen(s->tail));
    return rc;
}

/* Parses the stream as a DescribeIpamPools answer; the items' JSON and meta data are
 * checked for text that only a fetched or expanded entity could bring. */
static int parse_stream(void *arg, char *err, size_t errlen)
{
    struct stream *s = arg;
    ec2_xml_t *x = ec2_xml_new("ec2 DescribeIpamPools", "ipamPoolId");
    feed_stream(x, s);
    int rc = ec2_xml_finish(x, err, errlen);
    char *items = json_dumps(ec2_xml_items(x), JSON_COMPACT);
    const char *code = ec2_xml_meta(x, "Code");
    if ((items && (strstr(items, "root:") || strstr(items, "lollollol"))) ||
        (code && strstr(code, "root:")) || strstr(err, "root:"))
        rc = -EEXIST; /* leaked */
    free(items);
    ec2_xml_free(x);
    return rc;
}

static void run_doc(const char *name, const char *doc, struct hostile_result *res)
{
    struct stream s = {doc, ' ', 0, "", 0};
    hostile_run(name, parse_stream, &s, res);
}

static void test_billion_laughs(void **state)
{
    (void)state;
    static const char doc[] =
        "<?xml version=\"1.0\"?>\n"
        "<!DOCTYPE lolz [\n"
        " <!ENTITY lol \"lol\">\n"
        " <!ENTITY lol1 \"&lol;&lol;&lol;&lol;&lol;&lol;&lol;&lol;&lol;&lol;\">\n"
        " <!ENTITY lol2 \"&lol1;&lol1;&lol1;&lol1;&lol1;&lol1;&lol1;&lol1;&lol1;&lol1;\">\n"
        " <!ENTITY lol3 \"&lol2;&lol2;&lol2;&lol2;&lol2;&lol2;&lol2;&lol2;&lol2;&lol2;\">\n"
        " <!ENTITY lol4 \"&lol3;&lol3;&lol3;&lol3;&lol3;&lol3;&lol3;&lol3;&lol3;&lol3;\">\n"
        " <!ENTITY lol5 \"&lol4;&lol4;&lol4;&lol4;&lol4;&lol4;&lol4;&lol4;&lol4;&lol4;\">\n"
        " <!ENTITY lol6 \"&lol5;&lol5;&lol5;&lol5;&lol5;&lol5;&lol5;&lol5;&lol5;&lol5;\">\n"
        " <!ENTITY lol7 \"&lol6;&lol6;&lol6;&lol6;&lol6;&lol6;&lol6;&lol6;&lol6;&lol6;\">\n"
        " <!ENTITY lol8 \"&lol7;&lol7;&lol7;&lol7;&lol7;&lol7;&lol7;&lol7;&lol7;&lol7;\">\n"
        " <!ENTITY lol9 \"&lol8;&lol8;&lol8;&lol8;&lol8;&lol8;&lol8;&lol8;&lol8;&lol8;\">\n"
        "]>\n"
        "<DescribeIpamPoolsResponse><requestId>r-1</requestId><ipamPoolSet><item>"
        "<ipamPoolId>ipam-pool-1</ipamPoolId><description>&lol9;</description>"
        "</item></ipamPoolSet></DescribeIpamPoolsResponse>";
    struct hostile_result res;
    run_doc("billion laughs", doc, &res);
    assert_int_equal(res.rc, -EBADMSG);
    hostile_assert_err("billion laughs", &res, "ec2 DescribeIpamPools");
    hostile_assert_err("billion laughs", &res, "DOCTYPE");
    hostile_assert_bounded("billion laughs", &res, 16L * 1024);
}

static void test_external_entities(void **state)
{
    (void)state;
    static const struct {
        const char *name, *doc, *says;
    } cases[] = {
        {"external entity",
         "<?xml version=\"1.0\"?>\n<!DOCTYPE r [<!ENTITY xxe SYSTEM \"file:///etc/passwd\">]>\n"
         "<DescribeIpamPoolsResponse><ipamPoolSet><item><ipamPoolId>p</ipamPoolId>"
         "<description>&xxe;</description></item></ipamPoolSet></DescribeIpamPoolsResponse>",
         "DOCTYPE"},
        {"external DTD",
         "<?xml version=\"1.0\"?>\n<!DOCTYPE r SYSTEM \"http://127.0.0.1:9/evil.dtd\">\n"
         "<DescribeIpamPoolsResponse><ipamPoolSet/></DescribeIpamPoolsResponse>",
         "DOCTYPE"},
        {"parameter entity",
         "<?xml version=\"1.0\"?>\n<!DOCTYPE r [<!ENTITY % p SYSTEM \"file:///etc/passwd\"> %p;]>\n"
         "<DescribeIpamPoolsResponse><ipamPoolSet/></DescribeIpamPoolsResponse>",
         "DOCTYPE"},
        {"undeclared entity",
         "<DescribeIpamPoolsResponse><ipamPoolSet><item><ipamPoolId>p</ipamPoolId>"
         "<description>&xxe;</description></item></ipamPoolSet></DescribeIpamPoolsResponse>",
         "xxe"},
    };
    for (size_t i = 0; i < sizeof cases / sizeof cases[0]; i++) {
        struct hostile_result res;
        run_doc(cases[i].name, cases[i].doc, &res);
        if (res.rc != -EBADMSG)
            fail_msg("%s: rc %d (%s)", cases[i].name, res.rc, res.err);
        hostile_assert_err(cases[i].name, &res, "ec2 DescribeIpamPools");
        hostile_assert_err(cases[i].name, &res, cases[i].says);
        hostile_assert_bounded(cases[i].name, &res, HOSTILE_BOUND_KB);
    }
    /* XInclude is not processed: the element is kept as an (unknown) empty field. */
    struct hostile_result res;
    run_doc("xinclude",
            "<DescribeIpamPoolsResponse><ipamPoolSet><item><ipamPoolId>p</ipamPoolId>"
            "<description><xi:include xmlns:xi=\"http://www.w3.org/2001/XInclude\" "
            "href=\"file:///etc/passwd\" parse=\"text\"/></description></item></ipamPoolSet>"
            "</DescribeIpamPoolsResponse>",
            &res);
    assert_int_equal(res.rc, 0);
}

static void test_deep_nesting(void **state)
{
    (void)state;
    size_t levels = 100000;
    char *doc = malloc(levels * 3 + 64);
    assert_non_null(doc);
    size_t off = (size_t)snprintf(doc, 64, "<DescribeIpamPoolsResponse>");
    for (size_t i = 0; i < levels; i++, off += 3)
        memcpy(doc + off, "<a>", 3);
    doc[off] = '\0';
    struct hostile_result res;
    run_doc("100k nested elements", doc, &res);
    free(doc);
    assert_int_equal(res.rc, -EBADMSG);
    hostile_assert_err("100k nested elements", &res, "nested deeper than 64 levels");
    hostile_assert_bounded("100k nested elements", &res, HOSTILE_BOUND_KB);
}

/* 50 MB streamed through the parser in every place a long run of bytes can sit. */
static void test_50mb(void **state)
{
    (void)state;
    static const char open_item[] =
        "<DescribeIpamPoolsResponse><requestId>r-50</requestId><ipamPoolSet><item>"
        "<ipamPoolId>ipam-pool-1</ipamPoolId>";
    static const char close_item[] = "</item></ipamPoolSet></DescribeIpamPoolsResponse>";
    char head[512], tail[512];
    static const struct {
        const char *name, *before, *after;
        char fill;
        const char *says; /* NULL: the page is fine */
    } cases[] = {
        {"50 MB text node", "<description>", "</description>", 'a', "longer than 1 MiB"},
        {"50 MB CDATA", "<description><![CDATA[", "]]></description>", 'b', "line 1"},
        {"50 MB leading white space", "<description>", "x</description>", ' ', "longer than 1 MiB"},
        {"50 MB comment", "<!--", "-->", 'c', "line 1"},
        {"50 MB attribute", "<description a=\"", "\">x</description>", 'd', "line 1"},
        {"50 MB element name", "<e", "/>", 'e', "line 1"},
        {"50 MB white space between fields", "", "", '\n', NULL},
    };
    for (size_t i = 0; i < sizeof cases / sizeof cases[0]; i++) {
        snprintf(head, sizeof head, "%s%s", open_item, cases[i].before);
        snprintf(tail, sizeof tail, "%s%s", cases[i].after, close_item);
        struct stream s = {head, cases[i].fill, 50u * MB, tail, 0};
        struct hostile_result res;
        hostile_run(cases[i].name, parse_stream, &s, &res);
        if (cases[i].says) {
            if (res.rc != -EBADMSG)
                fail_msg("%s: rc %d (%s)", cases[i].name, res.rc, res.err);
            hostile_assert_err(cases[i].name, &res, "ec2 DescribeIpamPools: ");
            hostile_assert_err(cases[i].name, &res, cases[i].says);
            hostile_assert_err(cases[i].name, &res, "request id r-50");
        } else if (res.rc != 0) {
            fail_msg("%s: rc %d (%s)", cases[i].name, res.rc, res.err);
        }
        hostile_assert_bounded(cases[i].name, &res, HOSTILE_BOUND_KB);
    }
}

int main(void)
{
    const struct CMUnitTest tests[] = {
        cmocka_unit_test(test_billion_laughs),
        cmocka_unit_test(test_external_entities),
        cmocka_unit_test(test_deep_nesting),
        cmocka_unit_test(test_50mb),
    };
    return cmocka_run_group_tests_name("hostile_xml", tests, NULL, NULL);
}

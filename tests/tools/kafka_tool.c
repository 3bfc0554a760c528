/* kafka_tool: the project's own Kafka producer and consumer for tests, built on
 * common/kafka.c so that tests exercise the same code as the daemons.
 *
 *   kafka_tool produce -b BOOTSTRAP -t TOPIC [-X key=value]... < lines
 *       one message per line, "key<TAB>value" (no TAB: no key); waits for every delivery
 *       report; exit 0 only if all were delivered.
 *   kafka_tool consume -b BOOTSTRAP -t TOPIC -g GROUP -n COUNT [--timeout S] [-X k=v]...
 *       prints "partition<TAB>offset<TAB>key<TAB>value" per message, commits the offsets;
 *       exit 0 once COUNT messages were read, 1 on timeout.
 * Exit 2 on usage or configuration errors.
 */
#define LOG_MODULE "kafka_tool"
#include "config.h"

#include <errno.h>
#include <getopt.h>
#include <signal.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include "kafka.h"
#include "log.h"
#include "xalloc.h"

struct tool_opts {
    const char *bootstrap;
    const char *topic;
    const char *group;
    long count;
    long timeout_s;
    struct config_kv *props;
    size_t nprops, cap;
};

static volatile sig_atomic_t g_stop;

static void on_signal(int sig)
{
    (void)sig;
    g_stop = 1;
}

static void usage(FILE *out)
{
    fprintf(out, "usage: kafka_tool produce -b BOOTSTRAP -t TOPIC [-X key=value]... < lines\n"
                 "       kafka_tool consume -b BOOTSTRAP -t TOPIC -g GROUP -n COUNT "
                 "[--timeout S] [-X key=value]...\n");
}

static void add_prop(struct tool_opts *o, const char *key, const char *value)
{
    o->props = xgrow(o->props, &o->cap, o->nprops + 1, sizeof *o->props);
    o->props[o->nprops++] = (struct config_kv){xstrdup(key), xstrdup(value), "-X", 0};
}

static void free_props(struct tool_opts *o)
{
    for (size_t i = 0; i < o->nprops; i++) {
        free(o->props[i].key);
        free(o->props[i].value);
    }
    free(o->props);
}

/* Returns 0, or 2 on a usage error (printed). */
static int parse(int argc, char **argv, struct tool_opts *o)
{
    static const struct option opts[] = {
        {"timeout", required_argument, NULL, 'T'},
        {"help", no_argument, NULL, 'h'},
        {NULL, 0, NULL, 0},
    };
    int c;
    optind = 1;
    o->timeout_s = 30;
    while ((c = getopt_long(argc, argv, "b:t:g:n:X:v", opts, NULL)) != -1) {
        char *end;
        switch (c) {
        case 'b':
            o->bootstrap = optarg;
            break;
        case 't':
            o->topic = optarg;
            break;
        case 'g':
            o->group = optarg;
            break;
        case 'n':
            o->count = strtol(optarg, &end, 10);
            if (*end || o->count < 0)
                return 2;
            break;
        case 'T':
            o->timeout_s = strtol(optarg, &end, 10);
            if (*end || o->timeout_s < 1)
                return 2;
            break;
        case 'X': {
            char *eq = strchr(optarg, '=');
            if (!eq || eq == optarg) {
                fprintf(stderr, "kafka_tool: -X wants key=value, not '%s'\n", optarg);
                return 2;
            }
            *eq = '\0';
            add_prop(o, optarg, eq + 1);
            *eq = '=';
            break;
        }
        case 'v':
            log_set_level(LOG_LEVEL_DEBUG);
            break;
        default:
            return 2;
        }
    }
    if (!o->bootstrap || !o->topic)
        return 2;
    /* The bootstrap list goes first so that a -X bootstrap.servers wins. */
    struct config_kv bs = {xstrdup("bootstrap.servers"), xstrdup(o->bootstrap), "-b", 0};
    o->props = xgrow(o->props, &o->cap, o->nprops + 1, sizeof *o->props);
    memmove(o->props + 1, o->props, o->nprops * sizeof *o->props);
    o->props[0] = bs;
    o->nprops++;
    return 0;
}

struct produce_state {
    uint64_t failed;
};

static void on_delivery(void *ctx, void *opaque, int err, const char *errstr, int32_t partition,
                        int64_t offset)
{
    struct produce_state *st = ctx;
    (void)partition;
    (void)offset;
    if (err) {
        st->failed++;
        fprintf(stderr, "kafka_tool: line %lu not delivered: %s\n",
                (unsigned long)(uintptr_t)opaque, errstr);
    }
}

static int run_produce(struct tool_opts *o)
{
    char err[1024];
    struct produce_state st = {0};
    kafka_producer_t *p =
        kafka_producer_new(o->props, o->nprops, on_delivery, &st, err, sizeof err);
    if (!p) {
        fprintf(stderr, "kafka_tool: %s\n", err);
        return 2;
    }
    char *line = NULL;
    size_t cap = 0;
    ssize_t len;
    unsigned long lineno = 0;
    int status = 0;
    while (!g_stop && (len = getline(&line, &cap, stdin)) >= 0) {
        lineno++;
        if (len > 0 && line[len - 1] == '\n')
            line[--len] = '\0';
        char *tab = memchr(line, '\t', (size_t)len);
        const char *key = NULL, *value = line;
        size_t keylen = 0, vlen = (size_t)len;
        if (tab) {
            key = line;
            keylen = (size_t)(tab - line);
            value = tab + 1;
            vlen = (size_t)len - keylen - 1;
        }
        int rc = kafka_producer_produce(p, o->topic, key, keylen, value, vlen,
                                        (void *)(uintptr_t)lineno);
        if (rc < 0) {
            fprintf(stderr, "kafka_tool: line %lu: produce: %s\n", lineno, strerror(-rc));
            status = 1;
            break;
        }
        kafka_producer_poll(p, 0);
    }
    free(line);
    /* Wait for every report: message.timeout.ms bounds how long that can take. */
    size_t left = 0;
    int rc;
    while ((rc = kafka_producer_flush(p, 1000, &left)) == -ETIMEDOUT && !g_stop)
        ;
    if (rc == -EIO) {
        char text[512];
        kafka_producer_fatal(p, text, sizeof text);
        fprintf(stderr, "kafka_tool: fatal: %s\n", text);
        status = 1;
    }
    uint64_t delivered = kafka_producer_delivered(p), failed = kafka_producer_failed(p);
    kafka_producer_close(p, 1000);
    fprintf(stderr, "kafka_tool: %lu lines, %llu delivered, %llu failed\n", lineno,
            (unsigned long long)delivered, (unsigned long long)failed);
    if (failed || st.failed || delivered != lineno)
        status = 1;
    return status;
}

/* Next offset to commit per partition seen. */
struct consume_state {
    int64_t *next;
    size_t cap;
};

static int run_consume(struct tool_opts *o)
{
    char err[1024];
    if (!o->group || o->count <= 0) {
        usage(stderr);
        return 2;
    }
    struct config_kv group = {"group.id", (char *)o->group, "-g", 0};
    struct config_kv reset = {"auto.offset.reset", "earliest", "default", 0};
    /* Defaults first so the user's -X properties override them. */
    struct config_kv *props = xcalloc(o->nprops + 2, sizeof *props);
    props[0] = reset;
    memcpy(props + 1, o->props, o->nprops * sizeof *props);
    props[o->nprops + 1] = group;
    const char *topics[] = {o->topic};
    kafka_consumer_t *c =
        kafka_consumer_new(props, o->nprops + 2, topics, 1, NULL, NULL, err, sizeof err);
    free(props);
    if (!c) {
        fprintf(stderr, "kafka_tool: %s\n", err);
        return 2;
    }
    struct consume_state st = {NULL, 0};
    long got = 0;
    int status = 0;
    int64_t deadline = log_now_ms() + o->timeout_s * 1000;
    while (got < o->count && !g_stop && log_now_ms() < deadline) {
        rd_kafka_message_t *rkm;
        if (kafka_consumer_poll(c, 100, &rkm) < 0) {
            status = 1;
            break;
        }
        if (!rkm)
            continue;
        /* fwrite: keys and values are bytes, not C strings. */
        printf("%d\t%lld\t", (int)rkm->partition, (long long)rkm->offset);
        if (rkm->key_len)
            fwrite(rkm->key, 1, rkm->key_len, stdout);
        putchar('\t');
        if (rkm->len)
            fwrite(rkm->payload, 1, rkm->len, stdout);
        putchar('\n');
        if (rkm->partition >= 0) {
            size_t old = st.cap;
            st.next = xgrow(st.next, &st.cap, (size_t)rkm->partition + 1, sizeof *st.next);
            for (size_t i = old; i < st.cap; i++)
                st.next[i] = -1;
            st.next[rkm->partition] = rkm->offset + 1;
        }
        kafka_message_free(rkm);
        got++;
    }
    fflush(stdout);
    struct kafka_commit *offs = xcalloc(st.cap + 1, sizeof *offs);
    size_t n = 0;
    for (size_t i = 0; i < st.cap; i++)
        if (st.next[i] >= 0)
            offs[n++] = (struct kafka_commit){o->topic, (int32_t)i, st.next[i], 0};
    if (kafka_consumer_commit_offsets(c, offs, n) < 0)
        status = 1;
    free(offs);
    kafka_consumer_free(c);
    free(st.next);
    if (got < o->count) {
        fprintf(stderr, "kafka_tool: %ld of %ld messages before the timeout\n", got, o->count);
        status = 1;
    }
    return status;
}

int main(int argc, char **argv)
{
    log_init("kafka_tool", LOG_LEVEL_WARN, true, false);
    if (argc < 2) {
        usage(stderr);
        return 2;
    }
    struct sigaction sa;
    memset(&sa, 0, sizeof sa);
    sa.sa_handler = on_signal;
    sigaction(SIGINT, &sa, NULL);
    sigaction(SIGTERM, &sa, NULL);
    sa.sa_handler = SIG_IGN;
    sigaction(SIGPIPE, &sa, NULL);

    struct tool_opts o = {0};
    int status;
    if (parse(argc - 1, argv + 1, &o) != 0) {
        usage(stderr);
        status = 2;
    } else if (strcmp(argv[1], "produce") == 0) {
        status = run_produce(&o);
    } else if (strcmp(argv[1], "consume") == 0) {
        status = run_consume(&o);
    } else {
        usage(stderr);
        status = 2;
    }
    free_props(&o);
    return status;
}

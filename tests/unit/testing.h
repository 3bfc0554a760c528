/* testing: includes and helpers every cmocka unit test shares. */
#ifndef IPAMWATCH_TESTING_H
#define IPAMWATCH_TESTING_H

#include <arpa/inet.h>
#include <dirent.h>
#include <errno.h>
#include <netinet/in.h>
#include <setjmp.h>
#include <stdarg.h>
#include <stddef.h>
#include <stdint.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/socket.h>
#include <sys/stat.h>
#include <time.h>
#include <unistd.h>
#include <cmocka.h>

/* Seed for randomized tests: IPAMWATCH_SEED from the environment, else time-based. The seed
 * is printed as a TAP comment so a failing run can be replayed. */
static inline unsigned testing_seed(void)
{
    const char *s = getenv("IPAMWATCH_SEED");
    unsigned seed = s ? (unsigned)strtoul(s, NULL, 10) : (unsigned)time(NULL);
    printf("# seed %u (replay with IPAMWATCH_SEED=%u)\n", seed, seed);
    return seed;
}

/* One xorshift32 step of *state (seed it non-zero, e.g. testing_seed() | 1): a sequence
 * that the printed seed replays. */
static inline unsigned testing_xorshift(unsigned *state)
{
    *state ^= *state << 13;
    *state ^= *state >> 17;
    *state ^= *state << 5;
    return *state;
}

/* What the code under test writes to stderr (fd 2), caught in an anonymous temporary file
 * between testing_capture_begin() and testing_capture_end(). */
struct testing_capture {
    FILE *tmp;
    int saved;
};

static inline void testing_capture_begin(struct testing_capture *c)
{
    fflush(stderr);
    c->tmp = tmpfile();
    assert_non_null(c->tmp);
    c->saved = dup(2);
    assert_true(c->saved >= 0);
    assert_true(dup2(fileno(c->tmp), 2) >= 0);
}

/* Puts stderr back. Returns what was written to it meanwhile, NUL-terminated, owned by the
 * caller (free). */
static inline char *testing_capture_end(struct testing_capture *c)
{
    fflush(stderr);
    dup2(c->saved, 2);
    close(c->saved);
    fseek(c->tmp, 0, SEEK_END);
    long size = ftell(c->tmp);
    assert_true(size >= 0);
    rewind(c->tmp);
    char *text = calloc(1, (size_t)size + 1);
    assert_non_null(text);
    size_t got = fread(text, 1, (size_t)size, c->tmp);
    text[got] = '\0';
    fclose(c->tmp);
    return text;
}

/* The source tree's top folder: $top_srcdir (set by make check), else TOP_SRCDIR where the
 * test is built with it, else ".". */
static inline const char *testing_srcdir(void)
{
    const char *s = getenv("top_srcdir");
#ifdef TOP_SRCDIR
    return s && *s ? s : TOP_SRCDIR;
#else
    return s && *s ? s : ".";
#endif
}

/* Reads the whole file at path; fails the test when it cannot be opened. Returns its bytes,
 * NUL-terminated, owned by the caller (free); the length in *len. */
static inline char *testing_read_file(const char *path, size_t *len)
{
    FILE *f = fopen(path, "rb");
    if (!f)
        fail_msg("cannot open %s", path);
    size_t cap = 4096, used = 0;
    char *buf = malloc(cap);
    size_t got;
    while ((got = fread(buf + used, 1, cap - used - 1, f)) > 0) {
        used += got;
        if (cap - used < 2) {
            cap *= 2;
            buf = realloc(buf, cap);
        }
    }
    fclose(f);
    buf[used] = '\0';
    *len = used;
    return buf;
}

/* testing_read_file() of rel, a path below the source tree. */
static inline char *testing_read_src(const char *rel, size_t *len)
{
    char path[1024];
    int n = snprintf(path, sizeof path, "%s/%s", testing_srcdir(), rel);
    if (n < 0 || (size_t)n >= sizeof path)
        fail_msg("path too long: %s", rel);
    return testing_read_file(path, len);
}

/* Creates a fresh directory $TMPDIR/NAME.XXXXXX and writes its path to buf; /tmp stands in
 * for TMPDIR when that is unset, empty or too long for buf. Returns 0, or -1 (errno set;
 * ENAMETOOLONG when buf is too small even so). */
static inline int testing_mkdtemp(char *buf, size_t len, const char *name)
{
    const char *base = getenv("TMPDIR");
    int n = base && *base ? snprintf(buf, len, "%s/%s.XXXXXX", base, name) : -1;
    if (n < 0 || (size_t)n >= len)
        n = snprintf(buf, len, "/tmp/%s.XXXXXX", name);
    if (n < 0 || (size_t)n >= len) {
        errno = ENAMETOOLONG;
        return -1;
    }
    return mkdtemp(buf) ? 0 : -1;
}

/* Removes path and everything below it, like `rm -rf`: symbolic links are removed, never
 * followed. A missing path is not an error. Returns 0, or -1 when something stays behind. */
static inline int testing_rm_rf(const char *path)
{
    struct stat st;
    if (lstat(path, &st) != 0)
        return errno == ENOENT ? 0 : -1;
    if (!S_ISDIR(st.st_mode))
        return unlink(path) == 0 || errno == ENOENT ? 0 : -1;
    int rc = 0;
    DIR *d = opendir(path);
    if (d) {
        const struct dirent *de;
        while ((de = readdir(d)) != NULL) {
            if (strcmp(de->d_name, ".") == 0 || strcmp(de->d_name, "..") == 0)
                continue;
            size_t len = strlen(path) + strlen(de->d_name) + 2;
            char *child = malloc(len);
            if (!child)
                abort();
            snprintf(child, len, "%s/%s", path, de->d_name);
            rc |= testing_rm_rf(child);
            free(child);
        }
        closedir(d);
    }
    return rmdir(path) == 0 && rc == 0 ? 0 : -1;
}

/* Opens a TCP socket listening on 127.0.0.1 at a port the kernel picks (backlog 16) and writes
 * the port to *port. Returns the socket (the caller closes it); fails the test when it cannot
 * listen. */
static inline int testing_listen_loopback(int *port)
{
    int fd = socket(AF_INET, SOCK_STREAM | SOCK_CLOEXEC, 0);
    assert_true(fd >= 0);
    struct sockaddr_in sa = {.sin_family = AF_INET, .sin_addr.s_addr = htonl(INADDR_LOOPBACK)};
    assert_int_equal(bind(fd, (struct sockaddr *)&sa, sizeof sa), 0);
    socklen_t sl = sizeof sa;
    assert_int_equal(getsockname(fd, (struct sockaddr *)&sa, &sl), 0);
    *port = ntohs(sa.sin_port);
    assert_int_equal(listen(fd, 16), 0);
    return fd;
}

/* One directory per test group, for groups that share it: made by testing_tmpdir_setup(),
 * removed with its contents by testing_tmpdir_teardown() (cmocka group setup/teardown). */
static char testing_tmpdir[64] __attribute__((unused));

static inline int testing_tmpdir_setup(void **state)
{
    (void)state;
    return testing_mkdtemp(testing_tmpdir, sizeof testing_tmpdir, "ipamwatch-unit");
}

static inline int testing_tmpdir_teardown(void **state)
{
    (void)state;
    return testing_rm_rf(testing_tmpdir);
}

/* Per-test fixture: a fresh directory root, dir = root/SUB (not created) for the module under
 * test, and now, a settable clock read by testing_fake_now(&now). */
struct testing_dir {
    char root[64];
    char dir[128];
    time_t now;
};

/* Returns a new fixture (owned by the caller, free with testing_dir_free), or NULL. */
static inline struct testing_dir *testing_dir_new(const char *name, const char *sub, time_t now)
{
    struct testing_dir *f = calloc(1, sizeof *f);
    if (!f || testing_mkdtemp(f->root, sizeof f->root, name) != 0) {
        free(f);
        return NULL;
    }
    snprintf(f->dir, sizeof f->dir, "%s/%s", f->root, sub);
    f->now = now;
    return f;
}

/* Removes the fixture's directory tree and frees it; NULL is a no-op. Returns testing_rm_rf(). */
static inline int testing_dir_free(struct testing_dir *f)
{
    if (!f)
        return 0;
    int rc = testing_rm_rf(f->root);
    free(f);
    return rc;
}

/* A clock for the modules' *_set_clock_for_testing hooks: returns *(time_t *)arg. */
static inline time_t testing_fake_now(void *arg)
{
    return *(time_t *)arg;
}

/* Writes code point `cp` (at most 0x10FFFF, not a surrogate) as UTF-8 at `o`; returns its
 * length (1-4). */
static inline size_t testing_put_utf8(char *o, unsigned cp)
{
    if (cp < 0x80) {
        o[0] = (char)cp;
        return 1;
    }
    if (cp < 0x800) {
        o[0] = (char)(0xC0 | cp >> 6);
        o[1] = (char)(0x80 | (cp & 0x3F));
        return 2;
    }
    if (cp < 0x10000) {
        o[0] = (char)(0xE0 | cp >> 12);
        o[1] = (char)(0x80 | (cp >> 6 & 0x3F));
        o[2] = (char)(0x80 | (cp & 0x3F));
        return 3;
    }
    o[0] = (char)(0xF0 | cp >> 18);
    o[1] = (char)(0x80 | (cp >> 12 & 0x3F));
    o[2] = (char)(0x80 | (cp >> 6 & 0x3F));
    o[3] = (char)(0x80 | (cp & 0x3F));
    return 4;
}

#endif

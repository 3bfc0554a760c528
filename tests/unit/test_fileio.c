/* Unit tests for fileio (atomic replace, full writes, mkdir -p, directory fsync) and text. */
#include "testing.h"

#include <errno.h>
#include <fcntl.h>
#include <limits.h>
#include <signal.h>
#include <string.h>
#include <sys/resource.h>
#include <sys/socket.h>
#include <sys/stat.h>
#include <sys/wait.h>
#include <unistd.h>

#include "fileio.h"
#include "text.h"

static char g_dir[PATH_MAX];

static int setup(void **state)
{
    (void)state;
    assert_int_equal(testing_mkdtemp(g_dir, sizeof g_dir, "test_fileio"), 0);
    umask(022);
    return 0;
}

static int teardown(void **state)
{
    (void)state;
    testing_rm_rf(g_dir);
    return 0;
}

static char *path_in(const char *name)
{
    static char buf[PATH_MAX + 64];
    snprintf(buf, sizeof buf, "%s/%s", g_dir, name);
    return buf;
}

/* Whole content of `path` into a malloc'd buffer (NUL-terminated); NULL when unreadable. */
static char *slurp(const char *path, size_t *len)
{
    int fd = open(path, O_RDONLY | O_CLOEXEC);
    if (fd < 0)
        return NULL;
    size_t cap = 4096, n = 0;
    char *buf = malloc(cap + 1);
    for (;;) {
        if (n == cap) {
            cap *= 2;
            buf = realloc(buf, cap + 1);
        }
        ssize_t r = read(fd, buf + n, cap - n);
        if (r < 0 && errno == EINTR)
            continue;
        if (r <= 0)
            break;
        n += (size_t)r;
    }
    close(fd);
    buf[n] = '\0';
    if (len)
        *len = n;
    return buf;
}

static mode_t mode_of(const char *path)
{
    struct stat sb;
    if (lstat(path, &sb) != 0)
        fail_msg("stat %s: %s", path, strerror(errno));
    return sb.st_mode & 07777;
}

static bool exists(const char *path)
{
    struct stat sb;
    return lstat(path, &sb) == 0;
}

/* ---- atomic replace -------------------------------------------------------------------- */

static void test_atomic_create_replace_mode(void **state)
{
    (void)state;
    char err[256] = "";
    char path[PATH_MAX + 64];
    snprintf(path, sizeof path, "%s", path_in("state.json"));

    assert_int_equal(fileio_write_atomic(path, "first\n", 6, 0640, 0, err, sizeof err), 0);
    char *got = slurp(path, NULL);
    assert_string_equal(got, "first\n");
    free(got);
    assert_int_equal(mode_of(path), 0640);

    /* The old file's mode does not carry over: the new file gets the mode asked for. */
    assert_int_equal(chmod(path, 0666), 0);
    assert_int_equal(fileio_write_atomic(path, "second", 6, 0600, 0, err, sizeof err), 0);
    got = slurp(path, NULL);
    assert_string_equal(got, "second");
    free(got);
    assert_int_equal(mode_of(path), 0600);

    /* umask applies as with open(2). */
    umask(077);
    assert_int_equal(fileio_write_atomic(path, "", 0, 0644, FILEIO_NOSYNC, err, sizeof err), 0);
    umask(022);
    assert_int_equal(mode_of(path), 0600);
    got = slurp(path, NULL);
    assert_string_equal(got, "");
    free(got);

    char tmp[PATH_MAX + 80];
    snprintf(tmp, sizeof tmp, "%s.tmp", path);
    assert_false(exists(tmp));
}

static void test_atomic_relative_and_at(void **state)
{
    (void)state;
    char err[256] = "";
    char cwd[PATH_MAX];
    assert_non_null(getcwd(cwd, sizeof cwd));
    assert_int_equal(chdir(g_dir), 0);
    int rc = fileio_write_atomic("plain", "x", 1, 0600, FILEIO_NODIRSYNC, err, sizeof err);
    assert_int_equal(chdir(cwd), 0);
    assert_int_equal(rc, 0);
    char *got = slurp(path_in("plain"), NULL);
    assert_string_equal(got, "x");
    free(got);

    int dfd = open(g_dir, O_RDONLY | O_DIRECTORY | O_CLOEXEC);
    assert_true(dfd >= 0);
    assert_int_equal(fileio_write_atomic_at(dfd, "HEAD", "1 abc\n", 6, 0600, 0, err, sizeof err),
                     0);
    assert_int_equal(fileio_write_atomic_at(dfd, "HEAD", "2 def\n", 6, 0600, 0, err, sizeof err),
                     0);
    close(dfd);
    got = slurp(path_in("HEAD"), NULL);
    assert_string_equal(got, "2 def\n");
    free(got);
    assert_false(exists(path_in("HEAD.tmp")));
}

/* Each failing step keeps the old content, removes the temporary file and names the step
 * and the file in the error text. */
static void test_atomic_errors_keep_old(void **state)
{
    (void)state;
    char err[512];
    char path[PATH_MAX + 64], tmp[PATH_MAX + 80];
    snprintf(path, sizeof path, "%s", path_in("cursor"));
    snprintf(tmp, sizeof tmp, "%s.tmp", path);
    assert_int_equal(fileio_write_atomic(path, "old", 3, 0600, 0, NULL, 0), 0);

    /* open fails: the temporary name is taken by a directory. */
    assert_int_equal(mkdir(tmp, 0700), 0);
    err[0] = '\0';
    assert_int_equal(fileio_write_atomic(path, "new", 3, 0600, 0, err, sizeof err), -EISDIR);
    assert_non_null(strstr(err, "open "));
    assert_non_null(strstr(err, tmp));
    assert_int_equal(rmdir(tmp), 0);

    /* The temporary name is a symlink: not followed, its target untouched. */
    char *victim = path_in("victim");
    assert_int_equal(fileio_write_atomic(victim, "keep", 4, 0600, 0, NULL, 0), 0);
    assert_int_equal(symlink(victim, tmp), 0);
    assert_int_equal(fileio_write_atomic(path, "new", 3, 0600, 0, err, sizeof err), -ELOOP);
    char *got = slurp(path_in("victim"), NULL);
    assert_string_equal(got, "keep");
    free(got);
    assert_int_equal(unlink(tmp), 0);

    /* write fails (file size limit): old content stays, no temporary file left. */
    struct rlimit old_lim, lim;
    assert_int_equal(getrlimit(RLIMIT_FSIZE, &old_lim), 0);
    void (*old_sig)(int) = signal(SIGXFSZ, SIG_IGN);
    lim = old_lim;
    lim.rlim_cur = 4096;
    assert_int_equal(setrlimit(RLIMIT_FSIZE, &lim), 0);
    char *big = malloc(8192);
    memset(big, 'b', 8192);
    int rc = fileio_write_atomic(path, big, 8192, 0600, 0, err, sizeof err);
    assert_int_equal(setrlimit(RLIMIT_FSIZE, &old_lim), 0);
    signal(SIGXFSZ, old_sig);
    free(big);
    assert_int_equal(rc, -EFBIG);
    assert_non_null(strstr(err, "write "));
    assert_non_null(strstr(err, tmp));
    assert_false(exists(tmp));

    /* rename fails: the target is a non-empty directory. */
    char *dirpath = path_in("isdir");
    assert_int_equal(mkdir(dirpath, 0700), 0);
    char inner[PATH_MAX + 80];
    snprintf(inner, sizeof inner, "%s/x", dirpath);
    assert_int_equal(fileio_write_atomic(inner, "x", 1, 0600, 0, NULL, 0), 0);
    snprintf(inner, sizeof inner, "%s", dirpath);
    rc = fileio_write_atomic(inner, "y", 1, 0600, 0, err, sizeof err);
    assert_true(rc == -EISDIR || rc == -ENOTEMPTY);
    assert_non_null(strstr(err, "rename "));
    snprintf(inner, sizeof inner, "%s.tmp", dirpath);
    assert_false(exists(inner));

    /* The directory is missing. */
    rc = fileio_write_atomic(path_in("no/such/file"), "z", 1, 0600, 0, err, sizeof err);
    assert_int_equal(rc, -ENOENT);
    assert_non_null(strstr(err, "open directory "));
    assert_non_null(strstr(err, "no/such"));

    /* A name that is a directory, and no name at all. */
    snprintf(inner, sizeof inner, "%s/", g_dir);
    assert_int_equal(fileio_write_atomic(inner, "z", 1, 0600, 0, err, sizeof err), -EISDIR);
    assert_int_equal(fileio_write_atomic("", "z", 1, 0600, 0, err, sizeof err), -ENOENT);

    got = slurp(path, NULL);
    assert_string_equal(got, "old");
    free(got);
}

/* A writer replacing a file over and over, killed at a random moment while readers look:
 * every read, and the file after the kill, is one whole version, never a mix or a prefix. */
static void test_atomic_old_or_new_under_kill(void **state)
{
    (void)state;
    unsigned seed = testing_seed();
    srand(seed);
    enum { SIZE = 64 * 1024, ROUNDS = 4 };
    char *path = path_in("ledger");
    char *a = malloc(SIZE), *b = malloc(SIZE);
    memset(a, 'a', SIZE);
    memset(b, 'b', SIZE);
    assert_int_equal(fileio_write_atomic(path, a, SIZE, 0600, 0, NULL, 0), 0);
    for (int round = 0; round < ROUNDS; round++) {
        pid_t pid = fork();
        assert_true(pid >= 0);
        if (pid == 0) {
            for (unsigned i = 0;; i++)
                if (fileio_write_atomic(path, i % 2 ? a : b, SIZE, 0600, FILEIO_NODIRSYNC, NULL,
                                        0) != 0)
                    _exit(1);
        }
        int reads = 20 + rand() % 200;
        for (int i = 0; i < reads; i++) {
            size_t len = 0;
            char *got = slurp(path, &len);
            if (!got)
                fail_msg("round %d read %d: %s vanished", round, i, path);
            if (len != SIZE || (memcmp(got, a, SIZE) != 0 && memcmp(got, b, SIZE) != 0))
                fail_msg("round %d read %d: %zu bytes, not one whole version", round, i, len);
            free(got);
        }
        kill(pid, SIGKILL);
        int status;
        waitpid(pid, &status, 0);
        if (!WIFSIGNALED(status))
            fail_msg("writer stopped by itself (status %d)", status);
        size_t len = 0;
        char *got = slurp(path, &len);
        assert_non_null(got);
        if (len != SIZE || (memcmp(got, a, SIZE) != 0 && memcmp(got, b, SIZE) != 0))
            fail_msg("round %d after kill: %zu bytes, not one whole version", round, len);
        free(got);
    }
    /* The next write replaces a temporary file the killed writer may have left. */
    assert_int_equal(fileio_write_atomic(path, "done", 4, 0600, 0, NULL, 0), 0);
    char *got = slurp(path, NULL);
    assert_string_equal(got, "done");
    free(got);
    free(a);
    free(b);
}

/* ---- write_all / send_all -------------------------------------------------------------- */

static void test_write_all(void **state)
{
    (void)state;
    /* More than a pipe holds, drained by a child: short writes are continued. */
    enum { SIZE = 1 << 20 };
    int pfd[2];
    assert_int_equal(pipe(pfd), 0);
    char *buf = malloc(SIZE);
    for (size_t i = 0; i < SIZE; i++)
        buf[i] = (char)(i * 31 + 7);
    char *out = path_in("drained");
    pid_t pid = fork();
    assert_true(pid >= 0);
    if (pid == 0) {
        close(pfd[1]);
        int fd = open(out, O_WRONLY | O_CREAT | O_TRUNC, 0600);
        char chunk[1000];
        ssize_t r;
        while ((r = read(pfd[0], chunk, sizeof chunk)) > 0)
            if (write(fd, chunk, (size_t)r) != r)
                _exit(1);
        _exit(close(fd) == 0 ? 0 : 1);
    }
    close(pfd[0]);
    assert_int_equal(fileio_write_all(pfd[1], buf, SIZE), 0);
    close(pfd[1]);
    int status;
    waitpid(pid, &status, 0);
    assert_true(WIFEXITED(status) && WEXITSTATUS(status) == 0);
    size_t len = 0;
    char *got = slurp(out, &len);
    assert_int_equal(len, SIZE);
    assert_memory_equal(got, buf, SIZE);
    free(got);
    free(buf);

    assert_int_equal(fileio_write_all(-1, "x", 1), -EBADF);
    assert_int_equal(fileio_write_all(-1, "", 0), 0);

    /* A socket whose peer is gone: -EPIPE, and the process is not killed by SIGPIPE. */
    int sv[2];
    assert_int_equal(socketpair(AF_UNIX, SOCK_STREAM, 0, sv), 0);
    assert_int_equal(fileio_send_all(sv[0], "hello", 5), 0);
    char rb[8];
    assert_int_equal(read(sv[1], rb, sizeof rb), 5);
    close(sv[1]);
    assert_int_equal(fileio_send_all(sv[0], "again", 5), -EPIPE);
    close(sv[0]);
}

/* ---- directories ----------------------------------------------------------------------- */

static void test_mkdir_p(void **state)
{
    (void)state;
    char err[512];
    char deep[PATH_MAX + 64];
    snprintf(deep, sizeof deep, "%s/a//b/c/", g_dir);
    assert_int_equal(fileio_mkdir_p(deep, 0750, err, sizeof err), 0);
    assert_int_equal(mode_of(path_in("a")), 0750);
    assert_int_equal(mode_of(path_in("a/b")), 0750);
    assert_int_equal(mode_of(path_in("a/b/c")), 0750);
    /* Existing directories are kept as they are. */
    assert_int_equal(chmod(path_in("a"), 0700), 0);
    assert_int_equal(fileio_mkdir_p(path_in("a/b/d"), 0755, err, sizeof err), 0);
    assert_int_equal(mode_of(path_in("a")), 0700);
    assert_int_equal(mode_of(path_in("a/b/d")), 0755);

    /* A regular file in the way, as a parent and as the directory itself. */
    assert_int_equal(fileio_write_atomic(path_in("a/file"), "f", 1, 0600, 0, NULL, 0), 0);
    err[0] = '\0';
    assert_int_equal(fileio_mkdir_p(path_in("a/file/x"), 0700, err, sizeof err), -ENOTDIR);
    assert_non_null(strstr(err, "mkdir "));
    assert_non_null(strstr(err, "a/file/x: Not a directory"));
    err[0] = '\0';
    assert_int_equal(fileio_mkdir_p(path_in("a/file"), 0700, err, sizeof err), -ENOTDIR);
    assert_non_null(strstr(err, "a/file: Not a directory"));
    assert_int_equal(fileio_mkdir_p("", 0700, NULL, 0), -ENOENT);

    /* A read-only parent (unless privileged, where permissions do not stop mkdir). */
    if (geteuid() != 0) {
        assert_int_equal(chmod(path_in("a/b"), 0500), 0);
        err[0] = '\0';
        assert_int_equal(fileio_mkdir_p(path_in("a/b/new/deeper"), 0700, err, sizeof err), -EACCES);
        assert_non_null(strstr(err, "a/b/new"));
        assert_int_equal(chmod(path_in("a/b"), 0750), 0);
    }

    assert_int_equal(fileio_fsync_dir(path_in("a")), 0);
    assert_int_equal(fileio_fsync_dir(NULL), 0);
    assert_int_equal(fileio_fsync_dir(path_in("missing")), -ENOENT);
    assert_int_equal(fileio_fsync_dir(path_in("a/file")), -ENOTDIR);
}

/* ---- text ------------------------------------------------------------------------------ */

static void test_errbuf(void **state)
{
    (void)state;
    char err[16];
    text_errbuf_set(err, sizeof err, "open %s: %d", "x", 5);
    assert_string_equal(err, "open x: 5");
    /* 15 characters fit exactly: no ellipsis. */
    text_errbuf_set(err, sizeof err, "%s", "123456789012345");
    assert_string_equal(err, "123456789012345");
    text_errbuf_set(err, sizeof err, "%s", "1234567890123456");
    assert_string_equal(err, "123456789012...");
    assert_int_equal(strlen(err), sizeof err - 1);
    char tiny[3] = "zz";
    text_errbuf_set(tiny, sizeof tiny, "%s", "long message");
    assert_string_equal(tiny, "lo");
    text_errbuf_set(NULL, 10, "ignored %d", 1);
    text_errbuf_set(tiny, 0, "ignored %d", 1);
    assert_string_equal(tiny, "lo");
}

static void test_trim_ends_date(void **state)
{
    (void)state;
    static const struct {
        const char *in, *out;
    } cases[] = {
        {"", ""},     {"   ", ""},
        {"a", "a"},   {"  a b \t\r\n", "a b"},
        {"\tx", "x"}, {"key = v ", "key = v"},
        {"\n\n", ""},
    };
    for (size_t i = 0; i < sizeof cases / sizeof cases[0]; i++) {
        char buf[64];
        snprintf(buf, sizeof buf, "%s", cases[i].in);
        char *t = text_trim(buf);
        if (strcmp(t, cases[i].out) != 0)
            fail_msg("trim('%s') = '%s', want '%s'", cases[i].in, t, cases[i].out);
        assert_true(t >= buf && t < buf + sizeof buf);
    }
    assert_true(text_ends_with("2025-01-01.json.gz", ".json.gz"));
    assert_true(text_ends_with("x", ""));
    assert_true(text_ends_with(".gz", ".gz"));
    assert_false(text_ends_with("gz", ".gz"));
    assert_false(text_ends_with("a.json", ".gz"));

    char day[32];
    assert_int_equal(text_utc_date(1741910400 + 3723, false, day, sizeof day), 0);
    assert_string_equal(day, "2025-03-14");
    assert_int_equal(text_utc_date(1741910400 + 3723, true, day, sizeof day), 0);
    assert_string_equal(day, "2025-03-14T01:02:03Z");
    assert_int_equal(text_utc_date(0, false, day, sizeof day), 0);
    assert_string_equal(day, "1970-01-01");
    char small[8] = "zz";
    assert_int_equal(text_utc_date(0, false, small, sizeof small), -EINVAL);
    assert_string_equal(small, "");
}

int main(void)
{
    const struct CMUnitTest tests[] = {
        cmocka_unit_test_setup_teardown(test_atomic_create_replace_mode, setup, teardown),
        cmocka_unit_test_setup_teardown(test_atomic_relative_and_at, setup, teardown),
        cmocka_unit_test_setup_teardown(test_atomic_errors_keep_old, setup, teardown),
        cmocka_unit_test_setup_teardown(test_atomic_old_or_new_under_kill, setup, teardown),
        cmocka_unit_test_setup_teardown(test_write_all, setup, teardown),
        cmocka_unit_test_setup_teardown(test_mkdir_p, setup, teardown),
        cmocka_unit_test(test_errbuf),
        cmocka_unit_test(test_trim_ends_date),
    };
    return cmocka_run_group_tests(tests, NULL, NULL);
}

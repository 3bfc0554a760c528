/* hostile: runs one hostile-input case in a child process and reports its result, its
 * error text and how much its peak resident set grew.
 *
 * DESIGN: a case that overflows the stack or aborts must fail the test with a clear line,
 * not take the whole test binary down, and the memory bound of one case must not be
 * hidden by the peaks of the others; so each case runs in a fork()ed child that measures
 * getrusage(RUSAGE_SELF).ru_maxrss before and after and sends the figures back through a
 * pipe. Under AddressSanitizer freed blocks wait in a quarantine and would count as
 * resident, so the quarantine is kept small in binaries that include this header. */
#ifndef IPAMWATCH_TESTS_HOSTILE_H
#define IPAMWATCH_TESTS_HOSTILE_H

#include <errno.h>
#include <signal.h>
#include <stdio.h>
#include <string.h>
#include <sys/resource.h>
#include <sys/wait.h>
#include <unistd.h>

#include "testing.h"

/* Live memory, not freed blocks, is what the bounds are about. */
const char *__asan_default_options(void);
__attribute__((used)) const char *__asan_default_options(void)
{
    return "quarantine_size_mb=4";
}

/* Peak RSS growth every case stays under unless it says otherwise: generous against
 * allocator noise, far below the 50 MB and larger inputs the cases feed. */
#define HOSTILE_BOUND_KB (64L * 1024)

struct hostile_result {
    int rc;         /* what the case returned */
    long grown_kb;  /* peak RSS growth of the child while running the case */
    char err[1024]; /* the case's error text */
};

/* One case: returns the code under test, with its message in `err`. */
typedef int (*hostile_fn)(void *arg, char *err, size_t errlen);

static inline long hostile_maxrss_kb(void)
{
    struct rusage ru;
    getrusage(RUSAGE_SELF, &ru);
    return ru.ru_maxrss;
}

/* Runs `fn(arg)` in a child and fills `res`; fails the test when the child dies. */
static inline void hostile_run(const char *name, hostile_fn fn, void *arg,
                               struct hostile_result *res)
{
    int fds[2];
    assert_int_equal(pipe(fds), 0);
    fflush(NULL);
    pid_t pid = fork();
    assert_true(pid >= 0);
    if (pid == 0) {
        close(fds[0]);
        struct hostile_result r;
        memset(&r, 0, sizeof r);
        long before = hostile_maxrss_kb();
        r.rc = fn(arg, r.err, sizeof r.err);
        r.grown_kb = hostile_maxrss_kb() - before;
        ssize_t w = write(fds[1], &r, sizeof r);
        _exit(w == (ssize_t)sizeof r ? 0 : 3);
    }
    close(fds[1]);
    memset(res, 0, sizeof *res);
    ssize_t got = read(fds[0], res, sizeof *res);
    close(fds[0]);
    int status = 0;
    while (waitpid(pid, &status, 0) < 0 && errno == EINTR)
        ;
    if (WIFSIGNALED(status))
        fail_msg("%s: the process died of signal %d (%s)", name, WTERMSIG(status),
                 strsignal(WTERMSIG(status)));
    if (!WIFEXITED(status) || WEXITSTATUS(status) != 0 || got != (ssize_t)sizeof *res)
        fail_msg("%s: the process failed (status %d)", name, status);
    printf("# %s: rc %d, peak RSS +%ld KiB: %s\n", name, res->rc, res->grown_kb, res->err);
}

/* Fails unless the case's peak RSS grew by less than `bound_kb`. */
static inline void hostile_assert_bounded(const char *name, const struct hostile_result *res,
                                          long bound_kb)
{
    if (res->grown_kb >= bound_kb)
        fail_msg("%s: peak RSS grew by %ld KiB, the bound is %ld KiB", name, res->grown_kb,
                 bound_kb);
}

/* Fails unless the error text holds `needle`. */
static inline void hostile_assert_err(const char *name, const struct hostile_result *res,
                                      const char *needle)
{
    if (!strstr(res->err, needle))
        fail_msg("%s: error '%s' does not say '%s'", name, res->err, needle);
}

#endif

/* journal_fixture: the per-test fixture the journal unit tests share: a fresh directory
 * (struct testing_dir, dir = ROOT/journal) and a journal opened there on the fixture's clock. */
#ifndef IPAMWATCH_JOURNAL_FIXTURE_H
#define IPAMWATCH_JOURNAL_FIXTURE_H

#include "testing.h"

#include "analyzer/journal.h"

/* cmocka teardown: puts the journal's test hooks back to their defaults and removes the
 * fixture's directory tree. */
static inline int journal_fixture_teardown(void **state)
{
    journal_set_key_hash_for_testing(NULL);
    journal_set_keys_kept_for_testing(0);
    journal_set_no_writer_thread_for_testing(false);
    testing_dir_free(*state);
    return 0;
}

/* Opens (creating) the journal in f->dir with f->now as its clock; fails the test on error.
 * Returns the journal, owned by the caller (journal_close). */
static inline journal_t *open_journal(struct testing_dir *f)
{
    char err[512];
    journal_t *j = journal_open(f->dir, false, err, sizeof err);
    if (!j)
        fail_msg("journal_open: %s", err);
    journal_set_clock_for_testing(j, testing_fake_now, &f->now);
    return j;
}

#endif

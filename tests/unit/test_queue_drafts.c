/*
 * test_queue_drafts.c - what the queue lends the view for drafts and
 * per-user limits: named draft files in the spool's tmp/ (reopened by
 * token, removed on request and at the next start, nothing else reachable
 * through a token) and the count of a user's unfinished jobs.
 */
#include <stdarg.h>
#include <stddef.h>
#include <setjmp.h>
#include <cmocka.h>

#include <errno.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/stat.h>
#include <unistd.h>

#include "queue_testutil.h"

static bool in_tmp(struct queue_fixture *f, const char *token)
{
    char path[512];
    struct stat st;
    snprintf(path, sizeof path, "%s/tmp/%s", f->dir, token);
    return stat(path, &st) == 0;
}

static void test_draft_file_is_reopened_by_its_token_with_its_bytes(void **state)
{
    struct queue_fixture *f = *state;
    char token[QUEUE_DRAFT_TOKEN_MAX], buf[8] = "";

    int fd = queue_draft_file_create(f->q, token, sizeof token);
    assert_true(fd >= 0);
    assert_int_equal(write(fd, "abc", 3), 3);
    close(fd);
    assert_true(in_tmp(f, token));
    fd = queue_draft_file_open(f->q, token);
    assert_true(fd >= 0);
    assert_int_equal(pread(fd, buf, sizeof buf, 0), 3);
    assert_string_equal(buf, "abc");
    close(fd);
}

static void test_removed_draft_file_is_gone(void **state)
{
    struct queue_fixture *f = *state;
    char token[QUEUE_DRAFT_TOKEN_MAX];

    int fd = queue_draft_file_create(f->q, token, sizeof token);
    assert_true(fd >= 0);
    close(fd);
    assert_int_equal(queue_draft_file_remove(f->q, token), 0);
    assert_false(in_tmp(f, token));
    assert_int_equal(queue_draft_file_open(f->q, token), -ENOENT);
}

static void test_tokens_reach_no_other_file(void **state)
{
    struct queue_fixture *f = *state;
    static const char *const bad[] = { "../next_id", "next_id", "draft.1/../../next_id", "draft.1.x", "" };

    for (size_t i = 0; i < sizeof bad / sizeof bad[0]; i++) {
        assert_int_equal(queue_draft_file_open(f->q, bad[i]), -EINVAL);
        assert_int_equal(queue_draft_file_remove(f->q, bad[i]), -EINVAL);
    }
}

static void test_draft_files_do_not_survive_a_restart(void **state)
{
    struct queue_fixture *f = *state;
    char token[QUEUE_DRAFT_TOKEN_MAX];

    int fd = queue_draft_file_create(f->q, token, sizeof token);
    assert_true(fd >= 0);
    close(fd);
    queue_close(f->q);
    assert_int_equal(queue_open(&f->q, &f->cfg), 0);
    f->line.q = f->q;
    assert_false(in_tmp(f, token));
}

static void test_unfinished_jobs_are_counted_per_owner(void **state)
{
    struct queue_fixture *f = *state;

    assert_int_equal(queue_count_unfinished(f->q, 1000), 0);
    submit_simple(f->q, "5551234", 1);
    uint64_t second = submit_simple(f->q, "5551235", 1);
    assert_int_equal(queue_count_unfinished(f->q, 1000), 2);
    assert_int_equal(queue_count_unfinished(f->q, 1001), 0);
    struct queue_caller owner = { .uid = 1000, .gid = 1000 };
    char why[256];
    assert_int_equal(queue_control(f->q, &owner, second, QOP_CANCEL, why, sizeof why), 0);
    assert_int_equal(queue_count_unfinished(f->q, 1000), 1); /* finished jobs do not count */
}

#define T(name) cmocka_unit_test_setup_teardown(name, queue_fixture_setup_spool, queue_fixture_teardown)

int main(void)
{
    const struct CMUnitTest tests[] = {
        T(test_draft_file_is_reopened_by_its_token_with_its_bytes),
        T(test_removed_draft_file_is_gone),
        T(test_tokens_reach_no_other_file),
        T(test_draft_files_do_not_survive_a_restart),
        T(test_unfinished_jobs_are_counted_per_owner),
    };
    return cmocka_run_group_tests(tests, NULL, NULL);
}

/*
 * test_fs_jobcache.c - the view's memory of job snapshots (fs/jobcache.c):
 * it serves a job until the queue announces a change, and remembers page
 * sizes. Runs against a real queue on a temporary spool, with receive jobs
 * (they need no documents to exist).
 */
#include <errno.h>
#include <setjmp.h>
#include <stdarg.h>
#include <stddef.h>
#include <stdint.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <unistd.h>
#include <cmocka.h>

#include "fs/internal.h"

struct fixture {
    char dir[64];
    struct queue *q;
    struct fs fs;
};

static int setup(void **state)
{
    struct fixture *f = calloc(1, sizeof *f);
    struct queue_config cfg = { 0 };

    snprintf(f->dir, sizeof f->dir, "/tmp/faxfs-jobcache.XXXXXX");
    assert_non_null(mkdtemp(f->dir));
    cfg.spool_dir = f->dir;
    cfg.no_thread = true;
    cfg.no_fsync = true;
    cfg.modems = 1;
    cfg.admin_gid = (gid_t)-1;
    assert_int_equal(queue_open(&f->q, &cfg), 0);
    f->fs.q = f->q;
    assert_int_equal(fs_jobcache_init(&f->fs.jobs), 0);
    *state = f;
    return 0;
}

static int teardown(void **state)
{
    struct fixture *f = *state;
    char cmd[128];

    fs_jobcache_free(&f->fs.jobs);
    queue_close(f->q);
    snprintf(cmd, sizeof cmd, "rm -rf %s", f->dir);
    assert_int_equal(system(cmd), 0);
    free(f);
    return 0;
}

static uint64_t receiving_job(struct fixture *f)
{
    uint64_t id = 0;

    assert_int_equal(queue_receive_begin(f->q, "modem0", "5551234", &id), 0);
    return id;
}

static void test_a_cached_job_is_served_until_a_change_is_announced(void **state)
{
    struct fixture *f = *state;
    uint64_t id = receiving_job(f);
    struct job j;

    assert_int_equal(fs_jobs_get(&f->fs, id, &j), 0);
    assert_string_equal(j.device_status, "receiving");
    queue_call_status(f->q, id, "receiving page 1");
    /* No announcement reached the cache yet: the old copy is served. */
    assert_int_equal(fs_jobs_get(&f->fs, id, &j), 0);
    assert_string_equal(j.device_status, "receiving");
    fs_jobs_forget(&f->fs, id);
    assert_int_equal(fs_jobs_get(&f->fs, id, &j), 0);
    assert_string_equal(j.device_status, "receiving page 1");
}

static void test_a_missing_job_is_not_found(void **state)
{
    struct fixture *f = *state;
    struct job j;

    assert_int_equal(fs_jobs_get(&f->fs, 999, &j), -ENOENT);
}

static void test_jobs_sharing_a_slot_are_told_apart(void **state)
{
    struct fixture *f = *state;
    uint64_t first = receiving_job(f);
    struct job j;

    assert_int_equal(fs_jobs_get(&f->fs, first, &j), 0);
    /* An id one table length away maps to the same slot, and is no job. */
    assert_int_equal(fs_jobs_get(&f->fs, first + FS_JOBCACHE_SLOTS, &j), -ENOENT);
    assert_int_equal(fs_jobs_get(&f->fs, first, &j), 0);
    assert_int_equal(j.id, first);
}

static void test_a_page_without_a_file_has_no_size(void **state)
{
    struct fixture *f = *state;
    uint64_t id = receiving_job(f), size = 0;

    assert_false(fs_jobs_page_size_known(&f->fs, id, 0, &size));
    assert_true(fs_jobs_page_size(&f->fs, id, 0, &size) < 0);
}

static void test_a_job_changed_just_now_is_not_settled(void **state)
{
    struct fixture *f = *state;
    uint64_t id = receiving_job(f);

    assert_true(fs_jobs_settled(&f->fs, id));
    fs_jobs_forget(&f->fs, id);
    assert_false(fs_jobs_settled(&f->fs, id));
}

static int hold_value(struct fs_seen_value *v, void *arg)
{
    free(v->content);
    v->content = strdup(arg);
    assert_non_null(v->content);
    v->len = (uint32_t)strlen(arg);
    return 0;
}

static int read_value(struct fs_seen_value *v, void *arg)
{
    assert_non_null(v->content);
    assert_string_equal(v->content, arg);
    return 0;
}

/* Values held in the first, a middle and the last slot, and one slot taken
 * over by another job, are served, and freed with the cache (the teardown;
 * under ASan its leak check fails the test for any value left behind). */
static void test_values_in_any_slot_are_kept_and_freed(void **state)
{
    struct fixture *f = *state;
    uint64_t ids[] = { 7 * FS_JOBCACHE_SLOTS, 7 * FS_JOBCACHE_SLOTS + 4097, 8 * FS_JOBCACHE_SLOTS - 1,
                       9 * FS_JOBCACHE_SLOTS - 1 };

    for (size_t i = 0; i < sizeof ids / sizeof ids[0]; i++) {
        assert_int_equal(fs_jobs_with_seen(&f->fs, AREA_JOBS, ids[i], 3, true, hold_value, "queued\n"), 0);
        assert_int_equal(fs_jobs_with_seen(&f->fs, AREA_JOBS, ids[i], 5, true, hold_value, "5551234\n"), 0);
    }
    /* The last id took the slot of the one before it: that one is gone. */
    assert_int_equal(fs_jobs_with_seen(&f->fs, AREA_JOBS, ids[2], 3, false, read_value, "queued\n"), -ENOENT);
    assert_int_equal(fs_jobs_with_seen(&f->fs, AREA_JOBS, ids[0], 5, false, read_value, "5551234\n"), 0);
    assert_int_equal(fs_jobs_with_seen(&f->fs, AREA_JOBS, ids[3], 3, false, read_value, "queued\n"), 0);
}

int main(void)
{
    const struct CMUnitTest tests[] = {
        cmocka_unit_test_setup_teardown(test_a_cached_job_is_served_until_a_change_is_announced, setup, teardown),
        cmocka_unit_test_setup_teardown(test_a_missing_job_is_not_found, setup, teardown),
        cmocka_unit_test_setup_teardown(test_jobs_sharing_a_slot_are_told_apart, setup, teardown),
        cmocka_unit_test_setup_teardown(test_a_page_without_a_file_has_no_size, setup, teardown),
        cmocka_unit_test_setup_teardown(test_a_job_changed_just_now_is_not_settled, setup, teardown),
        cmocka_unit_test_setup_teardown(test_values_in_any_slot_are_kept_and_freed, setup, teardown),
    };
    return cmocka_run_group_tests(tests, NULL, NULL);
}

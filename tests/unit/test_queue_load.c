/*
 * test_queue_load.c - loading the stored jobs in the background
 * (queue_config.background_load): jobs come in in id order, a job asked for
 * by id before its turn is loaded then, operations on such a job behave as
 * on a loaded one, the dispatcher starts with what is loaded and honours
 * priorities once every job is in, and ids stay unique meanwhile. The loader
 * is driven by hand (queue_load_some) so every step is seen. Each test runs
 * twice: after a clean stop (the spool's clean-stop mark: jobs/ is listed by
 * the loader, after queue_open) and after a crash (no mark: jobs/ is listed
 * before queue_open returns). Also: the clean-stop mark itself, and ids
 * never repeating across clean stops, crashes and a stale next_id.
 */
#include <stdarg.h>
#include <stddef.h>
#include <setjmp.h>
#include <cmocka.h>

#include <errno.h>
#include <fcntl.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/stat.h>
#include <sys/wait.h>
#include <unistd.h>

#include "queue_testutil.h"

#define NJOBS 12

struct loaded {
    struct queue_fixture *f;
    bool clean; /* reopened after a clean stop (the mark kept) */
    uint64_t ids[NJOBS];
};

/* NJOBS queued jobs to distinct numbers (the queue paused so none is
 * dialed), then a restart with background loading. */
static int setup(void **state)
{
    struct loaded *l = calloc(1, sizeof *l);
    assert_non_null(l);
    l->f = queue_fixture_new(true);
    queue_fixture_open(l->f);
    assert_int_equal(queue_set_paused(l->f->q, true), 0);
    for (int i = 0; i < NJOBS; i++) {
        char number[32];
        snprintf(number, sizeof number, "+4930%06d", i);
        l->ids[i] = submit_simple(l->f->q, number, 1);
    }
    assert_int_equal(queue_set_paused(l->f->q, false), 0);
    l->f->cfg.background_load = true;
    l->clean = *state == NULL;
    if (!l->clean) {
        /* As after a crash: closed, its mark removed. */
        queue_close(l->f->q);
        l->f->q = NULL;
        char mark[300];
        snprintf(mark, sizeof mark, "%s/clean", l->f->dir);
        assert_int_equal(unlink(mark), 0);
        queue_fixture_open(l->f);
    } else {
        queue_fixture_reopen(l->f);
    }
    *state = l;
    return 0;
}

static int setup_crashed(void **state)
{
    *state = (void *)1;
    return setup(state);
}

static int teardown(void **state)
{
    struct loaded *l = *state;
    queue_fixture_free(l->f);
    free(l);
    return 0;
}

static size_t count_listed(struct queue *q, uint64_t **ids)
{
    size_t n = 0;
    assert_int_equal(queue_list(q, QL_UNFINISHED | QL_HISTORY | QL_RECEIVED, ids, &n), 0);
    return n;
}

static void test_jobs_appear_in_order(void **state)
{
    struct loaded *l = *state;
    struct queue *q = l->f->q;
    uint64_t *ids = NULL;
    struct queue_summary sum;

    assert_true(queue_loading(q));
    assert_int_equal(count_listed(q, &ids), 0);
    free(ids);
    queue_summarize(q, &sum);
    assert_true(sum.loading);
    /* After a clean stop the list is made by the loader: none known yet. */
    assert_int_equal(sum.jobs_to_load, l->clean ? 0 : NJOBS);
    assert_int_equal(sum.jobs_loaded, 0);

    assert_int_equal(queue_load_some(q, 5), NJOBS - 5);
    size_t n = count_listed(q, &ids);
    assert_int_equal(n, 5);
    for (size_t i = 0; i < n; i++)
        assert_int_equal(ids[i], l->ids[i]); /* the oldest first, in order */
    free(ids);
    queue_summarize(q, &sum);
    assert_int_equal(sum.jobs_loaded, 5);
    assert_int_equal(sum.jobs[JOB_QUEUED], 5);

    assert_int_equal(queue_load_some(q, 1000), 0);
    assert_false(queue_loading(q));
    n = count_listed(q, &ids);
    assert_int_equal(n, NJOBS);
    for (size_t i = 0; i < n; i++)
        assert_int_equal(ids[i], l->ids[i]);
    free(ids);
    queue_summarize(q, &sum);
    assert_false(sum.loading);
    assert_int_equal(sum.jobs[JOB_QUEUED], NJOBS);
}

static void test_lookup_before_its_turn(void **state)
{
    struct loaded *l = *state;
    struct queue *q = l->f->q;
    uint64_t *ids = NULL;
    struct job job;

    assert_int_equal(queue_snapshot(q, l->ids[NJOBS - 1], &job), 0);
    assert_int_equal(job.id, l->ids[NJOBS - 1]);
    assert_int_equal(job.status, JOB_QUEUED);
    assert_string_equal(job.recipient_number, "+4930000011");
    /* An id never stored stays unknown. */
    assert_int_equal(queue_snapshot(q, l->ids[NJOBS - 1] + 100, &job), -ENOENT);
    assert_int_equal(count_listed(q, &ids), 1);
    free(ids);

    struct queue_summary sum;
    queue_summarize(q, &sum);
    assert_int_equal(sum.jobs_loaded, 1);
    assert_int_equal(queue_load_some(q, NJOBS - 1), 1); /* the last one was loaded already */
    queue_summarize(q, &sum);
    assert_int_equal(sum.jobs_loaded, NJOBS - 1 + 1);
    assert_int_equal(queue_load_some(q, 10), 0);
    size_t n = count_listed(q, &ids);
    assert_int_equal(n, NJOBS); /* loaded once, listed once */
    for (size_t i = 0; i < n; i++)
        assert_int_equal(ids[i], l->ids[i]);
    free(ids);
}

static void test_cancel_and_edit_before_loaded(void **state)
{
    struct loaded *l = *state;
    struct queue *q = l->f->q;
    char why[256];
    struct job job;
    uint64_t cancel_id = l->ids[NJOBS - 1], edit_id = l->ids[NJOBS - 2], gone_id = l->ids[NJOBS - 3];

    assert_int_equal(queue_load_some(q, 2), NJOBS - 2);
    assert_int_equal(queue_control(q, &test_owner, cancel_id, QOP_CANCEL, why, sizeof why), 0);
    assert_int_equal(queue_edit(q, &test_owner, edit_id, "priority", "high", why, sizeof why), 0);
    /* A stranger is refused as for a loaded job, and changes nothing. */
    assert_int_equal(queue_control(q, &test_stranger, gone_id, QOP_CANCEL, why, sizeof why), -EPERM);
    assert_int_equal(queue_snapshot(q, gone_id, &job), 0);
    assert_int_equal(job.status, JOB_QUEUED);
    /* Canceled, then deleted while the loader has not come to it. */
    assert_int_equal(queue_control(q, &test_owner, gone_id, QOP_CANCEL, why, sizeof why), 0);
    assert_int_equal(queue_delete(q, &test_owner, gone_id, why, sizeof why), 0);

    assert_int_equal(queue_load_some(q, 1000), 0);
    assert_int_equal(queue_snapshot(q, cancel_id, &job), 0);
    assert_int_equal(job.status, JOB_CANCELED);
    assert_int_equal(queue_snapshot(q, edit_id, &job), 0);
    assert_int_equal(job.priority, JOB_PRIORITY_HIGH);
    assert_int_equal(queue_snapshot(q, gone_id, &job), -ENOENT); /* the loader did not bring it back */
    uint64_t *ids = NULL;
    assert_int_equal(count_listed(q, &ids), NJOBS - 1);
    free(ids);

    /* Durable: a restart loading everything at once sees the same. */
    l->f->cfg.background_load = false;
    queue_fixture_reopen(l->f);
    q = l->f->q;
    assert_int_equal(queue_snapshot(q, cancel_id, &job), 0);
    assert_int_equal(job.status, JOB_CANCELED);
    assert_int_equal(queue_snapshot(q, edit_id, &job), 0);
    assert_int_equal(job.priority, JOB_PRIORITY_HIGH);
    assert_int_equal(queue_snapshot(q, gone_id, &job), -ENOENT);
}

static void test_ids_unique_while_loading(void **state)
{
    struct loaded *l = *state;

    assert_true(queue_loading(l->f->q));
    assert_int_equal(queue_set_paused(l->f->q, true), 0);
    uint64_t id = submit_simple(l->f->q, "+4930999999", 1);
    assert_true(id > l->ids[NJOBS - 1]);
    assert_int_equal(queue_load_some(l->f->q, 1000), 0);
    uint64_t *ids = NULL;
    assert_int_equal(count_listed(l->f->q, &ids), NJOBS + 1);
    free(ids);
}

static void test_damaged_job_set_aside_on_lookup(void **state)
{
    struct loaded *l = *state;
    char path[512];
    struct job job;

    snprintf(path, sizeof path, "%s/jobs/%llu/job", l->f->dir, (unsigned long long)l->ids[NJOBS - 1]);
    int fd = open(path, O_WRONLY | O_TRUNC);
    assert_true(fd >= 0);
    assert_int_equal(write(fd, "garbage\n", 8), 8);
    close(fd);
    assert_int_equal(queue_snapshot(l->f->q, l->ids[NJOBS - 1], &job), -ENOENT);
    snprintf(path, sizeof path, "%s/corrupt/%llu", l->f->dir, (unsigned long long)l->ids[NJOBS - 1]);
    struct stat st;
    assert_int_equal(stat(path, &st), 0);
    assert_int_equal(queue_load_some(l->f->q, 1000), 0);
    uint64_t *ids = NULL;
    assert_int_equal(count_listed(l->f->q, &ids), NJOBS - 1);
    free(ids);
}

/* Dispatch starts with what is loaded; the most urgent job is honoured
 * once loading ends. */
static void test_dispatch_while_loading(void **state)
{
    struct loaded *l = *state;
    struct queue_fixture *f = l->f;
    char why[256];

    /* The last job becomes the most urgent (loaded for the edit), then the
     * restart forgets every job again. */
    assert_int_equal(queue_edit(f->q, &test_owner, l->ids[NJOBS - 1], "priority", "high", why, sizeof why), 0);
    f->cfg.modems = 1;
    queue_fixture_reopen(f);
    struct queue *q = f->q;

    assert_int_equal(queue_load_some(q, 2), NJOBS - 2);
    assert_int_equal(queue_run_once(q), 1);
    assert_int_equal(f->line.ncalls, 1);
    assert_int_equal(f->line.calls[0].job_id, l->ids[0]); /* the urgent one is not loaded yet */
    struct queue_call_result ok = test_result(QF_NONE, "", 1);
    queue_call_finished(q, l->ids[0], &ok);

    assert_int_equal(queue_load_some(q, 1000), 0);
    assert_int_equal(queue_run_once(q), 1);
    assert_int_equal(f->line.ncalls, 2);
    assert_int_equal(f->line.calls[1].job_id, l->ids[NJOBS - 1]); /* priority order once loaded */
}

/* A job stored while it was on a line is queued again when it is loaded,
 * before anyone sees it, also when it is looked up before its turn. */
static void test_recovery_on_lookup(void **state)
{
    struct loaded *l = *state;
    struct queue_fixture *f = l->f;
    struct job job;

    assert_int_equal(queue_load_some(f->q, 1000), 0);
    assert_int_equal(queue_run_once(f->q), 2); /* two channels */
    uint64_t active = f->line.calls[1].job_id;
    assert_int_equal(queue_snapshot(f->q, active, &job), 0);
    assert_int_equal(job.status, JOB_ACTIVE);
    /* A crash: the spool keeps the job active. Copy it aside and back
     * after the orderly close (which requeues it itself). */
    char cmd[1024];
    snprintf(cmd, sizeof cmd, "cp -a %s/jobs/%llu/job %s/saved-job", f->dir, (unsigned long long)active, f->dir);
    assert_int_equal(system(cmd), 0);
    queue_close(f->q);
    f->q = NULL;
    snprintf(cmd, sizeof cmd, "mv %s/saved-job %s/jobs/%llu/job", f->dir, f->dir, (unsigned long long)active);
    assert_int_equal(system(cmd), 0);
    queue_fixture_open(f);
    assert_true(queue_loading(f->q));
    assert_int_equal(queue_snapshot(f->q, active, &job), 0);
    assert_int_equal(job.status, JOB_QUEUED);
    assert_int_equal(job.attempts, 1);
    assert_int_equal(queue_load_some(f->q, 1000), 0);
}

/* A broadcast group stored among other jobs: asked for while loading,
 * all its jobs are there, so an operation on the group reaches each. */
static void test_group_whole_while_loading(void **state)
{
    struct loaded *l = *state;
    struct queue_fixture *f = l->f;
    struct queue_recipient v[4];
    struct queue_request req = {0};
    char why[256] = "";
    uint64_t group = 0;

    memset(v, 0, sizeof v);
    for (int i = 0; i < 4; i++)
        snprintf(v[i].number, sizeof v[i].number, "+4940%06d", i);
    assert_int_equal(queue_load_some(f->q, 1000), 0);
    assert_int_equal(queue_set_paused(f->q, true), 0);
    int fd = make_good_tiff(1);
    assert_int_equal(queue_submit_group(f->q, &test_owner, &req, v, 4, &fd, 1, &group, why, sizeof why), 0);
    close(fd);
    uint64_t after = submit_simple(f->q, "+4930999998", 1);
    queue_fixture_reopen(f);

    struct queue_group_member *m = NULL;
    size_t n = 0;
    uid_t owner = 0;
    assert_true(queue_loading(f->q));
    assert_int_equal(queue_group_owner(f->q, group, &owner), 0);
    assert_int_equal(owner, test_owner.uid);
    assert_int_equal(queue_group_members(f->q, group, &m, &n), 0);
    assert_int_equal(n, 4);
    for (size_t i = 0; i < n; i++)
        assert_int_equal(m[i].id, group + i);
    free(m);
    struct job job;
    assert_int_equal(queue_snapshot(f->q, after, &job), 0); /* the next job was loaded, not taken in */
    assert_int_equal(job.group, 0);
    assert_int_equal(queue_load_some(f->q, 1000), 0);
    uint64_t *ids = NULL;
    assert_int_equal(count_listed(f->q, &ids), NJOBS + 5);
    free(ids);
}

static bool exists(const struct queue_fixture *f, const char *name)
{
    char path[300];
    snprintf(path, sizeof path, "%s/%s", f->dir, name);
    return access(path, F_OK) == 0;
}

static uint64_t read_number(const struct queue_fixture *f, const char *name)
{
    char path[300];
    unsigned long long v = 0;
    snprintf(path, sizeof path, "%s/%s", f->dir, name);
    FILE *fp = fopen(path, "r");
    assert_non_null(fp);
    assert_int_equal(fscanf(fp, "%llu", &v), 1);
    fclose(fp);
    return v;
}

static void write_number(const struct queue_fixture *f, const char *name, uint64_t v)
{
    char path[300];
    snprintf(path, sizeof path, "%s/%s", f->dir, name);
    FILE *fp = fopen(path, "w");
    assert_non_null(fp);
    fprintf(fp, "%llu\n", (unsigned long long)v);
    assert_int_equal(fclose(fp), 0);
}

/* A clean close leaves the mark holding next_id's exact value (the next
 * id, no block skipped); an open removes it before anything is handed out. */
static void test_clean_mark_written_and_removed(void **state)
{
    struct loaded *l = *state;
    struct queue_fixture *f = l->f;

    assert_false(exists(f, "clean")); /* removed at open */
    assert_int_equal(queue_load_some(f->q, 1000), 0);
    assert_int_equal(queue_set_paused(f->q, true), 0);
    uint64_t id = submit_simple(f->q, "+4930999997", 1);
    assert_true(read_number(f, "next_id") > id + 1); /* a block reserved */
    queue_close(f->q);
    f->q = NULL;
    assert_true(exists(f, "clean"));
    assert_int_equal(read_number(f, "clean"), id + 1);
    assert_int_equal(read_number(f, "next_id"), id + 1);
    queue_fixture_open(f);
    assert_false(exists(f, "clean"));
    assert_int_equal(submit_simple(f->q, "+4930999996", 1), id + 1);
}

/* A daemon killed with jobs submitted (no close: a child that _exits)
 * leaves no mark; the next start lists jobs/ and hands out new ids only. */
static void test_crash_after_clean_start_never_repeats(void **state)
{
    struct loaded *l = *state;
    struct queue_fixture *f = l->f;
    uint64_t *before = NULL, *after = NULL;

    assert_int_equal(queue_load_some(f->q, 1000), 0);
    queue_close(f->q); /* a clean stop: the next open trusts next_id */
    f->q = NULL;
    fflush(NULL);
    pid_t pid = fork();
    assert_true(pid >= 0);
    if (pid == 0) {
        queue_fixture_open(f);
        queue_set_paused(f->q, true);
        for (int i = 0; i < 3; i++)
            submit_simple(f->q, "+4930999995", 1);
        _exit(0); /* as kill -9: nothing closed */
    }
    int status = 0;
    assert_int_equal(waitpid(pid, &status, 0), pid);
    assert_true(WIFEXITED(status) && WEXITSTATUS(status) == 0);
    assert_false(exists(f, "clean"));
    queue_fixture_open(f);
    assert_true(queue_loading(f->q));
    assert_int_equal(queue_load_some(f->q, 1000), 0);
    size_t n = count_listed(f->q, &before);
    assert_int_equal(n, NJOBS + 3);
    assert_int_equal(queue_set_paused(f->q, true), 0);
    uint64_t id = submit_simple(f->q, "+4930999994", 1);
    for (size_t i = 0; i < n; i++)
        assert_true(id > before[i]);
    free(before);
    free(after);
}

/* A next_id put back by hand (or from a backup) after a clean stop no
 * longer matches the mark: the start lists jobs/ and stays above them. */
static void test_stale_counter_with_mark_not_trusted(void **state)
{
    struct loaded *l = *state;
    struct queue_fixture *f = l->f;

    assert_int_equal(queue_load_some(f->q, 1000), 0);
    queue_close(f->q);
    f->q = NULL;
    assert_true(exists(f, "clean"));
    write_number(f, "next_id", l->ids[0]);
    queue_fixture_open(f);
    assert_int_equal(queue_set_paused(f->q, true), 0);
    uint64_t id = submit_simple(f->q, "+4930999993", 1);
    assert_true(id > l->ids[NJOBS - 1]);
    assert_int_equal(queue_load_some(f->q, 1000), 0);
    uint64_t *ids = NULL;
    assert_int_equal(count_listed(f->q, &ids), NJOBS + 1);
    free(ids);
}

/* Jobs submitted before the loader listed a trusted spool are neither
 * loaded twice nor missed. */
static void test_submit_before_listing(void **state)
{
    struct loaded *l = *state;
    struct queue_fixture *f = l->f;
    struct job job;

    assert_int_equal(queue_set_paused(f->q, true), 0);
    uint64_t id = submit_simple(f->q, "+4930999992", 1);
    assert_true(id > l->ids[NJOBS - 1]);
    assert_int_equal(queue_snapshot(f->q, l->ids[3], &job), 0);
    assert_int_equal(queue_load_some(f->q, 1000), 0);
    uint64_t *ids = NULL;
    size_t n = count_listed(f->q, &ids);
    assert_int_equal(n, NJOBS + 1);
    for (size_t i = 0; i < NJOBS; i++)
        assert_int_equal(ids[i], l->ids[i]);
    assert_int_equal(ids[NJOBS], id);
    free(ids);
}

#define BOTH(t) cmocka_unit_test_setup_teardown(t, setup, teardown), \
                cmocka_unit_test_setup_teardown(t, setup_crashed, teardown)

int main(void)
{
    const struct CMUnitTest tests[] = {
        BOTH(test_clean_mark_written_and_removed),
        BOTH(test_crash_after_clean_start_never_repeats),
        BOTH(test_stale_counter_with_mark_not_trusted),
        BOTH(test_submit_before_listing),
        BOTH(test_jobs_appear_in_order),
        BOTH(test_lookup_before_its_turn),
        BOTH(test_cancel_and_edit_before_loaded),
        BOTH(test_ids_unique_while_loading),
        BOTH(test_damaged_job_set_aside_on_lookup),
        BOTH(test_dispatch_while_loading),
        BOTH(test_recovery_on_lookup),
        BOTH(test_group_whole_while_loading),
    };
    return cmocka_run_group_tests(tests, NULL, NULL);
}

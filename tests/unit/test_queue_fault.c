/*
 * test_queue_fault.c - disk errors injected at named points of the file
 * spool (FAXFS_FAULT_INJECTION builds): a submission that hits ENOSPC or
 * EIO fails with that errno, leaves no half-created job, loses no existing
 * job, and the queue keeps working. A kill fault is tried in a child
 * process to show it dies exactly there and the spool recovers. Without
 * fault injection compiled in, every test reports itself skipped.
 */
#include <stdarg.h>
#include <stddef.h>
#include <setjmp.h>
#include <cmocka.h>

#include <errno.h>
#include <pthread.h>
#include <signal.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/stat.h>
#include <sys/wait.h>
#include <unistd.h>

#include "queue/fault.h"
#include "queue_testutil.h"

#ifdef FAXFS_FAULT_INJECTION

/* Every test starts and ends with no fault armed. */
static int setup(void **state)
{
    fault_configure(NULL);
    return queue_fixture_setup_spool(state);
}

static int teardown(void **state)
{
    fault_configure(NULL);
    return queue_fixture_teardown(state);
}

static int submit(struct queue_fixture *f, int pages, char *why, size_t whylen, uint64_t *id)
{
    struct queue_request req = {0};
    int fd = make_good_tiff(pages);

    strcpy(req.recipient_number, "5551234");
    int r = queue_submit(f->q, &test_owner, &req, &fd, 1, id, why, whylen);
    close(fd);
    return r;
}

static size_t entries(struct queue_fixture *f, const char *sub)
{
    char cmd[512];
    snprintf(cmd, sizeof cmd, "ls -A '%s/%s' | wc -l", f->dir, sub);
    FILE *p = popen(cmd, "r");
    unsigned long n = 0;
    assert_non_null(p);
    assert_int_equal(fscanf(p, "%lu", &n), 1);
    pclose(p);
    return n;
}

static size_t job_count(struct queue_fixture *f)
{
    uint64_t *ids;
    size_t n;
    assert_int_equal(queue_list(f->q, QL_UNFINISHED | QL_HISTORY | QL_RECEIVED, &ids, &n), 0);
    free(ids);
    return n;
}

static int check_spool(struct queue_fixture *f)
{
    FILE *fp = fopen("/dev/null", "w");
    int r = queue_check_spool(f->dir, fp);
    fclose(fp);
    return r;
}

/* The heart of every error test: the submission fails with err, nothing
 * new is in memory or on disk, the earlier job is intact, the spool is
 * consistent, and the next submission works. */
static void assert_submission_fails_cleanly(struct queue_fixture *f, const char *spec, int err)
{
    char why[256] = "";
    uint64_t before = submit_simple(f->q, "5559999", 1), id = 0;

    assert_int_equal(fault_configure(spec), 0);
    assert_int_equal(submit(f, 2, why, sizeof why, &id), -err);
    assert_true(why[0] != '\0');
    fault_configure(NULL);
    assert_int_equal(job_count(f), 1);
    assert_int_equal(entries(f, "jobs"), 1);
    assert_int_equal(entries(f, "tmp"), 0);
    assert_int_equal(check_spool(f), 0);
    struct job j;
    assert_int_equal(queue_snapshot(f->q, before, &j), 0);
    assert_int_equal(j.status, JOB_QUEUED);
    assert_int_equal(submit(f, 1, why, sizeof why, &id), 0);
    assert_true(id > before);
    assert_int_equal(job_count(f), 2);
}

static void test_disk_full_while_writing_a_page_fails_the_submission_cleanly(void **state)
{
    assert_submission_fails_cleanly(*state, "spool.page.create:enospc:2", ENOSPC);
}

static void test_io_error_while_syncing_pages_fails_the_submission_cleanly(void **state)
{
    assert_submission_fails_cleanly(*state, "spool.page.written:eio", EIO);
}

static void test_disk_full_while_staging_fails_the_submission_cleanly(void **state)
{
    assert_submission_fails_cleanly(*state, "spool.stage.opened:enospc", ENOSPC);
}

static void test_io_error_before_the_job_is_renamed_into_place_fails_cleanly(void **state)
{
    assert_submission_fails_cleanly(*state, "spool.create.staged:eio", EIO);
}

static void test_io_error_after_the_rename_takes_the_job_back(void **state)
{
    assert_submission_fails_cleanly(*state, "spool.create.renamed:eio", EIO);
}

/* The counter is written once per block of ids: the first submission
 * after opening the spool writes it. */
static void test_disk_full_on_the_id_counter_fails_the_submission_cleanly(void **state)
{
    struct queue_fixture *f = *state;
    char why[256] = "";
    uint64_t before = submit_simple(f->q, "5559999", 1), id = 0;

    queue_fixture_reopen(f);
    assert_int_equal(fault_configure("spool.next_id.tmp_written:enospc"), 0);
    assert_int_equal(submit(f, 2, why, sizeof why, &id), -ENOSPC);
    assert_true(why[0] != '\0');
    fault_configure(NULL);
    assert_int_equal(job_count(f), 1);
    assert_int_equal(entries(f, "jobs"), 1);
    assert_int_equal(entries(f, "tmp"), 0);
    assert_int_equal(check_spool(f), 0);
    assert_int_equal(submit(f, 1, why, sizeof why, &id), 0);
    assert_int_equal(id, before + 1);
}

/* What the spool logs when a flush fails: how many jobs it failed. */
static pthread_mutex_t flush_log_lock = PTHREAD_MUTEX_INITIALIZER;
static int failed_flushes;
static size_t failed_flush_jobs;

static void flush_log(int level, const char *msg)
{
    const char *colon = strchr(msg, ':');
    size_t n = 0;

    (void)level;
    if (strstr(msg, "could not be made durable") == NULL || colon == NULL || sscanf(colon + 1, "%zu", &n) != 1)
        return;
    pthread_mutex_lock(&flush_log_lock);
    failed_flushes++;
    failed_flush_jobs += n;
    pthread_mutex_unlock(&flush_log_lock);
}

/* One job alone (the first flush), then many submitters at once with the
 * second flush failing at point: exactly the jobs of that flush fail, with
 * EIO, and leave nothing; every other job is stored whole. */
static void assert_failed_flush_fails_exactly_its_jobs(struct queue_fixture *f, const char *point)
{
    enum { THREADS = 8, EACH = 4, N = THREADS * EACH };
    int result[N];
    uint64_t id[N];
    char spec[96];
    struct job j;
    size_t failed = 0;

    failed_flushes = 0;
    failed_flush_jobs = 0;
    f->cfg.log = flush_log;
    f->cfg.no_fsync = false;
    queue_fixture_reopen(f);
    uint64_t first = submit_simple(f->q, "5559999", 1);
    snprintf(spec, sizeof spec, "%s:eio:2", point);
    assert_int_equal(fault_configure(spec), 0);
    submit_concurrently(f->q, THREADS, EACH, 2, result, id);
    fault_configure(NULL);
    for (int k = 0; k < N; k++) {
        if (result[k] != 0) {
            assert_int_equal(result[k], -EIO);
            failed++;
        }
    }
    assert_int_equal(failed_flushes, 1);
    assert_true(failed >= 1);
    assert_int_equal(failed, failed_flush_jobs);
    assert_int_equal(job_count(f), 1 + N - failed);
    assert_int_equal(entries(f, "jobs"), 1 + N - failed);
    assert_int_equal(entries(f, "tmp"), 0);
    assert_int_equal(check_spool(f), 0);
    queue_fixture_reopen(f);
    assert_int_equal(job_count(f), 1 + N - failed);
    assert_int_equal(queue_snapshot(f->q, first, &j), 0);
    for (int k = 0; k < N; k++)
        if (result[k] == 0) {
            assert_int_equal(queue_snapshot(f->q, id[k], &j), 0);
            assert_int_equal(j.page_count, 2);
        }
}

static void test_a_failed_flush_fails_every_job_of_that_flush_and_only_those(void **state)
{
    assert_failed_flush_fails_exactly_its_jobs(*state, "spool.flush.start");
}

static void test_a_failed_directory_sync_takes_back_every_job_of_that_flush(void **state)
{
    assert_failed_flush_fails_exactly_its_jobs(*state, "spool.flush.renamed");
}

static void test_io_error_on_a_job_update_changes_nothing(void **state)
{
    struct queue_fixture *f = *state;
    uint64_t id = submit_simple(f->q, "5551234", 1);
    char why[256];
    struct job j;

    assert_int_equal(fault_configure("spool.update.tmp_written:eio"), 0);
    assert_int_equal(queue_control(f->q, &test_owner, id, QOP_PAUSE, why, sizeof why), -EIO);
    fault_configure(NULL);
    assert_int_equal(queue_snapshot(f->q, id, &j), 0);
    assert_int_equal(j.status, JOB_QUEUED);
    queue_close(f->q);
    assert_int_equal(queue_open(&f->q, &f->cfg), 0);
    assert_int_equal(queue_snapshot(f->q, id, &j), 0);
    assert_int_equal(j.status, JOB_QUEUED);
    assert_int_equal(queue_control(f->q, &test_owner, id, QOP_PAUSE, why, sizeof why), 0);
}

/* The stored status of job id, read from its job file ("" if none). */
static void stored_status(struct queue_fixture *f, uint64_t id, char *out, size_t len)
{
    char path[512], line[256];
    snprintf(path, sizeof path, "%s/jobs/%llu/job", f->dir, (unsigned long long)id);
    FILE *fp = fopen(path, "r");
    out[0] = '\0';
    assert_non_null(fp);
    while (fgets(line, sizeof line, fp) != NULL) {
        char v[64];
        if (sscanf(line, "status: %63s", v) == 1) {
            snprintf(out, len, "%s", v);
            break;
        }
    }
    fclose(fp);
}

/* A call's result that the store refuses (its disk or database away) is
 * not lost and not told: the dispatcher writes it again, backing off,
 * until the store takes it; the job is not dialed again meanwhile. */
static void test_a_result_the_store_refused_is_written_again_when_it_takes_it(void **state)
{
    struct queue_fixture *f = *state;
    uint64_t id = submit_simple(f->q, "5551234", 1);
    char st[64];
    struct event_log ev = {0};

    assert_int_equal(queue_run_once(f->q), 1);
    stored_status(f, id, st, sizeof st);
    assert_string_equal(st, "active");
    queue_subscribe(f->q, event_log_listener, &ev);
    assert_int_equal(fault_configure("spool.update.tmp_written:eio"), 0);
    struct queue_call_result r = test_result(QF_NONE, "", 1);
    queue_call_finished(f->q, id, &r);
    assert_int_equal(ev.count[QE_CHANGED], 0); /* not told: not stored */
    stored_status(f, id, st, sizeof st);
    assert_string_equal(st, "active");
    queue_run_once(f->q); /* not due yet */
    assert_int_equal(fault_hits("spool.update.tmp_written"), 1);
    f->clock.now += 1 /* ENGINE_UNSAVED_FIRST_RETRY */;
    queue_run_once(f->q); /* due, refused again: the wait doubles */
    assert_int_equal(fault_hits("spool.update.tmp_written"), 2);
    f->clock.now += 1 /* ENGINE_UNSAVED_FIRST_RETRY */;
    queue_run_once(f->q);
    assert_int_equal(fault_hits("spool.update.tmp_written"), 2);
    fault_configure(NULL);
    f->clock.now += 1 /* ENGINE_UNSAVED_FIRST_RETRY */;
    queue_run_once(f->q);
    stored_status(f, id, st, sizeof st);
    assert_string_equal(st, "done");
    assert_int_equal(ev.count[QE_CHANGED], 1);
    assert_int_equal(f->line.ncalls, 1); /* never dialed again */
    queue_fixture_reopen(f);
    struct job j;
    assert_int_equal(queue_snapshot(f->q, id, &j), 0);
    assert_int_equal(j.status, JOB_DONE);
    assert_int_equal(j.pages_sent, 1);
}

static void test_error_at_the_nth_hit_only_spares_the_hits_around_it(void **state)
{
    struct queue_fixture *f = *state;
    char why[256];
    uint64_t id;

    assert_int_equal(fault_configure("spool.page.create:enospc:2"), 0);
    assert_int_equal(submit(f, 1, why, sizeof why, &id), 0);        /* hit 1 */
    assert_int_equal(submit(f, 1, why, sizeof why, &id), -ENOSPC);  /* hit 2 */
    assert_int_equal(submit(f, 1, why, sizeof why, &id), 0);        /* hit 3 */
    assert_int_equal(fault_hits("spool.page.create"), 3);
}

static void test_error_from_the_nth_hit_on_keeps_failing(void **state)
{
    struct queue_fixture *f = *state;
    char why[256];
    uint64_t id;

    assert_int_equal(fault_configure("spool.page.create:eio:2+"), 0);
    assert_int_equal(submit(f, 1, why, sizeof why, &id), 0);
    assert_int_equal(submit(f, 1, why, sizeof why, &id), -EIO);
    assert_int_equal(submit(f, 1, why, sizeof why, &id), -EIO);
}

static void test_malformed_fault_specs_are_refused(void **state)
{
    (void)state;
    assert_int_equal(fault_configure("spool.page.create"), -EINVAL);
    assert_int_equal(fault_configure("spool.page.create:explode"), -EINVAL);
    assert_int_equal(fault_configure("spool.page.create:eio:0"), -EINVAL);
    assert_int_equal(fault_configure("spool.page.create:eio:2x"), -EINVAL);
    assert_int_equal(fault_configure("a:eio,b:kill:3,c:enospc:1+"), 0);
}

/* Runs a submission in a child armed with a kill fault; returns how the
 * child ended. The parent's queue is closed so the child can own the spool. */
static int submit_in_killed_child(struct queue_fixture *f, const char *spec)
{
    queue_close(f->q);
    f->q = NULL;
    pid_t pid = fork();
    assert_true(pid >= 0);
    if (pid == 0) {
        struct queue *q;
        if (queue_open(&q, &f->cfg) != 0)
            _exit(3);
        fault_configure(spec);
        submit_simple(q, "5551234", 1);
        _exit(0); /* the fault did not fire */
    }
    int status = 0;
    assert_int_equal(waitpid(pid, &status, 0), pid);
    assert_int_equal(queue_open(&f->q, &f->cfg), 0);
    return status;
}

static void test_kill_before_the_rename_leaves_no_job_after_recovery(void **state)
{
    struct queue_fixture *f = *state;
    int status = submit_in_killed_child(f, "spool.create.staged:kill");

    assert_true(WIFSIGNALED(status) && WTERMSIG(status) == SIGKILL);
    assert_int_equal(job_count(f), 0);
    assert_int_equal(entries(f, "tmp"), 0);
    assert_int_equal(check_spool(f), 0);
}

static void test_kill_after_the_rename_leaves_the_whole_job_after_recovery(void **state)
{
    struct queue_fixture *f = *state;
    int status = submit_in_killed_child(f, "spool.create.renamed:kill");
    struct job j;

    assert_true(WIFSIGNALED(status) && WTERMSIG(status) == SIGKILL);
    assert_int_equal(job_count(f), 1);
    assert_int_equal(queue_snapshot(f->q, QUEUE_FIRST_JOB_ID, &j), 0);
    assert_int_equal(j.page_count, 1);
    assert_int_equal(check_spool(f), 0);
    /* The crash skips the rest of the id block the counter had reserved:
     * the next id is above the job's, never its own again. */
    assert_true(submit_simple(f->q, "5551234", 1) > QUEUE_FIRST_JOB_ID);
}

static void test_kill_before_the_flush_leaves_no_job_after_recovery(void **state)
{
    struct queue_fixture *f = *state;
    int status = submit_in_killed_child(f, "spool.flush.start:kill");

    assert_true(WIFSIGNALED(status) && WTERMSIG(status) == SIGKILL);
    assert_int_equal(job_count(f), 0);
    assert_int_equal(entries(f, "jobs"), 0);
    assert_int_equal(entries(f, "tmp"), 0);
    assert_int_equal(check_spool(f), 0);
}

static void test_kill_after_the_flush_renamed_its_jobs_leaves_the_whole_job(void **state)
{
    struct queue_fixture *f = *state;
    int status = submit_in_killed_child(f, "spool.flush.renamed:kill");
    struct job j;

    assert_true(WIFSIGNALED(status) && WTERMSIG(status) == SIGKILL);
    assert_int_equal(job_count(f), 1);
    assert_int_equal(queue_snapshot(f->q, QUEUE_FIRST_JOB_ID, &j), 0);
    assert_int_equal(j.page_count, 1);
    assert_int_equal(check_spool(f), 0);
}

static void test_disk_full_while_storing_a_received_page_leaves_no_partial_page(void **state)
{
    struct queue_fixture *f = *state;
    uint64_t id;
    int fd = make_good_tiff(1);
    char pages[300];
    struct job j;

    assert_int_equal(queue_receive_begin(f->q, "modem0", "5550199", &id), 0);
    assert_int_equal(fault_configure("spool.receive.page_written:enospc:1"), 0);
    assert_int_equal(queue_receive_page(f->q, id, fd), -ENOSPC);
    snprintf(pages, sizeof pages, "jobs/%llu/pages", (unsigned long long)id);
    assert_int_equal(entries(f, pages), 0);
    assert_int_equal(queue_snapshot(f->q, id, &j), 0);
    assert_int_equal(j.page_count, 0);
    assert_int_equal(queue_receive_page(f->q, id, fd), 0); /* the disk has room again */
    close(fd);
    assert_int_equal(entries(f, pages), 1);
    assert_int_equal(check_spool(f), 0);
}

static void test_kill_after_a_received_page_is_stored_keeps_the_page(void **state)
{
    struct queue_fixture *f = *state;
    struct job j;

    queue_close(f->q);
    f->q = NULL;
    pid_t pid = fork();
    assert_true(pid >= 0);
    if (pid == 0) {
        struct queue *q;
        uint64_t id;
        int fd = make_good_tiff(1);
        if (queue_open(&q, &f->cfg) != 0 || queue_receive_begin(q, "modem0", "", &id) != 0)
            _exit(3);
        fault_configure("spool.receive.page_renamed:kill:2");
        queue_receive_page(q, id, fd);
        queue_receive_page(q, id, fd);
        _exit(0);
    }
    int status = 0;
    assert_int_equal(waitpid(pid, &status, 0), pid);
    assert_true(WIFSIGNALED(status) && WTERMSIG(status) == SIGKILL);
    assert_int_equal(queue_open(&f->q, &f->cfg), 0);
    assert_int_equal(queue_snapshot(f->q, QUEUE_FIRST_JOB_ID, &j), 0);
    assert_int_equal(j.status, JOB_FAILED);
    assert_string_equal(j.error_code, "interrupted");
    assert_int_equal(j.page_count, 2);
    assert_int_equal(check_spool(f), 0);
}

#define T(name) cmocka_unit_test_setup_teardown(name, setup, teardown)

#else /* !FAXFS_FAULT_INJECTION */

static void test_fault_injection_is_not_compiled_in(void **state)
{
    (void)state;
    skip();
}

#endif

int main(void)
{
    const struct CMUnitTest tests[] = {
#ifdef FAXFS_FAULT_INJECTION
        T(test_disk_full_while_writing_a_page_fails_the_submission_cleanly),
        T(test_io_error_while_syncing_pages_fails_the_submission_cleanly),
        T(test_disk_full_while_staging_fails_the_submission_cleanly),
        T(test_io_error_before_the_job_is_renamed_into_place_fails_cleanly),
        T(test_io_error_after_the_rename_takes_the_job_back),
        T(test_disk_full_on_the_id_counter_fails_the_submission_cleanly),
        T(test_a_failed_flush_fails_every_job_of_that_flush_and_only_those),
        T(test_a_failed_directory_sync_takes_back_every_job_of_that_flush),
        T(test_io_error_on_a_job_update_changes_nothing),
        T(test_a_result_the_store_refused_is_written_again_when_it_takes_it),
        T(test_error_at_the_nth_hit_only_spares_the_hits_around_it),
        T(test_error_from_the_nth_hit_on_keeps_failing),
        T(test_malformed_fault_specs_are_refused),
        T(test_kill_before_the_rename_leaves_no_job_after_recovery),
        T(test_kill_after_the_rename_leaves_the_whole_job_after_recovery),
        T(test_kill_before_the_flush_leaves_no_job_after_recovery),
        T(test_kill_after_the_flush_renamed_its_jobs_leaves_the_whole_job),
        T(test_disk_full_while_storing_a_received_page_leaves_no_partial_page),
        T(test_kill_after_a_received_page_is_stored_keeps_the_page),
#else
        cmocka_unit_test(test_fault_injection_is_not_compiled_in),
#endif
    };
    return cmocka_run_group_tests(tests, NULL, NULL);
}

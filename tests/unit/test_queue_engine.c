/*
 * test_queue_engine.c - the engine's behaviour with a fake line and a fake
 * clock over the in-memory backend: dispatch, retries, attempts, kill
 * time, cancel and pause of active calls, shutdown, persistence before
 * notification, refusals that change nothing, where job ids start.
 * With FAXFS_TEST_PG set, the tests that do not look inside the memory
 * store run over PostgreSQL instead; with FAXFS_TEST_SPOOL=1 (test
 * queue_engine_spool), over the file spool in a temporary directory.
 */
#include <stdarg.h>
#include <stddef.h>
#include <setjmp.h>
#include <cmocka.h>

#include <errno.h>
#include <stdlib.h>
#include <string.h>
#include <unistd.h>

#include "queue/backend_mem.h"
#include "queue/jobfile.h"
#include "queue_testutil.h"

static void reopen(struct queue_fixture *f)
{
    queue_close(f->q);
    memset(&f->line, 0, sizeof f->line);
    queue_fixture_open(f);
}

static void finish(struct queue_fixture *f, uint64_t id, enum queue_failure fl, const char *code, int pages)
{
    struct queue_call_result r = test_result(fl, code, pages);
    queue_call_finished(f->q, id, &r);
}

static struct job snap(struct queue_fixture *f, uint64_t id)
{
    struct job j;
    assert_int_equal(queue_snapshot(f->q, id, &j), 0);
    return j;
}

static void test_queued_job_is_dialed_on_a_free_modem(void **state)
{
    struct queue_fixture *f = *state;
    uint64_t id = submit_simple(f->q, "555-1234", 2);

    assert_int_equal(snap(f, id).status, JOB_QUEUED);
    assert_int_equal(queue_run_once(f->q), 1);
    assert_int_equal(f->line.ncalls, 1);
    assert_string_equal(f->line.calls[0].number, "5551234");
    assert_int_equal(f->line.calls[0].page_count, 2);
    struct job j = snap(f, id);
    assert_int_equal(j.status, JOB_ACTIVE);
    assert_int_equal(j.attempts, 1);
    assert_string_equal(j.modem, "modem0");
}

static void test_successful_call_makes_the_job_done(void **state)
{
    struct queue_fixture *f = *state;
    uint64_t id = submit_simple(f->q, "5551234", 2);

    queue_run_once(f->q);
    finish(f, id, QF_NONE, "", 2);
    struct job j = snap(f, id);
    assert_int_equal(j.status, JOB_DONE);
    assert_int_equal(j.pages_sent, 2);
    assert_int_equal(j.finished, f->clock.now);
}

static void test_busy_number_is_retried_after_busy_delay(void **state)
{
    struct queue_fixture *f = *state;
    uint64_t id = submit_simple(f->q, "5551234", 1);

    queue_run_once(f->q);
    finish(f, id, QF_BUSY, "busy", 0);
    struct job j = snap(f, id);
    assert_int_equal(j.status, JOB_RETRYING);
    assert_int_equal(j.next_attempt, f->clock.now + 180);
    assert_string_equal(j.error_code, "busy");
    f->clock.now += 179;
    assert_int_equal(queue_run_once(f->q), 0);
    f->clock.now += 1;
    assert_int_equal(queue_run_once(f->q), 1);
    assert_int_equal(snap(f, id).attempts, 2);
}

static void test_no_answer_waits_longer_than_busy(void **state)
{
    struct queue_fixture *f = *state;
    uint64_t id = submit_simple(f->q, "5551234", 1);

    queue_run_once(f->q);
    finish(f, id, QF_NO_ANSWER, "no_answer", 0);
    assert_int_equal(snap(f, id).next_attempt, f->clock.now + 300);
}

static void test_attempts_exhausted_fails_with_retries_exceeded(void **state)
{
    struct queue_fixture *f = *state;
    uint64_t id = submit_simple(f->q, "5551234", 1);

    for (int i = 0; i < QUEUE_DEFAULT_MAX_ATTEMPTS; i++) {
        assert_int_equal(queue_run_once(f->q), 1);
        finish(f, id, QF_BUSY, "busy", 0);
        f->clock.now += 180;
    }
    struct job j = snap(f, id);
    assert_int_equal(j.status, JOB_FAILED);
    assert_int_equal(j.attempts, QUEUE_DEFAULT_MAX_ATTEMPTS);
    assert_string_equal(j.error_code, "retries_exceeded");
    assert_int_equal(queue_run_once(f->q), 0);
}

static void test_waiting_job_fails_when_its_kill_time_passes(void **state)
{
    struct queue_fixture *f = *state;
    struct queue_request req = {0};
    char why[200];
    uint64_t id;
    int fd = make_good_tiff(1);

    strcpy(req.recipient_number, "5551234");
    req.kill_time = f->clock.now + 100;
    assert_int_equal(queue_set_paused(f->q, true), 0);
    assert_int_equal(queue_submit(f->q, &test_owner, &req, &fd, 1, &id, why, sizeof why), 0);
    close(fd);
    f->clock.now += 100;
    queue_run_once(f->q);
    struct job j = snap(f, id);
    assert_int_equal(j.status, JOB_FAILED);
    assert_string_equal(j.error_code, "kill_time_passed");
}

static void test_scheduled_job_waits_for_its_time_to_send(void **state)
{
    struct queue_fixture *f = *state;
    struct queue_request req = {0};
    char why[200];
    uint64_t id;
    int fd = make_good_tiff(1);

    strcpy(req.recipient_number, "5551234");
    req.scheduled = f->clock.now + 600;
    assert_int_equal(queue_submit(f->q, &test_owner, &req, &fd, 1, &id, why, sizeof why), 0);
    close(fd);
    assert_int_equal(snap(f, id).status, JOB_SCHEDULED);
    assert_int_equal(snap(f, id).kill_time, f->clock.now + 600 + QUEUE_DEFAULT_KILL_AFTER);
    assert_int_equal(queue_run_once(f->q), 0);
    f->clock.now += 600;
    assert_int_equal(queue_run_once(f->q), 1);
}

static void test_two_jobs_to_one_number_never_call_at_once(void **state)
{
    struct queue_fixture *f = *state;
    uint64_t a = submit_simple(f->q, "5551234", 1);
    submit_simple(f->q, "555 1234", 1);
    submit_simple(f->q, "5559999", 1);

    assert_int_equal(queue_run_once(f->q), 2);
    assert_string_equal(f->line.calls[0].number, "5551234");
    assert_string_equal(f->line.calls[1].number, "5559999");
    finish(f, a, QF_NONE, "", 1);
    assert_int_equal(queue_run_once(f->q), 1);
    assert_string_equal(f->line.calls[2].number, "5551234");
}

static void test_high_priority_job_is_dialed_before_older_normal_jobs(void **state)
{
    struct queue_fixture *f = *state;
    struct queue_request req = {0};
    char why[200];
    uint64_t urgent;
    int fd = make_good_tiff(1);

    submit_simple(f->q, "5550001", 1);
    submit_simple(f->q, "5550002", 1);
    strcpy(req.recipient_number, "5550003");
    req.priority = JOB_PRIORITY_HIGH;
    assert_int_equal(queue_submit(f->q, &test_owner, &req, &fd, 1, &urgent, why, sizeof why), 0);
    close(fd);
    assert_int_equal(queue_run_once(f->q), 2);
    assert_int_equal(f->line.calls[0].job_id, urgent);
    assert_string_equal(f->line.calls[1].number, "5550001");
}

static void test_retry_sends_only_pages_not_yet_confirmed(void **state)
{
    struct queue_fixture *f = *state;
    uint64_t id = submit_simple(f->q, "5551234", 3);

    queue_run_once(f->q);
    queue_call_pages_confirmed(f->q, id, 1);
    assert_int_equal(snap(f, id).pages_sent, 1);
    finish(f, id, QF_DROPPED, "dropped", 1);
    f->clock.now += 60;
    assert_int_equal(queue_run_once(f->q), 1);
    assert_int_equal(f->line.calls[1].first_page, 1);
    assert_int_equal(f->line.calls[1].page_count, 2);
    assert_int_equal(f->line.calls[1].total_pages, 3);
}

static void test_confirmed_pages_are_persisted_before_the_report_returns(void **state)
{
    struct queue_fixture *f = *state;
    uint64_t id = submit_simple(f->q, "5551234", 3);

    queue_run_once(f->q);
    queue_call_pages_confirmed(f->q, id, 2);
    assert_non_null(strstr(backend_mem_job_text(f->mem, id), "\npages_sent: 2\n"));
}

static void test_cancel_of_an_active_job_aborts_its_call(void **state)
{
    struct queue_fixture *f = *state;
    char why[200];
    uint64_t id = submit_simple(f->q, "5551234", 1);

    f->line.q = NULL; /* the modem reports later */
    queue_run_once(f->q);
    assert_int_equal(queue_control(f->q, &test_owner, id, QOP_CANCEL, why, sizeof why), 0);
    assert_int_equal(f->line.naborts, 1);
    assert_int_equal(f->line.aborts[0], 0);
    assert_int_equal(snap(f, id).status, JOB_CANCELED);
    struct queue_summary s;
    queue_summarize(f->q, &s);
    assert_int_equal(s.modems_busy, 1); /* the channel is free only after finished */
    finish(f, id, QF_ABORTED, "aborted", 0);
    queue_summarize(f->q, &s);
    assert_int_equal(s.modems_busy, 0);
    assert_int_equal(snap(f, id).status, JOB_CANCELED);
}

static void test_call_that_completed_despite_cancel_is_done(void **state)
{
    struct queue_fixture *f = *state;
    char why[200];
    uint64_t id = submit_simple(f->q, "5551234", 1);

    f->line.q = NULL;
    queue_run_once(f->q);
    queue_control(f->q, &test_owner, id, QOP_CANCEL, why, sizeof why);
    finish(f, id, QF_NONE, "", 1);
    assert_int_equal(snap(f, id).status, JOB_DONE);
}

static void test_pausing_an_active_job_does_not_count_the_attempt(void **state)
{
    struct queue_fixture *f = *state;
    char why[200];
    uint64_t id = submit_simple(f->q, "5551234", 1);

    queue_run_once(f->q);
    assert_int_equal(queue_control(f->q, &test_owner, id, QOP_PAUSE, why, sizeof why), 0);
    struct job j = snap(f, id);
    assert_int_equal(j.status, JOB_PAUSED);
    assert_int_equal(j.attempts, 0);
    assert_int_equal(queue_run_once(f->q), 0);
    assert_int_equal(queue_control(f->q, &test_owner, id, QOP_RESUME, why, sizeof why), 0);
    assert_int_equal(queue_run_once(f->q), 1);
}

static void test_shutdown_requeues_active_jobs_without_counting_the_attempt(void **state)
{
    struct queue_fixture *f = *state;
    uint64_t id = submit_simple(f->q, "5551234", 3);

    queue_run_once(f->q);
    queue_call_pages_confirmed(f->q, id, 1);
    reopen(f);
    struct job j = snap(f, id);
    assert_int_equal(j.status, JOB_QUEUED);
    assert_int_equal(j.attempts, 0);
    assert_int_equal(j.pages_sent, 1);
}

static void test_whole_queue_pause_stops_dialing_and_survives_a_restart(void **state)
{
    struct queue_fixture *f = *state;

    submit_simple(f->q, "5551234", 1);
    assert_int_equal(queue_set_paused(f->q, true), 0);
    assert_int_equal(queue_run_once(f->q), 0);
    reopen(f);
    assert_true(queue_is_paused(f->q));
    assert_int_equal(queue_run_once(f->q), 0);
    assert_int_equal(queue_set_paused(f->q, false), 0);
    assert_int_equal(queue_run_once(f->q), 1);
}

static void test_failed_modem_start_counts_as_a_failed_attempt(void **state)
{
    struct queue_fixture *f = *state;
    uint64_t id = submit_simple(f->q, "5551234", 1);

    f->line.fail_start = EIO;
    assert_int_equal(queue_run_once(f->q), 0);
    struct job j = snap(f, id);
    assert_int_equal(j.status, JOB_RETRYING);
    assert_string_equal(j.error_code, "modem_unavailable");
    struct queue_summary s;
    queue_summarize(f->q, &s);
    assert_int_equal(s.modems_busy, 0);
}

struct persist_probe {
    struct queue_backend *mem;
    int added_and_stored;
    int changed_and_active;
};

static void probe_listener(void *ctx, enum queue_event ev, uint64_t id)
{
    struct persist_probe *p = ctx;
    const char *text = backend_mem_job_text(p->mem, id);

    if (ev == QE_ADDED && text != NULL)
        p->added_and_stored++;
    if (ev == QE_CHANGED && text != NULL && strstr(text, "\nstatus: active\n"))
        p->changed_and_active++;
}

static void test_listeners_hear_of_changes_only_after_they_are_stored(void **state)
{
    struct queue_fixture *f = *state;

    static struct persist_probe p; /* outlives the test: teardown still notifies */

    p = (struct persist_probe){f->mem, 0, 0};
    assert_int_equal(queue_subscribe(f->q, probe_listener, &p), 0);
    submit_simple(f->q, "5551234", 1);
    queue_run_once(f->q);
    assert_int_equal(p.added_and_stored, 1);
    assert_true(p.changed_and_active >= 1);
}

static void count_events(void *ctx, enum queue_event ev, uint64_t id)
{
    (void)ev;
    (void)id;
    (*(int *)ctx)++;
}

static void test_unsubscribed_listener_is_not_called_again(void **state)
{
    struct queue_fixture *f = *state;
    int events = 0;

    assert_int_equal(queue_subscribe(f->q, count_events, &events), 0);
    submit_simple(f->q, "5551234", 1);
    assert_true(events > 0);
    assert_int_equal(queue_unsubscribe(f->q, count_events, &events), 0);
    int before = events;
    submit_simple(f->q, "5551235", 1);
    queue_run_once(f->q);
    assert_int_equal(events, before);
    assert_int_equal(queue_unsubscribe(f->q, count_events, &events), -ENOENT);
}

static void test_submission_that_cannot_be_stored_leaves_no_job(void **state)
{
    struct queue_fixture *f = *state;
    struct queue_request req = {0};
    char why[200] = "";
    uint64_t id = 0, *ids;
    size_t n;
    int fd = make_good_tiff(1);

    strcpy(req.recipient_number, "5551234");
    backend_mem_fail_next(f->mem, MEM_FAULT_COMMIT, ENOSPC);
    assert_int_equal(queue_submit(f->q, &test_owner, &req, &fd, 1, &id, why, sizeof why), -ENOSPC);
    close(fd);
    assert_non_null(strstr(why, "nothing was submitted"));
    assert_int_equal(queue_list(f->q, QL_UNFINISHED | QL_HISTORY, &ids, &n), 0);
    assert_int_equal(n, 0);
    free(ids);
}

static void test_operation_that_cannot_be_stored_changes_nothing(void **state)
{
    struct queue_fixture *f = *state;
    char why[200];
    uint64_t id = submit_simple(f->q, "5551234", 1);

    backend_mem_fail_next(f->mem, MEM_FAULT_UPDATE, EIO);
    assert_int_equal(queue_control(f->q, &test_owner, id, QOP_PAUSE, why, sizeof why), -EIO);
    assert_int_equal(snap(f, id).status, JOB_QUEUED);
    assert_non_null(strstr(why, "nothing changed"));
}

static void test_bad_number_is_refused_at_submission(void **state)
{
    struct queue_fixture *f = *state;
    struct queue_request req = {0};
    char why[200];
    uint64_t id;
    int fd = make_good_tiff(1);

    strcpy(req.recipient_number, "call me");
    assert_int_equal(queue_submit(f->q, &test_owner, &req, &fd, 1, &id, why, sizeof why), -EINVAL);
    close(fd);
    assert_non_null(strstr(why, "recipient number"));
}

static void test_modem_info_shows_the_call_and_counts(void **state)
{
    struct queue_fixture *f = *state;
    struct queue_modem_info mi;
    uint64_t id = submit_simple(f->q, "5551234", 2);

    queue_run_once(f->q);
    queue_call_status(f->q, id, "sending page 1 of 2 at 14400 bps");
    assert_int_equal(queue_modem_info(f->q, 0, &mi), 0);
    assert_string_equal(mi.name, "modem0");
    assert_int_equal(mi.job, id);
    assert_string_equal(mi.status, "sending page 1 of 2 at 14400 bps");
    finish(f, id, QF_NONE, "", 2);
    assert_int_equal(queue_modem_info(f->q, 0, &mi), 0);
    assert_string_equal(mi.status, "idle");
    assert_int_equal(mi.calls, 1);
    assert_int_equal(mi.pages_sent, 2);
    assert_int_equal(mi.errors, 0);
    assert_int_equal(queue_modem_info(f->q, 2, &mi), -ENOENT);
}

static void test_finished_jobs_are_purged_after_history_days(void **state)
{
    struct queue_fixture *f = *state;
    uint64_t id = submit_simple(f->q, "5551234", 1);
    struct job j;

    queue_run_once(f->q);
    finish(f, id, QF_NONE, "", 1);
    f->clock.now += 29 * 86400;
    queue_run_once(f->q);
    assert_int_equal(queue_snapshot(f->q, id, &j), 0);
    f->clock.now += 2 * 86400;
    queue_run_once(f->q);
    assert_int_equal(queue_snapshot(f->q, id, &j), -ENOENT);
}

static void test_list_separates_unfinished_jobs_from_history(void **state)
{
    struct queue_fixture *f = *state;
    uint64_t a = submit_simple(f->q, "5551234", 1), b = submit_simple(f->q, "5559999", 1), *ids;
    char why[200];
    size_t n;

    queue_control(f->q, &test_owner, a, QOP_CANCEL, why, sizeof why);
    assert_int_equal(queue_list(f->q, QL_UNFINISHED, &ids, &n), 0);
    assert_int_equal(n, 1);
    assert_int_equal(ids[0], b);
    free(ids);
    assert_int_equal(queue_list(f->q, QL_HISTORY, &ids, &n), 0);
    assert_int_equal(n, 1);
    assert_int_equal(ids[0], a);
    free(ids);
}

static void test_first_job_of_a_new_store_gets_the_first_job_id(void **state)
{
    struct queue_fixture *f = *state;

    assert_int_equal(submit_simple(f->q, "5551234", 1), QUEUE_FIRST_JOB_ID);
    assert_int_equal(submit_simple(f->q, "5551234", 1), QUEUE_FIRST_JOB_ID + 1);
}

/* Restarts on a fresh store holding only a copy of job `from` stored as
 * job `to`: a store that handed out ids before the current ones. */
static void restart_with_job_stored_as(struct queue_fixture *f, uint64_t from, uint64_t to)
{
    struct job j = snap(f, from);
    char *text;

    j.id = to;
    assert_true(jobfile_format(&j, &text) > 0);
    queue_close(f->q);
    backend_mem_destroy(f->mem);
    f->mem = backend_mem_create();
    assert_int_equal(backend_mem_put_raw(f->mem, to, text, j.page_count), 0);
    free(text);
    f->cfg.backend = f->mem;
    memset(&f->line, 0, sizeof f->line);
    queue_fixture_open(f);
}

static void test_store_with_small_ids_keeps_them_and_continues_from_the_first_job_id(void **state)
{
    struct queue_fixture *f = *state;

    restart_with_job_stored_as(f, submit_simple(f->q, "5551234", 1), 3);
    assert_string_equal(snap(f, 3).recipient_number, "5551234");
    assert_int_equal(submit_simple(f->q, "5559999", 1), QUEUE_FIRST_JOB_ID);
    assert_string_equal(snap(f, 3).recipient_number, "5551234");
}

static void test_ids_grow_past_six_digits_without_wrapping(void **state)
{
    struct queue_fixture *f = *state;

    restart_with_job_stored_as(f, submit_simple(f->q, "5551234", 1), 999999);
    assert_int_equal(submit_simple(f->q, "5559999", 1), 1000000);
    assert_int_equal(submit_simple(f->q, "5559999", 1), 1000001);
}

static void test_job_log_records_submission_attempts_and_results(void **state)
{
    struct queue_fixture *f = *state;
    uint64_t id = submit_simple(f->q, "5551234", 2);
    char buf[4096] = "";

    queue_run_once(f->q);
    queue_call_log(f->q, id, "T.30: DIS received");
    finish(f, id, QF_BUSY, "busy", 0);
    int fd = queue_open_log(f->q, id);
    assert_true(fd >= 0);
    assert_true(read(fd, buf, sizeof buf - 1) > 0);
    close(fd);
    assert_non_null(strstr(buf, "submitted by uid 1000: 2 pages to 5551234\n"));
    assert_non_null(strstr(buf, "attempt 1 on modem0: dialing 5551234\n"));
    assert_non_null(strstr(buf, "T.30: DIS received\n"));
    assert_non_null(strstr(buf, "attempt 1 failed: busy (busy); next attempt at "));
}

static void test_dispatcher_thread_dials_without_being_driven(void **state)
{
    struct queue_fixture *f = *state;

    queue_close(f->q);
    f->cfg.no_thread = false;
    queue_fixture_open(f);
    uint64_t id = submit_simple(f->q, "5551234", 1);
    /* the thread reacts to the submission; wait for its state change
     * (a bounded poll on state, not a timing assertion) */
    for (int i = 0; i < 2000 && snap(f, id).status != JOB_ACTIVE; i++)
        usleep(1000);
    assert_int_equal(snap(f, id).status, JOB_ACTIVE);
}

int main(void)
{
#define T(name) cmocka_unit_test_setup_teardown(name, queue_fixture_setup_memory, queue_fixture_teardown)
    const struct CMUnitTest tests[] = {
        T(test_queued_job_is_dialed_on_a_free_modem),
        T(test_successful_call_makes_the_job_done),
        T(test_busy_number_is_retried_after_busy_delay),
        T(test_no_answer_waits_longer_than_busy),
        T(test_attempts_exhausted_fails_with_retries_exceeded),
        T(test_waiting_job_fails_when_its_kill_time_passes),
        T(test_scheduled_job_waits_for_its_time_to_send),
        T(test_two_jobs_to_one_number_never_call_at_once),
        T(test_high_priority_job_is_dialed_before_older_normal_jobs),
        T(test_retry_sends_only_pages_not_yet_confirmed),
        T(test_confirmed_pages_are_persisted_before_the_report_returns),
        T(test_cancel_of_an_active_job_aborts_its_call),
        T(test_call_that_completed_despite_cancel_is_done),
        T(test_pausing_an_active_job_does_not_count_the_attempt),
        T(test_shutdown_requeues_active_jobs_without_counting_the_attempt),
        T(test_whole_queue_pause_stops_dialing_and_survives_a_restart),
        T(test_failed_modem_start_counts_as_a_failed_attempt),
        T(test_listeners_hear_of_changes_only_after_they_are_stored),
        T(test_submission_that_cannot_be_stored_leaves_no_job),
        T(test_operation_that_cannot_be_stored_changes_nothing),
        T(test_bad_number_is_refused_at_submission),
        T(test_modem_info_shows_the_call_and_counts),
        T(test_finished_jobs_are_purged_after_history_days),
        T(test_list_separates_unfinished_jobs_from_history),
        T(test_first_job_of_a_new_store_gets_the_first_job_id),
        T(test_store_with_small_ids_keeps_them_and_continues_from_the_first_job_id),
        T(test_ids_grow_past_six_digits_without_wrapping),
        T(test_job_log_records_submission_attempts_and_results),
        T(test_dispatcher_thread_dials_without_being_driven),
        T(test_unsubscribed_listener_is_not_called_again),
    };
    /* The same behaviour over PostgreSQL (test queue_engine_pg, run by
     * tests/lib/with_postgres.sh): every test that does not look inside
     * or break the in-memory store. */
#define P(name) cmocka_unit_test_setup_teardown(name, queue_fixture_setup_pg, queue_fixture_teardown)
    const struct CMUnitTest pg_tests[] = {
        P(test_queued_job_is_dialed_on_a_free_modem),
        P(test_successful_call_makes_the_job_done),
        P(test_busy_number_is_retried_after_busy_delay),
        P(test_no_answer_waits_longer_than_busy),
        P(test_attempts_exhausted_fails_with_retries_exceeded),
        P(test_waiting_job_fails_when_its_kill_time_passes),
        P(test_scheduled_job_waits_for_its_time_to_send),
        P(test_two_jobs_to_one_number_never_call_at_once),
        P(test_high_priority_job_is_dialed_before_older_normal_jobs),
        P(test_retry_sends_only_pages_not_yet_confirmed),
        P(test_cancel_of_an_active_job_aborts_its_call),
        P(test_call_that_completed_despite_cancel_is_done),
        P(test_pausing_an_active_job_does_not_count_the_attempt),
        P(test_shutdown_requeues_active_jobs_without_counting_the_attempt),
        P(test_whole_queue_pause_stops_dialing_and_survives_a_restart),
        P(test_failed_modem_start_counts_as_a_failed_attempt),
        P(test_bad_number_is_refused_at_submission),
        P(test_modem_info_shows_the_call_and_counts),
        P(test_finished_jobs_are_purged_after_history_days),
        P(test_list_separates_unfinished_jobs_from_history),
        P(test_first_job_of_a_new_store_gets_the_first_job_id),
        P(test_job_log_records_submission_attempts_and_results),
        P(test_dispatcher_thread_dials_without_being_driven),
        P(test_unsubscribed_listener_is_not_called_again),
    };
    /* The same over the file spool (test queue_engine_spool). */
#define S(name) cmocka_unit_test_setup_teardown(name, queue_fixture_setup_spool, queue_fixture_teardown)
    const struct CMUnitTest spool_tests[] = {
        S(test_queued_job_is_dialed_on_a_free_modem),
        S(test_successful_call_makes_the_job_done),
        S(test_busy_number_is_retried_after_busy_delay),
        S(test_no_answer_waits_longer_than_busy),
        S(test_attempts_exhausted_fails_with_retries_exceeded),
        S(test_waiting_job_fails_when_its_kill_time_passes),
        S(test_scheduled_job_waits_for_its_time_to_send),
        S(test_two_jobs_to_one_number_never_call_at_once),
        S(test_high_priority_job_is_dialed_before_older_normal_jobs),
        S(test_retry_sends_only_pages_not_yet_confirmed),
        S(test_cancel_of_an_active_job_aborts_its_call),
        S(test_call_that_completed_despite_cancel_is_done),
        S(test_pausing_an_active_job_does_not_count_the_attempt),
        S(test_shutdown_requeues_active_jobs_without_counting_the_attempt),
        S(test_whole_queue_pause_stops_dialing_and_survives_a_restart),
        S(test_failed_modem_start_counts_as_a_failed_attempt),
        S(test_bad_number_is_refused_at_submission),
        S(test_modem_info_shows_the_call_and_counts),
        S(test_finished_jobs_are_purged_after_history_days),
        S(test_list_separates_unfinished_jobs_from_history),
        S(test_first_job_of_a_new_store_gets_the_first_job_id),
        S(test_job_log_records_submission_attempts_and_results),
        S(test_dispatcher_thread_dials_without_being_driven),
        S(test_unsubscribed_listener_is_not_called_again),
    };
    if (test_pg_conninfo() != NULL)
        return cmocka_run_group_tests_name("engine over PostgreSQL", pg_tests, NULL, NULL);
    const char *spool = getenv("FAXFS_TEST_SPOOL");
    if (spool != NULL && strcmp(spool, "1") == 0)
        return cmocka_run_group_tests_name("engine over the file spool", spool_tests, NULL, NULL);
    return cmocka_run_group_tests(tests, NULL, NULL);
}

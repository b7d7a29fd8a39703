/*
 * test_queue_batch.c - batching in the engine, with a fake line and a fake
 * clock: which due jobs ride in one call (same owner, same number, the
 * cap, priority, [destination] batch = no), the per-destination limit
 * counting a batch as one call, and what each job becomes when the call
 * ends (done, failed on the line, or back to the queue uncounted).
 */
#include <stdarg.h>
#include <stddef.h>
#include <setjmp.h>
#include <cmocka.h>

#include <errno.h>
#include <stdlib.h>
#include <string.h>
#include <unistd.h>

#include "queue/dialplan.h"
#include "queue_testutil.h"

static uint64_t submit_as(struct queue *q, const struct queue_caller *who, const char *number, int pages,
                          int priority)
{
    struct queue_request req;
    char why[256] = "";
    uint64_t id = 0;
    int fd = make_good_tiff(pages);

    memset(&req, 0, sizeof req);
    snprintf(req.recipient_number, sizeof req.recipient_number, "%s", number);
    req.priority = priority;
    int r = queue_submit(q, who, &req, &fd, 1, &id, why, sizeof why);
    if (r != 0)
        fail_msg("submit failed: %d %s", r, why);
    close(fd);
    return id;
}

static struct job snap(struct queue_fixture *f, uint64_t id)
{
    struct job j;
    assert_int_equal(queue_snapshot(f->q, id, &j), 0);
    return j;
}

static void finish(struct queue_fixture *f, uint64_t id, enum queue_failure fl, const char *code, int pages)
{
    struct queue_call_result r = test_result(fl, code, pages);
    queue_call_finished(f->q, id, &r);
}

static uint64_t line_calls(struct queue_fixture *f)
{
    struct queue_line_info li;
    assert_int_equal(queue_line_info(f->q, 0, &li), 0);
    return li.calls;
}

/* No per-destination limit unless a test sets one. */
static struct queue_fixture *open_batching(int batch_max, const struct dialplan *dp)
{
    struct queue_fixture *f = queue_fixture_new(false);
    f->cfg.batch_max = batch_max;
    f->cfg.per_destination_limit = 0;
    f->cfg.dialplan = dp;
    queue_fixture_open(f);
    assert_int_equal(queue_set_paused(f->q, true), 0); /* every job is due at the same round */
    return f;
}

static void run_round(struct queue_fixture *f)
{
    assert_int_equal(queue_set_paused(f->q, false), 0);
    queue_run_once(f->q);
}

static void test_three_jobs_of_one_owner_to_one_number_make_one_call(void **state)
{
    (void)state;
    struct queue_fixture *f = open_batching(10, NULL);
    uint64_t a = submit_simple(f->q, "5551234", 1), b = submit_simple(f->q, "555-1234", 2),
             c = submit_simple(f->q, "5551234", 1);
    run_round(f);
    assert_int_equal(f->line.ncalls, 1);
    assert_int_equal(f->line.calls[0].job_id, a);
    assert_int_equal(f->line.calls[0].nmore, 2);
    assert_int_equal(f->line.calls[0].more_ids[0], b);
    assert_int_equal(f->line.calls[0].more_pages[0], 2);
    assert_int_equal(f->line.calls[0].more_ids[1], c);
    /* the riders are on the call, their attempts not counted yet */
    assert_int_equal(snap(f, a).attempts, 1);
    assert_int_equal(snap(f, b).status, JOB_ACTIVE);
    assert_int_equal(snap(f, b).attempts, 0);

    assert_true(queue_call_next_document(f->q, b));
    assert_int_equal(snap(f, b).attempts, 1);
    finish(f, a, QF_NONE, "", 1);
    assert_int_equal(snap(f, a).status, JOB_DONE);
    assert_int_equal(line_calls(f), 0); /* the call goes on */
    assert_true(queue_call_next_document(f->q, c));
    finish(f, b, QF_NONE, "", 2);
    finish(f, c, QF_NONE, "", 1);
    assert_int_equal(snap(f, b).status, JOB_DONE);
    assert_int_equal(snap(f, b).pages_sent, 2);
    assert_int_equal(snap(f, c).status, JOB_DONE);
    assert_int_equal(snap(f, c).attempts, 1);
    assert_int_equal(line_calls(f), 1);
    queue_fixture_free(f);
}

static void test_jobs_of_two_owners_make_two_calls(void **state)
{
    (void)state;
    struct queue_fixture *f = open_batching(10, NULL);
    uint64_t a = submit_as(f->q, &test_owner, "5551234", 1, 0), b = submit_as(f->q, &test_stranger, "5551234", 1, 0);
    run_round(f);
    assert_int_equal(f->line.ncalls, 2);
    assert_int_equal(f->line.calls[0].nmore, 0);
    assert_int_equal(f->line.calls[1].nmore, 0);
    assert_true((f->line.calls[0].job_id == a && f->line.calls[1].job_id == b)
                || (f->line.calls[0].job_id == b && f->line.calls[1].job_id == a));
    queue_fixture_free(f);
}

static void test_the_cap_counts_documents_per_call(void **state)
{
    (void)state;
    struct queue_fixture *f = open_batching(2, NULL); /* two channels */
    uint64_t ids[4];
    for (int i = 0; i < 4; i++)
        ids[i] = submit_simple(f->q, "5551234", 1);
    run_round(f);
    assert_int_equal(f->line.ncalls, 2);
    assert_int_equal(f->line.calls[0].job_id, ids[0]);
    assert_int_equal(f->line.calls[0].nmore, 1);
    assert_int_equal(f->line.calls[0].more_ids[0], ids[1]);
    assert_int_equal(f->line.calls[1].job_id, ids[2]);
    assert_int_equal(f->line.calls[1].more_ids[0], ids[3]);
    queue_fixture_free(f);
}

static void test_batch_max_one_sends_each_job_on_its_own_call(void **state)
{
    (void)state;
    struct queue_fixture *f = open_batching(1, NULL);
    submit_simple(f->q, "5551234", 1);
    submit_simple(f->q, "5551234", 1);
    run_round(f);
    assert_int_equal(f->line.ncalls, 2);
    assert_int_equal(f->line.calls[0].nmore, 0);
    assert_int_equal(f->line.calls[1].nmore, 0);
    queue_fixture_free(f);
}

static void test_riders_join_in_priority_order(void **state)
{
    (void)state;
    struct queue_fixture *f = open_batching(2, NULL);
    uint64_t first = submit_as(f->q, &test_owner, "5551234", 1, 0);
    submit_as(f->q, &test_owner, "5551234", 1, 0);
    uint64_t urgent = submit_as(f->q, &test_owner, "5551234", 1, 200);
    run_round(f);
    assert_int_equal(f->line.calls[0].job_id, urgent);
    assert_int_equal(f->line.calls[0].nmore, 1);
    assert_int_equal(f->line.calls[0].more_ids[0], first);
    queue_fixture_free(f);
}

static void test_destination_batch_no_turns_batching_off_for_its_numbers(void **state)
{
    (void)state;
    struct dialplan *dp = dialplan_new();
    char why[256];
    assert_int_equal(dialplan_set(dp, DPO_DEST_BATCH, "555123X=no", why, sizeof why), 0);
    struct queue_fixture *f = open_batching(10, dp);
    submit_simple(f->q, "5559999", 1);
    submit_simple(f->q, "5559999", 1);
    uint64_t off1 = submit_simple(f->q, "5551234", 1), off2 = submit_simple(f->q, "5551234", 1);
    run_round(f);
    assert_int_equal(f->line.ncalls, 2); /* two channels */
    assert_string_equal(f->line.calls[0].number, "5559999");
    assert_int_equal(f->line.calls[0].nmore, 1);
    assert_int_equal(f->line.calls[1].job_id, off1);
    assert_int_equal(f->line.calls[1].nmore, 0);
    assert_int_equal(snap(f, off2).status, JOB_QUEUED);
    queue_fixture_free(f);
    dialplan_free(dp);
}

static void test_a_batch_is_one_call_for_the_destination_limit(void **state)
{
    (void)state;
    struct queue_fixture *f = queue_fixture_new(false);
    f->cfg.batch_max = 10;
    f->cfg.per_destination_limit = 1;
    queue_fixture_open(f);
    assert_int_equal(queue_set_paused(f->q, true), 0);
    uint64_t a = submit_as(f->q, &test_owner, "5551234", 1, 0);
    submit_as(f->q, &test_owner, "5551234", 1, 0);
    uint64_t other = submit_as(f->q, &test_stranger, "5551234", 1, 0);
    run_round(f);
    assert_int_equal(f->line.ncalls, 1);
    assert_int_equal(f->line.calls[0].nmore, 1);
    assert_int_equal(snap(f, other).status, JOB_QUEUED);
    /* the lead is done but its rider is still on the call: still one call */
    finish(f, a, QF_NONE, "", 1);
    queue_run_once(f->q);
    assert_int_equal(f->line.ncalls, 1);
    queue_fixture_free(f);
}

static void test_failure_mid_batch_fails_the_job_on_the_line_and_requeues_the_rest(void **state)
{
    (void)state;
    struct queue_fixture *f = open_batching(10, NULL);
    uint64_t a = submit_simple(f->q, "5551234", 1), b = submit_simple(f->q, "5551234", 1),
             c = submit_simple(f->q, "5551234", 1);
    run_round(f);
    assert_true(queue_call_next_document(f->q, b));
    finish(f, a, QF_NONE, "", 1);
    finish(f, b, QF_DROPPED, "t30_dropped", 0);
    queue_call_not_sent(f->q, c, b);
    assert_int_equal(snap(f, a).status, JOB_DONE);
    struct job jb = snap(f, b), jc = snap(f, c);
    assert_int_equal(jb.status, JOB_RETRYING);
    assert_int_equal(jb.attempts, 1);
    assert_string_equal(jb.error_code, "t30_dropped");
    assert_int_equal(jc.status, JOB_QUEUED);
    assert_int_equal(jc.attempts, 0);
    assert_int_equal(line_calls(f), 1);
    /* the channel is free again: the rider that never had its turn goes now */
    assert_int_equal(queue_run_once(f->q), 1);
    assert_int_equal(f->line.calls[1].job_id, c);
    assert_int_equal(snap(f, c).attempts, 1);
    queue_fixture_free(f);
}

static void test_call_ending_as_a_riders_turn_began_does_not_count_it(void **state)
{
    (void)state;
    struct queue_fixture *f = open_batching(10, NULL);
    uint64_t a = submit_simple(f->q, "5551234", 2), b = submit_simple(f->q, "5551234", 1);
    run_round(f);
    assert_true(queue_call_next_document(f->q, b)); /* asked before a's last page was confirmed */
    finish(f, a, QF_DROPPED, "t30_dropped", 1);
    queue_call_not_sent(f->q, b, a);
    assert_int_equal(snap(f, a).status, JOB_RETRYING);
    assert_int_equal(snap(f, a).pages_sent, 1);
    assert_int_equal(snap(f, b).status, JOB_QUEUED);
    assert_int_equal(snap(f, b).attempts, 0);
    queue_fixture_free(f);
}

static void test_canceled_rider_is_not_sent(void **state)
{
    (void)state;
    struct queue_fixture *f = open_batching(10, NULL);
    char why[256];
    uint64_t a = submit_simple(f->q, "5551234", 1), b = submit_simple(f->q, "5551234", 1);
    run_round(f);
    assert_int_equal(queue_control(f->q, &test_owner, b, QOP_CANCEL, why, sizeof why), 0);
    assert_int_equal(f->line.naborts, 0); /* the call of a is not aborted for it */
    assert_false(queue_call_next_document(f->q, b));
    finish(f, a, QF_NONE, "", 1);
    queue_call_not_sent(f->q, b, a);
    assert_int_equal(snap(f, a).status, JOB_DONE);
    assert_int_equal(snap(f, b).status, JOB_CANCELED);
    assert_int_equal(snap(f, b).attempts, 0);
    assert_int_equal(line_calls(f), 1);
    queue_fixture_free(f);
}

static void test_riders_of_an_interrupted_server_are_queued_uncounted_after_restart(void **state)
{
    (void)state;
    struct queue_fixture *f = queue_fixture_new(true);
    f->cfg.batch_max = 10;
    queue_fixture_open(f);
    assert_int_equal(queue_set_paused(f->q, true), 0);
    uint64_t a = submit_simple(f->q, "5551234", 1), b = submit_simple(f->q, "5551234", 1);
    run_round(f);
    f->line.q = NULL; /* the calls never report: as a crash */
    queue_fixture_reopen(f);
    assert_int_equal(snap(f, a).status, JOB_QUEUED);
    assert_int_equal(snap(f, b).status, JOB_QUEUED);
    assert_int_equal(snap(f, b).attempts, 0);
    queue_fixture_free(f);
}

int main(void)
{
    const struct CMUnitTest tests[] = {
        cmocka_unit_test(test_three_jobs_of_one_owner_to_one_number_make_one_call),
        cmocka_unit_test(test_jobs_of_two_owners_make_two_calls),
        cmocka_unit_test(test_the_cap_counts_documents_per_call),
        cmocka_unit_test(test_batch_max_one_sends_each_job_on_its_own_call),
        cmocka_unit_test(test_riders_join_in_priority_order),
        cmocka_unit_test(test_destination_batch_no_turns_batching_off_for_its_numbers),
        cmocka_unit_test(test_a_batch_is_one_call_for_the_destination_limit),
        cmocka_unit_test(test_failure_mid_batch_fails_the_job_on_the_line_and_requeues_the_rest),
        cmocka_unit_test(test_call_ending_as_a_riders_turn_began_does_not_count_it),
        cmocka_unit_test(test_canceled_rider_is_not_sent),
        cmocka_unit_test(test_riders_of_an_interrupted_server_are_queued_uncounted_after_restart),
    };
    return cmocka_run_group_tests(tests, NULL, NULL);
}

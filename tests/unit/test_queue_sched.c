/*
 * test_queue_sched.c - the scheduling policy as pure functions: dispatch
 * order, per-destination limit, retry delays per failure class and their
 * jitter, attempts and kill time.
 */
#include <stdarg.h>
#include <stddef.h>
#include <setjmp.h>
#include <cmocka.h>

#include <stdio.h>
#include <string.h>

#include "queue/sched.h"

static struct job_core make_job(uint64_t id, const char *number, int priority, int64_t submitted)
{
    struct job j;

    job_init(&j);
    j.id = id;
    strcpy(j.recipient_number, number);
    j.priority = priority;
    j.submitted = submitted;
    j.page_count = 2;
    j.status = JOB_QUEUED;
    return j.core;
}

static struct sched_policy default_policy(void)
{
    struct sched_policy p;
    sched_policy_init(&p, NULL, -1, 0);
    return p;
}

static void test_higher_priority_goes_first_then_older_jobs(void **state)
{
    (void)state;
    struct job_core a = make_job(1, "1", JOB_PRIORITY_NORMAL, 100), b = make_job(2, "2", JOB_PRIORITY_HIGH, 200),
               c = make_job(3, "3", JOB_PRIORITY_NORMAL, 50);
    const struct job_core *cand[] = {&a, &b, &c};
    size_t picked[3];

    assert_int_equal(sched_pick(cand, 3, NULL, 0, 3, 0, picked), 3);
    assert_int_equal(cand[picked[0]]->id, 2);
    assert_int_equal(cand[picked[1]]->id, 3);
    assert_int_equal(cand[picked[2]]->id, 1);
}

static void test_no_more_calls_than_free_channels(void **state)
{
    (void)state;
    struct job_core a = make_job(1, "1", 128, 1), b = make_job(2, "2", 128, 2);
    const struct job_core *cand[] = {&a, &b};
    size_t picked[2];

    assert_int_equal(sched_pick(cand, 2, NULL, 0, 1, 0, picked), 1);
    assert_int_equal(cand[picked[0]]->id, 1);
}

static void test_one_call_per_destination_by_limit(void **state)
{
    (void)state;
    struct job_core a = make_job(1, "555", 128, 1), b = make_job(2, "555", 128, 2), c = make_job(3, "777", 128, 3);
    const struct job_core *cand[] = {&a, &b, &c};
    size_t picked[3];

    assert_int_equal(sched_pick(cand, 3, NULL, 0, 3, 1, picked), 2);
    assert_int_equal(cand[picked[0]]->id, 1);
    assert_int_equal(cand[picked[1]]->id, 3);
}

/* A [destination 555X] with max-calls 1 groups 5551 and 5552; other
 * numbers keep a limit of 2 each. */
static int group_key(void *ctx, const struct job_core *j, char *key, size_t keylen)
{
    (void)ctx;
    if (strncmp(j->recipient_number, "555", 3) == 0 && strlen(j->recipient_number) == 4) {
        snprintf(key, keylen, "[555X]");
        return 1;
    }
    snprintf(key, keylen, "%s", j->recipient_number);
    return 2;
}

static void test_keyed_limit_groups_numbers_of_a_destination(void **state)
{
    (void)state;
    struct job_core a = make_job(1, "5551", 128, 1), b = make_job(2, "5552", 128, 2), c = make_job(3, "777", 128, 3),
               d = make_job(4, "777", 128, 4), e = make_job(5, "777", 128, 5);
    const struct job_core *cand[] = {&a, &b, &c, &d, &e};
    size_t picked[5];

    assert_int_equal(sched_pick_keyed(cand, 5, NULL, 0, 5, group_key, NULL, picked), 3);
    assert_int_equal(cand[picked[0]]->id, 1);
    assert_int_equal(cand[picked[1]]->id, 3);
    assert_int_equal(cand[picked[2]]->id, 4);
    /* An active call of the group holds both numbers back. */
    struct job_core busy = make_job(9, "5553", 128, 0);
    const struct job_core *active[] = {&busy};
    const struct job_core *cand2[] = {&a, &b};
    assert_int_equal(sched_pick_keyed(cand2, 2, active, 1, 2, group_key, NULL, picked), 0);
}

static void test_active_calls_count_against_the_destination_limit(void **state)
{
    (void)state;
    struct job_core busy = make_job(9, "555", 128, 0), a = make_job(1, "555", 128, 1);
    const struct job_core *active[] = {&busy};
    const struct job_core *cand[] = {&a};
    size_t picked[1];

    assert_int_equal(sched_pick(cand, 1, active, 1, 2, 1, picked), 0);
    assert_int_equal(sched_pick(cand, 1, active, 1, 2, 2, picked), 1);
    assert_int_equal(sched_pick(cand, 1, active, 1, 2, 0, picked), 1); /* 0 = unlimited */
}

static void test_retry_delays_follow_the_failure_class(void **state)
{
    (void)state;
    struct sched_policy p = default_policy();

    assert_int_equal(sched_retry_delay(&p, QF_BUSY, 12345), 180);
    assert_int_equal(sched_retry_delay(&p, QF_NO_ANSWER, 12345), 300);
    assert_int_equal(sched_retry_delay(&p, QF_NO_LINE, 12345), 300);
    assert_int_equal(sched_retry_delay(&p, QF_NOT_FAX, 12345), 300);
    assert_int_equal(sched_retry_delay(&p, QF_DROPPED, 12345), 60);
}

static void test_configured_retry_delay_replaces_the_default(void **state)
{
    (void)state;
    int delays[QF_COUNT] = {0};
    struct sched_policy p;

    delays[QF_BUSY] = 30;
    sched_policy_init(&p, delays, -1, 0);
    assert_int_equal(sched_retry_delay(&p, QF_BUSY, 0), 30);
    assert_int_equal(sched_retry_delay(&p, QF_NO_ANSWER, 0), 300); /* 0 means default */
}

static void test_jitter_stays_within_its_percentage(void **state)
{
    (void)state;
    struct sched_policy p;

    sched_policy_init(&p, NULL, 10, 0);
    assert_int_equal(sched_retry_delay(&p, QF_BUSY, 0), 162);  /* 180 - 18 */
    assert_int_equal(sched_retry_delay(&p, QF_BUSY, 36), 198); /* 180 + 18 */
    assert_int_equal(sched_retry_delay(&p, QF_BUSY, 18), 180);
    for (uint32_t r = 0; r < 1000; r++) {
        int d = sched_retry_delay(&p, QF_BUSY, r * 2654435761u);
        assert_in_range(d, 162, 198);
    }
}

static void test_failed_call_is_retried_while_attempts_remain(void **state)
{
    (void)state;
    struct sched_policy p = default_policy();
    struct job_core j = make_job(1, "1", 128, 0);
    int64_t next;

    j.attempts = 1;
    assert_int_equal(sched_after_call(&p, &j, QF_BUSY, 1000, 180, &next), SCHED_RETRY);
    assert_int_equal(next, 1180);
}

static void test_attempts_exhausted_fails_the_job(void **state)
{
    (void)state;
    struct sched_policy p = default_policy();
    struct job_core j = make_job(1, "1", 128, 0);
    int64_t next;

    j.attempts = QUEUE_DEFAULT_MAX_ATTEMPTS;
    assert_int_equal(sched_after_call(&p, &j, QF_BUSY, 1000, 180, &next), SCHED_FAIL_EXHAUSTED);
    j.max_attempts = 10;
    assert_int_equal(sched_after_call(&p, &j, QF_BUSY, 1000, 180, &next), SCHED_RETRY);
}

static void test_retry_after_the_kill_time_fails_the_job(void **state)
{
    (void)state;
    struct sched_policy p = default_policy();
    struct job_core j = make_job(1, "1", 128, 0);
    int64_t next;

    j.attempts = 1;
    j.kill_time = 1100;
    assert_int_equal(sched_after_call(&p, &j, QF_BUSY, 1000, 180, &next), SCHED_FAIL_KILLED);
}

static void test_permanent_error_fails_at_once(void **state)
{
    (void)state;
    struct sched_policy p = default_policy();
    struct job_core j = make_job(1, "1", 128, 0);
    int64_t next;

    j.attempts = 1;
    assert_int_equal(sched_after_call(&p, &j, QF_PERMANENT, 1000, 60, &next), SCHED_FAIL_PERMANENT);
}

static void test_success_with_pages_missing_is_not_done(void **state)
{
    (void)state;
    struct sched_policy p = default_policy();
    struct job_core j = make_job(1, "1", 128, 0);
    int64_t next;

    j.attempts = 1;
    j.pages_sent = 1;
    assert_int_equal(sched_after_call(&p, &j, QF_NONE, 1000, 60, &next), SCHED_RETRY);
    j.pages_sent = 2;
    assert_int_equal(sched_after_call(&p, &j, QF_NONE, 1000, 60, &next), SCHED_DONE);
}

static void test_aborted_call_is_requeued_not_failed(void **state)
{
    (void)state;
    struct sched_policy p = default_policy();
    struct job_core j = make_job(1, "1", 128, 0);
    int64_t next;

    j.attempts = QUEUE_DEFAULT_MAX_ATTEMPTS;
    assert_int_equal(sched_after_call(&p, &j, QF_ABORTED, 1000, 60, &next), SCHED_REQUEUE);
}

static void test_waiting_state_follows_the_job_times(void **state)
{
    (void)state;
    struct job_core j = make_job(1, "1", 128, 0);

    assert_int_equal(sched_waiting_state(&j, 100), JOB_QUEUED);
    j.scheduled = 200;
    assert_int_equal(sched_waiting_state(&j, 100), JOB_SCHEDULED);
    j.scheduled = 0;
    j.next_attempt = 200;
    assert_int_equal(sched_waiting_state(&j, 100), JOB_RETRYING);
    assert_int_equal(sched_waiting_state(&j, 200), JOB_QUEUED);
}

/* ---- batching: which jobs ride in one call ---- */

static bool same_settings(void *ctx, const struct job_core *lead, const struct job_core *c)
{
    (void)ctx;
    return lead->use_ecm == c->use_ecm;
}

static void test_batch_takes_same_owner_same_number_only(void **state)
{
    (void)state;
    struct job_core lead = make_job(1, "5551234", 128, 1), a = make_job(2, "5551234", 128, 2),
               other_owner = make_job(3, "5551234", 128, 3), other_number = make_job(4, "5559999", 128, 4);
    other_owner.owner_uid = lead.owner_uid + 1;
    const struct job_core *cand[] = {&other_owner, &lead, &other_number, &a};
    size_t picked[4];
    assert_int_equal(sched_batch_pick(&lead, cand, 4, 10, same_settings, NULL, picked), 1);
    assert_ptr_equal(cand[picked[0]], &a);
}

static void test_batch_respects_the_cap_counting_the_lead(void **state)
{
    (void)state;
    struct job_core lead = make_job(1, "555", 128, 1), a = make_job(2, "555", 128, 2), b = make_job(3, "555", 128, 3),
               c = make_job(4, "555", 128, 4);
    const struct job_core *cand[] = {&a, &b, &c};
    size_t picked[3];
    assert_int_equal(sched_batch_pick(&lead, cand, 3, 3, same_settings, NULL, picked), 2);
    assert_ptr_equal(cand[picked[0]], &a);
    assert_ptr_equal(cand[picked[1]], &b);
    /* a cap of one document a call is no batching at all */
    assert_int_equal(sched_batch_pick(&lead, cand, 3, 1, same_settings, NULL, picked), 0);
}

static void test_batch_fills_in_priority_order(void **state)
{
    (void)state;
    struct job_core lead = make_job(1, "555", 200, 1), low = make_job(2, "555", 10, 2), high = make_job(3, "555", 255, 9),
               normal_old = make_job(4, "555", 128, 3), normal_new = make_job(5, "555", 128, 8);
    const struct job_core *cand[] = {&low, &normal_new, &high, &normal_old};
    size_t picked[4];
    assert_int_equal(sched_batch_pick(&lead, cand, 4, 4, same_settings, NULL, picked), 3);
    assert_ptr_equal(cand[picked[0]], &high);
    assert_ptr_equal(cand[picked[1]], &normal_old);
    assert_ptr_equal(cand[picked[2]], &normal_new);
}

static void test_batch_leaves_out_other_settings_and_sent_jobs(void **state)
{
    (void)state;
    struct job_core lead = make_job(1, "555", 128, 1), no_ecm = make_job(2, "555", 128, 2), sent = make_job(3, "555", 128, 3),
               fine = make_job(4, "555", 128, 4);
    no_ecm.use_ecm = 0;
    lead.use_ecm = fine.use_ecm = sent.use_ecm = 1;
    sent.pages_sent = sent.page_count;
    const struct job_core *cand[] = {&no_ecm, &sent, &fine};
    size_t picked[3];
    assert_int_equal(sched_batch_pick(&lead, cand, 3, 10, same_settings, NULL, picked), 1);
    assert_ptr_equal(cand[picked[0]], &fine);
}

int main(void)
{
    const struct CMUnitTest tests[] = {
        cmocka_unit_test(test_higher_priority_goes_first_then_older_jobs),
        cmocka_unit_test(test_no_more_calls_than_free_channels),
        cmocka_unit_test(test_one_call_per_destination_by_limit),
        cmocka_unit_test(test_keyed_limit_groups_numbers_of_a_destination),
        cmocka_unit_test(test_active_calls_count_against_the_destination_limit),
        cmocka_unit_test(test_retry_delays_follow_the_failure_class),
        cmocka_unit_test(test_configured_retry_delay_replaces_the_default),
        cmocka_unit_test(test_jitter_stays_within_its_percentage),
        cmocka_unit_test(test_failed_call_is_retried_while_attempts_remain),
        cmocka_unit_test(test_attempts_exhausted_fails_the_job),
        cmocka_unit_test(test_retry_after_the_kill_time_fails_the_job),
        cmocka_unit_test(test_permanent_error_fails_at_once),
        cmocka_unit_test(test_success_with_pages_missing_is_not_done),
        cmocka_unit_test(test_aborted_call_is_requeued_not_failed),
        cmocka_unit_test(test_waiting_state_follows_the_job_times),
        cmocka_unit_test(test_batch_takes_same_owner_same_number_only),
        cmocka_unit_test(test_batch_respects_the_cap_counting_the_lead),
        cmocka_unit_test(test_batch_fills_in_priority_order),
        cmocka_unit_test(test_batch_leaves_out_other_settings_and_sent_jobs),
    };
    return cmocka_run_group_tests(tests, NULL, NULL);
}

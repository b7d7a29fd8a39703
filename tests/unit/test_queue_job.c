/*
 * test_queue_job.c - the job vocabulary (numbers, priorities, times, names)
 * and the lifecycle: every operation in every state, legal and illegal,
 * through the engine.
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
#include "queue_testutil.h"

static void test_numbers_drop_separators_and_keep_leading_plus(void **state)
{
    (void)state;
    char out[JOB_NUMBER_MAX], why[200];

    assert_int_equal(job_normalize_number("+1 (555) 123-45.67", out, sizeof out, why, sizeof why), 0);
    assert_string_equal(out, "+15551234567");
}

static void test_numbers_without_digits_or_with_letters_are_refused(void **state)
{
    (void)state;
    char out[JOB_NUMBER_MAX], why[200];
    static const char *const bad[] = {"", " - ", "+", "555-CALL", "55+5", "12/34", "1;rm"};

    for (size_t i = 0; i < sizeof bad / sizeof bad[0]; i++) {
        assert_int_equal(job_normalize_number(bad[i], out, sizeof out, why, sizeof why), -EINVAL);
        assert_non_null(strstr(why, "recipient number"));
    }
}

static void test_priorities_parse_names_and_numbers(void **state)
{
    (void)state;
    int p;
    char buf[16];

    assert_int_equal(job_parse_priority("high", &p), 0);
    assert_int_equal(p, JOB_PRIORITY_HIGH);
    assert_int_equal(job_parse_priority("17", &p), 0);
    assert_int_equal(p, 17);
    assert_int_equal(job_parse_priority("256", &p), -EINVAL);
    assert_int_equal(job_parse_priority("-1", &p), -EINVAL);
    job_format_priority(JOB_PRIORITY_LOW, buf, sizeof buf);
    assert_string_equal(buf, "low");
    job_format_priority(17, buf, sizeof buf);
    assert_string_equal(buf, "17");
}

static void test_times_parse_iso8601_and_relative_forms(void **state)
{
    (void)state;
    int64_t t;

    assert_int_equal(job_parse_time("2026-11-24T10:00:00+01:00", 0, &t), 0);
    assert_int_equal(t, 1795510800);
    assert_int_equal(job_parse_time("2026-11-24 09:00Z", 0, &t), 0);
    assert_int_equal(t, 1795510800);
    assert_int_equal(job_parse_time("2026-11-24T09:00:00", 0, &t), 0); /* TZ=UTC in tests */
    assert_int_equal(t, 1795510800);
    assert_int_equal(job_parse_time("+30m", 1000, &t), 0);
    assert_int_equal(t, 1000 + 1800);
    assert_int_equal(job_parse_time("+2h", 0, &t), 0);
    assert_int_equal(t, 7200);
    assert_int_equal(job_parse_time("now", 55, &t), 0);
    assert_int_equal(t, 55);
    assert_int_equal(job_parse_time("tomorrow", 0, &t), -EINVAL);
    assert_int_equal(job_parse_time("+5y", 0, &t), -EINVAL);
    assert_int_equal(job_parse_time("2026-13-01T00:00", 0, &t), -EINVAL);
}

static void test_times_format_as_iso8601_with_offset(void **state)
{
    (void)state;
    char buf[40];

    job_format_time(1795510800, buf, sizeof buf);
    assert_string_equal(buf, "2026-11-24T09:00:00+00:00");
    job_format_time(0, buf, sizeof buf);
    assert_string_equal(buf, "");
}

static void test_status_names_round_trip(void **state)
{
    (void)state;
    for (int s = 0; s < JOB_STATUS_COUNT; s++) {
        enum job_status back;
        assert_int_equal(job_status_from_name(job_status_name((enum job_status)s), &back), 0);
        assert_int_equal(back, s);
    }
    enum queue_op op;
    assert_int_equal(queue_op_from_name("cancel", &op), 0);
    assert_int_equal(op, QOP_CANCEL);
    assert_int_equal(queue_op_from_name("delete", &op), -EINVAL);
}

/* ---- the lifecycle through the engine -------------------------------- */

static void finish(struct queue_fixture *f, uint64_t id, enum queue_failure fl, const char *code, int pages)
{
    struct queue_call_result r = test_result(fl, code, pages);
    queue_call_finished(f->q, id, &r);
}

/* Creates a job and brings it into state s by the public operations. */
static uint64_t job_in_state(struct queue_fixture *f, enum job_status s)
{
    struct queue_request req = {0};
    char why[200];
    uint64_t id;

    if (s == JOB_SCHEDULED) {
        int fd = make_good_tiff(1);
        strcpy(req.recipient_number, "5551000");
        req.scheduled = f->clock.now + 3600;
        assert_int_equal(queue_submit(f->q, &test_owner, &req, &fd, 1, &id, why, sizeof why), 0);
        close(fd);
        return id;
    }
    id = submit_simple(f->q, "5551000", 1);
    switch (s) {
    case JOB_QUEUED:
    case JOB_SCHEDULED:
    case JOB_RECEIVING:
    case JOB_STATUS_COUNT:
        break;
    case JOB_PAUSED:
        assert_int_equal(queue_control(f->q, &test_owner, id, QOP_PAUSE, why, sizeof why), 0);
        break;
    case JOB_CANCELED:
        assert_int_equal(queue_control(f->q, &test_owner, id, QOP_CANCEL, why, sizeof why), 0);
        break;
    case JOB_ACTIVE:
    case JOB_RETRYING:
    case JOB_DONE:
    case JOB_FAILED:
        assert_int_equal(queue_run_once(f->q), 1);
        if (s == JOB_RETRYING)
            finish(f, id, QF_BUSY, "busy", 0);
        else if (s == JOB_DONE)
            finish(f, id, QF_NONE, "", 1);
        else if (s == JOB_FAILED)
            finish(f, id, QF_PERMANENT, "rejected", 0);
        break;
    }
    struct job j;
    assert_int_equal(queue_snapshot(f->q, id, &j), 0);
    assert_int_equal(j.status, s);
    return id;
}

#define ILLEGAL ((enum job_status) - 1)
struct transition {
    enum job_status from;
    enum queue_op op;
    enum job_status to; /* ILLEGAL: -EBUSY and no change */
    bool aborts_call;
};

static const struct transition transitions[] = {
    {JOB_QUEUED, QOP_PAUSE, JOB_PAUSED, false},      {JOB_QUEUED, QOP_RESUME, ILLEGAL, false},
    {JOB_QUEUED, QOP_RESTART, ILLEGAL, false},       {JOB_QUEUED, QOP_CANCEL, JOB_CANCELED, false},
    {JOB_SCHEDULED, QOP_PAUSE, JOB_PAUSED, false},   {JOB_SCHEDULED, QOP_RESUME, ILLEGAL, false},
    {JOB_SCHEDULED, QOP_RESTART, ILLEGAL, false},    {JOB_SCHEDULED, QOP_CANCEL, JOB_CANCELED, false},
    {JOB_ACTIVE, QOP_PAUSE, JOB_PAUSED, true},       {JOB_ACTIVE, QOP_RESUME, ILLEGAL, false},
    {JOB_ACTIVE, QOP_RESTART, ILLEGAL, false},       {JOB_ACTIVE, QOP_CANCEL, JOB_CANCELED, true},
    {JOB_RETRYING, QOP_PAUSE, JOB_PAUSED, false},    {JOB_RETRYING, QOP_RESUME, ILLEGAL, false},
    {JOB_RETRYING, QOP_RESTART, ILLEGAL, false},     {JOB_RETRYING, QOP_CANCEL, JOB_CANCELED, false},
    {JOB_PAUSED, QOP_PAUSE, ILLEGAL, false},         {JOB_PAUSED, QOP_RESUME, JOB_QUEUED, false},
    {JOB_PAUSED, QOP_RESTART, ILLEGAL, false},       {JOB_PAUSED, QOP_CANCEL, JOB_CANCELED, false},
    {JOB_DONE, QOP_PAUSE, ILLEGAL, false},           {JOB_DONE, QOP_RESUME, ILLEGAL, false},
    {JOB_DONE, QOP_RESTART, ILLEGAL, false},         {JOB_DONE, QOP_CANCEL, ILLEGAL, false},
    {JOB_FAILED, QOP_PAUSE, ILLEGAL, false},         {JOB_FAILED, QOP_RESUME, ILLEGAL, false},
    {JOB_FAILED, QOP_RESTART, JOB_QUEUED, false},    {JOB_FAILED, QOP_CANCEL, ILLEGAL, false},
    {JOB_CANCELED, QOP_PAUSE, ILLEGAL, false},       {JOB_CANCELED, QOP_RESUME, ILLEGAL, false},
    {JOB_CANCELED, QOP_RESTART, JOB_QUEUED, false},  {JOB_CANCELED, QOP_CANCEL, ILLEGAL, false},
};

static void test_every_operation_in_every_state_follows_the_lifecycle_table(void **state)
{
    for (size_t i = 0; i < sizeof transitions / sizeof transitions[0]; i++) {
        const struct transition *t = &transitions[i];
        struct queue_fixture *f;
        char why[200] = "";
        struct job before, after;

        queue_fixture_setup_memory(state);
        f = *state;
        uint64_t id = job_in_state(f, t->from);
        assert_int_equal(queue_snapshot(f->q, id, &before), 0);
        int r = queue_control(f->q, &test_owner, id, t->op, why, sizeof why);
        assert_int_equal(queue_snapshot(f->q, id, &after), 0);
        if (t->to == ILLEGAL) {
            if (r != -EBUSY)
                fail_msg("%s in %s: got %d, want -EBUSY", queue_op_name(t->op), job_status_name(t->from), r);
            assert_memory_equal(&before, &after, sizeof before);
            assert_non_null(strstr(why, job_status_name(t->from)));
        } else {
            if (r != 0 || after.status != t->to)
                fail_msg("%s in %s: got %d and %s, want %s", queue_op_name(t->op), job_status_name(t->from), r,
                         job_status_name(after.status), job_status_name(t->to));
        }
        assert_int_equal(job_op_allowed(JOB_SEND, t->from, t->op), t->to != ILLEGAL);
        assert_int_equal(f->line.naborts, t->aborts_call ? 1 : 0);
        queue_fixture_teardown(state);
    }
}

static void test_operations_by_someone_else_are_refused(void **state)
{
    struct queue_fixture *f = *state;
    char why[200];
    uint64_t id = job_in_state(f, JOB_QUEUED);

    assert_int_equal(queue_control(f->q, &test_stranger, id, QOP_CANCEL, why, sizeof why), -EPERM);
    assert_non_null(strstr(why, "owner"));
    assert_int_equal(queue_control(f->q, &test_root, id, QOP_PAUSE, why, sizeof why), 0);
}

static void test_unknown_job_is_reported_missing(void **state)
{
    struct queue_fixture *f = *state;
    char why[200];

    assert_int_equal(queue_control(f->q, &test_owner, 999, QOP_CANCEL, why, sizeof why), -ENOENT);
}

static void test_delete_is_allowed_only_for_finished_jobs(void **state)
{
    struct queue_fixture *f = *state;
    char why[200];
    uint64_t id = job_in_state(f, JOB_QUEUED);
    struct job j;

    assert_int_equal(queue_delete(f->q, &test_owner, id, why, sizeof why), -EBUSY);
    assert_int_equal(queue_control(f->q, &test_owner, id, QOP_CANCEL, why, sizeof why), 0);
    assert_int_equal(queue_delete(f->q, &test_stranger, id, why, sizeof why), -EPERM);
    assert_int_equal(queue_delete(f->q, &test_owner, id, why, sizeof why), 0);
    assert_int_equal(queue_snapshot(f->q, id, &j), -ENOENT);
}

static void test_restart_sends_the_whole_fax_again_with_fresh_attempts(void **state)
{
    struct queue_fixture *f = *state;
    char why[200];
    uint64_t id = submit_simple(f->q, "5551000", 3);
    struct job j;

    assert_int_equal(queue_run_once(f->q), 1);
    queue_call_pages_confirmed(f->q, id, 2);
    finish(f, id, QF_PERMANENT, "rejected", 2);
    assert_int_equal(queue_control(f->q, &test_owner, id, QOP_RESTART, why, sizeof why), 0);
    assert_int_equal(queue_snapshot(f->q, id, &j), 0);
    assert_int_equal(j.attempts, 0);
    assert_int_equal(j.pages_sent, 0);
    assert_string_equal(j.error_code, "");
    assert_int_equal(j.finished, 0);
}

static void test_resolution_names_round_trip(void **state)
{
    (void)state;
    int r = 0;

    assert_int_equal(job_parse_resolution("standard", &r), 0);
    assert_int_equal(r, JOB_RES_STANDARD);
    assert_int_equal(job_parse_resolution("superfine", &r), 0);
    assert_int_equal(r, JOB_RES_SUPERFINE);
    assert_int_equal(job_parse_resolution("fine", &r), 0);
    assert_string_equal(job_resolution_name(r), "fine");
    assert_string_equal(job_resolution_name(0), "unknown");
}

static void test_unknown_resolution_is_refused(void **state)
{
    (void)state;
    int r = 7;

    assert_int_equal(job_parse_resolution("Fine", &r), -EINVAL);
    assert_int_equal(job_parse_resolution("", &r), -EINVAL);
    assert_int_equal(job_parse_resolution("high", &r), -EINVAL);
    assert_int_equal(r, 7);
}

static void test_new_job_is_fine_resolution(void **state)
{
    (void)state;
    struct job j;

    job_init(&j);
    assert_int_equal(j.resolution, JOB_RES_FINE);
    assert_string_equal(j.transport, "");
}

#define T(name) cmocka_unit_test_setup_teardown(name, queue_fixture_setup_memory, queue_fixture_teardown)

int main(void)
{
    const struct CMUnitTest tests[] = {
        cmocka_unit_test(test_numbers_drop_separators_and_keep_leading_plus),
        cmocka_unit_test(test_numbers_without_digits_or_with_letters_are_refused),
        cmocka_unit_test(test_priorities_parse_names_and_numbers),
        cmocka_unit_test(test_times_parse_iso8601_and_relative_forms),
        cmocka_unit_test(test_times_format_as_iso8601_with_offset),
        cmocka_unit_test(test_status_names_round_trip),
        cmocka_unit_test(test_every_operation_in_every_state_follows_the_lifecycle_table),
        cmocka_unit_test(test_resolution_names_round_trip),
        cmocka_unit_test(test_unknown_resolution_is_refused),
        cmocka_unit_test(test_new_job_is_fine_resolution),
        T(test_operations_by_someone_else_are_refused),
        T(test_unknown_job_is_reported_missing),
        T(test_delete_is_allowed_only_for_finished_jobs),
        T(test_restart_sends_the_whole_fax_again_with_fresh_attempts),
    };
    return cmocka_run_group_tests(tests, NULL, NULL);
}

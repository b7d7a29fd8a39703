/*
 * test_queue_memory.c - the engine's compact job record (docs/queue.md
 * "Memory"): a job's delivery records and its seldom-set long texts are
 * kept apart from its other fields, sized to what is present. Records added, changed, removed,
 * persisted and reloaded; a job with all eight; a failed write that
 * changes nothing; snapshots taken while another thread changes the
 * records.
 */
#include <stdarg.h>
#include <stddef.h>
#include <setjmp.h>
#include <cmocka.h>

#include <errno.h>
#include <pthread.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <unistd.h>

#include "queue/backend_mem.h"
#include "queue_testutil.h"

static uint64_t received_fax(struct queue_fixture *f)
{
    uint64_t id;
    assert_int_equal(queue_receive_begin_called(f->q, "in0", "5551234", "5550101", &id), 0);
    int fd = make_good_tiff(1);
    assert_int_equal(queue_receive_page(f->q, id, fd), 0);
    close(fd);
    struct queue_call_result r = {.failure = QF_NONE, .code = "", .text = "", .bit_rate = 9600, .ecm = 1,
                                  .compression = "T.4 1D", .remote_id = "ACME", .duration = 30};
    assert_int_equal(queue_receive_finished(f->q, id, &r), 0);
    return id;
}

/* Record i of the eight: a distinct action and target of full length. */
static void full_record(struct job_delivery *d, int i)
{
    static const char *const actions[] = {"folder", "print", "command", "mail"};
    memset(d, 0, sizeof *d);
    snprintf(d->action, sizeof d->action, "%s", actions[i % 4]);
    memset(d->target, 'a' + i, sizeof d->target - 1);
    d->target[0] = '/';
}

static void assert_eight_records(const struct job *j, int attempts_of_last)
{
    assert_int_equal(j->ndeliveries, JOB_DELIVERIES_MAX);
    for (int i = 0; i < JOB_DELIVERIES_MAX; i++) {
        struct job_delivery want;
        full_record(&want, i);
        assert_string_equal(j->deliveries[i].action, want.action);
        assert_string_equal(j->deliveries[i].target, want.target);
        if (i < JOB_DELIVERIES_MAX - 1) {
            assert_int_equal(j->deliveries[i].state, JD_PENDING);
            assert_int_equal(j->deliveries[i].attempts, 0);
        }
    }
    const struct job_delivery *last = &j->deliveries[JOB_DELIVERIES_MAX - 1];
    assert_int_equal(last->attempts, attempts_of_last);
    if (attempts_of_last > 0) {
        assert_int_equal(last->state, JD_FAILED);
        assert_int_equal(last->first_try, TEST_START + 5);
        assert_string_equal(last->error, "printer office is out of paper");
    }
}

static void test_a_job_without_records_copies_out_empty(void **state)
{
    struct queue_fixture *f = *state;
    uint64_t id = submit_simple(f->q, "5551234", 1);
    struct job j;
    memset(&j, 0x5a, sizeof j); /* whatever was there before goes */
    assert_int_equal(queue_snapshot(f->q, id, &j), 0);
    assert_int_equal(j.id, id);
    assert_string_equal(j.recipient_number, "5551234");
    assert_int_equal(j.ndeliveries, 0);
    assert_string_equal(j.notify, "");
    assert_string_equal(j.sender_company, "");
    assert_string_equal(j.billing_code, "");
    static const struct job_delivery zero;
    for (int i = 0; i < JOB_DELIVERIES_MAX; i++)
        assert_memory_equal(&j.deliveries[i], &zero, sizeof zero);
}

static void test_all_eight_records_are_kept_changed_and_reloaded(void **state)
{
    struct queue_fixture *f = *state;
    uint64_t plain = submit_simple(f->q, "5551234", 1);
    uint64_t id = received_fax(f);
    struct job_delivery d[JOB_DELIVERIES_MAX];
    for (int i = 0; i < JOB_DELIVERIES_MAX; i++)
        full_record(&d[i], i);
    assert_int_equal(queue_receive_route(f->q, id, "all", 1001, 1002, d, JOB_DELIVERIES_MAX), 0);
    struct job j;
    assert_int_equal(queue_snapshot(f->q, id, &j), 0);
    assert_eight_records(&j, 0);

    struct job_delivery upd = d[JOB_DELIVERIES_MAX - 1];
    upd.state = JD_FAILED;
    upd.attempts = 3;
    upd.first_try = TEST_START + 5;
    snprintf(upd.error, sizeof upd.error, "printer office is out of paper");
    assert_int_equal(queue_delivery_update(f->q, id, JOB_DELIVERIES_MAX - 1, &upd), 0);
    assert_int_equal(queue_snapshot(f->q, id, &j), 0);
    assert_eight_records(&j, 3);
    assert_int_equal(queue_delivery_update(f->q, id, JOB_DELIVERIES_MAX, &upd), -EINVAL);

    queue_fixture_reopen(f);
    assert_int_equal(queue_snapshot(f->q, id, &j), 0);
    assert_eight_records(&j, 3);
    assert_string_equal(j.route, "all");
    assert_int_equal(j.owner_uid, 1001);
    /* The job beside it still has none. */
    assert_int_equal(queue_snapshot(f->q, plain, &j), 0);
    assert_int_equal(j.ndeliveries, 0);

    /* redeliver puts every record back to pending, durably. */
    assert_int_equal(queue_redeliver(f->q, &test_root, id, (char[128]){0}, 128), 0);
    queue_fixture_reopen(f);
    assert_int_equal(queue_snapshot(f->q, id, &j), 0);
    assert_int_equal(j.ndeliveries, JOB_DELIVERIES_MAX);
    for (int i = 0; i < JOB_DELIVERIES_MAX; i++) {
        assert_int_equal(j.deliveries[i].state, JD_PENDING);
        assert_int_equal(j.deliveries[i].attempts, 0);
    }
}

static uint64_t submit_with_receipt(struct queue_fixture *f)
{
    struct queue_request req;
    char why[256] = "";
    uint64_t id = 0;
    int fd = make_good_tiff(1);

    memset(&req, 0, sizeof req);
    snprintf(req.recipient_number, sizeof req.recipient_number, "5551234");
    snprintf(req.notify, sizeof req.notify, "alice@example.org");
    memset(req.sender_company, 'C', sizeof req.sender_company - 1); /* as long as it can be */
    /* sender_department stays empty, between two that are not */
    snprintf(req.billing_code, sizeof req.billing_code, "B-42");
    req.notify_when = JOB_NOTIFY_FINAL;
    int r = queue_submit(f->q, &test_owner, &req, &fd, 1, &id, why, sizeof why);
    close(fd);
    if (r != 0)
        fail_msg("submit failed: %d %s", r, why);
    return id;
}

/* The long texts kept packed come back as they were given. */
static void assert_texts(const struct job *j)
{
    char company[JOB_TEXT_MAX];
    memset(company, 'C', sizeof company - 1);
    company[sizeof company - 1] = '\0';
    assert_string_equal(j->sender_company, company);
    assert_string_equal(j->sender_department, "");
    assert_string_equal(j->billing_code, "B-42");
    assert_string_equal(j->notify, "alice@example.org");
}

static void test_a_receipt_record_comes_and_goes_with_restart(void **state)
{
    struct queue_fixture *f = *state;
    uint64_t id = submit_with_receipt(f);
    char why[256];
    struct job j;
    assert_int_equal(queue_snapshot(f->q, id, &j), 0);
    assert_int_equal(j.ndeliveries, 0);
    assert_texts(&j);
    queue_run_once(f->q); /* dialed on the fake line */
    assert_int_equal(f->line.ncalls, 1);
    struct queue_call_result res = test_result(QF_PERMANENT, "rejected", 0);
    queue_call_finished(f->q, id, &res);
    assert_int_equal(queue_snapshot(f->q, id, &j), 0);
    assert_int_equal(j.status, JOB_FAILED);
    assert_int_equal(j.ndeliveries, 1); /* the final receipt, added in the same write */
    assert_string_equal(j.deliveries[0].action, JOB_RECEIPT_ACTION);
    assert_string_equal(j.deliveries[0].target, "alice@example.org");
    queue_fixture_reopen(f);
    assert_int_equal(queue_snapshot(f->q, id, &j), 0);
    assert_int_equal(j.ndeliveries, 1);
    assert_string_equal(j.deliveries[0].action, JOB_RECEIPT_ACTION);
    assert_texts(&j);

    /* Restarted: a new end, a new receipt; the old record is gone for good. */
    assert_int_equal(queue_control(f->q, &test_owner, id, QOP_RESTART, why, sizeof why), 0);
    assert_int_equal(queue_snapshot(f->q, id, &j), 0);
    assert_int_equal(j.ndeliveries, 0);
    queue_fixture_reopen(f);
    assert_int_equal(queue_snapshot(f->q, id, &j), 0);
    assert_int_equal(j.ndeliveries, 0);
    assert_int_equal(j.status, JOB_QUEUED);
    assert_texts(&j);
}

/* Over the in-memory store: a write that fails changes nothing in memory. */
static void test_a_failed_write_leaves_the_records_as_they_were(void **state)
{
    struct queue_fixture *f = *state;
    uint64_t id = received_fax(f);
    struct job_delivery d[2];
    full_record(&d[0], 0);
    full_record(&d[1], 1);
    backend_mem_fail_next(f->mem, MEM_FAULT_UPDATE, EIO);
    assert_int_equal(queue_receive_route(f->q, id, "two", 1001, 1002, d, 2), -EIO);
    struct job j;
    assert_int_equal(queue_snapshot(f->q, id, &j), 0);
    assert_int_equal(j.ndeliveries, 0);
    assert_int_equal(j.routed, 0);
    assert_string_equal(j.route, "");

    assert_int_equal(queue_receive_route(f->q, id, "two", 1001, 1002, d, 2), 0);
    struct job_delivery upd = d[1];
    upd.state = JD_DONE;
    upd.attempts = 1;
    backend_mem_fail_next(f->mem, MEM_FAULT_UPDATE, EIO);
    assert_int_equal(queue_delivery_update(f->q, id, 1, &upd), -EIO);
    assert_int_equal(queue_snapshot(f->q, id, &j), 0);
    assert_int_equal(j.ndeliveries, 2);
    assert_int_equal(j.deliveries[1].state, JD_PENDING);
    assert_int_equal(j.deliveries[1].attempts, 0);
    assert_int_equal(queue_delivery_update(f->q, id, 1, &upd), 0);
    assert_int_equal(queue_snapshot(f->q, id, &j), 0);
    assert_int_equal(j.deliveries[1].state, JD_DONE);
}

/* One thread rewrites the records again and again (each write makes a new
 * array and frees the old); snapshots taken meanwhile are whole: every
 * record's error names its own attempts. */
struct writer {
    struct queue *q;
    uint64_t id;
    int rounds;
    int failures;
};

static void *rewrite_records(void *arg)
{
    struct writer *w = arg;
    for (int k = 1; k <= w->rounds; k++) {
        for (int i = 0; i < JOB_DELIVERIES_MAX; i++) {
            struct job_delivery d;
            full_record(&d, i);
            d.state = JD_RETRYING;
            d.attempts = k;
            snprintf(d.error, sizeof d.error, "try %d of record %d", k, i);
            if (queue_delivery_update(w->q, w->id, i, &d) != 0)
                w->failures++;
        }
    }
    return NULL;
}

static void test_snapshots_while_another_thread_changes_the_records(void **state)
{
    struct queue_fixture *f = *state;
    uint64_t id = received_fax(f);
    struct job_delivery d[JOB_DELIVERIES_MAX];
    for (int i = 0; i < JOB_DELIVERIES_MAX; i++)
        full_record(&d[i], i);
    assert_int_equal(queue_receive_route(f->q, id, "all", 1001, 1002, d, JOB_DELIVERIES_MAX), 0);

    struct writer w = {.q = f->q, .id = id, .rounds = 40};
    pthread_t t;
    assert_int_equal(pthread_create(&t, NULL, rewrite_records, &w), 0);
    int seen_changes = 0;
    for (int n = 0; n < 400; n++) {
        struct job j;
        assert_int_equal(queue_snapshot(f->q, id, &j), 0);
        assert_int_equal(j.ndeliveries, JOB_DELIVERIES_MAX);
        for (int i = 0; i < JOB_DELIVERIES_MAX; i++) {
            char want[64];
            struct job_delivery rec;
            full_record(&rec, i);
            assert_string_equal(j.deliveries[i].target, rec.target);
            if (j.deliveries[i].attempts == 0) {
                assert_string_equal(j.deliveries[i].error, "");
                continue;
            }
            seen_changes++;
            snprintf(want, sizeof want, "try %d of record %d", j.deliveries[i].attempts, i);
            assert_string_equal(j.deliveries[i].error, want);
        }
    }
    assert_int_equal(pthread_join(t, NULL), 0);
    assert_int_equal(w.failures, 0);
    struct job j;
    assert_int_equal(queue_snapshot(f->q, id, &j), 0);
    for (int i = 0; i < JOB_DELIVERIES_MAX; i++)
        assert_int_equal(j.deliveries[i].attempts, w.rounds);
    (void)seen_changes; /* how many the reader saw depends on timing: not asserted */
}

int main(void)
{
    const struct CMUnitTest tests[] = {
        cmocka_unit_test_setup_teardown(test_a_job_without_records_copies_out_empty, queue_fixture_setup_spool,
                                        queue_fixture_teardown),
        cmocka_unit_test_setup_teardown(test_all_eight_records_are_kept_changed_and_reloaded,
                                        queue_fixture_setup_spool, queue_fixture_teardown),
        cmocka_unit_test_setup_teardown(test_all_eight_records_are_kept_changed_and_reloaded,
                                        queue_fixture_setup_memory, queue_fixture_teardown),
        cmocka_unit_test_setup_teardown(test_a_receipt_record_comes_and_goes_with_restart, queue_fixture_setup_spool,
                                        queue_fixture_teardown),
        cmocka_unit_test_setup_teardown(test_a_failed_write_leaves_the_records_as_they_were,
                                        queue_fixture_setup_memory, queue_fixture_teardown),
        cmocka_unit_test_setup_teardown(test_snapshots_while_another_thread_changes_the_records,
                                        queue_fixture_setup_spool, queue_fixture_teardown),
    };
    return cmocka_run_group_tests(tests, NULL, NULL);
}

/*
 * test_queue_metrics.c - the counters behind MOUNT/metrics: calls and
 * receptions by outcome, pages, submissions, modem busy time and the call
 * and page duration histograms, all on the fake clock.
 */
#include <stdarg.h>
#include <stddef.h>
#include <setjmp.h>
#include <cmocka.h>

#include <errno.h>
#include <stdlib.h>
#include <string.h>
#include <sys/mman.h>
#include <unistd.h>

#include "queue/backend_mem.h"
#include "queue_testutil.h"

static struct queue_metrics metrics(struct queue_fixture *f)
{
    struct queue_metrics m;
    queue_metrics(f->q, &m);
    return m;
}

/* Submits a job of pages pages and puts it on the line. */
static uint64_t dial(struct queue_fixture *f, int pages)
{
    uint64_t id = submit_simple(f->q, "5551234", pages);
    assert_int_equal(queue_run_once(f->q), 1);
    return id;
}

static void test_fresh_queue_counts_nothing(void **state)
{
    struct queue_fixture *f = *state;
    struct queue_metrics m = metrics(f);

    for (int i = 0; i < QF_COUNT; i++)
        assert_int_equal(m.calls[i] + m.receptions[i], 0);
    assert_int_equal(m.pages_sent + m.pages_received + m.submissions + m.submissions_refused, 0);
    assert_true(m.modem_busy_seconds == 0.0);
    assert_int_equal(m.call_seconds.count, 0);
    assert_true(m.call_seconds.bounds[0] == 15.0 && m.call_seconds.bounds[QUEUE_HIST_BUCKETS - 1] == 1200.0);
    assert_true(m.page_seconds.bounds[0] == 2.0 && m.page_seconds.bounds[QUEUE_HIST_BUCKETS - 1] == 120.0);
    assert_int_equal(m.summary.modems_idle, 2);
}

static void test_calls_are_counted_by_outcome(void **state)
{
    struct queue_fixture *f = *state;
    uint64_t a = dial(f, 1);
    struct queue_call_result busy = test_result(QF_BUSY, "busy", 0);
    queue_call_finished(f->q, a, &busy);
    uint64_t b = submit_simple(f->q, "5559999", 1);
    assert_int_equal(queue_run_once(f->q), 1);
    struct queue_call_result ok = test_result(QF_NONE, "", 1);
    queue_call_finished(f->q, b, &ok);

    struct queue_metrics m = metrics(f);
    assert_int_equal(m.calls[QF_BUSY], 1);
    assert_int_equal(m.calls[QF_NONE], 1);
    assert_int_equal(m.calls[QF_DROPPED], 0);
    assert_int_equal(m.pages_sent, 1);
    assert_int_equal(m.submissions, 2);
}

static void test_refused_submission_is_counted(void **state)
{
    struct queue_fixture *f = *state;
    struct queue_request req = {0};
    char why[256];
    uint64_t id;
    int fd = memfd_create("junk", 0);

    assert_int_equal(write(fd, "junk", 4), 4);
    strcpy(req.recipient_number, "5551234");
    assert_int_equal(queue_submit(f->q, &test_owner, &req, &fd, 1, &id, why, sizeof why), -EINVAL);
    close(fd);
    assert_int_equal(metrics(f).submissions_refused, 1);
    assert_int_equal(metrics(f).submissions, 0);
}

static void test_call_duration_goes_into_its_bucket(void **state)
{
    struct queue_fixture *f = *state;
    uint64_t id = dial(f, 1);
    struct queue_call_result ok = test_result(QF_NONE, "", 1);

    ok.duration = 40;
    queue_call_finished(f->q, id, &ok);
    struct queue_metrics m = metrics(f);
    assert_int_equal(m.call_seconds.count, 1);
    assert_true(m.call_seconds.sum == 40.0);
    assert_int_equal(m.call_seconds.counts[1], 0); /* <= 30 */
    assert_int_equal(m.call_seconds.counts[2], 1); /* <= 45 */
    assert_int_equal(m.call_seconds.counts[QUEUE_HIST_BUCKETS - 1], 1);
}

static void test_modem_busy_time_runs_from_dialing_to_the_report(void **state)
{
    struct queue_fixture *f = *state;
    uint64_t id = dial(f, 1);

    f->clock.now += 25;
    assert_true(metrics(f).modem_busy_seconds == 25.0); /* a call on the line counts up to now */
    f->clock.now += 10;
    struct queue_call_result ok = test_result(QF_NONE, "", 1);
    queue_call_finished(f->q, id, &ok);
    f->clock.now += 100;
    assert_true(metrics(f).modem_busy_seconds == 35.0);
}

static void test_page_time_runs_from_one_confirmation_to_the_next(void **state)
{
    struct queue_fixture *f = *state;
    uint64_t id = dial(f, 3);

    f->clock.now += 20; /* dialing, handshake and page 1 */
    queue_call_pages_confirmed(f->q, id, 1);
    f->clock.now += 8;
    queue_call_pages_confirmed(f->q, id, 2);
    f->clock.now += 12; /* page 3 only known from the final report */
    struct queue_call_result ok = test_result(QF_NONE, "", 3);
    queue_call_finished(f->q, id, &ok);

    struct queue_metrics m = metrics(f);
    assert_int_equal(m.page_seconds.count, 3);
    assert_true(m.page_seconds.sum == 40.0);
    assert_int_equal(m.page_seconds.counts[2], 1);  /* 8 s: <= 10 */
    assert_int_equal(m.page_seconds.counts[3], 2);  /* 12 s: <= 15 */
    assert_int_equal(m.page_seconds.counts[4], 3);  /* 20 s: <= 20 */
    assert_int_equal(m.pages_sent, 3);
}

static void test_pages_confirmed_together_share_the_time(void **state)
{
    struct queue_fixture *f = *state;
    uint64_t id = dial(f, 2);

    f->clock.now += 30;
    struct queue_call_result ok = test_result(QF_NONE, "", 2);
    queue_call_finished(f->q, id, &ok);
    struct queue_metrics m = metrics(f);
    assert_int_equal(m.page_seconds.count, 2);
    assert_int_equal(m.page_seconds.counts[3], 2); /* 15 s each */
    assert_int_equal(m.page_seconds.counts[2], 0);
}

static void test_receptions_and_received_pages_are_counted(void **state)
{
    struct queue_fixture *f = *state;
    uint64_t id;

    assert_int_equal(queue_receive_begin(f->q, "modem0", "5550000", &id), 0);
    f->clock.now += 30;
    int page = make_good_tiff(1);
    assert_int_equal(queue_receive_page(f->q, id, page), 0);
    close(page);
    f->clock.now += 5;
    struct queue_call_result ok = test_result(QF_NONE, "", 0);
    assert_int_equal(queue_receive_finished(f->q, id, &ok), 0);

    struct queue_metrics m = metrics(f);
    assert_int_equal(m.receptions[QF_NONE], 1);
    assert_int_equal(m.calls[QF_NONE], 0);
    assert_int_equal(m.pages_received, 1);
    assert_true(m.modem_busy_seconds == 35.0);
    assert_int_equal(m.call_seconds.count, 1);
    assert_int_equal(m.page_seconds.count, 1);
}

static void test_failure_names_are_stable(void **state)
{
    (void)state;
    static const char *const want[QF_COUNT] = {"success", "busy",    "no_answer", "no_line",
                                               "not_fax", "dropped", "permanent", "aborted"};
    for (int i = 0; i < QF_COUNT; i++)
        assert_string_equal(queue_failure_name((enum queue_failure)i), want[i]);
    assert_string_equal(queue_failure_name(QF_COUNT), "unknown");
}

static void test_transport_of_the_last_call_is_recorded(void **state)
{
    struct queue_fixture *f = *state;
    uint64_t id = dial(f, 1);
    struct queue_call_result ok = test_result(QF_NONE, "", 1);
    struct job j;

    ok.transport = "t38";
    queue_call_finished(f->q, id, &ok);
    assert_int_equal(queue_snapshot(f->q, id, &j), 0);
    assert_string_equal(j.transport, "t38");
}

#define T(name) cmocka_unit_test_setup_teardown(name, queue_fixture_setup_memory, queue_fixture_teardown)

int main(void)
{
    const struct CMUnitTest tests[] = {
        T(test_fresh_queue_counts_nothing),
        T(test_calls_are_counted_by_outcome),
        T(test_refused_submission_is_counted),
        T(test_call_duration_goes_into_its_bucket),
        T(test_modem_busy_time_runs_from_dialing_to_the_report),
        T(test_page_time_runs_from_one_confirmation_to_the_next),
        T(test_pages_confirmed_together_share_the_time),
        T(test_receptions_and_received_pages_are_counted),
        cmocka_unit_test(test_failure_names_are_stable),
        T(test_transport_of_the_last_call_is_recorded),
    };
    return cmocka_run_group_tests(tests, NULL, NULL);
}

/*
 * test_queue_route.c - outbound routes as pure functions (queue/route.c),
 * and the engine's dispatch over named lines with a fake line and a fake
 * clock: the line a job takes, failover to the next line of its route
 * within the same attempt, waiting for a channel of its own lines, lines
 * that are not usable, and the job's `line` property.
 */
#include <stdarg.h>
#include <stddef.h>
#include <setjmp.h>
#include <cmocka.h>

#include <errno.h>
#include <stdlib.h>
#include <string.h>

#include "queue/route.h"
#include "queue_testutil.h"

static const char *const names[] = {"trunk", "backup", "cheap"};

static void test_route_parses_pattern_and_lines_in_order(void **state)
{
    (void)state;
    struct route r;
    char why[300] = "";
    assert_int_equal(route_parse("+4420*  backup, trunk", names, 3, &r, why, sizeof why), 0);
    assert_string_equal(r.pattern, "+4420*");
    assert_int_equal(r.nlines, 2);
    assert_int_equal(r.lines[0], 1);
    assert_int_equal(r.lines[1], 0);
}

static void test_route_refuses_unknown_line_bad_pattern_and_repeats(void **state)
{
    (void)state;
    struct route r;
    char why[300] = "";
    assert_int_equal(route_parse("555* trunk,nowhere", names, 3, &r, why, sizeof why), -EINVAL);
    assert_non_null(strstr(why, "no line named 'nowhere'"));
    assert_int_equal(route_parse("55a5* trunk", names, 3, &r, why, sizeof why), -EINVAL);
    assert_non_null(strstr(why, "not a number pattern"));
    assert_int_equal(route_parse("555* trunk,trunk", names, 3, &r, why, sizeof why), -EINVAL);
    assert_non_null(strstr(why, "twice"));
    assert_int_equal(route_parse("555*", names, 3, &r, why, sizeof why), -EINVAL);
    assert_non_null(strstr(why, "PATTERN LINE"));
    assert_int_equal(route_parse("555* trunk backup", names, 3, &r, why, sizeof why), -EINVAL);
    assert_non_null(strstr(why, "commas"));
}

static void test_first_matching_route_wins_and_no_route_means_every_line(void **state)
{
    (void)state;
    struct route r[2];
    char why[300];
    assert_int_equal(route_parse("555XXXX cheap", names, 3, &r[0], why, sizeof why), 0);
    assert_int_equal(route_parse("555* backup,trunk", names, 3, &r[1], why, sizeof why), 0);
    int order[3];
    assert_int_equal(route_lines_for(r, 2, 3, "5551234", order), 1);
    assert_int_equal(order[0], 2);
    assert_int_equal(route_lines_for(r, 2, 3, "55512345", order), 2);
    assert_int_equal(order[0], 1);
    assert_int_equal(order[1], 0);
    assert_int_equal(route_lines_for(r, 2, 3, "+4420123", order), 3); /* no match: every line, in order */
    assert_int_equal(order[0], 0);
    assert_int_equal(order[2], 2);
    assert_int_equal(route_lines_for(NULL, 0, 3, "5551234", order), 3);
}

static void test_choose_skips_unusable_and_full_lines(void **state)
{
    (void)state;
    int order[] = {2, 0, 1};
    bool usable[] = {true, true, false};
    int free_ch[] = {0, 1, 3};
    bool any;
    /* line 2 is not usable, line 0 has no free channel: line 1 (position 2) */
    assert_int_equal(route_choose(order, 3, 0, usable, free_ch, &any), 2);
    assert_true(any);
    free_ch[1] = 0;
    assert_int_equal(route_choose(order, 3, 0, usable, free_ch, &any), -1);
    assert_true(any); /* usable lines, all busy: wait */
    usable[0] = usable[1] = false;
    assert_int_equal(route_choose(order, 3, 0, usable, free_ch, &any), -1);
    assert_false(any);
    usable[0] = true;
    free_ch[0] = 1;
    assert_int_equal(route_choose(order, 3, 2, usable, free_ch, &any), -1); /* only positions 2.. */
    assert_false(any);
}

/* ---- the engine over two lines: a (modem0) and b (modem1, modem2) ---- */

static const struct queue_line_def two_lines[] = {{"a", "exec:bridge", 1}, {"b", "sim", 2}};

static int setup_lines(void **state, const char *route)
{
    struct queue_fixture *f = queue_fixture_new(false);
    f->cfg.lines = two_lines;
    f->cfg.nlines = 2;
    f->cfg.per_destination_limit = 0;
    static struct route r;
    if (route) {
        const char *const n[] = {"a", "b"};
        char why[200];
        assert_int_equal(route_parse(route, n, 2, &r, why, sizeof why), 0);
        f->cfg.routes = &r;
        f->cfg.nroutes = 1;
    }
    queue_fixture_open(f);
    *state = f;
    return 0;
}

static int setup_plain(void **state) { return setup_lines(state, NULL); }
static int setup_route_b(void **state) { return setup_lines(state, "555* b"); }

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

static void test_job_takes_the_first_line_and_records_it(void **state)
{
    struct queue_fixture *f = *state;
    uint64_t id = submit_simple(f->q, "5551234", 1);
    assert_int_equal(queue_run_once(f->q), 1);
    assert_int_equal(f->line.calls[0].channel, 0);
    assert_int_equal(f->line.calls[0].line, 0);
    assert_string_equal(f->line.calls[0].line_name, "a");
    assert_string_equal(snap(f, id).line, "a");
    struct queue_modem_info m;
    assert_int_equal(queue_modem_info(f->q, 2, &m), 0);
    assert_string_equal(m.line, "b");
}

static void test_line_failure_fails_over_within_the_same_attempt(void **state)
{
    struct queue_fixture *f = *state;
    uint64_t id = submit_simple(f->q, "5551234", 1);
    assert_int_equal(queue_run_once(f->q), 1);
    finish(f, id, QF_NO_LINE, "line_503", 0);
    struct job j = snap(f, id);
    assert_int_equal(j.status, JOB_QUEUED); /* at once, not retrying */
    assert_int_equal(j.next_attempt, 0);
    assert_int_equal(queue_run_once(f->q), 1);
    assert_int_equal(f->line.ncalls, 2);
    assert_int_equal(f->line.calls[1].line, 1);
    j = snap(f, id);
    assert_int_equal(j.attempts, 1);
    assert_string_equal(j.line, "b");
    finish(f, id, QF_NONE, "", 1);
    j = snap(f, id);
    assert_int_equal(j.status, JOB_DONE);
    assert_int_equal(j.attempts, 1);

    struct queue_line_info a, b;
    assert_int_equal(queue_line_count(f->q), 2);
    assert_int_equal(queue_line_info(f->q, 0, &a), 0);
    assert_int_equal(queue_line_info(f->q, 1, &b), 0);
    assert_string_equal(a.name, "a");
    assert_int_equal(a.calls, 1);
    assert_int_equal(a.failures, 1);
    assert_non_null(strstr(a.last_error, "line_503"));
    assert_int_equal(b.calls, 1);
    assert_int_equal(b.failures, 0);
    assert_int_equal(b.pages_sent, 1);
    assert_int_equal(b.channels, 2);
    assert_int_equal(b.free, 2);
    assert_string_equal(b.registration, "none");
    assert_true(b.usable);
    assert_int_equal(queue_line_info(f->q, 2, &b), -ENOENT);
}

static void test_all_lines_failing_retries_as_no_line_with_last_error(void **state)
{
    struct queue_fixture *f = *state;
    uint64_t id = submit_simple(f->q, "5551234", 1);
    assert_int_equal(queue_run_once(f->q), 1);
    finish(f, id, QF_NO_LINE, "line_unregistered", 0);
    assert_int_equal(queue_run_once(f->q), 1);
    finish(f, id, QF_NO_LINE, "line_503", 0);
    struct job j = snap(f, id);
    assert_int_equal(j.status, JOB_RETRYING);
    assert_int_equal(j.attempts, 1);
    assert_string_equal(j.error_code, "line_503");
    assert_true(j.next_attempt > TEST_START);
    assert_int_equal(queue_run_once(f->q), 0);
    /* the next attempt starts on the first line again */
    f->clock.now = j.next_attempt;
    assert_int_equal(queue_run_once(f->q), 1);
    assert_int_equal(f->line.calls[2].line, 0);
    assert_int_equal(snap(f, id).attempts, 2);
}

static void test_busy_remote_is_not_a_line_failure(void **state)
{
    struct queue_fixture *f = *state;
    uint64_t id = submit_simple(f->q, "5551234", 1);
    assert_int_equal(queue_run_once(f->q), 1);
    finish(f, id, QF_BUSY, "busy", 0);
    assert_int_equal(snap(f, id).status, JOB_RETRYING);
    assert_int_equal(queue_run_once(f->q), 0);
    assert_int_equal(f->line.ncalls, 1);
}

static void test_unusable_line_is_skipped(void **state)
{
    struct queue_fixture *f = *state;
    f->line.unusable[0] = true;
    uint64_t id = submit_simple(f->q, "5551234", 1);
    assert_int_equal(queue_run_once(f->q), 1);
    assert_int_equal(f->line.calls[0].line, 1);
    struct queue_line_info a;
    assert_int_equal(queue_line_info(f->q, 0, &a), 0);
    assert_false(a.usable);
    assert_non_null(strstr(a.registration, "403"));
    (void)id;
}

static void test_failover_with_no_usable_line_left_ends_the_attempt(void **state)
{
    struct queue_fixture *f = *state;
    uint64_t id = submit_simple(f->q, "5551234", 1);
    assert_int_equal(queue_run_once(f->q), 1);
    f->line.unusable[1] = true; /* b's registration failed meanwhile */
    finish(f, id, QF_NO_LINE, "line_unregistered", 0);
    assert_int_equal(queue_run_once(f->q), 0);
    struct job j = snap(f, id);
    assert_int_equal(j.status, JOB_RETRYING);
    assert_int_equal(j.attempts, 1);
    assert_string_equal(j.error_code, "line_unregistered");
}

/* No line of the route can place a call (their registrations failed):
 * the job waits retrying with the first line's reason, no attempt
 * counted, and is dialed on the first line usable after its retry time. */
static void test_no_usable_line_at_all_retries_uncounted(void **state)
{
    struct queue_fixture *f = *state;
    f->line.unusable[0] = f->line.unusable[1] = true;
    uint64_t id = submit_simple(f->q, "5551234", 1);
    assert_int_equal(queue_run_once(f->q), 0);
    struct job j = snap(f, id);
    assert_int_equal(j.status, JOB_RETRYING);
    assert_int_equal(j.attempts, 0);
    assert_string_equal(j.error_code, "line_unregistered");
    assert_non_null(strstr(j.error_text, "403"));
    assert_true(j.next_attempt > TEST_START);
    f->line.unusable[1] = false;
    assert_int_equal(queue_run_once(f->q), 0); /* not before its retry time */
    f->clock.now = j.next_attempt;
    assert_int_equal(queue_run_once(f->q), 1);
    assert_int_equal(f->line.calls[0].line, 1);
    assert_int_equal(snap(f, id).attempts, 1);
}

static void test_route_sends_a_pattern_only_to_its_lines(void **state)
{
    struct queue_fixture *f = *state;
    uint64_t x = submit_simple(f->q, "5550001", 1);
    uint64_t y = submit_simple(f->q, "5550002", 1);
    uint64_t z = submit_simple(f->q, "5550003", 1);
    uint64_t other = submit_simple(f->q, "+442012345", 1);
    /* b has two channels: x and y go there; z waits (a is free, but not
     * on its route); the other number takes a. */
    assert_int_equal(queue_run_once(f->q), 3);
    assert_string_equal(snap(f, x).line, "b");
    assert_string_equal(snap(f, y).line, "b");
    assert_int_equal(snap(f, z).status, JOB_QUEUED);
    assert_string_equal(snap(f, other).line, "a");
    /* a line failure on the route's only line: no failover, a retry */
    finish(f, x, QF_NO_LINE, "line_503", 0);
    assert_int_equal(snap(f, x).status, JOB_RETRYING);
    assert_int_equal(queue_run_once(f->q), 1);
    assert_string_equal(snap(f, z).line, "b");
}

int main(void)
{
#define L(name) cmocka_unit_test_setup_teardown(name, setup_plain, queue_fixture_teardown)
    const struct CMUnitTest tests[] = {
        cmocka_unit_test(test_route_parses_pattern_and_lines_in_order),
        cmocka_unit_test(test_route_refuses_unknown_line_bad_pattern_and_repeats),
        cmocka_unit_test(test_first_matching_route_wins_and_no_route_means_every_line),
        cmocka_unit_test(test_choose_skips_unusable_and_full_lines),
        L(test_job_takes_the_first_line_and_records_it),
        L(test_line_failure_fails_over_within_the_same_attempt),
        L(test_all_lines_failing_retries_as_no_line_with_last_error),
        L(test_busy_remote_is_not_a_line_failure),
        L(test_unusable_line_is_skipped),
        L(test_failover_with_no_usable_line_left_ends_the_attempt),
        L(test_no_usable_line_at_all_retries_uncounted),
        cmocka_unit_test_setup_teardown(test_route_sends_a_pattern_only_to_its_lines, setup_route_b,
                                        queue_fixture_teardown),
    };
    return cmocka_run_group_tests(tests, NULL, NULL);
}

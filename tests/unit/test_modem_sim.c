/*
 * test_modem_sim.c - the modem pool on the simulated phone network at
 * fast pace: every reserved number gives its documented outcome, pages
 * arrive intact (decoded pixels), progress and aborts behave.
 */
#include <errno.h>
#include <limits.h>
#include <setjmp.h>
#include <stdarg.h>
#include <stddef.h>
#include <stdint.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include <cmocka.h>

#include "modem/modem.h"
#include "modem_testlib.h"

#define CALL_TIMEOUT_S 120 /* a bound so a hang fails the test, not a timing check */
#define MAX_PAGES 4

struct fixture {
    char *dir;
    char sim_dir[PATH_MAX];
    char scratch[PATH_MAX];
    char pages[MAX_PAGES][PATH_MAX];
    const char *page_ptrs[MAX_PAGES];
    struct modem_pool *pool;
    struct test_recorder rec;
};

static int setup_paced(void **state, enum modem_pace pace)
{
    struct fixture *f = calloc(1, sizeof *f);
    f->dir = test_tempdir();
    snprintf(f->sim_dir, sizeof f->sim_dir, "%s/sim", f->dir);
    snprintf(f->scratch, sizeof f->scratch, "%s", f->dir);
    for (int i = 0; i < MAX_PAGES; i++) {
        snprintf(f->pages[i], sizeof f->pages[i], "%s/page%d.tif", f->dir, i + 1);
        if (test_write_page(f->pages[i], 600, (unsigned)i + 1) != 0)
            return -1;
        f->page_ptrs[i] = f->pages[i];
    }
    struct modem_pool_config cfg = {
        .channels = 2, .line_spec = "sim", .pace = pace,
        .sim_dir = f->sim_dir, .scratch_dir = f->scratch, .workers = 1, .tsid = "+1 555 0100",
    };
    char err[256];
    if (modem_pool_create(&f->pool, &cfg, err, sizeof err) != 0) {
        fprintf(stderr, "%s\n", err);
        return -1;
    }
    test_recorder_init(&f->rec);
    *state = f;
    return 0;
}

static int setup(void **state)
{
    return setup_paced(state, MODEM_PACE_FAST);
}

/* Real-time pace: a call lasts seconds, long enough to be seen busy. */
static int setup_realtime(void **state)
{
    return setup_paced(state, MODEM_PACE_REALTIME);
}

static int teardown(void **state)
{
    struct fixture *f = *state;
    modem_pool_destroy(f->pool);
    test_recorder_destroy(&f->rec);
    faxtest_rmtree(f->dir);
    free(f->dir);
    free(f);
    return 0;
}

/* Sends pages [first, first+count) of the fixture to number; waits. */
static const struct modem_result *send_and_wait(struct fixture *f, const char *number, int first, int count)
{
    test_recorder_destroy(&f->rec);
    test_recorder_init(&f->rec);
    struct modem_send_request req = {
        .number = number, .page_paths = f->page_ptrs + first, .page_count = count,
        .first_page_number = first + 1, .total_pages = first + count, .tsid = NULL, .header = NULL,
    };
    assert_int_equal(modem_send(f->pool, 0, &req, &test_recorder_events, &f->rec), 0);
    assert_true(test_recorder_wait(&f->rec, CALL_TIMEOUT_S));
    return &f->rec.result;
}

static void test_normal_number_delivers_every_page_pixel_for_pixel(void **state)
{
    struct fixture *f = *state;
    const struct modem_result *r = send_and_wait(f, "5551234", 0, 3);
    assert_int_equal(r->outcome, MODEM_OK);
    assert_string_equal(r->code, "");
    assert_int_equal(r->pages_sent, 3);
    assert_int_equal(r->ecm, 1);
    assert_int_equal(r->bit_rate, 14400);
    assert_string_equal(r->remote_id, "5551234");
    char got[PATH_MAX];
    assert_int_equal(faxtest_latest_sim_file(f->sim_dir, "5551234", got, sizeof got), 0);
    assert_true(got[0] != '\0');
    assert_true(test_pages_match(got, f->page_ptrs, 3));
}

static void test_busy_number_ends_busy(void **state)
{
    struct fixture *f = *state;
    const struct modem_result *r = send_and_wait(f, "5550101", 0, 1);
    assert_int_equal(r->outcome, MODEM_BUSY);
    assert_string_equal(r->code, "busy");
    assert_int_equal(r->pages_sent, 0);
}

static void test_unanswered_number_ends_no_answer(void **state)
{
    struct fixture *f = *state;
    const struct modem_result *r = send_and_wait(f, "5550102", 0, 1);
    assert_int_equal(r->outcome, MODEM_NO_ANSWER);
    assert_string_equal(r->code, "no_answer");
}

static void test_person_answering_ends_not_a_fax_machine(void **state)
{
    struct fixture *f = *state;
    const struct modem_result *r = send_and_wait(f, "5550103", 0, 1);
    assert_int_equal(r->outcome, MODEM_NOT_FAX);
    assert_string_equal(r->code, "not_fax");
    assert_int_equal(r->pages_sent, 0);
}

static void test_hangup_after_first_page_then_retry_sends_only_the_rest(void **state)
{
    struct fixture *f = *state;
    const struct modem_result *r = send_and_wait(f, "5550104", 0, 3);
    assert_int_equal(r->pages_sent, 1);
    assert_true(r->outcome == MODEM_DROPPED);
    char first[PATH_MAX];
    assert_int_equal(faxtest_latest_sim_file(f->sim_dir, "5550104", first, sizeof first), 0);
    assert_int_equal(faxtest_page_count(first), 1);
    assert_true(test_pages_match(first, f->page_ptrs, 1));

    r = send_and_wait(f, "5550104", 1, 2);
    assert_int_equal(r->outcome, MODEM_OK);
    assert_int_equal(r->pages_sent, 2);
    char second[PATH_MAX];
    assert_int_equal(faxtest_latest_sim_file(f->sim_dir, "5550104", second, sizeof second), 0);
    assert_string_not_equal(first, second);
    assert_true(test_pages_match(second, f->page_ptrs + 1, 2));
}

/* sim/calls.log: a line per call, written at its hangup, in call order
 * here (one channel): start and end times, number, behaviour, pages. */
static void test_every_call_leaves_a_line_in_calls_log(void **state)
{
    struct fixture *f = *state;
    assert_int_equal(send_and_wait(f, "5550101", 0, 1)->outcome, MODEM_BUSY);
    assert_true(send_and_wait(f, "5550104", 0, 3)->outcome == MODEM_DROPPED);
    assert_int_equal(send_and_wait(f, "5551234", 0, 2)->outcome, MODEM_OK);
    modem_pool_destroy(f->pool); /* every call hung up */
    f->pool = NULL;
    char path[PATH_MAX + 16];
    snprintf(path, sizeof path, "%s/calls.log", f->sim_dir);
    FILE *fp = fopen(path, "r");
    assert_non_null(fp);
    static const struct { const char *number, *kind; int pages; } want[] = {
        { "5550101", "busy", 0 }, { "5550104", "drop", 1 }, { "5551234", "fax", 2 },
    };
    long long prev_end = 0;
    for (size_t i = 0; i < sizeof want / sizeof want[0]; i++) {
        long long start, end;
        char number[32], kind[16];
        int pages;
        assert_int_equal(fscanf(fp, "%lld %lld %31s %15s %d", &start, &end, number, kind, &pages), 5);
        assert_true(start > 1000000000LL * 1000000 && start <= end && start >= prev_end);
        assert_string_equal(number, want[i].number);
        assert_string_equal(kind, want[i].kind);
        assert_int_equal(pages, want[i].pages);
        prev_end = end;
    }
    char rest[8];
    assert_int_equal(fscanf(fp, "%7s", rest), EOF);
    fclose(fp);
}

static void test_busy_twice_then_the_third_call_succeeds(void **state)
{
    struct fixture *f = *state;
    assert_int_equal(send_and_wait(f, "5550105", 0, 1)->outcome, MODEM_BUSY);
    assert_int_equal(send_and_wait(f, "5550105", 0, 1)->outcome, MODEM_BUSY);
    const struct modem_result *r = send_and_wait(f, "5550105", 0, 1);
    assert_int_equal(r->outcome, MODEM_OK);
    assert_int_equal(r->pages_sent, 1);
}

static void test_noisy_line_succeeds_below_14400(void **state)
{
    struct fixture *f = *state;
    const struct modem_result *r = send_and_wait(f, "5550106", 0, 2);
    assert_int_equal(r->outcome, MODEM_OK);
    assert_int_equal(r->pages_sent, 2);
    assert_true(r->bit_rate > 0);
    assert_true(r->bit_rate < 14400);
}

static void test_old_machine_gets_no_ecm_and_at_most_9600(void **state)
{
    struct fixture *f = *state;
    const struct modem_result *r = send_and_wait(f, "5550107", 0, 2);
    assert_int_equal(r->outcome, MODEM_OK);
    assert_int_equal(r->ecm, 0);
    assert_true(r->bit_rate <= 9600);
    assert_string_equal(r->compression, "T.4 1D");
    char got[PATH_MAX];
    assert_int_equal(faxtest_latest_sim_file(f->sim_dir, "5550107", got, sizeof got), 0);
    assert_true(test_pages_match(got, f->page_ptrs, 2));
}

static void test_abort_mid_call_ends_aborted(void **state)
{
    struct fixture *f = *state;
    struct modem_send_request req = {
        .number = "5551000", .page_paths = f->page_ptrs, .page_count = 4,
        .first_page_number = 1, .total_pages = 4,
    };
    assert_int_equal(modem_send(f->pool, 1, &req, &test_recorder_events, &f->rec), 0);
    assert_true(test_recorder_wait_status(&f->rec, "sending page", CALL_TIMEOUT_S));
    modem_abort(f->pool, 1);
    assert_true(test_recorder_wait(&f->rec, CALL_TIMEOUT_S));
    assert_int_equal(f->rec.result.outcome, MODEM_ABORTED);
    assert_true(f->rec.result.pages_sent < 4);
    assert_int_equal(f->rec.finished_count, 1);
}

static void test_status_and_confirmations_arrive_in_order(void **state)
{
    struct fixture *f = *state;
    const struct modem_result *r = send_and_wait(f, "5552000", 0, 3);
    assert_int_equal(r->outcome, MODEM_OK);
    struct test_recorder *rec = &f->rec;
    assert_string_equal(rec->events[0].text, "dialing 5552000");
    int confirmed = 0, last_page_announced = 0;
    bool hanging_up = false;
    for (int i = 0; i < rec->nevents; i++) {
        struct test_event *e = &rec->events[i];
        int page, of, bps;
        if (e->kind == EV_CONFIRMED) {
            assert_int_equal(e->pages, confirmed + 1); /* one at a time, increasing */
            assert_int_equal(last_page_announced, e->pages); /* confirmed after it was sent */
            confirmed = e->pages;
        } else if (e->kind == EV_STATUS && sscanf(e->text, "sending page %d of %d at %d bps", &page, &of, &bps) == 3) {
            assert_int_equal(page, confirmed + 1);
            assert_int_equal(of, 3);
            assert_int_equal(bps, 14400);
            last_page_announced = page;
        } else if (e->kind == EV_STATUS && strcmp(e->text, "hanging up") == 0) {
            hanging_up = true;
        } else if (e->kind == EV_FINISHED) {
            assert_int_equal(i, rec->nevents - 1);
        }
    }
    assert_int_equal(confirmed, 3);
    assert_true(hanging_up);
    assert_true(rec->log_lines > 5); /* a T.30 transcript was written */
}

static void test_page_that_is_not_a_tiff_fails_permanently(void **state)
{
    struct fixture *f = *state;
    char bad[PATH_MAX];
    snprintf(bad, sizeof bad, "%s/bad.tif", f->dir);
    FILE *fp = fopen(bad, "w");
    fputs("not a tiff", fp);
    fclose(fp);
    const char *pages[] = { f->pages[0], bad };
    struct modem_send_request req = { .number = "5551234", .page_paths = pages, .page_count = 2,
                                      .first_page_number = 1, .total_pages = 2 };
    assert_int_equal(modem_send(f->pool, 0, &req, &test_recorder_events, &f->rec), 0);
    assert_true(test_recorder_wait(&f->rec, CALL_TIMEOUT_S));
    assert_int_equal(f->rec.result.outcome, MODEM_PERMANENT);
    assert_non_null(strstr(f->rec.result.text, "page 2"));
}

static void test_second_call_on_a_busy_channel_is_refused(void **state)
{
    struct fixture *f = *state;
    struct modem_send_request req = { .number = "5551234", .page_paths = f->page_ptrs, .page_count = 1,
                                      .first_page_number = 1, .total_pages = 1 };
    struct test_recorder other;
    test_recorder_init(&other);
    assert_int_equal(modem_send(f->pool, 0, &req, &test_recorder_events, &f->rec), 0);
    assert_int_equal(modem_send(f->pool, 0, &req, &test_recorder_events, &other), -EBUSY);
    modem_abort(f->pool, 0); /* no need to wait out a real-time call */
    assert_true(test_recorder_wait(&f->rec, CALL_TIMEOUT_S));
    assert_int_equal(other.finished_count, 0);
    test_recorder_destroy(&other);
}

/* Real-time pace: the dial and each page start run on the pool's
 * preparation lane (the far end's DIS, then its MCF after the first page,
 * held for one tick and handed to T.30 there); the pages still arrive
 * intact and the T.30 exchange is the same. */
static void test_real_time_call_runs_dial_and_page_starts_off_the_tick(void **state)
{
    struct fixture *f = *state;
    /* Short pages: at real-time pace image data takes about 0.1 s a row. */
    for (int i = 0; i < 2; i++)
        assert_int_equal(test_write_page(f->pages[i], 40, (unsigned)i + 7), 0);
    long runs = modem_pool_lane_runs(f->pool);
    const struct modem_result *r = send_and_wait(f, "5551240", 0, 2);
    assert_int_equal(r->outcome, MODEM_OK);
    assert_int_equal(r->pages_sent, 2);
    assert_int_equal(r->ecm, 1);
    assert_int_equal(r->bit_rate, 14400);
    /* the dial, the first page (DIS), the second (MCF after the first) */
    assert_true(modem_pool_lane_runs(f->pool) - runs >= 3);
    char got[PATH_MAX];
    assert_int_equal(faxtest_latest_sim_file(f->sim_dir, "5551240", got, sizeof got), 0);
    assert_true(test_pages_match(got, f->page_ptrs, 2));
}

/* Fast pace has no tick to protect: nothing goes to the lane. */
static void test_fast_call_never_uses_the_lane(void **state)
{
    struct fixture *f = *state;
    const struct modem_result *r = send_and_wait(f, "5551241", 0, 2);
    assert_int_equal(r->outcome, MODEM_OK);
    assert_int_equal(r->pages_sent, 2);
    assert_int_equal(modem_pool_lane_runs(f->pool), 0);
}

static void test_bad_request_is_refused(void **state)
{
    struct fixture *f = *state;
    struct modem_send_request req = { .number = "", .page_paths = f->page_ptrs, .page_count = 1 };
    assert_int_equal(modem_send(f->pool, 0, &req, &test_recorder_events, &f->rec), -EINVAL);
    req.number = "5551234";
    req.page_count = 0;
    assert_int_equal(modem_send(f->pool, 0, &req, &test_recorder_events, &f->rec), -EINVAL);
    assert_int_equal(modem_send(f->pool, 99, &req, &test_recorder_events, &f->rec), -EINVAL);
}

static void test_pool_destroy_aborts_active_calls(void **state)
{
    struct fixture *f = *state;
    struct modem_send_request req = { .number = "5553000", .page_paths = f->page_ptrs, .page_count = 4,
                                      .first_page_number = 1, .total_pages = 4 };
    assert_int_equal(modem_send(f->pool, 0, &req, &test_recorder_events, &f->rec), 0);
    modem_pool_destroy(f->pool);
    f->pool = NULL;
    assert_int_equal(f->rec.finished_count, 1);
    assert_int_equal(f->rec.result.outcome, MODEM_ABORTED);
    /* teardown must cope with the pool already gone */
    struct modem_pool_config cfg = { .channels = 1, .line_spec = "sim", .sim_dir = f->sim_dir,
                                     .scratch_dir = f->scratch, .workers = 1 };
    char err[128];
    assert_int_equal(modem_pool_create(&f->pool, &cfg, err, sizeof err), 0);
}

static void test_unknown_line_spec_is_refused_with_a_sentence(void **state)
{
    struct fixture *f = *state;
    struct modem_pool *p = NULL;
    struct modem_pool_config cfg = { .channels = 1, .line_spec = "isdn", .sim_dir = f->sim_dir,
                                     .scratch_dir = f->scratch };
    char err[128];
    assert_int_equal(modem_pool_create(&p, &cfg, err, sizeof err), -EINVAL);
    assert_non_null(strstr(err, "isdn"));
    assert_null(p);
}

int main(void)
{
    const struct CMUnitTest tests[] = {
        cmocka_unit_test_setup_teardown(test_normal_number_delivers_every_page_pixel_for_pixel, setup, teardown),
        cmocka_unit_test_setup_teardown(test_busy_number_ends_busy, setup, teardown),
        cmocka_unit_test_setup_teardown(test_unanswered_number_ends_no_answer, setup, teardown),
        cmocka_unit_test_setup_teardown(test_person_answering_ends_not_a_fax_machine, setup, teardown),
        cmocka_unit_test_setup_teardown(test_hangup_after_first_page_then_retry_sends_only_the_rest, setup, teardown),
        cmocka_unit_test_setup_teardown(test_busy_twice_then_the_third_call_succeeds, setup, teardown),
        cmocka_unit_test_setup_teardown(test_every_call_leaves_a_line_in_calls_log, setup, teardown),
        cmocka_unit_test_setup_teardown(test_noisy_line_succeeds_below_14400, setup, teardown),
        cmocka_unit_test_setup_teardown(test_old_machine_gets_no_ecm_and_at_most_9600, setup, teardown),
        cmocka_unit_test_setup_teardown(test_abort_mid_call_ends_aborted, setup, teardown),
        cmocka_unit_test_setup_teardown(test_status_and_confirmations_arrive_in_order, setup, teardown),
        cmocka_unit_test_setup_teardown(test_page_that_is_not_a_tiff_fails_permanently, setup, teardown),
        cmocka_unit_test_setup_teardown(test_second_call_on_a_busy_channel_is_refused, setup_realtime, teardown),
        cmocka_unit_test_setup_teardown(test_real_time_call_runs_dial_and_page_starts_off_the_tick, setup_realtime,
                                        teardown),
        cmocka_unit_test_setup_teardown(test_fast_call_never_uses_the_lane, setup, teardown),
        cmocka_unit_test_setup_teardown(test_bad_request_is_refused, setup, teardown),
        cmocka_unit_test_setup_teardown(test_pool_destroy_aborts_active_calls, setup, teardown),
        cmocka_unit_test_setup_teardown(test_unknown_line_spec_is_refused_with_a_sentence, setup, teardown),
    };
    return cmocka_run_group_tests_name("modem_sim", tests, NULL, NULL);
}

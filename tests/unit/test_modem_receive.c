/*
 * test_modem_receive.c - receiving through the simulated network's
 * loopback: dialing our own station number reaches the pool's inbound
 * receiver, pages arrive one by one through the inbound callbacks, and
 * a call cut off mid-fax keeps the pages already received.
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
#include <sys/stat.h>

#include <cmocka.h>

#include "modem/modem.h"
#include "modem_testlib.h"

#define CALL_TIMEOUT_S 120 /* a bound so a hang fails the test, not a timing check */
#define MAX_PAGES 4
#define STATION "5550100"
#define SECOND_STATION "5550177" /* another number of ours (a DID) */
#define SENDER_TSID "FAXFS LOOP TEST"

struct fixture {
    char *dir;
    char sim_dir[PATH_MAX];
    char rx_dir[PATH_MAX];
    char pages[MAX_PAGES][PATH_MAX];
    const char *page_ptrs[MAX_PAGES];
    struct modem_pool *pool;
    struct test_recorder rec;
    struct test_inbound in;
};

static int setup(void **state)
{
    struct fixture *f = calloc(1, sizeof *f);
    f->dir = test_tempdir();
    snprintf(f->sim_dir, sizeof f->sim_dir, "%s/sim", f->dir);
    snprintf(f->rx_dir, sizeof f->rx_dir, "%s/rx", f->dir);
    mkdir(f->rx_dir, 0755);
    for (int i = 0; i < MAX_PAGES; i++) {
        snprintf(f->pages[i], sizeof f->pages[i], "%s/page%d.tif", f->dir, i + 1);
        if (test_write_page(f->pages[i], 700, (unsigned)i + 21) != 0)
            return -1;
        f->page_ptrs[i] = f->pages[i];
    }
    test_recorder_init(&f->rec);
    test_inbound_init(&f->in, f->rx_dir);
    struct modem_pool_config cfg = {
        .channels = 2, .line_spec = "sim", .pace = MODEM_PACE_FAST, .sim_dir = f->sim_dir,
        .scratch_dir = f->dir, .workers = 1, .tsid = "FAXFS RECEIVER",
        .inbound = &test_inbound_ops, .inbound_ctx = &f->in, .station_number = STATION "," SECOND_STATION,
    };
    char err[256];
    if (modem_pool_create(&f->pool, &cfg, err, sizeof err) != 0) {
        fprintf(stderr, "%s\n", err);
        return -1;
    }
    *state = f;
    return 0;
}

static int teardown(void **state)
{
    struct fixture *f = *state;
    test_inbound_release(&f->in);
    modem_pool_destroy(f->pool);
    test_recorder_destroy(&f->rec);
    test_inbound_destroy(&f->in);
    faxtest_rmtree(f->dir);
    free(f->dir);
    free(f);
    return 0;
}

static void send_to_station(struct fixture *f, int pages)
{
    struct modem_send_request req = {
        .number = STATION, .page_paths = f->page_ptrs, .page_count = pages,
        .first_page_number = 1, .total_pages = pages, .tsid = SENDER_TSID,
    };
    assert_int_equal(modem_send(f->pool, 0, &req, &test_recorder_events, &f->rec), 0);
}

static void assert_received_page_matches(struct fixture *f, int n)
{
    char got[PATH_MAX];
    test_inbound_page_path(&f->in, n, got, sizeof got);
    assert_int_equal(faxtest_page_count(got), 1);
    assert_true(test_pages_match(got, &f->page_ptrs[n - 1], 1));
}

static void test_dialing_our_own_number_delivers_the_fax_to_the_inbound_side(void **state)
{
    struct fixture *f = *state;
    send_to_station(f, 3);
    assert_true(test_recorder_wait(&f->rec, CALL_TIMEOUT_S));
    assert_true(test_inbound_wait_finished(&f->in, CALL_TIMEOUT_S));
    assert_int_equal(f->rec.result.outcome, MODEM_OK);
    assert_int_equal(f->rec.result.pages_sent, 3);
    assert_string_equal(f->rec.result.remote_id, "FAXFS RECEIVER"); /* our CSI */

    const struct modem_rx_result *r = &f->in.result;
    assert_int_equal(f->in.calls, 1);
    assert_int_equal(f->in.finished_count, 1);
    assert_int_equal(r->outcome, MODEM_OK);
    assert_string_equal(r->code, "");
    assert_int_equal(r->pages_received, 3);
    assert_string_equal(r->remote_id, SENDER_TSID);
    assert_int_equal(r->ecm, 1);
    assert_int_equal(r->bit_rate, 14400);
    assert_true(r->duration > 0);
    assert_string_equal(f->in.caller_id, STATION);
    assert_string_equal(f->in.called_number, STATION);
    assert_string_equal(f->in.line, "sim");
    assert_string_equal(f->in.channel, "in0");
    for (int n = 1; n <= 3; n++)
        assert_received_page_matches(f, n);
    /* Nothing went to a simulated machine. */
    char sim_file[PATH_MAX];
    assert_int_equal(faxtest_latest_sim_file(f->sim_dir, STATION, sim_file, sizeof sim_file), -1);
    assert_string_equal(sim_file, "");
    assert_int_equal(modem_pool_inbound_active(f->pool), 0);
}

static void test_received_pages_are_handed_over_one_by_one_during_the_call(void **state)
{
    struct fixture *f = *state;
    send_to_station(f, 3);
    assert_true(test_inbound_wait_finished(&f->in, CALL_TIMEOUT_S));
    assert_true(test_recorder_wait(&f->rec, CALL_TIMEOUT_S));
    int begin = test_inbound_find(&f->in, RX_BEGIN, 0, NULL);
    int page1 = test_inbound_find(&f->in, RX_PAGE, 1, NULL);
    int receiving2 = test_inbound_find(&f->in, RX_STATUS, 0, "receiving page 2 at 14400 bps");
    int page2 = test_inbound_find(&f->in, RX_PAGE, 2, NULL);
    int receiving3 = test_inbound_find(&f->in, RX_STATUS, 0, "receiving page 3 at 14400 bps");
    int page3 = test_inbound_find(&f->in, RX_PAGE, 3, NULL);
    int finished = test_inbound_find(&f->in, RX_FINISHED, 0, NULL);
    assert_int_equal(begin, 0);
    assert_true(test_inbound_find(&f->in, RX_STATUS, 0, "receiving page 1 at 14400 bps") > begin);
    /* page 1 was handed over while page 2 was still to come, and so on */
    assert_true(page1 > begin && page1 < receiving2);
    assert_true(receiving2 < page2 && page2 < receiving3);
    assert_true(receiving3 < page3 && page3 < finished);
    assert_int_equal(finished, f->in.nevents - 1);
}

static void test_call_cut_off_mid_fax_keeps_the_pages_already_received(void **state)
{
    struct fixture *f = *state;
    f->in.hold_at_page = 2; /* freeze the call right after page 2 arrives */
    send_to_station(f, 4);
    assert_true(test_inbound_wait_holding(&f->in, CALL_TIMEOUT_S));
    modem_abort(f->pool, 0);
    test_inbound_release(&f->in);
    assert_true(test_recorder_wait(&f->rec, CALL_TIMEOUT_S));
    assert_true(test_inbound_wait_finished(&f->in, CALL_TIMEOUT_S));
    assert_int_equal(f->rec.result.outcome, MODEM_ABORTED);

    const struct modem_rx_result *r = &f->in.result;
    assert_int_equal(r->outcome, MODEM_DROPPED);
    assert_string_equal(r->code, "call_dropped");
    assert_int_equal(r->pages_received, 2);
    assert_received_page_matches(f, 1);
    assert_received_page_matches(f, 2);
    assert_string_equal(r->remote_id, SENDER_TSID);
}

static void test_refused_loopback_call_is_busy_for_the_sender(void **state)
{
    struct fixture *f = *state;
    f->in.refuse = true;
    send_to_station(f, 1);
    assert_true(test_recorder_wait(&f->rec, CALL_TIMEOUT_S));
    assert_int_equal(f->rec.result.outcome, MODEM_BUSY);
    assert_int_equal(f->in.calls, 1);
    assert_int_equal(f->in.finished_count, 0);
    assert_int_equal(modem_pool_inbound_active(f->pool), 0);
}

static void test_other_numbers_still_reach_simulated_machines(void **state)
{
    struct fixture *f = *state;
    struct modem_send_request req = { .number = "5551234", .page_paths = f->page_ptrs, .page_count = 1,
                                      .first_page_number = 1, .total_pages = 1 };
    assert_int_equal(modem_send(f->pool, 0, &req, &test_recorder_events, &f->rec), 0);
    assert_true(test_recorder_wait(&f->rec, CALL_TIMEOUT_S));
    assert_int_equal(f->rec.result.outcome, MODEM_OK);
    assert_int_equal(f->in.calls, 0);
}

static void send_one_page_to(struct fixture *f, const char *number)
{
    struct modem_send_request req = { .number = number, .page_paths = f->page_ptrs, .page_count = 1,
                                      .first_page_number = 1, .total_pages = 1 };
    assert_int_equal(modem_send(f->pool, 0, &req, &test_recorder_events, &f->rec), 0);
    assert_true(test_recorder_wait(&f->rec, CALL_TIMEOUT_S));
    assert_int_equal(f->rec.result.outcome, MODEM_OK);
}

static void test_each_station_number_loops_back_with_the_number_dialed(void **state)
{
    struct fixture *f = *state;
    send_one_page_to(f, SECOND_STATION);
    assert_true(test_inbound_wait_finished(&f->in, CALL_TIMEOUT_S));
    assert_int_equal(f->in.calls, 1);
    assert_string_equal(f->in.called_number, SECOND_STATION);
}

static void test_part_of_a_station_number_is_not_ours(void **state)
{
    static const char *const near[] = {"555017", "55501777", "5550100,5550177"};
    struct fixture *f = *state;
    for (size_t i = 0; i < sizeof near / sizeof near[0]; i++) {
        struct modem_send_request req = { .number = near[i], .page_paths = f->page_ptrs, .page_count = 1,
                                          .first_page_number = 1, .total_pages = 1 };
        test_recorder_destroy(&f->rec);
        test_recorder_init(&f->rec);
        if (modem_send(f->pool, 0, &req, &test_recorder_events, &f->rec) == 0)
            assert_true(test_recorder_wait(&f->rec, CALL_TIMEOUT_S));
    }
    assert_int_equal(f->in.calls, 0);
}

int main(void)
{
    const struct CMUnitTest tests[] = {
        cmocka_unit_test_setup_teardown(test_dialing_our_own_number_delivers_the_fax_to_the_inbound_side, setup, teardown),
        cmocka_unit_test_setup_teardown(test_received_pages_are_handed_over_one_by_one_during_the_call, setup, teardown),
        cmocka_unit_test_setup_teardown(test_call_cut_off_mid_fax_keeps_the_pages_already_received, setup, teardown),
        cmocka_unit_test_setup_teardown(test_refused_loopback_call_is_busy_for_the_sender, setup, teardown),
        cmocka_unit_test_setup_teardown(test_other_numbers_still_reach_simulated_machines, setup, teardown),
        cmocka_unit_test_setup_teardown(test_each_station_number_loops_back_with_the_number_dialed, setup, teardown),
        cmocka_unit_test_setup_teardown(test_part_of_a_station_number_is_not_ours, setup, teardown),
    };
    return cmocka_run_group_tests_name("modem_receive", tests, NULL, NULL);
}

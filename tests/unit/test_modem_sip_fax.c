/*
 * test_modem_sip_fax.c - two modem pools on loopback, one sending over a
 * SIP line to the other's SIP listener: the fax arrives over G.711 or
 * T.38, pixel for pixel, with bit rate, ECM and transport recorded on
 * both sides; a receiver that refuses T.38 keeps the call on G.711; a
 * busy peer is a busy outcome. Calls run at the pace of a real line.
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
#include "modem/sip_ua.h"
#include "modem_testlib.h"

#define CALL_TIMEOUT_S 150 /* a bound so a hang fails the test, not a timing check */
#define NUMBER "5551000"
#define CALLER "5559876"

struct fixture {
    char *dir;
    char rx_dir[PATH_MAX];
    char page[PATH_MAX];
    const char *page_ptrs[1];
    struct modem_pool *sender, *receiver;
    struct test_recorder rec;
    struct test_inbound in;
};

static int setup(void **state)
{
    struct fixture *f = calloc(1, sizeof *f);
    f->dir = test_tempdir();
    snprintf(f->rx_dir, sizeof f->rx_dir, "%s/rx", f->dir);
    mkdir(f->rx_dir, 0755);
    snprintf(f->page, sizeof f->page, "%s/page.tif", f->dir);
    if (test_write_page(f->page, 300, 7) != 0)
        return -1;
    f->page_ptrs[0] = f->page;
    test_recorder_init(&f->rec);
    test_inbound_init(&f->in, f->rx_dir);
    *state = f;
    return 0;
}

static int teardown(void **state)
{
    struct fixture *f = *state;
    modem_pool_destroy(f->sender);
    modem_pool_destroy(f->receiver);
    test_recorder_destroy(&f->rec);
    test_inbound_destroy(&f->in);
    faxtest_rmtree(f->dir);
    free(f->dir);
    free(f);
    return 0;
}

/* B listens on an ephemeral loopback port; A's line points at it. */
static void start_pools(struct fixture *f, bool sender_t38, bool receiver_t38)
{
    char err[256] = "";
    struct modem_pool_config rcfg = {
        .channels = 1, .line_spec = "sim", .sim_dir = f->dir, .scratch_dir = f->dir, .workers = 1, .tsid = "FAXFS B",
        .inbound = &test_inbound_ops, .inbound_ctx = &f->in, .listen_spec = "sip:127.0.0.1:0",
        .sip = { .no_t38 = !receiver_t38 },
    };
    int rc = modem_pool_create(&f->receiver, &rcfg, err, sizeof err);
    if (rc != 0)
        fprintf(stderr, "receiver: %s\n", err);
    assert_int_equal(rc, 0);
    int port = modem_pool_sip_port(f->receiver);
    assert_true(port > 0);
    char line[64];
    snprintf(line, sizeof line, "sip:127.0.0.1:%d", port);
    struct modem_pool_config scfg = {
        .channels = 1, .line_spec = line, .scratch_dir = f->dir, .workers = 1, .tsid = "FAXFS A",
        .sip = { .user = CALLER, .local = "127.0.0.1", .no_t38 = !sender_t38 },
    };
    rc = modem_pool_create(&f->sender, &scfg, err, sizeof err);
    if (rc != 0)
        fprintf(stderr, "sender: %s\n", err);
    assert_int_equal(rc, 0);
}

static void send_one_page_as(struct fixture *f, const struct modem_send_request *settings)
{
    struct modem_send_request req = *settings;
    req.number = NUMBER;
    req.page_paths = f->page_ptrs;
    req.page_count = 1;
    req.first_page_number = 1;
    req.total_pages = 1;
    assert_int_equal(modem_send(f->sender, 0, &req, &test_recorder_events, &f->rec), 0);
    assert_true(test_recorder_wait(&f->rec, CALL_TIMEOUT_S));
    assert_true(test_inbound_wait_finished(&f->in, CALL_TIMEOUT_S));
}

static void send_one_page(struct fixture *f)
{
    struct modem_send_request req = {
        .number = NUMBER, .page_paths = f->page_ptrs, .page_count = 1, .first_page_number = 1, .total_pages = 1,
    };
    assert_int_equal(modem_send(f->sender, 0, &req, &test_recorder_events, &f->rec), 0);
    assert_true(test_recorder_wait(&f->rec, CALL_TIMEOUT_S));
    assert_true(test_inbound_wait_finished(&f->in, CALL_TIMEOUT_S));
}

/* Both ends agree the fax went through, and the page is the one sent. */
static void assert_fax_arrived(struct fixture *f, const char *transport)
{
    pthread_mutex_lock(&f->rec.lock);
    struct modem_result sent = f->rec.result;
    pthread_mutex_unlock(&f->rec.lock);
    pthread_mutex_lock(&f->in.lock);
    struct modem_rx_result got = f->in.result;
    int pages = f->in.pages;
    pthread_mutex_unlock(&f->in.lock);
    if (sent.outcome != MODEM_OK || got.outcome != MODEM_OK)
        fprintf(stderr, "sender: %s (%s); receiver: %s (%s)\n", sent.code, sent.text, got.code, got.text);
    assert_int_equal(sent.outcome, MODEM_OK);
    assert_int_equal(sent.pages_sent, 1);
    assert_int_equal(got.outcome, MODEM_OK);
    assert_int_equal(got.pages_received, 1);
    assert_int_equal(pages, 1);
    assert_string_equal(sent.transport, transport);
    assert_string_equal(got.transport, transport);
    assert_true(sent.bit_rate >= 2400);
    assert_int_equal(sent.bit_rate, got.bit_rate);
    assert_int_equal(sent.ecm, 1);
    assert_int_equal(got.ecm, 1);
    assert_string_equal(sent.remote_id, "FAXFS B");
    assert_string_equal(got.remote_id, "FAXFS A");
    char path[PATH_MAX];
    test_inbound_page_path(&f->in, 1, path, sizeof path);
    assert_int_equal(test_pages_match(path, f->page_ptrs, 1), 1);
}

static void test_fax_over_g711_arrives_pixel_for_pixel(void **state)
{
    struct fixture *f = *state;
    start_pools(f, false, true);
    send_one_page(f);
    assert_fax_arrived(f, "g711");
}

static void test_fax_over_t38_arrives_pixel_for_pixel(void **state)
{
    struct fixture *f = *state;
    start_pools(f, true, true);
    f->in.watch_log = "the call switched to";
    send_one_page(f);
    assert_fax_arrived(f, "t38");
    /* The calling pool asks at once; the answering one waits its grace. */
    assert_string_equal(f->in.watched_log, "the call switched to T.38 (the remote asked)");
}

/* A destination that must stay on audio: the sender neither asks for
 * T.38 nor accepts the answerer's switch, though both pools allow it. */
static void test_call_without_t38_stays_on_g711(void **state)
{
    struct fixture *f = *state;
    start_pools(f, true, true);
    f->in.watch_log = "the call switched to";
    send_one_page_as(f, &(struct modem_send_request){.no_t38 = true});
    assert_fax_arrived(f, "g711");
    assert_string_equal(f->in.watched_log, ""); /* it never did */
}

/* ECM off and a 9600 bps ceiling over T.38: what the call used says so
 * at both ends. */
static void test_ecm_off_and_9600_over_t38(void **state)
{
    struct fixture *f = *state;
    start_pools(f, true, true);
    send_one_page_as(f, &(struct modem_send_request){.ecm_set = true, .ecm = 0, .max_bit_rate = 9600});
    pthread_mutex_lock(&f->rec.lock);
    struct modem_result sent = f->rec.result;
    pthread_mutex_unlock(&f->rec.lock);
    pthread_mutex_lock(&f->in.lock);
    struct modem_rx_result got = f->in.result;
    pthread_mutex_unlock(&f->in.lock);
    assert_int_equal(sent.outcome, MODEM_OK);
    assert_int_equal(got.outcome, MODEM_OK);
    assert_string_equal(sent.transport, "t38");
    assert_int_equal(sent.ecm, 0);
    assert_int_equal(got.ecm, 0);
    assert_int_equal(sent.bit_rate, 9600);
    assert_int_equal(got.bit_rate, 9600);
}

static void test_receiver_refusing_t38_keeps_the_fax_on_g711(void **state)
{
    struct fixture *f = *state;
    start_pools(f, true, false);
    send_one_page(f);
    assert_fax_arrived(f, "g711");
}

static void test_caller_id_is_the_user_of_the_from_header(void **state)
{
    struct fixture *f = *state;
    start_pools(f, false, true);
    send_one_page(f);
    pthread_mutex_lock(&f->in.lock);
    assert_string_equal(f->in.caller_id, CALLER);
    assert_string_equal(f->in.line, "sip");
    pthread_mutex_unlock(&f->in.lock);
}

/* A SIP peer that takes no calls answers 486 Busy Here. */
static void test_busy_peer_is_a_busy_outcome(void **state)
{
    struct fixture *f = *state;
    struct sip_ua *busy;
    char err[256] = "";
    struct sip_ua_config ucfg = { .local = "127.0.0.1:0" };
    assert_int_equal(sip_ua_create(&busy, &ucfg, err, sizeof err), 0);
    char line[64];
    snprintf(line, sizeof line, "sip:127.0.0.1:%u", (unsigned)sip_ua_port(busy));
    struct modem_pool_config scfg = {
        .channels = 1, .line_spec = line, .scratch_dir = f->dir, .workers = 1,
        .sip = { .local = "127.0.0.1" },
    };
    assert_int_equal(modem_pool_create(&f->sender, &scfg, err, sizeof err), 0);
    struct modem_send_request req = {
        .number = NUMBER, .page_paths = f->page_ptrs, .page_count = 1, .first_page_number = 1, .total_pages = 1,
    };
    assert_int_equal(modem_send(f->sender, 0, &req, &test_recorder_events, &f->rec), 0);
    assert_true(test_recorder_wait(&f->rec, CALL_TIMEOUT_S));
    pthread_mutex_lock(&f->rec.lock);
    assert_int_equal(f->rec.result.outcome, MODEM_BUSY);
    assert_string_equal(f->rec.result.transport, "");
    pthread_mutex_unlock(&f->rec.lock);
    modem_pool_destroy(f->sender);
    f->sender = NULL;
    sip_ua_destroy(busy);
}

int main(int argc, char **argv)
{
    if (argc > 1)
        cmocka_set_test_filter(argv[1]); /* e.g. "*t38*" */
    const struct CMUnitTest tests[] = {
        cmocka_unit_test_setup_teardown(test_busy_peer_is_a_busy_outcome, setup, teardown),
        cmocka_unit_test_setup_teardown(test_fax_over_g711_arrives_pixel_for_pixel, setup, teardown),
        cmocka_unit_test_setup_teardown(test_fax_over_t38_arrives_pixel_for_pixel, setup, teardown),
        cmocka_unit_test_setup_teardown(test_receiver_refusing_t38_keeps_the_fax_on_g711, setup, teardown),
        cmocka_unit_test_setup_teardown(test_call_without_t38_stays_on_g711, setup, teardown),
        cmocka_unit_test_setup_teardown(test_ecm_off_and_9600_over_t38, setup, teardown),
        cmocka_unit_test_setup_teardown(test_caller_id_is_the_user_of_the_from_header, setup, teardown),
    };
    return cmocka_run_group_tests(tests, NULL, NULL);
}

/*
 * test_queue_receive_route.c - inbound routes and delivery records: the
 * [receive NAME] keys refused with a reason, which route a fax takes (a
 * table of calls against a table of routes), file names from templates
 * (caller-controlled numbers cannot leave the folder), the retry rule of
 * deliveries, and the records surviving a reopen of the queue.
 */
#include <stdarg.h>
#include <stddef.h>
#include <setjmp.h>
#include <cmocka.h>

#include <errno.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <unistd.h>

#include "queue/receive_route.h"
#include "queue_testutil.h"

/* ---- rules ---- */

static const struct { const char *route, *key, *value; } sample_rules[] = {
    {"sales", "called", "5550101"},   {"sales", "owner", "alice"},
    {"sales", "folder", "/srv/fax/sales"}, {"sales", "folder-owner", "alice"},
    {"vip", "caller", "+4420*"},      {"vip", "csi", "ACME*"},      {"vip", "print", "office"},
    {"support", "called", "555010X"}, {"support", "mail", "a@example.org,b@example.org"},
    {"rest", "owner", "root"},        /* no match keys: the catch-all */
};

static struct receive_routes *sample_routes(void)
{
    struct receive_routes *t = calloc(1, sizeof *t);
    char why[256];
    assert_non_null(t);
    for (size_t i = 0; i < sizeof sample_rules / sizeof sample_rules[0]; i++)
        assert_int_equal(receive_route_set(t, sample_rules[i].route, sample_rules[i].key, sample_rules[i].value, why,
                                           sizeof why), 0);
    assert_int_equal(receive_routes_check(t, why, sizeof why), 0);
    return t;
}

static void test_routes_keep_the_order_they_were_first_named(void **state)
{
    (void)state;
    struct receive_routes *t = sample_routes();
    assert_int_equal(t->n, 4);
    assert_string_equal(t->route[0].name, "sales");
    assert_string_equal(t->route[1].name, "vip");
    assert_string_equal(t->route[2].name, "support");
    assert_string_equal(t->route[3].name, "rest");
    free(t);
}

static void test_the_first_matching_route_wins(void **state)
{
    static const struct { const char *called, *caller, *csi, *want; } calls[] = {
        {"5550101", "+442079460000", "ACME LTD", "sales"},  /* sales is first, though vip matches too */
        {"5550102", "+442079460000", "ACME LTD", "vip"},
        {"5550102", "+442079460000", "OTHER", "support"},   /* csi glob fails: next route */
        {"5550102", "", "ACME", "support"},                  /* unknown caller never matches +4420* */
        {"5550109", "5551234", "", "support"},               /* X is one digit */
        {"55501099", "5551234", "", "rest"},                 /* one digit too many */
        {"", "", "", "rest"},                                /* nothing known: the catch-all */
        {"5550101", "", "", "sales"},
    };
    (void)state;
    struct receive_routes *t = sample_routes();
    for (size_t i = 0; i < sizeof calls / sizeof calls[0]; i++) {
        const struct receive_route *r = receive_route_match(t, calls[i].called, calls[i].caller, calls[i].csi);
        assert_non_null(r);
        if (strcmp(r->name, calls[i].want) != 0)
            fail_msg("call %zu (%s from %s, \"%s\"): route %s, wanted %s", i, calls[i].called, calls[i].caller,
                     calls[i].csi, r->name, calls[i].want);
    }
    free(t);
}

static void test_without_a_catch_all_a_call_may_match_nothing(void **state)
{
    (void)state;
    struct receive_routes t = {0};
    char why[256];
    assert_int_equal(receive_route_set(&t, "sales", "called", "5550101", why, sizeof why), 0);
    assert_null(receive_route_match(&t, "5550102", "", ""));
    assert_null(receive_route_match(&t, "", "", ""));
    assert_non_null(receive_route_match(&t, "5550101", "", ""));
}

static void test_bad_rules_are_refused_with_the_fix(void **state)
{
    static const struct { const char *route, *key, *value, *says; } bad[] = {
        {"sales", "called", "555-ABC", "called \"555-ABC\""},
        {"sales", "caller", "12*3", "caller"},
        {"sales", "folder", "relative/dir", "absolute path"},
        {"sales", "folder-name", "../x-%i", "without '/'"},
        {"sales", "folder-name", "fax-%q", "only %Y"},
        {"sales", "folder-format", "png", "pdf, tiff or both"},
        {"sales", "folder-mode", "0755", "without execute"},
        {"sales", "folder-mode", "rw", "octal"},
        {"sales", "owner", "-rf", "plain name"},
        {"sales", "print", "a b", "plain name"},
        {"sales", "mail", "a@example.org, b@example.org", "without spaces"},
        {"sales", "mail", "-oQ/tmp", "addresses"},
        {"sales", "mail", "\"x\"@example.org", "quotes"},
        {"sales", "command", "", "empty"},
        {"sales", "colour", "red", "unknown key"},
        {"bad name", "owner", "alice", "route name"},
        {"sales", "csi", "A\nB", "control characters"},
    };
    (void)state;
    for (size_t i = 0; i < sizeof bad / sizeof bad[0]; i++) {
        struct receive_routes t = {0};
        char why[256] = "";
        assert_int_equal(receive_route_set(&t, bad[i].route, bad[i].key, bad[i].value, why, sizeof why), -EINVAL);
        if (!strstr(why, bad[i].says))
            fail_msg("%s = %s: \"%s\" does not say \"%s\"", bad[i].key, bad[i].value, why, bad[i].says);
    }
}

static void test_folder_settings_need_a_folder_and_a_writer(void **state)
{
    (void)state;
    struct receive_routes t = {0};
    char why[256];
    assert_int_equal(receive_route_set(&t, "a", "folder-mode", "0600", why, sizeof why), 0);
    assert_int_equal(receive_routes_check(&t, why, sizeof why), -EINVAL);
    assert_non_null(strstr(why, "add folder = DIRECTORY"));
    struct receive_routes u = {0};
    assert_int_equal(receive_route_set(&u, "b", "folder", "/srv/fax", why, sizeof why), 0);
    assert_int_equal(receive_routes_check(&u, why, sizeof why), -EINVAL);
    assert_non_null(strstr(why, "folder-owner"));
    assert_int_equal(receive_route_set(&u, "b", "folder-owner", "alice", why, sizeof why), 0);
    assert_int_equal(receive_routes_check(&u, why, sizeof why), 0);
}

static void test_a_route_asks_for_its_deliveries_in_order(void **state)
{
    (void)state;
    struct receive_routes t = {0};
    struct job_delivery d[JOB_DELIVERIES_MAX];
    char why[256];
    assert_int_equal(receive_route_set(&t, "all", "mail", "a@example.org", why, sizeof why), 0);
    assert_int_equal(receive_route_set(&t, "all", "command", "logger fax", why, sizeof why), 0);
    assert_int_equal(receive_route_set(&t, "all", "print", "office", why, sizeof why), 0);
    assert_int_equal(receive_route_set(&t, "all", "folder", "/srv/fax", why, sizeof why), 0);
    assert_int_equal(receive_route_deliveries(&t.route[0], d, JOB_DELIVERIES_MAX), 4);
    static const char *const want[][2] = {
        {"folder", "/srv/fax"}, {"print", "office"}, {"command", "all"}, {"mail", "a@example.org"},
    };
    for (int i = 0; i < 4; i++) {
        assert_string_equal(d[i].action, want[i][0]);
        assert_string_equal(d[i].target, want[i][1]);
        assert_int_equal(d[i].state, JD_PENDING);
        assert_int_equal(d[i].attempts, 0);
    }
}

/* ---- file names ---- */

static void test_file_names_come_from_the_template(void **state)
{
    static const struct { const char *tmpl, *caller, *called, *ext, *want; } names[] = {
        {"fax-%Y%m%d-%H%M%S-%i", "5551234", "5550101", ".pdf", "fax-20260921-141320-100042.pdf"},
        {"fax-%Y%m%d-%H%M%S-%i.pdf", "", "", ".tif", "fax-20260921-141320-100042.tif"}, /* own extension swapped */
        {"%c-to-%n", "+1 (555) 1234", "5550101", ".tif", "+15551234-to-5550101.tif"},
        {"%c", "", "", ".pdf", "unknown.pdf"},
        {"%c", "../../etc/x", "", ".pdf", "unknown.pdf"},  /* a hostile caller id keeps no '/' nor '.' */
        {"%c", "5550/../1", "", ".pdf", "55501.pdf"},
        {"100%%-%i", "", "", ".pdf", "100%-100042.pdf"},
        {"", "", "", ".pdf", "fax-20260921-141320-100042.pdf"}, /* the default */
    };
    (void)state;
    for (size_t i = 0; i < sizeof names / sizeof names[0]; i++) {
        struct job j;
        char out[256];
        job_init(&j);
        j.id = 100042;
        j.submitted = TEST_START; /* 2026-09-21T14:13:20Z; the tests run in UTC */
        snprintf(j.caller_id, sizeof j.caller_id, "%s", names[i].caller);
        snprintf(j.called_number, sizeof j.called_number, "%s", names[i].called);
        assert_int_equal(receive_route_file_name(names[i].tmpl, &j, names[i].ext, out, sizeof out), 0);
        if (strcmp(out, names[i].want) != 0)
            fail_msg("template \"%s\": \"%s\", wanted \"%s\"", names[i].tmpl, out, names[i].want);
    }
}

static void test_a_file_name_too_long_is_refused(void **state)
{
    (void)state;
    struct job j;
    char tmpl[300], out[256];
    job_init(&j);
    j.id = 1;
    memset(tmpl, 'a', sizeof tmpl - 1);
    tmpl[sizeof tmpl - 1] = '\0';
    memcpy(tmpl, "%Y%Y%Y%Y%Y%Y%Y%Y%Y%Y%Y%Y%Y%Y%Y%Y", 32);
    assert_int_equal(receive_route_file_name(tmpl, &j, ".pdf", out, sizeof out), -ENAMETOOLONG);
}

/* ---- the retry rule ---- */

static struct delivery_policy policy(const char *delays, int give_up)
{
    struct delivery_policy p = {0};
    char why[200];
    assert_int_equal(delivery_policy_parse_delays(&p, delays, why, sizeof why), 0);
    p.give_up_s = give_up;
    return p;
}

static void test_failed_tries_back_off_then_give_up(void **state)
{
    (void)state;
    struct delivery_policy p = policy("60,300,900,3600", 86400);
    struct job_delivery d = {.action = "folder", .target = "/srv", .state = JD_PENDING};
    int64_t t = 1000000;
    /* delay after the n-th failure: the table, then its last entry again */
    static const int want[] = {60, 300, 900, 3600, 3600, 3600};
    for (size_t i = 0; i < sizeof want / sizeof want[0]; i++) {
        assert_true(delivery_due(&d, t));
        delivery_after_try(&d, &p, t, DELIVERY_TRY_TEMPORARY, "cannot open the folder");
        assert_int_equal(d.state, JD_RETRYING);
        assert_int_equal(d.attempts, (int)i + 1);
        assert_int_equal(d.next_try, t + want[i]);
        assert_string_equal(d.error, "cannot open the folder");
        assert_false(delivery_due(&d, d.next_try - 1));
        t = d.next_try;
    }
    assert_int_equal(d.first_try, 1000000);
    /* a day after the first try, no more */
    while (d.state == JD_RETRYING) {
        t = d.next_try;
        delivery_after_try(&d, &p, t, DELIVERY_TRY_TEMPORARY, "still not");
    }
    assert_int_equal(d.state, JD_FAILED);
    assert_true(t - d.first_try <= 86400);
    assert_false(delivery_due(&d, t + 100000));
}

static void test_success_is_done_and_clears_the_error(void **state)
{
    (void)state;
    struct delivery_policy p = policy("5", 3600);
    struct job_delivery d = {.action = "print", .target = "office"};
    delivery_after_try(&d, &p, 100, DELIVERY_TRY_TEMPORARY, "lp: exit status 1");
    delivery_after_try(&d, &p, 105, DELIVERY_TRY_OK, "");
    assert_int_equal(d.state, JD_DONE);
    assert_int_equal(d.attempts, 2);
    assert_int_equal(d.first_try, 100);
    assert_string_equal(d.error, "");
    assert_false(delivery_due(&d, 1000));
}

static void test_a_permanent_failure_is_not_retried(void **state)
{
    (void)state;
    struct delivery_policy p = policy("5", 3600);
    struct job_delivery d = {.action = "folder"};
    delivery_after_try(&d, &p, 100, DELIVERY_TRY_PERMANENT, "route gone");
    assert_int_equal(d.state, JD_FAILED);
    assert_string_equal(d.error, "route gone");
}

static void test_bad_delay_lists_are_refused(void **state)
{
    static const char *const bad[] = {"", "0", "60,,300", "60;300", "-5", "1,2,3,4,5,6,7,8,9", "999999999"};
    (void)state;
    for (size_t i = 0; i < sizeof bad / sizeof bad[0]; i++) {
        struct delivery_policy p = policy("7", 10);
        char why[200];
        assert_int_equal(delivery_policy_parse_delays(&p, bad[i], why, sizeof why), -EINVAL);
        assert_int_equal(p.ndelays, 1); /* unchanged */
        assert_int_equal(p.delays[0], 7);
    }
}

/* ---- the records in the queue ---- */

static uint64_t received_fax(struct queue_fixture *f, const char *called)
{
    uint64_t id;
    assert_int_equal(queue_receive_begin_called(f->q, "in0", "5551234", called, &id), 0);
    int fd = make_good_tiff(1);
    assert_int_equal(queue_receive_page(f->q, id, fd), 0);
    close(fd);
    struct queue_call_result r = {.failure = QF_NONE, .code = "", .text = "", .bit_rate = 9600, .ecm = 1,
                                  .compression = "T.4 1D", .remote_id = "ACME", .duration = 30};
    assert_int_equal(queue_receive_finished(f->q, id, &r), 0);
    return id;
}

static void test_routes_and_deliveries_survive_a_reopen(void **state)
{
    struct queue_fixture *f = *state;
    uint64_t id = received_fax(f, "5550101");
    struct job_delivery d[2] = {
        {.action = "folder", .target = "/srv/fax/sales dept"},
        {.action = "mail", .target = "a@example.org,b@example.org"},
    };
    assert_int_equal(queue_receive_route(f->q, id, "sales", 1001, 1002, d, 2), 0);
    assert_int_equal(queue_receive_route(f->q, id, "sales", 1001, 1002, d, 2), -EALREADY);
    struct job_delivery upd = d[0];
    upd.state = JD_RETRYING;
    upd.attempts = 1;
    upd.first_try = TEST_START;
    upd.next_try = TEST_START + 60;
    snprintf(upd.error, sizeof upd.error, "cannot open the folder: No such file or directory\\x");
    assert_int_equal(queue_delivery_update(f->q, id, 0, &upd), 0);
    queue_fixture_reopen(f);
    struct job j;
    assert_int_equal(queue_snapshot(f->q, id, &j), 0);
    assert_string_equal(j.called_number, "5550101");
    assert_string_equal(j.route, "sales");
    assert_true(j.routed > 0);
    assert_int_equal(j.owner_uid, 1001);
    assert_int_equal(j.owner_gid, 1002);
    assert_int_equal(j.ndeliveries, 2);
    assert_string_equal(j.deliveries[0].action, "folder");
    assert_string_equal(j.deliveries[0].target, "/srv/fax/sales dept");
    assert_int_equal(j.deliveries[0].state, JD_RETRYING);
    assert_int_equal(j.deliveries[0].attempts, 1);
    assert_int_equal(j.deliveries[0].first_try, TEST_START);
    assert_int_equal(j.deliveries[0].next_try, TEST_START + 60);
    assert_string_equal(j.deliveries[0].error, upd.error);
    assert_string_equal(j.deliveries[1].target, "a@example.org,b@example.org");
    assert_int_equal(j.deliveries[1].state, JD_PENDING);
}

static void test_a_record_keeps_its_action_and_target(void **state)
{
    struct queue_fixture *f = *state;
    uint64_t id = received_fax(f, "5550101");
    struct job_delivery d = {.action = "folder", .target = "/srv/fax"};
    assert_int_equal(queue_receive_route(f->q, id, "sales", 1, 1, &d, 1), 0);
    struct job_delivery forged = {.action = "command", .target = "/tmp", .state = JD_DONE, .attempts = 1};
    assert_int_equal(queue_delivery_update(f->q, id, 0, &forged), 0);
    struct job j;
    assert_int_equal(queue_snapshot(f->q, id, &j), 0);
    assert_string_equal(j.deliveries[0].action, "folder");
    assert_string_equal(j.deliveries[0].target, "/srv/fax");
    assert_int_equal(queue_delivery_update(f->q, id, 1, &forged), -EINVAL);
    assert_int_equal(queue_delivery_update(f->q, 999, 0, &forged), -ENOENT);
}

static void test_a_fax_still_receiving_is_not_routed(void **state)
{
    struct queue_fixture *f = *state;
    uint64_t id;
    assert_int_equal(queue_receive_begin_called(f->q, "in0", "", "5550101", &id), 0);
    assert_int_equal(queue_receive_route(f->q, id, "sales", 1, 1, NULL, 0), -EBUSY);
}

static void test_redeliver_is_for_the_owner_and_starts_over(void **state)
{
    struct queue_fixture *f = *state;
    uint64_t id = received_fax(f, "5550101");
    struct job_delivery d = {.action = "folder", .target = "/srv/fax"};
    assert_int_equal(queue_receive_route(f->q, id, "sales", 1001, 1001, &d, 1), 0);
    d.state = JD_FAILED;
    d.attempts = 9;
    d.first_try = TEST_START;
    assert_int_equal(queue_delivery_update(f->q, id, 0, &d), 0);
    struct queue_caller other = {.uid = 1002, .gid = 1002}, owner = {.uid = 1001, .gid = 1001};
    char why[256] = "";
    assert_int_equal(queue_redeliver(f->q, &other, id, why, sizeof why), -EPERM);
    assert_non_null(strstr(why, "only its owner"));
    assert_int_equal(queue_redeliver(f->q, &owner, id, why, sizeof why), 0);
    struct job j;
    assert_int_equal(queue_snapshot(f->q, id, &j), 0);
    assert_int_equal(j.deliveries[0].state, JD_PENDING);
    assert_int_equal(j.deliveries[0].attempts, 0);
    assert_int_equal(j.deliveries[0].first_try, 0);
    /* a fax without deliveries has nothing to repeat */
    uint64_t bare = received_fax(f, "5550102");
    assert_int_equal(queue_receive_route(f->q, bare, "", 1001, 1001, NULL, 0), 0);
    assert_int_equal(queue_redeliver(f->q, &owner, bare, why, sizeof why), -EINVAL);
}

static void test_delivery_outcomes_are_counted_once_per_try(void **state)
{
    struct queue_fixture *f = *state;
    uint64_t id = received_fax(f, "5550101");
    struct job_delivery d = {.action = "print", .target = "office"};
    assert_int_equal(queue_receive_route(f->q, id, "x", 1, 1, &d, 1), 0);
    d.state = JD_RETRYING;
    d.attempts = 1;
    assert_int_equal(queue_delivery_update(f->q, id, 0, &d), 0);
    assert_int_equal(queue_delivery_update(f->q, id, 0, &d), 0); /* the same record again: no new try */
    d.state = JD_DONE;
    d.attempts = 2;
    assert_int_equal(queue_delivery_update(f->q, id, 0, &d), 0);
    struct queue_metrics m;
    queue_metrics(f->q, &m);
    assert_string_equal(m.deliveries[0].action, "print");
    assert_int_equal(m.deliveries[0].outcome[QDO_RETRY], 1);
    assert_int_equal(m.deliveries[0].outcome[QDO_DONE], 1);
    assert_int_equal(m.deliveries[0].outcome[QDO_FAILED], 0);
}

int main(void)
{
    const struct CMUnitTest tests[] = {
        cmocka_unit_test(test_routes_keep_the_order_they_were_first_named),
        cmocka_unit_test(test_the_first_matching_route_wins),
        cmocka_unit_test(test_without_a_catch_all_a_call_may_match_nothing),
        cmocka_unit_test(test_bad_rules_are_refused_with_the_fix),
        cmocka_unit_test(test_folder_settings_need_a_folder_and_a_writer),
        cmocka_unit_test(test_a_route_asks_for_its_deliveries_in_order),
        cmocka_unit_test(test_file_names_come_from_the_template),
        cmocka_unit_test(test_a_file_name_too_long_is_refused),
        cmocka_unit_test(test_failed_tries_back_off_then_give_up),
        cmocka_unit_test(test_success_is_done_and_clears_the_error),
        cmocka_unit_test(test_a_permanent_failure_is_not_retried),
        cmocka_unit_test(test_bad_delay_lists_are_refused),
        cmocka_unit_test_setup_teardown(test_routes_and_deliveries_survive_a_reopen, queue_fixture_setup_spool,
                                        queue_fixture_teardown),
        cmocka_unit_test_setup_teardown(test_routes_and_deliveries_survive_a_reopen, queue_fixture_setup_memory,
                                        queue_fixture_teardown),
        cmocka_unit_test_setup_teardown(test_a_record_keeps_its_action_and_target, queue_fixture_setup_spool,
                                        queue_fixture_teardown),
        cmocka_unit_test_setup_teardown(test_a_fax_still_receiving_is_not_routed, queue_fixture_setup_memory,
                                        queue_fixture_teardown),
        cmocka_unit_test_setup_teardown(test_redeliver_is_for_the_owner_and_starts_over, queue_fixture_setup_spool,
                                        queue_fixture_teardown),
        cmocka_unit_test_setup_teardown(test_delivery_outcomes_are_counted_once_per_try, queue_fixture_setup_memory,
                                        queue_fixture_teardown),
    };
    return cmocka_run_group_tests(tests, NULL, NULL);
}

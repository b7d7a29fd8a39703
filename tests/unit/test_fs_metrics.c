/*
 * test_fs_metrics.c - MOUNT/metrics (fs/metrics.c): a fixed set of counters
 * renders to exactly the expected Prometheus text.
 */
#include <errno.h>
#include <setjmp.h>
#include <stdarg.h>
#include <stddef.h>
#include <stdint.h>
#include <stdio.h>
#include <string.h>
#include <cmocka.h>

#include "fs/metrics.h"

static const double call_bounds[QUEUE_HIST_BUCKETS] = { 15, 30, 45, 60, 90, 120, 180, 300, 600, 1200 };
static const double page_bounds[QUEUE_HIST_BUCKETS] = { 2, 5, 10, 15, 20, 30, 45, 60, 90, 120 };

static struct queue_metrics sample_metrics(void)
{
    struct queue_metrics m;

    memset(&m, 0, sizeof m);
    m.summary.jobs[JOB_QUEUED] = 3;
    m.summary.jobs[JOB_ACTIVE] = 1;
    m.summary.jobs[JOB_DONE] = 12;
    m.summary.modems_busy = 1;
    m.summary.modems_idle = 3;
    m.calls[QF_NONE] = 12;
    m.calls[QF_BUSY] = 4;
    m.receptions[QF_NONE] = 2;
    m.receptions[QF_DROPPED] = 1;
    m.pages_sent = 30;
    m.pages_received = 5;
    m.submissions = 16;
    m.submissions_refused = 2;
    m.modem_busy_seconds = 812.5;
    /* counted in the order actions were first used; "fax2mail" is no action of ours */
    snprintf(m.deliveries[0].action, sizeof m.deliveries[0].action, "print");
    m.deliveries[0].outcome[QDO_DONE] = 4;
    snprintf(m.deliveries[1].action, sizeof m.deliveries[1].action, "folder");
    m.deliveries[1].outcome[QDO_DONE] = 7;
    m.deliveries[1].outcome[QDO_RETRY] = 2;
    m.deliveries[1].outcome[QDO_FAILED] = 1;
    snprintf(m.deliveries[2].action, sizeof m.deliveries[2].action, "fax2mail");
    m.deliveries[2].outcome[QDO_FAILED] = 5;
    memcpy(m.call_seconds.bounds, call_bounds, sizeof call_bounds);
    memcpy(m.page_seconds.bounds, page_bounds, sizeof page_bounds);
    /* cumulative: 2 calls <= 30 s, 10 more <= 60 s, 4 more <= 90 s */
    uint64_t calls[QUEUE_HIST_BUCKETS] = { 0, 2, 2, 12, 16, 16, 16, 16, 16, 16 };
    memcpy(m.call_seconds.counts, calls, sizeof calls);
    m.call_seconds.count = 16;
    m.call_seconds.sum = 812.5;
    uint64_t pages[QUEUE_HIST_BUCKETS] = { 0, 0, 20, 35, 35, 35, 35, 35, 35, 35 };
    memcpy(m.page_seconds.counts, pages, sizeof pages);
    m.page_seconds.count = 35;
    m.page_seconds.sum = 301.25;
    return m;
}

static const char expected[] =
    "# HELP faxfs_jobs Jobs in the queue by state.\n"
    "# TYPE faxfs_jobs gauge\n"
    "faxfs_jobs{state=\"queued\"} 3\n"
    "faxfs_jobs{state=\"scheduled\"} 0\n"
    "faxfs_jobs{state=\"active\"} 1\n"
    "faxfs_jobs{state=\"retrying\"} 0\n"
    "faxfs_jobs{state=\"paused\"} 0\n"
    "faxfs_jobs{state=\"done\"} 12\n"
    "faxfs_jobs{state=\"failed\"} 0\n"
    "faxfs_jobs{state=\"canceled\"} 0\n"
    "faxfs_jobs{state=\"receiving\"} 0\n"
    "# HELP faxfs_queue_paused 1 while the whole queue is paused (no dialing).\n"
    "# TYPE faxfs_queue_paused gauge\n"
    "faxfs_queue_paused 0\n"
    "# HELP faxfs_calls_total Finished outbound calls by outcome.\n"
    "# TYPE faxfs_calls_total counter\n"
    "faxfs_calls_total{outcome=\"success\"} 12\n"
    "faxfs_calls_total{outcome=\"busy\"} 4\n"
    "faxfs_calls_total{outcome=\"no_answer\"} 0\n"
    "faxfs_calls_total{outcome=\"no_line\"} 0\n"
    "faxfs_calls_total{outcome=\"not_fax\"} 0\n"
    "faxfs_calls_total{outcome=\"dropped\"} 0\n"
    "faxfs_calls_total{outcome=\"permanent\"} 0\n"
    "faxfs_calls_total{outcome=\"aborted\"} 0\n"
    "# HELP faxfs_receptions_total Finished inbound calls by outcome.\n"
    "# TYPE faxfs_receptions_total counter\n"
    "faxfs_receptions_total{outcome=\"success\"} 2\n"
    "faxfs_receptions_total{outcome=\"busy\"} 0\n"
    "faxfs_receptions_total{outcome=\"no_answer\"} 0\n"
    "faxfs_receptions_total{outcome=\"no_line\"} 0\n"
    "faxfs_receptions_total{outcome=\"not_fax\"} 0\n"
    "faxfs_receptions_total{outcome=\"dropped\"} 1\n"
    "faxfs_receptions_total{outcome=\"permanent\"} 0\n"
    "faxfs_receptions_total{outcome=\"aborted\"} 0\n"
    "# HELP faxfs_pages_sent_total Pages confirmed by the remote.\n"
    "# TYPE faxfs_pages_sent_total counter\n"
    "faxfs_pages_sent_total 30\n"
    "# HELP faxfs_pages_received_total Pages received complete.\n"
    "# TYPE faxfs_pages_received_total counter\n"
    "faxfs_pages_received_total 5\n"
    "# HELP faxfs_submissions_total Submissions by result.\n"
    "# TYPE faxfs_submissions_total counter\n"
    "faxfs_submissions_total{result=\"accepted\"} 16\n"
    "faxfs_submissions_total{result=\"refused\"} 2\n"
    "# HELP faxfs_modems Modem channels by state.\n"
    "# TYPE faxfs_modems gauge\n"
    "faxfs_modems{state=\"busy\"} 1\n"
    "faxfs_modems{state=\"idle\"} 3\n"
    "# HELP faxfs_modem_busy_seconds_total Seconds modem channels spent on calls, summed.\n"
    "# TYPE faxfs_modem_busy_seconds_total counter\n"
    "faxfs_modem_busy_seconds_total 812.5\n"
    "# HELP faxfs_deliveries_total Tries to deliver received faxes, by action and outcome.\n"
    "# TYPE faxfs_deliveries_total counter\n"
    "faxfs_deliveries_total{action=\"folder\",outcome=\"done\"} 7\n"
    "faxfs_deliveries_total{action=\"folder\",outcome=\"retry\"} 2\n"
    "faxfs_deliveries_total{action=\"folder\",outcome=\"failed\"} 1\n"
    "faxfs_deliveries_total{action=\"print\",outcome=\"done\"} 4\n"
    "faxfs_deliveries_total{action=\"print\",outcome=\"retry\"} 0\n"
    "faxfs_deliveries_total{action=\"print\",outcome=\"failed\"} 0\n"
    "faxfs_deliveries_total{action=\"command\",outcome=\"done\"} 0\n"
    "faxfs_deliveries_total{action=\"command\",outcome=\"retry\"} 0\n"
    "faxfs_deliveries_total{action=\"command\",outcome=\"failed\"} 0\n"
    "faxfs_deliveries_total{action=\"mail\",outcome=\"done\"} 0\n"
    "faxfs_deliveries_total{action=\"mail\",outcome=\"retry\"} 0\n"
    "faxfs_deliveries_total{action=\"mail\",outcome=\"failed\"} 0\n"
    "faxfs_deliveries_total{action=\"fax2mail\",outcome=\"done\"} 0\n"
    "faxfs_deliveries_total{action=\"fax2mail\",outcome=\"retry\"} 0\n"
    "faxfs_deliveries_total{action=\"fax2mail\",outcome=\"failed\"} 5\n"
    "# HELP faxfs_call_duration_seconds Duration of finished calls.\n"
    "# TYPE faxfs_call_duration_seconds histogram\n"
    "faxfs_call_duration_seconds_bucket{le=\"15\"} 0\n"
    "faxfs_call_duration_seconds_bucket{le=\"30\"} 2\n"
    "faxfs_call_duration_seconds_bucket{le=\"45\"} 2\n"
    "faxfs_call_duration_seconds_bucket{le=\"60\"} 12\n"
    "faxfs_call_duration_seconds_bucket{le=\"90\"} 16\n"
    "faxfs_call_duration_seconds_bucket{le=\"120\"} 16\n"
    "faxfs_call_duration_seconds_bucket{le=\"180\"} 16\n"
    "faxfs_call_duration_seconds_bucket{le=\"300\"} 16\n"
    "faxfs_call_duration_seconds_bucket{le=\"600\"} 16\n"
    "faxfs_call_duration_seconds_bucket{le=\"1200\"} 16\n"
    "faxfs_call_duration_seconds_bucket{le=\"+Inf\"} 16\n"
    "faxfs_call_duration_seconds_sum 812.5\n"
    "faxfs_call_duration_seconds_count 16\n"
    "# HELP faxfs_page_duration_seconds Time to send or receive one page.\n"
    "# TYPE faxfs_page_duration_seconds histogram\n"
    "faxfs_page_duration_seconds_bucket{le=\"2\"} 0\n"
    "faxfs_page_duration_seconds_bucket{le=\"5\"} 0\n"
    "faxfs_page_duration_seconds_bucket{le=\"10\"} 20\n"
    "faxfs_page_duration_seconds_bucket{le=\"15\"} 35\n"
    "faxfs_page_duration_seconds_bucket{le=\"20\"} 35\n"
    "faxfs_page_duration_seconds_bucket{le=\"30\"} 35\n"
    "faxfs_page_duration_seconds_bucket{le=\"45\"} 35\n"
    "faxfs_page_duration_seconds_bucket{le=\"60\"} 35\n"
    "faxfs_page_duration_seconds_bucket{le=\"90\"} 35\n"
    "faxfs_page_duration_seconds_bucket{le=\"120\"} 35\n"
    "faxfs_page_duration_seconds_bucket{le=\"+Inf\"} 35\n"
    "faxfs_page_duration_seconds_sum 301.25\n"
    "faxfs_page_duration_seconds_count 35\n";

static void test_metrics_render_exactly_the_exposition_text(void **state)
{
    struct queue_metrics m = sample_metrics();
    char out[FS_METRICS_MAX];

    (void)state;
    int n = fs_render_metrics(&m, out, sizeof out);
    assert_int_equal(n, (int)strlen(expected));
    assert_string_equal(out, expected);
}

/* The node's name always; with several nodes, the calls on each, label
 * values escaped as the format wants. */
static void test_node_name_and_calls_by_node(void **state)
{
    struct queue_metrics m = sample_metrics();
    char out[FS_METRICS_MAX];

    (void)state;
    snprintf(m.summary.node, sizeof m.summary.node, "fax1");
    assert_true(fs_render_metrics(&m, out, sizeof out) > 0);
    assert_non_null(strstr(out, "\n# TYPE faxfs_node_info gauge\nfaxfs_node_info{node=\"fax1\"} 1\n"));
    assert_null(strstr(out, "faxfs_calls_active")); /* one node: nothing more */

    m.summary.several = true;
    m.summary.nnodes = 2;
    snprintf(m.summary.nodes[0].name, sizeof m.summary.nodes[0].name, "fax1");
    m.summary.nodes[0].calls = 3;
    snprintf(m.summary.nodes[1].name, sizeof m.summary.nodes[1].name, "b\"\\\nx");
    m.summary.nodes[1].calls = 1;
    assert_true(fs_render_metrics(&m, out, sizeof out) > 0);
    assert_non_null(strstr(out, "\n# TYPE faxfs_calls_active gauge\nfaxfs_calls_active{node=\"fax1\"} 3\n"
                                "faxfs_calls_active{node=\"b\\\"\\\\\\nx\"} 1\n"));
}

static void test_paused_queue_shows_as_one(void **state)
{
    struct queue_metrics m = sample_metrics();
    char out[FS_METRICS_MAX];

    (void)state;
    m.summary.paused = true;
    assert_true(fs_render_metrics(&m, out, sizeof out) > 0);
    assert_non_null(strstr(out, "\nfaxfs_queue_paused 1\n"));
}

static void test_unused_bucket_slots_are_left_out(void **state)
{
    struct queue_metrics m = sample_metrics();
    char out[FS_METRICS_MAX];

    (void)state;
    /* three real bounds, the rest of the array zero */
    memset(&m.page_seconds, 0, sizeof m.page_seconds);
    m.page_seconds.bounds[0] = 0.5;
    m.page_seconds.bounds[1] = 1;
    m.page_seconds.bounds[2] = 2.5;
    m.page_seconds.counts[0] = 1;
    m.page_seconds.counts[1] = 1;
    m.page_seconds.counts[2] = 2;
    m.page_seconds.count = 3;
    m.page_seconds.sum = 0.1 + 0.2;
    assert_true(fs_render_metrics(&m, out, sizeof out) > 0);
    const char *h = strstr(out, "faxfs_page_duration_seconds_bucket");
    assert_non_null(h);
    assert_string_equal(h, "faxfs_page_duration_seconds_bucket{le=\"0.5\"} 1\n"
                           "faxfs_page_duration_seconds_bucket{le=\"1\"} 1\n"
                           "faxfs_page_duration_seconds_bucket{le=\"2.5\"} 2\n"
                           "faxfs_page_duration_seconds_bucket{le=\"+Inf\"} 3\n"
                           "faxfs_page_duration_seconds_sum 0.30000000000000004\n"
                           "faxfs_page_duration_seconds_count 3\n");
}

static void test_large_counters_print_in_full(void **state)
{
    struct queue_metrics m = sample_metrics();
    char out[FS_METRICS_MAX];

    (void)state;
    m.pages_sent = UINT64_MAX;
    m.modem_busy_seconds = 123456789.125;
    assert_true(fs_render_metrics(&m, out, sizeof out) > 0);
    assert_non_null(strstr(out, "\nfaxfs_pages_sent_total 18446744073709551615\n"));
    assert_non_null(strstr(out, "\nfaxfs_modem_busy_seconds_total 123456789.125\n"));
}

static void test_metrics_refuse_a_buffer_too_small(void **state)
{
    struct queue_metrics m = sample_metrics();
    char out[256];

    (void)state;
    assert_int_equal(fs_render_metrics(&m, out, sizeof out), -ENOSPC);
    assert_string_equal(out, "");
}

int main(void)
{
    const struct CMUnitTest tests[] = {
        cmocka_unit_test(test_metrics_render_exactly_the_exposition_text),
        cmocka_unit_test(test_paused_queue_shows_as_one),
        cmocka_unit_test(test_node_name_and_calls_by_node),
        cmocka_unit_test(test_unused_bucket_slots_are_left_out),
        cmocka_unit_test(test_large_counters_print_in_full),
        cmocka_unit_test(test_metrics_refuse_a_buffer_too_small),
    };
    return cmocka_run_group_tests(tests, NULL, NULL);
}

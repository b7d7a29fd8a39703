/*
 * test_fs_render.c - what the view's files contain (fs/render.c): value
 * files, info, server and modem files.
 */
#include <errno.h>
#include <setjmp.h>
#include <stdarg.h>
#include <stddef.h>
#include <stdint.h>
#include <stdio.h>
#include <string.h>
#include <cmocka.h>

#include "fs/render.h"

static struct job sample_job(void)
{
    struct job j;

    memset(&j, 0, sizeof j);
    j.id = 42;
    j.type = JOB_SEND;
    j.status = JOB_RETRYING;
    j.owner_uid = 0;
    snprintf(j.recipient_number, sizeof j.recipient_number, "5551234");
    snprintf(j.device_status, sizeof j.device_status, "waiting to retry");
    j.submitted = 1700000000;
    j.priority = JOB_PRIORITY_HIGH;
    j.page_count = 3;
    j.pages_sent = 1;
    j.attempts = 2;
    j.max_attempts = 12;
    j.bit_rate = -1;
    j.ecm = -1;
    snprintf(j.error_code, sizeof j.error_code, "busy");
    snprintf(j.error_text, sizeof j.error_text, "the line was busy");
    return j;
}

static int field(const char *name)
{
    int node = fs_job_node_by_name(name);
    assert_true(node > 0);
    return node;
}

static void render(const struct job *j, const char *name, char *out)
{
    assert_true(fs_render_job_field(j, field(name), out, FS_RENDER_MAX) >= 0);
}

static void test_value_files_hold_one_value_and_a_newline(void **state)
{
    struct job j = sample_job();
    char out[FS_RENDER_MAX];

    (void)state;
    render(&j, "status", out);
    assert_string_equal(out, "retrying\n");
    render(&j, "recipient_number", out);
    assert_string_equal(out, "5551234\n");
    render(&j, "priority", out);
    assert_string_equal(out, "high\n");
    render(&j, "pages_sent", out);
    assert_string_equal(out, "1\n");
    render(&j, "owner", out);
    assert_string_equal(out, "root\n");
}

static void test_unknown_values_are_empty_files(void **state)
{
    struct job j = sample_job();
    char out[FS_RENDER_MAX];

    (void)state;
    assert_int_equal(fs_render_job_field(&j, field("bit_rate"), out, sizeof out), 0);
    assert_int_equal(fs_render_job_field(&j, field("ecm"), out, sizeof out), 0);
    assert_int_equal(fs_render_job_field(&j, field("next_attempt"), out, sizeof out), 0);
    assert_int_equal(fs_render_job_field(&j, field("recipient_name"), out, sizeof out), 0);
    assert_string_equal(out, "");
}

static void test_last_error_is_code_colon_sentence(void **state)
{
    struct job j = sample_job();
    char out[FS_RENDER_MAX];

    (void)state;
    render(&j, "last_error", out);
    assert_string_equal(out, "busy: the line was busy\n");
    j.error_code[0] = '\0';
    assert_int_equal(fs_render_job_field(&j, field("last_error"), out, sizeof out), 0);
}

static void test_times_are_iso8601_with_offset(void **state)
{
    struct job j = sample_job();
    char out[FS_RENDER_MAX], expect[64];

    (void)state;
    render(&j, "submitted", out);
    job_format_time(j.submitted, expect, sizeof expect);
    strcat(expect, "\n");
    assert_string_equal(out, expect);
    assert_non_null(strchr(out, 'T'));
    assert_true(strchr(out, '+') || strrchr(out, '-') > strchr(out, 'T') || strchr(out, 'Z'));
}

static void test_ecm_reads_yes_or_no_when_known(void **state)
{
    struct job j = sample_job();
    char out[FS_RENDER_MAX];

    (void)state;
    j.ecm = 1;
    render(&j, "ecm", out);
    assert_string_equal(out, "yes\n");
    j.ecm = 0;
    render(&j, "ecm", out);
    assert_string_equal(out, "no\n");
}

static void test_newlines_inside_a_value_are_flattened(void **state)
{
    struct job j = sample_job();
    char out[FS_RENDER_MAX];

    (void)state;
    snprintf(j.recipient_name, sizeof j.recipient_name, "Ada\nstatus: done");
    render(&j, "recipient_name", out);
    assert_string_equal(out, "Ada status: done\n");
}

static void test_info_has_every_value_file_as_a_key_line(void **state)
{
    struct job j = sample_job();
    char info[FS_RENDER_MAX], line[FS_RENDER_MAX + 64], value[FS_RENDER_MAX];

    (void)state;
    int len = fs_render_job_info(&j, info, sizeof info);
    assert_int_equal(len, (int)strlen(info));
    assert_int_equal(info[len - 1], '\n');
    assert_non_null(strstr(info, "id: 42\n"));
    for (int node = 1; node <= fs_job_field_count(); node++) {
        if (!fs_job_field_shown(node, j.type))
            continue;
        if (strcmp(fs_job_field_name(node), "deliveries") == 0)
            continue; /* several lines: info leaves it out (docs/filesystem.md) */
        fs_render_job_field(&j, node, value, sizeof value);
        snprintf(line, sizeof line, "%s: %s%s", fs_job_field_name(node), value, value[0] ? "" : "\n");
        assert_non_null(strstr(info, line));
    }
}

static void test_info_of_a_full_job_fits_and_ends_in_whole_lines(void **state)
{
    struct job j = sample_job();
    char info[FS_RENDER_MAX];

    (void)state;
    memset(j.recipient_name, 'n', sizeof j.recipient_name - 1);
    memset(j.sender_name, 's', sizeof j.sender_name - 1);
    memset(j.sender_company, 'c', sizeof j.sender_company - 1);
    memset(j.sender_department, 'd', sizeof j.sender_department - 1);
    memset(j.billing_code, 'b', sizeof j.billing_code - 1);
    memset(j.device_status, 'x', sizeof j.device_status - 1);
    memset(j.error_text, 'e', sizeof j.error_text - 1);
    int len = fs_render_job_info(&j, info, sizeof info);
    assert_non_null(strstr(info, "changed: "));
    assert_int_equal(info[len - 1], '\n');
}

static void test_directory_names_resolve_to_their_nodes(void **state)
{
    (void)state;
    assert_int_equal(fs_job_node_by_name("info"), NODE_INFO);
    assert_int_equal(fs_job_node_by_name("log"), NODE_LOG);
    assert_int_equal(fs_job_node_by_name("ctl"), NODE_CTL);
    assert_int_equal(fs_job_node_by_name("id"), 0); /* only in info */
    assert_int_equal(fs_job_node_by_name("nonsense"), 0);
    for (int node = 1; node <= fs_job_field_count(); node++)
        assert_int_equal(fs_job_node_by_name(fs_job_field_name(node)), node);
    assert_true(fs_job_field_count() < NODE_INFO);
}

static void test_server_summary_lists_pause_modems_and_states(void **state)
{
    struct queue_summary sum;
    char out[FS_RENDER_MAX];

    (void)state;
    memset(&sum, 0, sizeof sum);
    sum.paused = true;
    sum.modems_busy = 1;
    sum.modems_idle = 3;
    sum.jobs[JOB_QUEUED] = 5;
    sum.jobs[JOB_DONE] = 2;
    assert_true(fs_render_server(&sum, out, sizeof out) > 0);
    assert_non_null(strstr(out, "queue_paused: yes\n"));
    assert_non_null(strstr(out, "modems: 4\nmodems_busy: 1\nmodems_idle: 3\njobs: 7\n"));
    assert_non_null(strstr(out, "queued: 5\n"));
    assert_non_null(strstr(out, "done: 2\n"));
    assert_non_null(strstr(out, "canceled: 0\n"));
    assert_null(strstr(out, "loading"));
}

/* While the stored jobs load after a start, a last line says how far. */
static void test_server_summary_shows_loading(void **state)
{
    struct queue_summary sum;
    char out[FS_RENDER_MAX];

    (void)state;
    memset(&sum, 0, sizeof sum);
    sum.jobs[JOB_QUEUED] = 40;
    sum.loading = true;
    sum.jobs_loaded = 40;
    sum.jobs_to_load = 65000;
    int n = fs_render_server(&sum, out, sizeof out);
    assert_true(n > 0);
    assert_non_null(strstr(out, "jobs: 40\n"));
    const char *last = "loading: 40 of 65000\n";
    assert_true((size_t)n >= strlen(last));
    assert_string_equal(out + n - strlen(last), last);
}

/* The node's name; with several nodes the calls in progress on each, a
 * name from the store that is not a name's characters shown with '?'. */
static void test_server_summary_shows_the_node_and_calls_by_node(void **state)
{
    struct queue_summary sum;
    char out[FS_RENDER_MAX];

    (void)state;
    memset(&sum, 0, sizeof sum);
    snprintf(sum.node, sizeof sum.node, "fax1");
    assert_true(fs_render_server(&sum, out, sizeof out) > 0);
    assert_non_null(strstr(out, "\nnode: fax1\n"));
    assert_null(strstr(out, "calls_by_node"));

    sum.several = true;
    sum.nnodes = 2;
    snprintf(sum.nodes[0].name, sizeof sum.nodes[0].name, "fax1");
    sum.nodes[0].calls = 2;
    snprintf(sum.nodes[1].name, sizeof sum.nodes[1].name, "fax 2\nqueue_paused: no");
    sum.nodes[1].calls = 1;
    assert_true(fs_render_server(&sum, out, sizeof out) > 0);
    assert_non_null(strstr(out, "\ncalls_by_node: fax1=2 fax?2?queue_paused??no=1\n"));
    /* a buffer too small is refused, never cut */
    assert_int_equal(fs_render_server(&sum, out, 200), -ENOSPC);
}

static void test_modem_files_show_idle_and_counters(void **state)
{
    struct queue_modem_info m;
    char out[FS_RENDER_MAX];

    (void)state;
    memset(&m, 0, sizeof m);
    snprintf(m.name, sizeof m.name, "modem0");
    m.calls = 7;
    m.errors = 2;
    assert_int_equal(fs_render_modem_file(&m, fs_modem_node_by_name("status"), out, sizeof out), 5);
    assert_string_equal(out, "idle\n");
    assert_int_equal(fs_render_modem_file(&m, fs_modem_node_by_name("job"), out, sizeof out), 0);
    fs_render_modem_file(&m, fs_modem_node_by_name("calls"), out, sizeof out);
    assert_string_equal(out, "7\n");
    m.job = 42;
    fs_render_modem_file(&m, fs_modem_node_by_name("job"), out, sizeof out);
    assert_string_equal(out, "42\n");
    assert_int_equal(fs_render_modem_file(&m, 99, out, sizeof out), -ENOENT);
}

static struct job received_job(void)
{
    struct job j = sample_job();

    j.type = JOB_RECEIVE;
    j.status = JOB_RECEIVING;
    j.page_count = 1;
    snprintf(j.caller_id, sizeof j.caller_id, "5559876");
    snprintf(j.remote_id, sizeof j.remote_id, "SENDER TSI");
    j.error_code[0] = '\0';
    return j;
}

static void test_received_fax_directory_has_the_receive_files(void **state)
{
    static const char *const shown[] = { "status", "device_status", "caller_id", "remote_id", "page_count",
                                         "received", "bit_rate", "ecm", "last_error", "info", "log" };

    (void)state;
    for (size_t i = 0; i < sizeof shown / sizeof shown[0]; i++)
        assert_true(fs_job_field_shown(field(shown[i]), JOB_RECEIVE));
    assert_false(fs_job_field_shown(field("recipient_number"), JOB_RECEIVE));
    assert_false(fs_job_field_shown(field("attempts"), JOB_RECEIVE));
}

static void test_send_job_directory_has_no_receive_files(void **state)
{
    (void)state;
    assert_false(fs_job_field_shown(field("caller_id"), JOB_SEND));
    assert_false(fs_job_field_shown(field("received"), JOB_SEND));
    assert_true(fs_job_field_shown(field("recipient_number"), JOB_SEND));
}

static void test_received_fax_values_render(void **state)
{
    struct job j = received_job();
    char out[FS_RENDER_MAX], when[64];

    (void)state;
    render(&j, "status", out);
    assert_string_equal(out, "receiving\n");
    render(&j, "caller_id", out);
    assert_string_equal(out, "5559876\n");
    render(&j, "remote_id", out);
    assert_string_equal(out, "SENDER TSI\n");
    render(&j, "received", out);
    job_format_time(j.submitted, when, sizeof when);
    assert_int_equal(strncmp(out, when, strlen(when)), 0);
}

static void test_received_fax_info_leaves_out_send_keys(void **state)
{
    struct job j = received_job();
    char info[FS_RENDER_MAX];

    (void)state;
    fs_render_job_info(&j, info, sizeof info);
    assert_non_null(strstr(info, "type: receive\n"));
    assert_non_null(strstr(info, "caller_id: 5559876\n"));
    assert_non_null(strstr(info, "received: "));
    assert_null(strstr(info, "recipient_number:"));
    assert_null(strstr(info, "max_attempts:"));
}

static void test_resolution_and_transport_render_and_unknown_is_empty(void **state)
{
    struct job j = sample_job();
    char out[FS_RENDER_MAX];

    (void)state;
    render(&j, "resolution", out);
    assert_string_equal(out, "");
    render(&j, "transport", out);
    assert_string_equal(out, "");
    j.resolution = JOB_RES_SUPERFINE;
    snprintf(j.transport, sizeof j.transport, "t38");
    render(&j, "resolution", out);
    assert_string_equal(out, "superfine\n");
    render(&j, "transport", out);
    assert_string_equal(out, "t38\n");
    assert_true(fs_render_job_info(&j, out, sizeof out) > 0);
    assert_non_null(strstr(out, "\nresolution: superfine\n"));
    assert_non_null(strstr(out, "\ntransport: t38\n"));
}

static void test_value_files_fit_below_the_fixed_job_nodes(void **state)
{
    (void)state;
    assert_true(fs_job_field_count() < NODE_INFO);
}

int main(void)
{
    const struct CMUnitTest tests[] = {
        cmocka_unit_test(test_value_files_hold_one_value_and_a_newline),
        cmocka_unit_test(test_unknown_values_are_empty_files),
        cmocka_unit_test(test_last_error_is_code_colon_sentence),
        cmocka_unit_test(test_times_are_iso8601_with_offset),
        cmocka_unit_test(test_ecm_reads_yes_or_no_when_known),
        cmocka_unit_test(test_newlines_inside_a_value_are_flattened),
        cmocka_unit_test(test_info_has_every_value_file_as_a_key_line),
        cmocka_unit_test(test_info_of_a_full_job_fits_and_ends_in_whole_lines),
        cmocka_unit_test(test_directory_names_resolve_to_their_nodes),
        cmocka_unit_test(test_server_summary_lists_pause_modems_and_states),
        cmocka_unit_test(test_server_summary_shows_loading),
        cmocka_unit_test(test_server_summary_shows_the_node_and_calls_by_node),
        cmocka_unit_test(test_modem_files_show_idle_and_counters),
        cmocka_unit_test(test_received_fax_directory_has_the_receive_files),
        cmocka_unit_test(test_send_job_directory_has_no_receive_files),
        cmocka_unit_test(test_received_fax_values_render),
        cmocka_unit_test(test_received_fax_info_leaves_out_send_keys),
        cmocka_unit_test(test_resolution_and_transport_render_and_unknown_is_empty),
        cmocka_unit_test(test_value_files_fit_below_the_fixed_job_nodes),
    };
    return cmocka_run_group_tests(tests, NULL, NULL);
}

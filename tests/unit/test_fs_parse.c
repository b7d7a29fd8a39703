/*
 * test_fs_parse.c - the ctl command parsers and the draft field parser
 * (fs/parse.c).
 */
#include <errno.h>
#include <setjmp.h>
#include <stdarg.h>
#include <stddef.h>
#include <stdint.h>
#include <string.h>
#include <cmocka.h>

#include "fs/parse.h"

#define S(x) x, strlen(x)

static void test_job_ctl_accepts_the_four_commands_with_newline(void **state)
{
    enum queue_op op;

    (void)state;
    assert_int_equal(fs_parse_job_ctl(S("pause\n"), &op), 0);
    assert_int_equal(op, QOP_PAUSE);
    assert_int_equal(fs_parse_job_ctl(S("resume"), &op), 0);
    assert_int_equal(op, QOP_RESUME);
    assert_int_equal(fs_parse_job_ctl(S("  restart \n"), &op), 0);
    assert_int_equal(op, QOP_RESTART);
    assert_int_equal(fs_parse_job_ctl(S("cancel\r\n"), &op), 0);
    assert_int_equal(op, QOP_CANCEL);
}

static void test_job_ctl_rejects_unknown_empty_and_several_commands(void **state)
{
    enum queue_op op = QOP_PAUSE;

    (void)state;
    assert_int_equal(fs_parse_job_ctl(S("delete\n"), &op), -EINVAL);
    assert_int_equal(fs_parse_job_ctl(S("\n"), &op), -EINVAL);
    assert_int_equal(fs_parse_job_ctl(S(""), &op), -EINVAL);
    assert_int_equal(fs_parse_job_ctl(S("pause resume\n"), &op), -EINVAL);
    assert_int_equal(fs_parse_job_ctl(S("pause\n\n"), &op), -EINVAL);
    assert_int_equal(fs_parse_job_ctl(S("PAUSE"), &op), -EINVAL);
    assert_int_equal(fs_parse_job_ctl("pause\0x", 7, &op), -EINVAL);
}

static void test_server_ctl_accepts_pause_and_resume_only(void **state)
{
    enum fs_server_cmd cmd;

    (void)state;
    assert_int_equal(fs_parse_server_ctl(S("pause\n"), &cmd), 0);
    assert_int_equal(cmd, FS_SERVER_PAUSE);
    assert_int_equal(fs_parse_server_ctl(S("resume\n"), &cmd), 0);
    assert_int_equal(cmd, FS_SERVER_RESUME);
    assert_int_equal(fs_parse_server_ctl(S("cancel\n"), &cmd), -EINVAL);
}

static void test_draft_ctl_accepts_submit_only(void **state)
{
    (void)state;
    assert_int_equal(fs_parse_draft_ctl(S("submit\n")), 0);
    assert_int_equal(fs_parse_draft_ctl(S("send\n")), -EINVAL);
}

static int node(const char *name)
{
    int n = fs_draft_node_by_name(name);
    assert_true(n > 0);
    return n;
}

static void test_draft_recipient_number_keeps_text_and_rejects_letters(void **state)
{
    struct queue_request req = { 0 };
    char why[256] = "";

    (void)state;
    assert_int_equal(fs_draft_set(&req, node("recipient_number"), S("555-1234\n"), 0, why, sizeof why), 0);
    assert_string_equal(req.recipient_number, "555-1234");
    assert_int_equal(fs_draft_set(&req, node("recipient_number"), S("call me\n"), 0, why, sizeof why), -EINVAL);
    assert_string_equal(req.recipient_number, "555-1234");
    assert_true(why[0] != '\0');
}

static void test_draft_scheduled_accepts_relative_time(void **state)
{
    struct queue_request req = { 0 };
    char why[256] = "";

    (void)state;
    assert_int_equal(fs_draft_set(&req, node("scheduled"), S("+30m\n"), 1000000, why, sizeof why), 0);
    assert_int_equal(req.scheduled, 1000000 + 1800);
}

static void test_draft_scheduled_rejects_garbage_and_names_the_format(void **state)
{
    struct queue_request req = { 0 };
    char why[256] = "";

    (void)state;
    assert_int_equal(fs_draft_set(&req, node("scheduled"), S("tomorrow-ish\n"), 0, why, sizeof why), -EINVAL);
    assert_int_equal(req.scheduled, 0);
    assert_non_null(strstr(why, "ISO 8601"));
}

static void test_draft_priority_takes_names_and_numbers(void **state)
{
    struct queue_request req = { 0 };
    char why[256] = "", out[64];

    (void)state;
    assert_int_equal(fs_draft_set(&req, node("priority"), S("high\n"), 0, why, sizeof why), 0);
    assert_int_equal(req.priority, JOB_PRIORITY_HIGH);
    assert_int_equal(fs_draft_render(&req, node("priority"), out, sizeof out), 5);
    assert_string_equal(out, "high\n");
    assert_int_equal(fs_draft_set(&req, node("priority"), S("300\n"), 0, why, sizeof why), -EINVAL);
    assert_int_equal(req.priority, JOB_PRIORITY_HIGH);
}

static void test_draft_max_attempts_must_be_a_small_positive_number(void **state)
{
    struct queue_request req = { 0 };
    char why[256] = "";

    (void)state;
    assert_int_equal(fs_draft_set(&req, node("max_attempts"), S("5\n"), 0, why, sizeof why), 0);
    assert_int_equal(req.max_attempts, 5);
    assert_int_equal(fs_draft_set(&req, node("max_attempts"), S("0\n"), 0, why, sizeof why), -EINVAL);
    assert_int_equal(fs_draft_set(&req, node("max_attempts"), S("5x\n"), 0, why, sizeof why), -EINVAL);
    assert_int_equal(req.max_attempts, 5);
}

static void test_draft_text_field_rejects_second_line_and_overlong_text(void **state)
{
    struct queue_request req = { 0 };
    char why[256] = "", big[400];

    (void)state;
    assert_int_equal(fs_draft_set(&req, node("recipient_name"), S("Ada\nEvil: 1\n"), 0, why, sizeof why), -EINVAL);
    memset(big, 'a', sizeof big - 1);
    big[sizeof big - 1] = '\0';
    assert_int_equal(fs_draft_set(&req, node("recipient_name"), S(big), 0, why, sizeof why), -EINVAL);
    assert_string_equal(req.recipient_name, "");
}

static void test_draft_empty_write_clears_field_to_default(void **state)
{
    struct queue_request req = { 0 };
    char why[256] = "", out[64];

    (void)state;
    assert_int_equal(fs_draft_set(&req, node("sender_name"), S("Ada\n"), 0, why, sizeof why), 0);
    assert_int_equal(fs_draft_render(&req, node("sender_name"), out, sizeof out), 4);
    assert_string_equal(out, "Ada\n");
    assert_int_equal(fs_draft_set(&req, node("sender_name"), S("\n"), 0, why, sizeof why), 0);
    assert_int_equal(fs_draft_render(&req, node("sender_name"), out, sizeof out), 0);
    assert_string_equal(out, "");
}

static void test_outbox_recipient_is_file_name_without_extension(void **state)
{
    char number[JOB_NUMBER_MAX], why[256];

    (void)state;
    assert_int_equal(fs_outbox_recipient("5551234.tif", number, sizeof number, why, sizeof why), 0);
    assert_string_equal(number, "5551234");
    assert_int_equal(fs_outbox_recipient("+1 (555) 123-4567.tiff", number, sizeof number, why, sizeof why), 0);
    assert_string_equal(number, "+15551234567");
}

static void test_outbox_recipient_rejects_names_without_digits(void **state)
{
    char number[JOB_NUMBER_MAX], why[256];

    (void)state;
    assert_int_equal(fs_outbox_recipient("report.tif", number, sizeof number, why, sizeof why), -EINVAL);
    assert_non_null(strstr(why, "report.tif"));
    assert_int_equal(fs_outbox_recipient(".tif", number, sizeof number, why, sizeof why), -EINVAL);
}

int main(void)
{
    const struct CMUnitTest tests[] = {
        cmocka_unit_test(test_job_ctl_accepts_the_four_commands_with_newline),
        cmocka_unit_test(test_job_ctl_rejects_unknown_empty_and_several_commands),
        cmocka_unit_test(test_server_ctl_accepts_pause_and_resume_only),
        cmocka_unit_test(test_draft_ctl_accepts_submit_only),
        cmocka_unit_test(test_draft_recipient_number_keeps_text_and_rejects_letters),
        cmocka_unit_test(test_draft_scheduled_accepts_relative_time),
        cmocka_unit_test(test_draft_scheduled_rejects_garbage_and_names_the_format),
        cmocka_unit_test(test_draft_priority_takes_names_and_numbers),
        cmocka_unit_test(test_draft_max_attempts_must_be_a_small_positive_number),
        cmocka_unit_test(test_draft_text_field_rejects_second_line_and_overlong_text),
        cmocka_unit_test(test_draft_empty_write_clears_field_to_default),
        cmocka_unit_test(test_outbox_recipient_is_file_name_without_extension),
        cmocka_unit_test(test_outbox_recipient_rejects_names_without_digits),
    };
    return cmocka_run_group_tests(tests, NULL, NULL);
}

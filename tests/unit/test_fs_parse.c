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

static void test_draft_notify_fields_take_addresses_and_words_only(void **state)
{
    struct queue_request req = { 0 };
    char why[256] = "", out[300];

    (void)state;
    assert_int_equal(fs_draft_set(&req, node("notify"), S(" alice@example.com , bob@example.org\n"), 0, why,
                                  sizeof why), 0);
    assert_string_equal(req.notify, "alice@example.com,bob@example.org");
    assert_int_equal(fs_draft_render(&req, node("notify"), out, sizeof out), 34);
    assert_string_equal(out, "alice@example.com,bob@example.org\n");
    static const char *const bad[] = {
        "-oQ/tmp/x@example.com\n", "alice@example.com, -f\n", "<alice@example.com>\n", "alice smith@example.com\n",
        "\"a\"@example.com\n", "a@b@example.com\n", "alice@\n", "a;b@example.com\n",
        "a@x,b@x,c@x,d@x,e@x,f@x,g@x,h@x,i@x\n", /* nine: one too many */
    };
    for (size_t i = 0; i < sizeof bad / sizeof bad[0]; i++) {
        why[0] = '\0';
        assert_int_equal(fs_draft_set(&req, node("notify"), bad[i], strlen(bad[i]), 0, why, sizeof why), -EINVAL);
        assert_string_equal(req.notify, "alice@example.com,bob@example.org"); /* unchanged */
        assert_non_null(strstr(why, "notify"));
    }
    assert_int_equal(fs_draft_set(&req, node("notify"), S("a@x,,b@x,\n"), 0, why, sizeof why), 0);
    assert_string_equal(req.notify, "a@x,b@x"); /* empty items dropped */

    assert_int_equal(fs_draft_render(&req, node("notify_when"), out, sizeof out), 0); /* final: the default */
    assert_int_equal(fs_draft_set(&req, node("notify_when"), S("failed\n"), 0, why, sizeof why), 0);
    assert_int_equal(req.notify_when, JOB_NOTIFY_FAILED);
    fs_draft_render(&req, node("notify_when"), out, sizeof out);
    assert_string_equal(out, "failed\n");
    assert_int_equal(fs_draft_set(&req, node("notify_when"), S("sometimes\n"), 0, why, sizeof why), -EINVAL);
    assert_non_null(strstr(why, "every-attempt")); /* the refusal names the choices */
    assert_int_equal(req.notify_when, JOB_NOTIFY_FAILED);
    assert_int_equal(fs_draft_set(&req, node("notify_when"), S("every-attempt\n"), 0, why, sizeof why), 0);
    assert_int_equal(req.notify_when, JOB_NOTIFY_EVERY_ATTEMPT);
    fs_draft_render(&req, node("notify_when"), out, sizeof out);
    assert_string_equal(out, "every-attempt\n");
    assert_int_equal(fs_draft_set(&req, node("notify_when"), S("failed\n"), 0, why, sizeof why), 0);
    assert_int_equal(fs_draft_set(&req, node("notify_attach"), S("both\n"), 0, why, sizeof why), 0);
    assert_int_equal(req.notify_attach, JOB_ATTACH_BOTH);
    assert_int_equal(fs_draft_set(&req, node("notify_attach"), S("tiff\n"), 0, why, sizeof why), -EINVAL);
    assert_int_equal(fs_draft_set(&req, node("notify_attach"), S("\n"), 0, why, sizeof why), 0);
    assert_int_equal(req.notify_attach, JOB_ATTACH_REPORT);
    assert_int_equal(fs_draft_set(&req, node("notify"), S("\n"), 0, why, sizeof why), 0);
    assert_string_equal(req.notify, "");
}

static void test_draft_modem_settings_take_their_values_only(void **state)
{
    struct queue_request req = { 0 };
    char why[256] = "", out[32];

    (void)state;
    assert_int_equal(fs_draft_set(&req, node("use_ecm"), S("no\n"), 0, why, sizeof why), 0);
    assert_int_equal(req.use_ecm, QUEUE_ECM_OFF);
    assert_int_equal(fs_draft_render(&req, node("use_ecm"), out, sizeof out), 3);
    assert_string_equal(out, "no\n");
    assert_int_equal(fs_draft_set(&req, node("use_ecm"), S("maybe\n"), 0, why, sizeof why), -EINVAL);
    assert_int_equal(req.use_ecm, QUEUE_ECM_OFF);
    assert_non_null(strstr(why, "use_ecm"));
    assert_int_equal(fs_draft_set(&req, node("max_bit_rate"), S("9600\n"), 0, why, sizeof why), 0);
    assert_int_equal(req.max_bit_rate, 9600);
    static const char *const bad[] = { "9000\n", "96000\n", "-9600\n", "9600 bps\n", "0x2580\n", "09600\n" };
    for (size_t i = 0; i < sizeof bad / sizeof bad[0]; i++) {
        assert_int_equal(fs_draft_set(&req, node("max_bit_rate"), bad[i], strlen(bad[i]), 0, why, sizeof why),
                         -EINVAL);
        assert_int_equal(req.max_bit_rate, 9600);
    }
    assert_int_equal(fs_draft_set(&req, node("min_bit_rate"), S("4800\n"), 0, why, sizeof why), 0);
    assert_int_equal(req.min_bit_rate, 4800);
    assert_int_equal(fs_draft_set(&req, node("min_bit_rate"), S("\n"), 0, why, sizeof why), 0);
    assert_int_equal(req.min_bit_rate, 0); /* back to the default */
    /* a pause a dial plan understands */
    assert_int_equal(fs_draft_set(&req, node("recipient_number"), S("9,555 1234\n"), 0, why, sizeof why), 0);
    assert_string_equal(req.recipient_number, "9,555 1234");
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

static void test_draft_resolution_takes_the_three_names(void **state)
{
    struct queue_request req = { 0 };
    char why[256] = "", out[64];

    (void)state;
    assert_int_equal(fs_draft_set(&req, node("resolution"), S("superfine\n"), 0, why, sizeof why), 0);
    assert_int_equal(req.resolution, JOB_RES_SUPERFINE);
    assert_int_equal(fs_draft_render(&req, node("resolution"), out, sizeof out), 10);
    assert_string_equal(out, "superfine\n");
    assert_int_equal(fs_draft_set(&req, node("resolution"), S("standard"), 0, why, sizeof why), 0);
    assert_int_equal(req.resolution, JOB_RES_STANDARD);
}

static void test_draft_resolution_rejects_other_words_and_names_the_choices(void **state)
{
    struct queue_request req = { 0 };
    char why[256] = "";

    (void)state;
    req.resolution = JOB_RES_FINE;
    assert_int_equal(fs_draft_set(&req, node("resolution"), S("200dpi\n"), 0, why, sizeof why), -EINVAL);
    assert_int_equal(req.resolution, JOB_RES_FINE);
    assert_non_null(strstr(why, "standard, fine or superfine"));
}

static void test_draft_resolution_unset_reads_empty(void **state)
{
    struct queue_request req = { 0 };
    char why[256] = "", out[64];

    (void)state;
    assert_int_equal(fs_draft_render(&req, node("resolution"), out, sizeof out), 0);
    assert_int_equal(fs_draft_set(&req, node("resolution"), S("fine\n"), 0, why, sizeof why), 0);
    assert_int_equal(fs_draft_set(&req, node("resolution"), S("\n"), 0, why, sizeof why), 0);
    assert_int_equal(req.resolution, 0);
}

static void test_draft_cover_takes_yes_and_no_only(void **state)
{
    struct queue_request req = { 0 };
    char why[256] = "", out[64];

    (void)state;
    assert_int_equal(fs_draft_set(&req, node("cover"), S("yes\n"), 0, why, sizeof why), 0);
    assert_true(req.cover_page);
    assert_int_equal(fs_draft_render(&req, node("cover"), out, sizeof out), 4);
    assert_string_equal(out, "yes\n");
    assert_int_equal(fs_draft_set(&req, node("cover"), S("maybe\n"), 0, why, sizeof why), -EINVAL);
    assert_true(req.cover_page);
    assert_non_null(strstr(why, "yes nor no"));
    assert_int_equal(fs_draft_set(&req, node("cover"), S("no\n"), 0, why, sizeof why), 0);
    assert_false(req.cover_page);
    assert_int_equal(fs_draft_render(&req, node("cover"), out, sizeof out), 0);
}

static void test_draft_cover_clearing_touches_nothing_next_to_it(void **state)
{
    struct queue_request req;
    char why[256] = "";

    (void)state;
    memset(&req, 0, sizeof req);
    snprintf(req.cover_comment, sizeof req.cover_comment, "kept");
    req.cover_page = true;
    assert_int_equal(fs_draft_set(&req, node("cover"), S(""), 0, why, sizeof why), 0);
    assert_false(req.cover_page);
    assert_string_equal(req.cover_comment, "kept");
}

static void test_draft_comment_keeps_lines_and_tabs(void **state)
{
    struct queue_request req = { 0 };
    char why[256] = "", out[1100];

    (void)state;
    assert_int_equal(fs_draft_set(&req, node("comment"), S("Dear Ada,\r\n\tthe contract.\n\n"), 0, why, sizeof why), 0);
    assert_string_equal(req.cover_comment, "Dear Ada,\n\tthe contract.");
    assert_int_equal(fs_draft_render(&req, node("comment"), out, sizeof out), 25);
    assert_string_equal(out, "Dear Ada,\n\tthe contract.\n");
}

static void test_draft_comment_rejects_control_characters_and_overlong_text(void **state)
{
    struct queue_request req = { 0 };
    char why[256] = "", big[1100];

    (void)state;
    assert_int_equal(fs_draft_set(&req, node("comment"), S("bell\a\n"), 0, why, sizeof why), -EINVAL);
    assert_non_null(strstr(why, "comment"));
    memset(big, 'a', sizeof big - 1);
    big[sizeof big - 1] = '\0';
    assert_int_equal(fs_draft_set(&req, node("comment"), S(big), 0, why, sizeof why), -EINVAL);
    assert_non_null(strstr(why, "too long"));
    big[1023] = '\0'; /* the most that fits */
    assert_int_equal(fs_draft_set(&req, node("comment"), S(big), 0, why, sizeof why), 0);
    assert_int_equal(strlen(req.cover_comment), 1023);
}

static void test_outbox_recipient_ignores_every_document_extension(void **state)
{
    static const char *const names[] = { "5551234.pdf", "5551234.ps", "5551234.png", "5551234.jpg",
                                         "5551234.jpeg", "5551234.tif", "5551234.tiff", "555-1234.PDF" };
    char number[JOB_NUMBER_MAX], why[256];

    (void)state;
    for (size_t i = 0; i < sizeof names / sizeof names[0]; i++) {
        assert_int_equal(fs_outbox_recipient(names[i], number, sizeof number, why, sizeof why), 0);
        assert_string_equal(number, "5551234");
    }
}

int main(void)
{
    const struct CMUnitTest tests[] = {
        cmocka_unit_test(test_job_ctl_accepts_the_four_commands_with_newline),
        cmocka_unit_test(test_draft_notify_fields_take_addresses_and_words_only),
        cmocka_unit_test(test_job_ctl_rejects_unknown_empty_and_several_commands),
        cmocka_unit_test(test_server_ctl_accepts_pause_and_resume_only),
        cmocka_unit_test(test_draft_ctl_accepts_submit_only),
        cmocka_unit_test(test_draft_recipient_number_keeps_text_and_rejects_letters),
        cmocka_unit_test(test_draft_modem_settings_take_their_values_only),
        cmocka_unit_test(test_draft_scheduled_accepts_relative_time),
        cmocka_unit_test(test_draft_scheduled_rejects_garbage_and_names_the_format),
        cmocka_unit_test(test_draft_priority_takes_names_and_numbers),
        cmocka_unit_test(test_draft_max_attempts_must_be_a_small_positive_number),
        cmocka_unit_test(test_draft_text_field_rejects_second_line_and_overlong_text),
        cmocka_unit_test(test_draft_empty_write_clears_field_to_default),
        cmocka_unit_test(test_outbox_recipient_is_file_name_without_extension),
        cmocka_unit_test(test_outbox_recipient_rejects_names_without_digits),
        cmocka_unit_test(test_draft_resolution_takes_the_three_names),
        cmocka_unit_test(test_draft_resolution_rejects_other_words_and_names_the_choices),
        cmocka_unit_test(test_draft_resolution_unset_reads_empty),
        cmocka_unit_test(test_draft_cover_takes_yes_and_no_only),
        cmocka_unit_test(test_draft_cover_clearing_touches_nothing_next_to_it),
        cmocka_unit_test(test_draft_comment_keeps_lines_and_tabs),
        cmocka_unit_test(test_draft_comment_rejects_control_characters_and_overlong_text),
        cmocka_unit_test(test_outbox_recipient_ignores_every_document_extension),
    };
    return cmocka_run_group_tests(tests, NULL, NULL);
}

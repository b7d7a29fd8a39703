/*
 * test_queue_jobfile.c - the job file format: round trip, and refusal of
 * every kind of damaged file.
 */
#include <stdarg.h>
#include <stddef.h>
#include <setjmp.h>
#include <cmocka.h>

#include <errno.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include "queue/jobfile.h"

static struct job sample_job(void)
{
    struct job j;

    job_init(&j);
    j.id = 42;
    j.status = JOB_RETRYING;
    j.owner_uid = 1000;
    j.owner_gid = 100;
    strcpy(j.recipient_number, "+15551234");
    strcpy(j.recipient_name, "Line one\nline two \\ backslash\ttab");
    strcpy(j.sender_name, "Zoë Ünicode");
    j.submitted = 1790000000;
    j.kill_time = 1790010800;
    j.next_attempt = 1790000300;
    j.priority = 200;
    j.page_count = 3;
    j.pages_sent = 1;
    j.size = 123456;
    j.attempts = 2;
    j.max_attempts = 4;
    strcpy(j.error_code, "busy");
    strcpy(j.error_text, "the line was busy");
    j.bit_rate = 14400;
    j.ecm = 1;
    j.resolution = JOB_RES_SUPERFINE;
    strcpy(j.transport, "t38");
    strcpy(j.submitted_number, "9,020 7946 0958");
    strcpy(j.dialed_number, "902079460958");
    j.use_ecm = 0;
    j.max_bit_rate = 9600;
    j.min_bit_rate = 4800;
    return j;
}

static char *render(const struct job *j)
{
    char *text = NULL;
    assert_true(jobfile_format(j, &text) > 0);
    return text;
}

static int parse(const char *text, struct job *out, char *why)
{
    return jobfile_parse(text, strlen(text), out, why, 200);
}

/* Replaces the first occurrence of from with to; consumes text. */
static char *edit(char *text, const char *from, const char *to)
{
    const char *at = strstr(text, from);
    assert_non_null(at);
    char *out = malloc(strlen(text) + strlen(to) + 1);
    size_t head = (size_t)(at - text);
    memcpy(out, text, head);
    strcpy(out + head, to);
    strcat(out, at + strlen(from));
    free(text);
    return out;
}

static void assert_rejected(char *text, const char *reason_part)
{
    struct job j;
    char why[200] = "";
    assert_int_equal(parse(text, &j, why), -EINVAL);
    if (strstr(why, reason_part) == NULL)
        fail_msg("reason \"%s\" does not mention \"%s\"", why, reason_part);
    free(text);
}

static void test_job_round_trips_through_the_job_file(void **state)
{
    (void)state;
    struct job in = sample_job(), out;
    char why[200];
    char *text = render(&in);

    assert_int_equal(parse(text, &out, why), 0);
    assert_memory_equal(&in, &out, sizeof in);
    free(text);
}

/* An attempt receipt keeps the attempt it tells of; other records are
 * written as before it existed; a broken attempt part rejects the file. */
static void test_attempt_receipt_round_trips_and_others_stay_as_they_were(void **state)
{
    (void)state;
    struct job in = sample_job(), out;
    char why[200];
    in.ndeliveries = 2;
    in.deliveries[0] = (struct job_delivery){.action = "attempt", .target = "a@example.org", .state = JD_DONE,
                                             .attempts = 1, .first_try = 1790000101, .of_attempt = 2,
                                             .retry_at = 1790000400, .reason = "busy: The number is busy."};
    in.deliveries[1] = (struct job_delivery){.action = "receipt", .target = "a@example.org", .state = JD_PENDING};
    char *text = render(&in);
    assert_int_equal(parse(text, &out, why), 0);
    assert_memory_equal(&in, &out, sizeof in);
    assert_non_null(strstr(text, "delivery.0: attempt done 1 1790000101 0 a@example.org\\x09\\x092 1790000400 busy: "));
    assert_non_null(strstr(text, "delivery.1: receipt pending 0 0 0 a@example.org\\x09\n"));
    assert_rejected(edit(text, "\\x092 1790000400", "\\x09x 1790000400"), "OF_ATTEMPT");
}

static void test_job_file_starts_with_version_and_ends_with_end_line(void **state)
{
    (void)state;
    struct job in = sample_job();
    char *text = render(&in);

    assert_true(strncmp(text, "version: 1\n", 11) == 0);
    assert_non_null(strstr(text, "\nend: 42\n"));
    assert_int_equal(text[strlen(text) - 1], '\n');
    assert_string_equal(strstr(text, "\nend: 42\n"), "\nend: 42\n");
    free(text);
}

static void test_newlines_in_values_are_escaped(void **state)
{
    (void)state;
    struct job in = sample_job();
    char *text = render(&in);

    assert_non_null(strstr(text, "recipient_name: Line one\\nline two \\\\ backslash\\x09tab\n"));
    free(text);
}

static void test_truncated_job_file_is_rejected(void **state)
{
    (void)state;
    struct job in = sample_job();
    char *text = render(&in);
    text[strlen(text) / 2] = '\0';
    assert_rejected(text, "truncated");
}

static void test_job_file_without_end_line_is_rejected(void **state)
{
    (void)state;
    struct job in = sample_job();
    assert_rejected(edit(render(&in), "end: 42\n", ""), "no \"end:\" line");
}

static void test_end_line_with_other_id_is_rejected(void **state)
{
    (void)state;
    struct job in = sample_job();
    assert_rejected(edit(render(&in), "end: 42\n", "end: 43\n"), "does not match");
}

static void test_data_after_end_line_is_rejected(void **state)
{
    (void)state;
    struct job in = sample_job();
    assert_rejected(edit(render(&in), "end: 42\n", "end: 42\nstatus: done\n"), "after the end line");
}

static void test_unknown_version_is_rejected(void **state)
{
    (void)state;
    struct job in = sample_job();
    assert_rejected(edit(render(&in), "version: 1\n", "version: 2\n"), "version");
}

static void test_bad_numbers_are_rejected(void **state)
{
    (void)state;
    struct job in = sample_job();
    static const char *const bad[][2] = {
        {"priority: 200\n", "priority: 256\n"}, {"priority: 200\n", "priority: -1\n"},
        {"priority: 200\n", "priority: 2x\n"},  {"priority: 200\n", "priority: \n"},
        {"attempts: 2\n", "attempts: 02\n"},    {"size: 123456\n", "size: 99999999999999999999999\n"},
        {"ecm: 1\n", "ecm: 2\n"},                {"owner_uid: 1000\n", "owner_uid: -5\n"},
        {"submitted: 1790000000\n", "submitted: +1790000000\n"},
    };
    for (size_t i = 0; i < sizeof bad / sizeof bad[0]; i++)
        assert_rejected(edit(render(&in), bad[i][0], bad[i][1]), "number");
}

static void test_unknown_status_is_rejected(void **state)
{
    (void)state;
    struct job in = sample_job();
    assert_rejected(edit(render(&in), "status: retrying\n", "status: sleeping\n"), "unknown status");
}

static void test_duplicate_keys_are_rejected(void **state)
{
    (void)state;
    struct job in = sample_job();
    assert_rejected(edit(render(&in), "attempts: 2\n", "attempts: 2\nattempts: 0\n"), "duplicate key");
}

static void test_unknown_keys_are_rejected(void **state)
{
    (void)state;
    struct job in = sample_job();
    assert_rejected(edit(render(&in), "attempts: 2\n", "attempts: 2\ncolour: blue\n"), "unknown key");
}

static void test_overlong_values_are_rejected(void **state)
{
    (void)state;
    struct job in = sample_job();
    char line[400];
    memset(line, 'a', sizeof line);
    memcpy(line, "tsid: ", 6);
    strcpy(line + 40, "\n");
    assert_rejected(edit(render(&in), "tsid: \n", line), "longer than");
}

static void test_overlong_lines_are_rejected(void **state)
{
    (void)state;
    struct job in = sample_job();
    char *line = malloc(3000);
    memset(line, 'a', 2999);
    memcpy(line, "tsid: ", 6);
    strcpy(line + 2990, "\n");
    assert_rejected(edit(render(&in), "tsid: \n", line), "longer than");
    free(line);
}

static void test_missing_required_key_is_rejected(void **state)
{
    (void)state;
    struct job in = sample_job();
    assert_rejected(edit(render(&in), "page_count: 3\n", ""), "required key \"page_count\"");
}

static void test_control_bytes_and_nul_are_rejected(void **state)
{
    (void)state;
    struct job in = sample_job(), out;
    char why[200];
    assert_rejected(edit(render(&in), "sender_company: \n", "sender_company: a\rb\n"), "control byte");
    char *text = render(&in);
    size_t len = strlen(text);
    text[10] = '\0';
    assert_int_equal(jobfile_parse(text, len, &out, why, sizeof why), -EINVAL);
    free(text);
}

static void test_bad_escape_is_rejected(void **state)
{
    (void)state;
    struct job in = sample_job();
    assert_rejected(edit(render(&in), "sender_company: \n", "sender_company: a\\qb\n"), "escape");
    in = sample_job();
    assert_rejected(edit(render(&in), "sender_company: \n", "sender_company: a\\x00b\n"), "NUL");
}

static void test_pages_sent_beyond_page_count_is_rejected(void **state)
{
    (void)state;
    struct job in = sample_job();
    assert_rejected(edit(render(&in), "pages_sent: 1\n", "pages_sent: 4\n"), "exceeds");
}

static void test_empty_file_is_rejected(void **state)
{
    (void)state;
    struct job out;
    char why[200];
    assert_int_equal(jobfile_parse("", 0, &out, why, sizeof why), -EINVAL);
}

static void test_job_file_without_resolution_and_transport_loads_as_fine(void **state)
{
    (void)state;
    struct job in = sample_job(), out;
    char why[200];
    char *text = render(&in);

    /* a file written before these keys existed */
    text = edit(text, "resolution: 3\n", "");
    text = edit(text, "transport: t38\n", "");
    assert_int_equal(parse(text, &out, why), 0);
    assert_int_equal(out.resolution, JOB_RES_FINE);
    assert_string_equal(out.transport, "");
    free(text);
}

static void test_job_file_without_dial_fields_loads_with_defaults(void **state)
{
    (void)state;
    struct job in = sample_job(), out;
    char why[200];
    char *text = render(&in);

    /* a file written before the dial rules */
    text = edit(text, "submitted_number: 9,020 7946 0958\n", "");
    text = edit(text, "dialed_number: 902079460958\n", "");
    text = edit(text, "use_ecm: 0\n", "");
    text = edit(text, "max_bit_rate: 9600\n", "");
    text = edit(text, "min_bit_rate: 4800\n", "");
    assert_int_equal(parse(text, &out, why), 0);
    assert_string_equal(out.submitted_number, "");
    assert_string_equal(out.dialed_number, "");
    assert_int_equal(out.use_ecm, -1);
    assert_int_equal(out.max_bit_rate, 0);
    assert_int_equal(out.min_bit_rate, 0);
    free(text);
    assert_rejected(edit(render(&in), "use_ecm: 0", "use_ecm: 2"), "use_ecm");
}

static void test_unknown_resolution_number_is_rejected(void **state)
{
    (void)state;
    struct job in = sample_job();

    assert_rejected(edit(render(&in), "resolution: 3", "resolution: 4"), "resolution");
}

int main(void)
{
    const struct CMUnitTest tests[] = {
        cmocka_unit_test(test_job_round_trips_through_the_job_file),
        cmocka_unit_test(test_attempt_receipt_round_trips_and_others_stay_as_they_were),
        cmocka_unit_test(test_job_file_without_resolution_and_transport_loads_as_fine),
        cmocka_unit_test(test_unknown_resolution_number_is_rejected),
        cmocka_unit_test(test_job_file_without_dial_fields_loads_with_defaults),
        cmocka_unit_test(test_job_file_starts_with_version_and_ends_with_end_line),
        cmocka_unit_test(test_newlines_in_values_are_escaped),
        cmocka_unit_test(test_truncated_job_file_is_rejected),
        cmocka_unit_test(test_job_file_without_end_line_is_rejected),
        cmocka_unit_test(test_end_line_with_other_id_is_rejected),
        cmocka_unit_test(test_data_after_end_line_is_rejected),
        cmocka_unit_test(test_unknown_version_is_rejected),
        cmocka_unit_test(test_bad_numbers_are_rejected),
        cmocka_unit_test(test_unknown_status_is_rejected),
        cmocka_unit_test(test_duplicate_keys_are_rejected),
        cmocka_unit_test(test_unknown_keys_are_rejected),
        cmocka_unit_test(test_overlong_values_are_rejected),
        cmocka_unit_test(test_overlong_lines_are_rejected),
        cmocka_unit_test(test_missing_required_key_is_rejected),
        cmocka_unit_test(test_control_bytes_and_nul_are_rejected),
        cmocka_unit_test(test_bad_escape_is_rejected),
        cmocka_unit_test(test_pages_sent_beyond_page_count_is_rejected),
        cmocka_unit_test(test_empty_file_is_rejected),
    };
    return cmocka_run_group_tests(tests, NULL, NULL);
}

/*
 * test_queue_intake.c - hostile and bad submissions through the whole
 * engine over the file spool: each is refused with its errno and one
 * daemon log line naming the fix, and nothing changes: no job, no id
 * used, no file left in the spool.
 */
#include <stdarg.h>
#include <stddef.h>
#include <setjmp.h>
#include <cmocka.h>

#include <errno.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/mman.h>
#include <unistd.h>

#include "queue_testutil.h"

static char last_log[1024]; /* the daemon log line of the refusal */

static void capture_log(int level, const char *msg)
{
    (void)level;
    snprintf(last_log, sizeof last_log, "%s", msg);
}

static int setup(void **state)
{
    struct queue_fixture *f = queue_fixture_new(true);

    f->cfg.log = capture_log;
    f->cfg.max_document_bytes = 1000000;
    queue_fixture_open(f);
    last_log[0] = '\0';
    *state = f;
    return 0;
}

static size_t entries(struct queue_fixture *f, const char *sub)
{
    char cmd[512];
    unsigned long n = 0;

    snprintf(cmd, sizeof cmd, "ls -A '%s/%s' | wc -l", f->dir, sub);
    FILE *p = popen(cmd, "r");
    assert_non_null(p);
    assert_int_equal(fscanf(p, "%lu", &n), 1);
    pclose(p);
    return n;
}

/* Submits fd (or no document when fd < 0) to number and checks the
 * refusal: errno, reason, log line, and an unchanged spool. */
static void assert_refused(struct queue_fixture *f, const char *number, int fd, int err, const char *reason)
{
    struct queue_request req = {0};
    char why[256] = "";
    uint64_t id = 0, *ids;
    size_t n;

    snprintf(req.recipient_number, sizeof req.recipient_number, "%s", number);
    assert_int_equal(queue_submit(f->q, &test_owner, &req, &fd, fd >= 0 ? 1 : 0, &id, why, sizeof why), -err);
    if (fd >= 0)
        close(fd);
    if (strstr(why, reason) == NULL)
        fail_msg("reason \"%s\" does not mention \"%s\"", why, reason);
    if (strstr(last_log, "refused") == NULL || strstr(last_log, reason) == NULL)
        fail_msg("log line \"%s\" does not give the refusal \"%s\"", last_log, reason);
    assert_int_equal(queue_list(f->q, QL_UNFINISHED | QL_HISTORY | QL_RECEIVED, &ids, &n), 0);
    free(ids);
    assert_int_equal(n, 0);
    assert_int_equal(entries(f, "jobs"), 0);
    assert_int_equal(entries(f, "tmp"), 0);
    assert_int_equal(submit_simple(f->q, "5551234", 1), QUEUE_FIRST_JOB_ID); /* no id was used up */
}

static int bytes_doc(const char *data, size_t len)
{
    int fd = memfd_create("doc", 0);
    assert_int_equal(write(fd, data, len), (ssize_t)len);
    return fd;
}

static void test_document_of_unknown_format_is_refused(void **state)
{
    assert_refused(*state, "5551234", bytes_doc("hello\n", 6), EINVAL, "not a PDF, PostScript, TIFF, PNG or JPEG");
}

static void test_damaged_pdf_is_refused(void **state)
{
    assert_refused(*state, "5551234", bytes_doc("%PDF-1.4\n%%EOF\n", 15), EINVAL,
                   "the PDF document has no pages");
}

static void test_truncated_tiff_is_refused(void **state)
{
    int fd = make_good_tiff(2);
    assert_int_equal(ftruncate(fd, lseek(fd, 0, SEEK_END) / 3), 0);
    assert_refused(*state, "5551234", fd, EINVAL, "save it again");
}

static void test_page_with_absurd_size_is_refused_before_decoding(void **state)
{
    struct tiff_spec spec = {1, 70000, 2, 1, 204, 196, 1};
    assert_refused(*state, "5551234", make_tiff(&spec), EINVAL, "70000x2 pixels");
}

static void test_document_over_the_configured_size_limit_is_refused(void **state)
{
    struct tiff_spec spec = {1, 1728, 700, 8, 204, 196, 1}; /* 1.2 MB uncompressed */
    assert_refused(*state, "5551234", make_tiff(&spec), EFBIG, "the limit is 1000000 bytes");
}

static void test_tiff_without_pages_is_refused(void **state)
{
    assert_refused(*state, "5551234", bytes_doc("II*\0\0\0\0\0", 8), EINVAL, "no pages");
}

static void test_submission_without_a_document_is_refused(void **state)
{
    assert_refused(*state, "5551234", -1, EINVAL, "no document was given");
}

static void test_number_with_control_characters_is_refused(void **state)
{
    assert_refused(*state, "555\n1234\x1b", make_good_tiff(1), EINVAL, "only digits");
}

static void test_number_with_letters_is_refused(void **state)
{
    assert_refused(*state, "555-CALL-NOW", make_good_tiff(1), EINVAL, "only digits");
}

static void test_number_with_a_slash_is_refused(void **state)
{
    assert_refused(*state, "../5551234", make_good_tiff(1), EINVAL, "only digits");
}

static void test_number_without_digits_is_refused(void **state)
{
    assert_refused(*state, "( - )", make_good_tiff(1), EINVAL, "has no digits");
}

static void test_empty_number_is_refused(void **state)
{
    assert_refused(*state, "", make_good_tiff(1), EINVAL, "has no digits");
}

static void test_number_with_a_plus_inside_is_refused(void **state)
{
    assert_refused(*state, "555+1234", make_good_tiff(1), EINVAL, "a leading +");
}

int main(void)
{
#define T(name) cmocka_unit_test_setup_teardown(name, setup, queue_fixture_teardown)
    const struct CMUnitTest tests[] = {
        T(test_document_of_unknown_format_is_refused),
        T(test_damaged_pdf_is_refused),
        T(test_truncated_tiff_is_refused),
        T(test_page_with_absurd_size_is_refused_before_decoding),
        T(test_document_over_the_configured_size_limit_is_refused),
        T(test_tiff_without_pages_is_refused),
        T(test_submission_without_a_document_is_refused),
        T(test_number_with_control_characters_is_refused),
        T(test_number_with_letters_is_refused),
        T(test_number_with_a_slash_is_refused),
        T(test_number_without_digits_is_refused),
        T(test_empty_number_is_refused),
        T(test_number_with_a_plus_inside_is_refused),
    };
    return cmocka_run_group_tests(tests, NULL, NULL);
}

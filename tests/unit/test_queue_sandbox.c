/*
 * test_queue_sandbox.c - documents converted through the real sandbox
 * (bwrap, the faxfs-convert program, the conversion user): the same
 * results and sentences as in process, the limits, the refusals when the
 * sandbox cannot run, what a program inside can see, and the daemon's
 * strict check of what comes back. Needs root (to switch users) and bwrap.
 */
#include <errno.h>
#include <fcntl.h>
#include <setjmp.h>
#include <stdarg.h>
#include <stddef.h>
#include <stdint.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/mman.h>
#include <sys/stat.h>
#include <time.h>
#include <unistd.h>

#include <cmocka.h>

#include "queue/document.h"
#include "queue/fault.h"
#include "queue/sandbox.h"
#include "tests/unit/queue_testutil.h"


static struct sandbox_options sb;

static int convert(const struct sandbox_options *s, int fd, const struct document_options *o, struct test_pages *p,
                   struct document_result *res, char *why)
{
    struct document_sink sink = {test_pages_sink, p};
    int r = sandbox_convert(s, fd, o, 0, &sink, res, why, 256);
    close(fd);
    return r;
}

static const char two_page_ps[] = "%!PS\n/Helvetica findfont 24 scalefont setfont\n"
                                  "72 700 moveto (page one) show showpage\n"
                                  "72 700 moveto (page two) show showpage\n";

static int setup(void **state)
{
    (void)state;
    test_sandbox_options(&sb, FAXFS_CONVERTER);
    return 0;
}

static void test_postscript_pages_come_back_through_the_sandbox(void **state)
{
    (void)state;
    struct test_pages p = {0};
    struct document_result res;
    char why[256] = "";
    struct document_options o = test_doc_options();

    assert_int_equal(convert(&sb, test_text_doc(two_page_ps), &o, &p, &res, why), 0);
    assert_int_equal(res.pages, 2);
    assert_int_equal(p.n, 2);
    assert_true(res.bytes > 0);
    test_pages_close(&p);
}

static double ms_since(const struct timespec *t0)
{
    struct timespec t1;
    clock_gettime(CLOCK_MONOTONIC, &t1);
    return (double)(t1.tv_sec - t0->tv_sec) * 1e3 + (double)(t1.tv_nsec - t0->tv_nsec) / 1e6;
}

/* A fax TIFF goes through the sandbox too, page for page. Prints what the
 * sandbox costs per document against converting in process (information
 * for docs/documents.md, not a pass/fail criterion). */
static void test_fax_tiff_pages_come_back_through_the_sandbox(void **state)
{
    (void)state;
    enum { RUNS = 10 };
    struct document_options o = test_doc_options();
    struct document_sink sink;
    struct document_result res;
    char why[256] = "";
    double in_sandbox = 0, in_process = 0;

    for (int i = 0; i < RUNS; i++) {
        struct test_pages p = {0};
        struct timespec t0;
        int fd = make_good_tiff(3);
        clock_gettime(CLOCK_MONOTONIC, &t0);
        assert_int_equal(convert(&sb, fd, &o, &p, &res, why), 0);
        in_sandbox += ms_since(&t0);
        assert_int_equal(res.pages, 3);
        test_pages_close(&p);

        fd = make_good_tiff(3);
        sink = (struct document_sink){test_pages_sink, &p};
        clock_gettime(CLOCK_MONOTONIC, &t0);
        assert_int_equal(document_split(fd, &o, 0, &sink, &res, why, sizeof why), 0);
        in_process += ms_since(&t0);
        close(fd);
        test_pages_close(&p);
    }
    printf("# a 3-page fax TIFF: %.1f ms in the sandbox, %.1f ms in process (mean of %d)\n", in_sandbox / RUNS,
           in_process / RUNS, RUNS);
}

static void test_endless_postscript_is_stopped_at_the_time_limit(void **state)
{
    (void)state;
    struct test_pages p = {0};
    struct document_result res;
    char why[256] = "";
    struct document_options o = test_doc_options();

    o.render_seconds = 1;
    assert_int_equal(convert(&sb, test_text_doc("%!PS\n{} loop\n"), &o, &p, &res, why), -ETIMEDOUT);
    assert_non_null(strstr(why, "took longer than 1 seconds"));
    assert_int_equal(p.n, 0);
}

static void test_output_over_the_byte_limit_is_refused(void **state)
{
    (void)state;
    struct test_pages p = {0};
    struct document_result res;
    char why[256] = "";
    struct document_options o = test_doc_options();
    const char *noisy = "%!PS\n30 { 0 2 595 { /x exch def 0 2 842 { x exch 1 1 rectfill } for } for showpage } repeat\n";

    o.max_bytes = 20000;
    assert_int_equal(convert(&sb, test_text_doc(noisy), &o, &p, &res, why), -EFBIG);
    assert_non_null(strstr(why, "more than 20000 bytes"));
    test_pages_close(&p);
}

static void test_sentences_of_the_converter_reach_the_caller(void **state)
{
    (void)state;
    struct test_pages p = {0};
    struct document_result res;
    char why[256] = "";
    struct document_options o = test_doc_options();

    assert_int_equal(convert(&sb, test_text_doc("this is plain text\n"), &o, &p, &res, why), -EINVAL);
    assert_non_null(strstr(why, "is not a PDF, PostScript, TIFF, PNG or JPEG file"));
    o.ghostscript = "/nonexistent/gs";
    assert_int_equal(convert(&sb, test_text_doc(two_page_ps), &o, &p, &res, why), -ENOENT);
    assert_non_null(strstr(why, "install ghostscript"));
}

static void test_missing_bubblewrap_refuses_instead_of_running_unconfined(void **state)
{
    (void)state;
    struct test_pages p = {0};
    struct document_result res;
    char why[256] = "";
    struct document_options o = test_doc_options();
    struct sandbox_options none = sb;

    none.bwrap = "/nonexistent/bwrap";
    assert_int_equal(convert(&none, make_good_tiff(1), &o, &p, &res, why), -ENOENT);
    assert_non_null(strstr(why, "install bubblewrap"));
    assert_int_equal(p.n, 0);
    assert_int_equal(sandbox_probe(&none, why, sizeof why), -ENOENT);
}

static void test_root_is_never_the_conversion_user(void **state)
{
    (void)state;
    struct test_pages p = {0};
    struct document_result res;
    char why[256] = "";
    struct document_options o = test_doc_options();
    struct sandbox_options as_root = sb;

    as_root.uid = 0;
    as_root.gid = 0;
    assert_int_equal(convert(&as_root, make_good_tiff(1), &o, &p, &res, why), -EPERM);
    assert_non_null(strstr(why, "--convert-user"));
    assert_int_equal(p.n, 0);
}

#ifdef FAXFS_FAULT_INJECTION
/* bwrap cannot make the sandbox when the conversion user (shared by every
 * conversion on the machine) is at its process limit: "bwrap: Creating
 * new namespace failed: Resource temporarily unavailable". The fault point
 * makes exactly that answer. Once: the next try converts the document.
 * Always: EAGAIN and "again later", never the EPERM of a machine without
 * user namespaces; the document was not looked at. */
static void test_a_sandbox_that_cannot_start_for_now_is_tried_again(void **state)
{
    (void)state;
    struct test_pages p = {0};
    struct document_result res;
    char why[256] = "";
    struct document_options o = test_doc_options();

    assert_int_equal(fault_configure("sandbox.start:eio:1"), 0);
    assert_int_equal(convert(&sb, make_good_tiff(2), &o, &p, &res, why), 0);
    assert_int_equal(res.pages, 2);
    assert_int_equal(p.n, 2);
    assert_int_equal(fault_hits("sandbox.start"), 2);
    test_pages_close(&p);

    struct test_pages none = {0};
    assert_int_equal(fault_configure("sandbox.start:eio"), 0);
    assert_int_equal(convert(&sb, make_good_tiff(2), &o, &none, &res, why), -EAGAIN);
    assert_non_null(strstr(why, "Resource temporarily unavailable"));
    assert_non_null(strstr(why, "submit it again later"));
    assert_null(strstr(why, "user namespaces"));
    assert_int_equal(none.n, 0);
    assert_int_equal(fault_hits("sandbox.start"), 5);

    /* A kept sandbox that cannot be made: the document goes to a one-shot one. */
    struct test_pages kept = {0};
    struct document_sink sink = {test_pages_sink, &kept};
    int fd = make_good_tiff(1);
    assert_int_equal(fault_configure("sandbox.start:eio:1"), 0);
    assert_int_equal(sandbox_convert_user(&sb, 4242, fd, &o, 0, &sink, &res, why, sizeof why), 0);
    close(fd);
    assert_int_equal(kept.n, 1);
    assert_int_equal(fault_hits("sandbox.start"), 2);
    test_pages_close(&kept);
    sandbox_pool_close();
    assert_int_equal(fault_configure(NULL), 0);
}
#endif

static void test_probe_says_the_sandbox_runs(void **state)
{
    (void)state;
    char why[256] = "";
    assert_int_equal(sandbox_probe(&sb, why, sizeof why), 0);
}

/* A stand-in converter that reports what it can see, on one stderr line
 * (the sandbox puts it in the sentence when the converter fails). */
static void write_spy(const char *path, const char *secret_dir)
{
    FILE *f = fopen(path, "w");
    assert_non_null(f);
    fprintf(f, "#!/bin/sh\n"
               "out=\"uid=$(id -u) env=$(env | cut -d= -f1 | sort | tr '\\n' ' ')\"\n"
               "out=\"$out tmp=$(ls -A /tmp | wc -l) net=$(tail -n +3 /proc/net/dev | wc -l)\"\n"
               "for p in /home /root /var/spool /run /etc/passwd /etc/shadow '%s'; do\n"
               "  [ -e \"$p\" ] && out=\"$out saw:$p\"\n"
               "done\n"
               "echo \"$out\" >&2\n"
               "exit 1\n", secret_dir);
    fclose(f);
    assert_int_equal(chmod(path, 0755), 0);
}

static void test_inside_there_is_no_machine_to_see(void **state)
{
    (void)state;
    char dir[256], spy[300], why[256] = "", want[64];
    struct test_pages p = {0};
    struct document_result res;
    struct document_options o = test_doc_options();

    make_temp_dir(dir, sizeof dir); /* 0700 root: the converter is passed by descriptor */
    snprintf(spy, sizeof spy, "%s/spy", dir);
    write_spy(spy, dir);
    struct sandbox_options spying = sb;
    spying.converter = spy;
    setenv("FAXFS_SIP_PASSWORD", "hunter2-secret", 1);
    int r = convert(&spying, make_good_tiff(1), &o, &p, &res, why);
    unsetenv("FAXFS_SIP_PASSWORD");
    printf("# the spy saw: %s\n", why);
    assert_int_equal(r, -EINVAL);
    snprintf(want, sizeof want, "uid=%lu ", (unsigned long)sb.uid);
    assert_non_null(strstr(why, want));
    assert_null(strstr(why, "FAXFS_SIP_PASSWORD"));
    assert_null(strstr(why, "HOME"));
    assert_non_null(strstr(why, "PATH"));
    assert_non_null(strstr(why, "tmp=0 "));
    assert_non_null(strstr(why, "net=1")); /* loopback only, in a namespace of its own */
    assert_null(strstr(why, "saw:"));
    remove_dir(dir);
}

/* A converter that lies about its output is refused with a sentence. */
static void test_malformed_converter_output_is_refused(void **state)
{
    (void)state;
    static const struct {
        const char *script, *sentence;
        int err;
    } cases[] = {
        {"printf 'JUNK\\000\\000\\000\\000'", "malformed", -EIO},
        {"printf 'PAGE\\000\\000\\020\\000'", "more than 1000 bytes", -EFBIG},
        {"printf 'PAGE\\004\\000\\000\\000II*\\000DONE\\000\\000\\000\\000'", "refused", -EIO},
        {"exit 0", "ended without a result", -EIO},
    };
    char dir[256], path[300], why[256];
    struct document_options o = test_doc_options();

    o.max_bytes = 1000;
    make_temp_dir(dir, sizeof dir);
    for (size_t i = 0; i < sizeof cases / sizeof cases[0]; i++) {
        struct test_pages p = {0};
        struct document_result res;
        snprintf(path, sizeof path, "%s/liar%zu", dir, i);
        FILE *f = fopen(path, "w");
        assert_non_null(f);
        fprintf(f, "#!/bin/sh\n%s\n", cases[i].script);
        fclose(f);
        assert_int_equal(chmod(path, 0755), 0);
        struct sandbox_options liar = sb;
        liar.converter = path;
        why[0] = '\0';
        assert_int_equal(convert(&liar, test_text_doc("%!PS\n"), &o, &p, &res, why), cases[i].err);
        assert_non_null(strstr(why, cases[i].sentence));
        assert_int_equal(res.pages, 0);
        test_pages_close(&p);
    }
    remove_dir(dir);
}

/* The daemon's check of a returned page decodes no pictures and takes
 * exactly one fax page. */
static void test_accepted_pages_are_single_fax_pages(void **state)
{
    (void)state;
    struct tiff_spec grey = {.pages = 1, .width = 1728, .height = 100, .bps = 8, .xres = 204, .yres = 196};
    struct test_pages p = {0};
    struct document_sink sink = {test_pages_sink, &p};
    uint64_t bytes = 0;
    char why[256] = "";
    int fd;

    fd = make_good_tiff(1);
    assert_int_equal(document_accept_page(fd, 0, &sink, &bytes, why, sizeof why), 0);
    assert_true(bytes > 0);
    close(fd);
    fd = make_good_tiff(2);
    assert_int_equal(document_accept_page(fd, 1, &sink, &bytes, why, sizeof why), -EINVAL);
    assert_non_null(strstr(why, "more than one page"));
    close(fd);
    fd = make_tiff(&grey);
    assert_int_equal(document_accept_page(fd, 2, &sink, &bytes, why, sizeof why), -EINVAL);
    assert_non_null(strstr(why, "not a fax page"));
    close(fd);
    test_pages_close(&p);
}

int main(void)
{
    const struct CMUnitTest tests[] = {
        cmocka_unit_test(test_postscript_pages_come_back_through_the_sandbox),
        cmocka_unit_test(test_fax_tiff_pages_come_back_through_the_sandbox),
        cmocka_unit_test(test_endless_postscript_is_stopped_at_the_time_limit),
        cmocka_unit_test(test_output_over_the_byte_limit_is_refused),
        cmocka_unit_test(test_sentences_of_the_converter_reach_the_caller),
        cmocka_unit_test(test_missing_bubblewrap_refuses_instead_of_running_unconfined),
        cmocka_unit_test(test_root_is_never_the_conversion_user),
#ifdef FAXFS_FAULT_INJECTION
        cmocka_unit_test(test_a_sandbox_that_cannot_start_for_now_is_tried_again),
#endif
        cmocka_unit_test(test_probe_says_the_sandbox_runs),
        cmocka_unit_test(test_inside_there_is_no_machine_to_see),
        cmocka_unit_test(test_malformed_converter_output_is_refused),
        cmocka_unit_test(test_accepted_pages_are_single_fax_pages),
    };
    return cmocka_run_group_tests(tests, setup, NULL);
}

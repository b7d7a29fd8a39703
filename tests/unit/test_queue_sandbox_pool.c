/*
 * test_queue_sandbox_pool.c - sandboxes kept for the documents of one
 * submitting user (sandbox_convert_user, serve mode of faxfs-convert):
 * documents of one user reuse one sandbox, another user never gets it,
 * a sandbox that overran, refused or answered anything malformed is
 * ended and the user's next document still converts, the idle time and
 * the documents per life end a sandbox. Sandbox starts are counted by
 * sandbox_pool_stats(). Needs root (to switch users) and bwrap.
 */
#include <errno.h>
#include <pthread.h>
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
#include "queue/queue.h"
#include "queue/sandbox.h"
#include "tests/unit/queue_testutil.h"

#define USER_A 40001
#define USER_B 40002

static struct sandbox_options sb;   /* the real converter */
static struct sandbox_options spy;  /* a stand-in in serve mode, see write_spy */
static char dir[256], spy_path[300];

/* Converts fd (closed) for user; *pages gets the page count. */
static int convert(const struct sandbox_options *s, uid_t user, int fd, const struct document_options *o,
                   int *pages, char *why)
{
    struct test_pages p = {0};
    struct document_sink sink = {test_pages_sink, &p};
    struct document_result res = {0};
    why[0] = '\0';
    int r = sandbox_convert_user(s, user, fd, o, 0, &sink, &res, why, 256);
    close(fd);
    assert_int_equal(res.pages, p.n);
    if (pages != NULL)
        *pages = res.pages;
    test_pages_close(&p);
    return r;
}

static unsigned long starts(void)
{
    struct sandbox_pool_stats st;
    sandbox_pool_stats(&st);
    return st.starts;
}

static int alive(void)
{
    struct sandbox_pool_stats st;
    sandbox_pool_stats(&st);
    return st.alive;
}

/*
 * A stand-in converter in serve mode: for each request it keeps the
 * document's text; a document with "hang" is never answered, "slow" is
 * answered DONE after 3 seconds, "junk" gets
 * a record of no known kind, "tell" a FAIL whose sentence is every
 * document this sandbox has seen, anything else DONE without pages.
 * Started for one document (not --serve), it answers FAIL "one-shot: "
 * and the document.
 */
static void write_spy(const char *path)
{
    FILE *f = fopen(path, "w");
    assert_non_null(f);
    fprintf(f, "#!/bin/sh\n"
               "le32() { v=$1; for i in 1 2 3 4; do printf \"\\\\$(printf %%03o $((v %% 256)))\"; v=$((v / 256)); "
               "done; }\n"
               "if [ \"$1\" != --serve ]; then\n"
               "  s=\"one-shot: $(cat)\"; printf FAIL; le32 $((4 + ${#s})); le32 22; printf %%s \"$s\"; exit 0\n"
               "fi\n"
               "seen=\n"
               "while :; do\n"
               "  set -- $(dd bs=1 count=24 2>/dev/null | od -An -tu4 -v)\n"
               "  [ $# -eq 6 ] || exit 0\n"
               "  doc=$(dd bs=1 count=$2 2>/dev/null)\n"
               "  seen=\"$seen $doc\"\n"
               "  case \"$doc\" in\n"
               "  *hang*) sleep 1000 ;;\n"
               "  *slow*) sleep 3; printf 'DONE\\000\\000\\000\\000' ;;\n"
               "  *junk*) printf 'JUNK\\000\\000\\000\\000' ;;\n"
               "  *tell*) s=\"seen:$seen\"; printf FAIL; le32 $((4 + ${#s})); le32 22; printf %%s \"$s\" ;;\n"
               "  *) printf 'DONE\\000\\000\\000\\000' ;;\n"
               "  esac\n"
               "  printf 'END.\\000\\000\\000\\000'\n"
               "done\n");
    fclose(f);
    assert_int_equal(chmod(path, 0755), 0);
}

static void limits(int n, int max_docs, int idle_ms)
{
    sandbox_pool_close();
    struct sandbox_pool_limits l = {n, max_docs, idle_ms};
    sandbox_pool_set_limits(&l);
    struct sandbox_pool_limits got = sandbox_pool_limits();
    assert_int_equal(got.alive, n);
    assert_int_equal(got.max_docs, max_docs);
    assert_int_equal(got.idle_ms, idle_ms);
}

static int setup(void **state)
{
    (void)state;
    test_sandbox_options(&sb, FAXFS_CONVERTER);
    make_temp_dir(dir, sizeof dir);
    snprintf(spy_path, sizeof spy_path, "%s/spy", dir);
    write_spy(spy_path);
    spy = sb;
    spy.converter = spy_path;
    return 0;
}

static int teardown(void **state)
{
    (void)state;
    sandbox_pool_close();
    remove_dir(dir);
    return 0;
}

/* Real documents: the same pages as one at a time; one sandbox start
 * for all of one user's documents. Prints the cost per document against
 * one-shot sandboxes (information, not a criterion). */
static void test_documents_of_one_user_reuse_one_sandbox(void **state)
{
    (void)state;
    enum { RUNS = 10 };
    struct document_options o = test_doc_options();
    char why[256];
    int pages;
    struct timespec t0, t1, t2;

    limits(2, 200, 10000);
    unsigned long before = starts();
    assert_int_equal(convert(&sb, USER_A, test_text_doc("%!PS\n showpage showpage\n"), &o, &pages, why), 0);
    assert_int_equal(pages, 2);
    clock_gettime(CLOCK_MONOTONIC, &t0);
    for (int i = 0; i < RUNS; i++) {
        assert_int_equal(convert(&sb, USER_A, make_good_tiff(3), &o, &pages, why), 0);
        assert_int_equal(pages, 3);
    }
    clock_gettime(CLOCK_MONOTONIC, &t1);
    assert_int_equal(starts(), before + 1);
    assert_int_equal(alive(), 1);
    for (int i = 0; i < RUNS; i++) {
        struct test_pages p = {0};
        struct document_sink sink = {test_pages_sink, &p};
        struct document_result res;
        int fd = make_good_tiff(3);
        assert_int_equal(sandbox_convert(&sb, fd, &o, 0, &sink, &res, why, sizeof why), 0);
        assert_int_equal(res.pages, 3);
        close(fd);
        test_pages_close(&p);
    }
    clock_gettime(CLOCK_MONOTONIC, &t2);
    double kept = ((double)(t1.tv_sec - t0.tv_sec) * 1e3 + (double)(t1.tv_nsec - t0.tv_nsec) / 1e6) / RUNS;
    double once = ((double)(t2.tv_sec - t1.tv_sec) * 1e3 + (double)(t2.tv_nsec - t1.tv_nsec) / 1e6) / RUNS;
    printf("# a 3-page fax TIFF: %.1f ms in a kept sandbox, %.1f ms in a one-shot sandbox (mean of %d)\n", kept,
           once, RUNS);
    assert_int_equal(starts(), before + 1); /* one-shot ones are not kept */
}

/* A sandbox that has seen user A's documents never sees user B's: B's
 * go to a sandbox of B's own, and each sandbox reports having seen only
 * its own user's documents. */
static void test_another_user_never_gets_the_sandbox(void **state)
{
    (void)state;
    struct document_options o = test_doc_options();
    char why[256];

    limits(2, 200, 10000);
    unsigned long before = starts();
    assert_int_equal(convert(&spy, USER_A, test_text_doc("keep-A1"), &o, NULL, why), 0);
    assert_int_equal(convert(&spy, USER_B, test_text_doc("keep-B1"), &o, NULL, why), 0);
    assert_int_equal(convert(&spy, USER_A, test_text_doc("keep-A2"), &o, NULL, why), 0);
    assert_int_equal(starts(), before + 2);
    assert_int_equal(convert(&spy, USER_A, test_text_doc("tell-A"), &o, NULL, why), -EINVAL);
    assert_string_equal(why, "seen: keep-A1 keep-A2 tell-A");
    assert_int_equal(convert(&spy, USER_B, test_text_doc("tell-B"), &o, NULL, why), -EINVAL);
    assert_string_equal(why, "seen: keep-B1 tell-B");

    /* One place only: B's document ends A's idle sandbox, never joins it. */
    limits(1, 200, 10000);
    before = starts();
    assert_int_equal(convert(&spy, USER_A, test_text_doc("keep-A3"), &o, NULL, why), 0);
    assert_int_equal(convert(&spy, USER_B, test_text_doc("tell-B2"), &o, NULL, why), -EINVAL);
    assert_string_equal(why, "seen: tell-B2");
    assert_int_equal(starts(), before + 2);
    assert_int_equal(alive(), 0); /* a FAIL ends it too */
}

/* A converter that never answers one document is killed at that
 * document's time limit; the user's next document converts. */
static void test_a_hanging_converter_is_killed_and_the_next_document_converts(void **state)
{
    (void)state;
    struct document_options o = test_doc_options();
    char why[256];

    limits(2, 200, 10000);
    o.render_seconds = 1;
    unsigned long before = starts();
    assert_int_equal(convert(&spy, USER_A, test_text_doc("keep-1"), &o, NULL, why), 0);
    assert_int_equal(convert(&spy, USER_A, test_text_doc("hang"), &o, NULL, why), -ETIMEDOUT);
    assert_non_null(strstr(why, "took longer than 1 seconds"));
    assert_int_equal(alive(), 0);
    assert_int_equal(convert(&spy, USER_A, test_text_doc("tell"), &o, NULL, why), -EINVAL);
    assert_string_equal(why, "seen: tell"); /* a new sandbox */
    assert_int_equal(starts(), before + 2);
}

/* A malformed record ends the sandbox; so does a page the daemon
 * refuses; the next document gets a new one. */
static void test_a_malformed_record_kills_the_sandbox(void **state)
{
    (void)state;
    struct document_options o = test_doc_options();
    char why[256];

    limits(2, 200, 10000);
    unsigned long before = starts();
    assert_int_equal(convert(&spy, USER_A, test_text_doc("keep-1"), &o, NULL, why), 0);
    assert_int_equal(alive(), 1);
    assert_int_equal(convert(&spy, USER_A, test_text_doc("junk"), &o, NULL, why), -EIO);
    assert_non_null(strstr(why, "malformed"));
    assert_int_equal(alive(), 0);
    assert_int_equal(convert(&spy, USER_A, test_text_doc("tell"), &o, NULL, why), -EINVAL);
    assert_string_equal(why, "seen: tell");
    assert_int_equal(starts(), before + 2);

    /* The real converter's own refusal ends its sandbox as well. */
    before = starts();
    assert_int_equal(convert(&sb, USER_A, test_text_doc("plain text\n"), &o, NULL, why), -EINVAL);
    assert_non_null(strstr(why, "is not a PDF, PostScript, TIFF, PNG or JPEG file"));
    assert_int_equal(alive(), 0);
    assert_int_equal(convert(&sb, USER_A, make_good_tiff(1), &o, NULL, why), 0);
    assert_int_equal(starts(), before + 2);
}

/* An idle sandbox ends after the idle time; a sandbox ends after its
 * documents per life. */
static void test_idle_time_and_documents_per_life_end_a_sandbox(void **state)
{
    (void)state;
    struct document_options o = test_doc_options();
    char why[256];

    limits(2, 200, 200);
    unsigned long before = starts();
    assert_int_equal(convert(&spy, USER_A, test_text_doc("keep-1"), &o, NULL, why), 0);
    for (int i = 0; i < 500 && alive() > 0; i++)
        usleep(20000);
    assert_int_equal(alive(), 0);
    assert_int_equal(convert(&spy, USER_A, test_text_doc("tell"), &o, NULL, why), -EINVAL);
    assert_string_equal(why, "seen: tell");
    assert_int_equal(starts(), before + 2);

    limits(2, 2, 10000);
    before = starts();
    assert_int_equal(convert(&spy, USER_A, test_text_doc("keep-1"), &o, NULL, why), 0);
    assert_int_equal(alive(), 1);
    assert_int_equal(convert(&spy, USER_A, test_text_doc("keep-2"), &o, NULL, why), 0);
    assert_int_equal(alive(), 0); /* its second and last */
    assert_int_equal(convert(&spy, USER_A, test_text_doc("keep-3"), &o, NULL, why), 0);
    assert_int_equal(convert(&spy, USER_A, test_text_doc("tell"), &o, NULL, why), -EINVAL);
    assert_string_equal(why, "seen: keep-3 tell");
    assert_int_equal(starts(), before + 2);
}

static void *convert_slow(void *arg)
{
    struct document_options o = test_doc_options();
    char why[256];
    *(int *)arg = convert(&spy, USER_A, test_text_doc("slow"), &o, NULL, why);
    return NULL;
}

/* Every kept sandbox busy: a document waits a little for one, then goes
 * to a one-shot sandbox. */
static void test_when_every_kept_sandbox_is_busy_a_one_shot_one_converts(void **state)
{
    (void)state;
    struct document_options o = test_doc_options();
    char why[256];
    pthread_t t;
    int slow_rc = -1;

    limits(1, 200, 10000);
    unsigned long before = starts();
    assert_int_equal(pthread_create(&t, NULL, convert_slow, &slow_rc), 0);
    for (int i = 0; i < 500 && starts() == before; i++)
        usleep(10000);
    assert_int_equal(starts(), before + 1);
    assert_int_equal(convert(&spy, USER_A, test_text_doc("tell"), &o, NULL, why), -EINVAL);
    assert_string_equal(why, "one-shot: tell");
    assert_int_equal(pthread_join(t, NULL), 0);
    assert_int_equal(slow_rc, 0);
    assert_int_equal(starts(), before + 1);
    assert_int_equal(alive(), 1);
}

static void *convert_keep(void *arg)
{
    struct document_options o = test_doc_options();
    char why[256];
    *(int *)arg = convert(&spy, USER_A, test_text_doc("keep-1"), &o, NULL, why);
    return NULL;
}

/* A sandbox outlives the thread whose document started it (bwrap's
 * --die-with-parent follows the thread that started bwrap). */
static void test_a_sandbox_outlives_the_thread_that_asked_for_it(void **state)
{
    (void)state;
    struct document_options o = test_doc_options();
    char why[256];
    pthread_t t;
    int rc = -1;

    limits(2, 200, 10000);
    unsigned long before = starts();
    assert_int_equal(pthread_create(&t, NULL, convert_keep, &rc), 0);
    assert_int_equal(pthread_join(t, NULL), 0);
    assert_int_equal(rc, 0);
    usleep(200000); /* time for a parent-death signal to arrive, if one were sent */
    assert_int_equal(convert(&spy, USER_A, test_text_doc("tell"), &o, NULL, why), -EINVAL);
    assert_string_equal(why, "seen: keep-1 tell");
    assert_int_equal(starts(), before + 1);
}

/* Through the engine: a submission's documents go to a sandbox of the
 * job's owner (the caller), not of whoever submitted before. */
static int submit_as(struct queue *q, uid_t uid, const char *text, char *why, size_t whylen)
{
    struct queue_caller who = {.uid = uid, .gid = uid};
    struct queue_request req = {0};
    uint64_t id;
    int fd = test_text_doc(text);
    snprintf(req.recipient_number, sizeof req.recipient_number, "5551234");
    why[0] = '\0';
    int r = queue_submit(q, &who, &req, &fd, 1, &id, why, whylen);
    close(fd);
    return r;
}

static void test_the_engine_keys_sandboxes_by_the_jobs_owner(void **state)
{
    (void)state;
    char why[512];

    limits(2, 200, 10000);
    struct queue_fixture *f = queue_fixture_new(false);
    f->cfg.convert = NULL; /* the sandbox, with the stand-in converter */
    f->cfg.converter = spy_path;
    f->cfg.convert_uid = sb.uid;
    f->cfg.convert_gid = sb.gid;
    queue_fixture_open(f);
    unsigned long before = starts();
    submit_as(f->q, USER_A, "keep-A", why, sizeof why); /* no pages: refused after conversion */
    assert_int_equal(submit_as(f->q, USER_B, "tell-B", why, sizeof why), -EINVAL);
    assert_non_null(strstr(why, "seen: tell-B"));
    assert_null(strstr(why, "keep-A"));
    assert_int_equal(submit_as(f->q, USER_A, "tell-A", why, sizeof why), -EINVAL);
    assert_non_null(strstr(why, "seen: keep-A tell-A"));
    assert_int_equal(starts(), before + 2);
    queue_fixture_free(f);
    assert_int_equal(alive(), 0); /* closing the queue ends its kept sandboxes */
}

/* No places: every document in a one-shot sandbox, as before. */
static void test_no_places_means_one_shot_sandboxes(void **state)
{
    (void)state;
    struct document_options o = test_doc_options();
    char why[256];
    int pages;

    limits(0, 200, 10000);
    unsigned long before = starts();
    assert_int_equal(convert(&sb, USER_A, make_good_tiff(2), &o, &pages, why), 0);
    assert_int_equal(pages, 2);
    assert_int_equal(convert(&sb, USER_A, make_good_tiff(1), &o, &pages, why), 0);
    assert_int_equal(pages, 1);
    assert_int_equal(starts(), before);
    assert_int_equal(alive(), 0);
}

/* A missing bwrap is refused through the pool as without it. */
static void test_missing_bubblewrap_is_refused(void **state)
{
    (void)state;
    struct document_options o = test_doc_options();
    struct sandbox_options none = sb;
    char why[256];

    limits(2, 200, 10000);
    none.bwrap = "/nonexistent/bwrap";
    assert_int_equal(convert(&none, USER_A, make_good_tiff(1), &o, NULL, why), -ENOENT);
    assert_non_null(strstr(why, "install bubblewrap"));
    assert_int_equal(alive(), 0);
}

int main(void)
{
    const struct CMUnitTest tests[] = {
        cmocka_unit_test(test_documents_of_one_user_reuse_one_sandbox),
        cmocka_unit_test(test_another_user_never_gets_the_sandbox),
        cmocka_unit_test(test_a_hanging_converter_is_killed_and_the_next_document_converts),
        cmocka_unit_test(test_a_malformed_record_kills_the_sandbox),
        cmocka_unit_test(test_idle_time_and_documents_per_life_end_a_sandbox),
        cmocka_unit_test(test_when_every_kept_sandbox_is_busy_a_one_shot_one_converts),
        cmocka_unit_test(test_a_sandbox_outlives_the_thread_that_asked_for_it),
        cmocka_unit_test(test_the_engine_keys_sandboxes_by_the_jobs_owner),
        cmocka_unit_test(test_no_places_means_one_shot_sandboxes),
        cmocka_unit_test(test_missing_bubblewrap_is_refused),
    };
    return cmocka_run_group_tests(tests, setup, teardown);
}

/*
 * test_modem_batch.c - one call carrying several documents (batching) on
 * the simulated network: one T.30 document stream (MPS between pages of
 * one format, whichever job they belong to), each document
 * reported on its own, a declined document ends the call after the
 * current one, and a hang-up mid-batch is reported for the document on
 * the line.
 */
#include <dirent.h>
#include <limits.h>
#include <pthread.h>
#include <setjmp.h>
#include <stdarg.h>
#include <stddef.h>
#include <stdint.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <time.h>

#include <cmocka.h>

#include "modem/modem.h"
#include "modem_testlib.h"

#define CALL_TIMEOUT_S 180 /* a bound so a hang fails the test, not a timing check */
#define NPAGES 4
#define MAXDOCS 4

struct batch_rec {
    pthread_mutex_t lock; /* protects everything below */
    pthread_cond_t cond;
    int decline_from;          /* document_next refuses documents >= this; 0: none */
    int next_asked[MAXDOCS];   /* document_next calls per document */
    int done_count;
    struct modem_result done[MAXDOCS];
    int done_doc[MAXDOCS];
    int confirmed_after_done[MAXDOCS]; /* page_confirmed values seen while document d was on the line */
    int cur;
    int eom_lines, mps_lines;  /* transcript lines naming EOM, MPS */
    bool finished;
    struct modem_result result;
};

static void br_status(void *user, const char *text)
{
    (void)user;
    (void)text;
}

static void br_log(void *user, const char *line)
{
    struct batch_rec *r = user;
    if (getenv("BATCH_TEST_VERBOSE"))
        fprintf(stderr, "%s\n", line);
    pthread_mutex_lock(&r->lock);
    if (strstr(line, "EOM"))
        r->eom_lines++;
    if (strstr(line, "Sending PPS + MPS"))
        r->mps_lines++;
    pthread_mutex_unlock(&r->lock);
}

static void br_confirmed(void *user, int pages)
{
    struct batch_rec *r = user;
    pthread_mutex_lock(&r->lock);
    if (r->cur < MAXDOCS)
        r->confirmed_after_done[r->cur] = pages;
    pthread_mutex_unlock(&r->lock);
}

static bool br_next(void *user, int doc)
{
    struct batch_rec *r = user;
    pthread_mutex_lock(&r->lock);
    if (doc >= 0 && doc < MAXDOCS)
        r->next_asked[doc]++;
    bool ok = r->decline_from == 0 || doc < r->decline_from;
    pthread_mutex_unlock(&r->lock);
    return ok;
}

static void br_done(void *user, int doc, const struct modem_result *res)
{
    struct batch_rec *r = user;
    pthread_mutex_lock(&r->lock);
    if (r->done_count < MAXDOCS) {
        r->done[r->done_count] = *res;
        r->done_doc[r->done_count++] = doc;
    }
    r->cur = doc + 1;
    pthread_mutex_unlock(&r->lock);
}

static void br_finished(void *user, const struct modem_result *res)
{
    struct batch_rec *r = user;
    pthread_mutex_lock(&r->lock);
    r->result = *res;
    r->finished = true;
    pthread_cond_broadcast(&r->cond);
    pthread_mutex_unlock(&r->lock);
}

static const struct modem_events batch_events = {
    .status = br_status, .log = br_log, .page_confirmed = br_confirmed, .finished = br_finished,
    .document_next = br_next, .document_done = br_done,
};

static bool br_wait(struct batch_rec *r)
{
    struct timespec ts;
    clock_gettime(CLOCK_REALTIME, &ts);
    ts.tv_sec += CALL_TIMEOUT_S;
    pthread_mutex_lock(&r->lock);
    while (!r->finished)
        if (pthread_cond_timedwait(&r->cond, &r->lock, &ts) != 0)
            break;
    bool done = r->finished;
    pthread_mutex_unlock(&r->lock);
    return done;
}

/* Faxes the simulated machine at number kept: one per call. */
static int count_faxes(const char *sim_dir, const char *number)
{
    char dir[PATH_MAX + 64];
    snprintf(dir, sizeof dir, "%s/%s", sim_dir, number);
    DIR *d = opendir(dir);
    int n = 0;
    for (struct dirent *e; d && (e = readdir(d)) != NULL;)
        n += e->d_name[0] != '.' && strstr(e->d_name, ".tif") != NULL;
    if (d)
        closedir(d);
    return n;
}

struct fixture {
    char *dir;
    char sim_dir[PATH_MAX];
    char pages[NPAGES][PATH_MAX];
    const char *page_ptrs[NPAGES];
    struct modem_pool *pool;
    struct batch_rec rec;
};

static int setup(void **state)
{
    struct fixture *f = calloc(1, sizeof *f);
    f->dir = test_tempdir();
    snprintf(f->sim_dir, sizeof f->sim_dir, "%s/sim", f->dir);
    for (int i = 0; i < NPAGES; i++) {
        snprintf(f->pages[i], sizeof f->pages[i], "%s/page%d.tif", f->dir, i + 1);
        if (test_write_page(f->pages[i], 500, (unsigned)i + 11) != 0)
            return -1;
        f->page_ptrs[i] = f->pages[i];
    }
    struct modem_pool_config cfg = {
        .channels = 1, .line_spec = "sim", .pace = MODEM_PACE_FAST,
        .sim_dir = f->sim_dir, .scratch_dir = f->dir, .workers = 1, .tsid = "+1 555 0100",
    };
    char err[256];
    if (modem_pool_create(&f->pool, &cfg, err, sizeof err) != 0) {
        fprintf(stderr, "%s\n", err);
        return -1;
    }
    pthread_mutex_init(&f->rec.lock, NULL);
    pthread_cond_init(&f->rec.cond, NULL);
    *state = f;
    return 0;
}

static int teardown(void **state)
{
    struct fixture *f = *state;
    modem_pool_destroy(f->pool);
    pthread_mutex_destroy(&f->rec.lock);
    pthread_cond_destroy(&f->rec.cond);
    faxtest_rmtree(f->dir);
    free(f->dir);
    free(f);
    return 0;
}

/* Documents: pages 1-2 (job pages 1-2 of 2), page 3 (1 of 1), page 4 (1 of 1). */
static void send_three(struct fixture *f, const char *number)
{
    static struct modem_document more[2];
    more[0] = (struct modem_document){f->page_ptrs + 2, 1, 1, 1};
    more[1] = (struct modem_document){f->page_ptrs + 3, 1, 1, 1};
    struct modem_send_request req = {
        .number = number, .page_paths = f->page_ptrs, .page_count = 2, .first_page_number = 1, .total_pages = 2,
        .more = more, .nmore = 2,
    };
    assert_int_equal(modem_send(f->pool, 0, &req, &batch_events, &f->rec), 0);
    assert_true(br_wait(&f->rec));
}

static void test_one_call_carries_three_documents_each_reported(void **state)
{
    struct fixture *f = *state;
    send_three(f, "5551234");
    struct batch_rec *r = &f->rec;
    assert_int_equal(r->next_asked[1], 1);
    assert_int_equal(r->next_asked[2], 1);
    assert_int_equal(r->done_count, 2);
    assert_int_equal(r->done_doc[0], 0);
    assert_int_equal(r->done[0].outcome, MODEM_OK);
    assert_int_equal(r->done[0].pages_sent, 2);
    assert_int_equal(r->done_doc[1], 1);
    assert_int_equal(r->done[1].pages_sent, 1);
    assert_int_equal(r->confirmed_after_done[0], 2);
    assert_int_equal(r->confirmed_after_done[1], 1);
    assert_int_equal(r->confirmed_after_done[2], 1);
    assert_int_equal(r->result.outcome, MODEM_OK);
    assert_int_equal(r->result.pages_sent, 1);
    /* pages of one format: MPS between every two pages, documents alike,
     * so no new negotiation (EOM) anywhere in the call */
    assert_true(r->mps_lines >= 3);
    assert_int_equal(r->eom_lines, 0);
    /* One call: the simulated machine kept one fax with the 4 pages, in order. */
    char got[PATH_MAX];
    assert_int_equal(faxtest_latest_sim_file(f->sim_dir, "5551234", got, sizeof got), 0);
    assert_int_equal(faxtest_page_count(got), 4);
    assert_true(test_pages_match(got, f->page_ptrs, 4));
    assert_int_equal(count_faxes(f->sim_dir, "5551234"), 1);
}

static void test_declined_document_ends_the_call_after_the_current_one(void **state)
{
    struct fixture *f = *state;
    f->rec.decline_from = 1;
    send_three(f, "5551235");
    struct batch_rec *r = &f->rec;
    assert_int_equal(r->next_asked[1], 1);
    assert_int_equal(r->next_asked[2], 0);
    assert_int_equal(r->done_count, 0);
    assert_int_equal(r->result.outcome, MODEM_OK);
    assert_int_equal(r->result.pages_sent, 2);
    char got[PATH_MAX];
    assert_int_equal(faxtest_latest_sim_file(f->sim_dir, "5551235", got, sizeof got), 0);
    assert_int_equal(faxtest_page_count(got), 2);
}

/* 5550104 hangs up (first call) once a page was confirmed: the first
 * document's EOM is confirmed, the second is on the line when the call
 * drops; the third was never asked for. */
static void test_hang_up_mid_batch_is_the_document_on_the_line(void **state)
{
    struct fixture *f = *state;
    static struct modem_document more[2];
    more[0] = (struct modem_document){f->page_ptrs + 1, 1, 1, 1};
    more[1] = (struct modem_document){f->page_ptrs + 2, 1, 1, 1};
    struct modem_send_request req = {
        .number = "5550104", .page_paths = f->page_ptrs, .page_count = 1, .first_page_number = 1,
        .total_pages = 1, .more = more, .nmore = 2,
    };
    assert_int_equal(modem_send(f->pool, 0, &req, &batch_events, &f->rec), 0);
    assert_true(br_wait(&f->rec));
    struct batch_rec *r = &f->rec;
    assert_int_equal(r->done_count, 1);
    assert_int_equal(r->done_doc[0], 0);
    assert_int_equal(r->done[0].pages_sent, 1);
    assert_int_equal(r->next_asked[1], 1);
    assert_int_equal(r->next_asked[2], 0);
    assert_int_not_equal(r->result.outcome, MODEM_OK);
    assert_int_equal(r->result.pages_sent, 0);
}

int main(void)
{
    const struct CMUnitTest tests[] = {
        cmocka_unit_test_setup_teardown(test_one_call_carries_three_documents_each_reported, setup, teardown),
        cmocka_unit_test_setup_teardown(test_declined_document_ends_the_call_after_the_current_one, setup, teardown),
        cmocka_unit_test_setup_teardown(test_hang_up_mid_batch_is_the_document_on_the_line, setup, teardown),
    };
    return cmocka_run_group_tests(tests, NULL, NULL);
}

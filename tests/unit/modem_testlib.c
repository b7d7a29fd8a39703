/*
 * modem_testlib.c - test pages, pixel comparison and event recording for
 * the modem tests (see modem_testlib.h).
 */
#include "modem_testlib.h"

#include "tests/lib/faxtest.h"

#include <dirent.h>
#include <errno.h>
#include <limits.h>
#include <stdint.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <time.h>
#include <unistd.h>

#include <tiffio.h>

static unsigned next_rand(unsigned *s)
{
    *s = *s * 1103515245u + 12345u;
    return (*s >> 16) & 0x7fff;
}

/* Lines of "words": black runs of random length, with gaps, like text. */
static void draw_row(uint8_t *row, int y, unsigned seed)
{
    memset(row, 0, TEST_PAGE_WIDTH / 8);
    int line = y / 24, in_line = y % 24;
    if (in_line >= 16 || y < 40)
        return;
    unsigned s = seed * 7919u + (unsigned)line * 104729u;
    int x = 80;
    while (x < TEST_PAGE_WIDTH - 80) {
        int word = 16 + (int)(next_rand(&s) % 120);
        unsigned pattern = next_rand(&s);
        for (int i = 0; i < word && x + i < TEST_PAGE_WIDTH - 80; i++) {
            /* Letter-like strokes: columns on and off, varying per row. */
            if (((unsigned)(i + in_line) * pattern >> 3) & 1)
                row[(x + i) / 8] |= (uint8_t)(0x80 >> ((x + i) % 8));
        }
        x += word + 12 + (int)(next_rand(&s) % 20);
    }
}

int test_write_page(const char *path, int rows, unsigned seed)
{
    TIFF *t = TIFFOpen(path, "w");
    if (!t)
        return -1;
    faxtest_page_tags(t, (uint32_t)rows, 0, 0);
    uint8_t row[TEST_PAGE_WIDTH / 8];
    int rc = 0;
    for (int y = 0; y < rows && rc == 0; y++) {
        draw_row(row, y, seed);
        if (TIFFWriteScanline(t, row, (uint32_t)y, 0) < 0)
            rc = -1;
    }
    if (!TIFFWriteDirectory(t))
        rc = -1;
    TIFFClose(t);
    return rc;
}

static int page_equals(const char *received, int page, const char *sent_path)
{
    uint32_t w1 = 0, h1 = 0, w2 = 0, h2 = 0;
    uint8_t *a = faxtest_load_page(received, page, &w1, &h1);
    uint8_t *b = faxtest_load_page(sent_path, 0, &w2, &h2);
    int same = a && b && w1 == w2 && h1 == h2 && memcmp(a, b, (size_t)h1 * (w1 / 8)) == 0;
    if (!same)
        fprintf(stderr, "page differs: got %ux%u, sent %ux%u (%s)\n", w1, h1, w2, h2, sent_path);
    free(a);
    free(b);
    return same;
}

int test_pages_match(const char *received, const char *const *sent, int n)
{
    if (faxtest_page_count(received) != n)
        return 0;
    for (int i = 0; i < n; i++)
        if (!page_equals(received, i, sent[i]))
            return 0;
    return 1;
}

static void push(struct test_recorder *r, enum test_event_kind kind, const char *text, int pages)
{
    pthread_mutex_lock(&r->lock);
    if (r->nevents < TEST_MAX_EVENTS) {
        struct test_event *e = &r->events[r->nevents++];
        e->kind = kind;
        snprintf(e->text, sizeof e->text, "%s", text ? text : "");
        e->pages = pages;
    }
    pthread_cond_broadcast(&r->cond);
    pthread_mutex_unlock(&r->lock);
}

static void rec_status(void *user, const char *status) { push(user, EV_STATUS, status, 0); }
static void rec_confirmed(void *user, int pages) { push(user, EV_CONFIRMED, NULL, pages); }

static void rec_log(void *user, const char *line)
{
    struct test_recorder *r = user;
    if (getenv("MODEM_TEST_VERBOSE"))
        fprintf(stderr, "log: %s\n", line);
    pthread_mutex_lock(&r->lock);
    r->log_lines++;
    pthread_mutex_unlock(&r->lock);
}

static void rec_finished(void *user, const struct modem_result *res)
{
    struct test_recorder *r = user;
    pthread_mutex_lock(&r->lock);
    r->result = *res;
    r->finished_count++;
    pthread_mutex_unlock(&r->lock);
    push(r, EV_FINISHED, res->code, res->pages_sent);
}

const struct modem_events test_recorder_events = {
    .status = rec_status, .log = rec_log, .page_confirmed = rec_confirmed, .finished = rec_finished,
};

void test_recorder_init(struct test_recorder *r)
{
    memset(r, 0, sizeof *r);
    pthread_mutex_init(&r->lock, NULL);
    pthread_cond_init(&r->cond, NULL);
}

void test_recorder_destroy(struct test_recorder *r)
{
    pthread_cond_destroy(&r->cond);
    pthread_mutex_destroy(&r->lock);
}

static bool wait_until(struct test_recorder *r, int timeout_s, bool (*pred)(struct test_recorder *, const void *),
                       const void *arg)
{
    struct timespec deadline;
    clock_gettime(CLOCK_REALTIME, &deadline);
    deadline.tv_sec += timeout_s;
    pthread_mutex_lock(&r->lock);
    bool ok;
    while (!(ok = pred(r, arg)))
        if (pthread_cond_timedwait(&r->cond, &r->lock, &deadline) == ETIMEDOUT) {
            ok = pred(r, arg);
            break;
        }
    pthread_mutex_unlock(&r->lock);
    return ok;
}

static bool is_finished(struct test_recorder *r, const void *arg)
{
    (void)arg;
    return r->finished_count > 0;
}

static bool has_status(struct test_recorder *r, const void *prefix)
{
    for (int i = 0; i < r->nevents; i++)
        if (r->events[i].kind == EV_STATUS && strncmp(r->events[i].text, prefix, strlen(prefix)) == 0)
            return true;
    return false;
}

bool test_recorder_wait(struct test_recorder *r, int timeout_s)
{
    return wait_until(r, timeout_s, is_finished, NULL);
}

bool test_recorder_wait_status(struct test_recorder *r, const char *prefix, int timeout_s)
{
    return wait_until(r, timeout_s, has_status, prefix);
}

char *test_tempdir(void)
{
    char *d = strdup("/tmp/faxfs-modem-test-XXXXXX");
    if (d && !mkdtemp(d)) {
        free(d);
        return NULL;
    }
    return d;
}

/* ---- Inbound calls ---------------------------------------------------- */

static void rx_push(struct test_inbound *t, enum test_rx_kind kind, int page, const char *text)
{
    if (t->nevents < TEST_MAX_RX_EVENTS) {
        struct test_rx_event *e = &t->events[t->nevents++];
        e->kind = kind;
        e->page = page;
        snprintf(e->text, sizeof e->text, "%s", text ? text : "");
    }
    pthread_cond_broadcast(&t->cond);
}

static void *rx_begin(void *ctx, const struct modem_inbound_call *call)
{
    struct test_inbound *t = ctx;
    pthread_mutex_lock(&t->lock);
    t->calls++;
    snprintf(t->caller_id, sizeof t->caller_id, "%s", call->caller_id);
    snprintf(t->line, sizeof t->line, "%s", call->line);
    snprintf(t->call_ref, sizeof t->call_ref, "%s", call->call_ref);
    snprintf(t->called_number, sizeof t->called_number, "%s", call->called_number ? call->called_number : "");
    snprintf(t->channel, sizeof t->channel, "%s", call->channel);
    bool refuse = t->refuse;
    if (!refuse)
        rx_push(t, RX_BEGIN, 0, call->line);
    pthread_mutex_unlock(&t->lock);
    return refuse ? NULL : t;
}

static int copy_file(const char *from, const char *to)
{
    FILE *in = fopen(from, "rb"), *out = in ? fopen(to, "wb") : NULL;
    int rc = in && out ? 0 : -1;
    char buf[8192];
    size_t n;
    while (rc == 0 && in && (n = fread(buf, 1, sizeof buf, in)) > 0)
        if (fwrite(buf, 1, n, out) != n)
            rc = -1;
    if (in)
        fclose(in);
    if (out && fclose(out) != 0)
        rc = -1;
    return rc;
}

static int rx_page(void *user, int page_number, const char *path)
{
    struct test_inbound *t = user;
    char copy[PATH_MAX];
    test_inbound_page_path(t, page_number, copy, sizeof copy);
    int rc = copy_file(path, copy);
    pthread_mutex_lock(&t->lock);
    t->pages = page_number;
    rx_push(t, RX_PAGE, page_number, NULL);
    if (page_number == t->hold_at_page) {
        t->holding = true;
        pthread_cond_broadcast(&t->cond);
        while (!t->released)
            pthread_cond_wait(&t->cond, &t->lock);
    }
    pthread_mutex_unlock(&t->lock);
    return rc == 0 ? 0 : -EIO;
}

static void rx_status(void *user, const char *text)
{
    struct test_inbound *t = user;
    pthread_mutex_lock(&t->lock);
    rx_push(t, RX_STATUS, 0, text);
    pthread_mutex_unlock(&t->lock);
}

static void rx_log(void *user, const char *line)
{
    struct test_inbound *t = user;
    if (getenv("MODEM_TEST_VERBOSE"))
        fprintf(stderr, "rx log: %s\n", line);
    pthread_mutex_lock(&t->lock);
    t->log_lines++;
    snprintf(t->last_log, sizeof t->last_log, "%s", line);
    if (t->watch_log && !t->watched_log[0] && strncmp(line, t->watch_log, strlen(t->watch_log)) == 0)
        snprintf(t->watched_log, sizeof t->watched_log, "%s", line);
    pthread_mutex_unlock(&t->lock);
}

static void rx_finished(void *user, const struct modem_rx_result *res)
{
    struct test_inbound *t = user;
    pthread_mutex_lock(&t->lock);
    t->result = *res;
    t->finished_count++;
    rx_push(t, RX_FINISHED, res->pages_received, res->code);
    pthread_mutex_unlock(&t->lock);
}

static void rx_notice(void *ctx, const char *line)
{
    struct test_inbound *t = ctx;
    if (getenv("MODEM_TEST_VERBOSE"))
        fprintf(stderr, "notice: %s\n", line);
    pthread_mutex_lock(&t->lock);
    t->notices++;
    snprintf(t->last_notice, sizeof t->last_notice, "%s", line);
    pthread_cond_broadcast(&t->cond);
    pthread_mutex_unlock(&t->lock);
}

const struct modem_inbound_ops test_inbound_ops = {
    .begin = rx_begin, .page = rx_page, .status = rx_status, .log = rx_log,
    .finished = rx_finished, .notice = rx_notice,
};

void test_inbound_init(struct test_inbound *t, const char *dir)
{
    memset(t, 0, sizeof *t);
    pthread_mutex_init(&t->lock, NULL);
    pthread_cond_init(&t->cond, NULL);
    snprintf(t->dir, sizeof t->dir, "%s", dir);
}

void test_inbound_destroy(struct test_inbound *t)
{
    pthread_cond_destroy(&t->cond);
    pthread_mutex_destroy(&t->lock);
}

static bool rx_wait(struct test_inbound *t, int timeout_s, const int *counter, int at_least)
{
    struct timespec deadline;
    clock_gettime(CLOCK_REALTIME, &deadline);
    deadline.tv_sec += timeout_s;
    pthread_mutex_lock(&t->lock);
    while (*counter < at_least && pthread_cond_timedwait(&t->cond, &t->lock, &deadline) != ETIMEDOUT)
        ;
    bool ok = *counter >= at_least;
    pthread_mutex_unlock(&t->lock);
    return ok;
}

bool test_inbound_wait_finished(struct test_inbound *t, int timeout_s)
{
    return rx_wait(t, timeout_s, &t->finished_count, 1);
}

bool test_inbound_wait_notice(struct test_inbound *t, int timeout_s)
{
    return rx_wait(t, timeout_s, &t->notices, 1);
}

bool test_inbound_wait_holding(struct test_inbound *t, int timeout_s)
{
    struct timespec deadline;
    clock_gettime(CLOCK_REALTIME, &deadline);
    deadline.tv_sec += timeout_s;
    pthread_mutex_lock(&t->lock);
    while (!t->holding && pthread_cond_timedwait(&t->cond, &t->lock, &deadline) != ETIMEDOUT)
        ;
    bool ok = t->holding;
    pthread_mutex_unlock(&t->lock);
    return ok;
}

void test_inbound_release(struct test_inbound *t)
{
    pthread_mutex_lock(&t->lock);
    t->released = true;
    pthread_cond_broadcast(&t->cond);
    pthread_mutex_unlock(&t->lock);
}

void test_inbound_page_path(const struct test_inbound *t, int n, char *out, size_t len)
{
    snprintf(out, len, "%s/page-%d.tif", t->dir, n);
}

int test_inbound_find(struct test_inbound *t, enum test_rx_kind kind, int page, const char *prefix)
{
    int found = -1;
    pthread_mutex_lock(&t->lock);
    for (int i = 0; i < t->nevents && found < 0; i++) {
        struct test_rx_event *e = &t->events[i];
        if (e->kind == kind && (page <= 0 || e->page == page)
            && (!prefix || strncmp(e->text, prefix, strlen(prefix)) == 0))
            found = i;
    }
    pthread_mutex_unlock(&t->lock);
    return found;
}

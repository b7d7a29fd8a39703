/*
 * modem_testlib.h - helpers of the modem tests: text-like fax pages,
 * decoded-pixel comparison, and a recorder of modem events that a test can
 * wait on (bounded, never a timing assertion). Page counts, sim files and
 * temp trees come from tests/lib/faxtest.h, included here.
 */
#ifndef FAXFS_TESTS_MODEM_TESTLIB_H
#define FAXFS_TESTS_MODEM_TESTLIB_H

#include <limits.h>
#include <pthread.h>
#include <stddef.h>
#include <stdbool.h>

#include "modem/modem.h"
#include "tests/lib/faxtest.h"

#define TEST_PAGE_WIDTH FAXTEST_WIDTH
#define TEST_MAX_EVENTS 256

/* Writes a 1-bit G4 page, 204x196 dpi, with text-like content that
 * differs per seed. Returns 0 or -1. */
int test_write_page(const char *path, int rows, unsigned seed);
/* 1 when every page of `received` (a multi-page TIFF) equals, pixel for
 * pixel, the single-page files sent[0..n-1]; 0 otherwise. */
int test_pages_match(const char *received, const char *const *sent, int n);

enum test_event_kind { EV_STATUS, EV_CONFIRMED, EV_FINISHED };

struct test_event {
    enum test_event_kind kind;
    char text[128];
    int pages;
};

struct test_recorder {
    pthread_mutex_t lock; /* protects everything below */
    pthread_cond_t cond;
    struct test_event events[TEST_MAX_EVENTS];
    int nevents;
    int finished_count;
    struct modem_result result;
    int log_lines;
};

extern const struct modem_events test_recorder_events;
void test_recorder_init(struct test_recorder *r);
void test_recorder_destroy(struct test_recorder *r);
/* Waits until finished() arrived (or timeout_s passes); returns true if it did. */
bool test_recorder_wait(struct test_recorder *r, int timeout_s);
/* Waits for a status event that starts with prefix. */
bool test_recorder_wait_status(struct test_recorder *r, const char *prefix, int timeout_s);

/* A fresh temp directory (mkdtemp) under /tmp; remove it with
 * faxtest_rmtree. */
char *test_tempdir(void);

/* Records inbound calls (struct modem_inbound_ops) and keeps a copy of
 * every page handed over, as dir/page-<n>.tif. */
#define TEST_MAX_RX_EVENTS 256

enum test_rx_kind { RX_BEGIN, RX_PAGE, RX_STATUS, RX_FINISHED };

struct test_rx_event {
    enum test_rx_kind kind;
    int page;
    char text[128];
};

struct test_inbound {
    pthread_mutex_t lock; /* protects everything below */
    pthread_cond_t cond;
    char dir[PATH_MAX - 32];
    bool refuse;          /* begin() refuses calls */
    int hold_at_page;     /* page() of this page waits for test_inbound_release */
    bool holding, released;
    int calls;            /* begin() calls */
    char caller_id[64], line[32], call_ref[64], channel[16];
    char called_number[64];
    int pages;
    int finished_count;
    struct modem_rx_result result;
    struct test_rx_event events[TEST_MAX_RX_EVENTS];
    int nevents;
    int notices;
    char last_notice[256];
    int log_lines;
    const char *watch_log; /* set by the test: keep the first log line starting so */
    char watched_log[256];
    char last_log[256];
};

extern const struct modem_inbound_ops test_inbound_ops;
void test_inbound_init(struct test_inbound *t, const char *dir);
void test_inbound_destroy(struct test_inbound *t);
bool test_inbound_wait_finished(struct test_inbound *t, int timeout_s);
bool test_inbound_wait_notice(struct test_inbound *t, int timeout_s);
bool test_inbound_wait_holding(struct test_inbound *t, int timeout_s);
void test_inbound_release(struct test_inbound *t);
/* Path of the copy of received page n (1-based). */
void test_inbound_page_path(const struct test_inbound *t, int n, char *out, size_t len);
/* Index of the first event of kind (and page, or status prefix), or -1. */
int test_inbound_find(struct test_inbound *t, enum test_rx_kind kind, int page, const char *prefix);

#endif

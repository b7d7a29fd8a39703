/*
 * modem_testlib.h - helpers of the modem tests: fax pages generated with
 * libtiff, decoded-pixel comparison, and a recorder of modem events that
 * a test can wait on (bounded, never a timing assertion).
 */
#ifndef FAXFS_TESTS_MODEM_TESTLIB_H
#define FAXFS_TESTS_MODEM_TESTLIB_H

#include <pthread.h>
#include <stdbool.h>

#include "modem/modem.h"

#define TEST_PAGE_WIDTH 1728
#define TEST_MAX_EVENTS 256

/* Writes a 1-bit G4 page, 204x196 dpi, with text-like content that
 * differs per seed. Returns 0 or -1. */
int test_write_page(const char *path, int rows, unsigned seed);
/* 1 when every page of `received` (a multi-page TIFF) equals, pixel for
 * pixel, the single-page files sent[0..n-1]; 0 otherwise. */
int test_pages_match(const char *received, const char *const *sent, int n);
/* Number of pages (directories) in a TIFF file; -1 if unreadable. */
int test_tiff_page_count(const char *path);

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

/* A fresh temp directory (mkdtemp) under /tmp; free with test_rmtree. */
char *test_tempdir(void);
void test_rmtree(const char *dir);
/* Path of the newest sim_dir/<number>/<seq>.tif, or "" if none. */
void test_latest_sim_file(const char *sim_dir, const char *number, char *out, size_t len);

#endif

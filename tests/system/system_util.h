/*
 * system_util.h - what the system tests add to tests/lib/faxtest.h: the
 * queue engine on real modems (one fixture for the sim and SIP tests, on
 * a fake clock) and page comparison that allows for the header rows a
 * receiver adds.
 */
#ifndef FAXFS_SYSTEM_UTIL_H
#define FAXFS_SYSTEM_UTIL_H

#include <stdint.h>

#include "daemon/wiring.h"
#include "tests/lib/faxtest.h"

/* The queue engine (no thread of its own, fake clock) wired to a modem pool. */
struct system_engine {
    char dir[256];   /* the test's directory, removed at the end */
    char sim[300];   /* dir/sim: where a sim line keeps the pages it received */
    int64_t now;     /* the fake clock */
    struct wiring w;
    struct queue *q; /* NULL while closed */
};

/* Makes a fresh directory from template (mkdtemp) and starts the clock at
 * 2027-01-15. 0 or -1. */
int system_engine_init(struct system_engine *e, const char *dir_template);
/* Opens a modem pool from mcfg (its scratch directory set to dir/modem-tmp)
 * and a queue engine on it: one call per destination, 3 attempts, no
 * retry jitter, as many modems as channels, the converter run as nobody.
 * 0 or -1 (with a line on stderr). */
int system_engine_open(struct system_engine *e, struct modem_pool_config *mcfg);
/* Stops the engine, destroys the pool and closes the queue. */
void system_engine_close(struct system_engine *e);
/* Closes what is open and removes the directory. */
void system_engine_cleanup(struct system_engine *e);
void system_engine_set_now(struct system_engine *e, int64_t t);
/* Writes doc (pages of rows rows) and submits it to number as the test's
 * user; fails the test with the queue's reason when refused. */
uint64_t system_submit(struct system_engine *e, const char *number, const char *doc, int pages, int rows);
/* One dispatch round, then a bounded wait (max_seconds) until the job is
 * not active; returns its snapshot. */
struct job system_attempt(struct system_engine *e, uint64_t id, int max_seconds);

/* 1 when page pa of a and page pb of b decode to the same pixels. The
 * receiver may show extra header rows on top: b may be taller than a by
 * up to 64 rows, and then a is compared against b's bottom rows. */
int system_tiff_page_pixels_equal(const char *a, int pa, const char *b, int pb);

#endif

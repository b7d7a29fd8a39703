/*
 * queue_testutil.h - shared fixtures of the queue tests: a fake clock, a
 * fake line that records calls, an engine over memory or a temp spool, and
 * fax TIFFs made on the fly.
 */
#ifndef FAXFS_TESTS_QUEUE_TESTUTIL_H
#define FAXFS_TESTS_QUEUE_TESTUTIL_H

#include <stdbool.h>
#include <stdint.h>

#include "queue/queue.h"

struct fake_clock {
    int64_t now;
};
int64_t fake_clock_now(void *ctx);

#define FAKE_LINE_MAX_CALLS 64
struct fake_call {
    uint64_t job_id;
    int channel;
    int line;
    char line_name[JOB_LINE_MAX];
    char number[JOB_NUMBER_MAX];
    int page_count;
    int first_page;
    int total_pages;
    int ecm, max_bit_rate, min_bit_rate; /* the call's modem settings */
    int nmore;                           /* batching: further jobs in the call */
    uint64_t more_ids[16];
    int more_pages[16];
};
struct fake_line {
    struct fake_call calls[FAKE_LINE_MAX_CALLS];
    int ncalls;
    int aborts[FAKE_LINE_MAX_CALLS]; /* channels aborted, in order */
    int naborts;
    int fail_start; /* start() returns -fail_start when set */
    /* When q is set, abort() reports the call finished with QF_ABORTED at
     * once, as a modem does. */
    struct queue *q;
    uint64_t on_channel[16];
    bool unusable[8]; /* lines that usable() says cannot take calls */
};
int fake_line_start(void *ctx, const struct queue_call *call);
bool fake_line_usable(void *ctx, int line, char *why, size_t len);
void fake_line_abort(void *ctx, int channel);

/* Jitter-free, single-threaded engine configuration over backend (NULL:
 * the file spool in spool_dir). */
void test_config(struct queue_config *cfg, struct fake_clock *clock, struct fake_line *line,
                 const struct queue_backend *backend, const char *spool_dir);

/* An engine on the fake clock and a fake line (jitter-free, single-threaded,
 * see test_config), over the in-memory backend or a file spool in a new
 * temporary directory. The clock starts at TEST_START. */
#define TEST_START 1790000000
struct queue_fixture {
    char dir[256];             /* the file spool, or "" over the in-memory backend */
    struct queue_backend *mem; /* the in-memory backend, or NULL */
    struct queue_backend *pg;  /* the PostgreSQL backend (cache in dir), or NULL */
    struct fake_clock clock;
    struct fake_line line;
    struct queue_config cfg;
    struct queue *q; /* NULL while a test keeps it closed */
};
/* Configured, not open yet: change f->cfg, then queue_fixture_open(). */
struct queue_fixture *queue_fixture_new(bool spool);
/* Opens f->q on f->cfg (asserts) and lets the fake line report aborts to it. */
void queue_fixture_open(struct queue_fixture *f);
/* Closes f->q if open and opens it again, as a restart of the daemon does. */
void queue_fixture_reopen(struct queue_fixture *f);
/* Closes the queue if open, removes its store, frees f. */
void queue_fixture_free(struct queue_fixture *f);
/* cmocka setup and teardown: *state is an open struct queue_fixture. */
int queue_fixture_setup_memory(void **state);
int queue_fixture_setup_spool(void **state);
int queue_fixture_teardown(void **state);

/* PostgreSQL (tests/lib/with_postgres.sh sets FAXFS_TEST_PG to a private
 * server's connection string): test_pg_conninfo() is it, or NULL when the
 * test runs without one. test_pg_reset() empties that database (drops
 * every table: the store migrates it again when opened). The fixture is
 * an engine over a fresh store there, its local cache in f->dir. */
const char *test_pg_conninfo(void);
void test_pg_reset(void);
struct queue_fixture *queue_fixture_new_pg(void);
int queue_fixture_setup_pg(void **state);

/* Event recorder for queue_subscribe. */
struct event_log {
    int count[QE_SERVER + 1];
    uint64_t last_id[QE_SERVER + 1];
};
void event_log_listener(void *ctx, enum queue_event ev, uint64_t id);

/* A fax TIFF in an anonymous file: pages of width x height at bps bits. */
struct tiff_spec {
    int pages;
    uint32_t width, height;
    int bps;
    float xres, yres; /* 0: no resolution tags */
    int spp;          /* samples per pixel; 0 means 1, 3 makes an RGB page */
};
int make_tiff(const struct tiff_spec *spec);
/* A good 1-page A4 fine document (1728 x 100 rows). */
int make_good_tiff(int pages);

/* mkdtemp under /tmp; remove_dir removes it recursively. */
void make_temp_dir(char *out, size_t len);
void remove_dir(const char *path);

/* Submits a good document to number as uid 1000; returns the id (asserts). */
uint64_t submit_simple(struct queue *q, const char *number, int pages);

/* threads x per_thread submissions of a good document of pages pages, to
 * numbers 5556TTJJJ, from threads threads started together; result[k] and
 * id[k] (k = thread * per_thread + j) get each one's return and id (0 when
 * it failed). Documents are made before the threads start. */
void submit_concurrently(struct queue *q, int threads, int per_thread, int pages, int *result, uint64_t *id);

extern const struct queue_caller test_owner;    /* uid 1000 */
extern const struct queue_caller test_stranger; /* uid 1001 */
extern const struct queue_caller test_root;     /* uid 0 */

/* A finished report with only failure, code and pages set. */
struct queue_call_result test_result(enum queue_failure f, const char *code, int pages_sent);

/* The document converter through its real sandbox (test_queue_sandbox*):
 * page files collected in memory files, small documents, the options. */
struct test_pages {
    int fds[16];
    int n;
};
/* A document_sink page function: ctx is a struct test_pages. */
int test_pages_sink(void *ctx, int index);
void test_pages_close(struct test_pages *p);
/* A memory file holding text, at offset end (the converter reads from 0). */
int test_text_doc(const char *text);
/* Fine resolution, the default size limit, Ghostscript at GS, 30 s. */
struct document_options test_doc_options(void);
/* The sandbox with converter (bwrap, the conversion user or nobody);
 * exits 77 (skipped) unless run as root with bubblewrap installed. */
struct sandbox_options;
void test_sandbox_options(struct sandbox_options *sb, const char *converter);

#endif

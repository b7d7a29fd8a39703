/*
 * queue_testutil.c - fixtures for the queue tests (see queue_testutil.h).
 */
#include "queue_testutil.h"

#include "queue/backend_mem.h"
#include "queue/backend_pg.h"
#include "queue/document.h"
#include "queue/sandbox.h"

#include <stdarg.h>
#include <stddef.h>
#include <setjmp.h>
#include <cmocka.h>

#include <fcntl.h>
#include <libpq-fe.h>
#include <ftw.h>
#include <pthread.h>
#include <pwd.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/mman.h>
#include <tiffio.h>
#include <unistd.h>

const struct queue_caller test_owner = {1000, 1000, NULL, 0};
const struct queue_caller test_stranger = {1001, 1001, NULL, 0};
const struct queue_caller test_root = {0, 0, NULL, 0};

int64_t fake_clock_now(void *ctx)
{
    return ((struct fake_clock *)ctx)->now;
}

int fake_line_start(void *ctx, const struct queue_call *call)
{
    struct fake_line *l = ctx;

    if (l->fail_start)
        return -l->fail_start;
    assert_true(l->ncalls < FAKE_LINE_MAX_CALLS);
    struct fake_call *c = &l->calls[l->ncalls++];
    c->job_id = call->job_id;
    c->channel = call->channel;
    c->line = call->line;
    snprintf(c->line_name, sizeof c->line_name, "%s", call->line_name ? call->line_name : "");
    snprintf(c->number, sizeof c->number, "%s", call->number);
    c->page_count = call->page_count;
    c->first_page = call->first_page;
    c->total_pages = call->total_pages;
    c->ecm = call->ecm;
    c->max_bit_rate = call->max_bit_rate;
    c->min_bit_rate = call->min_bit_rate;
    c->nmore = call->nmore;
    for (int d = 0; d < call->nmore && d < 16; d++) {
        c->more_ids[d] = call->more[d].job_id;
        c->more_pages[d] = call->more[d].page_count;
        for (int i = 0; i < call->more[d].page_count; i++) {
            int fd = open(call->more[d].page_paths[i], O_RDONLY);
            assert_true(fd >= 0);
            close(fd);
        }
    }
    if (call->channel >= 0 && call->channel < 16)
        l->on_channel[call->channel] = call->job_id;
    for (int i = 0; i < call->page_count; i++) {
        int fd = open(call->page_paths[i], O_RDONLY);
        assert_true(fd >= 0); /* every path handed to a modem opens */
        close(fd);
    }
    return 0;
}

bool fake_line_usable(void *ctx, int line, char *why, size_t len)
{
    struct fake_line *l = ctx;
    bool down = line >= 0 && line < 8 && l->unusable[line];
    snprintf(why, len, "%s", down ? "registration failed: 403 Forbidden" : "none");
    return !down;
}

void fake_line_abort(void *ctx, int channel)
{
    struct fake_line *l = ctx;

    if (l->naborts < FAKE_LINE_MAX_CALLS)
        l->aborts[l->naborts++] = channel;
    if (l->q != NULL && channel >= 0 && channel < 16 && l->on_channel[channel] != 0) {
        uint64_t id = l->on_channel[channel];
        struct queue_call_result r = test_result(QF_ABORTED, "aborted", -1);
        l->on_channel[channel] = 0;
        queue_call_finished(l->q, id, &r);
        /* a batched call's further jobs never had their turn */
        for (int i = l->ncalls - 1; i >= 0; i--)
            if (l->calls[i].job_id == id) {
                for (int d = 0; d < l->calls[i].nmore && d < 16; d++)
                    queue_call_not_sent(l->q, l->calls[i].more_ids[d], id);
                break;
            }
    }
}

static void quiet_log(int level, const char *msg)
{
    (void)level;
    if (getenv("FAXFS_TEST_VERBOSE"))
        fprintf(stderr, "log: %s\n", msg);
}

/* The engine's tests convert in process: the sandbox has tests of its own
 * (test_queue_sandbox.c, the mounted tests). */
static int in_process_convert(void *ctx, int fd, const struct document_options *opt, int first_index,
                              const struct document_sink *sink, struct document_result *res, char *why,
                              size_t whylen)
{
    (void)ctx;
    return document_split(fd, opt, first_index, sink, res, why, whylen);
}

const struct queue_converter test_in_process_converter = {in_process_convert, NULL};

void test_config(struct queue_config *cfg, struct fake_clock *clock, struct fake_line *line,
                 const struct queue_backend *backend, const char *spool_dir)
{
    memset(cfg, 0, sizeof *cfg);
    cfg->spool_dir = spool_dir;
    cfg->backend = backend;
    cfg->clock = (struct queue_clock){fake_clock_now, clock};
    if (line != NULL)
        cfg->line = (struct queue_line_ops){.start = fake_line_start, .abort = fake_line_abort,
                                            .usable = fake_line_usable, .ctx = line};
    cfg->modems = 2;
    cfg->per_destination_limit = 1;
    cfg->retry_jitter_percent = -1;
    cfg->admin_gid = (gid_t)-1;
    cfg->history_days = 30;
    cfg->no_thread = true;
    cfg->no_fsync = true;
    cfg->log = quiet_log;
    cfg->convert = &test_in_process_converter;
}

struct queue_fixture *queue_fixture_new(bool spool)
{
    struct queue_fixture *f = calloc(1, sizeof *f);

    assert_non_null(f);
    f->clock.now = TEST_START;
    if (spool)
        make_temp_dir(f->dir, sizeof f->dir);
    else
        assert_non_null(f->mem = backend_mem_create());
    test_config(&f->cfg, &f->clock, &f->line, f->mem, spool ? f->dir : NULL);
    return f;
}

void queue_fixture_open(struct queue_fixture *f)
{
    assert_int_equal(queue_open(&f->q, &f->cfg), 0);
    f->line.q = f->q;
}

void queue_fixture_reopen(struct queue_fixture *f)
{
    if (f->q != NULL)
        queue_close(f->q);
    f->q = NULL;
    queue_fixture_open(f);
}

void queue_fixture_free(struct queue_fixture *f)
{
    if (f->q != NULL)
        queue_close(f->q);
    if (f->mem != NULL)
        backend_mem_destroy(f->mem);
    if (f->pg != NULL)
        backend_pg_destroy(f->pg);
    if (f->dir[0] != '\0')
        remove_dir(f->dir);
    free(f);
}

static int setup_fixture(void **state, bool spool)
{
    struct queue_fixture *f = queue_fixture_new(spool);

    queue_fixture_open(f);
    *state = f;
    return 0;
}

int queue_fixture_setup_memory(void **state)
{
    return setup_fixture(state, false);
}

int queue_fixture_setup_spool(void **state)
{
    return setup_fixture(state, true);
}

const char *test_pg_conninfo(void)
{
    const char *c = getenv("FAXFS_TEST_PG");
    return c != NULL && c[0] != '\0' ? c : NULL;
}

void test_pg_reset(void)
{
    PGconn *c = PQconnectdb(test_pg_conninfo());
    assert_int_equal(PQstatus(c), CONNECTION_OK);
    PGresult *res = PQexec(c, "SET client_min_messages = warning; DROP SCHEMA public CASCADE; CREATE SCHEMA public");
    if (PQresultStatus(res) != PGRES_COMMAND_OK)
        fail_msg("resetting the test database: %s", PQresultErrorMessage(res));
    PQclear(res);
    PQfinish(c);
}

struct queue_fixture *queue_fixture_new_pg(void)
{
    struct queue_fixture *f = calloc(1, sizeof *f);

    assert_non_null(f);
    assert_non_null(test_pg_conninfo());
    test_pg_reset();
    f->clock.now = TEST_START;
    make_temp_dir(f->dir, sizeof f->dir);
    assert_non_null(f->pg = backend_pg_create(test_pg_conninfo(), "node-a"));
    test_config(&f->cfg, &f->clock, &f->line, f->pg, f->dir);
    return f;
}

int queue_fixture_setup_pg(void **state)
{
    struct queue_fixture *f = queue_fixture_new_pg();

    queue_fixture_open(f);
    *state = f;
    return 0;
}

int queue_fixture_teardown(void **state)
{
    queue_fixture_free(*state);
    return 0;
}

void event_log_listener(void *ctx, enum queue_event ev, uint64_t id)
{
    struct event_log *el = ctx;

    el->count[ev]++;
    el->last_id[ev] = id;
}

static int quiet_tiff(TIFF *tif, void *user, const char *module, const char *fmt, va_list ap)
{
    (void)tif, (void)user, (void)module, (void)fmt, (void)ap;
    return 1;
}

int make_tiff(const struct tiff_spec *spec)
{
    int fd = memfd_create("doc", 0);
    assert_true(fd >= 0);
    TIFFOpenOptions *opts = TIFFOpenOptionsAlloc();
    TIFFOpenOptionsSetErrorHandlerExtR(opts, quiet_tiff, NULL);
    TIFFOpenOptionsSetWarningHandlerExtR(opts, quiet_tiff, NULL);
    TIFF *tif = TIFFFdOpenExt(dup(fd), "doc", "w", opts);
    TIFFOpenOptionsFree(opts);
    assert_non_null(tif);
    int spp = spec->spp > 0 ? spec->spp : 1;
    size_t rowbytes = ((size_t)spec->width * (size_t)spec->bps * (size_t)spp + 7) / 8;
    unsigned char *row = calloc(1, rowbytes);
    for (int p = 0; p < spec->pages; p++) {
        TIFFSetField(tif, TIFFTAG_IMAGEWIDTH, spec->width);
        TIFFSetField(tif, TIFFTAG_IMAGELENGTH, spec->height);
        TIFFSetField(tif, TIFFTAG_BITSPERSAMPLE, spec->bps);
        TIFFSetField(tif, TIFFTAG_SAMPLESPERPIXEL, spp);
        TIFFSetField(tif, TIFFTAG_COMPRESSION,
                     spec->bps == 1 && spp == 1 ? COMPRESSION_CCITTFAX3 : COMPRESSION_NONE);
        TIFFSetField(tif, TIFFTAG_PHOTOMETRIC, spp == 3 ? PHOTOMETRIC_RGB : PHOTOMETRIC_MINISWHITE);
        TIFFSetField(tif, TIFFTAG_ROWSPERSTRIP, spec->height);
        TIFFSetField(tif, TIFFTAG_PLANARCONFIG, PLANARCONFIG_CONTIG);
        TIFFSetField(tif, TIFFTAG_SUBFILETYPE, FILETYPE_PAGE);
        TIFFSetField(tif, TIFFTAG_PAGENUMBER, p, spec->pages);
        if (spec->xres > 0) {
            TIFFSetField(tif, TIFFTAG_XRESOLUTION, spec->xres);
            TIFFSetField(tif, TIFFTAG_YRESOLUTION, spec->yres);
            TIFFSetField(tif, TIFFTAG_RESOLUTIONUNIT, RESUNIT_INCH);
        }
        for (uint32_t y = 0; y < spec->height; y++) {
            memset(row, (y % 16) < 8 ? 0xf0 : 0x00, rowbytes); /* something to encode */
            assert_true(TIFFWriteScanline(tif, row, y, 0) >= 0);
        }
        assert_true(TIFFWriteDirectory(tif));
    }
    TIFFClose(tif);
    free(row);
    lseek(fd, 0, SEEK_SET);
    return fd;
}

int make_good_tiff(int pages)
{
    struct tiff_spec spec = {pages, 1728, 100, 1, 204.0f, 196.0f, 1};
    return make_tiff(&spec);
}

void make_temp_dir(char *out, size_t len)
{
    snprintf(out, len, "/tmp/faxfs-queue-test.XXXXXX");
    assert_non_null(mkdtemp(out));
}

static int remove_entry(const char *path, const struct stat *st, int flag, struct FTW *ftw)
{
    (void)st, (void)flag, (void)ftw;
    return remove(path);
}

void remove_dir(const char *path)
{
    nftw(path, remove_entry, 16, FTW_DEPTH | FTW_PHYS);
}

uint64_t submit_simple(struct queue *q, const char *number, int pages)
{
    struct queue_request req;
    char why[256] = "";
    uint64_t id = 0;
    int fd = make_good_tiff(pages);

    memset(&req, 0, sizeof req);
    snprintf(req.recipient_number, sizeof req.recipient_number, "%s", number);
    int r = queue_submit(q, &test_owner, &req, &fd, 1, &id, why, sizeof why);
    if (r != 0)
        fail_msg("submit failed: %d %s", r, why);
    close(fd);
    return id;
}

struct queue_call_result test_result(enum queue_failure f, const char *code, int pages_sent)
{
    struct queue_call_result r = {
        .failure = f, .code = code, .text = code[0] ? code : "ok", .pages_sent = pages_sent,
        .bit_rate = -1, .ecm = -1, .compression = "", .remote_id = "", .duration = -1,
    };
    return r;
}

struct submitter {
    struct queue *q;
    pthread_barrier_t *start;
    int thread, n;
    const int *fds;
    int *result;
    uint64_t *id;
};

/* No cmocka asserts here: they must not run off the main thread. */
static void *submitter_run(void *arg)
{
    struct submitter *s = arg;
    char why[256];

    pthread_barrier_wait(s->start);
    for (int j = 0; j < s->n; j++) {
        struct queue_request req = {0};
        snprintf(req.recipient_number, sizeof req.recipient_number, "5556%02d%03d", s->thread, j);
        s->id[j] = 0;
        s->result[j] = queue_submit(s->q, &test_owner, &req, &s->fds[j], 1, &s->id[j], why, sizeof why);
        if (s->result[j] != 0)
            s->id[j] = 0;
    }
    return NULL;
}

void submit_concurrently(struct queue *q, int threads, int per_thread, int pages, int *result, uint64_t *id)
{
    size_t n = (size_t)threads * (size_t)per_thread;
    int *fds = calloc(n, sizeof *fds);
    struct submitter *s = calloc((size_t)threads, sizeof *s);
    pthread_t *tid = calloc((size_t)threads, sizeof *tid);
    pthread_barrier_t start;

    assert_true(fds != NULL && s != NULL && tid != NULL);
    for (size_t k = 0; k < n; k++)
        fds[k] = make_good_tiff(pages);
    assert_int_equal(pthread_barrier_init(&start, NULL, (unsigned)threads), 0);
    for (int t = 0; t < threads; t++) {
        s[t] = (struct submitter){q, &start, t, per_thread, &fds[t * per_thread], &result[t * per_thread],
                                  &id[t * per_thread]};
        assert_int_equal(pthread_create(&tid[t], NULL, submitter_run, &s[t]), 0);
    }
    for (int t = 0; t < threads; t++)
        pthread_join(tid[t], NULL);
    pthread_barrier_destroy(&start);
    for (size_t k = 0; k < n; k++)
        close(fds[k]);
    free(fds);
    free(s);
    free(tid);
}

int test_pages_sink(void *ctx, int index)
{
    struct test_pages *p = ctx;
    (void)index;
    assert_true(p->n < 16);
    int fd = memfd_create("page", 0);
    p->fds[p->n++] = fd;
    return dup(fd);
}

void test_pages_close(struct test_pages *p)
{
    for (int i = 0; i < p->n; i++)
        close(p->fds[i]);
    p->n = 0;
}

int test_text_doc(const char *text)
{
    int fd = memfd_create("doc", 0);
    assert_int_equal(write(fd, text, strlen(text)), (ssize_t)strlen(text));
    return fd;
}

struct document_options test_doc_options(void)
{
    return (struct document_options){.max_bytes = QUEUE_DEFAULT_MAX_DOCUMENT_BYTES,
                                     .resolution = JOB_RES_FINE,
                                     .ghostscript = "/usr/bin/gs",
                                     .render_seconds = 30};
}

void test_sandbox_options(struct sandbox_options *sb, const char *converter)
{
    if (geteuid() != 0 || access(SANDBOX_DEFAULT_BWRAP, X_OK) != 0) {
        fprintf(stderr, "SKIP: needs root and bubblewrap\n");
        exit(77);
    }
    struct passwd *pw = getpwnam(SANDBOX_DEFAULT_USER);
    if (pw == NULL)
        pw = getpwnam("nobody");
    assert_non_null(pw);
    *sb = (struct sandbox_options){converter, SANDBOX_DEFAULT_BWRAP, pw->pw_uid, pw->pw_gid};
}

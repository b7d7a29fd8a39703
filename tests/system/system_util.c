/*
 * system_util.c - see system_util.h.
 */
#include "tests/system/system_util.h"

#include <fcntl.h>
#include <setjmp.h>
#include <stdarg.h>
#include <stddef.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/stat.h>
#include <unistd.h>

#include <cmocka.h>

static int64_t system_fake_now(void *ctx)
{
    return __atomic_load_n((int64_t *)ctx, __ATOMIC_SEQ_CST);
}

static void system_quiet_log(int level, const char *msg)
{
    (void)level;
    (void)msg;
}

int system_engine_init(struct system_engine *e, const char *dir_template)
{
    memset(e, 0, sizeof *e);
    snprintf(e->dir, sizeof e->dir, "%s", dir_template);
    if (!mkdtemp(e->dir))
        return -1;
    snprintf(e->sim, sizeof e->sim, "%s/sim", e->dir);
    e->now = 1800000000; /* 2027-01-15 */
    return 0;
}

int system_engine_open(struct system_engine *e, struct modem_pool_config *mcfg)
{
    char scratch[300], spool[300], err[256] = "";
    snprintf(scratch, sizeof scratch, "%s/modem-tmp", e->dir);
    snprintf(spool, sizeof spool, "%s/spool", e->dir);
    mkdir(scratch, 0700);
    mcfg->scratch_dir = scratch;
    if (modem_pool_create(&e->w.pool, mcfg, err, sizeof err) < 0) {
        fprintf(stderr, "modem pool: %s\n", err);
        return -1;
    }
    struct queue_config qcfg = {
        .spool_dir = spool, .clock = {.now = system_fake_now, .ctx = &e->now}, .line = wiring_line_ops(&e->w),
        .modems = mcfg->channels, .per_destination_limit = 1, .retry_jitter_percent = -1, .max_attempts = 3,
        .no_thread = true, .log = system_quiet_log,
        .converter = FAXFS_CONVERTER, .convert_uid = 65534, .convert_gid = 65534, /* nobody */
    };
    if (queue_open(&e->w.q, &qcfg) < 0)
        return -1;
    e->q = e->w.q;
    return 0;
}

void system_engine_close(struct system_engine *e)
{
    queue_stop(e->q);
    modem_pool_destroy(e->w.pool);
    queue_close(e->q);
    e->q = NULL;
}

void system_engine_cleanup(struct system_engine *e)
{
    if (e->q)
        system_engine_close(e);
    faxtest_rmtree(e->dir);
}

void system_engine_set_now(struct system_engine *e, int64_t t)
{
    __atomic_store_n(&e->now, t, __ATOMIC_SEQ_CST);
}

uint64_t system_submit(struct system_engine *e, const char *number, const char *doc, int pages, int rows)
{
    assert_int_equal(faxtest_write(doc, pages, rows), 0);
    int fd = open(doc, O_RDONLY);
    assert_true(fd >= 0);
    struct queue_request req = {0};
    snprintf(req.recipient_number, sizeof req.recipient_number, "%s", number);
    struct queue_caller me = {.uid = getuid(), .gid = getgid()};
    uint64_t id = 0;
    char why[256] = "";
    int rc = queue_submit(e->q, &me, &req, &fd, 1, &id, why, sizeof why);
    close(fd);
    if (rc < 0)
        fail_msg("submit to %s refused: %s", number, why);
    return id;
}

struct job system_attempt(struct system_engine *e, uint64_t id, int max_seconds)
{
    struct job j;
    assert_int_equal(queue_run_once(e->q), 1);
    for (int i = 0; i < max_seconds * 1000; i++) {
        assert_int_equal(queue_snapshot(e->q, id, &j), 0);
        if (j.status != JOB_ACTIVE)
            return j;
        usleep(1000);
    }
    fail_msg("job %llu still active after %d s", (unsigned long long)id, max_seconds);
    return j;
}

int system_tiff_page_pixels_equal(const char *a, int pa, const char *b, int pb)
{
    uint32_t wa = 0, ha = 0, wb = 0, hb = 0;
    uint8_t *A = faxtest_load_page(a, pa, &wa, &ha);
    uint8_t *B = faxtest_load_page(b, pb, &wb, &hb);
    int same = 0;
    if (A && B && wa == wb && hb >= ha && hb - ha <= 64) {
        size_t stride = wa / 8;
        same = memcmp(A, B + (hb - ha) * stride, ha * stride) == 0;
        if (!same)
            fprintf(stderr, "pixels differ: %s page %d vs %s page %d\n", a, pa, b, pb);
    } else {
        fprintf(stderr, "page shapes differ: %ux%u vs %ux%u\n", wa, ha, wb, hb);
    }
    free(A);
    free(B);
    return same;
}

/*
 * test_queue_pg.c - the PostgreSQL store against a real server (run by
 * tests/lib/with_postgres.sh, which sets FAXFS_TEST_PG): what survives a
 * restart, ids never reused, broadcasts in one transaction, received pages
 * kept after a crash, damaged rows set aside, the PDF cache, a second node
 * under a name already running refused, passwords refused in connection strings, the schema's version,
 * the check, and copies between a file spool and the database with ids
 * kept and pages byte-identical.
 */
#include <stdarg.h>
#include <stddef.h>
#include <setjmp.h>
#include <cmocka.h>

#include <errno.h>
#include <fcntl.h>
#include <libpq-fe.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/mman.h>
#include <sys/stat.h>
#include <unistd.h>

#include "queue/backend_pg.h"
#include "queue/jobfile.h"
#include "queue/pg_migrate.h"
#include "queue/store_copy.h"
#include "queue_testutil.h"

/* ---- helpers -------------------------------------------------------- */

static char *sql_value(const char *sql)
{
    PGconn *c = PQconnectdb(test_pg_conninfo());
    assert_int_equal(PQstatus(c), CONNECTION_OK);
    PGresult *res = PQexec(c, sql);
    ExecStatusType st = PQresultStatus(res);
    if (st != PGRES_TUPLES_OK && st != PGRES_COMMAND_OK)
        fail_msg("%s: %s", sql, PQresultErrorMessage(res));
    char *v = st == PGRES_TUPLES_OK && PQntuples(res) > 0 ? strdup(PQgetvalue(res, 0, 0)) : strdup("");
    PQclear(res);
    PQfinish(c);
    return v;
}

static long long sql_int(const char *sql)
{
    char *v = sql_value(sql);
    long long n = atoll(v);
    free(v);
    return n;
}

static char *read_fd_all(int fd, size_t *len)
{
    size_t cap = 1 << 16;
    char *buf = malloc(cap);
    *len = 0;
    assert_non_null(buf);
    for (ssize_t n; (n = pread(fd, buf + *len, cap - *len, (off_t)*len)) > 0;) {
        *len += (size_t)n;
        if (*len == cap)
            assert_non_null(buf = realloc(buf, cap *= 2));
    }
    return buf;
}

static char *read_path(const char *path, size_t *len)
{
    int fd = open(path, O_RDONLY);
    assert_true(fd >= 0);
    char *b = read_fd_all(fd, len);
    close(fd);
    return b;
}

static char *page_bytes(struct queue *q, uint64_t id, int page, size_t *len)
{
    int fd = queue_open_page(q, id, page);
    assert_true(fd >= 0);
    char *b = read_fd_all(fd, len);
    close(fd);
    return b;
}

static void quiet(void *ctx, int level, const char *msg)
{
    (void)ctx;
    (void)level;
    (void)msg;
}

/* A bare backend (no engine) on the test database, emptied first. */
struct bare {
    char dir[256];
    struct queue_backend *be;
    void *s;
};

static int bare_setup(void **state)
{
    struct bare *b = calloc(1, sizeof *b);
    struct queue_backend_env env = {.log = quiet, .no_fsync = true};

    assert_non_null(b);
    test_pg_reset();
    make_temp_dir(b->dir, sizeof b->dir);
    assert_non_null(b->be = backend_pg_create(test_pg_conninfo(), "node-a"));
    assert_int_equal(b->be->open(&b->s, b->be->ctx, b->dir, &env), 0);
    *state = b;
    return 0;
}

static void bare_reopen(struct bare *b)
{
    struct queue_backend_env env = {.log = quiet, .no_fsync = true};
    b->be->close(b->s);
    assert_int_equal(b->be->open(&b->s, b->be->ctx, b->dir, &env), 0);
}

static int bare_teardown(void **state)
{
    struct bare *b = *state;
    b->be->close(b->s);
    backend_pg_destroy(b->be);
    remove_dir(b->dir);
    free(b);
    return 0;
}

static struct job new_job(uint64_t id, enum job_type type, int pages)
{
    struct job j;
    job_init(&j);
    j.id = id;
    j.type = type;
    j.status = type == JOB_RECEIVE ? JOB_RECEIVING : JOB_QUEUED;
    j.owner_uid = 1000;
    j.owner_gid = 1000;
    snprintf(j.recipient_number, sizeof j.recipient_number, "5551234");
    j.submitted = j.changed = TEST_START;
    j.page_count = pages;
    j.size = (uint64_t)pages * 5;
    return j;
}

static void stage_text_page(const struct queue_backend *be, struct queue_stage *st, int index, const char *text)
{
    int fd = be->stage_page(st, index);
    assert_true(fd >= 0);
    assert_int_equal(write(fd, text, strlen(text)), (ssize_t)strlen(text));
    close(fd);
}

struct collected {
    struct job jobs[16];
    int n;
};

static int collect(void *arg, const struct job *job)
{
    struct collected *c = arg;
    if (c->n < 16)
        c->jobs[c->n++] = *job;
    return 0;
}

/* ---- through the engine --------------------------------------------- */

static void test_a_job_its_pages_and_log_survive_a_restart(void **state)
{
    struct queue_fixture *f = *state;
    uint64_t id = submit_simple(f->q, "5551234", 2);
    size_t len0, len1;
    char *p0 = page_bytes(f->q, id, 0, &len0), *p1 = page_bytes(f->q, id, 1, &len1);

    queue_call_log(f->q, id, "a line before the restart");
    queue_fixture_reopen(f); /* the local cache is emptied: pages come from the database */
    struct job j;
    assert_int_equal(queue_snapshot(f->q, id, &j), 0);
    assert_int_equal(j.status, JOB_QUEUED);
    assert_int_equal(j.page_count, 2);
    size_t l0, l1;
    char *q0 = page_bytes(f->q, id, 0, &l0), *q1 = page_bytes(f->q, id, 1, &l1);
    assert_int_equal(l0, len0);
    assert_int_equal(l1, len1);
    assert_memory_equal(q0, p0, len0);
    assert_memory_equal(q1, p1, len1);
    int fd = queue_open_log(f->q, id);
    assert_true(fd >= 0);
    size_t ll;
    char *log = read_fd_all(fd, &ll);
    close(fd);
    log = realloc(log, ll + 1);
    log[ll] = '\0';
    assert_non_null(strstr(log, "submitted by uid 1000"));
    assert_non_null(strstr(log, "a line before the restart"));
    free(log);
    free(p0);
    free(p1);
    free(q0);
    free(q1);
}

static void test_a_job_being_called_names_the_node(void **state)
{
    struct queue_fixture *f = *state;
    uint64_t id = submit_simple(f->q, "5551234", 1);
    char sql[128];

    snprintf(sql, sizeof sql, "SELECT coalesce(node, '-') || ' ' || status FROM jobs WHERE id = %llu",
             (unsigned long long)id);
    char *v = sql_value(sql);
    assert_string_equal(v, "- queued");
    free(v);
    assert_int_equal(queue_run_once(f->q), 1);
    v = sql_value(sql);
    assert_string_equal(v, "node-a active");
    free(v);
    struct queue_call_result r = test_result(QF_NONE, "", 1);
    queue_call_finished(f->q, id, &r);
    v = sql_value(sql);
    assert_string_equal(v, "- done");
    free(v);
}

static void sql_do(const char *fmt, unsigned long long id)
{
    char sql[256];
    snprintf(sql, sizeof sql, fmt, id);
    free(sql_value(sql));
}

static char *lease_of(uint64_t id)
{
    char sql[200];
    snprintf(sql, sizeof sql,
             "SELECT coalesce(node, '-') || ' ' || CASE WHEN lease_until IS NULL THEN 'none' WHEN lease_until > now() "
             "THEN 'runs' ELSE 'over' END || ' ' || status FROM jobs WHERE id = %llu",
             (unsigned long long)id);
    return sql_value(sql);
}

static void assert_lease(uint64_t id, const char *want)
{
    char *v = lease_of(id);
    assert_string_equal(v, want);
    free(v);
}

/* Another node's lease (written as that node would) keeps the job off
 * this node's lines until it runs out; then this node takes the job, and
 * storing the call's result gives the lease up. */
static void test_a_job_leased_by_another_node_is_dialed_only_after_its_lease_runs_out(void **state)
{
    struct queue_fixture *f = *state;
    uint64_t id = submit_simple(f->q, "5551234", 1);
    struct job j;

    assert_lease(id, "- none queued");
    sql_do("UPDATE jobs SET node = 'node-b', lease_until = now() + interval '1 hour' WHERE id = %llu",
           (unsigned long long)id);
    assert_int_equal(queue_run_once(f->q), 0);
    assert_int_equal(queue_snapshot(f->q, id, &j), 0);
    assert_int_equal(j.status, JOB_QUEUED);
    assert_int_equal(j.attempts, 0);
    assert_lease(id, "node-b runs queued");

    /* not asked again until the row changes (or a while passes) */
    assert_int_equal(queue_run_once(f->q), 0);
    /* node-b died: its lease runs out (a change this node catches up on) */
    sql_do("UPDATE jobs SET lease_until = now() - interval '1 second' WHERE id = %llu", (unsigned long long)id);
    assert_true(queue_catch_up(f->q) >= 0);
    assert_int_equal(queue_run_once(f->q), 1);
    assert_lease(id, "node-a runs active");
    struct queue_call_result r = test_result(QF_NONE, "", 1);
    queue_call_finished(f->q, id, &r);
    assert_lease(id, "- none done");
}

/* Node B called the job, had 2 of its 3 pages confirmed (stored, as each
 * confirmed page is), and died; when its lease runs out this node takes
 * the job and sends only the page left, though its own copy says none was
 * sent. */
/* Writes job id as node B left it when it died: pages_sent confirmed, its
 * lease run out. */
static void left_by_dead_node(struct queue *q, uint64_t id, int pages_sent)
{
    struct job j;
    char *text;

    assert_int_equal(queue_snapshot(q, id, &j), 0);
    j.pages_sent = pages_sent;
    j.attempts = 1;
    assert_true(jobfile_format(&j, &text) > 0);
    char ids[24];
    snprintf(ids, sizeof ids, "%llu", (unsigned long long)id);
    const char *v[] = {ids, text};
    PGconn *c = PQconnectdb(test_pg_conninfo());
    assert_int_equal(PQstatus(c), CONNECTION_OK);
    PGresult *res = PQexecParams(c,
                                 "UPDATE jobs SET job_text = $2, status = 'active', node = 'node-b', "
                                 "lease_until = now() - interval '1 second' WHERE id = $1",
                                 2, NULL, v, NULL, NULL, 0);
    assert_int_equal(PQresultStatus(res), PGRES_COMMAND_OK);
    assert_string_equal(PQcmdTuples(res), "1");
    PQclear(res);
    PQfinish(c);
    free(text);
}

static void test_a_job_taken_over_resumes_after_the_pages_the_store_confirmed(void **state)
{
    struct queue_fixture *f = *state;
    uint64_t id = submit_simple(f->q, "5551234", 3);
    struct job j;

    left_by_dead_node(f->q, id, 2);
    assert_int_equal(queue_run_once(f->q), 1);
    assert_int_equal(f->line.ncalls, 1);
    assert_int_equal(f->line.calls[0].first_page, 2);
    assert_int_equal(f->line.calls[0].page_count, 1);
    assert_int_equal(queue_snapshot(f->q, id, &j), 0);
    assert_int_equal(j.pages_sent, 2);
    assert_int_equal(j.attempts, 2);
    assert_lease(id, "node-a runs active");
}

/* The same for a job that rides in another job's call (batching). */
static void test_a_batched_job_taken_over_resumes_after_the_pages_the_store_confirmed(void **state)
{
    struct queue_fixture *f = *state;

    f->cfg.batch_max = 4;
    f->cfg.per_destination_limit = 0;
    queue_fixture_reopen(f);
    assert_int_equal(queue_set_paused(f->q, true), 0); /* both due in the same round */
    uint64_t a = submit_simple(f->q, "5551234", 2);
    uint64_t b = submit_simple(f->q, "5551234", 2);
    left_by_dead_node(f->q, b, 1);
    assert_int_equal(queue_set_paused(f->q, false), 0);
    assert_int_equal(queue_run_once(f->q), 1);
    assert_int_equal(f->line.ncalls, 1);
    assert_int_equal(f->line.calls[0].job_id, a);
    assert_int_equal(f->line.calls[0].nmore, 1);
    assert_int_equal(f->line.calls[0].more_ids[0], b);
    assert_int_equal(f->line.calls[0].more_pages[0], 1);
    assert_lease(b, "node-a runs active");
}

static void test_ids_are_never_handed_out_again_after_a_delete_and_restart(void **state)
{
    struct queue_fixture *f = *state;
    uint64_t a = submit_simple(f->q, "5551234", 1);
    uint64_t b = submit_simple(f->q, "5551234", 1);
    char why[200];

    assert_int_equal(b, a + 1);
    assert_int_equal(queue_control(f->q, &test_owner, b, QOP_CANCEL, why, sizeof why), 0);
    assert_int_equal(queue_delete(f->q, &test_owner, b, why, sizeof why), 0);
    queue_fixture_reopen(f);
    assert_int_equal(submit_simple(f->q, "5551234", 1), b + 1);
}

/* Several nodes share the database, each under its own name: a second
 * daemon under a name already running is refused; under another name it
 * opens, and the two hand out distinct ids. */
static void test_a_second_node_under_the_same_name_is_refused(void **state)
{
    struct queue_fixture *f = *state;
    struct queue_fixture *g = queue_fixture_new(true); /* config only: swap in a second store */
    struct queue_backend *same = backend_pg_create(test_pg_conninfo(), "node-a");
    struct queue_backend *other = backend_pg_create(test_pg_conninfo(), "node-b");
    struct queue *q2 = NULL;

    g->cfg.backend = same;
    assert_int_equal(queue_open(&q2, &g->cfg), -EBUSY);
    assert_null(q2);
    g->cfg.backend = other;
    assert_int_equal(queue_open(&q2, &g->cfg), 0);
    uint64_t a = submit_simple(f->q, "5551234", 1), b = submit_simple(q2, "5551234", 1);
    uint64_t c = submit_simple(f->q, "5551234", 1);
    assert_true(a != b && b != c && a != c);
    queue_close(q2);
    queue_fixture_free(g);
    backend_pg_destroy(same);
    backend_pg_destroy(other);
}

/* ---- several nodes: two engines on one database --------------------- */

/* A second engine, node-b, on the same database: its own cache directory,
 * fake clock and fake line. */
static struct queue_fixture *second_node(struct queue_backend **be)
{
    struct queue_fixture *g = queue_fixture_new(true);
    assert_non_null(*be = backend_pg_create(test_pg_conninfo(), "node-b"));
    g->cfg.backend = *be;
    queue_fixture_open(g);
    return g;
}

/* Reports every call of f's line not yet reported as a success. */
static void finish_calls(struct queue_fixture *f, int *reported, int *calls_of, uint64_t first, size_t n)
{
    for (; *reported < f->line.ncalls; (*reported)++) {
        const struct fake_call *c = &f->line.calls[*reported];
        assert_true(c->job_id >= first && c->job_id < first + n);
        calls_of[c->job_id - first]++;
        struct queue_call_result r = test_result(QF_NONE, "", c->total_pages);
        queue_call_finished(f->q, c->job_id, &r);
    }
}

/* 50 jobs submitted on two nodes (25 each), both nodes seeing all of them
 * and dispatching in turns: every job is called exactly once, by one node
 * or the other, and both end up showing all of them done. */
static void test_jobs_submitted_on_two_nodes_are_each_sent_exactly_once(void **state)
{
    struct queue_fixture *a = *state;
    struct queue_backend *be;
    struct queue_fixture *b = second_node(&be);
    enum { N = 50 };
    uint64_t ids[N];
    int calls_of[N] = {0}, ra = 0, rb = 0;

    for (int i = 0; i < N; i++) {
        char number[16];
        snprintf(number, sizeof number, "55510%02d", i);
        ids[i] = submit_simple(i % 2 ? b->q : a->q, number, 1);
    }
    uint64_t first = ids[0];
    for (int i = 0; i < N; i++)
        assert_true(ids[i] >= first && ids[i] < first + 2 * N);
    /* both see all 50 queued before either dials */
    assert_true(queue_catch_up(a->q) >= N / 2);
    assert_true(queue_catch_up(b->q) >= N / 2);
    for (int i = 0; i < N; i++) {
        struct job j;
        assert_int_equal(queue_snapshot(a->q, ids[i], &j), 0);
        assert_int_equal(queue_snapshot(b->q, ids[i], &j), 0);
    }
    for (int round = 0; round < 200 && ra + rb < N; round++) {
        struct queue_fixture *x = round % 2 ? b : a;
        int *rx = round % 2 ? &rb : &ra;
        queue_catch_up(x->q);
        queue_run_once(x->q);
        finish_calls(x, rx, calls_of, first, 2 * N);
    }
    assert_int_equal(ra + rb, N);
    assert_true(ra > 0 && rb > 0); /* both nodes took part */
    for (int i = 0; i < N; i++)
        assert_int_equal(calls_of[ids[i] - first], 1);
    assert_int_equal(sql_int("SELECT count(*) FROM jobs WHERE status = 'done' AND node IS NULL"), N);
    queue_catch_up(a->q);
    queue_catch_up(b->q);
    for (int i = 0; i < N; i++) {
        struct job ja, jb;
        assert_int_equal(queue_snapshot(a->q, ids[i], &ja), 0);
        assert_int_equal(queue_snapshot(b->q, ids[i], &jb), 0);
        assert_int_equal(ja.status, JOB_DONE);
        assert_int_equal(jb.status, JOB_DONE);
    }
    print_message("two nodes: %d calls on node-a, %d on node-b, %d jobs\n", ra, rb, N);
    queue_fixture_free(b);
    backend_pg_destroy(be);
}

/* A job node-a is calling shows node-a as its node on node-b; canceled
 * (or paused) on node-b, node-a aborts the call and both show the job
 * canceled; a deletion on node-b reaches node-a. */
static void test_a_cancel_on_another_node_aborts_the_call(void **state)
{
    struct queue_fixture *a = *state;
    struct queue_backend *be;
    struct queue_fixture *b = second_node(&be);
    char why[256];
    struct job j;

    uint64_t id = submit_simple(a->q, "5551234", 2), other = submit_simple(a->q, "5559876", 1);
    assert_int_equal(queue_run_once(a->q), 2);
    assert_true(queue_catch_up(b->q) >= 2);
    assert_int_equal(queue_snapshot(b->q, id, &j), 0);
    assert_int_equal(j.status, JOB_ACTIVE);
    assert_string_equal(j.node, "node-a");
    assert_int_equal(queue_run_once(b->q), 0); /* node-a's: not dialed here */
    assert_int_equal(b->line.ncalls, 0);
    /* the calls in progress by node, as each node shows them */
    struct queue_summary sb, sa;
    queue_summarize(b->q, &sb);
    assert_string_equal(sb.node, "node-b");
    assert_true(sb.several);
    assert_int_equal(sb.nnodes, 2);
    assert_string_equal(sb.nodes[0].name, "node-b");
    assert_int_equal(sb.nodes[0].calls, 0);
    assert_string_equal(sb.nodes[1].name, "node-a");
    assert_int_equal(sb.nodes[1].calls, 2);
    queue_summarize(a->q, &sa);
    assert_int_equal(sa.nnodes, 1);
    assert_string_equal(sa.nodes[0].name, "node-a");
    assert_int_equal(sa.nodes[0].calls, 2);

    assert_int_equal(queue_control(b->q, &test_owner, id, QOP_CANCEL, why, sizeof why), 0);
    assert_int_equal(queue_control(b->q, &test_owner, other, QOP_PAUSE, why, sizeof why), 0);
    assert_int_equal(a->line.naborts, 0);
    assert_true(queue_catch_up(a->q) >= 2);
    assert_int_equal(a->line.naborts, 2); /* the fake line reports each abort at once */
    assert_int_equal(queue_snapshot(a->q, id, &j), 0);
    assert_int_equal(j.status, JOB_CANCELED);
    assert_string_equal(j.node, "");
    assert_int_equal(queue_snapshot(a->q, other, &j), 0);
    assert_int_equal(j.status, JOB_PAUSED);
    assert_true(queue_catch_up(b->q) >= 2);
    assert_int_equal(queue_snapshot(b->q, id, &j), 0);
    assert_int_equal(j.status, JOB_CANCELED);
    assert_int_equal(queue_snapshot(b->q, other, &j), 0);
    assert_int_equal(j.status, JOB_PAUSED);
    assert_int_equal(sql_int("SELECT count(*) FROM jobs WHERE stop_request IS NOT NULL OR node IS NOT NULL"), 0);

    /* deleted on node-b: gone on node-a too */
    assert_int_equal(queue_delete(b->q, &test_owner, id, why, sizeof why), 0);
    assert_true(queue_catch_up(a->q) >= 1);
    assert_int_equal(queue_snapshot(a->q, id, &j), -ENOENT);
    queue_fixture_free(b);
    backend_pg_destroy(be);
}

static char *row_of(uint64_t id);

/* node-b, behind the store (it has not read node-a's claim yet), can
 * neither write the job node-a is calling (which would put it back to
 * waiting under the call, free for a third node) nor, once node-a's
 * attempt failed and the job waits for its retry, dial it at once on its
 * old copy. */
static void test_a_node_behind_the_store_neither_writes_nor_dials_another_node_s_job(void **state)
{
    struct queue_fixture *a = *state;
    struct queue_backend *be;
    struct queue_fixture *b = second_node(&be);
    char why[256] = "";
    struct job j;

    uint64_t id = submit_simple(a->q, "5551234", 1);
    assert_true(queue_catch_up(b->q) >= 1); /* node-b knows it queued */
    assert_int_equal(queue_run_once(a->q), 1);
    assert_lease(id, "node-a runs active");
    char *before = row_of(id);

    /* a pause on node-b's old copy: refused by the store, nothing changed */
    assert_int_equal(queue_control(b->q, &test_owner, id, QOP_PAUSE, why, sizeof why), -EBUSY);
    assert_lease(id, "node-a runs active");
    char *after = row_of(id);
    assert_string_equal(before, after);
    free(after);
    free(before);
    assert_int_equal(queue_snapshot(b->q, id, &j), 0);
    assert_int_equal(j.status, JOB_QUEUED); /* the change was undone */

    /* node-a's attempt fails busy: the job waits for its retry time */
    struct queue_call_result busy = test_result(QF_BUSY, "busy", 0);
    queue_call_finished(a->q, id, &busy);
    assert_int_equal(queue_snapshot(a->q, id, &j), 0);
    assert_int_equal(j.status, JOB_RETRYING);
    /* node-b, still on its queued copy, claims it once its refused write's
     * back-off is over, finds the store's newer job and does not dial */
    b->clock.now += 11; /* the back-off is 10 s; the busy retry comes later */
    assert_int_equal(queue_run_once(b->q), 0);
    assert_int_equal(b->line.ncalls, 0);
    assert_int_equal(queue_snapshot(b->q, id, &j), 0);
    assert_int_equal(j.status, JOB_RETRYING);
    assert_int_equal(j.attempts, 1);
    assert_lease(id, "- none retrying");
    queue_fixture_free(b);
    backend_pg_destroy(be);
}

/* Log lines of the engine, kept for the tests that look for one. */
static char logged[64][512];
static int nlogged;

static void keep_log(int level, const char *msg)
{
    (void)level;
    if (nlogged < 64)
        snprintf(logged[nlogged++], sizeof logged[0], "%s", msg);
}

static bool logged_with(const char *a, const char *b)
{
    for (int i = 0; i < nlogged; i++)
        if (strstr(logged[i], a) != NULL && strstr(logged[i], b) != NULL)
            return true;
    return false;
}

static char *row_of(uint64_t id)
{
    char sql[200];
    snprintf(sql, sizeof sql,
             "SELECT status || '|' || coalesce(node, '-') || '|' || coalesce(lease_until::text, '-') || '|' || "
             "updated::text || '|' "
             "|| job_text FROM jobs WHERE id = %llu", (unsigned long long)id);
    return sql_value(sql);
}

/* This node was cut off longer than a lease: node-b took its job (the
 * lease ran out, node-b claimed it). The next renewal finds that out:
 * the call on this node's line is aborted at once, the job is shown as
 * node-b's, and nothing of it is written over node-b's row. */
static void test_a_call_whose_lease_was_lost_is_aborted_and_nothing_written(void **state)
{
    struct queue_fixture *f = *state;
    struct job j;

    f->cfg.lease_seconds = 30;
    f->cfg.log = keep_log;
    nlogged = 0;
    queue_fixture_reopen(f);
    uint64_t id = submit_simple(f->q, "5551234", 3);
    assert_int_equal(queue_run_once(f->q), 1);
    assert_int_equal(f->line.ncalls, 1);
    queue_call_pages_confirmed(f->q, id, 1);
    assert_lease(id, "node-a runs active");

    /* the lease runs out, node-b claims the job as its claim does */
    sql_do("UPDATE jobs SET lease_until = now() - interval '1 second' WHERE id = %llu", (unsigned long long)id);
    sql_do("UPDATE jobs SET node = 'node-b', lease_until = now() + interval '1 hour' WHERE id = %llu "
           "AND (lease_until <= now())", (unsigned long long)id);
    assert_lease(id, "node-b runs active");
    char *before = row_of(id);

    /* not yet time to renew: nothing happens */
    assert_int_equal(queue_run_once(f->q), 0);
    assert_int_equal(f->line.naborts, 0);
    /* a third of the lease later the renewal is refused: the call is aborted */
    f->clock.now += 10;
    assert_int_equal(queue_run_once(f->q), 0);
    assert_int_equal(f->line.naborts, 1);
    assert_int_equal(f->line.aborts[0], f->line.calls[0].channel);
    assert_true(logged_with("job ", "node 'node-b' holds it now"));

    /* node-b's row is as node-b left it */
    char *after = row_of(id);
    assert_string_equal(after, before);
    free(after);
    assert_int_equal(sql_int("SELECT count(*) FROM jobs WHERE stop_request IS NOT NULL"), 0);
    /* shown as node-b's; not dialed here while node-b holds it */
    assert_int_equal(queue_snapshot(f->q, id, &j), 0);
    assert_int_equal(j.status, JOB_ACTIVE);
    assert_string_equal(j.node, "node-b");
    assert_int_equal(j.pages_sent, 1);
    queue_call_pages_confirmed(f->q, id, 3); /* a late report of the aborted call: ignored */
    f->clock.now += 10;
    assert_int_equal(queue_run_once(f->q), 0);
    assert_int_equal(f->line.ncalls, 1);
    assert_int_equal(f->line.naborts, 1);
    after = row_of(id);
    assert_string_equal(after, before);
    free(after);
    free(before);
    f->cfg.log = NULL;
}

static void receive_pages(struct queue *q, uint64_t id, int pages)
{
    for (int i = 0; i < pages; i++) {
        int fd = make_good_tiff(1);
        assert_int_equal(queue_receive_page(q, id, fd), 0);
        close(fd);
    }
}

/* Receptions carry the answering node's lease, renewed while they last.
 * node-a dies while receiving two faxes: node-b ends each as failed,
 * its pages kept, once its lease has run out: one it found at its start
 * (after a lease of its own clock), one it learns of while running (at
 * once). node-a, back, finds its leases gone and writes nothing more. */
static void test_a_reception_whose_node_died_is_ended_by_another_node(void **state)
{
    struct queue_fixture *a = *state;
    struct queue_backend *be;
    uint64_t r1, r2;
    struct job j;
    char sql[160];

    a->cfg.lease_seconds = 30;
    a->cfg.log = keep_log;
    nlogged = 0;
    queue_fixture_reopen(a);
    assert_int_equal(queue_receive_begin(a->q, "modem0", "5550199", &r1), 0);
    receive_pages(a->q, r1, 2);
    assert_int_equal(queue_receive_begin(a->q, "modem1", "5550198", &r2), 0);
    receive_pages(a->q, r2, 1);
    assert_lease(r1, "node-a runs receiving");
    assert_lease(r2, "node-a runs receiving");
    /* renewed a third of the way through */
    snprintf(sql, sizeof sql, "SELECT lease_until FROM jobs WHERE id = %llu", (unsigned long long)r1);
    char *first = sql_value(sql);
    a->clock.now += 10;
    queue_run_once(a->q);
    char later[200];
    snprintf(later, sizeof later, "SELECT count(*) FROM jobs WHERE id = %llu AND lease_until > '%s'",
             (unsigned long long)r1, first);
    assert_int_equal(sql_int(later), 1);
    free(first);

    /* node-a is cut off; r1's lease runs out before node-b starts */
    sql_do("UPDATE jobs SET lease_until = now() - interval '1 second' WHERE id = %llu", (unsigned long long)r1);
    struct queue_fixture *b = second_node(&be);
    b->cfg.log = keep_log;
    queue_fixture_reopen(b);
    assert_int_equal(queue_snapshot(b->q, r1, &j), 0);
    assert_int_equal(j.status, JOB_RECEIVING);
    queue_run_once(b->q); /* a start does not end it at once: it waits a lease */
    assert_lease(r1, "node-a over receiving");

    /* r2's lease runs out while node-b runs: ended at its next look */
    sql_do("UPDATE jobs SET lease_until = now() - interval '1 second' WHERE id = %llu", (unsigned long long)r2);
    assert_true(queue_catch_up(b->q) >= 0);
    queue_run_once(b->q);
    assert_lease(r2, "- none failed");
    assert_lease(r1, "node-a over receiving");
    assert_true(logged_with("node 'node-a' died or was cut off", "1 page kept"));

    b->clock.now += 181;
    queue_run_once(b->q);
    assert_lease(r1, "- none failed");
    assert_true(logged_with("node 'node-a' died or was cut off", "2 pages kept"));
    assert_int_equal(queue_snapshot(b->q, r1, &j), 0);
    assert_int_equal(j.status, JOB_FAILED);
    assert_int_equal(j.page_count, 2);
    assert_string_equal(j.error_code, "interrupted");
    size_t len;
    free(page_bytes(b->q, r1, 1, &len));
    assert_true(len > 0);
    snprintf(sql, sizeof sql, "SELECT count(*) FROM pages WHERE job_id = %llu", (unsigned long long)r1);
    assert_int_equal(sql_int(sql), 2);

    /* node-a is back: its renewals find the receptions ended; it writes
     * nothing over them and refuses their further pages */
    char *before = row_of(r1);
    a->clock.now += 10;
    queue_run_once(a->q);
    assert_true(logged_with("lease on the reception ran out and node-b ended it", "failed in the store"));
    int fd = make_good_tiff(1);
    assert_int_equal(queue_receive_page(a->q, r1, fd), -EBUSY);
    close(fd);
    struct queue_call_result ok = test_result(QF_NONE, "", 0);
    assert_int_equal(queue_receive_finished(a->q, r1, &ok), -EBUSY);
    char *after = row_of(r1);
    assert_string_equal(after, before);
    free(before);
    free(after);
    assert_int_equal(sql_int(sql), 2);
    assert_int_equal(queue_snapshot(a->q, r1, &j), 0);
    assert_int_equal(j.status, JOB_FAILED);
    queue_fixture_free(b);
    backend_pg_destroy(be);
}

/* A node that starts while another receives a fax leaves the reception to
 * it (not failed as after a crash); the receiving node's own restart
 * recovers it. */
static void test_a_node_starting_leaves_another_node_s_reception_alone(void **state)
{
    struct queue_fixture *a = *state;
    struct queue_backend *be;
    uint64_t id;
    struct job j;

    assert_int_equal(queue_receive_begin(a->q, "modem0", "5550199", &id), 0);
    struct queue_fixture *b = second_node(&be);
    assert_int_equal(queue_snapshot(b->q, id, &j), 0);
    assert_int_equal(j.status, JOB_RECEIVING);
    char *st = sql_value("SELECT status FROM jobs");
    assert_string_equal(st, "receiving");
    free(st);
    queue_fixture_free(b);
    backend_pg_destroy(be);
    queue_fixture_reopen(a); /* node-a's own restart: its cut reception fails */
    assert_int_equal(queue_snapshot(a->q, id, &j), 0);
    assert_int_equal(j.status, JOB_FAILED);
}

/* The lease protocol of the store itself, another node played by SQL. */
static void test_claims_renewals_and_releases_respect_other_nodes_leases(void **state)
{
    struct bare *b = *state;
    struct queue_stage *st;
    struct job j = new_job(0, JOB_SEND, 1), got;

    assert_int_equal(b->be->next_id(b->s, &j.id), 0);
    assert_int_equal(b->be->stage_open(b->s, &st), 0);
    stage_text_page(b->be, st, 0, "page");
    assert_int_equal(b->be->stage_commit(st, &j, "submitted\n"), 0);
    unsigned long long id = (unsigned long long)j.id;

    assert_int_equal(b->be->claim(b->s, j.id, 60, &got), 0);
    assert_int_equal(got.id, j.id);
    assert_int_equal(got.pages_sent, 0);
    assert_lease(j.id, "node-a runs queued");
    assert_int_equal(b->be->claim(b->s, j.id, 60, &got), 0); /* this node's already */
    assert_int_equal(b->be->renew(b->s, j.id, 60, &got), 0);

    /* taken by node-b after this node's lease ran out */
    sql_do("UPDATE jobs SET node = 'node-b', lease_until = now() + interval '1 hour' WHERE id = %llu", id);
    assert_int_equal(b->be->claim(b->s, j.id, 60, &got), -EBUSY);
    memset(&got, 0, sizeof got);
    assert_int_equal(b->be->renew(b->s, j.id, 60, &got), -ESTALE);
    assert_int_equal(got.id, j.id); /* the job as stored, with the node holding it */
    assert_string_equal(got.node, "node-b");
    assert_int_equal(b->be->release(b->s, j.id), 0); /* not ours: left alone */
    assert_lease(j.id, "node-b runs queued");

    /* node-b died */
    sql_do("UPDATE jobs SET lease_until = now() - interval '1 second' WHERE id = %llu", id);
    assert_int_equal(b->be->claim(b->s, j.id, 60, &got), 0);
    assert_lease(j.id, "node-a runs queued");
    assert_int_equal(b->be->release(b->s, j.id), 0);
    assert_lease(j.id, "- none queued");

    /* an update to a status other than active releases the lease with it */
    assert_int_equal(b->be->claim(b->s, j.id, 60, &got), 0);
    j.status = JOB_ACTIVE;
    assert_int_equal(b->be->update(b->s, &j), 0);
    assert_lease(j.id, "node-a runs active");
    j.status = JOB_DONE;
    assert_int_equal(b->be->update(b->s, &j), 0);
    assert_lease(j.id, "- none done");
    /* a job finished (here or on another node) is not claimed again */
    assert_int_equal(b->be->claim(b->s, j.id, 60, &got), -EBUSY);
    assert_lease(j.id, "- none done");
    /* a job waiting for its retry in the store is (this node may have
     * promoted it in memory without storing that yet) */
    j.status = JOB_RETRYING;
    assert_int_equal(b->be->update(b->s, &j), 0);
    assert_int_equal(b->be->claim(b->s, j.id, 60, &got), 0);
    assert_lease(j.id, "node-a runs retrying");
    j.status = JOB_PAUSED; /* paused on another node */
    assert_int_equal(b->be->update(b->s, &j), 0);
    assert_int_equal(b->be->claim(b->s, j.id, 60, &got), -EBUSY);

    /* a row whose text does not parse is not called, and its lease given back */
    j.status = JOB_QUEUED;
    assert_int_equal(b->be->update(b->s, &j), 0);
    sql_do("UPDATE jobs SET job_text = 'garbage' WHERE id = %llu", id);
    assert_int_equal(b->be->claim(b->s, j.id, 60, &got), -EIO);
    assert_lease(j.id, "- none queued");

    assert_int_equal(b->be->claim(b->s, j.id + 1000, 60, &got), -ENOENT);
    assert_int_equal(b->be->claim(b->s, j.id, 0, &got), -EINVAL);
}

/* What one look of changes(all) brought. */
struct seen {
    int calls, jobs, deleted, paused;
    uint64_t last;
};

static int count_change(void *arg, const struct queue_store_change *c)
{
    struct seen *s = arg;
    s->calls++;
    if (c->paused >= 0)
        s->paused = c->paused ? 1 : 2;
    else if (c->job != NULL)
        s->jobs++;
    else
        s->deleted++;
    if (c->paused < 0)
        s->last = c->id;
    return 0;
}

/* Waits (up to 10 s) until the backend was notified of something. */
static void wait_notified(const struct queue_backend *be, void *s)
{
    for (int i = 0; i < 100; i++)
        if (be->wait_changes(s, 100) > 0)
            return;
    fail_msg("no notification within 10 s");
}

/* node-b reads only what node-a's notifications named: a job created, a
 * job deleted, the pause flag; with nothing named, nothing at all. A
 * write whose notification was lost comes at the next full look. */
static void test_a_node_reads_only_the_jobs_notifications_named(void **state)
{
    struct bare *a = *state;
    struct queue_backend_env env = {.log = quiet, .no_fsync = true};
    char dir[256];
    struct queue_backend *be;
    void *s;
    struct seen seen = {0};
    struct queue_stage *st;

    make_temp_dir(dir, sizeof dir);
    assert_non_null(be = backend_pg_create(test_pg_conninfo(), "node-b"));
    assert_int_equal(be->open(&s, be->ctx, dir, &env), 0);
    struct job old = new_job(0, JOB_SEND, 1), j = new_job(0, JOB_SEND, 1);
    assert_int_equal(a->be->next_id(a->s, &old.id), 0);
    assert_int_equal(a->be->stage_open(a->s, &st), 0);
    stage_text_page(a->be, st, 0, "page");
    assert_int_equal(a->be->stage_commit(st, &old, "submitted\n"), 0);
    assert_int_equal(be->changes(s, true, count_change, &seen), 0);
    assert_int_equal(seen.jobs, 1);

    /* the notification of that job may come after the full look; then
     * nothing named: nothing read */
    while (be->wait_changes(s, 300) > 0)
        ;
    assert_int_equal(be->changes(s, false, count_change, &seen), 0);
    memset(&seen, 0, sizeof seen);
    assert_int_equal(be->wait_changes(s, 0), 0);
    assert_int_equal(be->changes(s, false, count_change, &seen), 0);
    assert_int_equal(seen.calls, 0);

    /* a payload that is not this faxfs's: nothing read */
    sql_do("NOTIFY faxfs_jobs, 'x%llu'", 1ULL);
    wait_notified(be, s);
    assert_int_equal(be->changes(s, false, count_change, &seen), 0);
    assert_int_equal(seen.calls, 0);

    /* a job created on node-a: that one only */
    assert_int_equal(a->be->next_id(a->s, &j.id), 0);
    assert_int_equal(a->be->stage_open(a->s, &st), 0);
    stage_text_page(a->be, st, 0, "page");
    assert_int_equal(a->be->stage_commit(st, &j, "submitted\n"), 0);
    wait_notified(be, s);
    assert_int_equal(be->changes(s, false, count_change, &seen), 0);
    assert_int_equal(seen.calls, 1);
    assert_int_equal(seen.jobs, 1);
    assert_int_equal(seen.last, j.id);

    /* a write without a notification (lost) is not read by the next
     * notified look, but by the full one */
    sql_do("BEGIN; SET LOCAL session_replication_role = replica; UPDATE jobs SET changed_xid = "
           "pg_current_xact_id(), changed_by = 'node-c' WHERE id = %llu; COMMIT",
           (unsigned long long)old.id);
    memset(&seen, 0, sizeof seen);
    assert_int_equal(be->wait_changes(s, 200), 0);
    assert_int_equal(be->changes(s, false, count_change, &seen), 0);
    assert_int_equal(seen.calls, 0);
    assert_int_equal(be->changes(s, true, count_change, &seen), 0);
    assert_true(seen.jobs >= 1);

    /* deleted on node-a */
    memset(&seen, 0, sizeof seen);
    assert_int_equal(a->be->remove(a->s, j.id), 0);
    wait_notified(be, s);
    assert_int_equal(be->changes(s, false, count_change, &seen), 0);
    assert_int_equal(seen.deleted, 1);
    assert_int_equal(seen.jobs, 0);
    assert_int_equal(seen.last, j.id);

    /* the queue paused on node-a */
    memset(&seen, 0, sizeof seen);
    assert_int_equal(a->be->set_paused(a->s, true), 0);
    wait_notified(be, s);
    assert_int_equal(be->changes(s, false, count_change, &seen), 0);
    assert_int_equal(seen.calls, 1);
    assert_int_equal(seen.paused, 1);

    /* node-a's own writes do not come back to node-a */
    while (a->be->wait_changes(a->s, 300) > 0) /* the test's own NOTIFY above */
        ;
    assert_int_equal(a->be->changes(a->s, true, count_change, &seen), 0);
    assert_int_equal(a->be->set_paused(a->s, false), 0);
    memset(&seen, 0, sizeof seen);
    assert_int_equal(a->be->wait_changes(a->s, 300), 0);
    assert_int_equal(a->be->changes(a->s, false, count_change, &seen), 0);
    assert_int_equal(seen.calls, 0);
    be->close(s);
    backend_pg_destroy(be);
}

/* The queue paused on node-a pauses node-b: a job submitted on node-b is
 * called by neither; resumed on node-b, node-a's pause is lifted too and
 * the job is called. */
static void test_the_queue_pause_is_shared_by_the_nodes(void **state)
{
    struct queue_fixture *a = *state;
    struct queue_backend *be;
    struct queue_fixture *b = second_node(&be);
    struct queue_summary sa, sb;

    assert_int_equal(queue_set_paused(a->q, true), 0);
    assert_true(queue_catch_up(b->q) >= 1);
    queue_summarize(b->q, &sb);
    assert_true(sb.paused);
    uint64_t id = submit_simple(b->q, "5551777", 1);
    queue_catch_up(a->q);
    assert_int_equal(queue_run_once(a->q), 0);
    assert_int_equal(queue_run_once(b->q), 0);
    assert_int_equal(a->line.ncalls + b->line.ncalls, 0);

    assert_int_equal(queue_set_paused(b->q, false), 0);
    assert_true(queue_catch_up(a->q) >= 1);
    queue_summarize(a->q, &sa);
    assert_false(sa.paused);
    assert_int_equal(queue_run_once(a->q) + queue_run_once(b->q), 1);
    assert_int_equal(a->line.ncalls + b->line.ncalls, 1);
    assert_int_equal((a->line.ncalls ? a : b)->line.calls[0].job_id, id);
    queue_fixture_free(b);
    backend_pg_destroy(be);
}

static void test_a_broadcast_is_one_transaction_with_pages_for_every_job(void **state)
{
    struct queue_fixture *f = *state;
    struct queue_recipient v[3] = {{"5551001", "A", 1}, {"5551002", "B", 2}, {"5551003", "C", 3}};
    struct queue_request req = {0};
    int fd = make_good_tiff(2);
    uint64_t group;
    char why[200];

    assert_int_equal(queue_submit_group(f->q, &test_owner, &req, v, 3, &fd, 1, &group, why, sizeof why), 0);
    close(fd);
    size_t l0;
    char *p0 = page_bytes(f->q, group, 1, &l0);
    queue_fixture_reopen(f);
    for (uint64_t id = group; id < group + 3; id++) {
        struct job j;
        assert_int_equal(queue_snapshot(f->q, id, &j), 0);
        assert_int_equal(j.group, group);
        size_t l;
        char *p = page_bytes(f->q, id, 1, &l);
        assert_int_equal(l, l0);
        assert_memory_equal(p, p0, l0);
        free(p);
    }
    free(p0);
    assert_int_equal(sql_int("SELECT count(*) FROM pages"), 6);
}

/* A broadcast with a cover page in the database: each job's page 1 is its
 * own cover (no two alike), the document pages after it the same bytes,
 * all in the one transaction; the first job's pages read the same from
 * the local cache and, after a restart, from the database. */
static void test_a_broadcast_with_covers_gives_each_job_its_own_first_page(void **state)
{
    struct queue_fixture *f = *state;
    if (access("/usr/bin/gs", X_OK) != 0)
        skip();
    struct queue_recipient v[4] = {{"5551001", "Ann", 1}, {"5551002", "Bob", 2}, {"5551003", "Cy", 3},
                                   {"5551004", "Di", 4}};
    struct queue_request req = {0};
    int fd = make_good_tiff(2);
    uint64_t group;
    char why[200] = "";

    req.cover_page = true;
    strcpy(req.sender_name, "Eve");
    if (queue_submit_group(f->q, &test_owner, &req, v, 4, &fd, 1, &group, why, sizeof why) != 0)
        fail_msg("refused: %s", why);
    close(fd);
    size_t l1, l2, c0len;
    char *p1 = page_bytes(f->q, group, 1, &l1), *p2 = page_bytes(f->q, group, 2, &l2);
    char *c0 = page_bytes(f->q, group, 0, &c0len);
    queue_fixture_reopen(f);
    char *prev = NULL;
    size_t prevlen = 0;
    for (uint64_t id = group; id < group + 4; id++) {
        struct job j;
        assert_int_equal(queue_snapshot(f->q, id, &j), 0);
        assert_int_equal(j.group, group);
        assert_int_equal(j.page_count, 3);
        size_t lc, la, lb;
        char *c = page_bytes(f->q, id, 0, &lc), *a = page_bytes(f->q, id, 1, &la), *b = page_bytes(f->q, id, 2, &lb);
        assert_true(lc > 0);
        if (id == group) {
            assert_int_equal(lc, c0len);
            assert_memory_equal(c, c0, lc);
        }
        if (prev != NULL)
            assert_false(lc == prevlen && memcmp(c, prev, lc) == 0); /* another recipient, another cover */
        assert_int_equal(la, l1);
        assert_memory_equal(a, p1, l1);
        assert_int_equal(lb, l2);
        assert_memory_equal(b, p2, l2);
        free(prev);
        prev = c;
        prevlen = lc;
        free(a);
        free(b);
    }
    free(prev);
    free(p1);
    free(p2);
    free(c0);
    assert_int_equal(sql_int("SELECT count(*) FROM pages"), 12);
}

static void test_received_pages_and_the_pause_flag_survive_a_restart(void **state)
{
    struct queue_fixture *f = *state;
    uint64_t id = 0;

    assert_int_equal(queue_receive_begin(f->q, "modem0", "5550199", &id), 0);
    for (int i = 0; i < 2; i++) {
        int fd = make_good_tiff(1);
        assert_int_equal(queue_receive_page(f->q, id, fd), 0);
        close(fd);
    }
    assert_int_equal(queue_set_paused(f->q, true), 0);
    queue_fixture_reopen(f);
    struct job j;
    assert_int_equal(queue_snapshot(f->q, id, &j), 0);
    assert_int_equal(j.type, JOB_RECEIVE);
    assert_int_equal(j.page_count, 2);
    struct queue_summary s;
    queue_summarize(f->q, &s);
    assert_true(s.paused);
}

static void test_fax_pdf_is_kept_in_the_database(void **state)
{
    struct queue_fixture *f = *state;
    uint64_t id = submit_simple(f->q, "5551234", 1);
    int fd = queue_open_pdf(f->q, id);

    assert_true(fd >= 0);
    size_t len;
    char *pdf = read_fd_all(fd, &len);
    close(fd);
    assert_true(len > 5);
    assert_memory_equal(pdf, "%PDF-", 5);
    char sql[128];
    snprintf(sql, sizeof sql, "SELECT length(data) FROM job_files WHERE job_id = %llu AND name = 'fax.pdf'",
             (unsigned long long)id);
    assert_int_equal(sql_int(sql), (long long)len);
    free(pdf);
}

/* ---- the backend alone ---------------------------------------------- */

static void test_reserved_ids_are_consecutive_and_durable(void **state)
{
    struct bare *b = *state;
    uint64_t first, next;

    assert_int_equal(b->be->next_id(b->s, &first), 0);
    assert_int_equal(first, QUEUE_FIRST_JOB_ID);
    assert_int_equal(b->be->reserve_ids(b->s, 5, &first), 0);
    assert_int_equal(first, QUEUE_FIRST_JOB_ID + 1);
    bare_reopen(b);
    assert_int_equal(b->be->next_id(b->s, &next), 0);
    assert_int_equal(next, first + 5);
}

static void test_a_received_page_not_yet_counted_is_kept_at_start(void **state)
{
    struct bare *b = *state;
    struct queue_stage *st;
    struct job j = new_job(QUEUE_FIRST_JOB_ID, JOB_RECEIVE, 1);
    uint64_t bytes;

    assert_int_equal(b->be->stage_open(b->s, &st), 0);
    stage_text_page(b->be, st, 0, "page1");
    assert_int_equal(b->be->stage_commit(st, &j, "received\n"), 0);
    int fd = make_good_tiff(1);
    assert_int_equal(b->be->add_page(b->s, j.id, 1, fd, 1 << 20, &bytes), 0);
    close(fd);
    /* The server stopped before the job was updated: the page is kept. */
    bare_reopen(b);
    struct collected c = {0};
    assert_int_equal(b->be->walk(b->s, collect, &c), 0);
    assert_int_equal(c.n, 1);
    assert_int_equal(c.jobs[0].page_count, 2);
    assert_int_equal(c.jobs[0].size, 5 + bytes);
}

static void test_pages_of_a_gone_job_and_empty_pages_are_refused(void **state)
{
    struct bare *b = *state;
    uint64_t bytes;
    int fd = make_good_tiff(1);
    int empty = memfd_create("empty", 0);

    assert_int_equal(b->be->add_page(b->s, 4242, 0, fd, 1 << 20, &bytes), -ENOENT);
    assert_int_equal(b->be->add_page(b->s, 4242, 0, empty, 1 << 20, &bytes), -EINVAL);
    assert_int_equal(b->be->add_page(b->s, 4242, 0, fd, 10, &bytes), -EFBIG);
    close(fd);
    close(empty);
    assert_int_equal(sql_int("SELECT count(*) FROM pages"), 0);
}

static void test_a_failed_commit_leaves_nothing(void **state)
{
    struct bare *b = *state;
    struct queue_stage *st;
    struct job j = new_job(QUEUE_FIRST_JOB_ID, JOB_SEND, 2);

    /* Page 1 of 2 missing: refused, and neither the job nor page 0 stays. */
    assert_int_equal(b->be->stage_open(b->s, &st), 0);
    stage_text_page(b->be, st, 1, "page2");
    assert_int_equal(b->be->stage_commit(st, &j, "log\n"), -EINVAL);
    assert_int_equal(sql_int("SELECT count(*) FROM jobs"), 0);
    assert_int_equal(sql_int("SELECT count(*) FROM pages"), 0);
    /* The same id twice: the second commit is refused whole. */
    j.page_count = 1;
    assert_int_equal(b->be->stage_open(b->s, &st), 0);
    stage_text_page(b->be, st, 0, "first");
    assert_int_equal(b->be->stage_commit(st, &j, "log\n"), 0);
    assert_int_equal(b->be->stage_open(b->s, &st), 0);
    stage_text_page(b->be, st, 0, "second");
    assert_int_equal(b->be->stage_commit(st, &j, "log\n"), -EEXIST);
    assert_int_equal(sql_int("SELECT count(*) FROM pages"), 1);
    char *v = sql_value("SELECT convert_from(data, 'UTF8') FROM pages");
    assert_string_equal(v, "first");
    free(v);
}

/* Covers with a gap (job 1 of 3 has none) refuse the group whole. */
static void test_a_group_with_a_missing_cover_is_refused_whole(void **state)
{
    struct bare *b = *state;
    struct queue_stage *st;
    struct job jobs[3];

    for (int i = 0; i < 3; i++)
        jobs[i] = new_job(QUEUE_FIRST_JOB_ID + (uint64_t)i, JOB_SEND, 2);
    char *logs[3] = {"a\n", "b\n", "c\n"};
    assert_int_equal(b->be->stage_open(b->s, &st), 0);
    stage_text_page(b->be, st, 1, "shared");
    for (size_t i = 0; i < 3; i += 2) {
        int fd = b->be->stage_cover(st, i);
        assert_true(fd >= 0);
        assert_int_equal(write(fd, "cover", 5), 5);
        close(fd);
    }
    assert_int_equal(b->be->group_commit(st, jobs, 3, logs), -EINVAL);
    assert_int_equal(sql_int("SELECT count(*) FROM jobs"), 0);
    assert_int_equal(sql_int("SELECT count(*) FROM pages"), 0);
}

static void test_a_damaged_row_is_set_aside_and_reported(void **state)
{
    struct bare *b = *state;
    struct queue_stage *st;
    struct job j = new_job(QUEUE_FIRST_JOB_ID, JOB_SEND, 1);
    char sql[256];

    assert_int_equal(b->be->next_id(b->s, &j.id), 0);
    assert_int_equal(b->be->stage_open(b->s, &st), 0);
    stage_text_page(b->be, st, 0, "page");
    assert_int_equal(b->be->stage_commit(st, &j, ""), 0);
    FILE *report = stdout; /* the report helps when it fails */
    assert_int_equal(backend_pg_check(test_pg_conninfo(), report), 0);
    snprintf(sql, sizeof sql, "UPDATE jobs SET job_text = 'garbage' WHERE id = %llu", (unsigned long long)j.id);
    free(sql_value(sql));
    assert_int_equal(backend_pg_check(test_pg_conninfo(), report), 1);
    /* A row too long to be a job file is not read whole. */
    free(sql_value("INSERT INTO jobs (id, type, status, owner, job_text) VALUES (7, 'send', 'queued', 0, "
                   "repeat('x', 70000))"));
    struct collected c = {0};
    assert_int_equal(b->be->walk(b->s, collect, &c), 0);
    assert_int_equal(c.n, 0);
    snprintf(sql, sizeof sql, "SELECT set_aside FROM jobs WHERE id = %llu", (unsigned long long)j.id);
    char *why = sql_value(sql);
    assert_non_null(strstr(why, "bad job text"));
    free(why);
    why = sql_value("SELECT set_aside FROM jobs WHERE id = 7");
    assert_non_null(strstr(why, "job text over 65536 bytes"));
    free(why);
    /* Set aside: a note, no longer a problem; its id is not handed out. */
    assert_int_equal(backend_pg_check(test_pg_conninfo(), report), 0);
    /* A sequence below a stored id is a problem, mended at the next start. */
    free(sql_value("SELECT setval('job_ids', 5)"));
    assert_int_equal(backend_pg_check(test_pg_conninfo(), report), 1);
    bare_reopen(b);
    struct collected c2 = {0};
    assert_int_equal(b->be->walk(b->s, collect, &c2), 0);
    assert_int_equal(backend_pg_check(test_pg_conninfo(), report), 0);
    uint64_t next;
    assert_int_equal(b->be->next_id(b->s, &next), 0);
    assert_true(next > j.id);
}

static int fill_pdf(void *arg, int fd)
{
    const char *text = arg;
    return write(fd, text, strlen(text)) == (ssize_t)strlen(text) ? 0 : -EIO;
}

static void test_pdf_is_kept_and_a_deleted_job_s_is_not_stored(void **state)
{
    struct bare *b = *state;
    static const char pdf[] = "%PDF-1.4 test %%EOF\n";
    struct queue_stage *st;
    struct job j = new_job(QUEUE_FIRST_JOB_ID, JOB_SEND, 1);

    assert_int_equal(b->be->stage_open(b->s, &st), 0);
    stage_text_page(b->be, st, 0, "page");
    assert_int_equal(b->be->stage_commit(st, &j, ""), 0);
    assert_int_equal(b->be->pdf_open(b->s, j.id), -ENOENT);
    int fd = b->be->pdf_store(b->s, j.id, fill_pdf, (void *)pdf);
    assert_true(fd >= 0);
    size_t len;
    char *got = read_fd_all(fd, &len);
    close(fd);
    assert_int_equal(len, strlen(pdf));
    assert_memory_equal(got, pdf, len);
    free(got);
    bare_reopen(b);
    fd = b->be->pdf_open(b->s, j.id);
    assert_true(fd >= 0);
    got = read_fd_all(fd, &len);
    close(fd);
    assert_int_equal(len, strlen(pdf));
    assert_memory_equal(got, pdf, len);
    free(got);
    assert_int_equal(b->be->report_open(b->s, j.id), -ENOENT);
    assert_int_equal(b->be->remove(b->s, j.id), 0);
    assert_int_equal(b->be->remove(b->s, j.id), -ENOENT);
    assert_int_equal(b->be->pdf_store(b->s, j.id, fill_pdf, (void *)pdf), -ENOENT);
    assert_int_equal(sql_int("SELECT count(*) FROM job_files"), 0);
}

/* Log lines are written in batches (one multi-row INSERT for many lines:
 * the rows share the inserting transaction, xmin), in their order, before
 * the log is read, and at close; a line of a job deleted meanwhile (by
 * another node) is dropped without taking the batch's other lines along. */
static void test_log_lines_are_written_in_batches_in_order(void **state)
{
    struct bare *b = *state;
    struct queue_stage *st;
    struct job j = new_job(QUEUE_FIRST_JOB_ID, JOB_SEND, 1), gone = new_job(QUEUE_FIRST_JOB_ID + 1, JOB_SEND, 1);
    char line[32], sql[160];

    assert_int_equal(b->be->stage_open(b->s, &st), 0);
    stage_text_page(b->be, st, 0, "page");
    assert_int_equal(b->be->stage_commit(st, &j, "first\n"), 0);
    assert_int_equal(b->be->stage_open(b->s, &st), 0);
    stage_text_page(b->be, st, 0, "page");
    assert_int_equal(b->be->stage_commit(st, &gone, "gone\n"), 0);
    for (int i = 0; i < 150; i++) {
        snprintf(line, sizeof line, "line %03d\n", i);
        assert_int_equal(b->be->append_log(b->s, i == 70 ? gone.id : j.id, line), 0);
    }
    /* Another node deletes a job whose line is waiting. */
    snprintf(sql, sizeof sql, "WITH d AS (DELETE FROM jobs WHERE id = %llu RETURNING 1) SELECT count(*) FROM d",
             (unsigned long long)gone.id);
    assert_int_equal(sql_int(sql), 1);
    int fd = b->be->open_log(b->s, j.id);
    assert_true(fd >= 0);
    size_t len;
    char *log = read_fd_all(fd, &len);
    close(fd);
    char *want = malloc(16 + 150 * 10), *w = want;
    w += sprintf(w, "first\n");
    for (int i = 0; i < 150; i++)
        if (i != 70)
            w += sprintf(w, "line %03d\n", i);
    assert_int_equal(len, strlen(want));
    assert_memory_equal(log, want, len);
    free(log);
    free(want);
    snprintf(sql, sizeof sql, "SELECT count(DISTINCT xmin::text) FROM job_log WHERE job_id = %llu AND line LIKE 'line%%'",
             (unsigned long long)j.id);
    long long txs = sql_int(sql);
    assert_true(txs >= 1 && txs < 10); /* 149 lines: 3 batches, more only if the machine stalled a second */
    /* Waiting lines are written at close. */
    assert_int_equal(b->be->append_log(b->s, j.id, "before close\n"), 0);
    bare_reopen(b);
    snprintf(sql, sizeof sql, "SELECT count(*) FROM job_log WHERE job_id = %llu AND line = 'before close\n'",
             (unsigned long long)j.id);
    assert_int_equal(sql_int(sql), 1);
}

static void test_the_schema_is_versioned_and_migrating_twice_does_nothing(void **state)
{
    struct bare *b = *state;
    char why[300];
    FILE *out = fopen("/dev/null", "w");

    (void)b;
    assert_int_equal(sql_int("SELECT max(version) FROM schema_version"), pg_schema_latest());
    assert_int_equal(backend_pg_migrate(test_pg_conninfo(), out, why, sizeof why), 0);
    assert_int_equal(sql_int("SELECT count(*) FROM schema_version"), pg_schema_count());
    /* A database from a newer faxfs is refused, not touched. */
    free(sql_value("INSERT INTO schema_version (version, what) VALUES (9999, 'from the future')"));
    assert_int_equal(backend_pg_migrate(test_pg_conninfo(), out, why, sizeof why), -EPROTO);
    assert_non_null(strstr(why, "newer than this faxfs"));
    fclose(out);
}

static void test_a_lost_connection_fails_one_operation_then_is_made_again(void **state)
{
    struct bare *b = *state;
    uint64_t before, after;

    assert_int_equal(b->be->next_id(b->s, &before), 0);
    assert_int_equal(sql_int("SELECT count(pg_terminate_backend(pid)) FROM pg_stat_activity "
                             "WHERE application_name = 'faxfs node-a'"),
                     1);
    int r = b->be->next_id(b->s, &after);
    if (r != 0) {
        assert_int_equal(r, -EIO); /* told, not hidden */
        assert_int_equal(b->be->next_id(b->s, &after), 0);
    }
    assert_true(after > before);
    /* The node lock was taken again with the new connection. */
    struct queue_backend *other = backend_pg_create(test_pg_conninfo(), "node-a");
    struct queue_backend_env env = {.log = quiet};
    char dir[256];
    void *s2;
    make_temp_dir(dir, sizeof dir);
    assert_int_equal(other->open(&s2, other->ctx, dir, &env), -EBUSY);
    backend_pg_destroy(other);
    remove_dir(dir);
}

static void test_a_node_whose_lock_was_taken_meanwhile_changes_nothing(void **state)
{
    struct bare *b = *state;
    struct queue_backend *other = backend_pg_create(test_pg_conninfo(), "node-a");
    struct queue_backend_env env = {.log = quiet};
    char dir[256];
    void *s2;
    uint64_t id;

    assert_int_equal(sql_int("SELECT count(pg_terminate_backend(pid)) FROM pg_stat_activity "
                             "WHERE application_name = 'faxfs node-a'"),
                     1);
    make_temp_dir(dir, sizeof dir);
    assert_int_equal(other->open(&s2, other->ctx, dir, &env), 0); /* another node-a runs now */
    for (int i = 0; i < 3; i++)
        assert_int_equal(b->be->next_id(b->s, &id), -EIO);
    assert_int_equal(b->be->set_paused(b->s, true), -EIO);
    bool paused = true;
    assert_int_equal(other->get_paused(s2, &paused), 0);
    assert_false(paused);
    other->close(s2);
    backend_pg_destroy(other);
    remove_dir(dir);
}

static void test_a_password_in_the_connection_string_is_refused(void **state)
{
    char why[300];

    (void)state;
    assert_int_equal(backend_pg_conninfo_check("postgresql://fax:secret@db.example/faxfs", why, sizeof why), -EINVAL);
    assert_non_null(strstr(why, "PGPASSWORD"));
    assert_int_equal(backend_pg_conninfo_check("host=db.example dbname=faxfs password=secret", why, sizeof why),
                     -EINVAL);
    assert_int_equal(backend_pg_conninfo_check("postgresql://fax@db.example/faxfs", why, sizeof why), 0);
    assert_int_equal(backend_pg_conninfo_check("host=/run/postgresql dbname=faxfs", why, sizeof why), 0);
    assert_int_equal(backend_pg_conninfo_check("host=x dbname", why, sizeof why), -EINVAL);
    assert_true(backend_pg_is_conninfo("postgresql://x/y"));
    assert_true(backend_pg_is_conninfo("dbname=faxfs"));
    assert_false(backend_pg_is_conninfo("/var/spool/faxfs"));
}

/* ---- copies between a spool and the database ------------------------ */

static void same_file(const char *a, const char *b)
{
    size_t la, lb;
    char *x = read_path(a, &la), *y = read_path(b, &lb);
    assert_int_equal(la, lb);
    assert_memory_equal(x, y, la);
    free(x);
    free(y);
}

static void test_a_spool_copied_into_the_database_and_back_keeps_ids_and_pages(void **state)
{
    struct queue_fixture *s1 = queue_fixture_new(true), *s2 = queue_fixture_new(true);
    struct queue_backend *pg = backend_pg_create(test_pg_conninfo(), "copy");
    char cache[256], why[300], path1[512], path2[512];
    FILE *out = fopen("/dev/null", "w");

    (void)state;
    test_pg_reset();
    make_temp_dir(cache, sizeof cache);
    queue_fixture_open(s1);
    uint64_t a = submit_simple(s1->q, "5551234", 2);
    uint64_t b = submit_simple(s1->q, "5559876", 3);
    uint64_t c = submit_simple(s1->q, "5550000", 1);
    assert_int_equal(queue_control(s1->q, &test_owner, c, QOP_CANCEL, why, sizeof why), 0);
    assert_int_equal(queue_delete(s1->q, &test_owner, c, why, sizeof why), 0);
    queue_call_log(s1->q, a, "a line to keep");
    assert_int_equal(queue_set_paused(s1->q, true), 0);
    queue_close(s1->q);
    s1->q = NULL;

    assert_int_equal(queue_store_copy(&queue_backend_spool, s1->dir, pg, cache, out, why, sizeof why), 0);
    assert_int_equal(sql_int("SELECT count(*) FROM jobs"), 2);
    assert_int_equal(sql_int("SELECT count(*) FROM pages"), 5);
    /* Into a store that is not empty: refused. */
    assert_int_equal(queue_store_copy(&queue_backend_spool, s1->dir, pg, cache, out, why, sizeof why), -EEXIST);
    assert_non_null(strstr(why, "holds 2 jobs"));
    assert_int_equal(queue_store_copy(pg, cache, &queue_backend_spool, s2->dir, out, why, sizeof why), 0);

    for (uint64_t id = a; id <= b; id++) {
        struct job j;
        snprintf(path1, sizeof path1, "%s/jobs/%llu/job", s1->dir, (unsigned long long)id);
        snprintf(path2, sizeof path2, "%s/jobs/%llu/job", s2->dir, (unsigned long long)id);
        same_file(path1, path2);
        snprintf(path1, sizeof path1, "%s/jobs/%llu/log", s1->dir, (unsigned long long)id);
        snprintf(path2, sizeof path2, "%s/jobs/%llu/log", s2->dir, (unsigned long long)id);
        same_file(path1, path2);
        size_t len;
        char *text = read_path(path2, &len);
        free(text);
        queue_fixture_open(s2);
        assert_int_equal(queue_snapshot(s2->q, id, &j), 0);
        queue_close(s2->q);
        s2->q = NULL;
        for (int p = 1; p <= j.page_count; p++) {
            snprintf(path1, sizeof path1, "%s/jobs/%llu/pages/%03d.tif", s1->dir, (unsigned long long)id, p);
            snprintf(path2, sizeof path2, "%s/jobs/%llu/pages/%03d.tif", s2->dir, (unsigned long long)id, p);
            same_file(path1, path2);
        }
    }
    /* The deleted job's id is not handed out again by either copy. */
    queue_fixture_open(s2);
    struct queue_summary sum;
    queue_summarize(s2->q, &sum);
    assert_true(sum.paused);
    assert_int_equal(submit_simple(s2->q, "5551234", 1), c + 1);
    struct queue_backend_env env = {.log = quiet};
    void *ps;
    uint64_t next;
    assert_int_equal(pg->open(&ps, pg->ctx, cache, &env), 0);
    assert_int_equal(pg->next_id(ps, &next), 0);
    assert_int_equal(next, c + 1);
    pg->close(ps);

    fclose(out);
    backend_pg_destroy(pg);
    remove_dir(cache);
    queue_fixture_free(s1);
    queue_fixture_free(s2);
}

int main(void)
{
    if (test_pg_conninfo() == NULL) {
        fprintf(stderr, "test_queue_pg: FAXFS_TEST_PG is not set; run it through tests/lib/with_postgres.sh\n");
        return 77;
    }
#define E(name) cmocka_unit_test_setup_teardown(name, queue_fixture_setup_pg, queue_fixture_teardown)
#define B(name) cmocka_unit_test_setup_teardown(name, bare_setup, bare_teardown)
    const struct CMUnitTest tests[] = {
        E(test_a_job_its_pages_and_log_survive_a_restart),
        E(test_a_job_being_called_names_the_node),
        E(test_ids_are_never_handed_out_again_after_a_delete_and_restart),
        E(test_a_second_node_under_the_same_name_is_refused),
        E(test_a_job_leased_by_another_node_is_dialed_only_after_its_lease_runs_out),
        E(test_jobs_submitted_on_two_nodes_are_each_sent_exactly_once),
        E(test_a_cancel_on_another_node_aborts_the_call),
        E(test_a_node_behind_the_store_neither_writes_nor_dials_another_node_s_job),
        E(test_a_call_whose_lease_was_lost_is_aborted_and_nothing_written),
        E(test_the_queue_pause_is_shared_by_the_nodes),
        B(test_a_node_reads_only_the_jobs_notifications_named),
        E(test_a_node_starting_leaves_another_node_s_reception_alone),
        E(test_a_reception_whose_node_died_is_ended_by_another_node),
        E(test_a_job_taken_over_resumes_after_the_pages_the_store_confirmed),
        E(test_a_batched_job_taken_over_resumes_after_the_pages_the_store_confirmed),
        B(test_claims_renewals_and_releases_respect_other_nodes_leases),
        E(test_a_broadcast_is_one_transaction_with_pages_for_every_job),
        E(test_a_broadcast_with_covers_gives_each_job_its_own_first_page),
        E(test_received_pages_and_the_pause_flag_survive_a_restart),
        E(test_fax_pdf_is_kept_in_the_database),
        B(test_reserved_ids_are_consecutive_and_durable),
        B(test_a_received_page_not_yet_counted_is_kept_at_start),
        B(test_pages_of_a_gone_job_and_empty_pages_are_refused),
        B(test_a_failed_commit_leaves_nothing),
        B(test_a_group_with_a_missing_cover_is_refused_whole),
        B(test_a_damaged_row_is_set_aside_and_reported),
        B(test_pdf_is_kept_and_a_deleted_job_s_is_not_stored),
        B(test_log_lines_are_written_in_batches_in_order),
        B(test_the_schema_is_versioned_and_migrating_twice_does_nothing),
        B(test_a_lost_connection_fails_one_operation_then_is_made_again),
        B(test_a_node_whose_lock_was_taken_meanwhile_changes_nothing),
        cmocka_unit_test(test_a_password_in_the_connection_string_is_refused),
        cmocka_unit_test(test_a_spool_copied_into_the_database_and_back_keeps_ids_and_pages),
    };
    return cmocka_run_group_tests(tests, NULL, NULL);
}

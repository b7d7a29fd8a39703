/*
 * test_queue_pg_dispatch.c - dispatch across nodes on one PostgreSQL
 * database (run by tests/lib/with_postgres.sh, which sets FAXFS_TEST_PG):
 * a round's claims in one statement (claim_many) skip a row another
 * session has locked instead of waiting for it, refuse a job whose
 * destination has its limit of live calls on all nodes together (also
 * when two nodes claim at the same moment), count a batched call once;
 * two engines sending many jobs to one number never have more calls to
 * it in progress together than the limit, each job sent once; and
 * priorities and retry times hold across nodes.
 */
#include <stdarg.h>
#include <stddef.h>
#include <setjmp.h>
#include <cmocka.h>

#include <errno.h>
#include <libpq-fe.h>
#include <pthread.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <unistd.h>

#include "queue/backend_pg.h"
#include "queue_testutil.h"

/* ---- helpers -------------------------------------------------------- */

static PGconn *db(void)
{
    PGconn *c = PQconnectdb(test_pg_conninfo());
    assert_int_equal(PQstatus(c), CONNECTION_OK);
    return c;
}

static void exec_ok(PGconn *c, const char *sql)
{
    PGresult *res = PQexec(c, sql);
    ExecStatusType st = PQresultStatus(res);
    if (st != PGRES_TUPLES_OK && st != PGRES_COMMAND_OK)
        fail_msg("%s: %s", sql, PQresultErrorMessage(res));
    PQclear(res);
}

static long long sql_int(const char *fmt, ...) __attribute__((format(printf, 1, 2)));
static long long sql_int(const char *fmt, ...)
{
    char sql[512];
    va_list ap;
    va_start(ap, fmt);
    vsnprintf(sql, sizeof sql, fmt, ap);
    va_end(ap);
    PGconn *c = db();
    PGresult *res = PQexec(c, sql);
    if (PQresultStatus(res) != PGRES_TUPLES_OK || PQntuples(res) != 1)
        fail_msg("%s: %s", sql, PQresultErrorMessage(res));
    long long v = atoll(PQgetvalue(res, 0, 0));
    PQclear(res);
    PQfinish(c);
    return v;
}

static void sql_do(const char *fmt, ...) __attribute__((format(printf, 1, 2)));
static void sql_do(const char *fmt, ...)
{
    char sql[512];
    va_list ap;
    va_start(ap, fmt);
    vsnprintf(sql, sizeof sql, fmt, ap);
    va_end(ap);
    PGconn *c = db();
    exec_ok(c, sql);
    PQfinish(c);
}

/* The live calls to destination key in the database: distinct calls of
 * the leases that still run. */
static long long live_calls(const char *key)
{
    return sql_int("SELECT count(DISTINCT coalesce(call_id, id)) FROM jobs WHERE dest_key = '%s' "
                   "AND lease_until > now() AND node IS NOT NULL",
                   key);
}

static void quiet(void *ctx, int level, const char *msg)
{
    (void)ctx;
    (void)level;
    (void)msg;
}

/* A bare store (no engine) of node name on the test database. */
struct bare {
    char dir[256];
    struct queue_backend *be;
    void *s;
};

/* What a test opened, closed by its teardown even when it failed
 * half-way (its node names would stay taken for the next test). */
static struct bare *open_bares[4];
static struct queue_fixture *open_fixtures[4];

static void bare_open(struct bare *b, const char *node)
{
    struct queue_backend_env env = {.log = quiet, .no_fsync = true};
    make_temp_dir(b->dir, sizeof b->dir);
    assert_non_null(b->be = backend_pg_create(test_pg_conninfo(), node));
    assert_int_equal(b->be->open(&b->s, b->be->ctx, b->dir, &env), 0);
    for (int i = 0; i < 4; i++)
        if (open_bares[i] == NULL) {
            open_bares[i] = b;
            break;
        }
}

static void bare_close(struct bare *b)
{
    for (int i = 0; i < 4; i++)
        if (open_bares[i] == b)
            open_bares[i] = NULL;
    b->be->close(b->s);
    backend_pg_destroy(b->be);
    remove_dir(b->dir);
}

static void fixture_free(struct queue_fixture *f)
{
    for (int i = 0; i < 4; i++)
        if (open_fixtures[i] == f)
            open_fixtures[i] = NULL;
    queue_fixture_free(f);
}

static int close_all(void **state)
{
    (void)state;
    for (int i = 0; i < 4; i++) {
        if (open_bares[i] != NULL)
            bare_close(open_bares[i]);
        if (open_fixtures[i] != NULL)
            fixture_free(open_fixtures[i]);
    }
    return 0;
}

/* A queued one-page send job to number, stored through b; its id. */
static uint64_t store_job(struct bare *b, const char *number)
{
    struct queue_stage *st;
    struct job j;
    job_init(&j);
    assert_int_equal(b->be->next_id(b->s, &j.id), 0);
    j.type = JOB_SEND;
    j.status = JOB_QUEUED;
    j.owner_uid = j.owner_gid = 1000;
    snprintf(j.recipient_number, sizeof j.recipient_number, "%s", number);
    j.submitted = j.changed = TEST_START;
    j.page_count = 1;
    j.size = 4;
    assert_int_equal(b->be->stage_open(b->s, &st), 0);
    int fd = b->be->stage_page(st, 0);
    assert_true(fd >= 0);
    assert_int_equal(write(fd, "page", 4), 4);
    close(fd);
    assert_int_equal(b->be->stage_commit(st, &j, "submitted\n"), 0);
    return j.id;
}

static void claim_of(struct queue_claim *c, uint64_t id, uint64_t call, const char *key, int limit)
{
    memset(c, 0, sizeof *c);
    c->id = id;
    c->call = call;
    c->key = key;
    c->limit = limit;
    c->result = 1; /* neither an answer nor an error: must be overwritten */
}

/* ---- the store ------------------------------------------------------ */

/* One statement claims a round: taken, held by another node, locked by
 * another session right now (skipped at once: with lock_timeout set, a
 * claim that waited would fail instead of answering -EBUSY), gone. */
static void test_claim_many_skips_a_locked_row_and_answers_each_job(void **state)
{
    (void)state;
    static struct bare a; /* static: closed by the teardown when the test fails */
    test_pg_reset();
    /* a claim that waits for the row lock fails after 5 s instead of hanging */
    setenv("PGOPTIONS", "-c lock_timeout=5000", 1);
    bare_open(&a, "node-a");
    unsetenv("PGOPTIONS");
    uint64_t free1 = store_job(&a, "5551000"), locked = store_job(&a, "5551001"), held = store_job(&a, "5551002");
    uint64_t done = store_job(&a, "5551003");
    sql_do("UPDATE jobs SET node = 'node-b', lease_until = now() + interval '1 hour' WHERE id = %llu",
           (unsigned long long)held);
    sql_do("UPDATE jobs SET status = 'done' WHERE id = %llu", (unsigned long long)done);

    /* another session holds the row of `locked` (a claim in progress) */
    PGconn *other = db();
    char sql[200];
    exec_ok(other, "BEGIN");
    snprintf(sql, sizeof sql, "SELECT id FROM jobs WHERE id = %llu FOR UPDATE", (unsigned long long)locked);
    exec_ok(other, sql);

    struct queue_claim c[5];
    claim_of(&c[0], free1, free1, "5551000", 1);
    claim_of(&c[1], locked, locked, "5551001", 1);
    claim_of(&c[2], held, held, "5551002", 1);
    claim_of(&c[3], done, done, "5551003", 1);
    claim_of(&c[4], free1 + 1000, free1 + 1000, "5551004", 1);
    assert_int_equal(a.be->claim_many(a.s, c, 5, 60), 0);
    assert_int_equal(c[0].result, 0);
    assert_int_equal(c[0].stored.id, free1);
    assert_string_equal(c[0].stored.recipient_number, "5551000");
    assert_int_equal(c[1].result, -EBUSY);
    assert_int_equal(c[2].result, -EBUSY);
    assert_int_equal(c[3].result, -EBUSY);
    assert_int_equal(c[4].result, -ENOENT);
    assert_int_equal(sql_int("SELECT count(*) FROM jobs WHERE node = 'node-a' AND lease_until > now()"), 1);
    assert_int_equal(sql_int("SELECT count(*) FROM jobs WHERE id = %llu AND node IS NULL", (unsigned long long)locked),
                     1);

    /* the other session is done: the row is claimed now */
    exec_ok(other, "COMMIT");
    PQfinish(other);
    claim_of(&c[1], locked, locked, "5551001", 1);
    assert_int_equal(a.be->claim_many(a.s, &c[1], 1, 60), 0);
    assert_int_equal(c[1].result, 0);
    assert_int_equal(c[1].stored.id, locked);
    assert_int_equal(a.be->claim_many(a.s, c, 1, 0), -EINVAL);
    bare_close(&a);
}

/* The limit counts live calls on all nodes: another node's live lease
 * counts, a run-out one does not; jobs batched into one call count once;
 * jobs of one round count against each other. */
static void test_claim_many_refuses_a_destination_at_its_limit_across_nodes(void **state)
{
    (void)state;
    static struct bare a; /* static: closed by the teardown when the test fails */
    test_pg_reset();
    bare_open(&a, "node-a");
    uint64_t j[6];
    for (int i = 0; i < 6; i++)
        j[i] = store_job(&a, "5552000");
    /* node-b calls j[0] */
    sql_do("UPDATE jobs SET node = 'node-b', lease_until = now() + interval '1 hour', dest_key = '5552000', "
           "call_id = id WHERE id = %llu",
           (unsigned long long)j[0]);
    struct queue_claim c[3];
    claim_of(&c[0], j[1], j[1], "5552000", 1);
    assert_int_equal(a.be->claim_many(a.s, c, 1, 60), 0);
    assert_int_equal(c[0].result, -EAGAIN);
    assert_int_equal(live_calls("5552000"), 1);

    /* limit 2: one more call, not two, in one round */
    claim_of(&c[0], j[1], j[1], "5552000", 2);
    claim_of(&c[1], j[2], j[2], "5552000", 2);
    /* j[3] rides in j[1]'s call: the same call, not counted again */
    claim_of(&c[2], j[3], j[1], "5552000", 2);
    assert_int_equal(a.be->claim_many(a.s, c, 3, 60), 0);
    assert_int_equal(c[0].result, 0);
    assert_int_equal(c[1].result, -EAGAIN);
    assert_int_equal(c[2].result, 0);
    assert_int_equal(live_calls("5552000"), 2);
    assert_int_equal(sql_int("SELECT count(*) FROM jobs WHERE dest_key = '5552000' AND lease_until > now()"), 3);

    /* node-b's lease ran out (it died): its call is not in progress */
    sql_do("UPDATE jobs SET lease_until = now() - interval '1 second' WHERE id = %llu", (unsigned long long)j[0]);
    claim_of(&c[0], j[2], j[2], "5552000", 2);
    assert_int_equal(a.be->claim_many(a.s, c, 1, 60), 0);
    assert_int_equal(c[0].result, 0);
    assert_int_equal(live_calls("5552000"), 2);

    /* a call ended (its result stored releases the lease): room again */
    assert_int_equal(a.be->release(a.s, j[1]), 0);
    assert_int_equal(a.be->release(a.s, j[3]), 0);
    claim_of(&c[0], j[4], j[4], "5552000", 2);
    claim_of(&c[1], j[5], j[5], "5552000", 0); /* no limit: always */
    assert_int_equal(a.be->claim_many(a.s, c, 2, 60), 0);
    assert_int_equal(c[0].result, 0);
    assert_int_equal(c[1].result, 0);

    /* a key is data, whatever it holds: stored as given, counted apart */
    const char *odd = "[+49\\\"5,{x}\" '] NULL";
    uint64_t k = store_job(&a, "5552001");
    claim_of(&c[0], k, k, odd, 1);
    assert_int_equal(a.be->claim_many(a.s, c, 1, 60), 0);
    assert_int_equal(c[0].result, 0);
    PGconn *conn = db();
    char ids[24];
    snprintf(ids, sizeof ids, "%llu", (unsigned long long)k);
    const char *v[] = {ids};
    PGresult *res = PQexecParams(conn, "SELECT dest_key FROM jobs WHERE id = $1", 1, NULL, v, NULL, NULL, 0);
    assert_int_equal(PQresultStatus(res), PGRES_TUPLES_OK);
    assert_string_equal(PQgetvalue(res, 0, 0), odd);
    PQclear(res);
    PQfinish(conn);
    bare_close(&a);
}

/* Two nodes claiming the same destination's jobs at the same moment:
 * together they never take more calls than its limit. */
struct racer {
    struct bare *b;
    struct queue_claim *c;
    size_t n;
    pthread_barrier_t *go;
    int r;
};

static void *race(void *arg)
{
    struct racer *x = arg;
    pthread_barrier_wait(x->go);
    x->r = x->b->be->claim_many(x->b->s, x->c, x->n, 60);
    return NULL;
}

static void test_two_nodes_claiming_at_once_stay_within_the_limit(void **state)
{
    (void)state;
    enum { N = 24, ROUNDS = 6, LIMIT = 2 };
    static struct bare a, b;
    uint64_t ids[N];
    test_pg_reset();
    bare_open(&a, "node-a");
    bare_open(&b, "node-b");
    for (int i = 0; i < N; i++)
        ids[i] = store_job(i % 2 ? &b : &a, "5553000");
    static struct queue_claim ca[N / 2], cb[N / 2];
    int taken_a = 0, taken_b = 0;
    for (int round = 0; round < ROUNDS; round++) {
        /* different jobs to the same destination: no row is wanted by
         * both, only the count of the destination's calls is shared */
        for (int i = 0; i < N / 2; i++) {
            claim_of(&ca[i], ids[2 * i], ids[2 * i], "5553000", LIMIT);
            claim_of(&cb[i], ids[2 * i + 1], ids[2 * i + 1], "5553000", LIMIT);
        }
        /* a gate both claims wait at before they lock any row (the
         * table locked): opened once both wait, they run at the same
         * moment, and only the destination's lock serializes them */
        PGconn *gate = db();
        exec_ok(gate, "BEGIN");
        exec_ok(gate, "LOCK TABLE jobs IN EXCLUSIVE MODE");
        pthread_barrier_t go;
        pthread_barrier_init(&go, NULL, 2);
        struct racer ra = {&a, ca, N / 2, &go, 1}, rb = {&b, cb, N / 2, &go, 1};
        pthread_t ta, tb;
        assert_int_equal(pthread_create(&ta, NULL, race, &ra), 0);
        assert_int_equal(pthread_create(&tb, NULL, race, &rb), 0);
        long long waiting = 0;
        for (int i = 0; i < 2000 && waiting < 2; i++) {
            usleep(5000);
            waiting = sql_int("SELECT count(*) FROM pg_stat_activity WHERE wait_event_type = 'Lock' AND "
                              "datname = current_database()");
        }
        assert_int_equal(waiting, 2); /* both claims are waiting (bounded: a hang fails here) */
        exec_ok(gate, "COMMIT");
        PQfinish(gate);
        pthread_join(ta, NULL);
        pthread_join(tb, NULL);
        pthread_barrier_destroy(&go);
        assert_int_equal(ra.r, 0);
        assert_int_equal(rb.r, 0);
        int took = 0;
        for (int i = 0; i < N / 2; i++) {
            assert_true(ca[i].result == 0 || ca[i].result == -EAGAIN);
            assert_true(cb[i].result == 0 || cb[i].result == -EAGAIN);
            took += (ca[i].result == 0) + (cb[i].result == 0);
            taken_a += ca[i].result == 0;
            taken_b += cb[i].result == 0;
        }
        assert_int_equal(took, LIMIT);
        assert_int_equal(live_calls("5553000"), LIMIT);
        sql_do("UPDATE jobs SET node = NULL, lease_until = NULL WHERE dest_key = '%s'", "5553000");
    }
    print_message("claims at once: %d taken by node-a, %d by node-b in %d rounds (limit %d)\n", taken_a, taken_b,
                  ROUNDS, LIMIT);
    bare_close(&a);
    bare_close(&b);
}

/* ---- two engines ---------------------------------------------------- */

/* Refusals for a destination's limit, as the daemon's log tells them. */
static int limit_refusals;

static void count_refusals(int level, const char *msg)
{
    (void)level;
    if (strstr(msg, "call(s) in progress on all nodes") != NULL)
        limit_refusals++;
}

static struct queue_fixture *node_fixture(const char *node, int limit, bool reset)
{
    struct queue_fixture *f = queue_fixture_new(true);
    if (reset)
        test_pg_reset();
    assert_non_null(f->pg = backend_pg_create(test_pg_conninfo(), node));
    f->cfg.backend = f->pg;
    f->cfg.per_destination_limit = limit;
    f->cfg.log = count_refusals;
    for (int i = 0; i < 4; i++)
        if (open_fixtures[i] == NULL) {
            open_fixtures[i] = f;
            break;
        }
    queue_fixture_open(f);
    return f;
}

struct node_run {
    struct queue_fixture *f;
    int finished; /* calls of f's line reported, in order */
};

static void finish_oldest(struct node_run *x, int *calls_of, uint64_t first, size_t n)
{
    const struct fake_call *c = &x->f->line.calls[x->finished++];
    assert_true(c->job_id >= first && c->job_id < first + n);
    calls_of[c->job_id - first]++;
    struct queue_call_result r = test_result(QF_NONE, "", c->total_pages);
    queue_call_finished(x->f->q, c->job_id, &r);
}

/* N jobs to one number, submitted on both nodes; the nodes dispatch in
 * turns, each catching up with the other's changes every catch_up-th
 * round (0: never after the start, so each node knows nothing of the
 * other's calls and only the store's count keeps the limit), and each
 * call lasts until the node's next turn. At every moment the calls to the number in
 * progress on both nodes together, and its live calls in the database,
 * stay within the limit, and the limit is reached; every job is sent
 * exactly once. */
static void run_limit(int limit, int catch_up)
{
    enum { N = 14 };
    struct node_run nodes[2] = {{node_fixture("node-a", limit, true), 0}, {node_fixture("node-b", limit, false), 0}};
    uint64_t ids[N];
    int calls_of[2 * N] = {0}, most = 0, most_db = 0;

    for (int i = 0; i < N; i++)
        ids[i] = submit_simple(nodes[i % 2].f->q, "5554000", 1);
    uint64_t first = ids[0];
    for (int i = 0; i < N; i++)
        assert_true(ids[i] >= first && ids[i] < first + 2 * N);
    queue_catch_up(nodes[0].f->q);
    queue_catch_up(nodes[1].f->q);
    int ended = 0;
    for (int round = 0; round < 400 && ended < N; round++) {
        struct node_run *x = &nodes[round % 2];
        if (catch_up > 0 && round % catch_up == 0)
            queue_catch_up(x->f->q);
        int before = x->f->line.ncalls;
        queue_run_once(x->f->q);
        int now = nodes[0].f->line.ncalls - nodes[0].finished + nodes[1].f->line.ncalls - nodes[1].finished;
        long long in_db = live_calls("5554000");
        assert_true(now <= limit);
        assert_true(in_db <= limit);
        most = now > most ? now : most;
        most_db = in_db > most_db ? (int)in_db : most_db;
        /* the calls this node began in earlier turns end now */
        while (x->finished < before) {
            finish_oldest(x, calls_of, first, 2 * N);
            ended++;
        }
        for (int k = 0; k < 2; k++)
            nodes[k].f->clock.now += 3; /* refused claims are asked again seconds later */
    }
    assert_int_equal(ended, N);
    assert_int_equal(most, limit);
    assert_int_equal(most_db, limit);
    for (int i = 0; i < N; i++)
        assert_int_equal(calls_of[ids[i] - first], 1);
    assert_int_equal(sql_int("SELECT count(*) FROM jobs WHERE status = 'done' AND node IS NULL"), N);
    print_message("limit %d, catching up every %d rounds: %d calls on node-a, %d on node-b, at most %d at once (%d "
                  "live in the database)\n",
                  limit, catch_up, nodes[0].finished, nodes[1].finished, most, most_db);
    fixture_free(nodes[1].f);
    fixture_free(nodes[0].f);
}

static void test_two_engines_keep_a_destination_limit_of_1_together(void **state)
{
    (void)state;
    run_limit(1, 3);
    run_limit(1, 0);
}

static void test_two_engines_keep_a_destination_limit_of_2_together(void **state)
{
    (void)state;
    run_limit(2, 3);
    run_limit(2, 0);
}

/* node-b has not yet seen node-a's call to a number (no catch-up since):
 * its claim of its own job to that number is refused by the store while
 * node-a's call lasts, and goes through once that call has ended. */
static void test_a_node_unaware_of_another_node_s_call_is_refused_by_the_store(void **state)
{
    (void)state;
    struct queue_fixture *a = node_fixture("node-a", 1, true), *b = node_fixture("node-b", 1, false);
    limit_refusals = 0;
    uint64_t ja = submit_simple(a->q, "5557000", 1);
    uint64_t jb = submit_simple(b->q, "5557000", 1);
    queue_catch_up(a->q);
    queue_catch_up(b->q);

    assert_int_equal(queue_run_once(a->q), 1);
    assert_int_equal(a->line.calls[0].job_id, ja);
    /* node-b: first the job node-a calls (held), then its own (full) */
    assert_int_equal(queue_run_once(b->q), 0);
    assert_int_equal(queue_run_once(b->q), 0);
    assert_int_equal(b->line.ncalls, 0);
    struct job j;
    assert_int_equal(queue_snapshot(b->q, jb, &j), 0);
    assert_int_equal(j.status, JOB_QUEUED);
    assert_int_equal(j.attempts, 0);
    assert_int_equal(live_calls("5557000"), 1);
    assert_int_equal(limit_refusals, 1);
    /* once node-b has caught up, it counts node-a's call itself and does
     * not ask the store */
    queue_catch_up(b->q);
    b->clock.now += 3;
    assert_int_equal(queue_run_once(b->q), 0);
    assert_int_equal(limit_refusals, 1);

    struct queue_call_result r = test_result(QF_NONE, "", 1);
    queue_call_finished(a->q, ja, &r);
    queue_catch_up(b->q); /* node-b sees that call end */
    assert_int_equal(queue_run_once(b->q), 1);
    assert_int_equal(b->line.calls[0].job_id, jb);
    queue_call_finished(b->q, jb, &r);
    assert_int_equal(sql_int("SELECT count(*) FROM jobs WHERE status = 'done'"), 2);
    fixture_free(b);
    fixture_free(a);
}

static uint64_t submit_priority(struct queue *q, const char *number, int priority)
{
    struct queue_request req = {0};
    char why[200];
    uint64_t id;
    int fd = make_good_tiff(1);
    snprintf(req.recipient_number, sizeof req.recipient_number, "%s", number);
    req.priority = priority;
    assert_int_equal(queue_submit(q, &test_owner, &req, &fd, 1, &id, why, sizeof why), 0);
    close(fd);
    return id;
}

/* Both nodes' channels busy; a normal job submitted on node-a, then a
 * high-priority one on node-b: the channel that frees on node-a calls
 * node-b's job first. */
static void test_a_high_priority_job_of_another_node_goes_first(void **state)
{
    (void)state;
    struct queue_fixture *a = node_fixture("node-a", 1, true), *b = node_fixture("node-b", 1, false);
    uint64_t fa[2], fb[2];

    fa[0] = submit_simple(a->q, "5555001", 1);
    fa[1] = submit_simple(a->q, "5555002", 1);
    assert_int_equal(queue_run_once(a->q), 2);
    fb[0] = submit_simple(b->q, "5555003", 1);
    fb[1] = submit_simple(b->q, "5555004", 1);
    queue_catch_up(b->q);
    assert_int_equal(queue_run_once(b->q), 2);
    assert_int_equal(b->line.calls[0].job_id, fb[0]);
    assert_int_equal(b->line.calls[1].job_id, fb[1]);

    uint64_t low = submit_priority(a->q, "5555100", JOB_PRIORITY_NORMAL);
    b->clock.now += 5;
    a->clock.now += 5;
    uint64_t high = submit_priority(b->q, "5555200", JOB_PRIORITY_HIGH);
    queue_catch_up(a->q);
    queue_catch_up(b->q);
    struct job jl, jh;
    assert_int_equal(queue_snapshot(a->q, high, &jh), 0);
    assert_int_equal(queue_snapshot(a->q, low, &jl), 0);
    assert_true(jl.submitted < jh.submitted);

    struct queue_call_result r = test_result(QF_NONE, "", 1);
    queue_call_finished(a->q, fa[0], &r);
    assert_int_equal(queue_run_once(a->q), 1);
    assert_int_equal(a->line.calls[2].job_id, high);
    /* node-b's channel frees next: the low one goes there */
    queue_call_finished(b->q, fb[0], &r);
    queue_catch_up(b->q);
    assert_int_equal(queue_run_once(b->q), 1);
    assert_int_equal(b->line.calls[2].job_id, low);
    queue_call_finished(a->q, high, &r);
    queue_call_finished(b->q, low, &r);
    assert_int_equal(sql_int("SELECT count(*) FROM jobs WHERE status = 'done' AND id IN (%llu, %llu)",
                             (unsigned long long)low, (unsigned long long)high),
                     2);
    fixture_free(b);
    fixture_free(a);
}

/* A job that failed on node-a waits for its retry time on node-b too:
 * node-b, all channels free, calls it only once that time comes. */
static void test_a_retry_time_set_on_one_node_holds_on_the_other(void **state)
{
    (void)state;
    struct queue_fixture *a = node_fixture("node-a", 1, true), *b = node_fixture("node-b", 1, false);
    uint64_t id = submit_simple(a->q, "5556000", 1);

    assert_int_equal(queue_run_once(a->q), 1);
    struct queue_call_result busy = test_result(QF_BUSY, "busy", 0);
    queue_call_finished(a->q, id, &busy);
    struct job j;
    assert_int_equal(queue_snapshot(a->q, id, &j), 0);
    assert_int_equal(j.status, JOB_RETRYING);
    assert_true(j.next_attempt > a->clock.now);
    queue_catch_up(b->q);
    assert_int_equal(queue_snapshot(b->q, id, &j), 0);
    assert_int_equal(j.status, JOB_RETRYING);
    b->clock.now = j.next_attempt - 1;
    assert_int_equal(queue_run_once(b->q), 0);
    assert_int_equal(b->line.ncalls, 0);
    b->clock.now = j.next_attempt;
    assert_int_equal(queue_run_once(b->q), 1);
    assert_int_equal(b->line.calls[0].job_id, id);
    assert_int_equal(b->line.calls[0].job_id, id);
    fixture_free(b);
    fixture_free(a);
}

int main(void)
{
    if (test_pg_conninfo() == NULL) {
        fprintf(stderr, "test_queue_pg_dispatch: FAXFS_TEST_PG is not set; run it through tests/lib/with_postgres.sh\n");
        return 77;
    }
    const struct CMUnitTest tests[] = {
        cmocka_unit_test_teardown(test_claim_many_skips_a_locked_row_and_answers_each_job, close_all),
        cmocka_unit_test_teardown(test_claim_many_refuses_a_destination_at_its_limit_across_nodes, close_all),
        cmocka_unit_test_teardown(test_two_nodes_claiming_at_once_stay_within_the_limit, close_all),
        cmocka_unit_test_teardown(test_two_engines_keep_a_destination_limit_of_1_together, close_all),
        cmocka_unit_test_teardown(test_two_engines_keep_a_destination_limit_of_2_together, close_all),
        cmocka_unit_test_teardown(test_a_node_unaware_of_another_node_s_call_is_refused_by_the_store, close_all),
        cmocka_unit_test_teardown(test_a_high_priority_job_of_another_node_goes_first, close_all),
        cmocka_unit_test_teardown(test_a_retry_time_set_on_one_node_holds_on_the_other, close_all),
    };
    return cmocka_run_group_tests(tests, NULL, NULL);
}

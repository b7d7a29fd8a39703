/*
 * backend_pg.c - the PostgreSQL storage backend (docs/postgresql.md).
 *
 * The database is the truth: a job is its row in jobs (the job file's text
 * plus the columns that are queried), its pages rows in pages, its log
 * rows in job_log. Every change is one statement or one transaction, and
 * durable once PostgreSQL has committed it. Files appear only on the local
 * side, under SPOOL/pg-cache (emptied at every start):
 *   pages/<id>/NNN.tif  pages as read from the database, for the paths and
 *                       fds that modems and readers want (pages never
 *                       change once stored; a job's directory goes with it)
 *   tmp/                uploads, drafts, stages (pages being written), and
 *                       the anonymous files logs and PDFs are read into
 *
 * One PGconn, used under conn_lock: the engine calls most members under
 * its own lock, but the PDF cache and staging may run on any thread.
 * Several nodes may share the database (docs/postgresql.md "Several
 * nodes"): a job is called by the node holding its lease (claim, renew,
 * release below). While open, the store holds a session advisory lock on
 * its node name, so two live daemons under one --node are refused.
 */
#include "queue/backend_pg.h"
#include "queue/draft_files.h"
#include "queue/fdio.h"
#include "queue/jobfile.h"
#include "queue/pg_migrate.h"

#include <dirent.h>
#include <endian.h>
#include <errno.h>
#include <fcntl.h>
#include <inttypes.h>
#include <libpq-fe.h>
#include <limits.h>
#include <pthread.h>
#include <stdarg.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <time.h>
#include <poll.h>
#include <sys/file.h>
#include <sys/stat.h>
#include <unistd.h>

/* The session advisory lock a running store holds: one key per node
 * name, so that two daemons under one name are refused. */
#define PG_NODE_LOCK_KEY "hashtextextended('faxfs node ' || $1, 7378428469352050532)"
/* Taken for the length of one id hand-out, so that a reservation of
 * several consecutive ids is not interleaved with another node's. */
#define PG_ID_LOCK "pg_advisory_xact_lock(7378428469352050537)"
#define PG_WALK_BATCH 500
#define PG_WALK_BATCH_S "500"

struct pg_backend {
    struct queue_backend ops;
    char *conninfo;
    char *node;
};

#define NOTED_MAX 1024      /* job ids noted between two looks */
#define FULL_LOOK_MS 30000  /* a look at every change since the previous full one */

struct pg_store {
    struct pg_backend *b;
    PGconn *conn;
    pthread_mutex_t conn_lock; /* recursive: conn, fenced, and PQ calls on conn */
    bool fenced; /* the node lock was lost to another faxfs: use the database no more */
    char root[PATH_MAX];       /* SPOOL/pg-cache */
    int rootfd, pagesfd, tmpfd;
    int lockfd; /* pg-cache/lock, flock()ed while open: one daemon a cache */
    struct queue_backend_env env;
    pthread_mutex_t seq_lock; /* seq: names made on any thread */
    unsigned seq;
    /* Log lines not yet in job_log (under conn_lock): written together
     * before the next statement of any other operation, or when
     * LOG_BATCH_LINES are waiting or the oldest has waited
     * LOG_BATCH_MS. */
    struct pending_line {
        uint64_t id;
        char *line;
    } *logq;
    size_t nlogq, caplogq;
    int64_t logq_since_ms;
    unsigned long logq_dropped;
    int64_t reconnect_at_ms; /* no new connection attempt before this */
    int reconnect_backoff_ms;
    /* Several nodes: the LISTEN connection (its own lock: waited on by
     * the engine's catch-up thread), and the snapshot xmin of the
     * previous catch-up (rows written by transactions from it on are
     * looked at again). */
    PGconn *listen;
    pthread_mutex_t listen_lock;
    char xmin[32];
    /* What notifications named since the previous look (notes_lock):
     * the jobs, and the pause flag; the next look reads only those. A
     * look of every change since the previous full one (from xmin) is
     * due every FULL_LOOK_MS, at the first, after a failed look, after
     * the LISTEN connection was made again and when more jobs were
     * named than noted[] holds. */
    pthread_mutex_t notes_lock;
    uint64_t noted[NOTED_MAX];
    size_t nnoted;
    bool noted_paused;
    bool full_due;
    int64_t full_at_ms;
};

#define RECONNECT_FIRST_MS 250
#define RECONNECT_MAX_MS 30000

/* A log is a record for people; the job row is the truth: its lines are
 * written in batches, as the spool appends them without an fsync each
 * (docs/postgresql.md "Log lines"). */
#define LOG_BATCH_LINES 64
#define LOG_BATCH_MS 1000
#define LOG_PENDING_MAX 20000 /* while the database is unreachable */

struct queue_stage {
    struct pg_store *ps;
    char name[64]; /* under tmp/ */
    int dirfd;
    int npages;
    int coversfd;   /* covers/, once a cover is staged; else -1 */
    size_t ncovers; /* highest cover index + 1; raised atomically */
};

/* ---- helpers -------------------------------------------------------- */

static void pg_log(struct pg_store *ps, int level, const char *fmt, ...) __attribute__((format(printf, 3, 4)));
static void pg_log(struct pg_store *ps, int level, const char *fmt, ...)
{
    char msg[600];
    va_list ap;

    va_start(ap, fmt);
    vsnprintf(msg, sizeof msg, fmt, ap);
    va_end(ap);
    if (ps->env.log != NULL)
        ps->env.log(ps->env.log_ctx, level, msg);
}

/* The first line of libpq's message, without the trailing newline. */
static void first_line(const char *msg, char *out, size_t outlen)
{
    snprintf(out, outlen, "%s", msg ? msg : "");
    out[strcspn(out, "\n")] = '\0';
}

static bool conninfo_has_password(PQconninfoOption *opts)
{
    for (PQconninfoOption *o = opts; o != NULL && o->keyword != NULL; o++)
        if (strcmp(o->keyword, "password") == 0 && o->val != NULL && o->val[0] != '\0')
            return true;
    return false;
}

bool backend_pg_is_conninfo(const char *store)
{
    return store != NULL && (strncmp(store, "postgresql://", 13) == 0 || strncmp(store, "postgres://", 11) == 0 ||
                             strchr(store, '=') != NULL);
}

int backend_pg_conninfo_check(const char *conninfo, char *why, size_t whylen)
{
    char *err = NULL;
    PQconninfoOption *opts = PQconninfoParse(conninfo, &err);

    if (opts == NULL) {
        char line[200];
        first_line(err ? err : "out of memory", line, sizeof line);
        snprintf(why, whylen, "not a PostgreSQL connection string: %s", line);
        PQfreemem(err);
        return -EINVAL;
    }
    bool pw = conninfo_has_password(opts);
    PQconninfoFree(opts);
    if (pw) {
        snprintf(why, whylen,
                 "the connection string carries a password, which ps(1) would show; remove it and set "
                 "PGPASSWORD in the environment or put it in a passfile (~/.pgpass or PGPASSFILE)");
        return -EINVAL;
    }
    return 0;
}

/* Connects with an application name that names the node; why on error. */
static PGconn *connect_db(const char *conninfo, const char *node, char *why, size_t whylen)
{
    char app[80];
    const char *keys[] = {"dbname", "application_name", "fallback_application_name", NULL};
    const char *vals[] = {conninfo, app, "faxfs", NULL};

    if (backend_pg_conninfo_check(conninfo, why, whylen) != 0)
        return NULL;
    snprintf(app, sizeof app, "faxfs %s", node ? node : "");
    PGconn *c = PQconnectdbParams(keys, vals, 1);
    if (c == NULL) {
        snprintf(why, whylen, "out of memory");
        return NULL;
    }
    if (PQstatus(c) != CONNECTION_OK) {
        char line[300];
        first_line(PQerrorMessage(c), line, sizeof line);
        snprintf(why, whylen, "cannot connect to the database: %s", line);
        PQfinish(c);
        return NULL;
    }
    /* Quiet NOTICEs (e.g. from CREATE ... IF NOT EXISTS). */
    PQclear(PQexec(c, "SET client_min_messages = warning"));
    return c;
}

/* The errno a failed statement stands for. */
static int pg_errno(const PGresult *res)
{
    const char *state = res ? PQresultErrorField(res, PG_DIAG_SQLSTATE) : NULL;

    if (state == NULL)
        return -EIO;
    if (strcmp(state, "23503") == 0) /* foreign_key_violation: the job is gone */
        return -ENOENT;
    if (strcmp(state, "23505") == 0) /* unique_violation */
        return -EEXIST;
    if (strncmp(state, "53", 2) == 0) /* insufficient resources: disk full, ... */
        return -ENOSPC;
    return -EIO;
}

/* Runs a statement with text parameters (lens NULL) or with binary ones
 * (lens given: each parameter's length, all binary), result in text or
 * binary. Returns the result (caller clears) on success, NULL with *err
 * set on failure (logged with what). */
static PGresult *q_exec(struct pg_store *ps, const char *what, const char *sql, int n, const char *const *vals,
                        const int *lens, const int *fmts, int binary_result, int *err)
{
    PGresult *res = PQexecParams(ps->conn, sql, n, NULL, vals, lens, fmts, binary_result);
    ExecStatusType st = PQresultStatus(res);

    if (st == PGRES_COMMAND_OK || st == PGRES_TUPLES_OK) {
        *err = 0;
        return res;
    }
    *err = pg_errno(res);
    if (*err != -ENOENT && *err != -EEXIST) {
        char line[300];
        first_line(PQresultErrorMessage(res), line, sizeof line);
        pg_log(ps, QUEUE_LOG_ERR, "database store: %s failed: %s", what, line[0] ? line : "connection lost");
    }
    PQclear(res);
    if (PQstatus(ps->conn) == CONNECTION_BAD)
        *err = -EIO;
    return NULL;
}

static int q_cmd(struct pg_store *ps, const char *what, const char *sql, int n, const char *const *vals)
{
    int err;
    PGresult *res = q_exec(ps, what, sql, n, vals, NULL, NULL, 0, &err);

    PQclear(res);
    return err;
}

/* A statement that must change exactly one row: -ENOENT when none. */
static int q_one_row(struct pg_store *ps, const char *what, const char *sql, int n, const char *const *vals)
{
    int err;
    PGresult *res = q_exec(ps, what, sql, n, vals, NULL, NULL, 0, &err);

    if (res != NULL && strcmp(PQcmdTuples(res), "0") == 0)
        err = -ENOENT;
    PQclear(res);
    return err;
}

static int tx_begin(struct pg_store *ps)
{
    return q_cmd(ps, "BEGIN", "BEGIN", 0, NULL);
}

static int tx_end(struct pg_store *ps, int r)
{
    if (r == 0)
        return q_cmd(ps, "COMMIT", "COMMIT", 0, NULL);
    PQclear(PQexec(ps->conn, "ROLLBACK"));
    return r;
}

static int64_t now_ms(void)
{
    struct timespec ts;
    clock_gettime(CLOCK_MONOTONIC, &ts);
    return (int64_t)ts.tv_sec * 1000 + ts.tv_nsec / 1000000;
}

/* The node name's lock, for this session; false when another session
 * holds it (or the query failed). */
static bool take_node_lock(struct pg_store *ps)
{
    const char *v[] = {ps->b->node};
    PGresult *res = PQexecParams(ps->conn, "SELECT pg_try_advisory_lock(" PG_NODE_LOCK_KEY ")", 1, NULL, v, NULL,
                                 NULL, 0);
    bool ok = PQresultStatus(res) == PGRES_TUPLES_OK && PQgetvalue(res, 0, 0)[0] == 't';
    PQclear(res);
    return ok;
}

/* The session's settings: the node name the change triggers record
 * (jobs.changed_by), so that a node skips its own writes when it
 * catches up. */
static void session_setup(struct pg_store *ps)
{
    const char *v[] = {ps->b->node};
    PQclear(PQexecParams(ps->conn, "SELECT set_config('faxfs.node', $1, false)", 1, NULL, v, NULL, NULL, 0));
    if (ps->env.no_fsync)
        PQclear(PQexec(ps->conn, "SET synchronous_commit = off"));
}

/* After the connection broke (the server restarted, say): connect again
 * and take the node lock again, once. */
static int ensure_conn(struct pg_store *ps)
{
    if (ps->fenced)
        return -EIO;
    if (PQstatus(ps->conn) == CONNECTION_OK)
        return 0;
    /* Back-off: after a failed attempt, operations fail at once until
     * the next one is due (doubling up to RECONNECT_MAX_MS). */
    int64_t now = now_ms();
    if (now < ps->reconnect_at_ms)
        return -EIO;
    PQreset(ps->conn);
    if (PQstatus(ps->conn) != CONNECTION_OK) {
        char line[300];
        first_line(PQerrorMessage(ps->conn), line, sizeof line);
        ps->reconnect_backoff_ms = ps->reconnect_backoff_ms == 0 ? RECONNECT_FIRST_MS
                                   : ps->reconnect_backoff_ms * 2 > RECONNECT_MAX_MS ? RECONNECT_MAX_MS
                                                                                    : ps->reconnect_backoff_ms * 2;
        ps->reconnect_at_ms = now + ps->reconnect_backoff_ms;
        pg_log(ps, QUEUE_LOG_ERR, "database store: the connection is lost and could not be made again: %s; "
                                  "next try in %d ms, operations fail with EIO until then", line,
               ps->reconnect_backoff_ms);
        return -EIO;
    }
    ps->reconnect_backoff_ms = 0;
    ps->reconnect_at_ms = 0;
    if (!take_node_lock(ps)) {
        pg_log(ps, QUEUE_LOG_ERR,
               "database store: connected again, but another faxfs runs as node '%s' now; every change fails "
               "until this one stops: stop one of them, or give each its own --node",
               ps->b->node);
        ps->fenced = true;
        return -EIO;
    }
    session_setup(ps);
    pg_log(ps, QUEUE_LOG_WARNING, "database store: connection lost and made again");
    return 0;
}

static void u64s(char *buf, size_t len, uint64_t v)
{
    snprintf(buf, len, "%" PRIu64, v);
}


/* The waiting log lines in multi-row INSERTs, in their order; a line of a
 * job that is gone meanwhile is dropped. Outside a transaction only (a
 * rolled-back one would take them along). Under conn_lock. */
static void flush_logs(struct pg_store *ps)
{
    enum { ROWS = LOG_BATCH_LINES };
    static const char head[] = "INSERT INTO job_log (job_id, line) SELECT v.id, v.line FROM (VALUES ";
    static const char tail[] = ") AS v(id, line, ord) WHERE EXISTS (SELECT 1 FROM jobs WHERE jobs.id = v.id) "
                               "ORDER BY v.ord";
    char sql[sizeof head + ROWS * 48 + sizeof tail];
    char ids[ROWS][24], ords[ROWS][12];
    const char *vals[ROWS * 3];
    size_t done = 0;

    if (ps->nlogq == 0 || PQtransactionStatus(ps->conn) != PQTRANS_IDLE)
        return;
    while (done < ps->nlogq) {
        size_t n = ps->nlogq - done < ROWS ? ps->nlogq - done : ROWS;
        size_t k = 0;
        k += (size_t)snprintf(sql + k, sizeof sql - k, "%s", head);
        for (size_t i = 0; i < n; i++) {
            u64s(ids[i], sizeof ids[i], ps->logq[done + i].id);
            snprintf(ords[i], sizeof ords[i], "%zu", i);
            vals[i * 3] = ids[i];
            vals[i * 3 + 1] = ps->logq[done + i].line;
            vals[i * 3 + 2] = ords[i];
            k += (size_t)snprintf(sql + k, sizeof sql - k, "%s($%zu::bigint, $%zu::text, $%zu::int)", i ? "," : "",
                                  i * 3 + 1, i * 3 + 2, i * 3 + 3);
        }
        snprintf(sql + k, sizeof sql - k, "%s", tail);
        if (q_cmd(ps, "storing log lines", sql, (int)(n * 3), vals) != 0)
            break; /* kept for the next try */
        done += n;
    }
    for (size_t i = 0; i < done; i++)
        free(ps->logq[i].line);
    memmove(ps->logq, ps->logq + done, (ps->nlogq - done) * sizeof *ps->logq);
    ps->nlogq -= done;
    ps->logq_since_ms = now_ms();
}

static int db_lock_ok(struct pg_store *ps)
{
    pthread_mutex_lock(&ps->conn_lock);
    int r = ensure_conn(ps);
    if (r != 0)
        pthread_mutex_unlock(&ps->conn_lock);
    else
        flush_logs(ps);
    return r;
}

static void db_unlock(struct pg_store *ps)
{
    pthread_mutex_unlock(&ps->conn_lock);
}

static unsigned next_seq(struct pg_store *ps)
{
    pthread_mutex_lock(&ps->seq_lock);
    unsigned s = ++ps->seq;
    pthread_mutex_unlock(&ps->seq_lock);
    return s;
}

static int remove_tree(int dirfd, const char *name)
{
    int fd = openat(dirfd, name, O_RDONLY | O_DIRECTORY | O_NOFOLLOW | O_CLOEXEC);

    if (fd < 0) {
        if (errno == ENOTDIR || errno == ELOOP)
            return unlinkat(dirfd, name, 0) == 0 ? 0 : -errno;
        return errno == ENOENT ? 0 : -errno;
    }
    DIR *d = fdopendir(fd);
    if (d == NULL) {
        close(fd);
        return -errno;
    }
    struct dirent *e;
    while ((e = readdir(d)) != NULL)
        if (strcmp(e->d_name, ".") != 0 && strcmp(e->d_name, "..") != 0)
            remove_tree(fd, e->d_name);
    closedir(d);
    return unlinkat(dirfd, name, AT_REMOVEDIR) == 0 ? 0 : -errno;
}

static int mkdir_p(const char *path)
{
    char buf[PATH_MAX];

    if (snprintf(buf, sizeof buf, "%s", path) >= (int)sizeof buf)
        return -ENAMETOOLONG;
    for (char *p = buf + 1; *p; p++) {
        if (*p != '/')
            continue;
        *p = '\0';
        if (mkdir(buf, 0700) != 0 && errno != EEXIST)
            return -errno;
        *p = '/';
    }
    return mkdir(buf, 0700) != 0 && errno != EEXIST ? -errno : 0;
}

/* An anonymous read-write file in tmp/. */
static int tmp_file(struct pg_store *ps)
{
    int fd = openat(ps->tmpfd, ".", O_TMPFILE | O_RDWR | O_CLOEXEC, 0600);

    if (fd >= 0 || (errno != EOPNOTSUPP && errno != EISDIR))
        return fd >= 0 ? fd : -errno;
    char name[64];
    for (int tries = 0; tries < 100; tries++) {
        snprintf(name, sizeof name, "anon.%ld.%u", (long)getpid(), next_seq(ps));
        fd = openat(ps->tmpfd, name, O_RDWR | O_CREAT | O_EXCL | O_CLOEXEC | O_NOFOLLOW, 0600);
        if (fd >= 0) {
            unlinkat(ps->tmpfd, name, 0);
            return fd;
        }
        if (errno != EEXIST)
            break;
    }
    return -errno;
}

static int reopen_ro(int fd)
{
    char path[40];

    snprintf(path, sizeof path, "/proc/self/fd/%d", fd);
    int r = open(path, O_RDONLY | O_CLOEXEC);
    return r < 0 ? -errno : r;
}

/* data into a new anonymous file; a read-only fd at offset 0. */
static int anon_with(struct pg_store *ps, const char *data, size_t len)
{
    int fd = tmp_file(ps);

    if (fd < 0)
        return fd;
    int r = fdio_write_all(fd, data, len);
    int ro = r == 0 ? reopen_ro(fd) : r;
    close(fd);
    return ro;
}

/* ---- open, close ---------------------------------------------------- */

static void pg_close(void *state)
{
    struct pg_store *ps = state;

    if (ps == NULL)
        return;
    if (ps->conn != NULL && ps->nlogq > 0 && ensure_conn(ps) == 0)
        flush_logs(ps);
    if (ps->nlogq > 0 || ps->logq_dropped > 0)
        pg_log(ps, QUEUE_LOG_WARNING, "database store: %lu log line(s) could not be stored",
               (unsigned long)ps->nlogq + ps->logq_dropped);
    for (size_t i = 0; i < ps->nlogq; i++)
        free(ps->logq[i].line);
    free(ps->logq);
    if (ps->conn != NULL)
        PQfinish(ps->conn); /* ends the session: the node lock goes with it */
    if (ps->listen != NULL)
        PQfinish(ps->listen);
    pthread_mutex_destroy(&ps->listen_lock);
    pthread_mutex_destroy(&ps->notes_lock);
    int fds[] = {ps->rootfd, ps->pagesfd, ps->tmpfd, ps->lockfd};
    for (size_t i = 0; i < sizeof fds / sizeof fds[0]; i++)
        if (fds[i] >= 0)
            close(fds[i]);
    pthread_mutex_destroy(&ps->conn_lock);
    pthread_mutex_destroy(&ps->seq_lock);
    free(ps);
}

/* The local cache: emptied (a previous run's pages may be stale) and made
 * again. */
static int open_cache(struct pg_store *ps, const char *spool_dir)
{
    int r;

    if (spool_dir == NULL || spool_dir[0] == '\0')
        return -EINVAL;
    if (snprintf(ps->root, sizeof ps->root, "%s/pg-cache", spool_dir) >= (int)sizeof ps->root)
        return -ENAMETOOLONG;
    if ((r = mkdir_p(ps->root)) != 0)
        return r;
    ps->rootfd = open(ps->root, O_RDONLY | O_DIRECTORY | O_CLOEXEC);
    if (ps->rootfd < 0)
        return -errno;
    ps->lockfd = openat(ps->rootfd, "lock", O_RDWR | O_CREAT | O_CLOEXEC | O_NOFOLLOW, 0600);
    if (ps->lockfd < 0)
        return -errno;
    if (flock(ps->lockfd, LOCK_EX | LOCK_NB) != 0)
        return errno == EWOULDBLOCK ? -EBUSY : -errno;
    remove_tree(ps->rootfd, "pages");
    remove_tree(ps->rootfd, "tmp");
    if (mkdirat(ps->rootfd, "pages", 0700) != 0 || mkdirat(ps->rootfd, "tmp", 0700) != 0)
        return -errno;
    ps->pagesfd = openat(ps->rootfd, "pages", O_RDONLY | O_DIRECTORY | O_CLOEXEC);
    ps->tmpfd = openat(ps->rootfd, "tmp", O_RDONLY | O_DIRECTORY | O_CLOEXEC);
    return ps->pagesfd < 0 || ps->tmpfd < 0 ? -errno : 0;
}

/* Another faxfs under this node name: say where it runs. */
static void name_holder(struct pg_store *ps, char *out, size_t outlen)
{
    const char *v[] = {ps->b->node};
    PGresult *res = PQexecParams(ps->conn,
                                 "SELECT a.application_name, coalesce(a.client_hostname, host(a.client_addr), "
                                 "'local socket'), a.pid FROM pg_locks l JOIN pg_stat_activity a ON a.pid = l.pid "
                                 "WHERE l.locktype = 'advisory' AND l.granted AND "
                                 "((l.classid::bigint << 32) | l.objid::bigint) = " PG_NODE_LOCK_KEY " LIMIT 1",
                                 1, NULL, v, NULL, NULL, 0);

    if (PQresultStatus(res) == PGRES_TUPLES_OK && PQntuples(res) == 1)
        snprintf(out, outlen, "'%s' from %s, backend pid %s", PQgetvalue(res, 0, 0), PQgetvalue(res, 0, 1),
                 PQgetvalue(res, 0, 2));
    else
        snprintf(out, outlen, "unknown");
    PQclear(res);
}

static int pg_open(void **state, void *ctx, const char *spool_dir, const struct queue_backend_env *env)
{
    struct pg_backend *b = ctx;
    struct pg_store *ps = calloc(1, sizeof *ps);
    pthread_mutexattr_t attr;
    char why[600];
    int r, applied;

    if (ps == NULL)
        return -ENOMEM;
    ps->b = b;
    ps->env = *env;
    ps->rootfd = ps->pagesfd = ps->tmpfd = ps->lockfd = -1;
    pthread_mutexattr_init(&attr);
    pthread_mutexattr_settype(&attr, PTHREAD_MUTEX_RECURSIVE);
    pthread_mutex_init(&ps->conn_lock, &attr);
    pthread_mutexattr_destroy(&attr);
    pthread_mutex_init(&ps->seq_lock, NULL);
    pthread_mutex_init(&ps->listen_lock, NULL);
    pthread_mutex_init(&ps->notes_lock, NULL);
    ps->full_due = true;
    if ((r = open_cache(ps, spool_dir)) != 0) {
        pg_log(ps, QUEUE_LOG_ERR, "database store: cannot make the local cache %s: %s", ps->root,
               r == -EBUSY ? "another faxfs uses it; give each daemon its own spool directory (-s)" : strerror(-r));
        goto fail;
    }
    ps->conn = connect_db(b->conninfo, b->node, why, sizeof why);
    if (ps->conn == NULL) {
        pg_log(ps, QUEUE_LOG_ERR, "database store: %s", why);
        r = -EIO;
        goto fail;
    }
    if (!take_node_lock(ps)) {
        char holder[300];
        name_holder(ps, holder, sizeof holder);
        pg_log(ps, QUEUE_LOG_ERR,
               "database store: another faxfs runs as node '%s' on this database (%s); give each daemon its own "
               "name (--node NAME) or stop the other one",
               b->node, holder);
        r = -EBUSY;
        goto fail;
    }
    if ((r = pg_migrate(ps->conn, &applied, why, sizeof why)) != 0) {
        pg_log(ps, QUEUE_LOG_ERR, "database store: %s", why);
        goto fail;
    }
    if (applied > 0)
        pg_log(ps, QUEUE_LOG_NOTICE, "database store: schema brought to version %d (%d migration%s)",
               pg_schema_latest(), applied, applied == 1 ? "" : "s");
    session_setup(ps);
    /* Changes are looked for from here on (the jobs are read after). */
    PGresult *res = q_exec(ps, "reading the snapshot", "SELECT pg_snapshot_xmin(pg_current_snapshot())::text", 0, NULL, NULL,
                 NULL, 0, &r);
    if (res == NULL)
        goto fail;
    snprintf(ps->xmin, sizeof ps->xmin, "%s", PQgetvalue(res, 0, 0));
    PQclear(res);
    PQclear(PQexec(ps->conn, "DELETE FROM job_deletions WHERE at < now() - interval '7 days'"));
    /* Notifications of other nodes' changes; without them, changes are
     * still found by looking every few seconds. */
    char listen_name[JOB_NODE_MAX + 8];
    snprintf(listen_name, sizeof listen_name, "%s listen", b->node);
    ps->listen = connect_db(b->conninfo, listen_name, why, sizeof why);
    if (ps->listen != NULL) {
        res = PQexec(ps->listen, "LISTEN faxfs_jobs");
        if (PQresultStatus(res) != PGRES_COMMAND_OK) {
            PQfinish(ps->listen);
            ps->listen = NULL;
        }
        PQclear(res);
    }
    if (ps->listen == NULL)
        pg_log(ps, QUEUE_LOG_WARNING, "database store: no notifications of other nodes' changes (%s); they are "
                                      "looked for every few seconds",
               why);
    /* Jobs that were being called by this node when it stopped are not
     * being called now; dispatch sets node again. Its receptions keep its
     * name: the start marks them failed. */
    const char *nv[] = {b->node};
    if ((r = q_cmd(ps, "clearing node",
                   "UPDATE jobs SET node = NULL, lease_until = NULL WHERE node = $1 AND status <> 'receiving'", 1,
                   nv)) != 0)
        goto fail;
    *state = ps;
    return 0;
fail:
    pg_close(ps);
    return r;
}

/* ---- jobs ----------------------------------------------------------- */

/* Parameters of a job row: $1 id, $2 type, $3 status, $4 owner, $5
 * recipient, $6 submitted, $7 scheduled, $8 next_attempt, $9 priority,
 * $10 page_count, $11 node, $12 job_text. */
struct job_params {
    char id[24], owner[24], submitted[24], scheduled[24], next_attempt[24], priority[16], page_count[16];
    const char *vals[13];
};

static void job_params(struct job_params *p, const struct job *job, const char *node, const char *text)
{
    u64s(p->id, sizeof p->id, job->id);
    u64s(p->owner, sizeof p->owner, (uint64_t)job->owner_uid);
    snprintf(p->submitted, sizeof p->submitted, "%" PRId64, job->submitted);
    snprintf(p->scheduled, sizeof p->scheduled, "%" PRId64, job->scheduled);
    snprintf(p->next_attempt, sizeof p->next_attempt, "%" PRId64, job->next_attempt);
    snprintf(p->priority, sizeof p->priority, "%d", job->priority);
    snprintf(p->page_count, sizeof p->page_count, "%d", job->page_count);
    const char *v[12] = {p->id,           job_type_name(job->type),
                         job_status_name(job->status),
                         p->owner,        job->recipient_number,
                         p->submitted,    p->scheduled,
                         p->next_attempt, p->priority,
                         p->page_count,
                         job->status == JOB_ACTIVE || job->status == JOB_RECEIVING ? node : NULL,
                         text};
    memcpy(p->vals, v, sizeof v);
    p->vals[12] = node; /* the writer, for update_job_sql */
}

#define TS(n) "CASE WHEN $" #n "::bigint = 0 THEN NULL ELSE to_timestamp($" #n "::bigint) END"

static const char insert_job_sql[] =
    "INSERT INTO jobs (id, type, status, owner, recipient_number, submitted, scheduled, next_attempt, priority, "
    "page_count, node, job_text) VALUES ($1, $2, $3, $4, $5, " TS(6) ", " TS(7) ", " TS(8) ", $9, $10, $11, $12)";

static const char update_job_sql[] =
    "UPDATE jobs SET type = $2, status = $3, owner = $4, recipient_number = $5, submitted = " TS(6)
    ", scheduled = " TS(7) ", next_attempt = " TS(8) ", priority = $9, page_count = $10, node = $11, "
    "job_text = $12, updated = now(), lease_until = CASE WHEN $11::text IS NULL THEN NULL ELSE lease_until END, "
    "stop_request = CASE WHEN $3 IN ('active', 'queued', 'scheduled', 'retrying') THEN stop_request END "
    "WHERE id = $1 AND set_aside IS NULL AND ($3 NOT IN ('active', 'receiving') OR node = $11) "
    /* another node's live lease: only that node writes the job */
    "AND (node IS NULL OR lease_until IS NULL OR lease_until <= now() OR node = $13)";

static int insert_job(struct pg_store *ps, const struct job *job)
{
    char *text;
    long len = jobfile_format(job, &text);

    if (len < 0)
        return (int)len;
    struct job_params p;
    job_params(&p, job, ps->b->node, text);
    int r = q_cmd(ps, "storing a job", insert_job_sql, 12, p.vals);
    free(text);
    return r;
}

static int insert_log(struct pg_store *ps, uint64_t id, const char *text)
{
    char ids[24];

    if (text == NULL || text[0] == '\0')
        return 0;
    u64s(ids, sizeof ids, id);
    const char *v[] = {ids, text};
    return q_cmd(ps, "storing a log", "INSERT INTO job_log (job_id, line) VALUES ($1, $2)", 2, v);
}

/* Why an update of a job to a waiting or final state found no row:
 * -EBUSY when another node's lease on it still runs (that node is calling
 * it and alone writes it; this node's copy is behind), else -ENOENT. */
static int held_elsewhere(struct pg_store *ps, uint64_t id)
{
    char ids[24];
    int err;

    u64s(ids, sizeof ids, id);
    const char *v[] = {ids, ps->b->node};
    int r = db_lock_ok(ps);
    if (r != 0)
        return r;
    PGresult *res = q_exec(ps, "reading who holds a job",
                           "SELECT node FROM jobs WHERE id = $1 AND set_aside IS NULL AND node IS NOT NULL "
                           "AND node <> $2 AND lease_until > now()",
                           2, v, NULL, NULL, 0, &err);
    r = -ENOENT;
    if (res != NULL && PQntuples(res) == 1) {
        pg_log(ps, QUEUE_LOG_NOTICE, "job %llu: not written: node '%s' is calling it and alone writes it now; "
                                     "this node takes the job as that node stores it",
               (unsigned long long)id, PQgetvalue(res, 0, 0));
        r = -EBUSY;
    }
    PQclear(res);
    db_unlock(ps);
    return r;
}

static int pg_update(void *state, const struct job *job)
{
    struct pg_store *ps = state;
    char *text;
    long len = jobfile_format(job, &text);

    if (len < 0)
        return (int)len;
    int r = db_lock_ok(ps);
    if (r == 0) {
        struct job_params p;
        job_params(&p, job, ps->b->node, text);
        r = q_one_row(ps, "updating a job", update_job_sql, 13, p.vals);
        db_unlock(ps);
    }
    free(text);
    /* An active job, or a reception, is written only under this node's
     * lease: another node took it, paused or canceled it, or ended the
     * reception meanwhile. */
    if (r == -ENOENT && (job->status == JOB_ACTIVE || job->status == JOB_RECEIVING)) {
        pg_log(ps, QUEUE_LOG_WARNING, "job %llu: not written: its lease is no longer this node's",
               (unsigned long long)job->id);
        r = -ESTALE;
    } else if (r == -ENOENT) {
        r = held_elsewhere(ps, job->id);
    }
    return r;
}

/* Queued for the next batch (flush_logs); written at once when the batch
 * is full or its oldest line has waited long enough. */
static int pg_append_log(void *state, uint64_t id, const char *line)
{
    struct pg_store *ps = state;

    if (line == NULL || line[0] == '\0')
        return 0;
    char *copy = strdup(line);
    if (copy == NULL)
        return -ENOMEM;
    pthread_mutex_lock(&ps->conn_lock);
    if (ps->nlogq == LOG_PENDING_MAX) { /* the database has been away long: the oldest go */
        free(ps->logq[0].line);
        memmove(ps->logq, ps->logq + 1, (ps->nlogq - 1) * sizeof *ps->logq);
        ps->nlogq--;
        if (ps->logq_dropped++ == 0)
            pg_log(ps, QUEUE_LOG_WARNING, "database store: more than %d log lines wait for the database; "
                                          "the oldest are dropped", LOG_PENDING_MAX);
    }
    if (ps->nlogq == ps->caplogq) {
        size_t cap = ps->caplogq ? ps->caplogq * 2 : LOG_BATCH_LINES;
        struct pending_line *q = realloc(ps->logq, cap * sizeof *q);
        if (q == NULL) {
            pthread_mutex_unlock(&ps->conn_lock);
            free(copy);
            return -ENOMEM;
        }
        ps->logq = q;
        ps->caplogq = cap;
    }
    if (ps->nlogq == 0)
        ps->logq_since_ms = now_ms();
    ps->logq[ps->nlogq++] = (struct pending_line){id, copy};
    if (ps->nlogq >= LOG_BATCH_LINES || now_ms() - ps->logq_since_ms >= LOG_BATCH_MS) {
        if (db_lock_ok(ps) == 0) /* flushes */
            db_unlock(ps);
    }
    pthread_mutex_unlock(&ps->conn_lock);
    return 0;
}

static int pg_open_log(void *state, uint64_t id)
{
    struct pg_store *ps = state;
    char ids[24];
    const char *v[] = {ids};
    int r = db_lock_ok(ps);

    if (r != 0)
        return r;
    u64s(ids, sizeof ids, id);
    PGresult *res = q_exec(ps, "reading a log",
                           "SELECT (SELECT string_agg(line, '' ORDER BY seq) FROM job_log WHERE job_id = $1) "
                           "FROM jobs WHERE id = $1",
                           1, v, NULL, NULL, 0, &r);
    db_unlock(ps);
    if (res == NULL)
        return r;
    if (PQntuples(res) != 1) {
        PQclear(res);
        return -ENOENT;
    }
    r = anon_with(ps, PQgetvalue(res, 0, 0), (size_t)PQgetlength(res, 0, 0));
    PQclear(res);
    return r;
}

static int pg_remove(void *state, uint64_t id)
{
    struct pg_store *ps = state;
    char ids[24];
    const char *v[] = {ids};
    int r = db_lock_ok(ps);

    if (r != 0)
        return r;
    u64s(ids, sizeof ids, id);
    r = q_one_row(ps, "deleting a job", "DELETE FROM jobs WHERE id = $1", 1, v);
    db_unlock(ps);
    if (r == 0)
        remove_tree(ps->pagesfd, ids);
    return r;
}

static int pg_next_id(void *state, uint64_t *id)
{
    struct pg_store *ps = state;
    int r = db_lock_ok(ps);

    if (r != 0)
        return r;
    /* Written to a table, so that the commit waits for the WAL to be
     * flushed: a bare nextval() in a transaction that writes nothing else
     * is not, and could be handed out again after a crash. */
    PGresult *res = q_exec(ps, "handing out an id",
                           "WITH l AS (SELECT " PG_ID_LOCK ") "
                           "INSERT INTO queue_state (key, value) SELECT 'last_id', nextval('job_ids')::text FROM l "
                           "ON CONFLICT (key) DO UPDATE SET value = EXCLUDED.value RETURNING value",
                           0, NULL, NULL, NULL, 0, &r);
    db_unlock(ps);
    if (res == NULL)
        return r;
    *id = strtoull(PQgetvalue(res, 0, 0), NULL, 10);
    PQclear(res);
    return 0;
}

static int pg_reserve_ids(void *state, size_t n, uint64_t *first)
{
    struct pg_store *ps = state;
    char ns[24];
    const char *v[] = {ns};
    int r;

    if (n == 0)
        return -EINVAL;
    if ((r = db_lock_ok(ps)) != 0)
        return r;
    u64s(ns, sizeof ns, (uint64_t)n);
    /* Consecutive: every node takes the id lock to hand out ids (next_id
     * too), and the sequence is moved past the whole range in the same
     * transaction that records it. */
    r = tx_begin(ps);
    if (r == 0)
        r = q_cmd(ps, "reserving ids", "SELECT " PG_ID_LOCK, 0, NULL);
    PGresult *res = NULL;
    if (r == 0)
        res = q_exec(ps, "reserving ids",
                     "WITH f AS (SELECT nextval('job_ids') AS v) "
                     "SELECT v, setval('job_ids', v + $1::bigint - 1) FROM f",
                     1, v, NULL, NULL, 0, &r);
    if (res != NULL) {
        *first = strtoull(PQgetvalue(res, 0, 0), NULL, 10);
        const char *lv[] = {PQgetvalue(res, 0, 1)};
        r = q_cmd(ps, "reserving ids",
                  "INSERT INTO queue_state (key, value) VALUES ('last_id', $1) "
                  "ON CONFLICT (key) DO UPDATE SET value = EXCLUDED.value",
                  1, lv);
        PQclear(res);
    }
    r = tx_end(ps, r);
    db_unlock(ps);
    return r;
}

static int pg_get_paused(void *state, bool *paused)
{
    struct pg_store *ps = state;
    int r = db_lock_ok(ps);

    if (r != 0)
        return r;
    PGresult *res = q_exec(ps, "reading the pause flag", "SELECT value FROM queue_state WHERE key = 'paused'", 0,
                           NULL, NULL, NULL, 0, &r);
    db_unlock(ps);
    if (res == NULL)
        return r;
    *paused = PQntuples(res) == 1 && strcmp(PQgetvalue(res, 0, 0), "yes") == 0;
    PQclear(res);
    return 0;
}

static int pg_set_paused(void *state, bool paused)
{
    struct pg_store *ps = state;
    const char *v[] = {paused ? "yes" : "no"};
    int r = db_lock_ok(ps);

    if (r != 0)
        return r;
    r = q_cmd(ps, "storing the pause flag",
              "INSERT INTO queue_state (key, value) VALUES ('paused', $1) "
              "ON CONFLICT (key) DO UPDATE SET value = EXCLUDED.value",
              1, v);
    db_unlock(ps);
    return r;
}

/* ---- walk ----------------------------------------------------------- */

static void set_aside(struct pg_store *ps, uint64_t id, const char *why)
{
    char ids[24];
    const char *v[] = {ids, why};

    u64s(ids, sizeof ids, id);
    int r = q_cmd(ps, "setting a job aside", "UPDATE jobs SET set_aside = $2, node = NULL WHERE id = $1", 2, v);
    pg_log(ps, QUEUE_LOG_ERR, "job %s: %s; %s", ids, why,
           r == 0 ? "set aside in the database (jobs.set_aside; faxfs --check-spool lists it)"
                  : "could not be set aside, skipped");
}

/* A receive job's pages stored before the server stopped, but not yet
 * counted in its row, are complete (each was one transaction): keep them
 * rather than lose a page of someone's fax. Pages past page_count of
 * other jobs are leftovers of an edit that did not finish: dropped. */
static int extra_pages(struct pg_store *ps, struct job *job, int npages)
{
    char ids[24], pc[16];
    const char *v[] = {ids, pc};
    int r;

    u64s(ids, sizeof ids, job->id);
    snprintf(pc, sizeof pc, "%d", job->page_count);
    if (job->type != JOB_RECEIVE) {
        r = q_cmd(ps, "dropping extra pages", "DELETE FROM pages WHERE job_id = $1 AND idx >= $2", 2, v);
        pg_log(ps, QUEUE_LOG_NOTICE, "job %s: %d page%s past its page count removed", ids, npages - job->page_count,
               npages - job->page_count == 1 ? "" : "s");
        return r;
    }
    PGresult *res = q_exec(ps, "counting received pages",
                           "SELECT coalesce(sum(length(data)), 0) FROM pages WHERE job_id = $1 AND idx >= $2", 2, v,
                           NULL, NULL, 0, &r);
    if (res == NULL)
        return r;
    int adopted = npages - job->page_count;
    job->size += strtoull(PQgetvalue(res, 0, 0), NULL, 10);
    job->page_count = npages;
    PQclear(res);
    char *text;
    long len = jobfile_format(job, &text);
    if (len < 0)
        return (int)len;
    struct job_params p;
    job_params(&p, job, ps->b->node, text);
    r = q_one_row(ps, "updating a job", update_job_sql, 13, p.vals);
    free(text);
    pg_log(ps, r == 0 ? QUEUE_LOG_NOTICE : QUEUE_LOG_WARNING,
           "job %s: %d received page%s stored before the server stopped %s", ids, adopted, adopted == 1 ? "" : "s",
           r == 0 ? "kept" : "kept for now (the job could not be updated)");
    return 0;
}

static int pg_walk(void *state, int (*fn)(void *arg, const struct job *job), void *arg)
{
    struct pg_store *ps = state;
    uint64_t after = 0;
    int r = 0;

    for (;;) {
        char afters[24];
        const char *v[] = {afters, ps->b->node};
        u64s(afters, sizeof afters, after);
        if ((r = db_lock_ok(ps)) != 0)
            return r;
        PGresult *res = q_exec(ps, "reading jobs",
                               "SELECT j.id, left(j.job_text, 65537), count(p.idx), coalesce(max(p.idx) + 1, 0), "
                               "CASE WHEN j.status = 'active' AND j.lease_until > now() THEN j.node "
                               "WHEN j.status = 'receiving' AND coalesce(j.node, j.changed_by) <> $2 "
                               "THEN coalesce(j.node, j.changed_by) ELSE '' END "
                               "FROM jobs j "
                               "LEFT JOIN pages p ON p.job_id = j.id WHERE j.id > $1 AND j.set_aside IS NULL "
                               "GROUP BY j.id ORDER BY j.id LIMIT " PG_WALK_BATCH_S,
                               2, v, NULL, NULL, 0, &r);
        db_unlock(ps); /* fn runs without it: the rows are all in res */
        if (res == NULL)
            return r;
        int rows = PQntuples(res);
        for (int i = 0; i < rows && r >= 0; i++) {
            uint64_t id = strtoull(PQgetvalue(res, i, 0), NULL, 10);
            int npages = atoi(PQgetvalue(res, i, 2)), span = atoi(PQgetvalue(res, i, 3));
            char why[256], reason[200];
            struct job job;
            after = id;
            why[0] = '\0';
            if (PQgetlength(res, i, 1) > JOBFILE_MAX_BYTES)
                snprintf(why, sizeof why, "job text over %d bytes", JOBFILE_MAX_BYTES);
            else if (jobfile_parse(PQgetvalue(res, i, 1), (size_t)PQgetlength(res, i, 1), &job, reason,
                                   sizeof reason) != 0)
                snprintf(why, sizeof why, "bad job text: %s", reason);
            else if (job.id != id)
                snprintf(why, sizeof why, "job text names id %llu", (unsigned long long)job.id);
            else if (npages != span || npages < job.page_count)
                snprintf(why, sizeof why, "pages missing (%d stored, %d expected)", npages, job.page_count);
            /* another node's reception: that node counts its pages */
            bool others = why[0] == '\0' && job.status == JOB_RECEIVING && PQgetvalue(res, i, 4)[0] != '\0';
            if (why[0] == '\0' && npages > job.page_count && !others) {
                if ((r = db_lock_ok(ps)) != 0)
                    break;
                if (extra_pages(ps, &job, npages) != 0)
                    snprintf(why, sizeof why, "could not settle pages past its page count");
                db_unlock(ps);
            }
            if (why[0] != '\0') {
                if ((r = db_lock_ok(ps)) != 0)
                    break;
                set_aside(ps, id, why);
                db_unlock(ps);
                continue;
            }
            /* active under another node's lease, still running, or
             * being received by another node */
            snprintf(job.node, sizeof job.node, "%s", PQgetvalue(res, i, 4));
            r = fn(arg, &job);
        }
        PQclear(res);
        if (r < 0)
            return r;
        if (rows < PG_WALK_BATCH)
            break;
    }
    /* The sequence above every stored id (a database filled by hand, or
     * restored from an older dump). */
    if ((r = db_lock_ok(ps)) != 0)
        return r;
    r = q_cmd(ps, "raising the id sequence",
              "SELECT setval('job_ids', m) FROM (SELECT max(id) AS m FROM jobs) j, job_ids s "
              "WHERE m IS NOT NULL AND (m > s.last_value OR (m = s.last_value AND NOT s.is_called))",
              0, NULL);
    db_unlock(ps);
    return r;
}

/* ---- pages ---------------------------------------------------------- */

/* pages/<id>/NNN.tif from the database if not there yet; 0 when it is. */
static int cache_page(struct pg_store *ps, uint64_t id, int page, char *rel, size_t rellen)
{
    char ids[24], idx[16], tmp[64];
    struct stat st;

    if (page < 0)
        return -ENOENT;
    u64s(ids, sizeof ids, id);
    snprintf(idx, sizeof idx, "%d", page);
    snprintf(rel, rellen, "%s/%03d.tif", ids, page + 1);
    if (fstatat(ps->pagesfd, rel, &st, AT_SYMLINK_NOFOLLOW) == 0 && S_ISREG(st.st_mode))
        return 0;
    const char *v[] = {ids, idx};
    int r = db_lock_ok(ps);
    if (r != 0)
        return r;
    PGresult *res = q_exec(ps, "reading a page", "SELECT data FROM pages WHERE job_id = $1 AND idx = $2", 2, v, NULL,
                           NULL, 1, &r);
    db_unlock(ps);
    if (res == NULL)
        return r;
    if (PQntuples(res) != 1) {
        PQclear(res);
        return -ENOENT;
    }
    if (mkdirat(ps->pagesfd, ids, 0700) != 0 && errno != EEXIST) {
        r = -errno;
        PQclear(res);
        return r;
    }
    snprintf(tmp, sizeof tmp, "%s/.%03d.%ld.%u", ids, page + 1, (long)getpid(), next_seq(ps));
    int fd = openat(ps->pagesfd, tmp, O_WRONLY | O_CREAT | O_EXCL | O_CLOEXEC | O_NOFOLLOW, 0600);
    r = fd < 0 ? -errno : fdio_write_all(fd, PQgetvalue(res, 0, 0), (size_t)PQgetlength(res, 0, 0));
    PQclear(res);
    if (fd >= 0 && close(fd) != 0 && r == 0)
        r = -errno;
    if (r == 0 && renameat(ps->pagesfd, tmp, ps->pagesfd, rel) != 0)
        r = -errno;
    if (r != 0)
        unlinkat(ps->pagesfd, tmp, 0);
    return r;
}

static int pg_open_page(void *state, uint64_t id, int page)
{
    struct pg_store *ps = state;
    char rel[64];
    int r = cache_page(ps, id, page, rel, sizeof rel);

    if (r != 0)
        return r;
    int fd = openat(ps->pagesfd, rel, O_RDONLY | O_CLOEXEC | O_NOFOLLOW);
    return fd < 0 ? -errno : fd;
}

static int pg_page_path(void *state, uint64_t id, int page, char *out, size_t outlen)
{
    struct pg_store *ps = state;
    char rel[64];
    int r = cache_page(ps, id, page, rel, sizeof rel);

    if (r != 0)
        return r;
    int n = snprintf(out, outlen, "%s/pages/%s", ps->root, rel);
    return n < 0 || (size_t)n >= outlen ? -ENAMETOOLONG : 0;
}

static int insert_page(struct pg_store *ps, uint64_t id, int index, const char *data, size_t len)
{
    uint32_t be_idx = htobe32((uint32_t)index);
    uint64_t be_id = htobe64(id);
    const char *v[] = {(const char *)&be_id, (const char *)&be_idx, data};
    int lens[] = {8, 4, (int)len};
    int fmts[] = {1, 1, 1};
    int r;

    if (len > INT_MAX)
        return -EFBIG;
    PGresult *res = q_exec(ps, "storing a page",
                           "INSERT INTO pages (job_id, idx, data) VALUES ($1::bigint, $2::integer, $3::bytea)", 3, v,
                           lens, fmts, 0, &r);
    PQclear(res);
    return r;
}

static int pg_add_page(void *state, uint64_t id, int index, int src_fd, uint64_t max_bytes, uint64_t *bytes)
{
    struct pg_store *ps = state;
    char *data;
    size_t len;
    int r = fdio_read_all(src_fd, max_bytes, &data, &len);

    if (r != 0)
        return r;
    if (len == 0) {
        free(data);
        return -EINVAL;
    }
    if ((r = db_lock_ok(ps)) == 0) {
        r = insert_page(ps, id, index, data, len);
        db_unlock(ps);
    }
    free(data);
    if (r == 0)
        *bytes = len;
    return r;
}

/* ---- local files: uploads, drafts ----------------------------------- */

static int pg_upload_open(void *state)
{
    return tmp_file(state);
}

static int pg_draft_create(void *state, char *token, size_t tokenlen)
{
    return draft_file_create(((struct pg_store *)state)->tmpfd, token, tokenlen);
}

static int pg_draft_open(void *state, const char *token)
{
    return draft_file_open(((struct pg_store *)state)->tmpfd, token);
}

static int pg_draft_remove(void *state, const char *token)
{
    return draft_file_remove(((struct pg_store *)state)->tmpfd, token);
}

/* ---- fax.pdf and report.pdf ----------------------------------------- */

static int file_open(struct pg_store *ps, uint64_t id, const char *name)
{
    char ids[24];
    const char *v[] = {ids, name};
    int r = db_lock_ok(ps);

    if (r != 0)
        return r;
    u64s(ids, sizeof ids, id);
    PGresult *res = q_exec(ps, "reading a PDF", "SELECT data FROM job_files WHERE job_id = $1 AND name = $2", 2, v,
                           NULL, NULL, 1, &r);
    db_unlock(ps);
    if (res == NULL)
        return r;
    r = PQntuples(res) == 1 ? anon_with(ps, PQgetvalue(res, 0, 0), (size_t)PQgetlength(res, 0, 0)) : -ENOENT;
    PQclear(res);
    return r;
}

static int file_store(struct pg_store *ps, uint64_t id, const char *name, int (*fill)(void *arg, int fd), void *arg)
{
    int fd = tmp_file(ps);
    char *data = NULL;
    size_t len = 0;
    int r;

    if (fd < 0)
        return fd;
    r = fill(arg, fd);
    if (r == 0)
        r = fdio_read_all(fd, INT_MAX, &data, &len);
    if (r == 0 && (r = db_lock_ok(ps)) == 0) {
        uint64_t be_id = htobe64(id);
        const char *v[] = {(const char *)&be_id, name, data};
        int lens[] = {8, (int)strlen(name), (int)len};
        int fmts[] = {1, 1, 1};
        PGresult *res = q_exec(ps, "storing a PDF",
                               "INSERT INTO job_files (job_id, name, data) VALUES ($1::bigint, $2::text, $3::bytea) "
                               "ON CONFLICT (job_id, name) DO UPDATE SET data = EXCLUDED.data",
                               3, v, lens, fmts, 0, &r);
        PQclear(res);
        db_unlock(ps);
    }
    free(data);
    int ro = r == 0 ? reopen_ro(fd) : r;
    close(fd);
    return ro;
}

static int pg_pdf_open(void *state, uint64_t id)
{
    return file_open(state, id, "fax.pdf");
}

static int pg_pdf_store(void *state, uint64_t id, int (*fill)(void *arg, int fd), void *arg)
{
    return file_store(state, id, "fax.pdf", fill, arg);
}

static int pg_report_open(void *state, uint64_t id)
{
    return file_open(state, id, "report.pdf");
}

static int pg_report_store(void *state, uint64_t id, int (*fill)(void *arg, int fd), void *arg)
{
    return file_store(state, id, "report.pdf", fill, arg);
}

/* ---- staging -------------------------------------------------------- */

static int pg_stage_open(void *state, struct queue_stage **out)
{
    struct pg_store *ps = state;
    struct queue_stage *st = calloc(1, sizeof *st);

    if (st == NULL)
        return -ENOMEM;
    st->ps = ps;
    st->coversfd = -1;
    for (int tries = 0; tries < 100; tries++) {
        snprintf(st->name, sizeof st->name, "stage.%ld.%u", (long)getpid(), next_seq(ps));
        if (mkdirat(ps->tmpfd, st->name, 0700) == 0)
            break;
        if (errno != EEXIST || tries == 99) {
            int r = -errno;
            free(st);
            return r;
        }
    }
    st->dirfd = openat(ps->tmpfd, st->name, O_RDONLY | O_DIRECTORY | O_CLOEXEC);
    if (st->dirfd < 0) {
        int r = -errno;
        remove_tree(ps->tmpfd, st->name);
        free(st);
        return r;
    }
    *out = st;
    return 0;
}

static int pg_stage_page(struct queue_stage *st, int index)
{
    char name[32];

    if (index < 0)
        return -EINVAL;
    snprintf(name, sizeof name, "%03d.tif", index + 1);
    int fd = openat(st->dirfd, name, O_RDWR | O_CREAT | O_EXCL | O_CLOEXEC, 0600);
    if (fd < 0)
        return -errno;
    if (index + 1 > st->npages)
        st->npages = index + 1;
    return fd;
}

/* covers/N.tif in the stage, N the job's place in the group. */
static int pg_stage_cover(struct queue_stage *st, size_t job_index)
{
    char name[32];

    if (__atomic_load_n(&st->coversfd, __ATOMIC_ACQUIRE) < 0) {
        /* The first call comes alone (queue/backend.h); later ones may
         * come from several threads. */
        if (mkdirat(st->dirfd, "covers", 0700) != 0)
            return -errno;
        int fd = openat(st->dirfd, "covers", O_RDONLY | O_DIRECTORY | O_CLOEXEC);
        if (fd < 0)
            return -errno;
        __atomic_store_n(&st->coversfd, fd, __ATOMIC_RELEASE);
    }
    snprintf(name, sizeof name, "%zu.tif", job_index);
    int fd = openat(st->coversfd, name, O_RDWR | O_CREAT | O_EXCL | O_CLOEXEC, 0600);
    if (fd < 0)
        return -errno;
    size_t want = job_index + 1, cur = __atomic_load_n(&st->ncovers, __ATOMIC_RELAXED);
    while (cur < want &&
           !__atomic_compare_exchange_n(&st->ncovers, &cur, want, false, __ATOMIC_RELAXED, __ATOMIC_RELAXED))
        ;
    return fd;
}

static void pg_stage_abort(struct queue_stage *st)
{
    if (st == NULL)
        return;
    if (st->coversfd >= 0)
        close(st->coversfd);
    close(st->dirfd);
    remove_tree(st->ps->tmpfd, st->name);
    free(st);
}

/* Inserts the staged file name of dirfd as page index of job id; a
 * missing or empty file is a gap: -EINVAL. */
static int insert_staged_file(struct pg_store *ps, int dirfd, const char *name, uint64_t id, int index)
{
    int fd = openat(dirfd, name, O_RDONLY | O_CLOEXEC | O_NOFOLLOW);
    if (fd < 0)
        return errno == ENOENT ? -EINVAL : -errno;
    char *data = NULL;
    size_t len = 0;
    int r = fdio_read_all(fd, INT_MAX, &data, &len);
    close(fd);
    if (r == 0 && len == 0)
        r = -EINVAL;
    if (r == 0)
        r = insert_page(ps, id, index, data, len);
    free(data);
    return r;
}

/* Inserts every staged page from index first on as job id's. */
static int insert_staged_pages(struct queue_stage *st, uint64_t id, int first)
{
    char name[32];

    for (int i = first; i < st->npages; i++) {
        snprintf(name, sizeof name, "%03d.tif", i + 1);
        int r = insert_staged_file(st->ps, st->dirfd, name, id, i);
        if (r != 0)
            return r;
    }
    return 0;
}

/* Job index of the group's cover as its page 0. */
static int insert_cover(struct queue_stage *st, size_t index, uint64_t id)
{
    char name[32];

    snprintf(name, sizeof name, "%zu.tif", index);
    return insert_staged_file(st->ps, st->coversfd, name, id, 0);
}

/* The committed stage's pages become the first job's cached pages (with
 * covers, the first job's cover its page 1; the others are not cached). */
static void stage_to_cache(struct queue_stage *st, uint64_t id)
{
    char ids[24];

    u64s(ids, sizeof ids, id);
    if (st->coversfd >= 0) {
        bool ok = renameat(st->coversfd, "0.tif", st->dirfd, "001.tif") == 0;
        close(st->coversfd);
        st->coversfd = -1;
        remove_tree(st->dirfd, "covers");
        if (!ok) {
            pg_stage_abort(st); /* pages come from the database */
            return;
        }
    }
    close(st->dirfd);
    if (renameat(st->ps->tmpfd, st->name, st->ps->pagesfd, ids) != 0)
        remove_tree(st->ps->tmpfd, st->name);
    free(st);
}

static int pg_stage_commit(struct queue_stage *st, const struct job *job, const char *log_text)
{
    struct pg_store *ps = st->ps;
    int r = db_lock_ok(ps);

    if (r != 0) {
        pg_stage_abort(st);
        return r;
    }
    r = tx_begin(ps);
    if (r == 0)
        r = insert_job(ps, job);
    if (r == 0)
        r = st->coversfd >= 0 ? -EINVAL : insert_staged_pages(st, job->id, 0); /* covers: groups only */
    if (r == 0)
        r = insert_log(ps, job->id, log_text);
    r = tx_end(ps, r);
    db_unlock(ps);
    if (r != 0) {
        pg_stage_abort(st);
        return r;
    }
    stage_to_cache(st, job->id);
    return 0;
}

static int pg_group_commit(struct queue_stage *st, const struct job *jobs, size_t n, char *const *log_texts)
{
    struct pg_store *ps = st->ps;
    int r = n == 0 ? -EINVAL : db_lock_ok(ps);

    if (r != 0) {
        pg_stage_abort(st);
        return r;
    }
    /* One transaction: every job of the group exists after it, or none.
     * The shared pages travel once; the other jobs copy them inside the
     * server. With covers, every job has its own page 0 (a gap refuses
     * the group) and the shared pages are staged from index 1. */
    bool covers = st->coversfd >= 0;
    char first[24];
    u64s(first, sizeof first, jobs[0].id);
    r = covers && st->ncovers != n ? -EINVAL : tx_begin(ps);
    for (size_t i = 0; r == 0 && i < n; i++) {
        r = insert_job(ps, &jobs[i]);
        if (r == 0 && covers)
            r = insert_cover(st, i, jobs[i].id);
        if (r == 0 && i == 0)
            r = insert_staged_pages(st, jobs[0].id, covers ? 1 : 0);
        if (r == 0 && i > 0) {
            char ids[24];
            u64s(ids, sizeof ids, jobs[i].id);
            const char *v[] = {first, ids};
            r = q_cmd(ps, "storing a group's pages",
                      covers ? "INSERT INTO pages (job_id, idx, data) SELECT $2, idx, data FROM pages "
                               "WHERE job_id = $1 AND idx > 0"
                             : "INSERT INTO pages (job_id, idx, data) SELECT $2, idx, data FROM pages WHERE job_id = $1",
                      2, v);
        }
        if (r == 0)
            r = insert_log(ps, jobs[i].id, log_texts[i]);
    }
    r = tx_end(ps, r);
    db_unlock(ps);
    if (r != 0) {
        pg_stage_abort(st);
        return r;
    }
    stage_to_cache(st, jobs[0].id);
    return 0;
}

/* ---- the counter, for copies between stores ------------------------- */

static int pg_peek_next_id(void *state, uint64_t *id)
{
    struct pg_store *ps = state;
    int r = db_lock_ok(ps);

    if (r != 0)
        return r;
    PGresult *res = q_exec(ps, "reading the id sequence",
                           "SELECT CASE WHEN is_called THEN last_value + 1 ELSE last_value END FROM job_ids", 0, NULL,
                           NULL, NULL, 0, &r);
    db_unlock(ps);
    if (res == NULL)
        return r;
    *id = strtoull(PQgetvalue(res, 0, 0), NULL, 10);
    PQclear(res);
    return 0;
}

static int pg_raise_next_id(void *state, uint64_t min)
{
    struct pg_store *ps = state;
    uint64_t have;
    int r = pg_peek_next_id(state, &have);

    if (r != 0 || have >= min)
        return r;
    char v1[24];
    u64s(v1, sizeof v1, min);
    const char *v[] = {v1};
    if ((r = db_lock_ok(ps)) != 0)
        return r;
    r = tx_begin(ps);
    if (r == 0)
        r = q_cmd(ps, "raising the id sequence", "SELECT setval('job_ids', $1::bigint, false)", 1, v);
    if (r == 0)
        r = q_cmd(ps, "raising the id sequence",
                  "INSERT INTO queue_state (key, value) VALUES ('next_id_floor', $1) "
                  "ON CONFLICT (key) DO UPDATE SET value = EXCLUDED.value",
                  1, v);
    r = tx_end(ps, r);
    db_unlock(ps);
    return r;
}

/* ---- leases --------------------------------------------------------- */

/* The parameters of the lease statements: $1 the job, $2 this node, $3
 * the lease in seconds (-EINVAL when not positive). */
struct lease_args {
    char id[24], secs[16];
    const char *v[3];
};

static int lease_args(const struct pg_store *ps, uint64_t id, int lease_seconds, struct lease_args *a)
{
    if (lease_seconds <= 0)
        return -EINVAL;
    u64s(a->id, sizeof a->id, id);
    snprintf(a->secs, sizeof a->secs, "%d", lease_seconds);
    a->v[0] = a->id;
    a->v[1] = ps->b->node;
    a->v[2] = a->secs;
    return 0;
}

/* A lease is (node, lease_until) on the job's row: held while lease_until
 * is in the database server's future, so every node judges it by one
 * clock. A claim is one conditional UPDATE: two nodes claiming the same
 * job at once are serialized by its row lock and the second sees the
 * first's lease. */
static int pg_claim(void *state, uint64_t id, int lease_seconds, struct job *stored)
{
    struct pg_store *ps = state;
    struct lease_args a;

    if (lease_args(ps, id, lease_seconds, &a) != 0)
        return -EINVAL;
    const char *const *v = a.v;
    int r = db_lock_ok(ps);
    if (r != 0)
        return r;
    PGresult *got = q_exec(ps, "claiming a job",
                           "UPDATE jobs SET node = $2, lease_until = now() + make_interval(secs => $3::int) "
                           "WHERE id = $1 AND set_aside IS NULL AND stop_request IS NULL AND "
                           "status IN ('queued', 'scheduled', 'retrying', 'active') AND "
                           "(lease_until IS NULL OR lease_until <= now() OR node IS NULL OR node = $2) "
                           "RETURNING job_text",
                           3, v, NULL, NULL, 0, &r);
    bool unreadable = false;
    if (got != NULL && PQntuples(got) == 1) {
        char why[160] = "";
        if (jobfile_parse(PQgetvalue(got, 0, 0), (size_t)PQgetlength(got, 0, 0), stored, why, sizeof why) != 0 ||
            stored->id != id) {
            pg_log(ps, QUEUE_LOG_ERR, "job %llu: its stored text does not parse (%s); not called",
                   (unsigned long long)id, why[0] ? why : "another id");
            unreadable = true;
            r = -EIO;
        }
    } else if (got != NULL)
        r = -ENOENT;
    PQclear(got);
    if (unreadable) {
        const char *w[] = {a.id, ps->b->node};
        q_cmd(ps, "releasing a job's lease",
              "UPDATE jobs SET node = NULL, lease_until = NULL WHERE id = $1 AND node = $2", 2, w);
    }
    if (r == -ENOENT) {
        int err;
        const char *w[] = {a.id};
        PGresult *res = q_exec(ps, "reading a job's lease",
                               "SELECT coalesce(node, ''), status FROM jobs WHERE id = $1 AND set_aside IS NULL", 1,
                               w, NULL, NULL, 0, &err);
        if (res != NULL && PQntuples(res) == 1) {
            const char *st = PQgetvalue(res, 0, 1);
            if (strcmp(st, "queued") != 0 && strcmp(st, "scheduled") != 0 && strcmp(st, "retrying") != 0 &&
                strcmp(st, "active") != 0)
                pg_log(ps, QUEUE_LOG_NOTICE, "job %llu: not called here: it is %s in the store", (unsigned long long)id,
                       st);
            else
                pg_log(ps, QUEUE_LOG_INFO, "job %llu: not called here: node '%s' holds its lease",
                       (unsigned long long)id, PQgetvalue(res, 0, 0));
            r = -EBUSY;
        } else if (res == NULL)
            r = err;
        PQclear(res);
    }
    db_unlock(ps);
    return r;
}

/* An array literal of n values (text, each quoted) for a parameter, in
 * a growing buffer; false when out of memory. */
struct arr {
    char *s;
    size_t len, cap;
};

static bool arr_put(struct arr *a, const char *v, bool quote)
{
    size_t need = a->len + 2 * strlen(v) + 5;
    if (need > a->cap) {
        size_t cap = a->cap ? a->cap : 256;
        while (cap < need)
            cap *= 2;
        char *s = realloc(a->s, cap);
        if (s == NULL)
            return false;
        a->s = s;
        a->cap = cap;
    }
    char sep = a->len == 0 ? '{' : ',';
    a->s[a->len++] = sep;
    if (quote)
        a->s[a->len++] = '"';
    for (; *v; v++) {
        if (quote && (*v == '"' || *v == '\\'))
            a->s[a->len++] = '\\';
        a->s[a->len++] = *v;
    }
    if (quote)
        a->s[a->len++] = '"';
    a->s[a->len] = '\0';
    return true;
}

static const char *arr_end(struct arr *a)
{
    if (a->s == NULL || a->len == 0)
        return "{}";
    a->s[a->len++] = '}';
    a->s[a->len] = '\0';
    return a->s;
}

/* A dispatch round's claims in one statement (faxfs_claim, migration 3):
 * a row another node is claiming now is skipped, and a destination's
 * live calls on all nodes are counted under its advisory lock. */
static int pg_claim_many(void *state, struct queue_claim *claims, size_t n, int lease_seconds)
{
    struct pg_store *ps = state;
    struct arr ids = {0}, calls = {0}, keys = {0}, limits = {0};
    char secs[16];
    int r = 0;

    if (lease_seconds <= 0)
        return -EINVAL;
    if (n == 0)
        return 0;
    snprintf(secs, sizeof secs, "%d", lease_seconds);
    for (size_t i = 0; i < n && r == 0; i++) {
        char a[24], b[24], l[16];
        u64s(a, sizeof a, claims[i].id);
        u64s(b, sizeof b, claims[i].call ? claims[i].call : claims[i].id);
        snprintf(l, sizeof l, "%d", claims[i].limit > 0 ? claims[i].limit : 0);
        claims[i].result = -EIO;
        if (!arr_put(&ids, a, false) || !arr_put(&calls, b, false) ||
            !arr_put(&keys, claims[i].key ? claims[i].key : "", true) || !arr_put(&limits, l, false))
            r = -ENOMEM;
    }
    if (r == 0)
        r = db_lock_ok(ps);
    if (r != 0)
        goto out;
    const char *v[] = {ps->b->node, secs, arr_end(&ids), arr_end(&calls), arr_end(&keys), arr_end(&limits)};
    PGresult *got = q_exec(ps, "claiming jobs",
                           "SELECT job_id, outcome, coalesce(holder, ''), coalesce(job_status, ''), job_text "
                           "FROM faxfs_claim($1, $2::int, $3::bigint[], $4::bigint[], $5::text[], $6::int[])",
                           6, v, NULL, NULL, 0, &r);
    if (got != NULL && (size_t)PQntuples(got) != n)
        r = -EIO;
    for (size_t i = 0; got != NULL && r == 0 && i < n; i++) {
        struct queue_claim *c = &claims[i];
        const char *outcome = PQgetvalue(got, (int)i, 1), *holder = PQgetvalue(got, (int)i, 2);
        const char *st = PQgetvalue(got, (int)i, 3);
        unsigned long long id = (unsigned long long)c->id;
        char why[160] = "";
        if (strtoull(PQgetvalue(got, (int)i, 0), NULL, 10) != c->id) {
            c->result = -EIO;
        } else if (strcmp(outcome, "taken") == 0) {
            c->result = 0;
            if (jobfile_parse(PQgetvalue(got, (int)i, 4), (size_t)PQgetlength(got, (int)i, 4), &c->stored, why,
                              sizeof why) != 0 || c->stored.id != c->id) {
                pg_log(ps, QUEUE_LOG_ERR, "job %llu: its stored text does not parse (%s); not called", id,
                       why[0] ? why : "another id");
                char ids1[24];
                u64s(ids1, sizeof ids1, c->id);
                const char *w[] = {ids1, ps->b->node};
                q_cmd(ps, "releasing a job's lease",
                      "UPDATE jobs SET node = NULL, lease_until = NULL WHERE id = $1 AND node = $2", 2, w);
                c->result = -EIO;
            }
        } else if (strcmp(outcome, "locked") == 0) {
            pg_log(ps, QUEUE_LOG_INFO, "job %llu: not called here now: another node is claiming it (its row is "
                                       "locked); skipped", id);
            c->result = -EBUSY;
        } else if (strcmp(outcome, "held") == 0) {
            if (strcmp(st, "queued") != 0 && strcmp(st, "scheduled") != 0 && strcmp(st, "retrying") != 0 &&
                strcmp(st, "active") != 0)
                pg_log(ps, QUEUE_LOG_NOTICE, "job %llu: not called here: it is %s in the store", id, st);
            else
                pg_log(ps, QUEUE_LOG_INFO, "job %llu: not called here: node '%s' holds its lease", id, holder);
            c->result = -EBUSY;
        } else if (strcmp(outcome, "full") == 0) {
            pg_log(ps, QUEUE_LOG_INFO, "job %llu: not called now: destination %s has %s call(s) in progress on all "
                                       "nodes, its limit is %d; it waits",
                   id, c->key ? c->key : "", holder, c->limit);
            c->result = -EAGAIN;
        } else {
            c->result = -ENOENT;
        }
    }
    if (r != 0)
        for (size_t i = 0; i < n; i++)
            claims[i].result = r;
    PQclear(got);
    db_unlock(ps);
out:
    free(ids.s);
    free(calls.s);
    free(keys.s);
    free(limits.s);
    return r;
}

/* A lease found taken: the job as stored, its node the holder (or, when
 * none holds it, the node that wrote it last), or stored->id 0 when it is
 * gone or unreadable. The engine logs it. */
static void read_taken(struct pg_store *ps, uint64_t id, struct job *stored)
{
    char ids[24], why[160];
    int err;

    stored->id = 0;
    u64s(ids, sizeof ids, id);
    const char *v[] = {ids};
    PGresult *res = q_exec(ps, "reading a job taken by another node",
                           "SELECT job_text, coalesce(node, changed_by, '') FROM jobs WHERE id = $1 AND set_aside IS NULL", 1, v,
                           NULL, NULL, 0, &err);
    if (res != NULL && PQntuples(res) == 1 &&
        (jobfile_parse(PQgetvalue(res, 0, 0), (size_t)PQgetlength(res, 0, 0), stored, why, sizeof why) != 0 ||
         stored->id != id))
        stored->id = 0;
    else if (res != NULL && PQntuples(res) == 1)
        snprintf(stored->node, sizeof stored->node, "%s", PQgetvalue(res, 0, 1));
    else
        stored->id = 0;
    PQclear(res);
}

static int pg_renew(void *state, uint64_t id, int lease_seconds, struct job *stored)
{
    struct pg_store *ps = state;
    struct lease_args a;

    if (lease_args(ps, id, lease_seconds, &a) != 0)
        return -EINVAL;
    const char *const *v = a.v;
    int r = db_lock_ok(ps);
    if (r != 0)
        return r;
    r = q_one_row(ps, "renewing a job's lease",
                  "UPDATE jobs SET lease_until = now() + make_interval(secs => $3::int) "
                  "WHERE id = $1 AND node = $2 AND (lease_until IS NOT NULL OR status = 'receiving')",
                  3, v);
    if (r == -ENOENT) { /* it ran out and another node took the job, or the job is gone */
        read_taken(ps, id, stored);
        r = -ESTALE;
    }
    db_unlock(ps);
    return r;
}

/* A reception whose node stopped renewing its lease (it died, or was cut
 * off longer than a lease) is taken by this node, which then stores it
 * failed; one conditional UPDATE, so two nodes never both take it and a
 * node that renewed in time keeps it. A lease never started (NULL, a
 * reception stored by an older faxfs) counts from the row's last write. */
static int pg_take_reception(void *state, uint64_t id, int lease_seconds, struct job *stored)
{
    struct pg_store *ps = state;
    char why[160];
    struct lease_args a;

    if (lease_args(ps, id, lease_seconds, &a) != 0)
        return -EINVAL;
    const char *const *v = a.v;
    int r = db_lock_ok(ps);
    if (r != 0)
        return r;
    PGresult *got = q_exec(ps, "taking a reception whose node stopped",
                           "UPDATE jobs j SET node = $2, lease_until = now() + make_interval(secs => $3::int) "
                           "FROM (SELECT id, coalesce(node, changed_by, '') AS was FROM jobs WHERE id = $1 "
                           "FOR UPDATE) o "
                           "WHERE j.id = o.id AND j.set_aside IS NULL AND j.status = 'receiving' AND "
                           "j.node IS DISTINCT FROM $2 AND (j.lease_until <= now() OR (j.lease_until IS NULL AND "
                           "j.updated <= now() - make_interval(secs => $3::int))) "
                           "RETURNING j.job_text, o.was",
                           3, v, NULL, NULL, 0, &r);
    if (got != NULL && PQntuples(got) == 1) {
        if (jobfile_parse(PQgetvalue(got, 0, 0), (size_t)PQgetlength(got, 0, 0), stored, why, sizeof why) != 0 ||
            stored->id != id) {
            const char *w[] = {a.id, ps->b->node};
            pg_log(ps, QUEUE_LOG_ERR, "job %llu: its stored text does not parse (%s); its reception is left as it is",
                   (unsigned long long)id, why);
            q_cmd(ps, "releasing a job's lease",
                  "UPDATE jobs SET node = NULL, lease_until = NULL WHERE id = $1 AND node = $2", 2, w);
            r = -EIO;
        } else {
            snprintf(stored->node, sizeof stored->node, "%s", PQgetvalue(got, 0, 1));
        }
    } else if (got != NULL) {
        r = -EBUSY; /* renewed in time, ended, or gone: the next look brings its row */
    }
    PQclear(got);
    db_unlock(ps);
    return r;
}

static int pg_release(void *state, uint64_t id)
{
    struct pg_store *ps = state;
    char ids[24];

    u64s(ids, sizeof ids, id);
    const char *v[] = {ids, ps->b->node};
    int r = db_lock_ok(ps);
    if (r != 0)
        return r;
    r = q_cmd(ps, "releasing a job's lease", "UPDATE jobs SET node = NULL, lease_until = NULL WHERE id = $1 AND node = $2",
              2, v);
    db_unlock(ps);
    return r;
}

/* ---- several nodes: other nodes' changes ---------------------------- */

static const char *pg_node_name(void *state)
{
    return ((struct pg_store *)state)->b->node;
}

/* Rows written by transactions that were still running, or not yet
 * begun, at the previous full look ($1, that look's snapshot xmin), by
 * another node than this one, and the deletions likewise, and the pause
 * flag, in one statement (one snapshot); its last row carries this
 * snapshot's xmin, the next full look's start. A row may come again: the
 * engine compares. */
static const char changes_sql[] =
    "WITH s AS (SELECT pg_snapshot_xmin(pg_current_snapshot()) AS x) "
    "SELECT 'j', id, left(job_text, 65537), coalesce(node, ''), "
    " coalesce(greatest(0, ceil(extract(epoch FROM lease_until - now())))::int, 0), coalesce(stop_request, '') "
    " FROM jobs WHERE changed_xid >= $1::xid8 AND set_aside IS NULL AND changed_by IS DISTINCT FROM $2 "
    "UNION ALL SELECT 'd', id, NULL, '', 0, '' FROM job_deletions "
    " WHERE xid >= $1::xid8 AND deleted_by IS DISTINCT FROM $2 "
    "UNION ALL SELECT 'p', 0, value, '', 0, '' FROM queue_state WHERE key = 'paused' "
    "UNION ALL SELECT 'x', 0, x::text, '', 0, '' FROM s";

/* Only the jobs notifications named ($1, an array), by their primary key,
 * each row read once: 'e' for a row not to apply (set aside, or last
 * written by this node); a job named and not returned was deleted (a
 * notification comes after its commit). The pause flag when it was named
 * ($3). */
static const char notified_sql[] =
    "SELECT CASE WHEN set_aside IS NULL AND changed_by IS DISTINCT FROM $2 THEN 'j' ELSE 'e' END, id, "
    " CASE WHEN set_aside IS NULL AND changed_by IS DISTINCT FROM $2 THEN left(job_text, 65537) END, "
    " coalesce(node, ''), "
    " coalesce(greatest(0, ceil(extract(epoch FROM lease_until - now())))::int, 0), coalesce(stop_request, '') "
    " FROM jobs WHERE id = ANY($1::bigint[]) "
    "UNION ALL SELECT 'p', 0, value, '', 0, '' FROM queue_state WHERE key = 'paused' AND $3::boolean";

static int cmp_u64(const void *a, const void *b)
{
    uint64_t x = *(const uint64_t *)a, y = *(const uint64_t *)b;
    return x < y ? -1 : x > y;
}

/* Notes a notification's payload: a job id, or "paused". */
static void note_payload(struct pg_store *ps, const char *payload)
{
    char *end;
    unsigned long long id;

    pthread_mutex_lock(&ps->notes_lock);
    if (strcmp(payload, "paused") == 0) {
        ps->noted_paused = true;
    } else if (errno = 0, id = strtoull(payload, &end, 10), errno == 0 && end != payload && *end == '\0' && id > 0) {
        size_t i = 0;
        while (i < ps->nnoted && ps->noted[i] != id)
            i++;
        if (i == ps->nnoted) {
            if (ps->nnoted < NOTED_MAX)
                ps->noted[ps->nnoted++] = id;
            else
                ps->full_due = true; /* too many to name: everything since the last full look */
        }
    } /* anything else is not a payload of this faxfs: the full look brings what it may stand for */
    pthread_mutex_unlock(&ps->notes_lock);
}

/* The array literal of the ids noted, "{1,2,3}" (malloc'd). */
static char *id_array(const uint64_t *ids, size_t n)
{
    char *out = malloc(n * 21 + 3), *p = out;

    if (out == NULL)
        return NULL;
    *p++ = '{';
    for (size_t i = 0; i < n; i++)
        p += sprintf(p, "%s%llu", i ? "," : "", (unsigned long long)ids[i]);
    *p++ = '}';
    *p = '\0';
    return out;
}

static int pg_changes(void *state, bool all, int (*fn)(void *arg, const struct queue_store_change *c), void *arg)
{
    struct pg_store *ps = state;
    uint64_t *ids = NULL;
    size_t nids = 0;
    bool paused, full;
    int64_t t = now_ms();
    char *arr = NULL;

    pthread_mutex_lock(&ps->notes_lock);
    full = all || ps->full_due || t - ps->full_at_ms >= FULL_LOOK_MS;
    paused = ps->noted_paused;
    if (!full && ps->nnoted > 0 && (ids = malloc(ps->nnoted * sizeof *ids)) == NULL)
        full = true;
    if (!full) {
        nids = ps->nnoted;
        if (nids > 0)
            memcpy(ids, ps->noted, nids * sizeof *ids);
    }
    ps->nnoted = 0;
    ps->noted_paused = false;
    pthread_mutex_unlock(&ps->notes_lock);
    if (!full && nids == 0 && !paused)
        return 0; /* nothing named, no full look due: no statement */
    if (!full && (arr = id_array(ids, nids)) == NULL)
        full = true;
    bool *found = NULL;
    if (!full && nids > 0) {
        qsort(ids, nids, sizeof *ids, cmp_u64);
        if ((found = calloc(nids, sizeof *found)) == NULL)
            full = true;
    }

    int r = db_lock_ok(ps);
    PGresult *res = NULL;
    if (r == 0) {
        if (full) {
            const char *v[] = {ps->xmin, ps->b->node};
            res = q_exec(ps, "looking for other nodes' changes", changes_sql, 2, v, NULL, NULL, 0, &r);
        } else {
            const char *v[] = {arr, ps->b->node, paused ? "true" : "false"};
            res = q_exec(ps, "reading the jobs other nodes changed", notified_sql, 3, v, NULL, NULL, 0, &r);
        }
        db_unlock(ps);
    }
    free(arr);
    if (res == NULL) {
        free(ids);
        free(found);
        /* what was noted is not read: the next look reads everything */
        pthread_mutex_lock(&ps->notes_lock);
        ps->full_due = true;
        pthread_mutex_unlock(&ps->notes_lock);
        return r;
    }
    if (full) {
        pthread_mutex_lock(&ps->notes_lock);
        ps->full_due = false;
        ps->full_at_ms = t;
        pthread_mutex_unlock(&ps->notes_lock);
    }
    int rows = PQntuples(res);
    for (int i = 0; i < rows && r >= 0; i++) {
        const char *kind = PQgetvalue(res, i, 0);
        struct queue_store_change c = {.id = strtoull(PQgetvalue(res, i, 1), NULL, 10), .stop_request = -1,
                                       .paused = -1};
        struct job job;
        char why[160];
        if (kind[0] == 'x') {
            snprintf(ps->xmin, sizeof ps->xmin, "%s", PQgetvalue(res, i, 2));
            continue;
        }
        if (found != NULL && (kind[0] == 'j' || kind[0] == 'e')) {
            uint64_t *at = bsearch(&c.id, ids, nids, sizeof *ids, cmp_u64);
            if (at != NULL)
                found[at - ids] = true;
        }
        if (kind[0] == 'e')
            continue;
        if (kind[0] == 'p') {
            c.paused = strcmp(PQgetvalue(res, i, 2), "yes") == 0;
        } else if (kind[0] == 'j') {
            if (PQgetlength(res, i, 2) > JOBFILE_MAX_BYTES ||
                jobfile_parse(PQgetvalue(res, i, 2), (size_t)PQgetlength(res, i, 2), &job, why, sizeof why) != 0 ||
                job.id != c.id)
                continue; /* set aside by the next start that reads it */
            c.holder = PQgetvalue(res, i, 3);
            c.lease_left = atoi(PQgetvalue(res, i, 4));
            if (job.status == JOB_ACTIVE)
                snprintf(job.node, sizeof job.node, "%s", c.holder);
            const char *stop = PQgetvalue(res, i, 5);
            c.stop_request = strcmp(stop, "pause") == 0 ? QOP_PAUSE : strcmp(stop, "cancel") == 0 ? QOP_CANCEL : -1;
            c.job = &job;
        }
        r = fn(arg, &c);
    }
    /* named and no longer stored: deleted */
    for (size_t i = 0; found != NULL && i < nids && r >= 0; i++)
        if (!found[i]) {
            struct queue_store_change c = {.id = ids[i], .stop_request = -1, .paused = -1};
            r = fn(arg, &c);
        }
    free(ids);
    free(found);
    PQclear(res);
    return r < 0 ? r : 0;
}

/* Waits for a notification from another node's session (this node's own
 * come from its main connection's backend and are skipped) and notes what
 * it names. */
static int pg_wait_changes(void *state, int timeout_ms)
{
    struct pg_store *ps = state;
    int got = 0;

    pthread_mutex_lock(&ps->listen_lock);
    if (ps->listen == NULL || PQstatus(ps->listen) != CONNECTION_OK) {
        if (ps->listen != NULL) {
            PQreset(ps->listen);
            if (PQstatus(ps->listen) == CONNECTION_OK) {
                PGresult *res = PQexec(ps->listen, "LISTEN faxfs_jobs");
                if (PQresultStatus(res) == PGRES_COMMAND_OK) {
                    /* notifications were lost meanwhile: look at everything */
                    pthread_mutex_lock(&ps->notes_lock);
                    ps->full_due = true;
                    pthread_mutex_unlock(&ps->notes_lock);
                    got = 1;
                }
                PQclear(res);
            }
        }
        pthread_mutex_unlock(&ps->listen_lock);
        if (got == 0)
            usleep((useconds_t)timeout_ms * 1000);
        return got;
    }
    struct pollfd pfd = {.fd = PQsocket(ps->listen), .events = POLLIN};
    int n = poll(&pfd, 1, timeout_ms);
    if (n > 0 && PQconsumeInput(ps->listen) == 1) {
        pthread_mutex_lock(&ps->conn_lock);
        int own = ps->conn != NULL ? PQbackendPID(ps->conn) : 0;
        pthread_mutex_unlock(&ps->conn_lock);
        PGnotify *nt;
        while ((nt = PQnotifies(ps->listen)) != NULL) {
            if (nt->be_pid != own) {
                note_payload(ps, nt->extra);
                got = 1;
            }
            PQfreemem(nt);
        }
    }
    pthread_mutex_unlock(&ps->listen_lock);
    return n < 0 && errno != EINTR ? -errno : got;
}

static int pg_request_stop(void *state, uint64_t id, enum queue_op op)
{
    struct pg_store *ps = state;
    char ids[24];

    if (op != QOP_PAUSE && op != QOP_CANCEL)
        return -EINVAL;
    u64s(ids, sizeof ids, id);
    const char *v[] = {ids, op == QOP_PAUSE ? "pause" : "cancel"};
    int r = db_lock_ok(ps);
    if (r != 0)
        return r;
    r = q_one_row(ps, "asking another node to stop a call",
                  "UPDATE jobs SET stop_request = $2 WHERE id = $1 AND status = 'active' AND set_aside IS NULL", 2, v);
    db_unlock(ps);
    return r == -ENOENT ? -EBUSY : r;
}

/* ---- the backend ---------------------------------------------------- */

struct queue_backend *backend_pg_create(const char *conninfo, const char *node)
{
    struct pg_backend *b = calloc(1, sizeof *b);

    if (b == NULL)
        return NULL;
    b->conninfo = strdup(conninfo);
    b->node = strdup(node && node[0] ? node : "faxfs");
    if (b->conninfo == NULL || b->node == NULL) {
        free(b->conninfo);
        free(b->node);
        free(b);
        return NULL;
    }
    b->ops = (struct queue_backend){
        .name = "postgresql",
        .ctx = b,
        .open = pg_open,
        .close = pg_close,
        .walk = pg_walk,
        .next_id = pg_next_id,
        .update = pg_update,
        .append_log = pg_append_log,
        .open_page = pg_open_page,
        .open_log = pg_open_log,
        .page_path = pg_page_path,
        .add_page = pg_add_page,
        .remove = pg_remove,
        .get_paused = pg_get_paused,
        .set_paused = pg_set_paused,
        .upload_open = pg_upload_open,
        .draft_create = pg_draft_create,
        .draft_open = pg_draft_open,
        .draft_remove = pg_draft_remove,
        .pdf_open = pg_pdf_open,
        .pdf_store = pg_pdf_store,
        .report_open = pg_report_open,
        .report_store = pg_report_store,
        .stage_open = pg_stage_open,
        .stage_page = pg_stage_page,
        .stage_commit = pg_stage_commit,
        .stage_abort = pg_stage_abort,
        .reserve_ids = pg_reserve_ids,
        .group_commit = pg_group_commit,
        .stage_cover = pg_stage_cover,
        .peek_next_id = pg_peek_next_id,
        .raise_next_id = pg_raise_next_id,
        .claim = pg_claim,
        .renew = pg_renew,
        .take_reception = pg_take_reception,
        .release = pg_release,
        .claim_many = pg_claim_many,
        .node_name = pg_node_name,
        .changes = pg_changes,
        .wait_changes = pg_wait_changes,
        .request_stop = pg_request_stop,
    };
    return &b->ops;
}

void backend_pg_destroy(struct queue_backend *be)
{
    if (be == NULL)
        return;
    struct pg_backend *b = be->ctx;
    free(b->conninfo);
    free(b->node);
    free(b);
}

/* ---- migrate and check, for the command line ------------------------ */

int backend_pg_migrate(const char *conninfo, FILE *out, char *why, size_t whylen)
{
    PGconn *c = connect_db(conninfo, "migrate", why, whylen);
    int applied;

    if (c == NULL)
        return -EIO;
    int before = pg_schema_version(c, why, whylen);
    int r = before < 0 ? before : pg_migrate(c, &applied, why, whylen);
    if (r == 0)
        fprintf(out, "schema version %d%s (%d migration%s applied)\n", pg_schema_latest(),
                applied ? "" : ", already current", applied, applied == 1 ? "" : "s");
    PQfinish(c);
    return r;
}

int backend_pg_check(const char *conninfo, FILE *report)
{
    char why[600];
    PGconn *c = connect_db(conninfo, "check", why, sizeof why);
    int problems = 0, jobs = 0, aside = 0;

    if (c == NULL) {
        fprintf(report, "error: %s\n", why);
        return -EIO;
    }
    int v = pg_schema_version(c, why, sizeof why);
    if (v < 0) {
        fprintf(report, "error: %s\n", why);
        PQfinish(c);
        return -EIO;
    }
    if (v != pg_schema_latest()) {
        fprintf(report, "problem: schema version %d, this faxfs has %d; %s\n", v, pg_schema_latest(),
                v < pg_schema_latest() ? "run faxfs --store-migrate --store CONNINFO" : "run a newer faxfs");
        PQfinish(c);
        return 1;
    }
    /* One snapshot for every query below. */
    PQclear(PQexec(c, "BEGIN ISOLATION LEVEL REPEATABLE READ READ ONLY"));
    PGresult *res = PQexec(c, "SELECT j.id, j.job_text, j.set_aside, j.status, j.page_count, count(p.idx), "
                              "coalesce(max(p.idx) + 1, 0), count(*) FILTER (WHERE length(p.data) = 0) "
                              "FROM jobs j LEFT JOIN pages p ON p.job_id = j.id GROUP BY j.id ORDER BY j.id");
    if (PQresultStatus(res) != PGRES_TUPLES_OK) {
        fprintf(report, "error: cannot read jobs: %s", PQresultErrorMessage(res));
        PQclear(res);
        PQfinish(c);
        return -EIO;
    }
    for (int i = 0; i < PQntuples(res); i++) {
        const char *id = PQgetvalue(res, i, 0);
        struct job job;
        char reason[200];
        int npages = atoi(PQgetvalue(res, i, 5)), span = atoi(PQgetvalue(res, i, 6));
        jobs++;
        if (!PQgetisnull(res, i, 2)) {
            fprintf(report, "note: job %s was set aside: %s\n", id, PQgetvalue(res, i, 2));
            aside++;
            continue;
        }
        if (jobfile_parse(PQgetvalue(res, i, 1), (size_t)PQgetlength(res, i, 1), &job, reason, sizeof reason) != 0) {
            fprintf(report, "problem: job %s: bad job text: %s\n", id, reason);
            problems++;
            continue;
        }
        if (job.id != strtoull(id, NULL, 10)) {
            fprintf(report, "problem: job %s: its job text names id %llu\n", id, (unsigned long long)job.id);
            problems++;
        }
        if (strcmp(job_status_name(job.status), PQgetvalue(res, i, 3)) != 0 ||
            job.page_count != atoi(PQgetvalue(res, i, 4))) {
            fprintf(report, "problem: job %s: columns status/page_count differ from its job text\n", id);
            problems++;
        }
        if (npages != span || npages < job.page_count) {
            fprintf(report, "problem: job %s: pages missing (%d stored, %d expected)\n", id, npages, job.page_count);
            problems++;
        } else if (npages > job.page_count) {
            fprintf(report, "note: job %s: %d page%s past its page count (settled at the next start)\n", id,
                    npages - job.page_count, npages - job.page_count == 1 ? "" : "s");
        }
    }
    PQclear(res);
    res = PQexec(c, "SELECT (SELECT max(id) FROM jobs), CASE WHEN is_called THEN last_value + 1 ELSE last_value END "
                    "FROM job_ids");
    if (PQresultStatus(res) == PGRES_TUPLES_OK && PQntuples(res) == 1 && !PQgetisnull(res, 0, 0) &&
        strtoull(PQgetvalue(res, 0, 1), NULL, 10) <= strtoull(PQgetvalue(res, 0, 0), NULL, 10)) {
        fprintf(report, "problem: the id sequence would hand out %s, but job %s exists (raised at the next start)\n",
                PQgetvalue(res, 0, 1), PQgetvalue(res, 0, 0));
        problems++;
    }
    PQclear(res);
    PQclear(PQexec(c, "COMMIT"));
    PQfinish(c);
    fprintf(report, "%d job%s, %d set aside, %d problem%s\n", jobs, jobs == 1 ? "" : "s", aside, problems,
            problems == 1 ? "" : "s");
    return problems;
}

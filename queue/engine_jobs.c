/*
 * engine_jobs.c - what every engine file shares: the clock and daemon log,
 * the in-memory job table (sorted by id), job logs, and the events gathered
 * under the lock and delivered after it. engine_persist() is how a job change
 * reaches the spool before anyone hears of it.
 */
#include "queue/engine.h"

#include <errno.h>
#include <stddef.h>
#include <stdarg.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

int64_t engine_now(const struct queue *q)
{
    return q->cfg.clock.now(q->cfg.clock.ctx);
}

void engine_log(struct queue *q, int level, const char *fmt, ...)
{
    char msg[512];
    va_list ap;

    va_start(ap, fmt);
    vsnprintf(msg, sizeof msg, fmt, ap);
    va_end(ap);
    q->cfg.log(level, msg);
}

void engine_note(struct notes *n, enum queue_event ev, uint64_t id)
{
    if (ev == QE_SERVER) {
        n->server = true;
        return;
    }
    if (n->n > 0 && n->v[n->n - 1].ev == ev && n->v[n->n - 1].id == id)
        return;
    if (n->n == n->cap) {
        size_t cap = n->cap ? n->cap * 2 : 8;
        void *p = realloc(n->v, cap * sizeof *n->v);
        if (p == NULL)
            return; /* a listener misses one refresh; the state itself is safe */
        n->v = p;
        n->cap = cap;
    }
    n->v[n->n].ev = ev;
    n->v[n->n].id = id;
    n->n++;
}

void engine_deliver(struct queue *q, struct notes *n)
{
    struct listener ls[MAX_LISTENERS];
    int nls;

    pthread_mutex_lock(&q->sub_lock);
    nls = q->nlisteners;
    memcpy(ls, q->listeners, sizeof ls);
    q->delivering++;
    pthread_mutex_unlock(&q->sub_lock);
    for (int l = 0; l < nls; l++) {
        for (size_t i = 0; i < n->n; i++)
            ls[l].fn(ls[l].ctx, n->v[i].ev, n->v[i].id);
        if (n->server)
            ls[l].fn(ls[l].ctx, QE_SERVER, 0);
    }
    pthread_mutex_lock(&q->sub_lock);
    if (--q->delivering == 0)
        pthread_cond_broadcast(&q->delivered);
    pthread_mutex_unlock(&q->sub_lock);
    free(n->v);
    *n = (struct notes){0};
}

void engine_poke(struct queue *q)
{
    q->kick = true;
    pthread_cond_signal(&q->wake);
}

static struct qjob *find_loaded(const struct queue *q, uint64_t id)
{
    size_t lo = 0, hi = q->njobs;

    while (lo < hi) {
        size_t mid = lo + (hi - lo) / 2;
        if (q->jobs[mid]->j.id == id)
            return q->jobs[mid];
        if (q->jobs[mid]->j.id < id)
            lo = mid + 1;
        else
            hi = mid;
    }
    return NULL;
}

struct qjob *engine_find_loaded(const struct queue *q, uint64_t id)
{
    return find_loaded(q, id);
}

struct qjob *engine_find_job(struct queue *q, uint64_t id)
{
    struct qjob *qj = find_loaded(q, id);

    /* Stored but not loaded yet: loaded now, so that every operation
     * sees the job exactly as after loading (engine_load.c). */
    if (qj == NULL && q->loading)
        qj = engine_load_on_demand(q, id);
    return qj;
}

/* The JOB_EXTRA_FIELDS of struct job, in their packed order. */
static const struct {
    size_t off, size;
} extra_fields[] = {
    {offsetof(struct job, sender_company), sizeof ((struct job *)0)->sender_company},
    {offsetof(struct job, sender_department), sizeof ((struct job *)0)->sender_department},
    {offsetof(struct job, billing_code), sizeof ((struct job *)0)->billing_code},
    {offsetof(struct job, notify), sizeof ((struct job *)0)->notify},
    {offsetof(struct job, node), sizeof ((struct job *)0)->node},
};
#define NEXTRA (sizeof extra_fields / sizeof extra_fields[0])

/* j's extra texts packed into a new *out (NULL when all are empty). */
static int pack_extra(const struct job *j, char **out)
{
    size_t len[NEXTRA], total = 0;
    const char *base = (const char *)j;

    for (size_t i = 0; i < NEXTRA; i++) {
        len[i] = strnlen(base + extra_fields[i].off, extra_fields[i].size - 1);
        total += len[i];
    }
    *out = NULL;
    if (total == 0)
        return 0;
    char *p = malloc(total + NEXTRA);
    if (p == NULL)
        return -ENOMEM;
    *out = p;
    for (size_t i = 0; i < NEXTRA; i++) {
        memcpy(p, base + extra_fields[i].off, len[i]);
        p[len[i]] = '\0';
        p += len[i] + 1;
    }
    return 0;
}

/* The packed texts back into j's fields (zeroed when there are none). */
static void unpack_extra(const char *p, struct job *j)
{
    char *base = (char *)j;

    for (size_t i = 0; i < NEXTRA; i++) {
        char *f = base + extra_fields[i].off;
        memset(f, 0, extra_fields[i].size);
        if (p != NULL) {
            size_t n = strlen(p);
            memcpy(f, p, n); /* packed from such a field: n < its size */
            p += n + 1;
        }
    }
}

void engine_free_job(struct qjob *qj)
{
    if (qj == NULL)
        return;
    free(qj->deliveries);
    free(qj->extra);
    free(qj);
}

/* Makes job (core, delivery records, texts) qj's state in memory, without
 * writing it: a change another node stored. -ENOMEM leaves qj as it was. */
int engine_job_set(struct qjob *qj, const struct job *job)
{
    char *extra;
    struct job_delivery *d = NULL;
    int nd = job->ndeliveries < 0 ? 0 : job->ndeliveries > JOB_DELIVERIES_MAX ? JOB_DELIVERIES_MAX : job->ndeliveries;

    if (pack_extra(job, &extra) != 0)
        return -ENOMEM;
    if (nd > 0 && (d = malloc((size_t)nd * sizeof *d)) == NULL) {
        free(extra);
        return -ENOMEM;
    }
    if (nd > 0)
        memcpy(d, job->deliveries, (size_t)nd * sizeof *d);
    free(qj->extra);
    qj->extra = extra;
    free(qj->deliveries);
    qj->deliveries = d;
    qj->ndeliveries = nd;
    qj->j = job->core;
    return 0;
}

/* The node calling qj's job ("" when none) into out. */
void engine_job_node(const struct qjob *qj, char *out, size_t len)
{
    struct job full;

    engine_job_get(qj, &full);
    snprintf(out, len, "%s", full.node);
}

/* Forgets the node calling qj's job, in memory only. */
void engine_job_clear_node(struct qjob *qj)
{
    struct job full;

    engine_job_get(qj, &full);
    if (full.node[0] != '\0') {
        full.node[0] = '\0';
        (void)engine_job_set(qj, &full); /* on -ENOMEM the name stays: shown, harmless */
    }
}

int engine_insert_job(struct queue *q, const struct job *job)
{
    struct qjob *qj;

    if (q->njobs == q->cap) {
        size_t cap = q->cap ? q->cap * 2 : 64;
        struct qjob **p = realloc(q->jobs, cap * sizeof *p);
        if (p == NULL)
            return -ENOMEM;
        q->jobs = p;
        q->cap = cap;
    }
    if ((qj = calloc(1, sizeof *qj)) == NULL)
        return -ENOMEM;
    if (pack_extra(job, &qj->extra) != 0) {
        free(qj);
        return -ENOMEM;
    }
    if (job->ndeliveries > 0) {
        int nd = job->ndeliveries > JOB_DELIVERIES_MAX ? JOB_DELIVERIES_MAX : job->ndeliveries;
        if ((qj->deliveries = malloc((size_t)nd * sizeof *qj->deliveries)) == NULL) {
            engine_free_job(qj);
            return -ENOMEM;
        }
        memcpy(qj->deliveries, job->deliveries, (size_t)nd * sizeof *qj->deliveries);
        qj->ndeliveries = nd;
    }
    qj->j = job->core;
    qj->channel = -1;
    size_t at = q->njobs;
    while (at > 0 && q->jobs[at - 1]->j.id > job->id)
        at--;
    memmove(&q->jobs[at + 1], &q->jobs[at], (q->njobs - at) * sizeof *q->jobs);
    q->jobs[at] = qj;
    q->njobs++;
    return 0;
}

void engine_remove_job(struct queue *q, struct qjob *qj)
{
    for (size_t i = 0; i < q->njobs; i++) {
        if (q->jobs[i] == qj) {
            if (qj->unsaved)
                q->nunsaved--;
            memmove(&q->jobs[i], &q->jobs[i + 1], (q->njobs - i - 1) * sizeof *q->jobs);
            q->njobs--;
            engine_free_job(qj);
            return;
        }
    }
}

/* Appends a timestamped line to the job's log. */
void engine_job_log(struct queue *q, struct notes *n, uint64_t id, const char *fmt, ...)
{
    char line[1024], stamp[40];
    va_list ap;

    job_format_time(engine_now(q), stamp, sizeof stamp);
    int k = snprintf(line, sizeof line, "%s ", stamp);
    va_start(ap, fmt);
    vsnprintf(line + k, sizeof line - (size_t)k - 1, fmt, ap);
    va_end(ap);
    strcat(line, "\n");
    int r = q->be->append_log(q->bs, id, line);
    if (r != 0)
        engine_log(q, QUEUE_LOG_WARNING, "job %llu: cannot append to its log: %s", (unsigned long long)id,
                   strerror(-r));
    else
        engine_note(n, QE_LOG, id);
}

void engine_job_get(const struct qjob *qj, struct job *out)
{
    memset(out, 0, sizeof *out);
    out->core = qj->j;
    unpack_extra(qj->extra, out);
    out->ndeliveries = qj->ndeliveries;
    if (qj->ndeliveries > 0)
        memcpy(out->deliveries, qj->deliveries, (size_t)qj->ndeliveries * sizeof *qj->deliveries);
}

/* Writes full as qj's job; only once it is stored does it become qj's
 * state (keep: a failed write of a change the caller made to qj's core
 * leaves qj marked unsaved, written again by the dispatcher). */
static int persist_full(struct queue *q, struct qjob *qj, struct job *full, struct notes *n, bool keep)
{
    struct job_delivery *d = qj->deliveries;

    if (qj->lease_lost) /* another node holds it: nothing is written over its state */
        return -ESTALE;
    /* Only the node calling an active job writes it (docs/postgresql.md);
     * any other state gives the lease up in the store. */
    if (full->status == JOB_ACTIVE)
        snprintf(full->node, sizeof full->node, "%s", engine_node_name(q));
    else
        full->node[0] = '\0';

    (void)job_add_receipts(full);
    full->changed = engine_now(q);
    if (full->ndeliveries < 0 || full->ndeliveries > JOB_DELIVERIES_MAX)
        return -EINVAL;
    /* The records' room is made before the write, so nothing can fail
     * once the job is stored. */
    if (full->ndeliveries != qj->ndeliveries ||
        (full->ndeliveries > 0 &&
         memcmp(full->deliveries, qj->deliveries, (size_t)full->ndeliveries * sizeof *d) != 0)) {
        d = NULL;
        if (full->ndeliveries > 0) {
            if ((d = malloc((size_t)full->ndeliveries * sizeof *d)) == NULL) {
                engine_log(q, QUEUE_LOG_ERR, "job %llu: no memory for its delivery records",
                           (unsigned long long)full->id);
                return -ENOMEM;
            }
            memcpy(d, full->deliveries, (size_t)full->ndeliveries * sizeof *d);
        }
    }
    char *extra;
    if (pack_extra(full, &extra) != 0) {
        if (d != qj->deliveries)
            free(d);
        engine_log(q, QUEUE_LOG_ERR, "job %llu: no memory for its texts", (unsigned long long)full->id);
        return -ENOMEM;
    }
    int r = q->be->update(q->bs, full);
    if (r != 0) {
        if (d != qj->deliveries)
            free(d);
        free(extra);
        if (r == -ESTALE && qj->channel >= 0) { /* its lease is another node's: the call stops */
            engine_lease_lost(q, qj, NULL);
            if (qj->lease_lost)
                return r;
        }
        if (r == -ESTALE && qj->receiving_here && full->status == JOB_RECEIVING) {
            engine_reception_lost(q, qj, NULL); /* another node ended it */
            if (!qj->receiving_here)
                return r;
        }
        if (r == -EBUSY) {
            /* another node calls it and alone writes it (the store logged
             * which): this change is dropped, not written again; the
             * catch-up brings the job as that node stores it */
            qj->claim_after = engine_now(q) + ENGINE_CLAIM_BACKOFF;
            return r;
        }
        if (!keep || !qj->unsaved) /* retries are summed up by the dispatcher */
            engine_log(q, QUEUE_LOG_ERR, "job %llu: cannot write its state to the store: %s%s",
                       (unsigned long long)full->id, strerror(-r),
                       keep ? "; it is written again when the store takes it" : "; the change is undone");
        if (keep && !qj->unsaved) {
            qj->unsaved = true;
            if (q->nunsaved++ == 0) {
                q->unsaved_backoff = ENGINE_UNSAVED_FIRST_RETRY;
                q->unsaved_retry_at = engine_now(q) + q->unsaved_backoff;
            }
        }
        return r;
    }
    if (qj->unsaved) {
        qj->unsaved = false;
        q->nunsaved--;
    }
    if (d != qj->deliveries) {
        free(qj->deliveries);
        qj->deliveries = d;
    }
    free(qj->extra);
    qj->extra = extra;
    qj->ndeliveries = full->ndeliveries;
    qj->j = full->core;
    engine_note(n, QE_CHANGED, qj->j.id);
    engine_note(n, QE_SERVER, 0);
    return 0;
}

int engine_persist_job(struct queue *q, struct qjob *qj, struct job *full, struct notes *n)
{
    return persist_full(q, qj, full, n, false);
}

/* Writes the job; the caller tells listeners only after this. */
/* A send job that has just ended as its notify_when asks, or failed an
 * attempt it will retry with every-attempt, gets its receipt's delivery
 * record in the same write as its state: durable before anyone acts on it
 * (the daemon's delivery runner mails it). */
static int store_job(struct queue *q, struct qjob *qj, struct notes *n, bool keep)
{
    struct job full;

    engine_job_get(qj, &full);
    return persist_full(q, qj, &full, n, keep);
}

int engine_persist(struct queue *q, struct qjob *qj, struct notes *n)
{
    return store_job(q, qj, n, true);
}

int engine_store(struct queue *q, struct qjob *qj, struct notes *n)
{
    return store_job(q, qj, n, false);
}

void engine_set_error(struct job_core *j, const char *code, const char *text)
{
    snprintf(j->error_code, sizeof j->error_code, "%s", code ? code : "");
    snprintf(j->error_text, sizeof j->error_text, "%s", text ? text : "");
}

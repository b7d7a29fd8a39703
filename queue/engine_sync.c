/*
 * engine_sync.c - several nodes on one store (docs/postgresql.md "Several
 * nodes"): the jobs other nodes created, changed or deleted are brought
 * into this engine when another node notifies (the jobs the notifications
 * named, at most every SYNC_GAP_MS, so that a burst is read in one look)
 * and, as the backend judges, all of them now and then. A job another node
 * is calling shows as active here and is not dialed; once its lease has
 * run out (judged by the seconds the store said were left, on this node's
 * clock) it becomes a candidate again, and the claim decides who calls it.
 * A pause or cancel asked on another node of a call this node makes
 * reaches it here and aborts the call, and the queue-wide pause of another
 * node becomes this node's.
 */
#include "queue/engine.h"

#include <errno.h>
#include <stdio.h>
#include <string.h>
#include <time.h>

#define SYNC_EVERY_MS 2000 /* a look even without notifications (the backend may find nothing due) */
#define SYNC_GAP_MS 200    /* the shortest time between two looks a notification asks for */
#define SYNC_WAIT_MS 250   /* the longest wait before the thread checks for a stop */
#define SYNC_FAILED_MS 30000 /* after a failed look (the store unreachable): the next one */

const char *engine_node_name(const struct queue *q)
{
    return q->be->node_name != NULL ? q->be->node_name(q->bs) : "";
}

struct sync_ctx {
    struct queue *q;
    struct notes *n;
    int changed;
    struct {
        int channel;
        uint64_t id;
    } aborts[64];
    int naborts;
};

static bool waiting(enum job_status s)
{
    return s == JOB_QUEUED || s == JOB_SCHEDULED || s == JOB_RETRYING;
}

/* Applies a pause or cancel another node asked for to a job this node
 * holds (its call is aborted) or to a waiting one. */
static void apply_stop(struct sync_ctx *sc, struct qjob *qj, int op)
{
    struct queue *q = sc->q;
    struct job_core *j = &qj->j;
    bool calling = qj->channel >= 0;

    if (!calling && !waiting(j->status))
        return;
    if (op == QOP_CANCEL) {
        j->status = JOB_CANCELED;
        j->finished = engine_now(q);
        j->next_attempt = 0;
    } else {
        j->status = JOB_PAUSED;
    }
    engine_job_log(q, sc->n, j->id, "%s on another node%s", op == QOP_CANCEL ? "canceled" : "paused",
                   calling ? "; the call on this node is aborted" : "");
    engine_log(q, QUEUE_LOG_NOTICE, "job %llu: %s on another node%s", (unsigned long long)j->id,
               op == QOP_CANCEL ? "canceled" : "paused", calling ? "; aborting its call" : "");
    engine_persist(q, qj, sc->n);
    if (calling && sc->naborts < (int)(sizeof sc->aborts / sizeof sc->aborts[0])) {
        sc->aborts[sc->naborts].channel = qj->channel;
        sc->aborts[sc->naborts++].id = j->id;
    }
    sc->changed++;
}

static bool same(const struct qjob *qj, const struct job *b)
{
    const struct job_core *a = &qj->j;
    char node[JOB_NODE_MAX];

    if (!(a->status == b->status && a->changed == b->changed && a->pages_sent == b->pages_sent &&
          a->attempts == b->attempts && a->page_count == b->page_count))
        return false;
    engine_job_node(qj, node, sizeof node);
    return strcmp(node, b->node) == 0;
}

static int apply_change(void *arg, const struct queue_store_change *c)
{
    struct sync_ctx *sc = arg;
    struct queue *q = sc->q;
    struct qjob *qj = engine_find_loaded(q, c->id);
    int64_t t = engine_now(q);

    if (c->paused >= 0) { /* the queue-wide pause */
        if (q->paused != (c->paused > 0)) {
            q->paused = c->paused > 0;
            engine_log(q, QUEUE_LOG_NOTICE, "%s", q->paused ? "queue paused on another node: no new calls" : "queue resumed on another node");
            engine_note(sc->n, QE_SERVER, 0);
            engine_poke(q);
            sc->changed++;
        }
        return 0;
    }
    if (c->job == NULL) { /* deleted on another node */
        if (qj != NULL && qj->channel < 0) {
            engine_remove_job(q, qj);
            engine_note(sc->n, QE_REMOVED, c->id);
            engine_note(sc->n, QE_SERVER, 0);
            sc->changed++;
        }
        return 0;
    }
    if (qj == NULL) {
        if (q->loading)
            return 0; /* the loader brings it in */
        int r = engine_insert_job(q, c->job);
        if (r != 0)
            return r;
        qj = engine_find_loaded(q, c->id);
        engine_note(sc->n, QE_ADDED, c->id);
        engine_note(sc->n, QE_SERVER, 0);
        sc->changed++;
    } else if (qj->channel >= 0 && qj->lease_lost) {
        /* its lease was lost: the holder's state is shown while the call stops */
        if (!qj->lease_gone && !same(qj, c->job) && engine_job_set(qj, c->job) == 0)
            engine_note(sc->n, QE_CHANGED, c->id);
        return 0;
    } else if (qj->channel >= 0) {
        /* this node calls it: its copy is the truth, but for a stop asked */
        if (c->stop_request >= 0)
            apply_stop(sc, qj, c->stop_request);
        return 0;
    } else if (!same(qj, c->job)) {
        if (engine_job_set(qj, c->job) != 0)
            return -ENOMEM;
        if (qj->receiving_here && c->job->status != JOB_RECEIVING) {
            qj->receiving_here = false; /* another node ended this node's reception */
            engine_log(q, QUEUE_LOG_ERR, "job %llu: the reception on this node was ended by another node "
                       "(this node's lease on it had run out); its further pages are refused",
                       (unsigned long long)c->id);
        }
        engine_note(sc->n, QE_CHANGED, c->id);
        engine_note(sc->n, QE_SERVER, 0);
        sc->changed++;
    }
    qj->claim_after = 0;
    qj->lease_end = c->job->status == JOB_ACTIVE || (c->job->status == JOB_RECEIVING && !qj->receiving_here)
                        ? t + c->lease_left
                        : 0;
    if (c->stop_request >= 0)
        apply_stop(sc, qj, c->stop_request);
    engine_poke(q);
    return 0;
}

/* all: every change since the last full look; else what was notified. */
static int catch_up(struct queue *q, bool all)
{
    struct notes n = {0};
    struct sync_ctx sc = {.q = q, .n = &n};

    if (q->be->changes == NULL)
        return 0;
    pthread_mutex_lock(&q->lock);
    int r = q->stopped ? 0 : q->be->changes(q->bs, all, apply_change, &sc);
    pthread_mutex_unlock(&q->lock);
    engine_deliver(q, &n);
    for (int i = 0; i < sc.naborts; i++)
        engine_abort_call(q, sc.aborts[i].channel, sc.aborts[i].id);
    return r < 0 ? r : sc.changed;
}

int queue_catch_up(struct queue *q)
{
    return catch_up(q, true);
}

static int64_t mono_ms(void)
{
    struct timespec ts;
    clock_gettime(CLOCK_MONOTONIC, &ts);
    return (int64_t)ts.tv_sec * 1000 + ts.tv_nsec / 1000000;
}

static bool stopping(struct queue *q)
{
    pthread_mutex_lock(&q->lock);
    bool s = q->stopping;
    pthread_mutex_unlock(&q->lock);
    return s;
}

/* Waits for notifications without the engine lock; looks when one came
 * (at most every SYNC_GAP_MS: what comes meanwhile is read together) and
 * at least every SYNC_EVERY_MS. */
static void *sync_main(void *arg)
{
    struct queue *q = arg;
    int64_t last = mono_ms(), every = SYNC_EVERY_MS;
    bool notified = false;

    while (!stopping(q)) {
        int64_t wait = SYNC_WAIT_MS;
        if (notified) {
            wait = last + SYNC_GAP_MS - mono_ms();
            wait = wait < 0 ? 0 : wait > SYNC_WAIT_MS ? SYNC_WAIT_MS : wait;
        }
        int got = q->be->wait_changes != NULL ? q->be->wait_changes(q->bs, (int)wait) : 0;
        if (q->be->wait_changes == NULL) {
            struct timespec ts = {0, wait * 1000000L};
            nanosleep(&ts, NULL);
        }
        if (got > 0)
            notified = true;
        int64_t t = mono_ms();
        if ((notified && t - last >= SYNC_GAP_MS) || t - last >= every) {
            /* a failure is logged once a look, so looks slow down meanwhile */
            every = catch_up(q, false) < 0 ? SYNC_FAILED_MS : SYNC_EVERY_MS;
            notified = false;
            last = mono_ms();
        }
    }
    return NULL;
}

int engine_sync_start(struct queue *q)
{
    if (q->be->changes == NULL || q->cfg.no_thread)
        return 0;
    int r = pthread_create(&q->syncer, NULL, sync_main, q);
    if (r != 0)
        return -r;
    q->have_syncer = true;
    return 0;
}

void engine_sync_join(struct queue *q)
{
    if (q->have_syncer)
        pthread_join(q->syncer, NULL);
    q->have_syncer = false;
}

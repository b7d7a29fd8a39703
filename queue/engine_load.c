/*
 * engine_load.c - bringing the stored jobs in at open, and the recovery each
 * job gets as it arrives (a call cut by a stop goes back to the queue, a
 * reception cut by a stop fails).
 *
 * Two ways, docs/queue.md "Loading": all at once before queue_open returns
 * (the backend's walk), or in the background as Postfix's queue manager
 * brings its queue in: queue_open only lists the stored ids (after which the
 * backend hands out ids above all of them), and a loader thread loads them in
 * ascending id order, a short batch at a time under the engine lock. A job
 * asked for by id before its turn (a lookup, a cancel, an edit) is loaded
 * right then by engine_find_job, so every operation finds it exactly as it
 * would after loading. Listings show what is loaded; the dispatcher works
 * with what is loaded and sees every job once loading ends.
 */
#include "queue/engine.h"

#include <errno.h>
#include <sched.h>
#include <stdlib.h>
#include <string.h>
#include <time.h>

#define LOAD_BATCH_JOBS 256 /* at most this many jobs per hold of the lock */
#define LOAD_BATCH_MS 4     /* and at most this long */

static int64_t mono_ms(void)
{
    struct timespec ts;
    clock_gettime(CLOCK_MONOTONIC, &ts);
    return (int64_t)ts.tv_sec * 1000 + ts.tv_nsec / 1000000;
}

struct load_ctx {
    struct queue *q;
    struct notes *n;
};

/* Recovery of one job found in the store; the job is in the table after. */
static int recover_job(void *arg, const struct job *job)
{
    struct load_ctx *lc = arg;
    struct queue *q = lc->q;
    int r = engine_insert_job(q, job);

    if (r != 0)
        return r;
    q->loaded++;
    struct qjob *qj = engine_find_job(q, job->id);
    bool others = job->node[0] != '\0' && strcmp(job->node, engine_node_name(q)) != 0;
    if (job->status == JOB_ACTIVE && others) {
        /* another node calls it now (its lease runs): left to it */
        qj->lease_end = engine_now(q) + q->cfg.lease_seconds;
    } else if (job->status == JOB_RECEIVING && others) {
        /* another node's reception: left to it while it renews its lease;
         * ended here (failed, pages kept) once that lease has run out */
        engine_job_clear_node(qj);
        qj->lease_end = engine_now(q) + q->cfg.lease_seconds;
    } else if (job->status == JOB_ACTIVE && job->type == JOB_SEND && job->pages_sent >= job->page_count) {
        engine_finish_all_confirmed(q, qj, lc->n, "the server stopped after the remote confirmed every page");
    } else if (job->status == JOB_ACTIVE) {
        qj->j.status = sched_waiting_state(&qj->j, engine_now(q));
        qj->j.device_status[0] = '\0';
        engine_persist(q, qj, lc->n);
        engine_job_log(q, lc->n, job->id, "the server stopped during attempt %d; queued again, %d of %d pages already confirmed",
                       job->attempts, job->pages_sent, job->page_count);
        engine_log(q, QUEUE_LOG_NOTICE, "job %llu: was active when the server stopped; queued again (%d of %d pages confirmed)",
                   (unsigned long long)job->id, job->pages_sent, job->page_count);
    } else if (job->status == JOB_RECEIVING) {
        qj->j.finished = engine_now(q);
        qj->j.status = JOB_FAILED;
        qj->j.device_status[0] = '\0';
        engine_set_error(&qj->j, "interrupted", "the server stopped while this fax was being received");
        engine_persist(q, qj, lc->n);
        engine_job_log(q, lc->n, job->id, "reception failed: the server stopped during the call; %d page%s received kept",
                       job->page_count, job->page_count == 1 ? "" : "s");
        engine_log(q, QUEUE_LOG_NOTICE, "job %llu: reception interrupted by a server stop; marked failed, %d page%s kept",
                   (unsigned long long)job->id, job->page_count, job->page_count == 1 ? "" : "s");
    }
    return 0;
}

int engine_load_all(struct queue *q, struct notes *n)
{
    struct load_ctx lc = {q, n};
    return q->be->walk(q->bs, recover_job, &lc);
}

int engine_load_begin(struct queue *q)
{
    int r = q->be->list_ids(q->bs, &q->pending, &q->npending);

    if (r != 0)
        return r;
    if (q->npending == 0) {
        free(q->pending);
        q->pending = NULL;
        return 0;
    }
    q->taken = calloc(q->npending, 1);
    if (q->taken == NULL) {
        free(q->pending);
        q->pending = NULL;
        q->npending = 0;
        return -ENOMEM;
    }
    q->load_pos = 0;
    q->loading = true;
    q->load_started_ms = mono_ms();
    engine_log(q, QUEUE_LOG_INFO, "loading %zu stored jobs in the background", q->npending);
    return 0;
}

int engine_load_defer(struct queue *q)
{
    int r = q->be->peek_next_id(q->bs, &q->list_below);

    if (r != 0)
        return r;
    q->listing = true;
    q->loading = true;
    q->load_started_ms = mono_ms();
    engine_log(q, QUEUE_LOG_INFO, "the spool was stopped cleanly: its jobs are listed and loaded in the background");
    return 0;
}

/* The list of a trusted store, made without the lock (a cold listing of a
 * big spool takes seconds); jobs loaded meanwhile, out of turn, are marked
 * taken, and ids from this run (list_below and up) are not stored ones. */
static void load_list(struct queue *q)
{
    uint64_t *ids = NULL;
    size_t n = 0;
    int r = q->be->list_ids(q->bs, &ids, &n);

    pthread_mutex_lock(&q->lock);
    while (r == 0 && n > 0 && ids[n - 1] >= q->list_below)
        n--;
    unsigned char *taken = r == 0 ? calloc(n ? n : 1, 1) : NULL;
    if (taken == NULL) {
        engine_log(q, QUEUE_LOG_ERR, "cannot list the stored jobs: %s; those not loaded stay in the spool for the next start",
                   strerror(r != 0 ? -r : ENOMEM));
        free(ids);
        ids = NULL;
        n = 0;
    }
    q->pending = ids;
    q->taken = taken;
    q->npending = n;
    q->load_pos = q->taken_ahead = 0;
    for (size_t i = 0; i < n; i++)
        if (engine_find_loaded(q, ids[i]) != NULL) {
            taken[i] = 1;
            q->taken_ahead++;
        }
    q->listing = false;
    if (n > 0)
        engine_log(q, QUEUE_LOG_INFO, "loading %zu stored jobs in the background", n);
    pthread_mutex_unlock(&q->lock);
}

/* Before the list is in: a job of the store asked for by id. */
static struct qjob *load_unlisted(struct queue *q, uint64_t id)
{
    struct job job;
    struct load_ctx lc = {q, &q->load_notes};

    if (id >= q->list_below)
        return NULL;
    int r = q->be->load_one(q->bs, id, &job);
    if (r == 0)
        r = recover_job(&lc, &job);
    if (r == 0 && (job.status == JOB_QUEUED || job.status == JOB_ACTIVE))
        q->load_due = true;
    if (r != 0 && r != -ENOENT)
        engine_log(q, QUEUE_LOG_ERR, "job %llu: cannot be loaded: %s; it stays in the spool for the next start",
                   (unsigned long long)id, strerror(-r));
    return r == 0 ? engine_find_loaded(q, id) : NULL;
}

/* Loads pending[i] unless done already. A job that fails to load was set
 * aside by the backend (and logged there); an error other than that
 * (out of memory) is logged here: the job stays stored for the next start. */
static struct qjob *load_index(struct queue *q, size_t i)
{
    struct job job;
    struct load_ctx lc = {q, &q->load_notes};

    if (q->taken[i])
        return NULL;
    q->taken[i] = 1;
    if (engine_find_loaded(q, q->pending[i]) != NULL)
        return NULL; /* loaded before the list was in */
    int r = q->be->load_one(q->bs, q->pending[i], &job);
    if (r == 0)
        r = recover_job(&lc, &job);
    if (r == 0 && (job.status == JOB_QUEUED || job.status == JOB_ACTIVE))
        q->load_due = true; /* due now (an active one is queued again) */
    if (r != 0 && r != -ENOENT)
        engine_log(q, QUEUE_LOG_ERR, "job %llu: cannot be loaded: %s; it stays in the spool for the next start",
                   (unsigned long long)q->pending[i], strerror(-r));
    return r == 0 ? engine_find_job(q, q->pending[i]) : NULL;
}

static void load_finished(struct queue *q)
{
    int64_t ms = mono_ms() - q->load_started_ms;

    engine_log(q, QUEUE_LOG_INFO, "loaded %zu stored jobs in %lld.%03lld s", q->loaded, (long long)(ms / 1000),
               (long long)(ms % 1000));
    q->loading = false;
    free(q->pending);
    free(q->taken);
    q->pending = NULL;
    q->taken = NULL;
    q->npending = q->load_pos = 0;
    q->next_purge = 0; /* history is purged now that every job is in */
    engine_note(&q->load_notes, QE_SERVER, 0);
    engine_poke(q);
}

struct qjob *engine_load_on_demand(struct queue *q, uint64_t id)
{
    size_t lo = q->load_pos, hi = q->npending;

    if (q->listing)
        return load_unlisted(q, id);
    while (lo < hi) {
        size_t mid = lo + (hi - lo) / 2;
        if (q->pending[mid] == id) {
            if (q->taken[mid])
                return NULL; /* tried already: not there, or gone since */
            q->taken_ahead++;
            load_index(q, mid);
            return engine_find_job(q, id);
        }
        if (q->pending[mid] < id)
            lo = mid + 1;
        else
            hi = mid;
    }
    return NULL;
}

void engine_load_group(struct queue *q, uint64_t group)
{
    if (!q->loading || group == 0)
        return;
    if (q->listing) {
        /* Consecutive ids from the group's first one (reserve_ids). */
        for (uint64_t id = group;; id++) {
            struct qjob *qj = engine_find_loaded(q, id);
            if (qj == NULL)
                qj = load_unlisted(q, id);
            if (qj == NULL || qj->j.group != group)
                return;
        }
    }
    size_t lo = q->load_pos, hi = q->npending;
    while (lo < hi) {
        size_t mid = lo + (hi - lo) / 2;
        if (q->pending[mid] < group)
            lo = mid + 1;
        else
            hi = mid;
    }
    /* A group's jobs have consecutive ids (reserve_ids), so the first
     * stored job after them that is not a member ends the group. */
    for (size_t i = lo; i < q->npending; i++) {
        if (!q->taken[i]) {
            q->taken_ahead++;
            load_index(q, i);
        }
        struct qjob *qj = engine_find_job(q, q->pending[i]);
        if (qj != NULL && qj->j.group != group)
            break;
    }
}

/* Is a free channel waiting for a job loaded in this batch? */
static bool worth_a_round(const struct queue *q)
{
    if (!q->load_due || q->paused)
        return false;
    for (int c = 0; c < q->nchannels; c++)
        if (q->channels[c].job == 0)
            return true;
    return false;
}

/* One batch under the lock; the notes of the batch go to n. */
static size_t load_batch(struct queue *q, size_t max, bool timed, struct notes *n)
{
    int64_t until = mono_ms() + LOAD_BATCH_MS;
    size_t done = 0;

    if (!q->loading || q->listing)
        return 0;
    /* One job added per kind (received, finished, unfinished) is
     * announced per batch: listeners that cache listings (the view) then
     * know each listing grew, without an event per job. */
    uint64_t added[3] = {0, 0, 0};
    q->load_due = false;
    while (q->load_pos < q->npending && done < max && !q->stopping) {
        if (q->taken[q->load_pos])
            q->taken_ahead--;
        struct qjob *qj = load_index(q, q->load_pos++);
        if (qj != NULL)
            added[qj->j.type == JOB_RECEIVE ? 0 : job_status_is_final(qj->j.status) ? 1 : 2] = qj->j.id;
        done++;
        if (timed && (done & 15) == 0 && mono_ms() >= until)
            break;
    }
    for (int k = 0; k < 3; k++)
        if (added[k] != 0)
            engine_note(&q->load_notes, QE_ADDED, added[k]);
    /* A dispatch round costs a pass over every job: one per batch only
     * when a loaded job could take a free channel. */
    if (worth_a_round(q))
        engine_poke(q);
    engine_note(&q->load_notes, QE_SERVER, 0);
    if (q->load_pos >= q->npending)
        load_finished(q);
    *n = q->load_notes;
    q->load_notes = (struct notes){0};
    return q->loading ? q->npending - q->load_pos : 0;
}

size_t queue_load_some(struct queue *q, size_t max)
{
    struct notes n = {0};

    pthread_mutex_lock(&q->lock);
    bool listing = q->listing;
    pthread_mutex_unlock(&q->lock);
    if (listing)
        load_list(q);
    pthread_mutex_lock(&q->lock);
    size_t left = load_batch(q, max, false, &n);
    pthread_mutex_unlock(&q->lock);
    engine_deliver(q, &n);
    return left;
}

bool queue_loading(struct queue *q)
{
    pthread_mutex_lock(&q->lock);
    bool loading = q->loading;
    pthread_mutex_unlock(&q->lock);
    return loading;
}

static void *loader_main(void *arg)
{
    struct queue *q = arg;

    pthread_mutex_lock(&q->lock);
    bool listing = q->listing;
    pthread_mutex_unlock(&q->lock);
    if (listing)
        load_list(q);
    for (;;) {
        struct notes n = {0};
        pthread_mutex_lock(&q->lock);
        bool stop = q->stopping;
        size_t left = stop ? 0 : load_batch(q, LOAD_BATCH_JOBS, true, &n);
        pthread_mutex_unlock(&q->lock);
        engine_deliver(q, &n);
        if (stop || left == 0)
            return NULL;
        sched_yield(); /* let requests waiting for the lock have it */
    }
}

int engine_loader_start(struct queue *q)
{
    if (!q->loading || q->cfg.no_thread)
        return 0;
    int r = pthread_create(&q->loader, NULL, loader_main, q);
    if (r != 0)
        return -r;
    q->have_loader = true;
    return 0;
}

void engine_loader_join(struct queue *q)
{
    if (q->have_loader)
        pthread_join(q->loader, NULL);
    q->have_loader = false;
}

void engine_load_free(struct queue *q)
{
    free(q->pending);
    free(q->taken);
    free(q->load_notes.v);
    q->pending = NULL;
    q->taken = NULL;
    q->load_notes = (struct notes){0};
}

/*
 * engine_ops.c - what users may do to jobs and to the queue: the "owner or
 * administrator" rule, pause/resume/restart/cancel, delete, and pausing the
 * whole queue. Each change is persisted before listeners hear of it; a call
 * to abort is aborted only after the engine lock is released.
 */
#include "queue/engine.h"

#include <errno.h>
#include <stdio.h>
#include <string.h>

bool engine_caller_in_group(const struct queue_caller *who, gid_t g)
{
    if (who->gid == g)
        return true;
    for (int i = 0; i < who->ngroups; i++)
        if (who->groups[i] == g)
            return true;
    return false;
}

bool queue_caller_is_admin(const struct queue *q, const struct queue_caller *who)
{
    gid_t g = q->cfg.admin_gid;

    if (who->uid == 0)
        return true;
    return g != (gid_t)-1 && engine_caller_in_group(who, g);
}

bool queue_caller_owns(const struct queue *q, const struct queue_caller *who, const struct job *job)
{
    return who->uid == job->owner_uid || queue_caller_is_admin(q, who);
}

static const char *const op_hint[] = {
    [QOP_PAUSE] = "only waiting or active jobs can be paused",
    [QOP_RESUME] = "only paused jobs can be resumed",
    [QOP_RESTART] = "only failed or canceled jobs can be restarted",
    [QOP_CANCEL] = "finished jobs cannot be canceled; delete them instead",
};

/* Applies op to a job the table allows it for; returns true when its call
 * must be aborted. */
static bool apply_op(struct queue *q, struct qjob *qj, enum queue_op op, const struct queue_caller *who,
                     struct notes *n)
{
    struct job_core *j = &qj->j;
    int64_t t = engine_now(q);
    unsigned long uid = (unsigned long)who->uid;

    switch (op) {
    case QOP_PAUSE:
        j->status = JOB_PAUSED;
        engine_job_log(q, n, j->id, "paused by uid %lu%s", uid, qj->channel >= 0 ? "; its call is aborted" : "");
        return qj->channel >= 0;
    case QOP_RESUME:
        j->status = sched_waiting_state(j, t);
        engine_job_log(q, n, j->id, "resumed by uid %lu", uid);
        return false;
    case QOP_RESTART:
        j->attempts = 0;
        j->pages_sent = 0; /* restart sends the whole fax again; its receipts go (queue_control) */
        j->finished = 0;
        j->next_attempt = 0;
        engine_set_error(j, "", "");
        if (j->kill_time != 0 && j->kill_time <= t)
            j->kill_time = (j->scheduled > t ? j->scheduled : t) + q->cfg.kill_after;
        j->status = sched_waiting_state(j, t);
        engine_job_log(q, n, j->id, "restarted by uid %lu: all %d pages will be sent again", uid, j->page_count);
        return false;
    case QOP_CANCEL:
        j->status = JOB_CANCELED;
        j->finished = t;
        j->next_attempt = 0;
        engine_job_log(q, n, j->id, "canceled by uid %lu%s", uid, qj->channel >= 0 ? "; its call is aborted" : "");
        return qj->channel >= 0;
    }
    return false;
}

int engine_check_access(struct queue *q, const struct queue_caller *who, struct qjob *qj, uint64_t id,
                        const char *what, char *why, size_t whylen)
{
    if (qj == NULL) {
        snprintf(why, whylen, "job %llu does not exist", (unsigned long long)id);
        return -ENOENT;
    }
    if (who->uid != qj->j.owner_uid && !queue_caller_is_admin(q, who)) {
        snprintf(why, whylen, "job %llu belongs to uid %lu; only its owner or an administrator may %s it",
                 (unsigned long long)id, (unsigned long)qj->j.owner_uid, what);
        return -EPERM;
    }
    return 0;
}

int queue_control(struct queue *q, const struct queue_caller *who, uint64_t id, enum queue_op op, char *why,
                  size_t whylen)
{
    struct notes n = {0};
    int r, channel = -1;

    if ((unsigned)op > QOP_CANCEL) {
        snprintf(why, whylen, "unknown operation; use pause, resume, restart or cancel");
        return -EINVAL;
    }
    pthread_mutex_lock(&q->lock);
    struct qjob *qj = engine_find_job(q, id);
    if ((r = engine_check_access(q, who, qj, id, queue_op_name(op), why, whylen)) != 0)
        goto out;
    if (!job_op_allowed(qj->j.type, qj->j.status, op)) {
        if (qj->j.type != JOB_SEND)
            snprintf(why, whylen, "job %llu is a received fax; %s does not apply to it: read it or delete it",
                     (unsigned long long)id, queue_op_name(op));
        else
            snprintf(why, whylen, "job %llu is %s; %s", (unsigned long long)id, job_status_name(qj->j.status),
                     op_hint[op]);
        r = -EBUSY;
        goto out;
    }
    if ((op == QOP_PAUSE || op == QOP_CANCEL) && qj->j.status == JOB_ACTIVE && qj->channel < 0 &&
        q->be->request_stop != NULL) {
        /* Another node calls it: that node stops the call and stores the
         * new state when it sees the request (docs/postgresql.md). */
        char node[JOB_NODE_MAX];
        engine_job_node(qj, node, sizeof node);
        if ((r = q->be->request_stop(q->bs, id, op)) != 0) {
            snprintf(why, whylen, "job %llu: the %s could not be passed to node '%s', which calls it: %s",
                     (unsigned long long)id, queue_op_name(op), node, strerror(-r));
            goto out;
        }
        engine_job_log(q, &n, id, "%s asked by uid %lu; node '%s' calls it and stops the call",
                       op == QOP_CANCEL ? "cancel" : "pause", (unsigned long)who->uid, node);
        goto out;
    }
    struct job_core saved = qj->j;
    bool abort = apply_op(q, qj, op, who, &n);
    struct job full;
    engine_job_get(qj, &full);
    if (op == QOP_RESTART && full.type == JOB_SEND)
        full.ndeliveries = 0; /* a new end, a new receipt */
    if ((r = engine_persist_job(q, qj, &full, &n)) != 0) {
        qj->j = saved;
        snprintf(why, whylen, "job %llu could not be updated in the spool: %s; nothing changed", (unsigned long long)id,
                 strerror(-r));
        goto out;
    }
    if (abort)
        channel = qj->channel;
    engine_poke(q);
out:
    pthread_mutex_unlock(&q->lock);
    engine_deliver(q, &n);
    if (channel >= 0)
        engine_abort_call(q, channel, id);
    return r;
}

int queue_delete(struct queue *q, const struct queue_caller *who, uint64_t id, char *why, size_t whylen)
{
    struct notes n = {0};
    int r;

    pthread_mutex_lock(&q->lock);
    struct qjob *qj = engine_find_job(q, id);
    if ((r = engine_check_access(q, who, qj, id, "delete", why, whylen)) != 0)
        goto out;
    if (!job_status_is_final(qj->j.status)) {
        snprintf(why, whylen, "job %llu is %s; %s", (unsigned long long)id, job_status_name(qj->j.status),
                 qj->j.status == JOB_RECEIVING ? "wait until the call ends" : "cancel it before deleting it");
        r = -EBUSY;
        goto out;
    }
    if (qj->channel >= 0) {
        snprintf(why, whylen, "job %llu is still hanging up its call; try again in a moment", (unsigned long long)id);
        r = -EBUSY;
        goto out;
    }
    if ((r = q->be->remove(q->bs, id)) != 0) {
        snprintf(why, whylen, "job %llu could not be deleted from the spool: %s", (unsigned long long)id, strerror(-r));
        goto out;
    }
    engine_log(q, QUEUE_LOG_INFO, "job %llu: deleted by uid %lu", (unsigned long long)id, (unsigned long)who->uid);
    engine_remove_job(q, qj);
    engine_note(&n, QE_REMOVED, id);
    engine_note(&n, QE_SERVER, 0);
out:
    pthread_mutex_unlock(&q->lock);
    engine_deliver(q, &n);
    return r;
}

int queue_set_paused(struct queue *q, bool paused)
{
    struct notes n = {0};
    int r = 0;

    pthread_mutex_lock(&q->lock);
    if (q->paused != paused) {
        r = q->be->set_paused(q->bs, paused);
        if (r == 0) {
            q->paused = paused;
            engine_note(&n, QE_SERVER, 0);
            engine_poke(q);
            engine_log(q, QUEUE_LOG_NOTICE, "queue %s", paused ? "paused: no new calls" : "resumed");
        } else {
            engine_log(q, QUEUE_LOG_ERR, "cannot %s the queue: %s", paused ? "pause" : "resume", strerror(-r));
        }
    }
    pthread_mutex_unlock(&q->lock);
    engine_deliver(q, &n);
    return r;
}

bool queue_is_paused(const struct queue *q)
{
    struct queue *mq = (struct queue *)q; /* the lock is not part of the logical state */

    pthread_mutex_lock(&mq->lock);
    bool p = q->paused;
    pthread_mutex_unlock(&mq->lock);
    return p;
}

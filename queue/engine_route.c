/*
 * engine_route.c - the records of a received fax's route and deliveries:
 * the route chosen once the call has ended, and each delivery's state,
 * always persisted before anyone is told. The actions themselves (files,
 * printers, mail) are the daemon's; the queue only keeps their records.
 */
#include "queue/engine.h"

#include <errno.h>
#include <stdio.h>
#include <string.h>

int queue_receive_route(struct queue *q, uint64_t id, const char *route, uid_t uid, gid_t gid,
                        const struct job_delivery *deliveries, int n)
{
    struct notes notes = {0};
    int r = 0;

    if (n < 0 || n > JOB_DELIVERIES_MAX)
        return -EINVAL;
    pthread_mutex_lock(&q->lock);
    struct qjob *qj = engine_find_job(q, id);
    if (qj == NULL || qj->j.type != JOB_RECEIVE) {
        r = -ENOENT;
        goto out;
    }
    if (qj->j.status == JOB_RECEIVING) {
        r = -EBUSY;
        goto out;
    }
    if (qj->j.routed != 0) {
        r = -EALREADY;
        goto out;
    }
    struct job full;
    engine_job_get(qj, &full);
    full.routed = engine_now(q);
    snprintf(full.route, sizeof full.route, "%s", route ? route : "");
    full.owner_uid = uid;
    full.owner_gid = gid;
    full.ndeliveries = n;
    for (int i = 0; i < n; i++) {
        full.deliveries[i] = deliveries[i];
        full.deliveries[i].state = JD_PENDING;
    }
    if ((r = engine_persist_job(q, qj, &full, &notes)) != 0)
        goto out;
    engine_job_log(q, &notes, id, "routed by %s%s%s to uid %lu, gid %lu; %d deliver%s", route && route[0] ? "route \"" : "no route",
                   route && route[0] ? route : "", route && route[0] ? "\"" : "", (unsigned long)uid,
                   (unsigned long)gid, n, n == 1 ? "y" : "ies");
out:
    pthread_mutex_unlock(&q->lock);
    engine_deliver(q, &notes);
    return r;
}

/* The counter slot of an action, made on first use; NULL when full. */
static struct queue_delivery_counter *counter_of(struct queue *q, const char *action)
{
    for (int i = 0; i < QUEUE_DELIVERY_ACTIONS; i++) {
        struct queue_delivery_counter *c = &q->counters.deliveries[i];
        if (c->action[0] == '\0')
            snprintf(c->action, sizeof c->action, "%s", action);
        if (strcmp(c->action, action) == 0)
            return c;
    }
    return NULL;
}

static void count_outcome(struct queue *q, const struct job_delivery *before, const struct job_delivery *after)
{
    static const int outcome_of[JD_STATE_COUNT] = {
        [JD_PENDING] = -1, [JD_DONE] = QDO_DONE, [JD_RETRYING] = QDO_RETRY, [JD_FAILED] = QDO_FAILED,
    };
    int o = outcome_of[after->state];
    /* A try ends in done, retrying or failed: attempts tell a new try from
     * a rewrite of the same record. */
    if (o < 0 || (after->state == before->state && after->attempts == before->attempts))
        return;
    struct queue_delivery_counter *c = counter_of(q, after->action);
    if (c)
        c->outcome[o]++;
}

int queue_delivery_update(struct queue *q, uint64_t id, int index, const struct job_delivery *d)
{
    struct notes notes = {0};
    int r = 0;

    pthread_mutex_lock(&q->lock);
    struct qjob *qj = engine_find_job(q, id);
    if (qj == NULL) {
        r = -ENOENT;
        goto out;
    }
    if (index < 0 || index >= qj->ndeliveries || (unsigned)d->state >= JD_STATE_COUNT) {
        r = -EINVAL;
        goto out;
    }
    struct job_delivery before = qj->deliveries[index];
    if (before.of_attempt != d->of_attempt) {
        r = -ESTALE; /* the slot now holds a newer attempt receipt: this outcome is of one that is gone */
        goto out;
    }
    struct job full;
    engine_job_get(qj, &full);
    struct job_delivery *after = &full.deliveries[index];
    *after = *d;
    /* The action and target are the route's: a record cannot be turned into another. */
    memcpy(after->action, before.action, sizeof before.action);
    memcpy(after->target, before.target, sizeof before.target);
    after->of_attempt = before.of_attempt;
    after->retry_at = before.retry_at;
    memcpy(after->reason, before.reason, sizeof before.reason);
    if ((r = engine_persist_job(q, qj, &full, &notes)) != 0)
        goto out;
    count_outcome(q, &before, &qj->deliveries[index]);
    if (d->state != before.state)
        engine_job_log(q, &notes, id, "delivery %d (%s %s): %s%s%s", index + 1, before.action, before.target,
                       job_delivery_state_name(d->state), d->error[0] ? ": " : "", d->error);
out:
    pthread_mutex_unlock(&q->lock);
    engine_deliver(q, &notes);
    return r;
}

int queue_redeliver(struct queue *q, const struct queue_caller *who, uint64_t id, char *why, size_t whylen)
{
    struct notes notes = {0};
    int r = 0;

    pthread_mutex_lock(&q->lock);
    struct qjob *qj = engine_find_job(q, id);
    if ((r = engine_check_access(q, who, qj, id, "redeliver", why, whylen)) != 0)
        goto out;
    bool receipt = qj->j.type == JOB_SEND && qj->ndeliveries > 0; /* its receipt again */
    if (!receipt && (qj->j.type != JOB_RECEIVE || qj->j.routed == 0 || qj->ndeliveries == 0)) {
        snprintf(why, whylen, "job %llu has no deliveries to repeat; only a received fax whose route delivers it can be redelivered",
                 (unsigned long long)id);
        r = -EINVAL;
        goto out;
    }
    /* A receipt goes to addresses the user chose: only one that failed for
     * good is tried again, so redeliver cannot make the daemon mail anyone
     * over and over. */
    int again = 0;
    for (int i = 0; receipt && i < qj->ndeliveries; i++)
        again += qj->deliveries[i].state == JD_FAILED;
    if (receipt && again == 0) {
        snprintf(why, whylen, "job %llu: its receipt was not given up on (see deliveries); only a failed receipt "
                 "can be sent again", (unsigned long long)id);
        r = -EINVAL;
        goto out;
    }
    struct job full;
    engine_job_get(qj, &full);
    for (int i = 0; i < full.ndeliveries; i++) {
        struct job_delivery *d = &full.deliveries[i];
        if (receipt && d->state != JD_FAILED)
            continue;
        d->state = JD_PENDING;
        d->attempts = 0;
        d->first_try = 0;
        d->next_try = 0;
    }
    if ((r = engine_persist_job(q, qj, &full, &notes)) != 0) {
        snprintf(why, whylen, "the spool could not record it: %s", strerror(-r));
        goto out;
    }
    engine_job_log(q, &notes, id, "redelivery asked by uid %lu", (unsigned long)who->uid);
out:
    pthread_mutex_unlock(&q->lock);
    engine_deliver(q, &notes);
    return r;
}

/*
 * engine_batch.c - batching: due jobs of one owner to one number go out in
 * the call dialed for the first of them, one document after the other
 * (the modem sends a T.30 end-of-message between them). Each job keeps
 * its own attempt, pages, log and result; a job whose turn never came
 * goes back to the queue without an attempt counted. Which jobs may ride
 * together is sched_batch_pick's pure policy; this file applies it to
 * the job table. Everything here runs with the engine lock held.
 */
#include "queue/engine.h"
#include "queue/dialplan.h"

#include <stdio.h>
#include <stdlib.h>
#include <string.h>

int engine_batch_max(const struct queue *q, const struct qjob *lead)
{
    struct dialplan_controls c;
    dialplan_controls(q->cfg.dialplan, lead->j.recipient_number, &c);
    if (c.batch == 0)
        return 1;
    int max = q->cfg.batch_max;
    return max < 1 ? 1 : max > QUEUE_BATCH_LIMIT ? QUEUE_BATCH_LIMIT : max;
}

/* One call suits both jobs: the same station id and page header (what
 * the remote sees once per call), the same resolution (pages of one
 * format follow each other without a new negotiation) and the same modem
 * settings after precedence (destination > job > global). Same number
 * means the same route and line. */
static bool batch_same_call(void *ctx, const struct job_core *lead, const struct job_core *c)
{
    const struct queue *q = ctx;
    if (strcmp(lead->tsid, c->tsid) != 0 || strcmp(lead->sender_name, c->sender_name) != 0
        || lead->resolution != c->resolution)
        return false;
    struct dialplan_modem a, b;
    dialplan_modem_settings(q->cfg.dialplan, lead->recipient_number, lead->use_ecm, lead->max_bit_rate,
                            lead->min_bit_rate, &a);
    dialplan_modem_settings(q->cfg.dialplan, c->recipient_number, c->use_ecm, c->max_bit_rate, c->min_bit_rate, &b);
    return a.ecm == b.ecm && a.max_bit_rate == b.max_bit_rate && a.min_bit_rate == b.min_bit_rate && a.t38 == b.t38;
}

int engine_batch_collect(struct queue *q, const struct qjob *lead, struct qjob **out, int max)
{
    if (max <= 0)
        return 0;
    const struct job_core **cand = malloc((q->njobs + 1) * sizeof *cand);
    size_t *picked = malloc((q->njobs + 1) * sizeof *picked);
    size_t ncand = 0, np = 0;
    int n = 0;

    if (cand == NULL || picked == NULL)
        goto out;
    for (size_t i = 0; i < q->njobs; i++) {
        const struct qjob *qj = q->jobs[i];
        if (qj != lead && qj->channel < 0 && qj->j.status == JOB_QUEUED && qj->j.type == JOB_SEND &&
            qj->claim_after <= engine_now(q)) /* one another node holds waits, as for a call of its own */
            cand[ncand++] = &qj->j;
    }
    np = sched_batch_pick(&lead->j, cand, ncand, max + 1, batch_same_call, q, picked);
    for (size_t i = 0; i < np && n < max; i++) {
        struct qjob *qj = engine_find_job(q, cand[picked[i]]->id);
        if (qj != NULL)
            out[n++] = qj;
    }
out:
    free(cand);
    free(picked);
    return n;
}

int engine_batch_join(struct queue *q, struct qjob *qj, int channel, const struct qjob *lead, int position,
                      struct notes *n)
{
    struct channel *ch = &q->channels[channel];
    struct job_core saved = qj->j;
    int r = engine_claim(q, qj, lead->j.id);

    if (r != 0)
        return r;
    qj->j.status = JOB_ACTIVE;
    qj->j.next_attempt = 0;
    snprintf(qj->j.modem, sizeof qj->j.modem, "%s", ch->name);
    snprintf(qj->j.line, sizeof qj->j.line, "%s", q->lines[ch->line].name);
    snprintf(qj->j.device_status, sizeof qj->j.device_status, "waiting in the call of job %llu",
             (unsigned long long)lead->j.id);
    snprintf(qj->j.dialed_number, sizeof qj->j.dialed_number, "%s", lead->j.dialed_number);
    r = engine_store(q, qj, n);
    if (r != 0) {
        qj->j = saved; /* not durable: it waits for a call of its own */
        engine_release(q, qj);
        return r;
    }
    qj->channel = channel;
    qj->batch_lead = lead->j.id;
    qj->batch_begun = false;
    engine_job_log(q, n, qj->j.id, "goes in the call of job %llu to the same number on %s, as document %d of the "
                   "call; its attempt counts when its turn comes", (unsigned long long)lead->j.id, ch->name,
                   position + 1);
    return 0;
}

bool engine_batch_leave(struct qjob *qj, struct channel *ch)
{
    qj->batch_lead = 0;
    qj->batch_begun = false;
    if (ch->batch_left > 0)
        ch->batch_left--;
    return ch->batch_left == 0;
}

void engine_batch_not_sent(struct queue *q, struct qjob *qj, uint64_t on_line, struct notes *n)
{
    struct channel *ch = &q->channels[qj->channel];
    struct job_core *j = &qj->j;

    if (qj->lease_lost) { /* another node holds it: nothing is written */
        qj->channel = -1;
        if (engine_batch_leave(qj, ch))
            engine_release_channel(q, ch, n);
        engine_lost_call_ended(q, qj, n);
        return;
    }
    if (qj->batch_begun && j->attempts > 0)
        j->attempts--; /* the call ended as its turn began: nothing of it was sent */
    qj->channel = -1;
    j->device_status[0] = '\0';
    if (j->status == JOB_ACTIVE) {
        j->status = sched_waiting_state(j, engine_now(q));
        engine_job_log(q, n, j->id, "the call ended before this job's turn (job %llu was on the line): "
                       "not counted as an attempt; queued again", (unsigned long long)on_line);
    } else {
        engine_job_log(q, n, j->id, "not sent in the call of job %llu; it stays %s", (unsigned long long)on_line,
                       job_status_name(j->status));
    }
    engine_persist(q, qj, n);
    if (engine_batch_leave(qj, ch))
        engine_release_channel(q, ch, n);
}

bool queue_call_next_document(struct queue *q, uint64_t id)
{
    struct notes n = {0};
    bool ok = false;

    pthread_mutex_lock(&q->lock);
    struct qjob *qj = engine_find_job(q, id);
    if (qj != NULL && qj->channel >= 0 && qj->batch_lead != 0 && qj->j.status == JOB_ACTIVE && !q->stopping) {
        ok = true;
        if (!qj->batch_begun) {
            struct channel *ch = &q->channels[qj->channel];
            struct job_core saved = qj->j;
            qj->j.attempts++;
            snprintf(qj->j.device_status, sizeof qj->j.device_status, "sending (after job %llu, same call)",
                     (unsigned long long)qj->batch_lead);
            if (engine_store(q, qj, &n) != 0) {
                qj->j = saved; /* the attempt would not be on record: not sent */
                ok = false;
            } else {
                qj->batch_begun = true;
                ch->job = id;
                ch->busy_since = qj->page_mark = engine_now(q);
                engine_job_log(q, &n, id, "attempt %d on %s: sent in the call of job %llu, no new dialing",
                               qj->j.attempts, ch->name, (unsigned long long)qj->batch_lead);
            }
        }
    }
    pthread_mutex_unlock(&q->lock);
    engine_deliver(q, &n);
    return ok;
}

void queue_call_not_sent(struct queue *q, uint64_t id, uint64_t on_line)
{
    struct notes n = {0};

    pthread_mutex_lock(&q->lock);
    struct qjob *qj = engine_find_job(q, id);
    if (qj == NULL || qj->channel < 0)
        engine_log(q, QUEUE_LOG_WARNING, "job %llu: 'not sent' report ignored: the job is in no call",
                   (unsigned long long)id);
    else
        engine_batch_not_sent(q, qj, on_line, &n);
    pthread_mutex_unlock(&q->lock);
    engine_deliver(q, &n);
}

/*
 * engine_metrics.c - the queue summary (jobs by state, modems busy) and the
 * counters behind queue_metrics(): calls and receptions by outcome, pages,
 * modem busy time, and the call and page duration histograms. The other
 * engine files count under the engine lock.
 */
#include "queue/engine.h"

#include <stdio.h>
#include <string.h>

/* Bucket bounds, seconds. Calls: a one-page fax takes about 30 s, a long
 * one many minutes. Pages: 2.4 s of phase D plus the image time (about 10
 * to 40 s at 9600-14400 bps). */
static const double call_bounds[QUEUE_HIST_BUCKETS] = {15, 30, 45, 60, 90, 120, 180, 300, 600, 1200};
static const double page_bounds[QUEUE_HIST_BUCKETS] = {2, 5, 10, 15, 20, 30, 45, 60, 90, 120};

void engine_metrics_init(struct queue_metrics *m)
{
    memset(m, 0, sizeof *m);
    memcpy(m->call_seconds.bounds, call_bounds, sizeof call_bounds);
    memcpy(m->page_seconds.bounds, page_bounds, sizeof page_bounds);
}

static void observe(struct queue_histogram *h, double v)
{
    for (int i = 0; i < QUEUE_HIST_BUCKETS; i++)
        if (v <= h->bounds[i])
            h->counts[i]++;
    h->count++;
    h->sum += v;
}

/* pages pages were completed in elapsed seconds since the last mark:
 * each is counted with an equal share. */
void engine_observe_pages(struct queue *q, int pages, int64_t elapsed)
{
    if (pages <= 0)
        return;
    if (elapsed < 0)
        elapsed = 0;
    for (int i = 0; i < pages; i++)
        observe(&q->counters.page_seconds, (double)elapsed / pages);
}

/* The call on channel ch ended: its busy time, duration and outcome. */
void engine_count_call_end(struct queue *q, struct qjob *qj, struct channel *ch,
                           const struct queue_call_result *res, int new_pages)
{
    int64_t t = engine_now(q), busy = t - ch->busy_since;

    if (busy > 0)
        q->counters.modem_busy_seconds += (double)busy;
    if ((unsigned)res->failure < QF_COUNT)
        q->counters.calls[res->failure]++;
    observe(&q->counters.call_seconds, res->duration >= 0 ? (double)res->duration : (double)(busy > 0 ? busy : 0));
    q->counters.pages_sent += (uint64_t)(new_pages > 0 ? new_pages : 0);
    engine_observe_pages(q, new_pages, t - qj->page_mark);
    qj->page_mark = t;
}

/* An inbound call ended; it held its modem from answer to now. */
void engine_count_reception_end(struct queue *q, const struct job_core *j, const struct queue_call_result *res)
{
    int64_t busy = j->finished - j->submitted;

    if (busy > 0)
        q->counters.modem_busy_seconds += (double)busy;
    if ((unsigned)res->failure < QF_COUNT)
        q->counters.receptions[res->failure]++;
    observe(&q->counters.call_seconds, res->duration >= 0 ? (double)res->duration : (double)(busy > 0 ? busy : 0));
}

/* One more call in progress on node name. */
static void count_node_call(struct queue_summary *out, const char *name)
{
    for (int i = 0; i < out->nnodes; i++)
        if (strcmp(out->nodes[i].name, name) == 0) {
            out->nodes[i].calls++;
            return;
        }
    if (out->nnodes == QUEUE_SUMMARY_NODES) {
        out->calls_elsewhere++;
        return;
    }
    snprintf(out->nodes[out->nnodes].name, sizeof out->nodes[0].name, "%s", name);
    out->nodes[out->nnodes++].calls = 1;
}

void queue_summarize(struct queue *q, struct queue_summary *out)
{
    memset(out, 0, sizeof *out);
    pthread_mutex_lock(&q->lock);
    const char *own = engine_node_name(q);
    snprintf(out->node, sizeof out->node, "%s", own[0] != '\0' || q->cfg.node_name == NULL ? own : q->cfg.node_name);
    out->several = q->be->changes != NULL;
    if (out->several) {
        snprintf(out->nodes[0].name, sizeof out->nodes[0].name, "%s", out->node);
        out->nnodes = 1;
    }
    for (size_t i = 0; i < q->njobs; i++) {
        const struct qjob *qj = q->jobs[i];
        out->jobs[qj->j.status]++;
        if (!out->several || qj->j.status != JOB_ACTIVE)
            continue;
        if (qj->channel >= 0) {
            out->nodes[0].calls++;
        } else {
            char node[JOB_NODE_MAX];
            engine_job_node(qj, node, sizeof node);
            if (node[0] != '\0')
                count_node_call(out, node);
        }
    }
    for (int c = 0; c < q->nchannels; c++)
        q->channels[c].job ? out->modems_busy++ : out->modems_idle++;
    out->paused = q->paused;
    out->loading = q->loading;
    /* While a trusted store is still listed (engine_load.c), only the jobs
     * asked for by id are in, and how many are to load is not known yet. */
    out->jobs_loaded = !q->loading ? 0 : q->listing ? q->loaded : q->load_pos + q->taken_ahead;
    out->jobs_to_load = q->loading ? q->npending : 0;
    pthread_mutex_unlock(&q->lock);
}

void queue_metrics(struct queue *q, struct queue_metrics *out)
{
    queue_summarize(q, &out->summary);
    pthread_mutex_lock(&q->lock);
    struct queue_summary summary = out->summary;
    *out = q->counters;
    out->summary = summary;
    int64_t t = engine_now(q);
    /* Calls still on the line count up to now, so the sum never jumps back. */
    for (int c = 0; c < q->nchannels; c++)
        if (q->channels[c].job != 0 && t > q->channels[c].busy_since)
            out->modem_busy_seconds += (double)(t - q->channels[c].busy_since);
    pthread_mutex_unlock(&q->lock);
}

/*
 * engine.c - struct queue: the jobs in memory (rebuilt from the backend at
 * open), the dispatcher that hands due jobs to modem channels, user
 * operations, and the reports coming back from calls. Rules kept here:
 * persist before telling anyone; never call out of the module (line ops,
 * listeners) with the engine lock held. docs/queue.md explains the threads.
 */
#include "queue/backend.h"
#include "queue/cover.h"
#include "queue/document.h"
#include "queue/fault.h"
#include "queue/preview.h"
#include "queue/sandbox.h"
#include "queue/sched.h"

#include <errno.h>
#include <pthread.h>
#include <stdarg.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <time.h>
#include <unistd.h>

#define MAX_LISTENERS 8
#define PURGE_INTERVAL 3600  /* seconds between history purges */
#define STOP_WAIT_SECONDS 10 /* how long queue_stop waits for aborted calls */
#define IDLE_WAKE_SECONDS 60 /* the dispatcher re-checks at least this often */

struct qjob {
    struct job j;
    int channel;      /* >= 0 while a call for this job is on that channel */
    int64_t page_mark; /* start of the page now on the line (metrics only) */
};

struct channel {
    char name[JOB_MODEM_MAX];
    uint64_t job; /* 0 when idle; freed only by the call's finished report */
    uint64_t calls, pages_sent, errors;
    int64_t busy_since; /* when the current call was handed over */
};

struct listener {
    queue_listener fn;
    void *ctx;
};

/* Events gathered under the lock and delivered after it is released. */
struct notes {
    struct {
        enum queue_event ev;
        uint64_t id;
    } *v;
    size_t n, cap;
    bool server;
};

/* A call prepared under the lock, started outside it. */
struct pending_call {
    struct queue_call call;
    char number[JOB_NUMBER_MAX];
    char tsid[JOB_IDENT_MAX];
    char sender[JOB_TEXT_MAX];
    char **paths;
};

struct queue {
    struct queue_config cfg; /* defaults filled in; spool_dir points to spool_dir_copy */
    char *spool_dir_copy;
    char *ghostscript_copy;
    char *converter_copy, *bwrap_copy;
    struct sandbox_options sandbox; /* from cfg, with the copies above */
    const struct queue_backend *be;
    void *bs; /* backend state */
    struct sched_policy policy;

    /* lock protects every field below it, all job state and the backend
     * calls that are not staging. */
    pthread_mutex_t lock;
    pthread_cond_t wake; /* dispatcher: something changed */
    pthread_cond_t idle; /* queue_stop: a channel became free */
    struct qjob **jobs;  /* sorted by id */
    size_t njobs, cap;
    struct channel *channels;
    int nchannels;
    bool paused, stopping, stopped, kick;
    int64_t next_purge;
    uint32_t rng;
    struct queue_metrics counters; /* since open; summary is filled on demand */
    pthread_t thread;
    bool have_thread;

    /* line_lock serializes line.start and line.abort so an abort can never
     * hit a call started for another job on the same channel. Taken before
     * lock, never while holding it. */
    pthread_mutex_t line_lock;

    pthread_mutex_t sub_lock; /* protects listeners, nlisteners, delivering */
    pthread_cond_t delivered; /* signalled when delivering drops to 0 */
    struct listener listeners[MAX_LISTENERS];
    int nlisteners;
    int delivering; /* deliver() calls running their listener copies */
};

/* ---- small helpers -------------------------------------------------- */

static int64_t real_now(void *ctx)
{
    (void)ctx;
    return (int64_t)time(NULL);
}

static int64_t now(const struct queue *q)
{
    return q->cfg.clock.now(q->cfg.clock.ctx);
}

static void stderr_log(int level, const char *msg)
{
    (void)level;
    fprintf(stderr, "faxfs: %s\n", msg);
}

static void daemon_log(struct queue *q, int level, const char *fmt, ...) __attribute__((format(printf, 3, 4)));
static void daemon_log(struct queue *q, int level, const char *fmt, ...)
{
    char msg[512];
    va_list ap;

    va_start(ap, fmt);
    vsnprintf(msg, sizeof msg, fmt, ap);
    va_end(ap);
    q->cfg.log(level, msg);
}

static void backend_log(void *ctx, int level, const char *msg)
{
    ((struct queue *)ctx)->cfg.log(level, msg);
}

static uint32_t next_random(struct queue *q)
{
    if (q->cfg.random.next != NULL)
        return q->cfg.random.next(q->cfg.random.ctx);
    /* xorshift32: jitter needs spread, not secrecy */
    q->rng ^= q->rng << 13;
    q->rng ^= q->rng >> 17;
    q->rng ^= q->rng << 5;
    return q->rng;
}

static void note(struct notes *n, enum queue_event ev, uint64_t id)
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

static void deliver(struct queue *q, struct notes *n)
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

static void poke(struct queue *q)
{
    q->kick = true;
    pthread_cond_signal(&q->wake);
}

static struct qjob *find_job(const struct queue *q, uint64_t id)
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

static int insert_job(struct queue *q, const struct job *job)
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
    qj->j = *job;
    qj->channel = -1;
    size_t at = q->njobs;
    while (at > 0 && q->jobs[at - 1]->j.id > job->id)
        at--;
    memmove(&q->jobs[at + 1], &q->jobs[at], (q->njobs - at) * sizeof *q->jobs);
    q->jobs[at] = qj;
    q->njobs++;
    return 0;
}

static void remove_job(struct queue *q, struct qjob *qj)
{
    for (size_t i = 0; i < q->njobs; i++) {
        if (q->jobs[i] == qj) {
            memmove(&q->jobs[i], &q->jobs[i + 1], (q->njobs - i - 1) * sizeof *q->jobs);
            q->njobs--;
            free(qj);
            return;
        }
    }
}

/* Appends a timestamped line to the job's log. */
static void job_log(struct queue *q, struct notes *n, uint64_t id, const char *fmt, ...)
    __attribute__((format(printf, 4, 5)));
static void job_log(struct queue *q, struct notes *n, uint64_t id, const char *fmt, ...)
{
    char line[1024], stamp[40];
    va_list ap;

    job_format_time(now(q), stamp, sizeof stamp);
    int k = snprintf(line, sizeof line, "%s ", stamp);
    va_start(ap, fmt);
    vsnprintf(line + k, sizeof line - (size_t)k - 1, fmt, ap);
    va_end(ap);
    strcat(line, "\n");
    int r = q->be->append_log(q->bs, id, line);
    if (r != 0)
        daemon_log(q, QUEUE_LOG_WARNING, "job %llu: cannot append to its log: %s", (unsigned long long)id,
                   strerror(-r));
    else
        note(n, QE_LOG, id);
}

/* Writes the job; the caller tells listeners only after this. */
static int persist(struct queue *q, struct qjob *qj, struct notes *n)
{
    qj->j.changed = now(q);
    int r = q->be->update(q->bs, &qj->j);
    if (r != 0) {
        daemon_log(q, QUEUE_LOG_ERR, "job %llu: cannot write its state to the spool: %s", (unsigned long long)qj->j.id,
                   strerror(-r));
        return r;
    }
    note(n, QE_CHANGED, qj->j.id);
    note(n, QE_SERVER, 0);
    return 0;
}

static void set_error(struct job *j, const char *code, const char *text)
{
    snprintf(j->error_code, sizeof j->error_code, "%s", code ? code : "");
    snprintf(j->error_text, sizeof j->error_text, "%s", text ? text : "");
}

static void format_time(int64_t t, char *buf, size_t len)
{
    job_format_time(t, buf, len);
}

/* ---- metrics -------------------------------------------------------- */

/* Bucket bounds, seconds. Calls: a one-page fax takes about 30 s, a long
 * one many minutes. Pages: 2.4 s of phase D plus the image time (about 10
 * to 40 s at 9600-14400 bps). */
static const double call_bounds[QUEUE_HIST_BUCKETS] = {15, 30, 45, 60, 90, 120, 180, 300, 600, 1200};
static const double page_bounds[QUEUE_HIST_BUCKETS] = {2, 5, 10, 15, 20, 30, 45, 60, 90, 120};

static void metrics_init(struct queue_metrics *m)
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
static void observe_pages(struct queue *q, int pages, int64_t elapsed)
{
    if (pages <= 0)
        return;
    if (elapsed < 0)
        elapsed = 0;
    for (int i = 0; i < pages; i++)
        observe(&q->counters.page_seconds, (double)elapsed / pages);
}

/* The call on channel ch ended: its busy time, duration and outcome. */
static void count_call_end(struct queue *q, struct qjob *qj, struct channel *ch,
                           const struct queue_call_result *res, int new_pages)
{
    int64_t t = now(q), busy = t - ch->busy_since;

    if (busy > 0)
        q->counters.modem_busy_seconds += (double)busy;
    if ((unsigned)res->failure < QF_COUNT)
        q->counters.calls[res->failure]++;
    observe(&q->counters.call_seconds, res->duration >= 0 ? (double)res->duration : (double)(busy > 0 ? busy : 0));
    q->counters.pages_sent += (uint64_t)(new_pages > 0 ? new_pages : 0);
    observe_pages(q, new_pages, t - qj->page_mark);
    qj->page_mark = t;
}

/* An inbound call ended; it held its modem from answer to now. */
static void count_reception_end(struct queue *q, const struct job *j, const struct queue_call_result *res)
{
    int64_t busy = j->finished - j->submitted;

    if (busy > 0)
        q->counters.modem_busy_seconds += (double)busy;
    if ((unsigned)res->failure < QF_COUNT)
        q->counters.receptions[res->failure]++;
    observe(&q->counters.call_seconds, res->duration >= 0 ? (double)res->duration : (double)(busy > 0 ? busy : 0));
}

void queue_metrics(struct queue *q, struct queue_metrics *out)
{
    queue_summarize(q, &out->summary);
    pthread_mutex_lock(&q->lock);
    struct queue_summary summary = out->summary;
    *out = q->counters;
    out->summary = summary;
    int64_t t = now(q);
    /* Calls still on the line count up to now, so the sum never jumps back. */
    for (int c = 0; c < q->nchannels; c++)
        if (q->channels[c].job != 0 && t > q->channels[c].busy_since)
            out->modem_busy_seconds += (double)(t - q->channels[c].busy_since);
    pthread_mutex_unlock(&q->lock);
}

/* ---- the dispatch round --------------------------------------------- */

static bool purge_enabled(const struct queue *q)
{
    return q->cfg.history_days > 0 || q->cfg.received_days > 0 || q->cfg.received_empty_hours > 0;
}

/* Why a finished job goes now, or NULL when it stays. Sent jobs go after
 * history_days. Received faxes go after received_days (0: they stay
 * until someone deletes them); receives that failed without a single
 * page (callers that never faxed: floods, wrong numbers) go after
 * received_empty_hours, so they cannot pile up. */
static const char *purge_reason(const struct queue *q, const struct job *j, int64_t t, char *buf, size_t cap)
{
    int64_t age = t - j->finished;
    if (j->type != JOB_RECEIVE) {
        if (q->cfg.history_days <= 0 || age < (int64_t)q->cfg.history_days * 86400)
            return NULL;
        snprintf(buf, cap, "purged from history (finished more than %d days ago)", q->cfg.history_days);
        return buf;
    }
    if (j->status == JOB_FAILED && j->page_count == 0 && q->cfg.received_empty_hours > 0
        && age >= (int64_t)q->cfg.received_empty_hours * 3600) {
        snprintf(buf, cap, "purged: a receive without pages that failed more than %d hours ago",
                 q->cfg.received_empty_hours);
        return buf;
    }
    if (q->cfg.received_days > 0 && age >= (int64_t)q->cfg.received_days * 86400) {
        snprintf(buf, cap, "purged: received more than %d days ago", q->cfg.received_days);
        return buf;
    }
    return NULL;
}

static void purge_history(struct queue *q, int64_t t, struct notes *n)
{
    if (!purge_enabled(q))
        return;
    for (size_t i = 0; i < q->njobs;) {
        struct qjob *qj = q->jobs[i];
        char why[128];
        const char *reason = NULL;
        if (job_status_is_final(qj->j.status) && qj->channel < 0 && qj->j.finished != 0)
            reason = purge_reason(q, &qj->j, t, why, sizeof why);
        if (!reason) {
            i++;
            continue;
        }
        uint64_t id = qj->j.id;
        int r = q->be->remove(q->bs, id);
        if (r != 0) {
            daemon_log(q, QUEUE_LOG_WARNING, "job %llu: history purge failed: %s", (unsigned long long)id, strerror(-r));
            i++;
            continue;
        }
        daemon_log(q, QUEUE_LOG_INFO, "job %llu: %s", (unsigned long long)id, reason);
        remove_job(q, qj);
        note(n, QE_REMOVED, id);
        note(n, QE_SERVER, 0);
    }
}

static void fail_job(struct queue *q, struct qjob *qj, const char *code, const char *text, struct notes *n)
{
    qj->j.status = JOB_FAILED;
    qj->j.finished = now(q);
    qj->j.next_attempt = 0;
    set_error(&qj->j, code, text);
    persist(q, qj, n);
    job_log(q, n, qj->j.id, "failed: %s", text);
    daemon_log(q, QUEUE_LOG_NOTICE, "job %llu failed: %s", (unsigned long long)qj->j.id, text);
}

/* Waiting jobs whose time has come become queued; expired ones fail. */
static void promote_and_expire(struct queue *q, int64_t t, struct notes *n)
{
    for (size_t i = 0; i < q->njobs; i++) {
        struct qjob *qj = q->jobs[i];
        enum job_status s = qj->j.status;
        if (s != JOB_QUEUED && s != JOB_SCHEDULED && s != JOB_RETRYING)
            continue;
        if (sched_expired(&qj->j, t) && qj->channel < 0) {
            fail_job(q, qj, "kill_time_passed", "the kill time passed before the fax could be sent", n);
            continue;
        }
        enum job_status want = sched_waiting_state(&qj->j, t);
        if (want != s) {
            qj->j.status = want;
            persist(q, qj, n);
        }
    }
}

static int free_channel(const struct queue *q)
{
    for (int i = 0; i < q->nchannels; i++)
        if (q->channels[i].job == 0)
            return i;
    return -1;
}

static void free_pending(struct pending_call *pc)
{
    if (pc == NULL)
        return;
    for (int i = 0; pc->paths != NULL && i < pc->call.page_count; i++)
        free(pc->paths[i]);
    free(pc->paths);
    free(pc);
}

static struct pending_call *prepare_call(struct queue *q, struct qjob *qj, int channel)
{
    struct pending_call *pc = calloc(1, sizeof *pc);
    int n = qj->j.page_count - qj->j.pages_sent;

    if (pc == NULL || n <= 0 || (pc->paths = calloc((size_t)n, sizeof *pc->paths)) == NULL) {
        free(pc);
        return NULL;
    }
    for (int i = 0; i < n; i++) {
        char path[4096];
        if (q->be->page_path(q->bs, qj->j.id, qj->j.pages_sent + i, path, sizeof path) != 0 ||
            (pc->paths[i] = strdup(path)) == NULL) {
            pc->call.page_count = i;
            free_pending(pc);
            return NULL;
        }
    }
    snprintf(pc->number, sizeof pc->number, "%s", qj->j.recipient_number);
    snprintf(pc->tsid, sizeof pc->tsid, "%s", qj->j.tsid);
    snprintf(pc->sender, sizeof pc->sender, "%s", qj->j.sender_name);
    pc->call = (struct queue_call){
        .job_id = qj->j.id,
        .channel = channel,
        .number = pc->number,
        .page_paths = (const char *const *)pc->paths,
        .page_count = n,
        .first_page = qj->j.pages_sent,
        .total_pages = qj->j.page_count,
        .tsid = pc->tsid,
        .sender_name = pc->sender,
    };
    return pc;
}

/* A send job whose pages the remote has all confirmed is done, even when
 * the call's own result was lost (a crash between the last confirmation
 * and the result): sending again would only duplicate the fax. */
static void finish_all_confirmed(struct queue *q, struct qjob *qj, struct notes *n, const char *why)
{
    struct job *j = &qj->j;
    j->status = JOB_DONE;
    j->finished = now(q);
    set_error(j, "", "");
    snprintf(j->device_status, sizeof j->device_status, "completed");
    persist(q, qj, n);
    job_log(q, n, j->id, "done: %s (%d of %d pages)", why, j->pages_sent, j->page_count);
}

/* Marks the job active on channel and prepares its call. */
static struct pending_call *begin_attempt(struct queue *q, struct qjob *qj, int channel, struct notes *n)
{
    struct channel *ch = &q->channels[channel];
    if (qj->j.pages_sent >= qj->j.page_count) {
        finish_all_confirmed(q, qj, n, "every page was already confirmed by the remote");
        return NULL;
    }
    struct pending_call *pc = prepare_call(q, qj, channel);

    if (pc == NULL) {
        daemon_log(q, QUEUE_LOG_ERR, "job %llu: cannot prepare its call (out of memory or pages missing)",
                   (unsigned long long)qj->j.id);
        return NULL;
    }
    struct job saved = qj->j;
    qj->j.status = JOB_ACTIVE;
    qj->j.attempts++;
    qj->j.next_attempt = 0;
    snprintf(qj->j.modem, sizeof qj->j.modem, "%s", ch->name);
    snprintf(qj->j.device_status, sizeof qj->j.device_status, "dialing");
    if (persist(q, qj, n) != 0) {
        qj->j = saved; /* not durable: do not dial */
        free_pending(pc);
        return NULL;
    }
    qj->channel = channel;
    ch->job = qj->j.id;
    ch->busy_since = qj->page_mark = now(q);
    job_log(q, n, qj->j.id, "attempt %d on %s: dialing %s%s", qj->j.attempts, ch->name, qj->j.recipient_number,
            qj->j.pages_sent > 0 ? " (resuming after the pages already confirmed)" : "");
    return pc;
}

static size_t pick_calls(struct queue *q, struct pending_call **calls, size_t max, struct notes *n)
{
    const struct job **cand = malloc((q->njobs + 1) * sizeof *cand);
    const struct job **active = malloc(((size_t)q->nchannels + 1) * sizeof *active);
    size_t *picked = malloc((q->njobs + 1) * sizeof *picked);
    size_t ncand = 0, nactive = 0, ncalls = 0;
    int nfree = 0;

    if (cand == NULL || active == NULL || picked == NULL)
        goto out;
    for (size_t i = 0; i < q->njobs; i++) {
        struct qjob *qj = q->jobs[i];
        if (qj->channel >= 0)
            active[nactive++] = &qj->j;
        else if (qj->j.status == JOB_QUEUED && qj->j.type == JOB_SEND)
            cand[ncand++] = &qj->j;
    }
    for (int c = 0; c < q->nchannels; c++)
        nfree += q->channels[c].job == 0;
    if ((size_t)nfree > max)
        nfree = (int)max;
    size_t np = sched_pick(cand, ncand, (const struct job *const *)active, nactive, nfree,
                           q->cfg.per_destination_limit, picked);
    for (size_t i = 0; i < np; i++) {
        struct qjob *qj = find_job(q, cand[picked[i]]->id);
        int c = free_channel(q);
        if (qj == NULL || c < 0)
            break;
        struct pending_call *pc = begin_attempt(q, qj, c, n);
        if (pc != NULL)
            calls[ncalls++] = pc;
    }
out:
    free(cand);
    free(active);
    free(picked);
    return ncalls;
}

static void finish_call(struct queue *q, uint64_t id, const struct queue_call_result *res);

/* Starts prepared calls; a job paused or canceled meanwhile is not dialed. */
static int start_calls(struct queue *q, struct pending_call **calls, size_t ncalls)
{
    int started = 0;

    pthread_mutex_lock(&q->line_lock);
    for (size_t i = 0; i < ncalls; i++) {
        const struct queue_call *call = &calls[i]->call;
        pthread_mutex_lock(&q->lock);
        struct qjob *qj = find_job(q, call->job_id);
        bool still = qj != NULL && qj->channel == call->channel && qj->j.status == JOB_ACTIVE;
        pthread_mutex_unlock(&q->lock);
        int r = still ? q->cfg.line.start(q->cfg.line.ctx, call) : -ECANCELED;
        if (r == 0) {
            started++;
            continue;
        }
        char text[160];
        snprintf(text, sizeof text, "%s could not start the call: %s", q->channels[call->channel].name, strerror(-r));
        struct queue_call_result res = {
            .failure = still ? QF_NO_LINE : QF_ABORTED,
            .code = still ? "modem_unavailable" : "",
            .text = still ? text : "interrupted before dialing",
            .pages_sent = -1,
            .bit_rate = -1,
            .ecm = -1,
            .duration = -1,
        };
        finish_call(q, call->job_id, &res);
    }
    pthread_mutex_unlock(&q->line_lock);
    return started;
}

int queue_run_once(struct queue *q)
{
    struct notes n = {0};
    struct pending_call **calls;
    size_t ncalls = 0;

    pthread_mutex_lock(&q->lock);
    int64_t t = now(q);
    if (t >= q->next_purge) {
        purge_history(q, t, &n);
        q->next_purge = t + PURGE_INTERVAL;
    }
    promote_and_expire(q, t, &n);
    calls = calloc((size_t)q->nchannels + 1, sizeof *calls);
    if (calls != NULL && !q->paused && !q->stopping && q->cfg.line.start != NULL)
        ncalls = pick_calls(q, calls, (size_t)q->nchannels, &n);
    pthread_mutex_unlock(&q->lock);
    deliver(q, &n);

    int started = start_calls(q, calls, ncalls);
    for (size_t i = 0; i < ncalls; i++)
        free_pending(calls[i]);
    free(calls);
    return started;
}

/* ---- the dispatcher thread ------------------------------------------ */

/* The next moment something is due on its own, or 0. */
static int64_t next_due(const struct queue *q)
{
    int64_t due = purge_enabled(q) ? q->next_purge : 0;

    for (size_t i = 0; i < q->njobs; i++) {
        const struct job *j = &q->jobs[i]->j;
        int64_t t = 0;
        if (j->status == JOB_SCHEDULED)
            t = j->scheduled;
        else if (j->status == JOB_RETRYING)
            t = j->next_attempt;
        if (j->kill_time != 0 && (j->status == JOB_QUEUED || j->status == JOB_SCHEDULED || j->status == JOB_RETRYING) &&
            (t == 0 || j->kill_time < t))
            t = j->kill_time;
        if (t != 0 && (due == 0 || t < due))
            due = t;
    }
    return due;
}

static void *dispatcher_main(void *arg)
{
    struct queue *q = arg;

    pthread_mutex_lock(&q->lock);
    while (!q->stopping) {
        q->kick = false;
        pthread_mutex_unlock(&q->lock);
        queue_run_once(q);
        pthread_mutex_lock(&q->lock);
        if (q->kick || q->stopping)
            continue;
        int64_t due = next_due(q), wait = IDLE_WAKE_SECONDS;
        if (due != 0 && due - now(q) < wait)
            wait = due - now(q);
        if (wait <= 0)
            continue;
        struct timespec ts;
        clock_gettime(CLOCK_MONOTONIC, &ts);
        ts.tv_sec += wait;
        while (!q->kick && !q->stopping)
            if (pthread_cond_timedwait(&q->wake, &q->lock, &ts) == ETIMEDOUT)
                break;
    }
    pthread_mutex_unlock(&q->lock);
    return NULL;
}

/* ---- reports from calls --------------------------------------------- */

static void describe_success(const struct job *j, char *buf, size_t len)
{
    int k = snprintf(buf, len, "%d page%s sent", j->pages_sent, j->pages_sent == 1 ? "" : "s");
    if (j->bit_rate > 0 && (size_t)k < len)
        k += snprintf(buf + k, len - (size_t)k, " at %d bps", j->bit_rate);
    if (j->ecm == 1 && (size_t)k < len)
        k += snprintf(buf + k, len - (size_t)k, ", ECM");
    if (j->compression[0] && (size_t)k < len)
        k += snprintf(buf + k, len - (size_t)k, ", %s", j->compression);
    if (j->remote_id[0] && (size_t)k < len)
        snprintf(buf + k, len - (size_t)k, ", remote \"%s\"", j->remote_id);
}

static void record_call_facts(struct qjob *qj, const struct queue_call_result *res)
{
    struct job *j = &qj->j;

    if (res->pages_sent > j->pages_sent)
        j->pages_sent = res->pages_sent > j->page_count ? j->page_count : res->pages_sent;
    if (res->bit_rate > 0)
        j->bit_rate = res->bit_rate;
    if (res->ecm >= 0)
        j->ecm = res->ecm;
    if (res->compression && res->compression[0])
        snprintf(j->compression, sizeof j->compression, "%s", res->compression);
    if (res->remote_id && res->remote_id[0])
        snprintf(j->remote_id, sizeof j->remote_id, "%s", res->remote_id);
    if (res->duration >= 0)
        j->call_duration = res->duration;
    if (res->transport && res->transport[0])
        snprintf(j->transport, sizeof j->transport, "%s", res->transport);
}

static void apply_verdict(struct queue *q, struct qjob *qj, enum sched_verdict v, int64_t next,
                          const struct queue_call_result *res, struct notes *n)
{
    struct job *j = &qj->j;
    const char *code = res->code ? res->code : "", *text = res->text ? res->text : "";
    char buf[JOB_ERROR_TEXT_MAX], when[40];
    int64_t t = now(q);

    switch (v) {
    case SCHED_DONE:
        j->status = JOB_DONE;
        j->finished = t;
        set_error(j, "", "");
        snprintf(j->device_status, sizeof j->device_status, "completed");
        describe_success(j, buf, sizeof buf);
        job_log(q, n, j->id, "attempt %d succeeded: %s", j->attempts, buf);
        break;
    case SCHED_RETRY:
        j->next_attempt = next;
        j->status = sched_waiting_state(j, t);
        set_error(j, code, text);
        format_time(next, when, sizeof when);
        job_log(q, n, j->id, "attempt %d failed: %s (%s); next attempt at %s", j->attempts, code, text, when);
        break;
    case SCHED_REQUEUE:
        j->attempts = j->attempts > 0 ? j->attempts - 1 : 0;
        j->status = sched_waiting_state(j, t);
        job_log(q, n, j->id, "attempt %d interrupted (%s); not counted, job queued again", j->attempts + 1,
                q->stopping ? "the server is stopping" : text);
        break;
    case SCHED_FAIL_PERMANENT:
    case SCHED_FAIL_EXHAUSTED:
    case SCHED_FAIL_KILLED:
        j->status = JOB_FAILED;
        j->finished = t;
        if (v == SCHED_FAIL_PERMANENT) {
            set_error(j, code, text);
        } else {
            snprintf(buf, sizeof buf, "%s after %d attempt%s; last: %s", v == SCHED_FAIL_KILLED ?
                     "kill time passes before the next attempt" : "gave up", j->attempts,
                     j->attempts == 1 ? "" : "s", text);
            set_error(j, v == SCHED_FAIL_KILLED ? "kill_time_passed" : "retries_exceeded", buf);
        }
        job_log(q, n, j->id, "attempt %d failed: %s (%s); %s", j->attempts, code, text, sched_verdict_name(v));
        daemon_log(q, QUEUE_LOG_NOTICE, "job %llu %s: %s", (unsigned long long)j->id, sched_verdict_name(v), text);
        break;
    }
    if (persist(q, qj, n) == 0)
        (void)FAULT_POINT("engine.call_finished.persisted");
}

/* The call is over: free its channel, then decide what the job becomes. */
static void finish_call_locked(struct queue *q, struct qjob *qj, const struct queue_call_result *res, struct notes *n)
{
    struct channel *ch = &q->channels[qj->channel];
    int before = qj->j.pages_sent;
    int64_t next = 0;

    record_call_facts(qj, res);
    count_call_end(q, qj, ch, res, qj->j.pages_sent - before);
    ch->calls++;
    ch->pages_sent += (uint64_t)(qj->j.pages_sent - before);
    if (res->failure != QF_NONE && res->failure != QF_ABORTED)
        ch->errors++;
    ch->job = 0;
    qj->channel = -1;
    note(n, QE_SERVER, 0);
    pthread_cond_broadcast(&q->idle);
    poke(q);

    bool complete = res->failure == QF_NONE && qj->j.pages_sent >= qj->j.page_count;
    if (qj->j.status != JOB_ACTIVE && !complete) {
        /* paused or canceled while on the line: the user's state stands */
        if (qj->j.status == JOB_PAUSED && qj->j.attempts > 0)
            qj->j.attempts--;
        qj->j.device_status[0] = '\0';
        job_log(q, n, qj->j.id, "call on %s ended: %s", ch->name, res->text ? res->text : "aborted");
        persist(q, qj, n);
        return;
    }
    if (qj->j.status != JOB_ACTIVE)
        job_log(q, n, qj->j.id, "the call completed before the %s took effect", job_status_name(qj->j.status));
    qj->j.device_status[0] = '\0';
    int delay = sched_retry_delay(&q->policy, res->failure, next_random(q));
    enum sched_verdict v = sched_after_call(&q->policy, &qj->j, res->failure, now(q), delay, &next);
    apply_verdict(q, qj, v, next, res, n);
}

static void finish_call(struct queue *q, uint64_t id, const struct queue_call_result *res)
{
    struct notes n = {0};

    pthread_mutex_lock(&q->lock);
    struct qjob *qj = find_job(q, id);
    if (qj == NULL || qj->channel < 0)
        daemon_log(q, QUEUE_LOG_WARNING, "job %llu: call report ignored: the job has no call in progress",
                   (unsigned long long)id);
    else
        finish_call_locked(q, qj, res, &n);
    pthread_mutex_unlock(&q->lock);
    deliver(q, &n);
}

void queue_call_finished(struct queue *q, uint64_t id, const struct queue_call_result *res)
{
    finish_call(q, id, res);
}

void queue_call_status(struct queue *q, uint64_t id, const char *device_status)
{
    struct notes n = {0};

    /* Device status is volatile: shown at once, written with the next
     * durable change (it means nothing after a restart). */
    pthread_mutex_lock(&q->lock);
    struct qjob *qj = find_job(q, id);
    if (qj != NULL && (qj->channel >= 0 || qj->j.status == JOB_RECEIVING)) {
        snprintf(qj->j.device_status, sizeof qj->j.device_status, "%s", device_status);
        qj->j.changed = now(q);
        note(&n, QE_CHANGED, id);
        note(&n, QE_SERVER, 0);
    }
    pthread_mutex_unlock(&q->lock);
    deliver(q, &n);
}

void queue_call_log(struct queue *q, uint64_t id, const char *line)
{
    struct notes n = {0};

    pthread_mutex_lock(&q->lock);
    if (find_job(q, id) != NULL)
        job_log(q, &n, id, "%s", line);
    pthread_mutex_unlock(&q->lock);
    deliver(q, &n);
}

void queue_call_pages_confirmed(struct queue *q, uint64_t id, int pages_sent)
{
    struct notes n = {0};

    pthread_mutex_lock(&q->lock);
    struct qjob *qj = find_job(q, id);
    if (qj != NULL && qj->channel >= 0 && pages_sent > qj->j.pages_sent) {
        int before = qj->j.pages_sent;
        int64_t t = now(q);
        qj->j.pages_sent = pages_sent > qj->j.page_count ? qj->j.page_count : pages_sent;
        q->channels[qj->channel].pages_sent += (uint64_t)(qj->j.pages_sent - before);
        q->counters.pages_sent += (uint64_t)(qj->j.pages_sent - before);
        observe_pages(q, qj->j.pages_sent - before, t - qj->page_mark);
        qj->page_mark = t;
        if (persist(q, qj, &n) == 0)
            (void)FAULT_POINT("engine.pages_confirmed.persisted");
    }
    pthread_mutex_unlock(&q->lock);
    deliver(q, &n);
}

/* ---- aborting calls ------------------------------------------------- */

/* Aborts the call of job id on channel, unless that call is already over. */
static void abort_call(struct queue *q, int channel, uint64_t id)
{
    if (q->cfg.line.abort == NULL)
        return;
    pthread_mutex_lock(&q->line_lock);
    pthread_mutex_lock(&q->lock);
    bool still = q->channels[channel].job == id;
    pthread_mutex_unlock(&q->lock);
    if (still)
        q->cfg.line.abort(q->cfg.line.ctx, channel);
    pthread_mutex_unlock(&q->line_lock);
}

/* ---- open and close ------------------------------------------------- */

struct load_ctx {
    struct queue *q;
    struct notes *n;
};

/* Recovery of one job found in the store. */
static int load_job(void *arg, const struct job *job)
{
    struct load_ctx *lc = arg;
    struct queue *q = lc->q;
    int r = insert_job(q, job);

    if (r != 0)
        return r;
    struct qjob *qj = find_job(q, job->id);
    if (job->status == JOB_ACTIVE && job->type == JOB_SEND && job->pages_sent >= job->page_count) {
        finish_all_confirmed(q, qj, lc->n, "the server stopped after the remote confirmed every page");
    } else if (job->status == JOB_ACTIVE) {
        qj->j.status = sched_waiting_state(&qj->j, now(q));
        qj->j.device_status[0] = '\0';
        persist(q, qj, lc->n);
        job_log(q, lc->n, job->id, "the server stopped during attempt %d; queued again, %d of %d pages already confirmed",
                job->attempts, job->pages_sent, job->page_count);
        daemon_log(q, QUEUE_LOG_NOTICE, "job %llu: was active when the server stopped; queued again (%d of %d pages confirmed)",
                   (unsigned long long)job->id, job->pages_sent, job->page_count);
    } else if (job->status == JOB_RECEIVING) {
        qj->j.finished = now(q);
        qj->j.status = JOB_FAILED;
        qj->j.device_status[0] = '\0';
        set_error(&qj->j, "interrupted", "the server stopped while this fax was being received");
        persist(q, qj, lc->n);
        job_log(q, lc->n, job->id, "reception failed: the server stopped during the call; %d page%s received kept",
                job->page_count, job->page_count == 1 ? "" : "s");
        daemon_log(q, QUEUE_LOG_NOTICE, "job %llu: reception interrupted by a server stop; marked failed, %d page%s kept",
                   (unsigned long long)job->id, job->page_count, job->page_count == 1 ? "" : "s");
    }
    return 0;
}

static void fill_defaults(struct queue_config *c)
{
    if (c->clock.now == NULL)
        c->clock.now = real_now;
    if (c->log == NULL)
        c->log = stderr_log;
    if (c->modems <= 0)
        c->modems = 1;
    if (c->max_attempts <= 0)
        c->max_attempts = QUEUE_DEFAULT_MAX_ATTEMPTS;
    if (c->kill_after <= 0)
        c->kill_after = QUEUE_DEFAULT_KILL_AFTER;
    if (c->max_document_bytes == 0)
        c->max_document_bytes = QUEUE_DEFAULT_MAX_DOCUMENT_BYTES;
    if (c->ghostscript == NULL)
        c->ghostscript = QUEUE_DEFAULT_GHOSTSCRIPT;
    if (c->render_seconds <= 0)
        c->render_seconds = QUEUE_DEFAULT_RENDER_SECONDS;
}

static void free_queue(struct queue *q)
{
    for (size_t i = 0; i < q->njobs; i++)
        free(q->jobs[i]);
    free(q->jobs);
    free(q->channels);
    free(q->spool_dir_copy);
    free(q->ghostscript_copy);
    free(q->converter_copy);
    free(q->bwrap_copy);
    pthread_mutex_destroy(&q->lock);
    pthread_mutex_destroy(&q->line_lock);
    pthread_mutex_destroy(&q->sub_lock);
    pthread_cond_destroy(&q->delivered);
    pthread_cond_destroy(&q->wake);
    pthread_cond_destroy(&q->idle);
    free(q);
}

static int init_sync(struct queue *q)
{
    pthread_condattr_t ca;

    pthread_mutex_init(&q->lock, NULL);
    pthread_mutex_init(&q->line_lock, NULL);
    pthread_mutex_init(&q->sub_lock, NULL);
    pthread_cond_init(&q->delivered, NULL);
    pthread_condattr_init(&ca);
    pthread_condattr_setclock(&ca, CLOCK_MONOTONIC);
    pthread_cond_init(&q->wake, &ca);
    pthread_cond_init(&q->idle, &ca);
    pthread_condattr_destroy(&ca);
    return 0;
}

static int init_channels(struct queue *q)
{
    q->nchannels = q->cfg.modems;
    q->channels = calloc((size_t)q->nchannels, sizeof *q->channels);
    if (q->channels == NULL)
        return -ENOMEM;
    for (int i = 0; i < q->nchannels; i++)
        snprintf(q->channels[i].name, sizeof q->channels[i].name, "modem%d", i);
    return 0;
}

int queue_open(struct queue **out, const struct queue_config *cfg)
{
    struct queue *q = calloc(1, sizeof *q);
    struct notes n = {0};
    int r;

    if (q == NULL)
        return -ENOMEM;
    init_sync(q);
    q->cfg = *cfg;
    fill_defaults(&q->cfg);
    if (cfg->spool_dir != NULL && (q->spool_dir_copy = strdup(cfg->spool_dir)) == NULL) {
        free_queue(q);
        return -ENOMEM;
    }
    q->cfg.spool_dir = q->spool_dir_copy;
    if ((q->ghostscript_copy = strdup(q->cfg.ghostscript)) == NULL) {
        free_queue(q);
        return -ENOMEM;
    }
    q->cfg.ghostscript = q->ghostscript_copy;
    if ((cfg->converter != NULL && (q->converter_copy = strdup(cfg->converter)) == NULL) ||
        (q->bwrap_copy = strdup(cfg->bwrap ? cfg->bwrap : SANDBOX_DEFAULT_BWRAP)) == NULL) {
        free_queue(q);
        return -ENOMEM;
    }
    q->sandbox = (struct sandbox_options){q->converter_copy, q->bwrap_copy, cfg->convert_uid, cfg->convert_gid};
    metrics_init(&q->counters);
    q->be = cfg->backend != NULL ? cfg->backend : &queue_backend_spool;
    q->rng = (uint32_t)time(NULL) ^ (uint32_t)getpid() ^ 0x9e3779b9u;
    sched_policy_init(&q->policy, q->cfg.retry_delay, q->cfg.retry_jitter_percent, q->cfg.max_attempts);
    if ((r = init_channels(q)) != 0) {
        free_queue(q);
        return r;
    }
    struct queue_backend_env env = {backend_log, q, q->cfg.no_fsync};
    if ((r = q->be->open(&q->bs, q->be->ctx, q->cfg.spool_dir, &env)) != 0) {
        daemon_log(q, QUEUE_LOG_ERR, "cannot open the spool %s: %s", q->cfg.spool_dir ? q->cfg.spool_dir : "(none)",
                   strerror(-r));
        free_queue(q);
        return r;
    }
    q->be->get_paused(q->bs, &q->paused);
    pthread_mutex_lock(&q->lock);
    struct load_ctx lc = {q, &n};
    r = q->be->walk(q->bs, load_job, &lc);
    if (r == 0) {
        purge_history(q, now(q), &n);
        q->next_purge = now(q) + PURGE_INTERVAL;
    }
    pthread_mutex_unlock(&q->lock);
    free(n.v);
    if (r != 0) {
        daemon_log(q, QUEUE_LOG_ERR, "cannot load the jobs of the spool: %s", strerror(-r));
        q->be->close(q->bs);
        free_queue(q);
        return r;
    }
    if (!q->cfg.no_thread) {
        if ((r = pthread_create(&q->thread, NULL, dispatcher_main, q)) != 0) {
            q->be->close(q->bs);
            free_queue(q);
            return -r;
        }
        q->have_thread = true;
    }
    *out = q;
    return 0;
}

/* Jobs whose finished report never came go back to the queue, as after a
 * crash. */
static void requeue_unreported(struct queue *q, struct notes *n)
{
    for (int c = 0; c < q->nchannels; c++) {
        struct qjob *qj = q->channels[c].job ? find_job(q, q->channels[c].job) : NULL;
        q->channels[c].job = 0;
        if (qj == NULL)
            continue;
        qj->channel = -1;
        daemon_log(q, QUEUE_LOG_WARNING, "job %llu: %s did not report the end of its call in time",
                   (unsigned long long)qj->j.id, q->channels[c].name);
        if (qj->j.status != JOB_ACTIVE)
            continue;
        qj->j.attempts = qj->j.attempts > 0 ? qj->j.attempts - 1 : 0;
        qj->j.status = sched_waiting_state(&qj->j, now(q));
        qj->j.device_status[0] = '\0';
        persist(q, qj, n);
        job_log(q, n, qj->j.id, "the server stopped during attempt %d; not counted, job queued again",
                qj->j.attempts + 1);
    }
}

static bool any_call(const struct queue *q)
{
    for (int c = 0; c < q->nchannels; c++)
        if (q->channels[c].job != 0)
            return true;
    return false;
}

void queue_stop(struct queue *q)
{
    struct notes n = {0};

    pthread_mutex_lock(&q->lock);
    if (q->stopping) {
        pthread_mutex_unlock(&q->lock);
        return;
    }
    q->stopping = true;
    poke(q);
    pthread_mutex_unlock(&q->lock);
    if (q->have_thread)
        pthread_join(q->thread, NULL);
    q->have_thread = false;

    for (int c = 0; c < q->nchannels; c++) {
        pthread_mutex_lock(&q->lock);
        uint64_t id = q->channels[c].job;
        pthread_mutex_unlock(&q->lock);
        if (id != 0)
            abort_call(q, c, id);
    }
    struct timespec ts;
    clock_gettime(CLOCK_MONOTONIC, &ts);
    ts.tv_sec += STOP_WAIT_SECONDS;
    pthread_mutex_lock(&q->lock);
    while (any_call(q))
        if (pthread_cond_timedwait(&q->idle, &q->lock, &ts) == ETIMEDOUT)
            break;
    requeue_unreported(q, &n);
    q->stopped = true;
    pthread_mutex_unlock(&q->lock);
    deliver(q, &n);
}

void queue_close(struct queue *q)
{
    if (q == NULL)
        return;
    queue_stop(q);
    q->be->close(q->bs);
    free_queue(q);
}

/* ---- who may do what ------------------------------------------------ */

bool queue_caller_is_admin(const struct queue *q, const struct queue_caller *who)
{
    gid_t g = q->cfg.admin_gid;

    if (who->uid == 0)
        return true;
    if (g == (gid_t)-1)
        return false;
    if (who->gid == g)
        return true;
    for (int i = 0; i < who->ngroups; i++)
        if (who->groups[i] == g)
            return true;
    return false;
}

bool queue_caller_owns(const struct queue *q, const struct queue_caller *who, const struct job *job)
{
    return who->uid == job->owner_uid || queue_caller_is_admin(q, who);
}

/* ---- submission ----------------------------------------------------- */

int queue_upload_open(struct queue *q)
{
    return q->be->upload_open(q->bs);
}

int queue_draft_file_create(struct queue *q, char *token, size_t tokenlen)
{
    return q->be->draft_create ? q->be->draft_create(q->bs, token, tokenlen) : -ENOSYS;
}

int queue_draft_file_open(struct queue *q, const char *token)
{
    return q->be->draft_open ? q->be->draft_open(q->bs, token) : -ENOSYS;
}

int queue_draft_file_remove(struct queue *q, const char *token)
{
    return q->be->draft_remove ? q->be->draft_remove(q->bs, token) : -ENOSYS;
}

struct stage_sink {
    const struct queue_backend *be;
    struct queue_stage *st;
};

static int stage_page_fd(void *ctx, int index)
{
    struct stage_sink *ss = ctx;
    return ss->be->stage_page(ss->st, index);
}

/* Checks the request fields that need no documents; fills job. */
static int check_request(struct queue *q, const struct queue_caller *who, const struct queue_request *req,
                         struct job *job, char *why, size_t whylen)
{
    int64_t t = now(q);
    int r;

    job_init(job);
    job->type = JOB_SEND;
    job->owner_uid = who->uid;
    job->owner_gid = who->gid;
    if ((r = job_normalize_number(req->recipient_number, job->recipient_number, sizeof job->recipient_number, why,
                                  whylen)) != 0)
        return r;
    if (req->priority < 0 || req->priority > 255 || req->max_attempts < 0 || req->scheduled < 0 || req->kill_time < 0) {
        snprintf(why, whylen, "priority must be 0..255 and attempts and times must not be negative");
        return -EINVAL;
    }
    if (req->resolution != 0 && (req->resolution < JOB_RES_STANDARD || req->resolution > JOB_RES_SUPERFINE)) {
        snprintf(why, whylen, "resolution %d is unknown; use standard, fine or superfine", req->resolution);
        return -EINVAL;
    }
    job->resolution = req->resolution ? req->resolution : JOB_RES_FINE;
    snprintf(job->recipient_name, sizeof job->recipient_name, "%s", req->recipient_name);
    snprintf(job->sender_name, sizeof job->sender_name, "%s", req->sender_name);
    snprintf(job->sender_company, sizeof job->sender_company, "%s", req->sender_company);
    snprintf(job->sender_department, sizeof job->sender_department, "%s", req->sender_department);
    snprintf(job->billing_code, sizeof job->billing_code, "%s", req->billing_code);
    snprintf(job->tsid, sizeof job->tsid, "%s", req->tsid);
    job->submitted = t;
    job->scheduled = req->scheduled > t ? req->scheduled : 0;
    int64_t start = job->scheduled ? job->scheduled : t;
    job->kill_time = req->kill_time ? req->kill_time : start + q->cfg.kill_after;
    if (job->kill_time <= start) {
        snprintf(why, whylen, "the kill time is not after the time to send; give a later kill time");
        return -EINVAL;
    }
    job->priority = req->priority ? req->priority : JOB_PRIORITY_NORMAL;
    job->max_attempts = req->max_attempts ? req->max_attempts : q->cfg.max_attempts;
    job->status = sched_waiting_state(job, t);
    return 0;
}

static int scratch_fd(void *ctx)
{
    struct queue *q = ctx;
    return q->be->upload_open(q->bs);
}

static void document_options(struct queue *q, const struct job *job, struct document_options *opt)
{
    *opt = (struct document_options){
        .max_bytes = q->cfg.max_document_bytes,
        .resolution = job->resolution,
        .ghostscript = q->cfg.ghostscript[0] ? q->cfg.ghostscript : NULL,
        .render_seconds = q->cfg.render_seconds,
        .scratch_fd = scratch_fd,
        .scratch_ctx = q,
    };
}

/* Documents are parsed only by the sandboxed converter. */
static int convert_document(struct queue *q, int fd, const struct document_options *opt, int first_index,
                            const struct document_sink *sink, struct document_result *res, char *why, size_t whylen)
{
    const struct queue_converter *c = q->cfg.convert;

    if (c != NULL)
        return c->convert(c->ctx, fd, opt, first_index, sink, res, why, whylen);
    return sandbox_convert(&q->sandbox, fd, opt, first_index, sink, res, why, whylen);
}

/* The cover page goes in front as page index 0, rendered from the job's
 * fields once the other pages are counted. */
static int stage_cover(struct queue *q, const struct document_options *opt, const struct document_sink *sink,
                       struct job *job, const char *comment, char *why, size_t whylen)
{
    struct document_result dr;
    char reason[256], *ps = NULL;
    size_t len = 0;
    int r, fd = -1;

    if ((r = cover_page_program(job, job->page_count + 1, comment, &ps, &len)) != 0) {
        snprintf(why, whylen, "the cover page cannot be made: out of memory; submit again later");
        return r;
    }
    if ((fd = q->be->upload_open(q->bs)) < 0 || write(fd, ps, len) != (ssize_t)len) {
        r = fd < 0 ? fd : -EIO;
        snprintf(why, whylen, "the cover page cannot be made: %s; free space in the spool", strerror(-r));
    } else if ((r = convert_document(q, fd, opt, 0, sink, &dr, reason, sizeof reason)) != 0) {
        snprintf(why, whylen, "the cover page: %s", reason);
    } else {
        job->page_count += dr.pages;
        job->size += dr.bytes;
    }
    if (fd >= 0)
        close(fd);
    free(ps);
    return r;
}

static int stage_documents(struct queue *q, struct queue_stage *st, const struct queue_request *req,
                           const int *doc_fds, size_t ndocs, struct job *job, char *why, size_t whylen)
{
    struct stage_sink ss = {q->be, st};
    struct document_sink sink = {stage_page_fd, &ss};
    struct document_options opt;
    int first = req->cover_page ? 1 : 0;
    char reason[256];

    if (ndocs == 0) {
        snprintf(why, whylen, "no document was given; submit at least one PDF, PostScript, TIFF, PNG or JPEG file");
        return -EINVAL;
    }
    document_options(q, job, &opt);
    for (size_t i = 0; i < ndocs; i++) {
        struct document_result dr;
        int r = convert_document(q, doc_fds[i], &opt, first + job->page_count, &sink, &dr, reason, sizeof reason);
        if (r != 0) {
            if (ndocs > 1)
                snprintf(why, whylen, "document %zu: %s", i + 1, reason);
            else
                snprintf(why, whylen, "%s", reason);
            return r;
        }
        job->page_count += dr.pages;
        job->size += dr.bytes;
    }
    if (!req->cover_page)
        return 0;
    char comment[sizeof req->cover_comment];
    snprintf(comment, sizeof comment, "%.*s", (int)sizeof comment - 1, req->cover_comment);
    return stage_cover(q, &opt, &sink, job, comment, why, whylen);
}

static int commit_job(struct queue *q, struct queue_stage *st, struct job *job, struct notes *n, char *why,
                      size_t whylen)
{
    char stamp[40], when[48] = "", log_text[512];
    int r;

    pthread_mutex_lock(&q->lock);
    if ((r = q->be->next_id(q->bs, &job->id)) != 0) {
        pthread_mutex_unlock(&q->lock);
        q->be->stage_abort(st);
        snprintf(why, whylen, "the spool cannot store a new job id: %s; nothing was submitted", strerror(-r));
        return r;
    }
    job->changed = job->submitted;
    job_format_time(now(q), stamp, sizeof stamp);
    if (job->scheduled) {
        strcpy(when, "; to be sent at ");
        job_format_time(job->scheduled, when + strlen(when), sizeof when - strlen(when));
    }
    snprintf(log_text, sizeof log_text, "%s submitted by uid %lu: %d page%s to %s%s\n", stamp,
             (unsigned long)job->owner_uid, job->page_count, job->page_count == 1 ? "" : "s", job->recipient_number,
             when);
    if ((r = q->be->stage_commit(st, job, log_text)) != 0) {
        pthread_mutex_unlock(&q->lock);
        snprintf(why, whylen, "the job could not be stored in the spool: %s; nothing was submitted", strerror(-r));
        return r;
    }
    (void)FAULT_POINT("engine.submit.committed");
    if ((r = insert_job(q, job)) != 0) {
        /* Stored but not in memory: the next start will find it. */
        pthread_mutex_unlock(&q->lock);
        snprintf(why, whylen, "out of memory after storing job %llu", (unsigned long long)job->id);
        return r;
    }
    note(n, QE_ADDED, job->id);
    note(n, QE_SERVER, 0);
    poke(q);
    pthread_mutex_unlock(&q->lock);
    return 0;
}

int queue_submit(struct queue *q, const struct queue_caller *who, const struct queue_request *req,
                 const int *doc_fds, size_t ndocs, uint64_t *id_out, char *why, size_t whylen)
{
    struct queue_stage *st = NULL;
    struct notes n = {0};
    struct job job;
    int r;

    if (whylen > 0)
        why[0] = '\0';
    if ((r = check_request(q, who, req, &job, why, whylen)) != 0)
        goto refused;
    if ((r = q->be->stage_open(q->bs, &st)) != 0) {
        snprintf(why, whylen, "the spool cannot stage a new job: %s", strerror(-r));
        goto refused;
    }
    if ((r = stage_documents(q, st, req, doc_fds, ndocs, &job, why, whylen)) != 0) {
        q->be->stage_abort(st);
        goto refused;
    }
    if ((r = commit_job(q, st, &job, &n, why, whylen)) != 0)
        goto refused;
    deliver(q, &n);
    *id_out = job.id;
    pthread_mutex_lock(&q->lock);
    q->counters.submissions++;
    pthread_mutex_unlock(&q->lock);
    daemon_log(q, QUEUE_LOG_INFO, "job %llu: submitted by uid %lu, %d page%s to %s", (unsigned long long)job.id,
               (unsigned long)who->uid, job.page_count, job.page_count == 1 ? "" : "s", job.recipient_number);
    return 0;
refused:
    pthread_mutex_lock(&q->lock);
    q->counters.submissions_refused++;
    pthread_mutex_unlock(&q->lock);
    daemon_log(q, QUEUE_LOG_NOTICE, "submission by uid %lu to \"%.40s\" refused: %s", (unsigned long)who->uid,
               req->recipient_number, why);
    return r;
}

/* ---- user operations ------------------------------------------------ */

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
    struct job *j = &qj->j;
    int64_t t = now(q);
    unsigned long uid = (unsigned long)who->uid;

    switch (op) {
    case QOP_PAUSE:
        j->status = JOB_PAUSED;
        job_log(q, n, j->id, "paused by uid %lu%s", uid, qj->channel >= 0 ? "; its call is aborted" : "");
        return qj->channel >= 0;
    case QOP_RESUME:
        j->status = sched_waiting_state(j, t);
        job_log(q, n, j->id, "resumed by uid %lu", uid);
        return false;
    case QOP_RESTART:
        j->attempts = 0;
        j->pages_sent = 0; /* restart sends the whole fax again */
        j->finished = 0;
        j->next_attempt = 0;
        set_error(j, "", "");
        if (j->kill_time != 0 && j->kill_time <= t)
            j->kill_time = (j->scheduled > t ? j->scheduled : t) + q->cfg.kill_after;
        j->status = sched_waiting_state(j, t);
        job_log(q, n, j->id, "restarted by uid %lu: all %d pages will be sent again", uid, j->page_count);
        return false;
    case QOP_CANCEL:
        j->status = JOB_CANCELED;
        j->finished = t;
        j->next_attempt = 0;
        job_log(q, n, j->id, "canceled by uid %lu%s", uid, qj->channel >= 0 ? "; its call is aborted" : "");
        return qj->channel >= 0;
    }
    return false;
}

static int check_access(struct queue *q, const struct queue_caller *who, struct qjob *qj, uint64_t id,
                        const char *what, char *why, size_t whylen)
{
    if (qj == NULL) {
        snprintf(why, whylen, "job %llu does not exist", (unsigned long long)id);
        return -ENOENT;
    }
    if (!queue_caller_owns(q, who, &qj->j)) {
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
    struct qjob *qj = find_job(q, id);
    if ((r = check_access(q, who, qj, id, queue_op_name(op), why, whylen)) != 0)
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
    struct job saved = qj->j;
    bool abort = apply_op(q, qj, op, who, &n);
    if ((r = persist(q, qj, &n)) != 0) {
        qj->j = saved;
        snprintf(why, whylen, "job %llu could not be updated in the spool: %s; nothing changed", (unsigned long long)id,
                 strerror(-r));
        goto out;
    }
    if (abort)
        channel = qj->channel;
    poke(q);
out:
    pthread_mutex_unlock(&q->lock);
    deliver(q, &n);
    if (channel >= 0)
        abort_call(q, channel, id);
    return r;
}

int queue_delete(struct queue *q, const struct queue_caller *who, uint64_t id, char *why, size_t whylen)
{
    struct notes n = {0};
    int r;

    pthread_mutex_lock(&q->lock);
    struct qjob *qj = find_job(q, id);
    if ((r = check_access(q, who, qj, id, "delete", why, whylen)) != 0)
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
    daemon_log(q, QUEUE_LOG_INFO, "job %llu: deleted by uid %lu", (unsigned long long)id, (unsigned long)who->uid);
    remove_job(q, qj);
    note(&n, QE_REMOVED, id);
    note(&n, QE_SERVER, 0);
out:
    pthread_mutex_unlock(&q->lock);
    deliver(q, &n);
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
            note(&n, QE_SERVER, 0);
            poke(q);
            daemon_log(q, QUEUE_LOG_NOTICE, "queue %s", paused ? "paused: no new calls" : "resumed");
        } else {
            daemon_log(q, QUEUE_LOG_ERR, "cannot %s the queue: %s", paused ? "pause" : "resume", strerror(-r));
        }
    }
    pthread_mutex_unlock(&q->lock);
    deliver(q, &n);
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

/* ---- reading -------------------------------------------------------- */

static bool matches(const struct job *j, unsigned filter)
{
    if (j->type == JOB_RECEIVE)
        return filter & QL_RECEIVED;
    return job_status_is_final(j->status) ? (filter & QL_HISTORY) : (filter & QL_UNFINISHED);
}

int queue_list(struct queue *q, unsigned filter, uint64_t **ids_out, size_t *n_out)
{
    pthread_mutex_lock(&q->lock);
    uint64_t *ids = malloc((q->njobs + 1) * sizeof *ids);
    size_t n = 0;
    if (ids != NULL)
        for (size_t i = 0; i < q->njobs; i++)
            if (matches(&q->jobs[i]->j, filter))
                ids[n++] = q->jobs[i]->j.id;
    pthread_mutex_unlock(&q->lock);
    if (ids == NULL)
        return -ENOMEM;
    *ids_out = ids;
    *n_out = n;
    return 0;
}

int queue_count_unfinished(struct queue *q, uid_t uid)
{
    int n = 0;

    pthread_mutex_lock(&q->lock);
    for (size_t i = 0; i < q->njobs; i++)
        if (q->jobs[i]->j.owner_uid == uid && matches(&q->jobs[i]->j, QL_UNFINISHED))
            n++;
    pthread_mutex_unlock(&q->lock);
    return n;
}

int queue_snapshot(struct queue *q, uint64_t id, struct job *out)
{
    pthread_mutex_lock(&q->lock);
    struct qjob *qj = find_job(q, id);
    if (qj != NULL)
        *out = qj->j;
    pthread_mutex_unlock(&q->lock);
    return qj != NULL ? 0 : -ENOENT;
}

int queue_open_page(struct queue *q, uint64_t id, int page)
{
    int r = -ENOENT;

    pthread_mutex_lock(&q->lock);
    struct qjob *qj = find_job(q, id);
    if (qj != NULL && page >= 0 && page < qj->j.page_count)
        r = q->be->open_page(q->bs, id, page);
    pthread_mutex_unlock(&q->lock);
    return r;
}

int queue_page_png(struct queue *q, uint64_t id, int page, unsigned char **png, size_t *len)
{
    int fd = queue_open_page(q, id, page);

    if (fd < 0)
        return fd;
    /* Decoded outside the engine lock: the page file never changes. */
    int r = preview_page_png(fd, png, len);
    close(fd);
    if (r != 0)
        daemon_log(q, QUEUE_LOG_WARNING, "job %llu: page %d cannot be rendered as a preview: %s",
                   (unsigned long long)id, page + 1, strerror(-r));
    return r;
}

int queue_open_log(struct queue *q, uint64_t id)
{
    int r = -ENOENT;

    pthread_mutex_lock(&q->lock);
    if (find_job(q, id) != NULL)
        r = q->be->open_log(q->bs, id);
    pthread_mutex_unlock(&q->lock);
    return r;
}

void queue_summarize(struct queue *q, struct queue_summary *out)
{
    memset(out, 0, sizeof *out);
    pthread_mutex_lock(&q->lock);
    for (size_t i = 0; i < q->njobs; i++)
        out->jobs[q->jobs[i]->j.status]++;
    for (int c = 0; c < q->nchannels; c++)
        q->channels[c].job ? out->modems_busy++ : out->modems_idle++;
    out->paused = q->paused;
    pthread_mutex_unlock(&q->lock);
}

int queue_modem_count(const struct queue *q)
{
    return q->nchannels; /* fixed at open */
}

int queue_modem_info(struct queue *q, int index, struct queue_modem_info *out)
{
    if (index < 0 || index >= q->nchannels)
        return -ENOENT;
    memset(out, 0, sizeof *out);
    pthread_mutex_lock(&q->lock);
    const struct channel *ch = &q->channels[index];
    struct qjob *qj = ch->job ? find_job(q, ch->job) : NULL;
    snprintf(out->name, sizeof out->name, "%s", ch->name);
    snprintf(out->status, sizeof out->status, "%s",
             qj == NULL ? "idle" : qj->j.device_status[0] ? qj->j.device_status : "busy");
    out->job = ch->job;
    out->calls = ch->calls;
    out->pages_sent = ch->pages_sent;
    out->errors = ch->errors;
    pthread_mutex_unlock(&q->lock);
    return 0;
}

int queue_subscribe(struct queue *q, queue_listener fn, void *ctx)
{
    int r = 0;

    pthread_mutex_lock(&q->sub_lock);
    if (q->nlisteners == MAX_LISTENERS)
        r = -ENOSPC;
    else
        q->listeners[q->nlisteners++] = (struct listener){fn, ctx};
    pthread_mutex_unlock(&q->sub_lock);
    return r;
}

int queue_unsubscribe(struct queue *q, queue_listener fn, void *ctx)
{
    int r = -ENOENT;

    pthread_mutex_lock(&q->sub_lock);
    for (int i = 0; i < q->nlisteners; i++) {
        if (q->listeners[i].fn == fn && q->listeners[i].ctx == ctx) {
            q->listeners[i] = q->listeners[--q->nlisteners];
            r = 0;
            break;
        }
    }
    /* Deliveries that copied the old list may still call it: wait them out. */
    while (r == 0 && q->delivering > 0)
        pthread_cond_wait(&q->delivered, &q->sub_lock);
    pthread_mutex_unlock(&q->sub_lock);
    return r;
}

/* ---- inbound calls -------------------------------------------------- */

int queue_receive_begin(struct queue *q, const char *modem, const char *caller_id, uint64_t *id_out)
{
    struct queue_stage *st = NULL;
    struct notes n = {0};
    char stamp[40], log_text[256];
    struct job job;
    int r;

    job_init(&job);
    job.type = JOB_RECEIVE;
    job.status = JOB_RECEIVING;
    job.owner_uid = q->cfg.receive_uid;
    job.owner_gid = q->cfg.receive_gid;
    job.submitted = job.changed = now(q);
    snprintf(job.modem, sizeof job.modem, "%s", modem ? modem : "");
    snprintf(job.caller_id, sizeof job.caller_id, "%s", caller_id ? caller_id : "");
    snprintf(job.device_status, sizeof job.device_status, "receiving");
    if ((r = q->be->stage_open(q->bs, &st)) != 0)
        goto fail;
    pthread_mutex_lock(&q->lock);
    if ((r = q->be->next_id(q->bs, &job.id)) != 0) {
        pthread_mutex_unlock(&q->lock);
        q->be->stage_abort(st);
        goto fail;
    }
    job_format_time(job.submitted, stamp, sizeof stamp);
    snprintf(log_text, sizeof log_text, "%s receiving on %s from %s\n", stamp, job.modem[0] ? job.modem : "a line",
             job.caller_id[0] ? job.caller_id : "an unknown caller");
    if ((r = q->be->stage_commit(st, &job, log_text)) != 0 || (r = insert_job(q, &job)) != 0) {
        pthread_mutex_unlock(&q->lock);
        goto fail;
    }
    (void)FAULT_POINT("engine.receive.begun");
    find_job(q, job.id)->page_mark = job.submitted;
    note(&n, QE_ADDED, job.id);
    note(&n, QE_SERVER, 0);
    pthread_mutex_unlock(&q->lock);
    deliver(q, &n);
    daemon_log(q, QUEUE_LOG_INFO, "job %llu: receiving on %s from %s", (unsigned long long)job.id,
               job.modem[0] ? job.modem : "a line", job.caller_id[0] ? job.caller_id : "an unknown caller");
    *id_out = job.id;
    return 0;
fail:
    daemon_log(q, QUEUE_LOG_ERR, "inbound call on %s could not be recorded in the spool: %s; the fax is refused",
               modem ? modem : "a line", strerror(-r));
    return r;
}

/* Finds a job still receiving; fills why for the daemon log otherwise. */
static struct qjob *find_receiving(struct queue *q, uint64_t id, int *err)
{
    struct qjob *qj = find_job(q, id);

    *err = qj == NULL ? -ENOENT : qj->j.status != JOB_RECEIVING ? -EBUSY : 0;
    if (*err != 0)
        daemon_log(q, QUEUE_LOG_WARNING, "job %llu: receive report ignored: %s", (unsigned long long)id,
                   qj == NULL ? "no such job" : "the job is not receiving");
    return *err == 0 ? qj : NULL;
}

static bool looks_like_tiff(int fd)
{
    unsigned char h[4];

    if (pread(fd, h, sizeof h, 0) != (ssize_t)sizeof h)
        return false;
    return (h[0] == 'I' && h[1] == 'I' && (h[2] == 42 || h[2] == 43) && h[3] == 0) ||
           (h[0] == 'M' && h[1] == 'M' && h[2] == 0 && (h[3] == 42 || h[3] == 43));
}

int queue_receive_page(struct queue *q, uint64_t id, int page_fd)
{
    struct notes n = {0};
    uint64_t bytes = 0;
    int r;

    if (!looks_like_tiff(page_fd)) {
        daemon_log(q, QUEUE_LOG_ERR, "job %llu: received page refused: not a TIFF file (a modem bug)",
                   (unsigned long long)id);
        return -EINVAL;
    }
    pthread_mutex_lock(&q->lock);
    struct qjob *qj = find_receiving(q, id, &r);
    if (qj == NULL)
        goto out;
    int page = qj->j.page_count + 1;
    r = q->be->add_page(q->bs, id, qj->j.page_count, page_fd, q->cfg.max_document_bytes, &bytes);
    if (r != 0) {
        job_log(q, &n, id, "page %d could not be stored: %s", page, strerror(-r));
        daemon_log(q, QUEUE_LOG_ERR, "job %llu: received page %d could not be stored in the spool: %s%s",
                   (unsigned long long)id, page, strerror(-r),
                   r == -EFBIG ? "; raise the document size limit" : "; free space in the spool");
        goto out;
    }
    /* The page file is durable now: count it even if the job file cannot
     * be rewritten at once (the next start counts it from the spool too). */
    qj->j.page_count = page;
    qj->j.size += bytes;
    q->counters.pages_received++;
    observe_pages(q, 1, now(q) - qj->page_mark);
    qj->page_mark = now(q);
    if (persist(q, qj, &n) == 0)
        (void)FAULT_POINT("engine.receive.page_persisted");
    job_log(q, &n, id, "page %d received (%llu bytes)", page, (unsigned long long)bytes);
out:
    pthread_mutex_unlock(&q->lock);
    deliver(q, &n);
    return r;
}

int queue_receive_finished(struct queue *q, uint64_t id, const struct queue_call_result *res)
{
    struct notes n = {0};
    char buf[JOB_ERROR_TEXT_MAX + 64];
    int r;

    pthread_mutex_lock(&q->lock);
    struct qjob *qj = find_receiving(q, id, &r);
    if (qj == NULL)
        goto out;
    struct job *j = &qj->j;
    struct job saved = *j;
    int pages_sent = j->pages_sent;
    record_call_facts(qj, res);
    j->pages_sent = pages_sent; /* a send-side count; means nothing here */
    j->finished = now(q);
    j->device_status[0] = '\0';
    if (res->failure == QF_NONE) {
        j->status = JOB_DONE;
        set_error(j, "", "");
        snprintf(buf, sizeof buf, "%d page%s received", j->page_count, j->page_count == 1 ? "" : "s");
    } else {
        j->status = JOB_FAILED;
        set_error(j, res->code && res->code[0] ? res->code : "receive_failed",
                  res->text && res->text[0] ? res->text : "the call ended before the fax was complete");
        snprintf(buf, sizeof buf, "%s; %d page%s received kept", j->error_text, j->page_count,
                 j->page_count == 1 ? "" : "s");
    }
    if ((r = persist(q, qj, &n)) != 0) {
        *j = saved; /* still receiving; a restart marks it failed, pages kept */
        goto out;
    }
    count_reception_end(q, j, res);
    job_log(q, &n, id, "reception %s: %s%s%s%s", j->status == JOB_DONE ? "complete" : "failed", buf,
            j->remote_id[0] ? " from \"" : "", j->remote_id, j->remote_id[0] ? "\"" : "");
    daemon_log(q, QUEUE_LOG_INFO, "job %llu: reception %s: %s", (unsigned long long)id,
               j->status == JOB_DONE ? "complete" : "failed", buf);
out:
    pthread_mutex_unlock(&q->lock);
    deliver(q, &n);
    return r;
}

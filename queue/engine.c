/*
 * engine.c - the heart of struct queue: open (jobs rebuilt from the backend)
 * and close, the dispatcher that hands due jobs to modem channels, and the
 * reports coming back from calls. Rules kept in every engine file: persist
 * before telling anyone; never call out of the module (line ops, listeners)
 * with the engine lock held. docs/queue.md explains the threads.
 */
#include "queue/engine.h"
#include "queue/dialplan.h"
#include "queue/fault.h"
#include "queue/route.h"

#include <errno.h>
#include <pthread.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <time.h>
#include <unistd.h>

#define PURGE_INTERVAL 3600  /* seconds between history purges */
#define STOP_WAIT_SECONDS 10 /* how long queue_stop waits for aborted calls */
#define IDLE_WAKE_SECONDS 60 /* the dispatcher re-checks at least this often */

/* A call prepared under the lock, started outside it. */
struct pending_call {
    struct queue_call call;
    char number[JOB_NUMBER_MAX + 16];
    char tsid[JOB_IDENT_MAX];
    char sender[JOB_TEXT_MAX];
    char line[JOB_LINE_MAX]; /* the chosen line's name (number formatting per line goes here) */
    char **paths;
    struct queue_call_doc *docs; /* batching: call.more, each with its own page paths */
};

/* ---- small helpers -------------------------------------------------- */

static int64_t real_now(void *ctx)
{
    (void)ctx;
    return (int64_t)time(NULL);
}

static void stderr_log(int level, const char *msg)
{
    (void)level;
    fprintf(stderr, "faxfs: %s\n", msg);
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

static void format_time(int64_t t, char *buf, size_t len)
{
    job_format_time(t, buf, len);
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
static const char *purge_reason(const struct queue *q, const struct job_core *j, int64_t t, char *buf, size_t cap)
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
        if (r == -ENOENT) /* another node on the store purged it first */
            r = 0, reason = "purged by another node";
        if (r != 0) {
            engine_log(q, QUEUE_LOG_WARNING, "job %llu: history purge failed: %s", (unsigned long long)id, strerror(-r));
            i++;
            continue;
        }
        engine_log(q, QUEUE_LOG_INFO, "job %llu: %s", (unsigned long long)id, reason);
        engine_remove_job(q, qj);
        engine_note(n, QE_REMOVED, id);
        engine_note(n, QE_SERVER, 0);
    }
}

static void fail_job(struct queue *q, struct qjob *qj, const char *code, const char *text, struct notes *n)
{
    qj->j.status = JOB_FAILED;
    qj->j.finished = engine_now(q);
    qj->j.next_attempt = 0;
    engine_set_error(&qj->j, code, text);
    engine_persist(q, qj, n);
    engine_job_log(q, n, qj->j.id, "failed: %s", text);
    engine_log(q, QUEUE_LOG_NOTICE, "job %llu failed: %s", (unsigned long long)qj->j.id, text);
}

/* A due job outside its destination's sending window waits, scheduled for
 * when the window opens. */
static enum job_status hold_for_window(struct queue *q, struct qjob *qj, int64_t t, struct notes *n)
{
    struct dialplan_controls c;
    dialplan_controls(q->cfg.dialplan, qj->j.recipient_number, &c);
    if (!c.window)
        return JOB_QUEUED;
    int64_t open = dialplan_window_next_open(c.window, t);
    if (open <= t)
        return JOB_QUEUED;
    char when[48];
    qj->j.scheduled = open;
    job_format_time(open, when, sizeof when);
    engine_job_log(q, n, qj->j.id, "outside the sending window of [destination %s]: waiting until %s", c.pattern,
                   when);
    return JOB_SCHEDULED;
}

/* Waiting jobs whose time has come become queued; expired ones fail. */
static void promote_and_expire(struct queue *q, int64_t t, struct notes *n)
{
    for (size_t i = 0; i < q->njobs; i++) {
        struct qjob *qj = q->jobs[i];
        enum job_status s = qj->j.status;
        if (s == JOB_RECEIVING && !qj->receiving_here && qj->lease_end != 0 && t >= qj->lease_end) {
            engine_end_dead_reception(q, qj, t, n); /* its node stopped renewing it */
            continue;
        }
        if (s == JOB_ACTIVE && qj->channel < 0 && qj->lease_end != 0 && t >= qj->lease_end) {
            /* another node's call whose lease ran out: a candidate again
             * here (not written: the claim decides who calls it) */
            char node[JOB_NODE_MAX];
            engine_job_node(qj, node, sizeof node);
            engine_log(q, QUEUE_LOG_NOTICE, "job %llu: the lease of node '%s' ran out; it may be called here",
                       (unsigned long long)qj->j.id, node);
            qj->lease_end = 0;
            qj->j.status = JOB_QUEUED;
            engine_job_clear_node(qj);
            engine_note(n, QE_CHANGED, qj->j.id);
            continue;
        }
        if (s != JOB_QUEUED && s != JOB_SCHEDULED && s != JOB_RETRYING)
            continue;
        if (sched_expired(&qj->j, t) && qj->channel < 0) {
            fail_job(q, qj, "kill_time_passed", "the kill time passed before the fax could be sent", n);
            continue;
        }
        enum job_status want = sched_waiting_state(&qj->j, t);
        if (want == JOB_QUEUED && qj->j.type == JOB_SEND && qj->channel < 0)
            want = hold_for_window(q, qj, t, n);
        if (want != s) {
            qj->j.status = want;
            /* Due again: with a store shared by several nodes this is
             * not written, each node sees it from the stored times and
             * the claim decides who calls it (a write here could cross
             * another node's call of the job). */
            if (want == JOB_QUEUED && q->be->claim != NULL)
                engine_note(n, QE_CHANGED, qj->j.id);
            else
                engine_persist(q, qj, n);
        }
    }
}

static void free_paths(char **paths, int n)
{
    for (int i = 0; paths != NULL && i < n; i++)
        free(paths[i]);
    free(paths);
}

static void free_pending(struct pending_call *pc)
{
    if (pc == NULL)
        return;
    free_paths(pc->paths, pc->call.page_count);
    for (int d = 0; pc->docs != NULL && d < pc->call.nmore; d++)
        free_paths((char **)pc->docs[d].page_paths, pc->docs[d].page_count);
    free(pc->docs);
    free(pc);
}

/* The files of the pages of qj not yet confirmed; how many, or -1. */
static int unsent_page_paths(struct queue *q, const struct qjob *qj, char ***out)
{
    int n = qj->j.page_count - qj->j.pages_sent;
    char **paths = n > 0 ? calloc((size_t)n, sizeof *paths) : NULL;

    if (paths == NULL)
        return -1;
    for (int i = 0; i < n; i++) {
        char path[4096];
        if (q->be->page_path(q->bs, qj->j.id, qj->j.pages_sent + i, path, sizeof path) != 0 ||
            (paths[i] = strdup(path)) == NULL) {
            free_paths(paths, i);
            return -1;
        }
    }
    *out = paths;
    return n;
}

static struct pending_call *prepare_call(struct queue *q, struct qjob *qj, int channel)
{
    struct pending_call *pc = calloc(1, sizeof *pc);
    int n = pc != NULL ? unsent_page_paths(q, qj, &pc->paths) : -1;

    if (n <= 0) {
        free(pc);
        return NULL;
    }
    int line = q->channels[channel].line;
    snprintf(pc->line, sizeof pc->line, "%s", q->lines[line].name);
    if (dialplan_format_for_line(q->cfg.dialplan, pc->line, qj->j.recipient_number, pc->number,
                                 sizeof pc->number) != 0)
        snprintf(pc->number, sizeof pc->number, "%s", qj->j.recipient_number);
    struct dialplan_modem m;
    dialplan_modem_settings(q->cfg.dialplan, qj->j.recipient_number, qj->j.use_ecm, qj->j.max_bit_rate,
                            qj->j.min_bit_rate, &m);
    snprintf(pc->tsid, sizeof pc->tsid, "%s", qj->j.tsid);
    snprintf(pc->sender, sizeof pc->sender, "%s", qj->j.sender_name);
    pc->call = (struct queue_call){
        .job_id = qj->j.id,
        .channel = channel,
        .line = line,
        .line_name = pc->line,
        .number = pc->number,
        .page_paths = (const char *const *)pc->paths,
        .page_count = n,
        .first_page = qj->j.pages_sent,
        .total_pages = qj->j.page_count,
        .tsid = pc->tsid,
        .sender_name = pc->sender,
        .ecm = m.ecm,
        .max_bit_rate = m.max_bit_rate,
        .min_bit_rate = m.min_bit_rate,
        .t38 = m.t38,
    };
    return pc;
}

/* A send job whose pages the remote has all confirmed is done, even when
 * the call's own result was lost (a crash between the last confirmation
 * and the result): sending again would only duplicate the fax. */
void engine_finish_all_confirmed(struct queue *q, struct qjob *qj, struct notes *n, const char *why)
{
    struct job_core *j = &qj->j;
    j->status = JOB_DONE;
    j->finished = engine_now(q);
    engine_set_error(j, "", "");
    snprintf(j->device_status, sizeof j->device_status, "completed");
    engine_persist(q, qj, n);
    engine_job_log(q, n, j->id, "done: %s (%d of %d pages)", why, j->pages_sent, j->page_count);
}

/* Marks the job active on channel and prepares its call. */
static struct pending_call *begin_attempt(struct queue *q, struct qjob *qj, int channel, bool claimed,
                                          struct notes *n)
{
    struct channel *ch = &q->channels[channel];
    if (!claimed && engine_claim(q, qj, qj->j.id) != 0)
        return NULL;
    if (qj->j.pages_sent >= qj->j.page_count) {
        engine_finish_all_confirmed(q, qj, n, "every page was already confirmed by the remote");
        return NULL;
    }
    struct pending_call *pc = prepare_call(q, qj, channel);

    if (pc == NULL) {
        engine_log(q, QUEUE_LOG_ERR, "job %llu: cannot prepare its call (out of memory or pages missing)",
                   (unsigned long long)qj->j.id);
        engine_release(q, qj);
        return NULL;
    }
    struct job_core saved = qj->j;
    qj->j.status = JOB_ACTIVE;
    qj->j.attempts++;
    qj->j.next_attempt = 0;
    snprintf(qj->j.modem, sizeof qj->j.modem, "%s", ch->name);
    snprintf(qj->j.line, sizeof qj->j.line, "%s", q->lines[ch->line].name);
    snprintf(qj->j.device_status, sizeof qj->j.device_status, "dialing");
    snprintf(qj->j.dialed_number, sizeof qj->j.dialed_number, "%.*s", (int)sizeof qj->j.dialed_number - 1, pc->number);
    if (engine_store(q, qj, n) != 0) {
        qj->j = saved; /* not durable: do not dial */
        engine_release(q, qj);
        free_pending(pc);
        return NULL;
    }
    qj->channel = channel;
    ch->job = ch->lead = qj->j.id;
    ch->batch_left = 1;
    ch->busy_since = qj->page_mark = engine_now(q);
    char on_line[JOB_LINE_MAX + 10] = ""; /* named only where there is a choice */
    if (q->nlines > 1)
        snprintf(on_line, sizeof on_line, " (line %s)", q->lines[ch->line].name);
    engine_job_log(q, n, qj->j.id, "attempt %d on %s%s: dialing %s%s", qj->j.attempts, ch->name, on_line,
                   pc->number,
                   qj->j.pages_sent > 0 ? " (resuming after the pages already confirmed)" : "");
    return pc;
}

/* Batching: further due jobs of the same owner to the same number ride in
 * lead's call (engine_batch.c); each joins durably or not at all. */
static void add_batch(struct queue *q, struct qjob *lead, struct pending_call *pc, int channel, struct notes *n)
{
    struct qjob *more[QUEUE_BATCH_LIMIT];
    int k = engine_batch_collect(q, lead, more, engine_batch_max(q, lead) - 1), m = 0;

    if (k <= 0 || (pc->docs = calloc((size_t)k, sizeof *pc->docs)) == NULL)
        return;
    for (int i = 0; i < k; i++) {
        char **paths = NULL;
        int np = unsent_page_paths(q, more[i], &paths);
        if (np <= 0)
            continue;
        int sent = more[i]->j.pages_sent;
        if (engine_batch_join(q, more[i], channel, lead, m + 1, n) != 0) {
            free_paths(paths, np);
            continue;
        }
        if (more[i]->j.pages_sent != sent) { /* its claim found pages another node had confirmed */
            free_paths(paths, np);
            paths = NULL;
            if ((np = unsent_page_paths(q, more[i], &paths)) <= 0) {
                more[i]->channel = -1; /* none left, or unreadable: its own attempt sorts it out */
                more[i]->batch_lead = 0;
                more[i]->j.status = JOB_QUEUED;
                more[i]->j.device_status[0] = '\0';
                engine_persist(q, more[i], n); /* not active: gives the lease up */
                continue;
            }
        }
        pc->docs[m++] = (struct queue_call_doc){more[i]->j.id, (const char *const *)paths, np, more[i]->j.pages_sent,
                                                more[i]->j.page_count};
    }
    pc->call.more = pc->docs;
    pc->call.nmore = m;
    q->channels[channel].batch_left = 1 + m;
    if (m > 0)
        engine_job_log(q, n, lead->j.id, "%d more job%s of the same owner to %s go in this call", m,
                       m == 1 ? "" : "s", lead->j.recipient_number);
}

static void apply_verdict(struct queue *q, struct qjob *qj, enum sched_verdict v, int64_t next,
                          const struct queue_call_result *res, struct notes *n);

/* Every line after the one that failed is unusable now: the attempt ends
 * as a line failure, with the last line's error. */
static void failover_exhausted(struct queue *q, struct qjob *qj, struct notes *n)
{
    char code[JOB_ERROR_CODE_MAX], text[JOB_ERROR_TEXT_MAX];
    int64_t next = 0;
    snprintf(code, sizeof code, "%s", qj->j.error_code[0] ? qj->j.error_code : "no_line");
    snprintf(text, sizeof text, "%s", qj->j.error_text[0] ? qj->j.error_text : "no line of the route is usable");
    qj->route_pos = 0;
    qj->j.attempts++; /* the attempt that began on the first line */
    struct queue_call_result res = {.failure = QF_NO_LINE, .code = code, .text = text};
    engine_job_log(q, n, qj->j.id, "no further line of the route is usable now");
    int delay = sched_retry_delay(&q->policy, QF_NO_LINE, next_random(q));
    enum sched_verdict v = sched_after_call(&q->policy, &qj->j, QF_NO_LINE, engine_now(q), delay, &next);
    apply_verdict(q, qj, v, next, &res, n);
}

/* No line of the job's route can place a call now (their registrations
 * failed): nothing is dialed and no attempt is counted; the job waits
 * retrying with the first line's reason, until its kill time. */
static void no_usable_line(struct queue *q, struct qjob *qj, const struct qline *line, const char *why,
                           struct notes *n)
{
    struct job_core *j = &qj->j;
    char text[JOB_ERROR_TEXT_MAX], when[40];
    int64_t t = engine_now(q), next = t + sched_retry_delay(&q->policy, QF_NO_LINE, next_random(q));
    snprintf(text, sizeof text, "The line is unavailable: line %s: %s", line->name, why);
    if (j->kill_time != 0 && next > j->kill_time) {
        struct queue_call_result res = {.failure = QF_NO_LINE, .code = "line_unregistered", .text = text};
        apply_verdict(q, qj, SCHED_FAIL_KILLED, 0, &res, n);
        return;
    }
    j->next_attempt = next;
    j->status = sched_waiting_state(j, t);
    engine_set_error(j, "line_unregistered", text);
    format_time(next, when, sizeof when);
    engine_job_log(q, n, j->id, "line %s is not usable (%s): nothing was dialed, not counted as an attempt; "
                   "next try at %s", line->name, why, when);
    engine_persist(q, qj, n);
}

/* Calls to numbers of a [destination] section with max-calls count
 * together against its limit; other numbers each against
 * per_destination_limit. */
static int destination_key(void *ctx, const struct job_core *j, char *key, size_t keylen)
{
    const struct queue *q = ctx;
    struct dialplan_controls c;
    dialplan_controls(q->cfg.dialplan, j->recipient_number, &c);
    if (c.max_calls >= 0) {
        snprintf(key, keylen, "[%s]", c.pattern);
        return c.max_calls;
    }
    snprintf(key, keylen, "%s", j->recipient_number);
    return q->cfg.per_destination_limit;
}

/* Another node's call (a job active there under a live lease), told
 * apart from the others by that node's name and the channel it runs on:
 * jobs batched into one call share both, and count as one call. */
static bool other_node_call(const struct qjob *qj)
{
    return qj->channel < 0 && qj->j.status == JOB_ACTIVE && qj->lease_end != 0;
}

static bool same_other_call(const struct qjob *a, const char *a_node, const struct qjob *b, const char *b_node)
{
    return strcmp(a->j.modem, b->j.modem) == 0 && strcmp(a_node, b_node) == 0;
}

/* The calls of other nodes, one job each, appended to active (for the
 * per-destination limits, which hold across nodes). */
static size_t other_nodes_calls(struct queue *q, const struct job_core **active, size_t nactive)
{
    size_t k = 0;
    char (*nodes)[JOB_NODE_MAX] = NULL;
    const struct qjob **seen = NULL;

    for (size_t i = 0; i < q->njobs; i++)
        k += other_node_call(q->jobs[i]);
    if (k == 0 || (nodes = calloc(k, sizeof *nodes)) == NULL || (seen = calloc(k, sizeof *seen)) == NULL) {
        free(nodes);
        return nactive;
    }
    k = 0;
    for (size_t i = 0; i < q->njobs; i++) {
        const struct qjob *qj = q->jobs[i];
        if (!other_node_call(qj))
            continue;
        engine_job_node(qj, nodes[k], sizeof nodes[k]);
        bool dup = false;
        for (size_t s = 0; s < k && !dup; s++)
            dup = same_other_call(seen[s], nodes[s], qj, nodes[k]);
        if (dup)
            continue;
        seen[k++] = qj;
        active[nactive++] = &qj->j;
    }
    free(nodes);
    free(seen);
    return nactive;
}

/* A free channel of line not yet planned for this round, or -1. */
static int unplanned_channel_of(const struct queue *q, int line, const bool *planned)
{
    const struct qline *l = &q->lines[line];
    for (int i = l->first; i < l->first + l->count; i++)
        if (q->channels[i].job == 0 && !planned[i])
            return i;
    return -1;
}

static bool is_rider(const uint64_t *riders, size_t n, uint64_t id)
{
    for (size_t i = 0; i < n; i++)
        if (riders[i] == id)
            return true;
    return false;
}

/* A call of the round, planned before its job is claimed. */
struct planned {
    struct qjob *qj;
    int channel, pos;
};

/* Claims the planned jobs in one step when the store can (claim_many);
 * the answers go to result (0: taken). Returns false when the store has
 * no claim_many (each is claimed on its own as it begins). */
static bool claim_planned(struct queue *q, const struct planned *plan, size_t np, int *result)
{
    if (q->be->claim_many == NULL || np == 0)
        return false;
    struct queue_claim *c = calloc(np, sizeof *c);
    char (*keys)[SCHED_KEY_MAX] = calloc(np, sizeof *keys);
    int r = c == NULL || keys == NULL ? -ENOMEM : 0;
    for (size_t i = 0; r == 0 && i < np; i++) {
        c[i].id = c[i].call = plan[i].qj->j.id;
        c[i].limit = destination_key(q, &plan[i].qj->j, keys[i], sizeof keys[i]);
        c[i].key = keys[i];
    }
    if (r == 0)
        r = q->be->claim_many(q->bs, c, np, q->cfg.lease_seconds);
    for (size_t i = 0; i < np; i++)
        result[i] = engine_claim_done(q, plan[i].qj, r != 0 ? r : c[i].result, r != 0 ? NULL : &c[i].stored);
    free(c);
    free(keys);
    return true;
}

static size_t pick_calls(struct queue *q, struct pending_call **calls, size_t max, const bool *usable,
                         const char (*whys)[160], struct notes *n)
{
    const struct job_core **cand = malloc((q->njobs + 1) * sizeof *cand);
    const struct job_core **active = malloc((q->njobs + (size_t)q->nchannels + 1) * sizeof *active);
    size_t *picked = malloc((q->njobs + 1) * sizeof *picked);
    int *free_of = calloc((size_t)q->nlines, sizeof *free_of);
    int *order = malloc((size_t)q->nlines * sizeof *order);
    bool *counted = calloc((size_t)q->nchannels, sizeof *counted);
    bool *planned_ch = calloc((size_t)q->nchannels, sizeof *planned_ch);
    struct planned *plan = calloc(max + 1, sizeof *plan);
    int *claimed = calloc(max + 1, sizeof *claimed);
    uint64_t *riders = malloc((q->njobs + 1) * sizeof *riders);
    size_t ncand = 0, nactive = 0, ncalls = 0, nplan = 0, nriders = 0;

    if (cand == NULL || active == NULL || picked == NULL || free_of == NULL || order == NULL || counted == NULL ||
        planned_ch == NULL || plan == NULL || claimed == NULL || riders == NULL)
        goto out;
    for (size_t i = 0; i < q->njobs; i++) {
        struct qjob *qj = q->jobs[i];
        if (qj->channel >= 0) {
            if (!counted[qj->channel]) /* a batched call is one call */
                active[nactive++] = &qj->j;
            counted[qj->channel] = true;
        } else if (qj->j.status == JOB_QUEUED && qj->j.type == JOB_SEND && !qj->unsaved &&
                   qj->claim_after <= engine_now(q))
            cand[ncand++] = &qj->j; /* an unsaved job waits until the store has its state */
    }
    nactive = other_nodes_calls(q, active, nactive);
    for (int c = 0; c < q->nchannels; c++)
        if (q->channels[c].job == 0)
            free_of[q->channels[c].line]++;
    /* Every candidate is looked at, even while every channel is busy: a
     * failover whose remaining lines are not usable ends its attempt. */
    if (ncand == 0)
        goto out;
    /* Every candidate in dispatch order (within the per-destination
     * limit): a job whose lines are all taken does not hold up one whose
     * lines have room. */
    size_t np = sched_pick_keyed(cand, ncand, (const struct job_core *const *)active, nactive, (int)ncand,
                                 destination_key, q, picked);
    for (size_t i = 0; i < np && nplan < max; i++) {
        struct qjob *qj = engine_find_job(q, cand[picked[i]]->id);
        if (qj == NULL || qj->channel >= 0 || qj->j.status != JOB_QUEUED || is_rider(riders, nriders, qj->j.id))
            continue; /* gone, or riding in the call of a job planned before it */
        int no = route_lines_for(q->routes, q->nroutes, q->nlines, qj->j.recipient_number, order);
        bool any = false;
        int pos = route_choose(order, no, qj->route_pos, usable, free_of, &any);
        if (pos < 0) {
            if (!any && qj->route_pos > 0)
                failover_exhausted(q, qj, n);
            else if (!any && no > 0)
                no_usable_line(q, qj, &q->lines[order[0]], whys[order[0]], n);
            continue; /* waits queued for a channel */
        }
        int c = unplanned_channel_of(q, order[pos], planned_ch);
        if (c < 0)
            continue;
        planned_ch[c] = true;
        free_of[order[pos]]--;
        plan[nplan++] = (struct planned){qj, c, pos};
        /* the jobs that will ride in its call (add_batch) take no channel */
        struct qjob *more[QUEUE_BATCH_LIMIT];
        int k = engine_batch_collect(q, qj, more, engine_batch_max(q, qj) - 1);
        for (int m = 0; m < k && nriders < q->njobs; m++)
            riders[nriders++] = more[m]->j.id;
    }
    /* The round's jobs claimed together (several nodes on one store),
     * then the attempts of those taken begun; the others wait. */
    bool together = claim_planned(q, plan, nplan, claimed);
    bool refused = false;
    for (size_t i = 0; i < nplan && ncalls < max; i++) {
        struct qjob *qj = plan[i].qj;
        if (together && claimed[i] != 0) {
            refused |= claimed[i] == -EBUSY || claimed[i] == -EAGAIN;
            continue;
        }
        if (qj->channel >= 0)
            continue; /* already in a batched call of this round (its lease is that call's) */
        if (qj->j.status != JOB_QUEUED) {
            if (together)
                engine_release(q, qj);
            continue;
        }
        qj->route_pos = plan[i].pos;
        struct pending_call *pc = begin_attempt(q, qj, plan[i].channel, together, n);
        if (pc != NULL) {
            add_batch(q, qj, pc, plan[i].channel, n);
            calls[ncalls++] = pc;
        } else if (together) {
            engine_release(q, qj); /* taken but not begun: the lease goes back */
        }
    }
    /* A refused claim left its channel free: another job may have it in
     * the next round (the refused one is not asked again for a while). */
    if (refused && ncalls < nplan)
        engine_poke(q);
out:
    free(cand);
    free(active);
    free(picked);
    free(free_of);
    free(order);
    free(counted);
    free(planned_ch);
    free(plan);
    free(claimed);
    free(riders);
    return ncalls;
}

struct lost_call {
    int channel;
    uint64_t id;
};

static void finish_call(struct queue *q, uint64_t id, const struct queue_call_result *res);
static void renew_leases(struct queue *q, int64_t t);
static void save_unsaved(struct queue *q, int64_t t, struct notes *n);

/* Starts prepared calls; a job paused or canceled meanwhile is not dialed. */
static int start_calls(struct queue *q, struct pending_call **calls, size_t ncalls)
{
    int started = 0;

    pthread_mutex_lock(&q->line_lock);
    for (size_t i = 0; i < ncalls; i++) {
        const struct queue_call *call = &calls[i]->call;
        pthread_mutex_lock(&q->lock);
        struct qjob *qj = engine_find_job(q, call->job_id);
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
        for (int d = 0; d < call->nmore; d++)
            queue_call_not_sent(q, call->more[d].job_id, call->job_id);
    }
    pthread_mutex_unlock(&q->line_lock);
    return started;
}

int queue_run_once(struct queue *q)
{
    struct notes n = {0};
    struct pending_call **calls;
    size_t ncalls = 0;
    /* Asked before the lock: the wiring is never called with it held. */
    bool *usable = malloc((size_t)q->nlines * sizeof *usable);
    char (*whys)[160] = calloc((size_t)q->nlines, sizeof *whys);
    for (int l = 0; usable != NULL && whys != NULL && l < q->nlines; l++)
        usable[l] = q->cfg.line.usable == NULL || q->cfg.line.usable(q->cfg.line.ctx, l, whys[l], sizeof whys[l]);

    pthread_mutex_lock(&q->lock);
    int64_t t = engine_now(q);
    if (t >= q->next_purge) {
        purge_history(q, t, &n);
        q->next_purge = t + PURGE_INTERVAL;
    }
    promote_and_expire(q, t, &n);
    renew_leases(q, t);
    save_unsaved(q, t, &n);
    if (q->claim_retry_at != 0 && t >= q->claim_retry_at)
        q->claim_retry_at = 0; /* this round tries again */
    calls = calloc((size_t)q->nchannels + 1, sizeof *calls);
    if (calls != NULL && usable != NULL && whys != NULL && !q->paused && !q->stopping && q->cfg.line.start != NULL)
        ncalls = pick_calls(q, calls, (size_t)q->nchannels, usable, (const char (*)[160])whys, &n);
    /* Calls whose job lost its lease: aborted once the lock is released. */
    size_t nlost = 0;
    struct lost_call *lost = malloc(((size_t)q->nchannels + 1) * sizeof *lost);
    for (int c = 0; lost != NULL && c < q->nchannels; c++)
        if (q->channels[c].abort_lost) {
            q->channels[c].abort_lost = false;
            if (q->channels[c].job != 0)
                lost[nlost++] = (struct lost_call){c, q->channels[c].job};
        }
    pthread_mutex_unlock(&q->lock);
    free(usable);
    free(whys);
    engine_deliver(q, &n);
    for (size_t i = 0; i < nlost; i++)
        engine_abort_call(q, lost[i].channel, lost[i].id);
    free(lost);

    int started = start_calls(q, calls, ncalls);
    for (size_t i = 0; i < ncalls; i++)
        free_pending(calls[i]);
    free(calls);
    return started;
}

/* ---- leases ---------------------------------------------------------- */

int engine_claim(struct queue *q, struct qjob *qj, uint64_t call)
{
    if (q->be->claim_many != NULL) {
        char key[SCHED_KEY_MAX];
        struct queue_claim c = {.id = qj->j.id, .call = call, .key = key};
        c.limit = destination_key(q, &qj->j, key, sizeof key);
        int r = q->be->claim_many(q->bs, &c, 1, q->cfg.lease_seconds);
        return engine_claim_done(q, qj, r != 0 ? r : c.result, &c.stored);
    }
    if (q->be->claim == NULL)
        return 0;
    struct job stored;
    int r = q->be->claim(q->bs, qj->j.id, q->cfg.lease_seconds, &stored);
    return engine_claim_done(q, qj, r, &stored);
}

/* A claim taken on a copy older than the store's: another node tried the
 * job meanwhile. When the store has it waiting for a retry or its
 * scheduled time, or ended, the job becomes the store's, the lease is
 * given up and it is not called now: true. When it is due all the same,
 * it goes on as stored (its attempts counted on): false. */
static bool claim_found_newer(struct queue *q, struct qjob *qj, const struct job *stored)
{
    int64_t t = engine_now(q);
    bool waiting = (stored->status == JOB_RETRYING && stored->next_attempt > t) ||
                   (stored->status == JOB_SCHEDULED && stored->scheduled > t);
    bool ended = stored->status != JOB_QUEUED && stored->status != JOB_RETRYING && stored->status != JOB_SCHEDULED &&
                 stored->status != JOB_ACTIVE;
    if (stored->status == JOB_ACTIVE || qj->channel >= 0) /* a lease taken over: engine_claim_done resumes it */
        return false;
    if (!waiting && !ended) {
        if (stored->attempts > qj->j.attempts && engine_job_set(qj, stored) == 0)
            qj->j.status = JOB_QUEUED;
        return false;
    }
    engine_log(q, QUEUE_LOG_NOTICE, "job %llu: another node tried it meanwhile (attempt %d, %s in the store); not "
               "called now", (unsigned long long)qj->j.id, stored->attempts, job_status_name(stored->status));
    if (q->be->release != NULL)
        q->be->release(q->bs, qj->j.id);
    (void)engine_job_set(qj, stored);
    qj->claim_after = t + ENGINE_CLAIM_RETRY;
    return true;
}

int engine_claim_done(struct queue *q, struct qjob *qj, int r, const struct job *stored_job)
{
    if (r == -EBUSY) /* another node's: not asked again before it changes, or a while */
        qj->claim_after = engine_now(q) + ENGINE_CLAIM_BACKOFF;
    else if (r == -EAGAIN) /* its destination's calls on other nodes: soon again */
        qj->claim_after = engine_now(q) + ENGINE_CLAIM_RETRY;
    /* The store failed (not another node's lease): try again soon, not
     * only at the next event. */
    if (r != 0 && r != -EBUSY && r != -ENOENT)
        q->claim_retry_at = engine_now(q) + ENGINE_CLAIM_RETRY;
    if (r != 0)
        return r;
    const struct job *stored = stored_job;
    qj->lease_at = engine_now(q);
    if (claim_found_newer(q, qj, stored))
        return -EBUSY;
    /* Another node may have called the job since this one read it (its
     * lease ran out): resume from the pages the store has confirmed. */
    if (stored->pages_sent > qj->j.pages_sent && stored->pages_sent <= qj->j.page_count) {
        engine_log(q, QUEUE_LOG_NOTICE, "job %llu: another node confirmed %d of its pages; resuming after them",
                   (unsigned long long)qj->j.id, stored->pages_sent);
        qj->j.pages_sent = stored->pages_sent;
        if (stored->attempts > qj->j.attempts)
            qj->j.attempts = stored->attempts;
    }
    return 0;
}

void engine_release(struct queue *q, struct qjob *qj)
{
    if (q->be->release != NULL)
        q->be->release(q->bs, qj->j.id);
}

/* Renews the leases of this node's calls a third of the way through: the
 * dispatcher wakes for it (next_due). */
static void renew_leases(struct queue *q, int64_t t)
{
    if (q->be->renew == NULL)
        return;
    struct job *stored = NULL;
    for (size_t i = 0; i < q->njobs; i++) {
        struct qjob *qj = q->jobs[i];
        bool receiving = qj->receiving_here && qj->j.status == JOB_RECEIVING;
        if (((qj->channel < 0 || qj->lease_lost || qj->j.status != JOB_ACTIVE) && !receiving) ||
            t - qj->lease_at < q->cfg.lease_seconds / 3)
            continue;
        if (stored == NULL && (stored = malloc(sizeof *stored)) == NULL)
            return; /* tried again next round */
        int r = q->be->renew(q->bs, qj->j.id, q->cfg.lease_seconds, stored);
        if (r == 0)
            qj->lease_at = t;
        else if (r != -ESTALE) /* the store is away: tried again in a while, not in a busy loop */
            qj->lease_at = t - q->cfg.lease_seconds / 3 + ENGINE_CLAIM_RETRY;
        else if (receiving)
            engine_reception_lost(q, qj, stored);
        else if (r == -ESTALE)
            engine_lease_lost(q, qj, stored);
    }
    free(stored);
}

void engine_lease_lost(struct queue *q, struct qjob *qj, const struct job *stored)
{
    struct job *got = NULL;

    if (qj->lease_lost || qj->channel < 0)
        return;
    if (stored == NULL) { /* a write refused: ask the store who holds it */
        if (q->be->renew == NULL || (got = malloc(sizeof *got)) == NULL)
            return;
        if (q->be->renew(q->bs, qj->j.id, q->cfg.lease_seconds, got) != -ESTALE) {
            free(got); /* still this node's (or the store is away): nothing lost */
            return;
        }
        stored = got;
    }
    uint64_t id = qj->j.id;
    struct channel *ch = &q->channels[qj->channel];
    qj->lease_lost = true;
    if (qj->unsaved) { /* the other node's state stands: this change is dropped */
        qj->unsaved = false;
        q->nunsaved--;
    }
    ch->abort_lost = true;
    engine_poke(q);
    if (stored->id != id) {
        qj->lease_gone = true;
        engine_log(q, QUEUE_LOG_ERR, "job %llu: its lease is no longer this node's and the job is no longer in "
                   "the store; its call on %s is aborted", (unsigned long long)id, ch->name);
    } else {
        if (engine_job_set(qj, stored) != 0) /* shown as this node last had it until the holder writes again */
            qj->j.status = stored->status;
        engine_log(q, QUEUE_LOG_ERR, "job %llu: its lease ran out and node '%s' holds it now (%s in the store); "
                   "its call on %s is aborted and nothing of it is written here", (unsigned long long)id,
                   stored->node[0] ? stored->node : "(none)", job_status_name(stored->status), ch->name);
    }
    free(got);
}

void engine_lost_call_ended(struct queue *q, struct qjob *qj, struct notes *n)
{
    uint64_t id = qj->j.id;

    qj->lease_lost = false;
    qj->route_pos = 0;
    if (qj->lease_gone) {
        engine_remove_job(q, qj);
        engine_note(n, QE_REMOVED, id);
        engine_note(n, QE_SERVER, 0);
        return;
    }
    int64_t t = engine_now(q);
    qj->lease_end = qj->j.status == JOB_ACTIVE ? t + q->cfg.lease_seconds : 0; /* the holder renews it */
    qj->claim_after = t + ENGINE_CLAIM_BACKOFF;
    engine_job_log(q, n, id, "the call on this node was aborted: its lease had run out and another node took the "
                             "job");
    engine_note(n, QE_CHANGED, id);
    engine_note(n, QE_SERVER, 0);
}

/* Writes again the jobs whose last change the store refused, all of them
 * when it is time; while some still fail, the wait doubles up to
 * ENGINE_UNSAVED_MAX_RETRY seconds. A job is told changed only once
 * stored (engine_persist). */
static void save_unsaved(struct queue *q, int64_t t, struct notes *n)
{
    if (q->nunsaved == 0 || t < q->unsaved_retry_at)
        return;
    size_t before = q->nunsaved;
    for (size_t i = 0; i < q->njobs && q->nunsaved > 0; i++)
        if (q->jobs[i]->unsaved)
            (void)engine_persist(q, q->jobs[i], n);
    if (q->nunsaved == 0) {
        engine_log(q, QUEUE_LOG_NOTICE, "%zu job change(s) the store had refused are stored now", before);
        return;
    }
    q->unsaved_backoff = q->unsaved_backoff * 2 > ENGINE_UNSAVED_MAX_RETRY ? ENGINE_UNSAVED_MAX_RETRY
                                                                           : q->unsaved_backoff * 2;
    q->unsaved_retry_at = t + q->unsaved_backoff;
    engine_log(q, QUEUE_LOG_WARNING, "%zu job change(s) still wait for the store; next try in %d s", q->nunsaved,
               q->unsaved_backoff);
}

/* ---- the dispatcher thread ------------------------------------------ */

/* The next moment something is due on its own, or 0. */
static int64_t next_due(const struct queue *q)
{
    int64_t due = purge_enabled(q) ? q->next_purge : 0;

    if (q->nunsaved > 0 && (due == 0 || q->unsaved_retry_at < due))
        due = q->unsaved_retry_at;
    if (q->claim_retry_at != 0 && (due == 0 || q->claim_retry_at < due))
        due = q->claim_retry_at;

    for (size_t i = 0; i < q->njobs; i++) {
        const struct job_core *j = &q->jobs[i]->j;
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
        int64_t other = j->status == JOB_ACTIVE || j->status == JOB_RECEIVING ? q->jobs[i]->lease_end
                                                                               : q->jobs[i]->claim_after;
        if (q->jobs[i]->lease_lost)
            other = 0; /* its call is being aborted: nothing due for it */
        else if (q->be->renew != NULL && ((q->jobs[i]->channel >= 0 && j->status == JOB_ACTIVE) ||
                                          (q->jobs[i]->receiving_here && j->status == JOB_RECEIVING)))
            other = q->jobs[i]->lease_at + q->cfg.lease_seconds / 3; /* its renewal */
        if (other != 0 && (due == 0 || other < due))
            due = other;
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
        if (due != 0 && due - engine_now(q) < wait)
            wait = due - engine_now(q);
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

static void describe_success(const struct job_core *j, char *buf, size_t len)
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

void engine_record_call_facts(struct qjob *qj, const struct queue_call_result *res)
{
    struct job_core *j = &qj->j;

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
    struct job_core *j = &qj->j;
    const char *code = res->code ? res->code : "", *text = res->text ? res->text : "";
    char buf[JOB_ERROR_TEXT_MAX], when[40];
    int64_t t = engine_now(q);

    switch (v) {
    case SCHED_DONE:
        j->status = JOB_DONE;
        j->finished = t;
        engine_set_error(j, "", "");
        snprintf(j->device_status, sizeof j->device_status, "completed");
        describe_success(j, buf, sizeof buf);
        engine_job_log(q, n, j->id, "attempt %d succeeded: %s", j->attempts, buf);
        break;
    case SCHED_RETRY:
        j->next_attempt = next;
        j->status = sched_waiting_state(j, t);
        engine_set_error(j, code, text);
        format_time(next, when, sizeof when);
        engine_job_log(q, n, j->id, "attempt %d failed: %s (%s); next attempt at %s", j->attempts, code, text, when);
        break;
    case SCHED_REQUEUE:
        j->attempts = j->attempts > 0 ? j->attempts - 1 : 0;
        j->status = sched_waiting_state(j, t);
        engine_job_log(q, n, j->id, "attempt %d interrupted (%s); not counted, job queued again", j->attempts + 1,
                       q->stopping ? "the server is stopping" : text);
        break;
    case SCHED_FAIL_PERMANENT:
    case SCHED_FAIL_EXHAUSTED:
    case SCHED_FAIL_KILLED:
        j->status = JOB_FAILED;
        j->finished = t;
        if (v == SCHED_FAIL_PERMANENT) {
            engine_set_error(j, code, text);
        } else {
            snprintf(buf, sizeof buf, "%s after %d attempt%s; last: %s", v == SCHED_FAIL_KILLED ?
                     "kill time passes before the next attempt" : "gave up", j->attempts,
                     j->attempts == 1 ? "" : "s", text);
            engine_set_error(j, v == SCHED_FAIL_KILLED ? "kill_time_passed" : "retries_exceeded", buf);
        }
        engine_job_log(q, n, j->id, "attempt %d failed: %s (%s); %s", j->attempts, code, text, sched_verdict_name(v));
        engine_log(q, QUEUE_LOG_NOTICE, "job %llu %s: %s", (unsigned long long)j->id, sched_verdict_name(v), text);
        break;
    }
    if (engine_persist(q, qj, n) == 0)
        (void)FAULT_POINT("engine.call_finished.persisted");
}

/* A line failure (no channel at the far side, registration down, 503)
 * moves the job to the next line of its route at once, within the same
 * attempt; true when it did. A busy remote is not a line failure. */
static bool try_next_line(struct queue *q, struct qjob *qj, const struct qline *line, int route_pos,
                          const struct queue_call_result *res, struct notes *n)
{
    if (res->failure != QF_NO_LINE || qj->j.status != JOB_ACTIVE || q->stopping)
        return false;
    int *route = malloc((size_t)q->nlines * sizeof *route);
    if (route == NULL)
        return false;
    int nr = route_lines_for(q->routes, q->nroutes, q->nlines, qj->j.recipient_number, route);
    const char *next = route_pos + 1 < nr ? q->lines[route[route_pos + 1]].name : NULL;
    free(route);
    if (next == NULL)
        return false;
    const char *code = res->code ? res->code : "", *text = res->text ? res->text : "";
    qj->route_pos = route_pos + 1;
    qj->j.attempts = qj->j.attempts > 0 ? qj->j.attempts - 1 : 0; /* counted again when it dials */
    qj->j.status = JOB_QUEUED;
    qj->j.next_attempt = 0;
    engine_set_error(&qj->j, code, text);
    engine_job_log(q, n, qj->j.id, "attempt %d on line %s failed: %s (%s); trying line %s", qj->j.attempts + 1,
                   line->name, code, text, next);
    if (engine_persist(q, qj, n) != 0)
        engine_log(q, QUEUE_LOG_WARNING, "job %llu: failover to line %s not stored; it goes on in memory",
                   (unsigned long long)qj->j.id, next);
    return true;
}

void engine_release_channel(struct queue *q, struct channel *ch, struct notes *n)
{
    ch->calls++;
    q->lines[ch->line].calls++;
    ch->job = ch->lead = 0;
    ch->batch_left = 0;
    engine_note(n, QE_SERVER, 0);
    pthread_cond_broadcast(&q->idle);
    engine_poke(q);
}

/* The call is over for this job: free its channel (unless further jobs
 * of a batched call are still to report), then decide what the job
 * becomes. */
static void finish_call_locked(struct queue *q, struct qjob *qj, const struct queue_call_result *res, struct notes *n)
{
    struct channel *ch = &q->channels[qj->channel];
    int before = qj->j.pages_sent;
    int64_t next = 0;

    struct qline *line = &q->lines[ch->line];
    int route_pos = qj->route_pos;

    qj->route_pos = 0;
    if (qj->lease_lost) { /* another node holds the job: nothing of this call is kept */
        engine_count_call_end(q, qj, ch, res, 0);
        qj->channel = -1;
        if (engine_batch_leave(qj, ch))
            engine_release_channel(q, ch, n);
        else
            engine_note(n, QE_SERVER, 0);
        engine_lost_call_ended(q, qj, n);
        return;
    }
    engine_record_call_facts(qj, res);
    engine_count_call_end(q, qj, ch, res, qj->j.pages_sent - before);
    ch->pages_sent += (uint64_t)(qj->j.pages_sent - before);
    line->pages_sent += (uint64_t)(qj->j.pages_sent - before);
    if (res->failure != QF_NONE && res->failure != QF_ABORTED) {
        ch->errors++;
        line->failures++;
        snprintf(line->last_error, sizeof line->last_error, "%s: %s", res->code && res->code[0] ? res->code
                 : queue_failure_name(res->failure), res->text ? res->text : "");
    }
    qj->channel = -1;
    if (engine_batch_leave(qj, ch))
        engine_release_channel(q, ch, n);
    else
        engine_note(n, QE_SERVER, 0);

    bool complete = res->failure == QF_NONE && qj->j.pages_sent >= qj->j.page_count;
    if (qj->j.status != JOB_ACTIVE && !complete) {
        /* paused or canceled while on the line: the user's state stands */
        if (qj->j.status == JOB_PAUSED && qj->j.attempts > 0)
            qj->j.attempts--;
        qj->j.device_status[0] = '\0';
        engine_job_log(q, n, qj->j.id, "call on %s ended: %s", ch->name, res->text ? res->text : "aborted");
        engine_persist(q, qj, n);
        return;
    }
    if (qj->j.status != JOB_ACTIVE)
        engine_job_log(q, n, qj->j.id, "the call completed before the %s took effect", job_status_name(qj->j.status));
    qj->j.device_status[0] = '\0';
    if (try_next_line(q, qj, line, route_pos, res, n))
        return;
    int delay = sched_retry_delay(&q->policy, res->failure, next_random(q));
    /* A line that is not registered dialed nothing: such an attempt does
     * not count towards max_attempts, so the job waits for the line
     * (its kill time still ends the wait). */
    bool uncounted = res->failure == QF_NO_LINE && res->code && strcmp(res->code, "line_unregistered") == 0
                     && qj->j.attempts > 0;
    struct job_core probe = qj->j;
    probe.attempts -= uncounted;
    enum sched_verdict v = sched_after_call(&q->policy, &probe, res->failure, engine_now(q), delay, &next);
    apply_verdict(q, qj, v, next, res, n);
    if (uncounted && v == SCHED_RETRY) {
        qj->j.attempts--;
        engine_job_log(q, n, qj->j.id, "the line is not registered and nothing was dialed: not counted as an "
                                       "attempt");
        engine_persist(q, qj, n);
    }
}

static void finish_call(struct queue *q, uint64_t id, const struct queue_call_result *res)
{
    struct notes n = {0};

    pthread_mutex_lock(&q->lock);
    struct qjob *qj = engine_find_job(q, id);
    if (qj == NULL || qj->channel < 0)
        engine_log(q, QUEUE_LOG_WARNING, "job %llu: call report ignored: the job has no call in progress",
                   (unsigned long long)id);
    else
        finish_call_locked(q, qj, res, &n);
    pthread_mutex_unlock(&q->lock);
    engine_deliver(q, &n);
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
    struct qjob *qj = engine_find_job(q, id);
    if (qj != NULL && !qj->lease_lost && (qj->channel >= 0 || qj->j.status == JOB_RECEIVING)) {
        snprintf(qj->j.device_status, sizeof qj->j.device_status, "%s", device_status);
        qj->j.changed = engine_now(q);
        engine_note(&n, QE_CHANGED, id);
        engine_note(&n, QE_SERVER, 0);
    }
    pthread_mutex_unlock(&q->lock);
    engine_deliver(q, &n);
}

void queue_call_log(struct queue *q, uint64_t id, const char *line)
{
    struct notes n = {0};

    pthread_mutex_lock(&q->lock);
    if (engine_find_job(q, id) != NULL)
        engine_job_log(q, &n, id, "%s", line);
    pthread_mutex_unlock(&q->lock);
    engine_deliver(q, &n);
}

void queue_call_pages_confirmed(struct queue *q, uint64_t id, int pages_sent)
{
    struct notes n = {0};

    pthread_mutex_lock(&q->lock);
    struct qjob *qj = engine_find_job(q, id);
    if (qj != NULL && qj->channel >= 0 && !qj->lease_lost && pages_sent > qj->j.pages_sent) {
        int before = qj->j.pages_sent;
        int64_t t = engine_now(q);
        qj->j.pages_sent = pages_sent > qj->j.page_count ? qj->j.page_count : pages_sent;
        q->channels[qj->channel].pages_sent += (uint64_t)(qj->j.pages_sent - before);
        q->lines[q->channels[qj->channel].line].pages_sent += (uint64_t)(qj->j.pages_sent - before);
        q->counters.pages_sent += (uint64_t)(qj->j.pages_sent - before);
        engine_observe_pages(q, qj->j.pages_sent - before, t - qj->page_mark);
        qj->page_mark = t;
        if (engine_persist(q, qj, &n) == 0)
            (void)FAULT_POINT("engine.pages_confirmed.persisted");
    }
    pthread_mutex_unlock(&q->lock);
    engine_deliver(q, &n);
}

/* ---- aborting calls ------------------------------------------------- */

/* Aborts the call of job id on channel, unless that call is already over. */
void engine_abort_call(struct queue *q, int channel, uint64_t id)
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
    if (c->lease_seconds <= 0)
        c->lease_seconds = ENGINE_LEASE_SECONDS;
}

static void free_queue(struct queue *q)
{
    engine_load_free(q);
    for (size_t i = 0; i < q->njobs; i++)
        engine_free_job(q->jobs[i]);
    free(q->jobs);
    free(q->channels);
    for (int l = 0; q->lines != NULL && l < q->nlines; l++)
        free(q->lines[l].spec);
    free(q->lines);
    free(q->routes);
    free(q->spool_dir_copy);
    free(q->ghostscript_copy);
    /* Kept sandboxes are known by these settings' addresses: none may
     * outlive them (the others' are simply started again). */
    if (q->cfg.convert == NULL)
        sandbox_pool_close();
    free(q->converter_copy);
    free(q->bwrap_copy);
    pthread_mutex_destroy(&q->lock);
    pthread_mutex_destroy(&q->line_lock);
    pthread_mutex_destroy(&q->sub_lock);
    pthread_mutex_destroy(&q->pdf_lock);
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
    pthread_mutex_init(&q->pdf_lock, NULL);
    pthread_cond_init(&q->delivered, NULL);
    pthread_condattr_init(&ca);
    pthread_condattr_setclock(&ca, CLOCK_MONOTONIC);
    pthread_cond_init(&q->wake, &ca);
    pthread_cond_init(&q->idle, &ca);
    pthread_condattr_destroy(&ca);
    return 0;
}

/* The lines (one "default" line of every channel without cfg->lines),
 * their channels in order, and the routes over them. */
static int init_channels(struct queue *q, const struct queue_config *cfg)
{
    const struct queue_line_def one = {"default", "", q->cfg.modems};
    const struct queue_line_def *defs = cfg->nlines > 0 && cfg->lines != NULL ? cfg->lines : &one;
    int ndefs = cfg->nlines > 0 && cfg->lines != NULL ? cfg->nlines : 1;

    q->lines = calloc((size_t)ndefs, sizeof *q->lines);
    if (q->lines == NULL)
        return -ENOMEM;
    q->nlines = ndefs;
    q->nchannels = 0;
    for (int l = 0; l < ndefs; l++) {
        char why[160];
        if (defs[l].channels <= 0 || route_check_line_name(defs[l].name ? defs[l].name : "", why, sizeof why) != 0)
            return -EINVAL;
        snprintf(q->lines[l].name, sizeof q->lines[l].name, "%s", defs[l].name);
        if ((q->lines[l].spec = strdup(defs[l].spec ? defs[l].spec : "")) == NULL)
            return -ENOMEM;
        q->lines[l].first = q->nchannels;
        q->lines[l].count = defs[l].channels;
        q->nchannels += defs[l].channels;
    }
    q->cfg.modems = q->nchannels;
    q->channels = calloc((size_t)q->nchannels, sizeof *q->channels);
    if (q->channels == NULL)
        return -ENOMEM;
    for (int l = 0; l < q->nlines; l++)
        for (int i = q->lines[l].first; i < q->lines[l].first + q->lines[l].count; i++) {
            snprintf(q->channels[i].name, sizeof q->channels[i].name, "modem%d", i);
            q->channels[i].line = l;
        }
    if (cfg->nroutes > 0 && cfg->routes != NULL) {
        q->routes = calloc((size_t)cfg->nroutes, sizeof *q->routes);
        if (q->routes == NULL)
            return -ENOMEM;
        memcpy(q->routes, cfg->routes, (size_t)cfg->nroutes * sizeof *q->routes);
        q->nroutes = cfg->nroutes;
        for (int r = 0; r < q->nroutes; r++)
            for (int i = 0; i < q->routes[r].nlines; i++)
                if (q->routes[r].lines[i] < 0 || q->routes[r].lines[i] >= q->nlines)
                    return -EINVAL;
    }
    q->cfg.lines = NULL;
    q->cfg.routes = NULL;
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
    engine_metrics_init(&q->counters);
    q->be = cfg->backend != NULL ? cfg->backend : &queue_backend_spool;
    q->rng = (uint32_t)time(NULL) ^ (uint32_t)getpid() ^ 0x9e3779b9u;
    sched_policy_init(&q->policy, q->cfg.retry_delay, q->cfg.retry_jitter_percent, q->cfg.max_attempts);
    if ((r = init_channels(q, cfg)) != 0) {
        free_queue(q);
        return r;
    }
    struct queue_backend_env env = {backend_log, q, q->cfg.no_fsync};
    if ((r = q->be->open(&q->bs, q->be->ctx, q->cfg.spool_dir, &env)) != 0) {
        engine_log(q, QUEUE_LOG_ERR, "cannot open the spool %s: %s", q->cfg.spool_dir ? q->cfg.spool_dir : "(none)",
                   strerror(-r));
        free_queue(q);
        return r;
    }
    q->be->get_paused(q->bs, &q->paused);
    pthread_mutex_lock(&q->lock);
    bool background = q->cfg.background_load && q->be->list_ids != NULL && q->be->load_one != NULL;
    bool trusted = background && q->be->ids_trusted != NULL && q->be->peek_next_id != NULL &&
                   q->be->ids_trusted(q->bs);
    r = trusted ? engine_load_defer(q) : background ? engine_load_begin(q) : engine_load_all(q, &n);
    if (r == 0 && !q->loading) {
        purge_history(q, engine_now(q), &n);
        q->next_purge = engine_now(q) + PURGE_INTERVAL;
    }
    /* While loading, history is purged once every job is in
     * (engine_load.c sets next_purge then). */
    if (q->loading)
        q->next_purge = INT64_MAX;
    pthread_mutex_unlock(&q->lock);
    free(n.v);
    if (r != 0) {
        engine_log(q, QUEUE_LOG_ERR, "cannot load the jobs of the spool: %s", strerror(-r));
        q->be->close(q->bs);
        free_queue(q);
        return r;
    }
    /* Published before the dispatcher starts: a job due at once reaches
     * the line, whose wiring reads *out, from the dispatcher thread. */
    *out = q;
    if (!q->cfg.no_thread) {
        if ((r = pthread_create(&q->thread, NULL, dispatcher_main, q)) != 0) {
            *out = NULL;
            q->be->close(q->bs);
            free_queue(q);
            return -r;
        }
        q->have_thread = true;
    }
    if ((r = engine_loader_start(q)) != 0 || (r = engine_sync_start(q)) != 0) {
        *out = NULL;
        queue_stop(q);
        q->be->close(q->bs);
        free_queue(q);
        return r;
    }
    return 0;
}

/* Jobs whose finished report never came go back to the queue, as after a
 * crash. */
static void requeue_unreported(struct queue *q, struct notes *n)
{
    for (int c = 0; c < q->nchannels; c++) {
        q->channels[c].job = q->channels[c].lead = 0;
        q->channels[c].batch_left = 0;
    }
    for (size_t i = 0; i < q->njobs; i++) {
        struct qjob *qj = q->jobs[i];
        if (qj->channel < 0)
            continue;
        bool counted = qj->batch_lead == 0 || qj->batch_begun; /* batched jobs count from their turn */
        engine_log(q, QUEUE_LOG_WARNING, "job %llu: %s did not report the end of its call in time",
                   (unsigned long long)qj->j.id, q->channels[qj->channel].name);
        qj->channel = -1;
        qj->batch_lead = 0;
        qj->batch_begun = false;
        if (qj->lease_lost) {
            engine_lost_call_ended(q, qj, n);
            i--; /* it may be gone from the table */
            continue;
        }
        if (qj->j.status != JOB_ACTIVE)
            continue;
        if (counted)
            qj->j.attempts = qj->j.attempts > 0 ? qj->j.attempts - 1 : 0;
        qj->j.status = sched_waiting_state(&qj->j, engine_now(q));
        qj->j.device_status[0] = '\0';
        engine_persist(q, qj, n);
        engine_job_log(q, n, qj->j.id, "the server stopped during attempt %d; not counted, job queued again",
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
    engine_poke(q);
    pthread_mutex_unlock(&q->lock);
    if (q->have_thread)
        pthread_join(q->thread, NULL);
    q->have_thread = false;
    engine_loader_join(q);
    engine_sync_join(q);

    for (int c = 0; c < q->nchannels; c++) {
        pthread_mutex_lock(&q->lock);
        uint64_t id = q->channels[c].job;
        pthread_mutex_unlock(&q->lock);
        if (id != 0)
            engine_abort_call(q, c, id);
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
    engine_deliver(q, &n);
}

void queue_close(struct queue *q)
{
    if (q == NULL)
        return;
    queue_stop(q);
    q->be->close(q->bs);
    free_queue(q);
}

/*
 * engine_submit.c - a new send job: the request checked, its documents
 * converted by the sandboxed converter (and a cover page rendered) into a
 * staging area of the backend, then committed under a new id and only then
 * announced. Also the raw upload and draft files the filesystem writes into.
 */
#include "queue/engine.h"
#include "queue/cover.h"
#include "queue/dialplan.h"
#include "queue/document.h"
#include "queue/fault.h"

#include <errno.h>
#include <fcntl.h>
#include <pthread.h>
#include <stdbool.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/stat.h>
#include <unistd.h>

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

int queue_check_number(struct queue *q, const char *typed, char *canonical, size_t len, char *why, size_t whylen)
{
    const struct dialplan *dp = q->cfg.dialplan;
    char number[JOB_NUMBER_MAX], rule[160];
    struct dialplan_controls c;
    int r;

    if ((r = dialplan_canonical(dp, typed, number, sizeof number, why, whylen)) != 0)
        return r;
    if (dialplan_check(dp, typed, number, rule, sizeof rule) != 0) {
        bool same = strcmp(typed, number) == 0;
        snprintf(why, whylen, "the number %.40s%s%s%s is refused by %s; fax another number, or ask the administrator%s",
                 typed, same ? "" : " (", same ? "" : number, same ? "" : ")", rule,
                 strncmp(rule, "built-in", 8) == 0 ? " (--dial-allow lifts it)" : " to change that rule");
        return -EACCES;
    }
    dialplan_controls(dp, number, &c);
    if (c.refuse) {
        snprintf(why, whylen, "the number %.40s is refused by [destination %s]: %s", typed, c.pattern, c.refuse);
        return -EACCES;
    }
    if (canonical)
        snprintf(canonical, len, "%s", number);
    return 0;
}

/* The receipt's addresses, when and what: checked as the draft field was,
 * then each address by the mail code, so a job never holds one sendmail
 * would refuse. */
static int check_notify(struct queue *q, const struct queue_request *req, struct job *job, char *why, size_t whylen)
{
    char list[JOB_DELIVERY_TARGET_MAX];
    int r;

    if (req->notify_when < 0 || req->notify_when >= JOB_NOTIFY_WHEN_COUNT || req->notify_attach < 0 ||
        req->notify_attach >= JOB_ATTACH_COUNT) {
        snprintf(why, whylen, "notify_when must be final, done, failed or every-attempt and notify_attach report, fax or both");
        return -EINVAL;
    }
    if ((r = job_parse_notify(req->notify, job->notify, sizeof job->notify, why, whylen)) != 0)
        return r;
    job->notify_when = req->notify_when;
    job->notify_attach = req->notify_attach;
    for (int i = 0; job->notify[0] == '\0' && i < q->cfg.nreceipt_defaults; i++)
        if (q->cfg.receipt_defaults[i].uid == job->owner_uid) { /* the administrator's default for the user */
            snprintf(job->notify, sizeof job->notify, "%s", q->cfg.receipt_defaults[i].notify);
            job->notify_when = q->cfg.receipt_defaults[i].when;
        }
    snprintf(list, sizeof list, "%s", job->notify);
    int n = 0;
    for (char *save = NULL, *a = strtok_r(list, ",", &save); a && q->cfg.mail_address_ok;
         a = strtok_r(NULL, ",", &save)) {
        n++;
        if (!q->cfg.mail_address_ok(a)) {
            snprintf(why, whylen, "notify: address %d is not an address the mail system takes (local@domain)", n);
            return -EINVAL;
        }
    }
    return 0;
}

static int check_modem_settings(const struct queue_request *req, struct job *job, char *why, size_t whylen)
{
    if (req->use_ecm < QUEUE_ECM_DEFAULT || req->use_ecm > QUEUE_ECM_OFF) {
        snprintf(why, whylen, "use_ecm must be yes or no");
        return -EINVAL;
    }
    if ((req->max_bit_rate && !dialplan_bit_rate_valid(req->max_bit_rate)) ||
        (req->min_bit_rate && !dialplan_bit_rate_valid(req->min_bit_rate))) {
        snprintf(why, whylen, "max_bit_rate and min_bit_rate must be 2400, 4800, 7200, 9600, 12000 or 14400");
        return -EINVAL;
    }
    if (req->max_bit_rate && req->min_bit_rate > req->max_bit_rate) {
        snprintf(why, whylen, "min_bit_rate %d is above max_bit_rate %d; lower one of them", req->min_bit_rate,
                 req->max_bit_rate);
        return -EINVAL;
    }
    job->use_ecm = req->use_ecm == QUEUE_ECM_ON ? 1 : req->use_ecm == QUEUE_ECM_OFF ? 0 : -1;
    job->max_bit_rate = req->max_bit_rate;
    job->min_bit_rate = req->min_bit_rate;
    return 0;
}

/* Checks the request fields that need no documents; fills job. */
static int check_request(struct queue *q, const struct queue_caller *who, const struct queue_request *req,
                         struct job *job, char *why, size_t whylen)
{
    int64_t t = engine_now(q);
    int r;

    job_init(job);
    job->type = JOB_SEND;
    job->owner_uid = who->uid;
    job->owner_gid = who->gid;
    if ((r = queue_check_number(q, req->recipient_number, job->recipient_number, sizeof job->recipient_number, why,
                                whylen)) != 0)
        return r;
    snprintf(job->submitted_number, sizeof job->submitted_number, "%s", req->recipient_number);
    if ((r = check_modem_settings(req, job, why, whylen)) != 0)
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
    if ((r = check_notify(q, req, job, why, whylen)) != 0)
        return r;
    job->submitted = t;
    job->scheduled = req->scheduled > t ? req->scheduled : 0;
    struct dialplan_controls c;
    dialplan_controls(q->cfg.dialplan, job->recipient_number, &c);
    if (c.window) { /* outside its sending window: scheduled for when it opens */
        int64_t open = dialplan_window_next_open(c.window, job->scheduled ? job->scheduled : t);
        if (open > t && open > job->scheduled)
            job->scheduled = open;
    }
    int64_t start = job->scheduled ? job->scheduled : t;
    job->kill_time = req->kill_time ? req->kill_time : start + q->cfg.kill_after;
    if (job->kill_time <= start) {
        snprintf(why, whylen, "the kill time is not after the time to send; give a later kill time");
        return -EINVAL;
    }
    job->priority = req->priority ? req->priority : JOB_PRIORITY_NORMAL;
    if (!engine_priority_allowed(q, who, job->priority)) {
        snprintf(why, whylen, "priority above normal is for members of the priority group (--priority-group); "
                 "submit with normal priority");
        return -EPERM;
    }
    job->max_attempts = req->max_attempts ? req->max_attempts : q->cfg.max_attempts;
    job->status = sched_waiting_state(&job->core, t);
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

/* Documents are parsed only by the sandboxed converter, in a sandbox
 * that sees documents of the job's owner only. */
static int convert_document(struct queue *q, uid_t owner, int fd, const struct document_options *opt,
                            int first_index, const struct document_sink *sink, struct document_result *res, char *why,
                            size_t whylen)
{
    const struct queue_converter *c = q->cfg.convert;

    if (c != NULL)
        return c->convert(c->ctx, fd, opt, first_index, sink, res, why, whylen);
    return sandbox_convert_user(&q->sandbox, owner, fd, opt, first_index, sink, res, why, whylen);
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
    } else if ((r = convert_document(q, job->owner_uid, fd, opt, 0, sink, &dr, reason, sizeof reason)) != 0) {
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

/* The documents from page index 1 on when there is a cover (page 0); the
 * cover itself only with own_cover (a broadcast makes one per job). */
static int stage_documents(struct queue *q, struct queue_stage *st, const struct queue_request *req,
                           const int *doc_fds, size_t ndocs, struct job *job, bool own_cover, char *why,
                           size_t whylen)
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
        int r = convert_document(q, job->owner_uid, doc_fds[i], &opt, first + job->page_count, &sink, &dr, reason,
                                 sizeof reason);
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
    if (!req->cover_page || !own_cover)
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
    job_format_time(engine_now(q), stamp, sizeof stamp);
    if (job->scheduled) {
        strcpy(when, "; to be sent at ");
        job_format_time(job->scheduled, when + strlen(when), sizeof when - strlen(when));
    }
    snprintf(log_text, sizeof log_text, "%s submitted by uid %lu: %d page%s to %s%s\n", stamp,
             (unsigned long)job->owner_uid, job->page_count, job->page_count == 1 ? "" : "s", job->recipient_number,
             when);
    /* The wait for the disk without the engine lock where the backend
     * allows it: readers of the view and other submitters go on, and the
     * spool makes concurrent submissions durable together. */
    bool unlocked = q->be->stage_commit_unlocked;
    if (unlocked)
        pthread_mutex_unlock(&q->lock);
    r = q->be->stage_commit(st, job, log_text);
    if (unlocked)
        pthread_mutex_lock(&q->lock);
    if (r != 0) {
        pthread_mutex_unlock(&q->lock);
        snprintf(why, whylen, "the job could not be stored in the spool: %s; nothing was submitted", strerror(-r));
        return r;
    }
    (void)FAULT_POINT("engine.submit.committed");
    if ((r = engine_insert_job(q, job)) != 0) {
        /* Stored but not in memory: the next start will find it. */
        pthread_mutex_unlock(&q->lock);
        snprintf(why, whylen, "out of memory after storing job %llu", (unsigned long long)job->id);
        return r;
    }
    engine_note(n, QE_ADDED, job->id);
    engine_note(n, QE_SERVER, 0);
    engine_poke(q);
    pthread_mutex_unlock(&q->lock);
    return 0;
}

/* A destination's max-pages, known once the documents are converted. */
static int check_max_pages(struct queue *q, const struct job *job, char *why, size_t whylen)
{
    struct dialplan_controls c;
    dialplan_controls(q->cfg.dialplan, job->recipient_number, &c);
    if (c.max_pages > 0 && job->page_count > c.max_pages) {
        snprintf(why, whylen, "%d pages to %s: [destination %s] takes at most %d; split the fax", job->page_count,
                 job->recipient_number, c.pattern, c.max_pages);
        return -EFBIG;
    }
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
    if ((r = stage_documents(q, st, req, doc_fds, ndocs, &job, true, why, whylen)) != 0 ||
        (r = check_max_pages(q, &job, why, whylen)) != 0) {
        q->be->stage_abort(st);
        goto refused;
    }
    if ((r = commit_job(q, st, &job, &n, why, whylen)) != 0)
        goto refused;
    engine_deliver(q, &n);
    *id_out = job.id;
    pthread_mutex_lock(&q->lock);
    q->counters.submissions++;
    pthread_mutex_unlock(&q->lock);
    engine_log(q, QUEUE_LOG_INFO, "job %llu: submitted by uid %lu, %d page%s to %s", (unsigned long long)job.id,
               (unsigned long)who->uid, job.page_count, job.page_count == 1 ? "" : "s", job.recipient_number);
    return 0;
refused:
    pthread_mutex_lock(&q->lock);
    q->counters.submissions_refused++;
    pthread_mutex_unlock(&q->lock);
    engine_log(q, QUEUE_LOG_NOTICE, "submission by uid %lu to \"%.40s\" refused: %s", (unsigned long)who->uid,
               req->recipient_number, why);
    return r;
}

/* ---- broadcast ------------------------------------------------------ */

static void free_texts(char **texts, size_t n)
{
    if (texts == NULL)
        return;
    for (size_t i = 0; i < n; i++)
        free(texts[i]);
    free(texts);
}

/* Ids, group and log texts for every job, then one atomic group commit,
 * then the jobs go into memory and are announced. */
static int commit_group(struct queue *q, struct queue_stage *st, struct job *jobs, size_t n, struct notes *notes,
                        char *why, size_t whylen)
{
    char stamp[40], **texts = calloc(n, sizeof *texts);
    uint64_t first;
    int r;

    if (texts == NULL) {
        q->be->stage_abort(st);
        snprintf(why, whylen, "out of memory; nothing was submitted, try again later");
        return -ENOMEM;
    }
    pthread_mutex_lock(&q->lock);
    if ((r = q->be->reserve_ids(q->bs, n, &first)) != 0) {
        pthread_mutex_unlock(&q->lock);
        q->be->stage_abort(st);
        free(texts);
        snprintf(why, whylen, "the spool cannot store new job ids: %s; nothing was submitted", strerror(-r));
        return r;
    }
    job_format_time(engine_now(q), stamp, sizeof stamp);
    for (size_t i = 0; i < n; i++) {
        struct job *j = &jobs[i];
        j->id = first + i;
        j->group = first;
        j->changed = j->submitted;
        if (asprintf(&texts[i], "%s submitted by uid %lu: %d page%s to %s, one of %zu jobs of broadcast group %llu\n",
                     stamp, (unsigned long)j->owner_uid, j->page_count, j->page_count == 1 ? "" : "s",
                     j->recipient_number, n, (unsigned long long)first) < 0) {
            texts[i] = NULL;
            r = -ENOMEM;
            break;
        }
    }
    /* As in commit_job: no engine lock while the disk works (a group of
     * 10,000 jobs takes seconds), when the backend allows it. */
    bool unlocked = r == 0 && q->be->stage_commit_unlocked;
    if (unlocked)
        pthread_mutex_unlock(&q->lock);
    if (r == 0)
        r = q->be->group_commit(st, jobs, n, texts);
    else
        q->be->stage_abort(st);
    if (unlocked)
        pthread_mutex_lock(&q->lock);
    free_texts(texts, n);
    if (r != 0) {
        pthread_mutex_unlock(&q->lock);
        snprintf(why, whylen, "the broadcast could not be stored in the spool: %s; nothing was submitted",
                 strerror(-r));
        return r;
    }
    (void)FAULT_POINT("engine.group.committed");
    for (size_t i = 0; i < n; i++) {
        if ((r = engine_insert_job(q, &jobs[i])) != 0) {
            /* Stored but not in memory: the next start will find them. */
            pthread_mutex_unlock(&q->lock);
            snprintf(why, whylen, "out of memory after storing broadcast group %llu", (unsigned long long)first);
            return r;
        }
        engine_note(notes, QE_ADDED, jobs[i].id);
    }
    engine_note(notes, QE_SERVER, 0);
    engine_poke(q);
    pthread_mutex_unlock(&q->lock);
    return 0;
}

/* Covers per converter run: one Ghostscript process renders this many
 * cover pages (a few ms each), far below DOCUMENT_MAX_PAGES. */
#define GROUP_COVERS_PER_RUN 250
#define GROUP_COVER_THREADS 4 /* runs at once, at most; the sandbox allows 8 */

struct cover_sink {
    const struct queue_backend *be;
    struct queue_stage *st;
    struct job *jobs;
    size_t base;  /* job index of the run's first page */
    int last_fd;  /* a copy of the fd of the page written last, to size it */
    size_t last;  /* its job index */
};

/* The page written last is whole once the next is asked for: its bytes
 * go to its job's size. */
static uint64_t fd_size(int fd)
{
    struct stat sb;
    return fstat(fd, &sb) == 0 ? (uint64_t)sb.st_size : 0;
}

static void cover_sized(struct cover_sink *cs)
{
    if (cs->last_fd < 0)
        return;
    cs->jobs[cs->last].size += fd_size(cs->last_fd);
    close(cs->last_fd);
    cs->last_fd = -1;
}

static int cover_page_fd(void *ctx, int index)
{
    struct cover_sink *cs = ctx;
    cover_sized(cs);
    int fd = cs->be->stage_cover(cs->st, cs->base + (size_t)index);
    if (fd >= 0) {
        cs->last_fd = fcntl(fd, F_DUPFD_CLOEXEC, 0);
        cs->last = cs->base + (size_t)index;
    }
    return fd;
}

/* The covers of one group, shared by the threads that render them. */
struct cover_work {
    struct queue *q;
    struct queue_stage *st;
    struct job *jobs;
    size_t n;
    int total; /* pages of each job, the cover included */
    char comment[sizeof ((struct queue_request *)0)->cover_comment];
    struct document_options opt;
    pthread_mutex_t lock; /* protects next, r, why */
    size_t next;          /* job index of the next run to start */
    int r;                /* the first failure; the others then stop */
    char why[512];
};

/* One Ghostscript run: the covers of jobs base..base+k-1. Each run touches
 * only its own jobs and cover files, so runs may go at once. */
static int cover_run(struct cover_work *w, size_t base, size_t k, char *why, size_t whylen)
{
    struct cover_sink cs = {w->q->be, w->st, w->jobs, base, -1, 0};
    struct document_sink sink = {cover_page_fd, &cs};
    struct document_result dr = {0};
    char reason[256], *ps = NULL;
    size_t len = 0;
    int r, fd = w->q->be->upload_open(w->q->bs);

    if (fd < 0) {
        snprintf(why, whylen, "the cover pages cannot be made: %s; free space in the spool", strerror(-fd));
        return fd;
    }
    if ((r = cover_pages_program(&w->jobs[base], k, w->total, w->comment, &ps, &len)) != 0) {
        snprintf(why, whylen, "the cover pages cannot be made: out of memory; submit again later");
    } else if (write(fd, ps, len) != (ssize_t)len) {
        r = -EIO;
        snprintf(why, whylen, "the cover pages cannot be made: cannot write them; free space in the spool");
    }
    free(ps);
    if (r == 0 && (r = convert_document(w->q, w->jobs[base].owner_uid, fd, &w->opt, 0, &sink, &dr, reason,
                                        sizeof reason)) != 0)
        snprintf(why, whylen, "the cover pages of recipients %zu to %zu: %s", base + 1, base + k, reason);
    if (r == 0 && (size_t)dr.pages != k) {
        snprintf(why, whylen, "the cover pages of %zu recipients came out as %d pages; drop cover, or put a "
                 "cover page into the documents", k, dr.pages);
        r = -EINVAL;
    }
    cover_sized(&cs);
    for (size_t i = 0; r == 0 && i < k; i++)
        w->jobs[base + i].page_count = w->total;
    close(fd);
    return r;
}

/* Takes runs until none is left or one failed. */
static void *cover_worker(void *arg)
{
    struct cover_work *w = arg;
    char why[512];

    for (;;) {
        pthread_mutex_lock(&w->lock);
        size_t base = w->next;
        bool stop = w->r != 0 || base >= w->n;
        w->next += GROUP_COVERS_PER_RUN;
        pthread_mutex_unlock(&w->lock);
        if (stop)
            return NULL;
        size_t k = w->n - base < GROUP_COVERS_PER_RUN ? w->n - base : GROUP_COVERS_PER_RUN;
        int r = cover_run(w, base, k, why, sizeof why);
        if (r != 0) {
            pthread_mutex_lock(&w->lock);
            if (w->r == 0) {
                w->r = r;
                snprintf(w->why, sizeof w->why, "%s", why);
            }
            pthread_mutex_unlock(&w->lock);
        }
    }
}

/* Every job of a broadcast its own cover page, naming its recipient:
 * the cover pages of up to GROUP_COVERS_PER_RUN jobs as one PostScript
 * document (cover_pages_program), rendered by the sandboxed converter like
 * any cover (outside the engine lock), its page k staged as job base+k's
 * page 1. The first run goes alone (it makes the stage's covers
 * directory), the others on up to GROUP_COVER_THREADS threads, as many as
 * there are processors. Each job's size counts its own cover's bytes. */
static int stage_group_covers(struct queue *q, struct queue_stage *st, const struct queue_request *req,
                              struct job *jobs, size_t n, char *why, size_t whylen)
{
    struct cover_work w = {.q = q, .st = st, .jobs = jobs, .n = n, .total = jobs[0].page_count + 1};
    size_t k = n < GROUP_COVERS_PER_RUN ? n : GROUP_COVERS_PER_RUN;
    int r;

    snprintf(w.comment, sizeof w.comment, "%.*s", (int)sizeof w.comment - 1, req->cover_comment);
    document_options(q, &jobs[0], &w.opt);
    if ((r = cover_run(&w, 0, k, why, whylen)) != 0 || k == n)
        return r;
    pthread_mutex_init(&w.lock, NULL);
    w.next = k;
    long cpus = sysconf(_SC_NPROCESSORS_ONLN);
    size_t nthreads = cpus > 1 ? (size_t)cpus : 1, started = 0;
    if (nthreads > GROUP_COVER_THREADS)
        nthreads = GROUP_COVER_THREADS;
    pthread_t helpers[GROUP_COVER_THREADS];
    for (size_t i = 1; i < nthreads && pthread_create(&helpers[started], NULL, cover_worker, &w) == 0; i++)
        started++;
    cover_worker(&w); /* this thread too; alone when no helper could start */
    for (size_t i = 0; i < started; i++)
        pthread_join(helpers[i], NULL);
    pthread_mutex_destroy(&w.lock);
    if (w.r != 0)
        snprintf(why, whylen, "%s", w.why);
    return w.r;
}

static void prefix_line(char *why, size_t whylen, int line)
{
    char tmp[512];

    snprintf(tmp, sizeof tmp, "%s", why);
    snprintf(why, whylen, "recipients line %d: %s", line, tmp);
}

int queue_submit_group(struct queue *q, const struct queue_caller *who, const struct queue_request *req,
                       const struct queue_recipient *rcpt, size_t nrcpt, const int *doc_fds, size_t ndocs,
                       uint64_t *group_out, char *why, size_t whylen)
{
    struct queue_stage *st = NULL;
    struct notes notes = {0};
    struct job *jobs = NULL;
    int r = 0;

    if (whylen > 0)
        why[0] = '\0';
    if (nrcpt == 0) {
        snprintf(why, whylen, "no recipients; give at least one number");
        r = -EINVAL;
    } else if (q->be->reserve_ids == NULL || q->be->group_commit == NULL) {
        snprintf(why, whylen, "this storage cannot hold broadcasts; submit one job per number");
        r = -ENOSYS;
    } else if (req->cover_page && q->be->stage_cover == NULL) {
        snprintf(why, whylen, "this storage cannot hold a cover page per recipient; drop cover, or put a "
                              "cover page into the documents");
        r = -ENOSYS;
    } else if ((jobs = calloc(nrcpt, sizeof *jobs)) == NULL) {
        snprintf(why, whylen, "out of memory for %zu recipients; split the broadcast", nrcpt);
        r = -ENOMEM;
    }
    /* Every number through the same checks as a single submission. */
    for (size_t i = 0; r == 0 && i < nrcpt; i++) {
        struct queue_request one = *req;
        snprintf(one.recipient_number, sizeof one.recipient_number, "%s", rcpt[i].number);
        snprintf(one.recipient_name, sizeof one.recipient_name, "%s", rcpt[i].name);
        if ((r = check_request(q, who, &one, &jobs[i], why, whylen)) != 0)
            prefix_line(why, whylen, rcpt[i].line);
    }
    if (r == 0 && (r = q->be->stage_open(q->bs, &st)) != 0)
        snprintf(why, whylen, "the spool cannot stage a new job: %s", strerror(-r));
    /* The documents once, for every job; then each job's own cover. */
    if (r == 0 && (r = stage_documents(q, st, req, doc_fds, ndocs, &jobs[0], false, why, whylen)) != 0) {
        q->be->stage_abort(st);
        st = NULL;
    }
    for (size_t i = 1; r == 0 && i < nrcpt; i++) {
        jobs[i].page_count = jobs[0].page_count;
        jobs[i].size = jobs[0].size;
    }
    if (r == 0 && req->cover_page && (r = stage_group_covers(q, st, req, jobs, nrcpt, why, whylen)) != 0) {
        q->be->stage_abort(st);
        st = NULL;
    }
    for (size_t i = 0; r == 0 && i < nrcpt; i++) {
        if ((r = check_max_pages(q, &jobs[i], why, whylen)) != 0) {
            prefix_line(why, whylen, rcpt[i].line);
            q->be->stage_abort(st);
        }
    }
    if (r == 0 && (r = commit_group(q, st, jobs, nrcpt, &notes, why, whylen)) == 0) {
        engine_deliver(q, &notes);
        *group_out = jobs[0].group;
        pthread_mutex_lock(&q->lock);
        q->counters.submissions += nrcpt;
        pthread_mutex_unlock(&q->lock);
        engine_log(q, QUEUE_LOG_INFO, "broadcast group %llu: submitted by uid %lu, %d page%s to %zu numbers (jobs "
                   "%llu-%llu)", (unsigned long long)jobs[0].group, (unsigned long)who->uid, jobs[0].page_count,
                   jobs[0].page_count == 1 ? "" : "s", nrcpt, (unsigned long long)jobs[0].id,
                   (unsigned long long)jobs[nrcpt - 1].id);
        free(jobs);
        return 0;
    }
    free(jobs);
    free(notes.v);
    pthread_mutex_lock(&q->lock);
    q->counters.submissions_refused++;
    pthread_mutex_unlock(&q->lock);
    engine_log(q, QUEUE_LOG_NOTICE, "broadcast by uid %lu to %zu numbers refused: %s", (unsigned long)who->uid, nrcpt,
               why);
    return r;
}

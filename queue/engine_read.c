/*
 * engine_read.c - reading the engine's state: job lists and snapshots, page
 * and log files, page previews and the PDF, the modem table, and the listeners that
 * hear of every change.
 */
#include "queue/engine.h"
#include "queue/pdf.h"
#include "queue/preview.h"

#include <errno.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <time.h>
#include <unistd.h>

static bool matches(const struct job_core *j, unsigned filter)
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
    struct qjob *qj = engine_find_job(q, id);
    if (qj != NULL) {
        engine_job_get(qj, out);
        out->unsaved = qj->unsaved;
    }
    pthread_mutex_unlock(&q->lock);
    return qj != NULL ? 0 : -ENOENT;
}

int queue_open_page(struct queue *q, uint64_t id, int page)
{
    int r = -ENOENT;

    pthread_mutex_lock(&q->lock);
    struct qjob *qj = engine_find_job(q, id);
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
        engine_log(q, QUEUE_LOG_WARNING, "job %llu: page %d cannot be rendered as a preview: %s",
                   (unsigned long long)id, page + 1, strerror(-r));
    return r;
}

/* What pdf_store's writer needs: the job's pages, and what it reports. */
struct pdf_make {
    struct queue *q;
    uint64_t id;
    struct pdf_pages pages;
    struct pdf_result res;
    char why[256];
};

static int pdf_open_page(void *ctx, size_t index)
{
    struct pdf_make *m = ctx;

    return queue_open_page(m->q, m->id, (int)index);
}

static int pdf_fill(void *arg, int fd)
{
    struct pdf_make *m = arg;

    return pdf_write_fax_pages(&m->pages, fd, &m->res, m->why, sizeof m->why);
}

/* A file the backend does not keep: written anew for this reader. */
static int pdf_uncached(struct queue *q, struct pdf_make *m)
{
    int fd = q->be->upload_open(q->bs);
    int r = fd < 0 ? fd : pdf_fill(m, fd);

    if (r == 0 && lseek(fd, 0, SEEK_SET) != 0)
        r = -errno;
    if (r != 0 && fd >= 0)
        close(fd);
    return r != 0 ? r : fd;
}

/* Writes the PDF, opening one page at a time; under pdf_lock. */
static int pdf_make(struct queue *q, uint64_t id, int npages)
{
    struct pdf_make m = {.q = q, .id = id, .pages = {(size_t)npages, pdf_open_page, NULL}};
    int r;

    m.pages.ctx = &m;
    r = q->be->pdf_store != NULL ? q->be->pdf_store(q->bs, id, pdf_fill, &m) : pdf_uncached(q, &m);
    if (r >= 0 && m.res.reencoded > 0)
        engine_log(q, QUEUE_LOG_INFO, "job %llu: fax.pdf made: %zu pages, %zu re-encoded as G4, %llu bytes",
                   (unsigned long long)id, m.res.pages, m.res.reencoded, (unsigned long long)m.res.bytes);
    if (r < 0 && r != -ENOENT && r != -ENOMEM) {
        engine_log(q, QUEUE_LOG_ERR, "job %llu: fax.pdf cannot be made: %s; the pages are in the spool, check them "
                   "with faxfs --check-spool", (unsigned long long)id, m.why[0] ? m.why : strerror(-r));
        if (r != -ENOSPC && r != -EDQUOT)
            r = -EIO;
    }
    return r;
}

int queue_open_pdf(struct queue *q, uint64_t id)
{
    struct job j;
    int r = queue_snapshot(q, id, &j);

    if (r < 0)
        return r;
    if (j.page_count <= 0 || j.status == JOB_RECEIVING)
        return -ENODATA; /* a fax being received still grows: no PDF yet */
    if (q->be->pdf_open != NULL && (r = q->be->pdf_open(q->bs, id)) != -ENOENT)
        return r;
    pthread_mutex_lock(&q->pdf_lock);
    /* Made by another reader while this one waited? */
    if (q->be->pdf_open == NULL || (r = q->be->pdf_open(q->bs, id)) == -ENOENT)
        r = pdf_make(q, id, j.page_count);
    pthread_mutex_unlock(&q->pdf_lock);
    return r;
}

bool queue_job_has_report(const struct job *j)
{
    return j->type == JOB_SEND &&
           (j->status == JOB_DONE || j->status == JOB_FAILED || (j->status == JOB_CANCELED && j->attempts > 0));
}

/* What report_fill needs: the job, its first page (or -1), the why. */
struct report_make {
    const struct job *j;
    int page_fd;
    char why[256];
};

static void report_time(int64_t t, char *out, size_t len)
{
    time_t tt = (time_t)t;
    struct tm tm;

    if (t <= 0 || localtime_r(&tt, &tm) == NULL || strftime(out, len, "%Y-%m-%d %H:%M:%S %z", &tm) == 0)
        snprintf(out, len, "-");
}

static int report_fill(void *arg, int fd)
{
    struct report_make *m = arg;
    const struct job *j = m->j;
    char id[24], submitted[40], finished[40], duration[24], pages[48], attempts[24], speed[24], error[320];

    snprintf(id, sizeof id, "%llu", (unsigned long long)j->id);
    report_time(j->submitted, submitted, sizeof submitted);
    report_time(j->finished, finished, sizeof finished);
    if (j->call_duration >= 0)
        snprintf(duration, sizeof duration, "%d:%02d", j->call_duration / 60, j->call_duration % 60);
    else
        snprintf(duration, sizeof duration, "-");
    snprintf(pages, sizeof pages, "%d of %d sent", j->pages_sent, j->page_count);
    snprintf(attempts, sizeof attempts, "%d", j->attempts);
    if (j->bit_rate > 0)
        snprintf(speed, sizeof speed, "%d bit/s", j->bit_rate);
    else
        snprintf(speed, sizeof speed, "-");
    if (j->error_code[0])
        snprintf(error, sizeof error, "%s: %s", j->error_code, j->error_text);
    else
        snprintf(error, sizeof error, "none");
    const struct pdf_report_line lines[] = {
        {"Result", job_status_name(j->status)},
        {"Error", error},
        {"Job", id},
        {"Recipient", j->recipient_name[0] ? j->recipient_name : "-"},
        {"Number", j->recipient_number},
        {"Number dialed", j->dialed_number[0] ? j->dialed_number : j->recipient_number},
        {"Remote station", j->remote_id[0] ? j->remote_id : "-"},
        {"Sender", j->sender_name[0] ? j->sender_name : "-"},
        {"Submitted", submitted},
        {"Finished", finished},
        {"Duration of call", duration},
        {"Pages", pages},
        {"Attempts", attempts},
        {"Speed", speed},
        {"ECM", j->ecm < 0 ? "-" : j->ecm ? "on" : "off"},
        {"Line", j->line[0] ? j->line : "-"},
    };
    return pdf_write_report("Fax transmission report", lines, sizeof lines / sizeof lines[0], m->page_fd, fd, m->why,
                            sizeof m->why);
}

int queue_open_report(struct queue *q, uint64_t id)
{
    struct job j;
    int r = queue_snapshot(q, id, &j);

    if (r < 0)
        return r;
    if (!queue_job_has_report(&j))
        return -ENODATA;
    if (q->be->report_open != NULL && (r = q->be->report_open(q->bs, id)) != -ENOENT)
        return r;
    pthread_mutex_lock(&q->pdf_lock);
    if (q->be->report_open == NULL || (r = q->be->report_open(q->bs, id)) == -ENOENT) {
        struct report_make m = {.j = &j, .page_fd = -1};
        /* A page that cannot be opened only loses the thumbnail. */
        if (j.page_count > 0 && (m.page_fd = queue_open_page(q, id, 0)) < 0 && m.page_fd == -ENOENT) {
            pthread_mutex_unlock(&q->pdf_lock);
            return -ENOENT; /* deleted meanwhile */
        }
        if (q->be->report_store != NULL) {
            r = q->be->report_store(q->bs, id, report_fill, &m);
        } else if ((r = q->be->upload_open(q->bs)) >= 0) {
            int fd = r;
            r = report_fill(&m, fd);
            if (r == 0 && lseek(fd, 0, SEEK_SET) != 0)
                r = -errno;
            if (r != 0)
                close(fd);
            else
                r = fd;
        }
        if (m.page_fd >= 0)
            close(m.page_fd);
        if (r < 0 && r != -ENOENT && r != -ENOMEM) {
            engine_log(q, QUEUE_LOG_ERR, "job %llu: report.pdf cannot be made: %s; check the job's first page "
                       "with faxfs --check-spool", (unsigned long long)id, m.why[0] ? m.why : strerror(-r));
            if (r != -ENOSPC && r != -EDQUOT)
                r = -EIO;
        }
    }
    pthread_mutex_unlock(&q->pdf_lock);
    return r;
}

int queue_open_log(struct queue *q, uint64_t id)
{
    int r = -ENOENT;

    pthread_mutex_lock(&q->lock);
    if (engine_find_job(q, id) != NULL)
        r = q->be->open_log(q->bs, id);
    pthread_mutex_unlock(&q->lock);
    return r;
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
    struct qjob *qj = ch->job ? engine_find_job(q, ch->job) : NULL;
    snprintf(out->name, sizeof out->name, "%s", ch->name);
    snprintf(out->status, sizeof out->status, "%s",
             qj == NULL ? "idle" : qj->j.device_status[0] ? qj->j.device_status : "busy");
    out->job = ch->job;
    out->calls = ch->calls;
    out->pages_sent = ch->pages_sent;
    out->errors = ch->errors;
    snprintf(out->line, sizeof out->line, "%s", q->lines[ch->line].name);
    pthread_mutex_unlock(&q->lock);
    return 0;
}

int queue_line_count(const struct queue *q)
{
    return q->nlines; /* fixed at open */
}

int queue_line_info(struct queue *q, int index, struct queue_line_info *out)
{
    if (index < 0 || index >= q->nlines)
        return -ENOENT;
    memset(out, 0, sizeof *out);
    /* The status first, without the lock: the wiring asks the modem pool. */
    out->usable = true;
    snprintf(out->registration, sizeof out->registration, "none");
    if (q->cfg.line.usable != NULL)
        out->usable = q->cfg.line.usable(q->cfg.line.ctx, index, out->registration, sizeof out->registration);
    pthread_mutex_lock(&q->lock);
    const struct qline *l = &q->lines[index];
    snprintf(out->name, sizeof out->name, "%s", l->name);
    snprintf(out->spec, sizeof out->spec, "%s", l->spec);
    out->channels = l->count;
    for (int c = l->first; c < l->first + l->count; c++)
        out->busy += q->channels[c].job != 0;
    out->free = out->channels - out->busy;
    out->calls = l->calls;
    out->failures = l->failures;
    out->pages_sent = l->pages_sent;
    snprintf(out->last_error, sizeof out->last_error, "%s", l->last_error);
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

/* ---- broadcast groups ------------------------------------------------ */

/* A group's jobs have consecutive ids starting at the group id, and the
 * table is sorted by id: the first one at or after group, then onwards. */
static size_t first_at_or_after(const struct queue *q, uint64_t id)
{
    size_t lo = 0, hi = q->njobs;

    while (lo < hi) {
        size_t mid = lo + (hi - lo) / 2;
        if (q->jobs[mid]->j.id < id)
            lo = mid + 1;
        else
            hi = mid;
    }
    return lo;
}

int queue_group_members(struct queue *q, uint64_t group, struct queue_group_member **out, size_t *n_out)
{
    struct queue_group_member *v = NULL;
    size_t n = 0, cap = 0;
    int r = 0;

    *out = NULL;
    *n_out = 0;
    if (group == 0)
        return -ENOENT;
    pthread_mutex_lock(&q->lock);
    engine_load_group(q, group); /* while loading: all of it, not what is loaded so far */
    for (size_t i = first_at_or_after(q, group); i < q->njobs; i++) {
        const struct job_core *j = &q->jobs[i]->j;
        if (j->group != group) /* past the group's range of ids */
            break;
        if (n == cap) {
            size_t nc = cap ? cap * 2 : 64;
            struct queue_group_member *p = realloc(v, nc * sizeof *p);
            if (p == NULL) {
                r = -ENOMEM;
                break;
            }
            v = p;
            cap = nc;
        }
        struct queue_group_member *m = &v[n++];
        m->id = j->id;
        m->status = j->status;
        m->owner_uid = j->owner_uid;
        snprintf(m->number, sizeof m->number, "%s", j->recipient_number);
        snprintf(m->name, sizeof m->name, "%s", j->recipient_name);
    }
    pthread_mutex_unlock(&q->lock);
    if (r == 0 && n == 0)
        r = -ENOENT;
    if (r != 0) {
        free(v);
        return r;
    }
    *out = v;
    *n_out = n;
    return 0;
}

int queue_list_groups(struct queue *q, uint64_t **ids_out, size_t *n_out)
{
    uint64_t *v = NULL, last = 0;
    size_t n = 0, cap = 0;

    pthread_mutex_lock(&q->lock);
    for (size_t i = 0; i < q->njobs; i++) {
        uint64_t g = q->jobs[i]->j.group;
        if (g == 0 || g == last)
            continue;
        if (n == cap) {
            size_t nc = cap ? cap * 2 : 16;
            uint64_t *p = realloc(v, nc * sizeof *p);
            if (p == NULL) {
                pthread_mutex_unlock(&q->lock);
                free(v);
                return -ENOMEM;
            }
            v = p;
            cap = nc;
        }
        v[n++] = last = g;
    }
    pthread_mutex_unlock(&q->lock);
    *ids_out = v;
    *n_out = n;
    return 0;
}

int queue_group_owner(struct queue *q, uint64_t group, uid_t *uid)
{
    int r = -ENOENT;

    if (group == 0)
        return -ENOENT;
    pthread_mutex_lock(&q->lock);
    engine_load_group(q, group);
    size_t i = first_at_or_after(q, group);
    if (i < q->njobs && q->jobs[i]->j.group == group) {
        *uid = q->jobs[i]->j.owner_uid;
        r = 0;
    }
    pthread_mutex_unlock(&q->lock);
    return r;
}

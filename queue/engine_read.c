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
#include <unistd.h>

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
    struct qjob *qj = engine_find_job(q, id);
    if (qj != NULL)
        *out = qj->j;
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

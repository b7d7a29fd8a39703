/*
 * engine_receive.c - received faxes: a receive job recorded when the call
 * is answered, each page stored (and counted) as it arrives, the outcome
 * written when the call ends. Pages already stored are kept when it fails.
 */
#include "queue/engine.h"
#include "queue/fault.h"

#include <errno.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <unistd.h>

int queue_receive_begin(struct queue *q, const char *modem, const char *caller_id, uint64_t *id_out)
{
    return queue_receive_begin_called(q, modem, caller_id, NULL, id_out);
}

int queue_receive_begin_called(struct queue *q, const char *modem, const char *caller_id, const char *called,
                               uint64_t *id_out)
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
    job.submitted = job.changed = engine_now(q);
    snprintf(job.modem, sizeof job.modem, "%s", modem ? modem : "");
    snprintf(job.caller_id, sizeof job.caller_id, "%s", caller_id ? caller_id : "");
    snprintf(job.called_number, sizeof job.called_number, "%s", called ? called : "");
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
    snprintf(log_text, sizeof log_text, "%s receiving on %s from %s%s%s\n", stamp, job.modem[0] ? job.modem : "a line",
             job.caller_id[0] ? job.caller_id : "an unknown caller", job.called_number[0] ? " for " : "",
             job.called_number);
    if ((r = q->be->stage_commit(st, &job, log_text)) != 0 || (r = engine_insert_job(q, &job)) != 0) {
        pthread_mutex_unlock(&q->lock);
        goto fail;
    }
    (void)FAULT_POINT("engine.receive.begun");
    struct qjob *qj = engine_find_job(q, job.id);
    qj->page_mark = job.submitted;
    if (q->be->take_reception != NULL && q->be->renew != NULL) {
        /* stored under this node's name; its lease starts now and is
         * renewed while the call lasts (the dispatcher tries again when
         * this fails) */
        qj->receiving_here = true;
        struct job *stored = malloc(sizeof *stored);
        if (stored != NULL && q->be->renew(q->bs, job.id, q->cfg.lease_seconds, stored) == 0)
            qj->lease_at = engine_now(q);
        free(stored);
        engine_poke(q);
    }
    engine_note(&n, QE_ADDED, job.id);
    engine_note(&n, QE_SERVER, 0);
    pthread_mutex_unlock(&q->lock);
    engine_deliver(q, &n);
    engine_log(q, QUEUE_LOG_INFO, "job %llu: receiving on %s from %s", (unsigned long long)job.id,
               job.modem[0] ? job.modem : "a line", job.caller_id[0] ? job.caller_id : "an unknown caller");
    *id_out = job.id;
    return 0;
fail:
    engine_log(q, QUEUE_LOG_ERR, "inbound call on %s could not be recorded in the spool: %s; the fax is refused",
               modem ? modem : "a line", strerror(-r));
    return r;
}

/* Finds a job still receiving; fills why for the daemon log otherwise. */
static struct qjob *find_receiving(struct queue *q, uint64_t id, int *err)
{
    struct qjob *qj = engine_find_job(q, id);

    *err = qj == NULL ? -ENOENT : qj->j.status != JOB_RECEIVING ? -EBUSY : 0;
    if (*err != 0)
        engine_log(q, QUEUE_LOG_WARNING, "job %llu: receive report ignored: %s", (unsigned long long)id,
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
        engine_log(q, QUEUE_LOG_ERR, "job %llu: received page refused: not a TIFF file (a modem bug)",
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
        engine_job_log(q, &n, id, "page %d could not be stored: %s", page, strerror(-r));
        engine_log(q, QUEUE_LOG_ERR, "job %llu: received page %d could not be stored in the spool: %s%s",
                   (unsigned long long)id, page, strerror(-r),
                   r == -EFBIG ? "; raise the document size limit" : "; free space in the spool");
        goto out;
    }
    /* The page file is durable now: count it even if the job file cannot
     * be rewritten at once (the next start counts it from the spool too). */
    qj->j.page_count = page;
    qj->j.size += bytes;
    q->counters.pages_received++;
    engine_observe_pages(q, 1, engine_now(q) - qj->page_mark);
    qj->page_mark = engine_now(q);
    if (engine_persist(q, qj, &n) == 0)
        (void)FAULT_POINT("engine.receive.page_persisted");
    engine_job_log(q, &n, id, "page %d received (%llu bytes)", page, (unsigned long long)bytes);
out:
    pthread_mutex_unlock(&q->lock);
    engine_deliver(q, &n);
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
    struct job_core *j = &qj->j;
    struct job_core saved = *j;
    int pages_sent = j->pages_sent;
    engine_record_call_facts(qj, res);
    j->pages_sent = pages_sent; /* a send-side count; means nothing here */
    j->finished = engine_now(q);
    j->device_status[0] = '\0';
    if (res->failure == QF_NONE) {
        j->status = JOB_DONE;
        engine_set_error(j, "", "");
        snprintf(buf, sizeof buf, "%d page%s received", j->page_count, j->page_count == 1 ? "" : "s");
    } else {
        j->status = JOB_FAILED;
        engine_set_error(j, res->code && res->code[0] ? res->code : "receive_failed",
                         res->text && res->text[0] ? res->text : "the call ended before the fax was complete");
        snprintf(buf, sizeof buf, "%s; %d page%s received kept", j->error_text, j->page_count,
                 j->page_count == 1 ? "" : "s");
    }
    if ((r = engine_store(q, qj, &n)) != 0) {
        if (qj->receiving_here || q->be->take_reception == NULL)
            *j = saved; /* still receiving; a restart marks it failed, pages kept */
        goto out;       /* else another node ended it: shown as it stored it */
    }
    qj->receiving_here = false;
    engine_count_reception_end(q, j, res);
    engine_job_log(q, &n, id, "reception %s: %s%s%s%s", j->status == JOB_DONE ? "complete" : "failed", buf,
                   j->remote_id[0] ? " from \"" : "", j->remote_id, j->remote_id[0] ? "\"" : "");
    engine_log(q, QUEUE_LOG_INFO, "job %llu: reception %s: %s", (unsigned long long)id,
               j->status == JOB_DONE ? "complete" : "failed", buf);
out:
    pthread_mutex_unlock(&q->lock);
    engine_deliver(q, &n);
    return r;
}

/* ---- leases on receptions (docs/postgresql.md "Leases") -------------- */

void engine_reception_lost(struct queue *q, struct qjob *qj, const struct job *stored)
{
    struct job *got = NULL;

    if (!qj->receiving_here)
        return;
    if (stored == NULL) { /* a write refused: read the job as stored */
        if ((got = malloc(sizeof *got)) == NULL)
            return;
        if (q->be->renew(q->bs, qj->j.id, q->cfg.lease_seconds, got) != -ESTALE) {
            free(got); /* still this node's (or the store is away) */
            return;
        }
        stored = got;
    }
    qj->receiving_here = false;
    if (qj->unsaved) {
        qj->unsaved = false;
        q->nunsaved--;
    }
    if (stored->id == qj->j.id && engine_job_set(qj, stored) != 0)
        qj->j.status = stored->status;
    else if (stored->id != qj->j.id)
        qj->j.status = JOB_FAILED; /* gone from the store: shown ended until it is forgotten */
    engine_log(q, QUEUE_LOG_ERR, "job %llu: this node's lease on the reception ran out and %s ended it (%s in the "
               "store); its further pages are refused", (unsigned long long)qj->j.id,
               stored->id == qj->j.id && stored->node[0] ? stored->node : "another node",
               stored->id == qj->j.id ? job_status_name(stored->status) : "no longer");
    free(got);
}

void engine_end_dead_reception(struct queue *q, struct qjob *qj, int64_t t, struct notes *n)
{
    struct job *stored = malloc(sizeof *stored);
    uint64_t id = qj->j.id;
    int r = stored == NULL ? -ENOMEM
            : q->be->take_reception == NULL ? -ENOSYS
                                            : q->be->take_reception(q->bs, id, q->cfg.lease_seconds, stored);

    if (r != 0) {
        /* its node renewed in time (its next write brings the new lease),
         * or the store is away: looked at again later */
        qj->lease_end = r == -ENOSYS ? 0 : t + (r == -EBUSY ? ENGINE_CLAIM_BACKOFF : ENGINE_CLAIM_RETRY);
        free(stored);
        return;
    }
    char was[JOB_NODE_MAX];
    snprintf(was, sizeof was, "%s", stored->node[0] ? stored->node : "(unknown)");
    stored->node[0] = '\0';
    if (engine_job_set(qj, stored) != 0) { /* the pages it counted are in the store; shown next look */
        free(stored);
        qj->lease_end = t + ENGINE_CLAIM_RETRY;
        engine_release(q, qj);
        return;
    }
    free(stored);
    struct job_core *j = &qj->j;
    qj->lease_end = 0;
    j->status = JOB_FAILED;
    j->finished = t;
    j->device_status[0] = '\0';
    engine_set_error(j, "interrupted", "the node receiving this fax stopped during the call");
    engine_persist(q, qj, n); /* kept unsaved and written again if the store refuses it now */
    engine_job_log(q, n, id, "reception failed: node '%s' stopped during the call (its lease ran out); %d page%s "
                   "received kept", was, j->page_count, j->page_count == 1 ? "" : "s");
    engine_log(q, QUEUE_LOG_NOTICE, "job %llu: node '%s' died or was cut off while receiving it (its lease ran out); "
               "reception marked failed, %d page%s kept", (unsigned long long)id, was, j->page_count,
               j->page_count == 1 ? "" : "s");
}

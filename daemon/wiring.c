/*
 * wiring.c - serves the queue's line operations with modem channels and
 * turns modem events into queue reports. Page counts differ in frame: a
 * modem counts pages of its call, the queue counts pages of the job.
 */
#include "daemon/wiring.h"

#include <errno.h>
#include <stdbool.h>
#include <fcntl.h>
#include <stdio.h>
#include <stdlib.h>
#include <syslog.h>
#include <unistd.h>

/* One per call in progress, sent or received; freed by the call's
 * finished event. A batched call carries several jobs, one after the
 * other: job_id and first_page are those of the one on the line. */
struct wiring_call {
    struct queue *q;
    uint64_t job_id;
    int first_page; /* pages of the job confirmed before this call; 0 when receiving */
    int ndocs, cur;  /* batched calls: the jobs in sending order, the one on the line */
    struct wiring_doc {
        uint64_t job_id;
        int first_page;
    } docs[];
};

enum queue_failure wiring_failure_of(enum modem_outcome o)
{
    static const enum queue_failure map[] = {
        [MODEM_OK] = QF_NONE,
        [MODEM_BUSY] = QF_BUSY,
        [MODEM_NO_ANSWER] = QF_NO_ANSWER,
        [MODEM_NO_LINE] = QF_NO_LINE,
        [MODEM_NOT_FAX] = QF_NOT_FAX,
        [MODEM_DROPPED] = QF_DROPPED,
        [MODEM_PERMANENT] = QF_PERMANENT,
        [MODEM_ABORTED] = QF_ABORTED,
    };
    if ((unsigned)o >= sizeof map / sizeof map[0])
        return QF_PERMANENT;
    return map[o];
}

static void on_status(void *user, const char *device_status)
{
    struct wiring_call *c = user;
    queue_call_status(c->q, c->job_id, device_status);
}

static void on_log(void *user, const char *line)
{
    struct wiring_call *c = user;
    queue_call_log(c->q, c->job_id, line);
}

static void on_page_confirmed(void *user, int pages_sent)
{
    struct wiring_call *c = user;
    queue_call_pages_confirmed(c->q, c->job_id, c->first_page + pages_sent);
}

/* The transport (audio, g711, t38) is a job property and a line of the
 * job's transcript, where it explains the T.30 lines around it. */
static void wiring_log_transport(struct queue *q, uint64_t job_id, const char *transport)
{
    char line[64];
    if (!transport[0])
        return;
    snprintf(line, sizeof line, "transport: %s", transport);
    queue_call_log(q, job_id, line);
}

/* The one converter of a call's result: a send (struct modem_result) and a
 * receive (struct modem_rx_result) report the same fields under two types;
 * call_pages are the pages of this call, made pages of the job. */
#define WIRING_RESULT_OF(c, r, call_pages)                                                                    \
    ((struct queue_call_result){                                                                              \
        .failure = wiring_failure_of((r)->outcome),                                                           \
        .code = (r)->code,                                                                                    \
        .text = (r)->text,                                                                                    \
        .pages_sent = (c)->first_page + (call_pages),                                                         \
        .bit_rate = (r)->bit_rate,                                                                            \
        .ecm = (r)->ecm,                                                                                      \
        .compression = (r)->compression,                                                                      \
        .remote_id = (r)->remote_id,                                                                          \
        .duration = (int)((r)->duration + 0.5),                                                               \
        .transport = (r)->transport,                                                                          \
    })

/* The end of a call, sent or received: one report, then c is freed. */
static void wiring_call_end(struct wiring_call *c, const struct queue_call_result *res, bool received)
{
    wiring_log_transport(c->q, c->job_id, res->transport);
    if (received)
        queue_receive_finished(c->q, c->job_id, res);
    else
        queue_call_finished(c->q, c->job_id, res);
    free(c);
}

static void on_finished(void *user, const struct modem_result *r)
{
    struct wiring_call *c = user;
    wiring_call_end(c, &WIRING_RESULT_OF(c, r, r->pages_sent), false);
}

/* A batched call: the next job may follow in the same call while the
 * queue still wants it sent (not canceled or paused meanwhile). */
static bool on_document_next(void *user, int doc)
{
    struct wiring_call *c = user;
    if (doc <= c->cur || doc >= c->ndocs)
        return false;
    return queue_call_next_document(c->q, c->docs[doc].job_id);
}

/* The job on the line is complete; the next one takes its place. */
static void on_document_done(void *user, int doc, const struct modem_result *r)
{
    struct wiring_call *c = user;
    if (doc != c->cur || doc + 1 >= c->ndocs)
        return;
    struct queue_call_result res = WIRING_RESULT_OF(c, r, r->pages_sent);
    wiring_log_transport(c->q, c->job_id, res.transport);
    queue_call_finished(c->q, c->job_id, &res);
    c->cur = doc + 1;
    c->job_id = c->docs[c->cur].job_id;
    c->first_page = c->docs[c->cur].first_page;
}

/* The call ended: the job on the line gets the result; the jobs after it
 * were never sent and go back to the queue. */
static void on_batch_finished(void *user, const struct modem_result *r)
{
    struct wiring_call *c = user;
    struct queue_call_result res = WIRING_RESULT_OF(c, r, r->pages_sent);
    wiring_log_transport(c->q, c->job_id, res.transport);
    queue_call_finished(c->q, c->job_id, &res);
    for (int d = c->cur + 1; d < c->ndocs; d++)
        queue_call_not_sent(c->q, c->docs[d].job_id, c->docs[c->cur].job_id);
    free(c);
}

static const struct modem_events wiring_events = {
    .status = on_status,
    .log = on_log,
    .page_confirmed = on_page_confirmed,
    .finished = on_finished,
};

static const struct modem_events wiring_batch_events = {
    .status = on_status,
    .log = on_log,
    .page_confirmed = on_page_confirmed,
    .finished = on_batch_finished,
    .document_next = on_document_next,
    .document_done = on_document_done,
};

static int wiring_start(void *ctx, const struct queue_call *call)
{
    struct wiring *w = ctx;
    int nmore = call->nmore > 0 && call->more ? call->nmore : 0;
    if (nmore >= MODEM_MAX_DOCUMENTS)
        nmore = MODEM_MAX_DOCUMENTS - 1;
    struct wiring_call *c = malloc(sizeof *c + (size_t)(nmore + 1) * sizeof c->docs[0]);
    struct modem_document *more = nmore ? calloc((size_t)nmore, sizeof *more) : NULL;
    if (!c || (nmore && !more)) {
        free(c);
        free(more);
        return -ENOMEM;
    }
    *c = (struct wiring_call){.q = w->q, .job_id = call->job_id, .first_page = call->first_page,
                              .ndocs = nmore + 1};
    c->docs[0] = (struct wiring_doc){call->job_id, call->first_page};
    for (int d = 0; d < nmore; d++) {
        const struct queue_call_doc *qd = &call->more[d];
        c->docs[d + 1] = (struct wiring_doc){qd->job_id, qd->first_page};
        more[d] = (struct modem_document){qd->page_paths, qd->page_count, qd->first_page + 1, qd->total_pages};
    }
    struct modem_send_request req = {
        .number = call->number,
        .page_paths = call->page_paths,
        .page_count = call->page_count,
        .first_page_number = call->first_page + 1,
        .total_pages = call->total_pages,
        .tsid = call->tsid,
        .header = call->sender_name,
        .ecm = call->ecm,
        .ecm_set = call->ecm >= 0,
        .max_bit_rate = call->max_bit_rate,
        .min_bit_rate = call->min_bit_rate,
        .no_t38 = call->t38 == 0,
        .more = more,
        .nmore = nmore,
    };
    int rc = modem_send(w->pool, call->channel, &req, nmore ? &wiring_batch_events : &wiring_events, c);
    free(more);
    if (rc < 0)
        free(c);
    return rc;
}

static void wiring_abort(void *ctx, int channel)
{
    struct wiring *w = ctx;
    modem_abort(w->pool, channel);
}

/* A line is usable when its pool line says so (SIP lines that register
 * need a registration); why gets the status text either way. */
static bool wiring_usable(void *ctx, int line, char *why, size_t len)
{
    struct wiring *w = ctx;
    struct modem_line_status st;
    if (!w->pool || modem_pool_line_status(w->pool, line, &st) != 0) {
        snprintf(why, len, "no such line");
        return false;
    }
    snprintf(why, len, "%s", st.text[0] ? st.text : st.reg == MODEM_LINE_REG_NONE ? "none" : "unknown");
    return st.usable;
}

struct queue_line_ops wiring_line_ops(struct wiring *w)
{
    return (struct queue_line_ops){.start = wiring_start, .abort = wiring_abort, .usable = wiring_usable, .ctx = w};
}

/* ---- inbound calls: each becomes a receive job ---- */

static void *rx_begin(void *ctx, const struct modem_inbound_call *call)
{
    struct wiring *w = ctx;
    struct queue *q = __atomic_load_n(&w->inbound_q, __ATOMIC_ACQUIRE);
    if (!q)
        return NULL;
    struct wiring_call *rx = malloc(sizeof *rx);
    if (!rx)
        return NULL;
    *rx = (struct wiring_call){.q = q};
    if (queue_receive_begin_called(q, call->channel, call->caller_id ? call->caller_id : "",
                                   call->called_number ? call->called_number : "", &rx->job_id) < 0) {
        free(rx);
        return NULL;
    }
    return rx;
}

static int rx_page(void *user, int page_number, const char *tiff_path)
{
    struct wiring_call *rx = user;
    (void)page_number; /* the queue numbers pages in arrival order */
    int fd = open(tiff_path, O_RDONLY | O_CLOEXEC);
    if (fd < 0)
        return -errno;
    int rc = queue_receive_page(rx->q, rx->job_id, fd);
    close(fd);
    return rc;
}

static void rx_finished(void *user, const struct modem_rx_result *r)
{
    struct wiring_call *rx = user;
    wiring_call_end(rx, &WIRING_RESULT_OF(rx, r, r->pages_received), true);
}

static void rx_notice(void *ctx, const char *line)
{
    struct wiring *w = ctx;
    if (w->log)
        w->log(LOG_NOTICE, line);
}

const struct modem_inbound_ops wiring_inbound_ops = {
    .begin = rx_begin,
    .page = rx_page,
    .status = on_status,
    .log = on_log,
    .finished = rx_finished,
    .notice = rx_notice,
};

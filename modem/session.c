/*
 * session.c - one outgoing fax call: dial over a line driver, run a
 * spandsp T.30 sender, report progress and the result; and the entry
 * points the pool drives every call through (inbound: session_inbound.c).
 * spandsp's handlers only record flags; events, hang-up and freeing
 * happen after the DSP call returns, in session_service.
 */
#include "modem/session.h"

#include <errno.h>
#include <stdarg.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <time.h>
#include <unistd.h>

#include <tiffio.h>
#include <spandsp.h>

#include "modem/elapsed.h"
#include "modem/result.h"
#include "modem/session_inbound.h"
#include "modem/session_state.h"

/* A backstop beyond spandsp's own timers: no call may hold a line longer
 * than this much line time, whatever the far end does. */
#define SESSION_MAX_SAMPLES(pages) ((long)(600 + 300 * (long)(pages)) * 8000)

static void session_status(struct session *s, const char *fmt, ...) __attribute__((format(printf, 2, 3)));
static void session_status(struct session *s, const char *fmt, ...)
{
    char text[128];
    va_list ap;
    va_start(ap, fmt);
    vsnprintf(text, sizeof text, fmt, ap);
    va_end(ap);
    if (s->ev.status)
        s->ev.status(s->user, text);
}

static void session_log(struct session *s, const char *fmt, ...) __attribute__((format(printf, 2, 3)));
static void session_log(struct session *s, const char *fmt, ...)
{
    char text[256];
    va_list ap;
    va_start(ap, fmt);
    vsnprintf(text, sizeof text, fmt, ap);
    va_end(ap);
    if (s->ev.log)
        s->ev.log(s->user, text);
}

static int session_phase_b(t30_state_t *t30, void *user, int result)
{
    (void)t30; (void)result;
    struct session *s = user;
    s->check_progress = true;
    return T30_ERR_OK;
}

static int session_phase_d(t30_state_t *t30, void *user, int result)
{
    (void)t30; (void)result;
    struct session *s = user;
    s->check_progress = true;
    return T30_ERR_OK;
}

static void session_phase_e(t30_state_t *t30, void *user, int code)
{
    (void)t30;
    struct session *s = user;
    s->t30_done = true;
    s->t30_code = code;
}

/* Confirmation to receive: training worked and a page is about to go. */
static void session_frame(t30_state_t *t30, void *user, int incoming, const uint8_t *msg, int len)
{
    (void)t30;
    struct session *s = user;
    if (incoming && len >= 3 && (msg[2] & 0xFE) == T30_CFR)
        s->training_ok = true;
    if (incoming && len >= 3)
        s->check_progress = true;
    if (len < 3)
        return;
    int fcf = msg[2] & 0xFE;
    if (!incoming && (fcf == T30_MPS || fcf == T30_EOM || fcf == T30_PRI_MPS || fcf == T30_PRI_EOM || fcf == T30_PPS))
        s->page_due = true;
    else if (incoming && (msg[1] & 0x10)) /* a final frame: the far end's answer was acted on */
        s->page_due = false;
}

/* The documents of the call: the request's pages first, then each
 * further document of a batch (their pages follow in the same file). */
static int session_init_docs(struct session *s, const struct session_params *p)
{
    const struct modem_send_request *req = p->req;
    int nmore = req->more ? req->nmore : 0;
    s->docs = calloc((size_t)nmore + 1, sizeof *s->docs);
    if (!s->docs)
        return -ENOMEM;
    s->ndocs = nmore + 1;
    s->docs[0] = (struct session_doc){.first_page = s->first_page, .total_pages = s->total_pages,
                                      .page_count = s->page_count};
    s->max_samples = SESSION_MAX_SAMPLES(s->page_count);
    for (int d = 1; d <= nmore; d++) {
        const struct modem_document *m = &req->more[d - 1];
        struct session_doc *doc = &s->docs[d];
        doc->first_page = m->first_page_number > 0 ? m->first_page_number : 1;
        doc->page_count = m->page_count;
        doc->total_pages = m->total_pages >= doc->first_page - 1 + m->page_count
                               ? m->total_pages : doc->first_page - 1 + m->page_count;
        s->max_samples += SESSION_MAX_SAMPLES(m->page_count) - SESSION_MAX_SAMPLES(0) + 60L * 8000;
    }
    return 0;
}

struct session *session_create(const struct session_params *p)
{
    struct session *s = calloc(1, sizeof *s);
    if (!s)
        return NULL;
    const struct modem_send_request *req = p->req;
    s->drv = p->driver;
    s->line = p->line;
    s->phase = PHASE_DIAL;
    snprintf(s->number, sizeof s->number, "%s", req->number);
    snprintf(s->tx_file, sizeof s->tx_file, "%s", p->tx_file ? p->tx_file : "");
    snprintf(s->tsid, sizeof s->tsid, "%s", req->tsid && req->tsid[0] ? req->tsid : p->default_tsid ? p->default_tsid : "");
    snprintf(s->header, sizeof s->header, "%s", req->header ? req->header : "");
    snprintf(s->tz, sizeof s->tz, "%s", p->header_tz ? p->header_tz : "UTC0");
    if (p->join_error)
        snprintf(s->join_error, sizeof s->join_error, "%s", p->join_error);
    s->first_page = req->first_page_number > 0 ? req->first_page_number : 1;
    s->page_count = req->page_count;
    s->total_pages = req->total_pages >= s->first_page - 1 + req->page_count
                         ? req->total_pages : s->first_page - 1 + req->page_count;
    s->ecm = req->ecm_set ? (req->ecm ? 1 : 0) : -1;
    s->max_bit_rate = req->max_bit_rate;
    s->min_bit_rate = req->min_bit_rate;
    s->no_t38 = req->no_t38;
    s->ev = *p->ev;
    s->user = p->user;
    s->res.bit_rate = -1;
    s->res.ecm = -1;
    atomic_init(&s->abort_requested, false);
    if (session_init_docs(s, p) != 0) {
        free(s);
        return NULL;
    }
    return s;
}

/* Line time of the current document: from its start (the dial for the
 * first) to now. */
static double session_doc_duration(const struct session *s)
{
    if (s->drv->clock == LINE_CLOCK_POOL)
        return (double)(s->samples - s->doc_samples) / 8000.0;
    return elapsed_seconds(&s->doc_started);
}



static void session_set_transport(struct session *s)
{
    const char *t = s->eng.kind == LINE_MEDIA_T38 ? "t38" : s->drv->transport ? "g711" : "audio";
    snprintf(s->res.transport, sizeof s->res.transport, "%s", t);
}

/* Whether T.30 runs (a started engine that is only prepared for the
 * answer does not). */
static bool session_t30_live(const struct session *s)
{
    return fax_engine_started(&s->eng) && !s->eng_prepared;
}

/* T.30 on the given media, from the first page not yet confirmed. */
static int session_start_t30(struct session *s, enum line_media kind)
{
    if (fax_engine_start(&s->eng, kind, true, session_send_ifp, s) != 0)
        return -ENOMEM;
    session_set_transport(s);
    t30_state_t *t30 = s->eng.t30;
    fax_engine_setup_t30(&s->eng, s->tsid, s->tz, s->ev.log, s->user);
    fax_engine_limit(&s->eng, s->ecm, s->max_bit_rate, s->min_bit_rate);
    if (s->header[0])
        t30_set_tx_page_header_info(t30, s->header);
    t30_set_tx_file(t30, s->tx_file, s->call_pages > 0 ? s->call_pages : -1, -1);
    t30_set_phase_b_handler(t30, session_phase_b, s);
    t30_set_phase_d_handler(t30, session_phase_d, s);
    t30_set_phase_e_handler(t30, session_phase_e, s);
    t30_set_real_time_frame_handler(t30, session_frame, s);
    s->page_due = true; /* the far end's DIS makes spandsp encode the first page */
    return 0;
}

/* The current document was confirmed to its last page and the next one
 * follows (it is already on the line: after MPS the next page starts at
 * once): the current one is reported done, the next takes the line. */
static void session_next_document(struct session *s, const t30_stats_t *st)
{
    int next = s->cur + 1;
    struct modem_result r = {.outcome = MODEM_OK, .pages_sent = s->pages_confirmed, .bit_rate = st->bit_rate,
                             .ecm = st->error_correcting_mode ? 1 : 0, .duration = session_doc_duration(s)};
    snprintf(r.compression, sizeof r.compression, "%s", fax_engine_compression_name(st->encoding));
    const char *ident = t30_get_rx_ident(s->eng.t30);
    snprintf(r.remote_id, sizeof r.remote_id, "%s", ident ? ident : "");
    snprintf(r.transport, sizeof r.transport, "%s", s->res.transport);
    session_log(s, "document %d of this call sent: %d page(s) confirmed; document %d follows", s->cur + 1,
                s->pages_confirmed, next + 1);
    if (s->ev.document_done)
        s->ev.document_done(s->user, s->cur, &r);
    s->doc_base += s->page_count;
    s->cur = next;
    const struct session_doc *d = &s->docs[s->cur];
    s->first_page = d->first_page;
    s->total_pages = d->total_pages;
    s->page_count = d->page_count;
    s->pages_confirmed = 0;
    s->announced_page = 0;
    s->doc_samples = s->samples;
    clock_gettime(CLOCK_MONOTONIC, &s->doc_started);
    session_log(s, "document %d of this call: %d page(s) to send", s->cur + 1, s->page_count);
}

/* Pages confirmed over the whole call become pages of the document on
 * the line; once it is complete, the next accepted document takes over. */
static void session_count_pages(struct session *s, const t30_stats_t *st)
{
    if (s->pages_base + st->pages_tx > s->call_pages)
        s->call_pages = s->pages_base + st->pages_tx;
    for (;;) {
        int in_doc = s->call_pages - s->doc_base;
        if (in_doc > s->page_count)
            in_doc = s->page_count;
        if (in_doc > s->pages_confirmed) {
            s->pages_confirmed = in_doc;
            if (s->ev.page_confirmed)
                s->ev.page_confirmed(s->user, s->pages_confirmed);
        }
        if (s->pages_confirmed < s->page_count || s->cur + 1 >= s->ndocs || s->declined)
            return;
        /* The next document's first page is on the line already: a job
         * that is no longer wanted (canceled, paused) ends the call here. */
        if (!s->ev.document_next || !s->ev.document_next(s->user, s->cur + 1)) {
            s->declined = true;
            return;
        }
        session_next_document(s, st);
    }
}

/* Progress is read from spandsp's statistics after the DSP call, never
 * from inside a handler. */
static void session_report_progress(struct session *s)
{
    t30_stats_t st;
    t30_get_transfer_statistics(s->eng.t30, &st);
    session_count_pages(s, &st);
    if (s->min_bit_rate > 0 && s->training_ok && st.bit_rate > 0 && st.bit_rate < s->min_bit_rate)
        s->too_slow = st.bit_rate;
    bool sending = s->training_ok && s->pages_confirmed < s->page_count;
    int page = s->first_page + s->pages_confirmed;
    if (sending && page != s->announced_page) {
        s->announced_page = page;
        session_status(s, "sending page %d of %d at %d bps", page, s->total_pages, st.bit_rate);
    }
}

static void session_fill_stats(struct session *s)
{
    t30_state_t *t30 = s->eng.t30;
    t30_stats_t st;
    t30_get_transfer_statistics(t30, &st);
    session_count_pages(s, &st);
    s->res.bit_rate = st.bit_rate;
    s->res.ecm = st.error_correcting_mode ? 1 : 0;
    snprintf(s->res.compression, sizeof s->res.compression, "%s", fax_engine_compression_name(st.encoding));
    const char *ident = t30_get_rx_ident(t30);
    snprintf(s->res.remote_id, sizeof s->res.remote_id, "%s", ident ? ident : "");
}

static void session_hang_up(struct session *s)
{
    if (s->call) {
        session_status(s, "hanging up");
        s->drv->hangup(s->call);
        s->call = NULL;
    }
    if (s->eng_prepared) { /* never answered: nothing happened on it */
        s->eng_prepared = false;
        fax_engine_free(&s->eng);
        s->res.transport[0] = '\0';
    }
    if (fax_engine_started(&s->eng)) {
        session_fill_stats(s);
        if (s->eng.guard.dropped > 0)
            session_log(s, "%ld malformed frame(s) from the remote were dropped", s->eng.guard.dropped);
        fax_engine_free(&s->eng);
    }
    if (s->tx_file[0])
        unlink(s->tx_file);
    s->res.pages_sent = s->pages_confirmed;
    s->res.duration = session_doc_duration(s);
    s->phase = PHASE_OVER;
}

static void session_end_t30(struct session *s)
{
    session_fill_stats(s);
    result_from_t30(&s->res, s->t30_code);
    session_hang_up(s);
}

static void session_give_up(struct session *s)
{
    if (session_t30_live(s) && !s->t30_done)
        t30_terminate(s->eng.t30);
    session_log(s, "the call exceeded its time limit");
    result_set(&s->res, MODEM_DROPPED, "call_timeout", "The call took too long and was ended.");
    session_hang_up(s);
}

/* Training settled below the job's minimum bit rate: the call ends, and
 * is retried like a dropped one (the line may be better next time). */
static void session_too_slow(struct session *s)
{
    char text[160];
    if (session_t30_live(s) && !s->t30_done)
        t30_terminate(s->eng.t30);
    snprintf(text, sizeof text, "The line trained at %d bps, below the minimum of %d bps; the call was ended.",
             s->too_slow, s->min_bit_rate);
    session_log(s, "%s", text);
    result_set(&s->res, MODEM_DROPPED, "bit_rate_too_low", text);
    session_hang_up(s);
}

/* The next document of a batch was declined: the current one is complete,
 * so the call ends as a success for it. */
static void session_end_declined(struct session *s)
{
    if (session_t30_live(s) && !s->t30_done)
        t30_terminate(s->eng.t30);
    session_log(s, "the next document is no longer wanted: the call ends after this one");
    result_set(&s->res, MODEM_OK, "", "");
    session_hang_up(s);
}

static void session_abort_now(struct session *s)
{
    if (session_t30_live(s) && !s->t30_done)
        t30_terminate(s->eng.t30);
    result_set(&s->res, MODEM_ABORTED, "aborted", "The call was aborted.");
    session_hang_up(s);
}

static void session_dial(struct session *s)
{
    clock_gettime(CLOCK_MONOTONIC, &s->started);
    s->doc_started = s->started;
    if (s->join_error[0]) {
        result_set(&s->res, MODEM_PERMANENT, "bad_page", s->join_error);
        session_hang_up(s);
        return;
    }
    session_status(s, "dialing %s", s->number);
    int rc = s->drv->dial(s->line, s->number, &s->call);
    if (rc != 0) {
        s->call = NULL;
        char text[160];
        snprintf(text, sizeof text, "The call could not be placed: %s.", strerror(-rc));
        result_set(&s->res, rc == -EINVAL ? MODEM_PERMANENT : MODEM_DROPPED, "line_failed", text);
        session_hang_up(s);
        return;
    }
    if (s->no_t38 && s->drv->forbid_t38)
        s->drv->forbid_t38(s->call);
    s->phase = PHASE_RINGING;
    /* Building spandsp's state takes about a millisecond: done with the
     * dial (off the pool's tick when the pool says so), not at the answer.
     * Audio, the media nearly every call starts on; out of memory here
     * just leaves it to the answer. */
    if (session_start_t30(s, LINE_MEDIA_AUDIO) == 0)
        s->eng_prepared = true;
    else
        fax_engine_free(&s->eng);
}

/* Packet lines: what arrived goes in as it is; one tick of ours goes out. */
static void session_sink_audio(void *user, const int16_t *buf, int n)
{
    struct session *s = user;
    if (s->phase == PHASE_T30)
        fax_engine_rx_audio(&s->eng, buf, n);
}

static void session_sink_lost(void *user, int n)
{
    struct session *s = user;
    if (s->phase == PHASE_T30)
        fax_engine_rx_lost(&s->eng, n);
}

static void session_sink_ifp(void *user, const uint8_t *buf, int len, uint16_t seq)
{
    struct session *s = user;
    if (s->phase == PHASE_T30)
        fax_engine_rx_ifp(&s->eng, buf, len, seq);
}

static const struct line_packet_sink session_sink = {
    .audio = session_sink_audio, .audio_lost = session_sink_lost, .ifp = session_sink_ifp,
};

/* The peer (or our re-INVITE) moved the call to other media: T.30
 * starts again there, from the first page not yet confirmed. */
static void session_follow_media(struct session *s)
{
    enum line_media m = s->drv->media(s->call);
    if (m == s->eng.kind || s->t30_done)
        return;
    char note[64];
    session_log(s, "the call switched to %s%s", m == LINE_MEDIA_T38 ? "T.38" : "G.711 audio",
                session_media_note(s, note, sizeof note));
    session_fill_stats(s);
    fax_engine_free(&s->eng);
    s->pages_base = s->call_pages;
    if (session_start_t30(s, m) != 0) {
        result_set(&s->res, MODEM_DROPPED, "no_memory", "Out of memory switching the call to T.38.");
        session_hang_up(s);
    }
}

static int session_exchange_packets(struct session *s)
{
    int16_t tx[LINE_BLOCK];
    s->samples += LINE_BLOCK;
    fax_engine_log_enter(&s->eng);
    s->drv->receive(s->call, &session_sink, s);
    if (s->phase == PHASE_T30) {
        session_follow_media(s);
    }
    if (s->phase == PHASE_T30 && s->eng.kind == LINE_MEDIA_T38) {
        fax_engine_tick(&s->eng, LINE_BLOCK);
    } else {
        if (s->phase == PHASE_T30)
            fax_engine_tx_audio(&s->eng, tx, LINE_BLOCK);
        else
            memset(tx, 0, sizeof tx);
        if (s->phase != PHASE_OVER)
            s->drv->write(s->call, tx, LINE_BLOCK);
    }
    fax_engine_log_leave();
    return LINE_BLOCK;
}

/* One exchange: the far end's audio into T.30, as much of ours back. */
static int session_exchange(struct session *s)
{
    if (s->drv->receive)
        return s->phase == PHASE_RINGING ? 0 : session_exchange_packets(s);
    int16_t rx[LINE_BLOCK], tx[LINE_BLOCK];
    int n = s->drv->read(s->call, rx, LINE_BLOCK);
    if (s->drv->clock == LINE_CLOCK_POOL)
        s->samples += LINE_BLOCK;
    if (n <= 0)
        return n;
    if (s->drv->clock != LINE_CLOCK_POOL)
        s->samples += n;
    if (s->phase == PHASE_T30) {
        fax_engine_log_enter(&s->eng);
        fax_engine_rx_audio(&s->eng, rx, n);
        fax_engine_tx_audio(&s->eng, tx, n);
        fax_engine_log_leave();
    } else {
        memset(tx, 0, sizeof(int16_t) * (size_t)n);
    }
    s->drv->write(s->call, tx, n);
    return n;
}

static void session_on_answer(struct session *s)
{
    session_log(s, "answered: %s", s->number);
    enum line_media m = s->drv->media ? s->drv->media(s->call) : LINE_MEDIA_AUDIO;
    if (s->eng_prepared) {
        s->eng_prepared = false;
        if (s->eng.kind != m)
            fax_engine_free(&s->eng);
    }
    if (!fax_engine_started(&s->eng) && session_start_t30(s, m) != 0) {
        result_set(&s->res, MODEM_DROPPED, "no_memory", "Out of memory starting the fax session.");
        session_hang_up(s);
        return;
    }
    s->phase = PHASE_T30;
    session_status(s, "connected to %s", s->number);
}

/* Reacts to the line after an exchange: answered, failed, hung up. */
static void session_check_line(struct session *s)
{
    enum line_state st = s->drv->state(s->call);
    if (s->phase == PHASE_RINGING) {
        if (st == LINE_ANSWERED) {
            session_on_answer(s);
        } else if (st != LINE_DIALING) {
            result_from_line(&s->res, st);
            const char *why = s->drv->error_text ? s->drv->error_text(s->call) : NULL;
            if (st == LINE_FAILED && why && why[0]) {
                char text[192];
                snprintf(text, sizeof text, "The call could not be placed: %s.", why);
                result_set(&s->res, MODEM_DROPPED, "line_failed", text);
            }
            const char *code = st == LINE_NO_LINE && s->drv->error_code ? s->drv->error_code(s->call) : NULL;
            if (code && code[0]) { /* the line's fault: another line may do */
                char text[192];
                snprintf(text, sizeof text, "The line is unavailable: %s.", why && why[0] ? why : code);
                result_set(&s->res, MODEM_NO_LINE, code, text);
            }
            session_log(s, "call not answered: %s", s->res.text);
            session_hang_up(s);
        }
        return;
    }
    if (st != LINE_ANSWERED && !s->t30_done) {
        /* The far end left mid-call: let T.30 conclude with what it has. */
        fax_engine_log_enter(&s->eng);
        t30_terminate(s->eng.t30);
        fax_engine_log_leave();
        session_log(s, "the remote hung up");
        if (!s->t30_done) {
            session_fill_stats(s);
            result_from_line(&s->res, LINE_HUNG_UP);
            session_hang_up(s);
        }
    }
}

bool session_service(struct session *s)
{
    if (s->role == SESSION_RECEIVE)
        return session_inbound_service(s);
    if (s->phase == PHASE_OVER)
        return true;
    if (atomic_load_explicit(&s->abort_requested, memory_order_acquire)) {
        session_abort_now(s);
        return true;
    }
    if (s->phase == PHASE_DIAL) {
        session_dial(s);
        return s->phase == PHASE_OVER;
    }
    int rounds = s->drv->clock == LINE_CLOCK_FD ? SESSION_FD_BLOCKS_PER_SERVICE : 1;
    bool audio = s->phase == PHASE_T30 && s->eng.kind == LINE_MEDIA_AUDIO && fax_engine_started(&s->eng);
    if (audio && s->eng.guard.held_n > 0) {
        /* The far end's frame, held last tick: T.30 acts on it now. */
        fax_engine_log_enter(&s->eng);
        hdlc_guard_release(&s->eng.guard);
        fax_engine_log_leave();
    }
    for (int i = 0; i < rounds && s->phase != PHASE_OVER; i++) {
        if (s->phase == PHASE_T30 && s->eng.kind == LINE_MEDIA_AUDIO && fax_engine_started(&s->eng))
            s->eng.guard.defer_final = s->deferrable && s->page_due;
        int n = session_exchange(s);
        if (s->phase == PHASE_T30 && s->check_progress) {
            s->check_progress = false;
            session_report_progress(s);
            if (s->too_slow) {
                session_too_slow(s);
                break;
            }
            if (s->declined) {
                session_end_declined(s);
                break;
            }
        }
        if (s->phase == PHASE_T30 && s->t30_done) {
            session_end_t30(s);
            break;
        }
        session_check_line(s);
        if (s->phase == PHASE_T30 && s->t30_done)
            session_end_t30(s);
        else if (s->phase != PHASE_OVER && s->samples > s->max_samples)
            session_give_up(s);
        if (n <= 0)
            break;
    }
    return s->phase == PHASE_OVER;
}

void session_finish(struct session *s)
{
    if (s->role == SESSION_RECEIVE)
        return; /* the receiver reported when the call ended */
    if (s->res.outcome == MODEM_OK)
        session_log(s, "call ended: fax sent, %d page(s) confirmed", s->res.pages_sent);
    else
        session_log(s, "call ended: %s (%s), %d page(s) confirmed", s->res.code, s->res.text, s->res.pages_sent);
    if (s->ev.finished)
        s->ev.finished(s->user, &s->res);
}

void session_request_abort(struct session *s)
{
    atomic_store_explicit(&s->abort_requested, true, memory_order_release);
}

int session_poll_fd(const struct session *s)
{
    /* The clock first: a clocked call's session may be in the preparation
     * lane's hands (dialing sets s->call there); only fd-clocked calls,
     * which never go to the lane, have their call looked at. */
    if (s->drv->clock != LINE_CLOCK_FD || !s->call)
        return -1;
    return s->drv->poll_fd(s->call);
}

long session_samples(const struct session *s)
{
    return s->samples;
}

void session_free(struct session *s)
{
    if (!s)
        return;
    if (s->role == SESSION_RECEIVE) {
        session_inbound_free(s);
        return;
    }
    if (s->phase != PHASE_OVER)
        session_hang_up(s);
    free(s->docs);
    free(s);
}

bool session_may_block(const struct session *s)
{
    if (s->role != SESSION_SEND)
        return false;
    if (s->phase == PHASE_DIAL)
        return true;
    return s->phase == PHASE_T30 && s->eng.kind == LINE_MEDIA_AUDIO && s->eng.guard.held_n > 0;
}

void session_allow_deferral(struct session *s)
{
    s->deferrable = s->role == SESSION_SEND;
}

enum line_clock session_clock(const struct session *s)
{
    return s->drv->clock;
}

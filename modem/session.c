/*
 * session.c - one outgoing fax call: dial over a line driver, run a
 * spandsp T.30 sender on the audio, report progress and the result.
 * spandsp calls our handlers from inside fax_rx/fax_tx: they only record
 * flags, and everything else (events, hang-up, freeing) happens after
 * the DSP call returns, in session_service.
 */
#include "modem/session.h"

#include <ctype.h>
#include <errno.h>
#include <limits.h>
#include <stdatomic.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <time.h>
#include <unistd.h>

#include <tiffio.h>
#include <spandsp.h>

#include "modem/fax_engine.h"
#include "modem/receiver.h"
#include "modem/result.h"

/* An FD-clocked line may deliver many blocks at once; service at most
 * this many per call so one busy command cannot starve its neighbours. */
#define SESSION_FD_BLOCKS_PER_SERVICE 8
/* A backstop beyond spandsp's own timers: no call may hold a line longer
 * than this much line time, whatever the far end does. */
#define SESSION_MAX_SAMPLES(pages) ((long)(600 + 300 * (long)(pages)) * 8000)
/* Inbound: we do not know how many pages are coming, so the limit grows
 * with each page received; a sender that sends nothing useful (noise,
 * endless carrier) is cut off after 5 minutes of line time. Over it all
 * stands the absolute cap of --receive-max-duration (inbound_max_samples). */
#define SESSION_INBOUND_MAX_SAMPLES(pages) ((long)(300 + 300 * (long)(pages)) * 8000)

enum session_phase { PHASE_DIAL, PHASE_RINGING, PHASE_T30, PHASE_OVER };

struct session {
    enum session_role role;
    const struct line_driver *drv;
    struct line *line;
    struct line_call *call;
    enum session_phase phase;
    struct fax_engine eng;

    /* SESSION_RECEIVE */
    struct inbound_hub *hub;
    int slot;
    struct receiver *rx;

    char number[64];
    char tx_file[PATH_MAX];
    char tsid[21];
    char header[51];
    char tz[32];
    char join_error[192];
    int first_page;       /* job page number of the file's first page */
    int total_pages;      /* pages in the job */
    int page_count;       /* pages in this call's file */
    struct modem_events ev;
    void *user;

    /* Set by spandsp handlers, consumed after fax_rx/fax_tx return. */
    bool t30_done;
    int t30_code;
    bool check_progress;
    bool training_ok;

    int pages_confirmed;  /* in this call */
    int pages_base;       /* confirmed before the current engine (a switch to T.38 restarts T.30) */
    int announced_page;   /* last page announced in a status */
    long samples;         /* line time since dial */
    struct timespec started;
    atomic_bool abort_requested;
    struct modem_result res;
};

/* spandsp 0.0.6 log handlers carry no user pointer: the worker thread
 * running a session's DSP names it here for the duration of the call. */
static _Thread_local struct session *session_logging;

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

/* spandsp's flow-level messages that say nothing to a reader of the job
 * log: capability bit decodes, state numbers, per-frame signal chatter. */
static const char *const session_log_noise[] = {
    "  ", "DIS:", "DCS:", "DTC:", "HDLC signal status", "Bad CRC and timer", "Bad HDLC CRC",
    "Stop ", "Changing from state", "Partial page buffer", "Minimum bits per row",
    "Rx final frame in state", "Start sending document", "Trying to send file",
    "Send complete in phase", "Tx:  FCD", "Tx:  RCP", "Start T", "Is there more to send",
    "Rx:  FCD", "Rx:  RCP", "Storing ECM frame", "Set rx type", "Set tx type", "Queue tx",
    "Non-ECM signal status", "ECM signal status", "ECM carrier not found", "Status changing to",
};

bool session_log_is_noise(const char *text)
{
    for (size_t i = 0; i < sizeof session_log_noise / sizeof session_log_noise[0]; i++)
        if (strncmp(text, session_log_noise[i], strlen(session_log_noise[i])) == 0)
            return true;
    /* Hex dumps of frames follow their decoded name ("Tx:  ff 13 83 ..."). */
    if ((strncmp(text, "Tx:  ", 5) == 0 || strncmp(text, "Rx:  ", 5) == 0) && isxdigit((unsigned char)text[5])
        && isxdigit((unsigned char)text[6]) && text[7] == ' ')
        return true;
    return false;
}

/* Turns spandsp's T.30 log into transcript lines: one line per message,
 * without the trailing newline, protocol flow only. */
static void session_span_log(int level, const char *text)
{
    (void)level;
    struct session *s = session_logging;
    if (!s || !s->ev.log || session_log_is_noise(text))
        return;
    char line[256];
    size_t n = strnlen(text, sizeof line - 8);
    while (n > 0 && (text[n - 1] == '\n' || text[n - 1] == '\r'))
        n--;
    if (n == 0)
        return;
    snprintf(line, sizeof line, "T.30: %.*s", (int)n, text);
    s->ev.log(s->user, line);
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
}

static const char *session_compression_name(int encoding)
{
    switch (encoding) {
    case T4_COMPRESSION_ITU_T4_1D: return "T.4 1D";
    case T4_COMPRESSION_ITU_T4_2D: return "T.4 2D";
    case T4_COMPRESSION_ITU_T6: return "T.6";
    default: return "";
    }
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
    s->ev = *p->ev;
    s->user = p->user;
    s->res.bit_rate = -1;
    s->res.ecm = -1;
    atomic_init(&s->abort_requested, false);
    return s;
}

static void session_send_ifp(void *user, const uint8_t *ifp, int len)
{
    struct session *s = user;
    if (s->call)
        s->drv->send_ifp(s->call, ifp, len);
}

static void session_set_transport(struct session *s)
{
    const char *t = s->eng.kind == LINE_MEDIA_T38 ? "t38" : s->drv->transport ? "g711" : "audio";
    snprintf(s->res.transport, sizeof s->res.transport, "%s", t);
}

/* T.30 on the given media, from the first page not yet confirmed. */
static int session_start_t30(struct session *s, enum line_media kind)
{
    if (fax_engine_start(&s->eng, kind, true, session_send_ifp, s) != 0)
        return -ENOMEM;
    session_set_transport(s);
    t30_state_t *t30 = s->eng.t30;
    if (s->tsid[0])
        t30_set_tx_ident(t30, s->tsid);
    if (s->header[0])
        t30_set_tx_page_header_info(t30, s->header);
    t30_set_tx_page_header_tz(t30, s->tz);
    t30_set_ecm_capability(t30, 1);
    t30_set_supported_compressions(t30, T30_SUPPORT_T4_1D_COMPRESSION | T30_SUPPORT_T4_2D_COMPRESSION
                                            | T30_SUPPORT_T6_COMPRESSION);
    t30_set_supported_modems(t30, T30_SUPPORT_V27TER | T30_SUPPORT_V29 | T30_SUPPORT_V17);
    t30_set_tx_file(t30, s->tx_file, s->pages_base > 0 ? s->pages_base : -1, -1);
    t30_set_phase_b_handler(t30, session_phase_b, s);
    t30_set_phase_d_handler(t30, session_phase_d, s);
    t30_set_phase_e_handler(t30, session_phase_e, s);
    t30_set_real_time_frame_handler(t30, session_frame, s);
    logging_state_t *log = t30_get_logging_state(t30);
    span_log_set_level(log, SPAN_LOG_FLOW);
    span_log_set_message_handler(log, session_span_log);
    return 0;
}

/* Progress is read from spandsp's statistics after the DSP call, never
 * from inside a handler. */
static void session_report_progress(struct session *s)
{
    t30_stats_t st;
    t30_get_transfer_statistics(s->eng.t30, &st);
    if (s->pages_base + st.pages_tx > s->pages_confirmed) {
        s->pages_confirmed = s->pages_base + st.pages_tx;
        if (s->ev.page_confirmed)
            s->ev.page_confirmed(s->user, s->pages_confirmed);
    }
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
    if (s->pages_base + st.pages_tx > s->pages_confirmed)
        s->pages_confirmed = s->pages_base + st.pages_tx;
    s->res.bit_rate = st.bit_rate;
    s->res.ecm = st.error_correcting_mode ? 1 : 0;
    snprintf(s->res.compression, sizeof s->res.compression, "%s", session_compression_name(st.encoding));
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
    if (fax_engine_started(&s->eng)) {
        session_fill_stats(s);
        if (s->eng.guard.dropped > 0)
            session_log(s, "%ld malformed frame(s) from the remote were dropped", s->eng.guard.dropped);
        fax_engine_free(&s->eng);
    }
    if (s->tx_file[0])
        unlink(s->tx_file);
    s->res.pages_sent = s->pages_confirmed;
    if (s->drv->clock == LINE_CLOCK_POOL) {
        s->res.duration = (double)s->samples / 8000.0;
    } else {
        struct timespec now;
        clock_gettime(CLOCK_MONOTONIC, &now);
        s->res.duration = (double)(now.tv_sec - s->started.tv_sec) + (now.tv_nsec - s->started.tv_nsec) / 1e9;
    }
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
    if (fax_engine_started(&s->eng) && !s->t30_done)
        t30_terminate(s->eng.t30);
    session_log(s, "the call exceeded its time limit");
    result_set(&s->res, MODEM_DROPPED, "call_timeout", "The call took too long and was ended.");
    session_hang_up(s);
}

static void session_abort_now(struct session *s)
{
    if (fax_engine_started(&s->eng) && !s->t30_done)
        t30_terminate(s->eng.t30);
    result_set(&s->res, MODEM_ABORTED, "aborted", "The call was aborted.");
    session_hang_up(s);
}

static void session_dial(struct session *s)
{
    clock_gettime(CLOCK_MONOTONIC, &s->started);
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
    s->phase = PHASE_RINGING;
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

/* " (faxfs asked)" when the line can tell who moved the call to its
 * media, "" otherwise: the end of a "switched to" log line. */
static const char *session_media_note(struct session *s, char *out, size_t len)
{
    const char *origin = s->drv->media_origin ? s->drv->media_origin(s->call) : NULL;

    snprintf(out, len, "%s%s%s", origin ? " (" : "", origin ? origin : "", origin ? ")" : "");
    return out;
}

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
    s->pages_base = s->pages_confirmed;
    if (session_start_t30(s, m) != 0) {
        result_set(&s->res, MODEM_DROPPED, "no_memory", "Out of memory switching the call to T.38.");
        session_hang_up(s);
    }
}

static int session_exchange_packets(struct session *s)
{
    int16_t tx[LINE_BLOCK];
    s->samples += LINE_BLOCK;
    session_logging = s;
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
    session_logging = NULL;
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
        session_logging = s;
        fax_engine_rx_audio(&s->eng, rx, n);
        fax_engine_tx_audio(&s->eng, tx, n);
        session_logging = NULL;
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
    if (session_start_t30(s, m) != 0) {
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
            session_log(s, "call not answered: %s", s->res.text);
            session_hang_up(s);
        }
        return;
    }
    if (st != LINE_ANSWERED && !s->t30_done) {
        /* The far end left mid-call: let T.30 conclude with what it has. */
        session_logging = s;
        t30_terminate(s->eng.t30);
        session_logging = NULL;
        session_log(s, "the remote hung up");
        if (!s->t30_done) {
            session_fill_stats(s);
            result_from_line(&s->res, LINE_HUNG_UP);
            session_hang_up(s);
        }
    }
}

static bool session_service_inbound(struct session *s);

bool session_service(struct session *s)
{
    if (s->role == SESSION_RECEIVE)
        return session_service_inbound(s);
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
    for (int i = 0; i < rounds && s->phase != PHASE_OVER; i++) {
        int n = session_exchange(s);
        if (s->phase == PHASE_T30 && s->check_progress) {
            s->check_progress = false;
            session_report_progress(s);
        }
        if (s->phase == PHASE_T30 && s->t30_done) {
            session_end_t30(s);
            break;
        }
        session_check_line(s);
        if (s->phase == PHASE_T30 && s->t30_done)
            session_end_t30(s);
        else if (s->phase != PHASE_OVER && s->samples > SESSION_MAX_SAMPLES(s->page_count))
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
    if (!s->call || s->drv->clock != LINE_CLOCK_FD)
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
        if (s->rx)
            receiver_end(s->rx, RECEIVER_END_ABORTED, NULL, NULL);
        if (s->call)
            s->drv->hangup(s->call);
        inbound_slot_release(s->hub, s->slot);
        free(s);
        return;
    }
    if (s->phase != PHASE_OVER)
        session_hang_up(s);
    free(s);
}

enum line_clock session_clock(const struct session *s)
{
    return s->drv->clock;
}

/* ---- Inbound calls ---------------------------------------------------- */

struct session *session_create_inbound(const struct line_driver *drv, struct line_call *call,
                                       struct inbound_hub *hub, int slot)
{
    struct session *s = calloc(1, sizeof *s);
    if (!s)
        return NULL;
    s->role = SESSION_RECEIVE;
    s->drv = drv;
    s->call = call;
    s->hub = hub;
    s->slot = slot;
    s->phase = PHASE_RINGING;
    atomic_init(&s->abort_requested, false);
    clock_gettime(CLOCK_MONOTONIC, &s->started);
    return s;
}

static const char *session_line_text(struct session *s, const char *(*fn)(struct line_call *))
{
    const char *t = fn && s->call ? fn(s->call) : NULL;
    return t ? t : "";
}

/* A connection that never became a call: one notice, no callbacks. */
static void session_inbound_close(struct session *s)
{
    if (s->call) {
        s->drv->hangup(s->call);
        s->call = NULL;
    }
    s->phase = PHASE_OVER;
}

static void session_inbound_end(struct session *s, enum receiver_end how, const char *code, const char *text)
{
    if (s->call) {
        s->drv->hangup(s->call);
        s->call = NULL;
    }
    s->samples = receiver_samples(s->rx);
    receiver_end(s->rx, how, code, text);
    s->rx = NULL;
    s->phase = PHASE_OVER;
}

/* Ringing: the line learns what the call is (or that it is none). */
static void session_inbound_ring(struct session *s)
{
    int16_t none[1];
    if (s->drv->read)
        s->drv->read(s->call, none, 0); /* takes in what arrived, consumes no audio */
    enum line_state st = s->drv->state(s->call);
    const char *ref = session_line_text(s, s->drv->call_ref);
    if (st == LINE_ANSWERED) {
        s->rx = receiver_start(s->hub, s->slot, s->drv->name, session_line_text(s, s->drv->caller_id), ref);
        if (s->rx) {
            s->phase = PHASE_T30;
            if (ref[0])
                receiver_log(s->rx, "%s call %s", s->drv->name, ref);
            return;
        }
        inbound_notice(s->hub, "%s call %s refused", s->drv->name, ref);
        session_inbound_close(s);
    } else if (st != LINE_DIALING) {
        inbound_notice(s->hub, "%s connection closed before a call began: %s", s->drv->name,
                       session_line_text(s, s->drv->error_text)[0] ? session_line_text(s, s->drv->error_text)
                                                                   : "the peer hung up");
        session_inbound_close(s);
    }
}

/* After an exchange: has the line or T.30 ended the call? */
static void session_inbound_check(struct session *s)
{
    enum line_state st = s->drv->state(s->call);
    const char *why = session_line_text(s, s->drv->error_text);
    if (receiver_done(s->rx)) {
        session_inbound_end(s, RECEIVER_END_T30, NULL, NULL);
    } else if (st == LINE_FAILED) {
        char text[192];
        snprintf(text, sizeof text, "The caller's %s stream was malformed: %s.", s->drv->name, why);
        receiver_log(s->rx, "%s: %s; hanging up", s->drv->name, why);
        session_inbound_end(s, RECEIVER_END_LINE, "line_malformed", text);
    } else if (st != LINE_ANSWERED) {
        receiver_log(s->rx, "the caller hung up%s%s", why[0] ? ": " : "", why);
        session_inbound_end(s, RECEIVER_END_HUNG_UP, NULL, NULL);
    } else if (receiver_pages(s->rx) >= inbound_max_pages(s->hub) && receiver_more_coming(s->rx)) {
        char text[192];
        snprintf(text, sizeof text, "The fax reached the limit of %d pages (--receive-max-pages); the call was "
                 "ended and the pages received are kept.", inbound_max_pages(s->hub));
        receiver_log(s->rx, "the fax reached the page limit (%d); hanging up", inbound_max_pages(s->hub));
        session_inbound_end(s, RECEIVER_END_LINE, "too_many_pages", text);
    } else if (receiver_bytes(s->rx) >= inbound_max_bytes(s->hub) && receiver_more_coming(s->rx)) {
        char text[192];
        snprintf(text, sizeof text, "The fax reached the limit of %lld bytes (--receive-max-mib) after %d "
                 "page(s); the call was ended and the pages received are kept.", inbound_max_bytes(s->hub),
                 receiver_pages(s->rx));
        receiver_log(s->rx, "the fax reached the size limit (%lld bytes); hanging up", inbound_max_bytes(s->hub));
        session_inbound_end(s, RECEIVER_END_LINE, "too_large", text);
    } else if (receiver_samples(s->rx) > SESSION_INBOUND_MAX_SAMPLES(receiver_pages(s->rx))
               || receiver_samples(s->rx) >= inbound_max_samples(s->hub)) {
        receiver_log(s->rx, "the call exceeded its time limit");
        session_inbound_end(s, RECEIVER_END_TIMEOUT, NULL, NULL);
    }
}

/* Inbound packet lines: everything that arrived goes in, one tick of
 * ours goes out; the call follows the caller's switch to T.38. */
static void session_rx_audio(void *user, const int16_t *buf, int n)
{
    receiver_rx(((struct session *)user)->rx, buf, n);
}

static void session_rx_lost(void *user, int n)
{
    receiver_rx_lost(((struct session *)user)->rx, n);
}

static void session_rx_ifp(void *user, const uint8_t *buf, int len, uint16_t seq)
{
    receiver_rx_ifp(((struct session *)user)->rx, buf, len, seq);
}

static const struct line_packet_sink session_rx_sink = {
    .audio = session_rx_audio, .audio_lost = session_rx_lost, .ifp = session_rx_ifp,
};

static void session_inbound_packets(struct session *s)
{
    s->drv->receive(s->call, &session_rx_sink, s);
    enum line_media m = s->drv->media(s->call);
    if (m != receiver_media(s->rx)) {
        char note[64];
        if (receiver_switch(s->rx, m, session_media_note(s, note, sizeof note), session_send_ifp, s) != 0) {
            session_inbound_end(s, RECEIVER_END_LINE, "no_memory", "Out of memory switching the call to T.38.");
            return;
        }
    }
    receiver_clock(s->rx, LINE_BLOCK);
    if (m == LINE_MEDIA_T38) {
        receiver_tick(s->rx, LINE_BLOCK);
    } else {
        int16_t tx[LINE_BLOCK];
        receiver_tx(s->rx, tx, LINE_BLOCK);
        s->drv->write(s->call, tx, LINE_BLOCK);
    }
    receiver_service(s->rx);
    session_inbound_check(s);
}

static bool session_service_inbound(struct session *s)
{
    if (s->phase == PHASE_OVER)
        return true;
    bool abort = atomic_load_explicit(&s->abort_requested, memory_order_acquire);
    if (s->phase == PHASE_RINGING) {
        if (abort)
            session_inbound_close(s);
        else
            session_inbound_ring(s);
        if (s->phase != PHASE_T30)
            return s->phase == PHASE_OVER;
        /* Answered: audio that came with the UUID is waiting already. */
    }
    if (abort) {
        session_inbound_end(s, RECEIVER_END_ABORTED, NULL, NULL);
        return true;
    }
    if (s->drv->receive) {
        session_inbound_packets(s);
        return s->phase == PHASE_OVER;
    }
    int rounds = s->drv->clock == LINE_CLOCK_FD ? SESSION_FD_BLOCKS_PER_SERVICE : 1;
    for (int i = 0; i < rounds && s->phase != PHASE_OVER; i++) {
        int16_t rx[LINE_BLOCK], tx[LINE_BLOCK];
        int n = s->drv->read(s->call, rx, LINE_BLOCK);
        if (n > 0) {
            receiver_rx(s->rx, rx, n);
            receiver_tx(s->rx, tx, n);
            s->drv->write(s->call, tx, n);
            receiver_service(s->rx);
        }
        session_inbound_check(s);
        if (n <= 0)
            break;
    }
    return s->phase == PHASE_OVER;
}

/*
 * session_inbound.c - the answering half of a call: an accepted line
 * call rings until the line knows what it is, then a receiver (receiver.c)
 * takes its audio or IFPs until T.30, the line, a cap per received fax
 * (pages, bytes, line time) or an abort ends it.
 */
#include "modem/session_inbound.h"

#include <stdbool.h>
#include <stdint.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <time.h>

#include "modem/receiver.h"
#include "modem/session_state.h"

/* We do not know how many pages are coming, so the limit grows with each
 * page received; a sender that sends nothing useful (noise, endless
 * carrier) is cut off after 5 minutes of line time. Over it all stands
 * the absolute cap of --receive-max-duration (inbound_max_samples). */
#define SESSION_INBOUND_MAX_SAMPLES(pages) ((long)(300 + 300 * (long)(pages)) * 8000)

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
        s->rx = receiver_start(s->hub, s->slot, s->drv->name, session_line_text(s, s->drv->caller_id),
                               session_line_text(s, s->drv->called_number), ref);
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

bool session_inbound_service(struct session *s)
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

void session_inbound_free(struct session *s)
{
    if (s->rx)
        receiver_end(s->rx, RECEIVER_END_ABORTED, NULL, NULL);
    if (s->call)
        s->drv->hangup(s->call);
    inbound_slot_release(s->hub, s->slot);
    free(s);
}

/*
 * session_state.h - the state of one call, shared by its two halves: an
 * outgoing call (session.c) and an inbound one (session_inbound.c), and
 * the small line helpers both use. Private to those two files; the pool
 * sees only session.h.
 */
#ifndef FAXFS_MODEM_SESSION_STATE_H
#define FAXFS_MODEM_SESSION_STATE_H

#include <limits.h>
#include <stdatomic.h>
#include <stdbool.h>
#include <stdio.h>
#include <time.h>

#include "modem/fax_engine.h"
#include "modem/line.h"
#include "modem/modem.h"

/* An FD-clocked line may deliver many blocks at once; service at most
 * this many per call so one busy command cannot starve its neighbours. */
#define SESSION_FD_BLOCKS_PER_SERVICE 8

enum session_role { SESSION_SEND, SESSION_RECEIVE };
enum session_phase { PHASE_DIAL, PHASE_RINGING, PHASE_T30, PHASE_OVER };

struct inbound_hub;
struct receiver;

struct session {
    /* Both halves */
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

    /* SESSION_SEND */
    char number[64];
    char tx_file[PATH_MAX];
    char tsid[21];
    char header[51];
    char tz[32];
    char join_error[192];
    int first_page;       /* job page number of the file's first page */
    int total_pages;      /* pages in the job */
    int page_count;       /* pages in this call's file */
    int ecm;              /* -1 default (on), 0 off, 1 on */
    int max_bit_rate;     /* 0: none */
    int min_bit_rate;     /* 0: none; the call ends when training settles below */
    int too_slow;         /* the rate that fell below min_bit_rate; 0: none */
    bool no_t38;          /* the call stays on audio */
    struct modem_events ev;
    void *user;

    /* Set by spandsp handlers, consumed after fax_rx/fax_tx return. */
    bool t30_done;
    int t30_code;
    bool check_progress;
    bool training_ok;
    /* The next final frame from the far end may make spandsp read and
     * encode a whole page (DIS starts the document; MCF after MPS, EOM
     * or PPS starts the next page): milliseconds inside one DSP call. */
    bool page_due;
    bool eng_prepared;    /* eng was built at the dial for the answer; T.30 not running */
    bool deferrable;      /* the pool may run a service off its tick (session_allow_deferral) */

    int pages_confirmed;  /* of the current document, in this call */
    /* Batched calls: every document's pages follow in tx_file, the
     * first's first. The fields above (first_page, total_pages,
     * page_count) describe the document on the line; docs[0] is the first. */
    struct session_doc {
        int first_page, total_pages, page_count;
    } *docs;
    int ndocs;            /* 1 for an ordinary call */
    int cur;              /* the document on the line */
    bool declined;        /* the next document was declined: the call ends after cur */
    int call_pages;       /* confirmed in this call over every document */
    int doc_base;         /* call_pages when the current document began */
    long doc_samples;     /* samples when the current document began */
    struct timespec doc_started;
    long max_samples;     /* the backstop for this call's line time */
    int pages_base;       /* confirmed before the current engine (a switch to T.38 restarts T.30) */
    int announced_page;   /* last page announced in a status */
    struct modem_result res;

    /* Both halves */
    long samples;         /* line time since dial (inbound: the receiver's count, set when the call ends) */
    struct timespec started;
    atomic_bool abort_requested;
};

/* Sends one IFP of the session's T.38 terminal down its line. */
static inline void session_send_ifp(void *user, const uint8_t *ifp, int len)
{
    struct session *s = user;
    if (s->call)
        s->drv->send_ifp(s->call, ifp, len);
}

/* " (faxfs asked)" when the line can tell who moved the call to its
 * media, "" otherwise: the end of a "switched to" log line. */
static inline const char *session_media_note(struct session *s, char *out, size_t len)
{
    const char *origin = s->drv->media_origin ? s->drv->media_origin(s->call) : NULL;

    snprintf(out, len, "%s%s%s", origin ? " (" : "", origin ? origin : "", origin ? ")" : "");
    return out;
}

#endif

/*
 * fax_engine.h - the spandsp side of one call, whatever carries it: an
 * audio fax modem (fax_state_t) or a T.38 terminal. Senders (session.c)
 * and receivers (receiver.c) share the T.30 setup of fax_engine_setup_t30,
 * its transcript log and the names of its results, and move samples or
 * IFPs through here; the HDLC guard is attached to either kind.
 */
#ifndef FAXFS_MODEM_FAX_ENGINE_H
#define FAXFS_MODEM_FAX_ENGINE_H

#include <stdbool.h>
#include <stdint.h>

#include <tiffio.h>
#include <spandsp.h>

#include "modem/hdlc_guard.h"
#include "modem/line.h"

/* Sends one IFP the T.38 terminal produced. */
typedef void (*fax_engine_ifp_fn)(void *user, const uint8_t *ifp, int len);
/* Takes one readable T.30 transcript line ("T.30: ..."). */
typedef void (*fax_engine_log_fn)(void *user, const char *line);

struct fax_engine {
    enum line_media kind;
    fax_state_t *fax;             /* LINE_MEDIA_AUDIO */
    t38_terminal_state_t *t38;    /* LINE_MEDIA_T38 */
    t30_state_t *t30;             /* NULL when not started */
    struct hdlc_guard guard;
    fax_engine_ifp_fn send_ifp;
    void *send_user;
    fax_engine_log_fn log;        /* NULL: no transcript */
    void *log_user;
};

/* Starts the engine (e must be zeroed or freed). Returns 0 or -ENOMEM. */
int fax_engine_start(struct fax_engine *e, enum line_media kind, bool calling, fax_engine_ifp_fn send_ifp,
                     void *user);
bool fax_engine_started(const struct fax_engine *e);
/* What both sides of a call set up on a started engine: our ident (when
 * not empty), the page header time zone, ECM, T.4 1D/2D and T.6, V.27ter,
 * V.29 and V.17, and the T.30 log at flow level as transcript lines
 * through log (spandsp's noise left out). */
void fax_engine_setup_t30(struct fax_engine *e, const char *ident, const char *tz, fax_engine_log_fn log,
                          void *log_user);
/* The modem settings of one call over fax_engine_setup_t30's defaults:
 * ecm 0 turns ECM off (-1/1 keep it); max_bit_rate (0 none) drops V.17
 * at 9600 and below and V.29 at 4800 and below, and caps T.38's image
 * data rate; min_bit_rate (0 none) drops V.27ter at 7200 and above. */
void fax_engine_limit(struct fax_engine *e, int ecm, int max_bit_rate, int min_bit_rate);
/* spandsp 0.0.6 log handlers carry no user pointer: the thread making a
 * DSP call (or t30_terminate) names the engine whose transcript it is
 * for the duration of the call; log lines outside are dropped. */
void fax_engine_log_enter(struct fax_engine *e);
void fax_engine_log_leave(void);
/* spandsp log lines that say nothing to a reader of a call transcript. */
bool fax_engine_log_is_noise(const char *text);
/* "T.4 1D", "T.4 2D", "T.6", or "" for spandsp's T4_COMPRESSION_*. */
const char *fax_engine_compression_name(int encoding);
/* Audio: the far end's samples (not modified), lost samples, ours (n
 * samples, silence where the modem has nothing to say). */
void fax_engine_rx_audio(struct fax_engine *e, const int16_t *buf, int n);
void fax_engine_rx_lost(struct fax_engine *e, int n);
void fax_engine_tx_audio(struct fax_engine *e, int16_t *buf, int n);
/* T.38: a received IFP, and the passing of n samples of time. */
void fax_engine_rx_ifp(struct fax_engine *e, const uint8_t *buf, int len, uint16_t seq);
void fax_engine_tick(struct fax_engine *e, int n);
/* Frees spandsp's state (call t30_terminate first for a verdict). */
void fax_engine_free(struct fax_engine *e);

#endif

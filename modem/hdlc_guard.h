/*
 * hdlc_guard.h - stands between spandsp's HDLC receiver and its T.30
 * engine and drops frames that would crash spandsp 0.0.6 (a short ECM
 * FCD frame with a good CRC makes process_rx_fcd copy len-4 < 0 bytes; a
 * DCS longer than 25 octets overruns rx_dcs_string in the T.30 state),
 * and frees T.30's copy of an NSF/NSC/NSS before a repeat would leak it.
 * A remote fax machine must never be able to crash the server or grow its
 * memory, over audio or over T.38.
 */
#ifndef FAXFS_MODEM_HDLC_GUARD_H
#define FAXFS_MODEM_HDLC_GUARD_H

#include <stdbool.h>
#include <stdint.h>

#include <tiffio.h>
#include <spandsp.h>

#define HDLC_GUARD_HELD_MAX 8        /* events held after a deferred final frame */
#define HDLC_GUARD_HELD_FRAME_MAX 64 /* longer frames are never held (V.21 control frames are short) */

struct hdlc_guard {
    fax_state_t *fax;
    t30_set_handler_t *set_rx_type;  /* spandsp's own, called first */
    void *set_rx_type_user;
    long dropped;                    /* frames kept from T.30 */
    /* Audio, for the pool's tick: with defer_final set, a final frame
     * (and whatever the receiver reports after it) is held instead of
     * being handed to T.30 at once; hdlc_guard_release() hands it over,
     * in order, later (T.30's answer to it may take milliseconds). */
    bool defer_final;
    int held_n;
    struct hdlc_guard_event {
        int len;                     /* frame length, or a SIG_STATUS_* (< 0) */
        int ok;
        uint8_t msg[HDLC_GUARD_HELD_FRAME_MAX];
    } held[HDLC_GUARD_HELD_MAX];

    /* T.38: the guard sits in front of the terminal's IFP data handler
     * and turns "FCS OK" of an unsafe frame into "FCS bad". */
    t38_terminal_state_t *t38;
    t38_rx_data_handler_t *rx_data;  /* spandsp's own, called with the verdict */
    t38_rx_indicator_handler_t *rx_indicator; /* spandsp's own, passed through */
    t38_rx_missing_handler_t *rx_missing;     /* spandsp's own, passed through */
    void *rx_user;                   /* what spandsp's handlers expect */
    t38_tx_packet_handler_t *tx_packet; /* spandsp's sender, counted per tick */
    void *tx_user;
    int tx_this_tick;
    int tiny_run;                    /* packets of 3 octets or less in a row, this tick */
    bool runaway;                    /* the terminal looped without end in one tick */
};

/* Hands the held final frame and what followed it to T.30, in order (a
 * DSP call of its own: name the engine for the log around it). */
void hdlc_guard_release(struct hdlc_guard *g);

/* Whether T.30 may see this frame (pure: the fuzzers and tests call it). */
bool hdlc_guard_frame_is_safe(const uint8_t *msg, int len);
/* Routes every HDLC frame fax receives through the guard. The guard
 * must live as long as fax. */
void hdlc_guard_attach(struct hdlc_guard *g, fax_state_t *fax);
/* The same for frames a T.38 terminal receives (the T.38 path reaches
 * process_rx_fcd too, with no CRC at all to stop a short frame). */
void hdlc_guard_attach_t38(struct hdlc_guard *g, t38_terminal_state_t *t38);

/* The T.38 terminal of 0.0.6 can be steered by the remote into sending
 * empty HDLC frames (an empty data field, then FCS OK: 3-octet packets) in
 * an endless loop inside one t38_terminal_send_timeout call; refusing a
 * packet is the only way out of it. A tick may legitimately send well over
 * a thousand packets (a whole ECM block when the terminal is not paced),
 * but each data packet carries octets: more than HDLC_GUARD_MAX_TINY_RUN
 * packets of at most 3 octets in a row, or HDLC_GUARD_MAX_IFP_PER_TICK in
 * all, is the loop. */
#define HDLC_GUARD_MAX_TINY_RUN 32
#define HDLC_GUARD_MAX_IFP_PER_TICK 20000
/* Runs the T.38 terminal for `samples`; true once it ran away (the caller
 * ends the call: its T.38 engine can no longer make progress). */
bool hdlc_guard_t38_tick(struct hdlc_guard *g, int samples);

#endif

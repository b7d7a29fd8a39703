/*
 * receiver.h - the answering side of a fax call: inbound slots, and a
 * spandsp T.30 receiver that hands each page over the moment it is
 * complete. Lines feed it audio (the AudioSocket session, or the
 * simulated network when it dials our own number); it knows nothing of
 * where the audio comes from.
 */
#ifndef FAXFS_MODEM_RECEIVER_H
#define FAXFS_MODEM_RECEIVER_H

#include <stdbool.h>
#include <stddef.h>
#include <stdint.h>

#include "modem/fax_engine.h"
#include "modem/modem.h"

/* The pool's inbound side: the daemon's callbacks and the slots. */
struct inbound_hub;

int inbound_hub_create(struct inbound_hub **out, const struct modem_pool_config *cfg, const char *header_tz,
                       char *err, size_t errlen);
void inbound_hub_free(struct inbound_hub *hub);
int inbound_hub_slots(const struct inbound_hub *hub);
/* Takes a free slot: its index, or -1 when every slot is busy. */
int inbound_slot_take(struct inbound_hub *hub);
void inbound_slot_release(struct inbound_hub *hub, int slot);
int inbound_active(const struct inbound_hub *hub);
/* Caps per received fax: pages, and line time in samples. */
int inbound_max_pages(const struct inbound_hub *hub);
long inbound_max_samples(const struct inbound_hub *hub);
long long inbound_max_bytes(const struct inbound_hub *hub);
/* Is number our own station number (the simulated network loops back)? */
bool inbound_is_station(const struct inbound_hub *hub, const char *number);
/* One line for the daemon's log about a connection that is not a call. */
void inbound_notice(struct inbound_hub *hub, const char *fmt, ...) __attribute__((format(printf, 2, 3)));

/* How a call ended, when the line rather than T.30 ended it. */
enum receiver_end {
    RECEIVER_END_T30,      /* T.30 finished (or the line after it did) */
    RECEIVER_END_HUNG_UP,  /* the far end went away */
    RECEIVER_END_ABORTED,  /* pool shutdown */
    RECEIVER_END_TIMEOUT,  /* the call exceeded its time limit */
    RECEIVER_END_LINE,     /* the line failed: code and text say how */
};

struct receiver;

/* Asks the daemon (begin) and starts T.30 on the slot. NULL when the
 * call is refused or out of memory: the slot stays with the caller. */
struct receiver *receiver_start(struct inbound_hub *hub, int slot, const char *line, const char *caller_id,
                                const char *called, const char *call_ref);
/* Audio from the far end (any length; not modified). */
void receiver_rx(struct receiver *r, const int16_t *buf, int n);
/* Audio to the far end: always n samples (silence once T.30 is done). */
void receiver_tx(struct receiver *r, int16_t *buf, int n);
/* Packet lines: n samples lost in transit; a T.38 IFP; the passing of
 * n samples of time on T.38 (which has no audio to count). */
void receiver_rx_lost(struct receiver *r, int n);
void receiver_rx_ifp(struct receiver *r, const uint8_t *buf, int len, uint16_t seq);
void receiver_tick(struct receiver *r, int n);
/* What the receiver's T.30 runs on now, and a switch to other media
 * (T.30 restarts; pages complete so far are kept). 0 or -ENOMEM. */
enum line_media receiver_media(const struct receiver *r);
int receiver_switch(struct receiver *r, enum line_media kind, const char *note, fax_engine_ifp_fn send_ifp,
                    void *user);
/* After DSP calls: hands over finished pages, reports status. */
void receiver_service(struct receiver *r);
/* T.30 has finished: hang up. */
bool receiver_done(const struct receiver *r);
int receiver_pages(const struct receiver *r);
/* The sender's last post-page command asked to send more (MPS/EOM). */
bool receiver_more_coming(const struct receiver *r);
/* Bytes of the pages handed over so far (single-page TIFFs). */
long long receiver_bytes(const struct receiver *r);
/* Line time so far, in samples: what T.30 was given, or the clock's
 * count where that is more (a caller that sends no RTP at all). */
long receiver_samples(const struct receiver *r);
/* Packet lines: n samples of line time passed (one tick), whatever the
 * peer sent: the time limits hold for a caller that sends nothing. */
void receiver_clock(struct receiver *r, int n);
void receiver_log(struct receiver *r, const char *fmt, ...) __attribute__((format(printf, 2, 3)));
/* Ends the call: remaining pages, finished(), freed. The slot stays
 * taken: its owner releases it once the line is gone too.
 * code/text are for RECEIVER_END_LINE only. */
void receiver_end(struct receiver *r, enum receiver_end how, const char *code, const char *text);

#endif

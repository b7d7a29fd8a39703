/*
 * udptl.h - T.38 Annex A UDPTL framing: the packet codec (sequence number,
 * primary IFP, redundant secondary IFPs or FEC information, ASN.1 PER
 * aligned), the sender's redundancy history and the receiver's recovery
 * of lost packets from redundancy. Pure functions over caller buffers:
 * no sockets, no allocation, every length checked against hostile input.
 */
#ifndef FAXFS_MODEM_UDPTL_H
#define FAXFS_MODEM_UDPTL_H

#include <stdbool.h>
#include <stddef.h>
#include <stdint.h>

/* Largest IFP we send or keep for redundancy (bytes). An IFP beyond this
 * cannot come out of spandsp's T.38 core: its largest is an ECM frame. */
#define UDPTL_MAX_IFP 1024
/* Secondary IFPs a sender repeats in each packet, at most. */
#define UDPTL_MAX_REDUNDANCY 8
/* Secondary IFPs (or FEC entries) a decoded packet keeps; further ones
 * are checked and skipped (they are older than anything we can use). */
#define UDPTL_MAX_SECONDARY 16
/* Datagram size when the peer does not announce T38FaxMaxDatagram. */
#define UDPTL_DEFAULT_MAX_DATAGRAM 400

struct udptl_ifp {
    const uint8_t *data;
    size_t len;
};

/* A decoded packet; its IFPs point into the caller's buffer. */
struct udptl_packet {
    uint16_t seq;
    struct udptl_ifp primary;
    bool fec;                 /* error recovery is fec-info, not redundancy */
    int nsecondary;           /* entries kept in secondary[] (most recent first) */
    int nsecondary_total;     /* entries the packet carried */
    struct udptl_ifp secondary[UDPTL_MAX_SECONDARY]; /* redundancy: IFP of seq-1, seq-2, ...; fec: fec-data */
    unsigned fec_npackets;    /* fec only */
};

/* Decodes one datagram. Returns 0, or -EBADMSG for anything malformed
 * (truncated, trailing bytes, fragmented lengths, absurd counts). */
int udptl_decode(const uint8_t *buf, size_t len, struct udptl_packet *out);

/* Encodes a packet with redundancy (secondaries most recent first).
 * Returns its length, or -EMSGSIZE when it does not fit in cap or an IFP
 * is longer than the encoding allows. */
int udptl_encode(uint8_t *out, size_t cap, uint16_t seq, const struct udptl_ifp *primary,
                 const struct udptl_ifp *secondary, int nsecondary);

/* The sending side: sequence numbers and the last IFPs for redundancy. */
struct udptl_tx {
    uint16_t next_seq;
    int redundancy;           /* secondaries per packet, 0..UDPTL_MAX_REDUNDANCY */
    size_t max_datagram;      /* the peer's T38FaxMaxDatagram */
    int nhistory;             /* valid entries in history */
    int head;                 /* slot of the most recent IFP */
    uint16_t history_len[UDPTL_MAX_REDUNDANCY];
    uint8_t history[UDPTL_MAX_REDUNDANCY][UDPTL_MAX_IFP];
};

void udptl_tx_init(struct udptl_tx *tx, int redundancy, size_t max_datagram);
/* Builds the next datagram for one IFP: as many secondaries as fit in
 * max_datagram (oldest dropped first). Returns its length or -EMSGSIZE. */
int udptl_tx_packet(struct udptl_tx *tx, const uint8_t *ifp, size_t len, uint8_t *out, size_t cap);

/* The receiving side: delivers every IFP once, in sequence order,
 * recovering lost packets from the redundancy of later ones. */
struct udptl_rx {
    bool started;
    uint16_t expected;        /* next sequence number not yet delivered */
    unsigned long delivered;
    unsigned long recovered;  /* delivered from a later packet's redundancy */
    unsigned long lost;       /* never delivered */
    unsigned long stale;      /* duplicates and packets older than expected */
    unsigned long malformed;
};

typedef void (*udptl_ifp_handler)(void *user, const uint8_t *ifp, size_t len, uint16_t seq);

void udptl_rx_init(struct udptl_rx *rx);
/* Decodes a datagram and delivers what it newly carries through fn.
 * Returns the number of IFPs delivered (0 for a stale packet), or
 * -EBADMSG for a malformed one (nothing delivered, counted). */
int udptl_rx_packet(struct udptl_rx *rx, const uint8_t *buf, size_t len, udptl_ifp_handler fn, void *user);

#endif

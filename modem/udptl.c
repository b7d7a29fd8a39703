/*
 * udptl.c - T.38 Annex A UDPTL. The ASN.1 (PER aligned) boils down to:
 * a 2-octet sequence number; the primary IFP as a length determinant and
 * its octets; one octet choosing the error recovery (0x00 redundancy,
 * 0x80 FEC); then a count and that many length-prefixed IFPs (FEC adds
 * fec-npackets as a length-prefixed integer before its count). Lengths
 * of 16384 and more need PER fragmentation, which no IFP ever needs: we
 * refuse them rather than parse a rarely tested path from strangers.
 */
#include "modem/udptl.h"

#include <errno.h>
#include <string.h>

#define UDPTL_CHOICE_REDUNDANCY 0x00
#define UDPTL_CHOICE_FEC 0x80
#define UDPTL_LEN_LIMIT 16384 /* first length needing fragmentation */

/* A read cursor over hostile bytes: every read is bounds-checked. */
struct udptl_cursor {
    const uint8_t *p;
    size_t left;
};

static int cursor_byte(struct udptl_cursor *c, uint8_t *out)
{
    if (c->left < 1)
        return -EBADMSG;
    *out = *c->p++;
    c->left--;
    return 0;
}

/* PER unconstrained length determinant: 0xxxxxxx, or 10xxxxxx xxxxxxxx. */
static int cursor_length(struct udptl_cursor *c, size_t *out)
{
    uint8_t b0, b1;
    if (cursor_byte(c, &b0) != 0)
        return -EBADMSG;
    if ((b0 & 0x80) == 0) {
        *out = b0;
        return 0;
    }
    if ((b0 & 0xC0) == 0xC0)
        return -EBADMSG; /* fragmented */
    if (cursor_byte(c, &b1) != 0)
        return -EBADMSG;
    *out = ((size_t)(b0 & 0x3F) << 8) | b1;
    return 0;
}

static int cursor_octets(struct udptl_cursor *c, struct udptl_ifp *out)
{
    size_t len;
    if (cursor_length(c, &len) != 0 || len > c->left)
        return -EBADMSG;
    out->data = c->p;
    out->len = len;
    c->p += len;
    c->left -= len;
    return 0;
}

/* A SEQUENCE OF length-prefixed octet strings: keeps the first
 * UDPTL_MAX_SECONDARY, checks the rest. */
static int cursor_octet_list(struct udptl_cursor *c, struct udptl_packet *out)
{
    size_t count;
    if (cursor_length(c, &count) != 0)
        return -EBADMSG;
    /* Each entry takes at least one octet: a larger count is a lie. */
    if (count > c->left)
        return -EBADMSG;
    out->nsecondary_total = (int)count;
    for (size_t i = 0; i < count; i++) {
        struct udptl_ifp ifp;
        if (cursor_octets(c, &ifp) != 0)
            return -EBADMSG;
        if (i < UDPTL_MAX_SECONDARY)
            out->secondary[out->nsecondary++] = ifp;
    }
    return 0;
}

/* fec-npackets: an unconstrained INTEGER, length then two's complement. */
static int cursor_fec_npackets(struct udptl_cursor *c, unsigned *out)
{
    struct udptl_ifp v;
    if (cursor_octets(c, &v) != 0 || v.len < 1 || v.len > 2 || (v.data[0] & 0x80))
        return -EBADMSG;
    *out = 0;
    for (size_t i = 0; i < v.len; i++)
        *out = (*out << 8) | v.data[i];
    return 0;
}

int udptl_decode(const uint8_t *buf, size_t len, struct udptl_packet *out)
{
    memset(out, 0, sizeof *out);
    struct udptl_cursor c = { buf, buf ? len : 0 };
    uint8_t hi, lo, choice;
    if (cursor_byte(&c, &hi) != 0 || cursor_byte(&c, &lo) != 0)
        return -EBADMSG;
    out->seq = (uint16_t)((hi << 8) | lo);
    if (cursor_octets(&c, &out->primary) != 0 || cursor_byte(&c, &choice) != 0)
        return -EBADMSG;
    if (choice == UDPTL_CHOICE_FEC) {
        out->fec = true;
        if (cursor_fec_npackets(&c, &out->fec_npackets) != 0)
            return -EBADMSG;
    } else if (choice != UDPTL_CHOICE_REDUNDANCY) {
        return -EBADMSG;
    }
    if (cursor_octet_list(&c, out) != 0)
        return -EBADMSG;
    return c.left == 0 ? 0 : -EBADMSG;
}

/* A write cursor: fails once, stays failed. */
struct udptl_writer {
    uint8_t *p;
    size_t left;
    bool overflow;
};

static void writer_bytes(struct udptl_writer *w, const void *data, size_t len)
{
    if (w->overflow || len > w->left) {
        w->overflow = true;
        return;
    }
    if (len)
        memcpy(w->p, data, len);
    w->p += len;
    w->left -= len;
}

static void writer_length(struct udptl_writer *w, size_t len)
{
    if (len < 128) {
        uint8_t b = (uint8_t)len;
        writer_bytes(w, &b, 1);
    } else if (len < UDPTL_LEN_LIMIT) {
        uint8_t b[2] = { (uint8_t)(0x80 | (len >> 8)), (uint8_t)(len & 0xFF) };
        writer_bytes(w, b, 2);
    } else {
        w->overflow = true;
    }
}

static void writer_octets(struct udptl_writer *w, const struct udptl_ifp *ifp)
{
    writer_length(w, ifp->len);
    writer_bytes(w, ifp->data, ifp->len);
}

int udptl_encode(uint8_t *out, size_t cap, uint16_t seq, const struct udptl_ifp *primary,
                 const struct udptl_ifp *secondary, int nsecondary)
{
    if (nsecondary < 0 || nsecondary >= 128)
        return -EMSGSIZE;
    struct udptl_writer w = { out, cap, false };
    uint8_t head[2] = { (uint8_t)(seq >> 8), (uint8_t)(seq & 0xFF) };
    writer_bytes(&w, head, 2);
    writer_octets(&w, primary);
    uint8_t choice = UDPTL_CHOICE_REDUNDANCY;
    writer_bytes(&w, &choice, 1);
    writer_length(&w, (size_t)nsecondary);
    for (int i = 0; i < nsecondary; i++)
        writer_octets(&w, &secondary[i]);
    if (w.overflow)
        return -EMSGSIZE;
    return (int)(cap - w.left);
}

void udptl_tx_init(struct udptl_tx *tx, int redundancy, size_t max_datagram)
{
    memset(tx, 0, sizeof *tx);
    if (redundancy < 0)
        redundancy = 0;
    tx->redundancy = redundancy > UDPTL_MAX_REDUNDANCY ? UDPTL_MAX_REDUNDANCY : redundancy;
    tx->max_datagram = max_datagram ? max_datagram : UDPTL_DEFAULT_MAX_DATAGRAM;
}

static void tx_remember(struct udptl_tx *tx, const uint8_t *ifp, size_t len)
{
    if (tx->redundancy == 0)
        return;
    tx->head = (tx->head + 1) % UDPTL_MAX_REDUNDANCY;
    memcpy(tx->history[tx->head], ifp, len);
    tx->history_len[tx->head] = (uint16_t)len;
    if (tx->nhistory < tx->redundancy)
        tx->nhistory++;
}

int udptl_tx_packet(struct udptl_tx *tx, const uint8_t *ifp, size_t len, uint8_t *out, size_t cap)
{
    if (len > UDPTL_MAX_IFP)
        return -EMSGSIZE;
    if (cap > tx->max_datagram)
        cap = tx->max_datagram;
    struct udptl_ifp primary = { ifp, len };
    struct udptl_ifp sec[UDPTL_MAX_REDUNDANCY] = {{0}}; /* gcc -O2 cannot see n <= nhistory */
    for (int i = 0; i < tx->nhistory; i++) {
        int slot = (tx->head - i + UDPTL_MAX_REDUNDANCY) % UDPTL_MAX_REDUNDANCY;
        sec[i] = (struct udptl_ifp){ tx->history[slot], tx->history_len[slot] };
    }
    /* Redundancy is a bonus: drop the oldest secondaries until it fits. */
    int n = tx->nhistory, rc;
    while ((rc = udptl_encode(out, cap, tx->next_seq, &primary, sec, n)) < 0 && n > 0)
        n--;
    if (rc < 0)
        return rc;
    tx->next_seq++;
    tx_remember(tx, ifp, len);
    return rc;
}

void udptl_rx_init(struct udptl_rx *rx)
{
    memset(rx, 0, sizeof *rx);
}

static void rx_deliver(struct udptl_rx *rx, const struct udptl_ifp *ifp, uint16_t seq, udptl_ifp_handler fn,
                       void *user)
{
    rx->delivered++;
    if (fn)
        fn(user, ifp->data, ifp->len, seq);
}

int udptl_rx_packet(struct udptl_rx *rx, const uint8_t *buf, size_t len, udptl_ifp_handler fn, void *user)
{
    struct udptl_packet p;
    if (udptl_decode(buf, len, &p) != 0) {
        rx->malformed++;
        return -EBADMSG;
    }
    if (!rx->started) {
        rx->started = true;
        rx->expected = p.seq;
    }
    /* Sequence numbers wrap: half the space ahead is new, the rest old. */
    uint16_t ahead = (uint16_t)(p.seq - rx->expected);
    if (ahead >= 0x8000) {
        rx->stale++;
        return 0;
    }
    int delivered = 0;
    if (ahead > 0) {
        /* secondary[k] carries seq-1-k; FEC entries are not IFPs. */
        int usable = p.fec ? 0 : p.nsecondary;
        int covered = ahead < usable ? ahead : usable;
        rx->lost += (unsigned long)(ahead - covered);
        for (int k = covered - 1; k >= 0; k--) {
            rx_deliver(rx, &p.secondary[k], (uint16_t)(p.seq - 1 - k), fn, user);
            rx->recovered++;
            delivered++;
        }
    }
    rx_deliver(rx, &p.primary, p.seq, fn, user);
    rx->expected = (uint16_t)(p.seq + 1);
    return delivered + 1;
}

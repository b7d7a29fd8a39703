/*
 * fuzz_udptl.c - libFuzzer target for UDPTL (T.38 Annex A) datagrams as a
 * remote peer may send them: the decoder on the whole input, the
 * receiver's recovery state over the input cut into datagrams, and a
 * re-encode of whatever decoded, which must decode to the same packet.
 */
#include <stddef.h>
#include <stdint.h>
#include <stdlib.h>
#include <string.h>

#include "modem/udptl.h"

static void count_ifp(void *user, const uint8_t *ifp, size_t len, uint16_t seq)
{
    (void)seq;
    size_t *total = user;
    /* Touch every byte so the sanitizers see any out-of-bounds pointer. */
    for (size_t i = 0; i < len; i++)
        *total += ifp[i];
}

static void check_round_trip(const struct udptl_packet *p)
{
    if (p->fec || p->nsecondary != p->nsecondary_total)
        return;
    uint8_t out[65536];
    int n = udptl_encode(out, sizeof out, p->seq, &p->primary, p->secondary, p->nsecondary);
    if (n < 0)
        return;
    struct udptl_packet q;
    if (udptl_decode(out, (size_t)n, &q) != 0 || q.seq != p->seq || q.primary.len != p->primary.len
        || q.nsecondary != p->nsecondary || memcmp(q.primary.data, p->primary.data, p->primary.len) != 0)
        abort();
    for (int i = 0; i < p->nsecondary; i++)
        if (q.secondary[i].len != p->secondary[i].len
            || memcmp(q.secondary[i].data, p->secondary[i].data, p->secondary[i].len) != 0)
            abort();
}

int LLVMFuzzerTestOneInput(const uint8_t *data, size_t size)
{
    struct udptl_packet p;
    if (udptl_decode(data, size, &p) == 0)
        check_round_trip(&p);

    /* The same bytes as a stream of datagrams, each prefixed by its
     * length in one octet, through one receiver. */
    struct udptl_rx rx;
    size_t total = 0;
    udptl_rx_init(&rx);
    for (size_t off = 0; off < size;) {
        size_t len = data[off++];
        if (len > size - off)
            len = size - off;
        udptl_rx_packet(&rx, data + off, len, count_ifp, &total);
        off += len;
    }
    return total == (size_t)-1; /* keeps total observable */
}

/*
 * test_modem_udptl.c - UDPTL (T.38 Annex A) framing. The byte vectors are
 * written by hand from the ASN.1 of Annex A in PER aligned encoding:
 * seq-number as two octets, each IFP as a length determinant (one octet
 * below 128, two octets 10xxxxxx xxxxxxxx below 16384) and its octets,
 * the error-recovery choice as one octet (0x00 secondary-ifp-packets,
 * 0x80 fec-info), then a count and the entries.
 */
#include <errno.h>
#include <setjmp.h>
#include <stdarg.h>
#include <stddef.h>
#include <stdint.h>
#include <string.h>

#include <cmocka.h>

#include "modem/udptl.h"

/* IFPs as they come out of a T.38 core: a t30-indicator (CNG) and a
 * short data packet; the codec treats them as opaque octets. */
static const uint8_t ifp_cng[] = { 0x00 };
static const uint8_t ifp_data[] = { 0xC0, 0x01, 0x80, 0x00, 0x00, 0xFF };

static void test_decode_packet_without_redundancy(void **state)
{
    (void)state;
    const uint8_t pkt[] = { 0x00, 0x01, 0x01, 0x00, 0x00, 0x00 };
    struct udptl_packet p;
    assert_int_equal(udptl_decode(pkt, sizeof pkt, &p), 0);
    assert_int_equal(p.seq, 1);
    assert_int_equal(p.primary.len, 1);
    assert_int_equal(p.primary.data[0], 0x00);
    assert_false(p.fec);
    assert_int_equal(p.nsecondary, 0);
}

static void test_decode_secondaries_are_most_recent_first(void **state)
{
    (void)state;
    /* seq 5, primary AA; secondary seq 4 = 11 22, seq 3 = 33 */
    const uint8_t pkt[] = { 0x00, 0x05, 0x01, 0xAA, 0x00, 0x02, 0x02, 0x11, 0x22, 0x01, 0x33 };
    struct udptl_packet p;
    assert_int_equal(udptl_decode(pkt, sizeof pkt, &p), 0);
    assert_int_equal(p.seq, 5);
    assert_int_equal(p.nsecondary, 2);
    assert_int_equal(p.secondary[0].len, 2);
    assert_int_equal(p.secondary[0].data[1], 0x22);
    assert_int_equal(p.secondary[1].len, 1);
    assert_int_equal(p.secondary[1].data[0], 0x33);
}

static void test_decode_two_octet_length_determinant(void **state)
{
    (void)state;
    uint8_t pkt[2 + 2 + 200 + 2];
    pkt[0] = 0xFF;
    pkt[1] = 0xFE;
    pkt[2] = 0x80;
    pkt[3] = 200; /* 10 000000 11001000 = 200 */
    memset(pkt + 4, 0x5A, 200);
    pkt[204] = 0x00;
    pkt[205] = 0x00;
    struct udptl_packet p;
    assert_int_equal(udptl_decode(pkt, sizeof pkt, &p), 0);
    assert_int_equal(p.seq, 0xFFFE);
    assert_int_equal(p.primary.len, 200);
    assert_int_equal(p.primary.data[199], 0x5A);
}

static void test_decode_fec_info(void **state)
{
    (void)state;
    /* seq 7, primary 01, fec-info: fec-npackets = 3 (length 1, value 3),
     * fec-data: one entry of one octet FF */
    const uint8_t pkt[] = { 0x00, 0x07, 0x01, 0x01, 0x80, 0x01, 0x03, 0x01, 0x01, 0xFF };
    struct udptl_packet p;
    assert_int_equal(udptl_decode(pkt, sizeof pkt, &p), 0);
    assert_true(p.fec);
    assert_int_equal(p.fec_npackets, 3);
    assert_int_equal(p.nsecondary, 1);
    assert_int_equal(p.secondary[0].data[0], 0xFF);
}

static void test_decode_refuses_every_truncation(void **state)
{
    (void)state;
    const uint8_t pkt[] = { 0x00, 0x05, 0x01, 0xAA, 0x00, 0x02, 0x02, 0x11, 0x22, 0x01, 0x33 };
    struct udptl_packet p;
    for (size_t len = 0; len < sizeof pkt; len++)
        assert_int_equal(udptl_decode(pkt, len, &p), -EBADMSG);
}

static void test_decode_refuses_trailing_bytes(void **state)
{
    (void)state;
    const uint8_t pkt[] = { 0x00, 0x01, 0x01, 0x00, 0x00, 0x00, 0x00 };
    struct udptl_packet p;
    assert_int_equal(udptl_decode(pkt, sizeof pkt, &p), -EBADMSG);
}

static void test_decode_refuses_fragmented_length(void **state)
{
    (void)state;
    /* 11000001: one fragment of 16K octets follows */
    const uint8_t pkt[] = { 0x00, 0x01, 0xC1, 0x00, 0x00, 0x00 };
    struct udptl_packet p;
    assert_int_equal(udptl_decode(pkt, sizeof pkt, &p), -EBADMSG);
}

static void test_decode_refuses_length_past_the_end(void **state)
{
    (void)state;
    const uint8_t pkt[] = { 0x00, 0x01, 0x81, 0x00, 0x00, 0x00 };
    struct udptl_packet p;
    assert_int_equal(udptl_decode(pkt, sizeof pkt, &p), -EBADMSG);
}

static void test_decode_refuses_unknown_error_recovery_choice(void **state)
{
    (void)state;
    const uint8_t pkt[] = { 0x00, 0x01, 0x01, 0x00, 0x40, 0x00 };
    struct udptl_packet p;
    assert_int_equal(udptl_decode(pkt, sizeof pkt, &p), -EBADMSG);
}

static void test_decode_refuses_a_secondary_count_larger_than_the_packet(void **state)
{
    (void)state;
    const uint8_t pkt[] = { 0x00, 0x01, 0x01, 0x00, 0x00, 0x7F, 0x00 };
    struct udptl_packet p;
    assert_int_equal(udptl_decode(pkt, sizeof pkt, &p), -EBADMSG);
}

static void test_decode_keeps_only_the_newest_secondaries(void **state)
{
    (void)state;
    uint8_t pkt[6 + 2 * 20];
    size_t n = 0;
    pkt[n++] = 0x00;
    pkt[n++] = 0x30;
    pkt[n++] = 0x01;
    pkt[n++] = 0x99;
    pkt[n++] = 0x00;
    pkt[n++] = 20;
    for (int i = 0; i < 20; i++) {
        pkt[n++] = 0x01;
        pkt[n++] = (uint8_t)i;
    }
    struct udptl_packet p;
    assert_int_equal(udptl_decode(pkt, n, &p), 0);
    assert_int_equal(p.nsecondary_total, 20);
    assert_int_equal(p.nsecondary, UDPTL_MAX_SECONDARY);
    assert_int_equal(p.secondary[0].data[0], 0);
}

static void test_encode_matches_the_annex_a_layout(void **state)
{
    (void)state;
    const uint8_t s4[] = { 0x11, 0x22 }, s3[] = { 0x33 }, prim[] = { 0xAA };
    struct udptl_ifp primary = { prim, 1 };
    struct udptl_ifp sec[2] = { { s4, 2 }, { s3, 1 } };
    uint8_t out[64];
    const uint8_t want[] = { 0x00, 0x05, 0x01, 0xAA, 0x00, 0x02, 0x02, 0x11, 0x22, 0x01, 0x33 };
    assert_int_equal(udptl_encode(out, sizeof out, 5, &primary, sec, 2), (int)sizeof want);
    assert_memory_equal(out, want, sizeof want);
}

static void test_encode_uses_two_octet_lengths_from_128(void **state)
{
    (void)state;
    uint8_t big[300], out[400];
    memset(big, 0x42, sizeof big);
    struct udptl_ifp primary = { big, 300 };
    assert_int_equal(udptl_encode(out, sizeof out, 1, &primary, NULL, 0), 2 + 2 + 300 + 2);
    assert_int_equal(out[2], 0x81);
    assert_int_equal(out[3], 0x2C); /* 300 = 0x12C */
    primary.len = 127;
    assert_int_equal(udptl_encode(out, sizeof out, 1, &primary, NULL, 0), 2 + 1 + 127 + 2);
    assert_int_equal(out[2], 127);
}

static void test_encode_refuses_a_buffer_too_small(void **state)
{
    (void)state;
    struct udptl_ifp primary = { ifp_data, sizeof ifp_data };
    uint8_t out[8];
    assert_int_equal(udptl_encode(out, sizeof out, 1, &primary, NULL, 0), -EMSGSIZE);
}

static void test_encode_then_decode_round_trips(void **state)
{
    (void)state;
    struct udptl_ifp primary = { ifp_data, sizeof ifp_data };
    struct udptl_ifp sec[1] = { { ifp_cng, sizeof ifp_cng } };
    uint8_t out[64];
    int n = udptl_encode(out, sizeof out, 0xABCD, &primary, sec, 1);
    assert_true(n > 0);
    struct udptl_packet p;
    assert_int_equal(udptl_decode(out, (size_t)n, &p), 0);
    assert_int_equal(p.seq, 0xABCD);
    assert_memory_equal(p.primary.data, ifp_data, sizeof ifp_data);
    assert_int_equal(p.nsecondary, 1);
    assert_memory_equal(p.secondary[0].data, ifp_cng, sizeof ifp_cng);
}

static void test_sender_repeats_previous_ifps_as_redundancy(void **state)
{
    (void)state;
    struct udptl_tx tx;
    udptl_tx_init(&tx, 2, 400);
    uint8_t out[400];
    const uint8_t a[] = { 0x0A }, b[] = { 0x0B }, c[] = { 0x0C }, d[] = { 0x0D };
    assert_true(udptl_tx_packet(&tx, a, 1, out, sizeof out) > 0);
    assert_true(udptl_tx_packet(&tx, b, 1, out, sizeof out) > 0);
    assert_true(udptl_tx_packet(&tx, c, 1, out, sizeof out) > 0);
    int n = udptl_tx_packet(&tx, d, 1, out, sizeof out);
    const uint8_t want[] = { 0x00, 0x03, 0x01, 0x0D, 0x00, 0x02, 0x01, 0x0C, 0x01, 0x0B };
    assert_int_equal(n, (int)sizeof want);
    assert_memory_equal(out, want, sizeof want);
}

static void test_sender_drops_oldest_redundancy_to_fit_max_datagram(void **state)
{
    (void)state;
    struct udptl_tx tx;
    uint8_t big[100], out[1000];
    memset(big, 1, sizeof big);
    udptl_tx_init(&tx, 3, 250);
    for (int i = 0; i < 3; i++)
        assert_true(udptl_tx_packet(&tx, big, sizeof big, out, sizeof out) > 0);
    int n = udptl_tx_packet(&tx, big, sizeof big, out, sizeof out);
    assert_true(n > 0 && n <= 250);
    struct udptl_packet p;
    assert_int_equal(udptl_decode(out, (size_t)n, &p), 0);
    assert_int_equal(p.nsecondary, 1);
}

static void test_sender_refuses_an_ifp_larger_than_max_datagram(void **state)
{
    (void)state;
    struct udptl_tx tx;
    uint8_t big[300], out[1000];
    memset(big, 1, sizeof big);
    udptl_tx_init(&tx, 1, 200);
    assert_int_equal(udptl_tx_packet(&tx, big, sizeof big, out, sizeof out), -EMSGSIZE);
    assert_int_equal(tx.next_seq, 0);
}

struct delivery {
    int count;
    uint16_t seq[32];
    uint8_t first[32];
};

static void record_ifp(void *user, const uint8_t *ifp, size_t len, uint16_t seq)
{
    struct delivery *d = user;
    if (d->count < 32) {
        d->seq[d->count] = seq;
        d->first[d->count] = len ? ifp[0] : 0;
    }
    d->count++;
}

/* Sends IFPs n..m through a sender, keeping each datagram. */
struct wire {
    uint8_t pkt[16][64];
    int len[16];
};

static void send_ifps(struct udptl_tx *tx, struct wire *w, int count)
{
    for (int i = 0; i < count; i++) {
        uint8_t ifp = (uint8_t)(0x40 + i);
        w->len[i] = udptl_tx_packet(tx, &ifp, 1, w->pkt[i], sizeof w->pkt[i]);
        assert_true(w->len[i] > 0);
    }
}

static void test_receiver_recovers_lost_packets_from_redundancy(void **state)
{
    (void)state;
    struct udptl_tx tx;
    struct udptl_rx rx;
    struct wire w;
    struct delivery d = { 0 };
    udptl_tx_init(&tx, 2, 400);
    udptl_rx_init(&rx);
    send_ifps(&tx, &w, 4);
    assert_int_equal(udptl_rx_packet(&rx, w.pkt[0], (size_t)w.len[0], record_ifp, &d), 1);
    /* packets 1 and 2 are lost; packet 3 carries them */
    assert_int_equal(udptl_rx_packet(&rx, w.pkt[3], (size_t)w.len[3], record_ifp, &d), 3);
    assert_int_equal(d.count, 4);
    for (int i = 0; i < 4; i++) {
        assert_int_equal(d.seq[i], i);
        assert_int_equal(d.first[i], 0x40 + i);
    }
    assert_int_equal(rx.recovered, 2);
    assert_int_equal(rx.lost, 0);
}

static void test_receiver_counts_losses_beyond_the_redundancy(void **state)
{
    (void)state;
    struct udptl_tx tx;
    struct udptl_rx rx;
    struct wire w;
    struct delivery d = { 0 };
    udptl_tx_init(&tx, 1, 400);
    udptl_rx_init(&rx);
    send_ifps(&tx, &w, 5);
    udptl_rx_packet(&rx, w.pkt[0], (size_t)w.len[0], record_ifp, &d);
    udptl_rx_packet(&rx, w.pkt[4], (size_t)w.len[4], record_ifp, &d);
    assert_int_equal(d.count, 3);
    assert_int_equal(d.seq[1], 3);
    assert_int_equal(d.seq[2], 4);
    assert_int_equal(rx.lost, 2);
    assert_int_equal(rx.recovered, 1);
}

static void test_receiver_delivers_each_ifp_once(void **state)
{
    (void)state;
    struct udptl_tx tx;
    struct udptl_rx rx;
    struct wire w;
    struct delivery d = { 0 };
    udptl_tx_init(&tx, 3, 400);
    udptl_rx_init(&rx);
    send_ifps(&tx, &w, 3);
    for (int i = 0; i < 3; i++)
        udptl_rx_packet(&rx, w.pkt[i], (size_t)w.len[i], record_ifp, &d);
    /* a duplicate and a late packet are stale */
    assert_int_equal(udptl_rx_packet(&rx, w.pkt[2], (size_t)w.len[2], record_ifp, &d), 0);
    assert_int_equal(udptl_rx_packet(&rx, w.pkt[0], (size_t)w.len[0], record_ifp, &d), 0);
    assert_int_equal(d.count, 3);
    assert_int_equal(rx.stale, 2);
}

static void test_receiver_follows_sequence_wraparound(void **state)
{
    (void)state;
    struct udptl_tx tx;
    struct udptl_rx rx;
    struct wire w;
    struct delivery d = { 0 };
    udptl_tx_init(&tx, 1, 400);
    tx.next_seq = 0xFFFE;
    udptl_rx_init(&rx);
    send_ifps(&tx, &w, 4); /* 0xFFFE, 0xFFFF, 0, 1 */
    udptl_rx_packet(&rx, w.pkt[0], (size_t)w.len[0], record_ifp, &d);
    udptl_rx_packet(&rx, w.pkt[2], (size_t)w.len[2], record_ifp, &d);
    udptl_rx_packet(&rx, w.pkt[3], (size_t)w.len[3], record_ifp, &d);
    assert_int_equal(d.count, 4);
    assert_int_equal(d.seq[1], 0xFFFF);
    assert_int_equal(d.seq[2], 0);
    assert_int_equal(d.seq[3], 1);
    assert_int_equal(rx.lost, 0);
}

static void test_receiver_counts_malformed_packets_and_delivers_nothing(void **state)
{
    (void)state;
    struct udptl_rx rx;
    struct delivery d = { 0 };
    udptl_rx_init(&rx);
    const uint8_t junk[] = { 0x00, 0x01, 0x7F };
    assert_int_equal(udptl_rx_packet(&rx, junk, sizeof junk, record_ifp, &d), -EBADMSG);
    assert_int_equal(d.count, 0);
    assert_int_equal(rx.malformed, 1);
    assert_false(rx.started);
}

int main(void)
{
    const struct CMUnitTest tests[] = {
        cmocka_unit_test(test_decode_packet_without_redundancy),
        cmocka_unit_test(test_decode_secondaries_are_most_recent_first),
        cmocka_unit_test(test_decode_two_octet_length_determinant),
        cmocka_unit_test(test_decode_fec_info),
        cmocka_unit_test(test_decode_refuses_every_truncation),
        cmocka_unit_test(test_decode_refuses_trailing_bytes),
        cmocka_unit_test(test_decode_refuses_fragmented_length),
        cmocka_unit_test(test_decode_refuses_length_past_the_end),
        cmocka_unit_test(test_decode_refuses_unknown_error_recovery_choice),
        cmocka_unit_test(test_decode_refuses_a_secondary_count_larger_than_the_packet),
        cmocka_unit_test(test_decode_keeps_only_the_newest_secondaries),
        cmocka_unit_test(test_encode_matches_the_annex_a_layout),
        cmocka_unit_test(test_encode_uses_two_octet_lengths_from_128),
        cmocka_unit_test(test_encode_refuses_a_buffer_too_small),
        cmocka_unit_test(test_encode_then_decode_round_trips),
        cmocka_unit_test(test_sender_repeats_previous_ifps_as_redundancy),
        cmocka_unit_test(test_sender_drops_oldest_redundancy_to_fit_max_datagram),
        cmocka_unit_test(test_sender_refuses_an_ifp_larger_than_max_datagram),
        cmocka_unit_test(test_receiver_recovers_lost_packets_from_redundancy),
        cmocka_unit_test(test_receiver_counts_losses_beyond_the_redundancy),
        cmocka_unit_test(test_receiver_delivers_each_ifp_once),
        cmocka_unit_test(test_receiver_follows_sequence_wraparound),
        cmocka_unit_test(test_receiver_counts_malformed_packets_and_delivers_nothing),
    };
    return cmocka_run_group_tests(tests, NULL, NULL);
}

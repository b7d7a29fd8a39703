/*
 * test_modem_hdlc_guard.c - the guard in front of real spandsp T.30
 * sessions, over audio and over T.38: a sender and a receiver talk back to
 * back, a hostile frame is slipped into the receiver at the phase where
 * spandsp 0.0.6 would crash or corrupt its state on it, and the call must
 * still complete with the guard having counted the frame; repeated
 * non-standard-facilities frames must not leak.
 */
#include <setjmp.h>
#include <stdarg.h>
#include <stdbool.h>
#include <stddef.h>
#include <stdint.h>
#include <malloc.h>
#include <stdio.h>
#include <string.h>
#include <unistd.h>

#include <cmocka.h>

#define SPANDSP_EXPOSE_INTERNAL_STRUCTURES
#include "modem/hdlc_guard.h"
#include "tests/lib/faxtest.h"

#define BLOCK 160
#define HEADER "guard test header"

/* T.30 states of spandsp 0.0.6 (t30.c), where each frame is dangerous. */
enum { STATE_F_DOC_ECM = 12, STATE_R = 17 };

struct call {
    bool t38;
    fax_state_t *fax[2];          /* 0 sends, 1 answers */
    t38_terminal_state_t *term[2];
    t30_state_t *t30[2];
    struct hdlc_guard guard[2];
    int result[2];
    bool done[2];
    uint16_t seq[2];
    char tx[64], rx[64];
};

static void phase_e(t30_state_t *s, void *user, int result)
{
    (void)s;
    struct call *c = user;
    int who = s == c->t30[0] ? 0 : 1;
    c->result[who] = result;
    c->done[who] = true;
}

static int t38_to_other(t38_core_state_t *core, void *user, const uint8_t *buf, int len, int count)
{
    (void)count;
    struct call *c = user;
    int from = core == t38_terminal_get_t38_core_state(c->term[0]) ? 0 : 1;
    t38_core_rx_ifp_packet(t38_terminal_get_t38_core_state(c->term[!from]), buf, len, c->seq[from]++);
    return 0;
}

static void call_start(struct call *c, bool t38)
{
    memset(c, 0, sizeof *c);
    c->t38 = t38;
    snprintf(c->tx, sizeof c->tx, "/tmp/faxfs-t-guard-%ld-tx.tif", (long)getpid());
    snprintf(c->rx, sizeof c->rx, "/tmp/faxfs-t-guard-%ld-rx.tif", (long)getpid());
    assert_int_equal(faxtest_write(c->tx, 1, 200), 0);
    for (int i = 0; i < 2; i++) {
        if (t38) {
            c->term[i] = t38_terminal_init(NULL, i == 0, t38_to_other, c);
            assert_non_null(c->term[i]);
            t38_core_state_t *core = t38_terminal_get_t38_core_state(c->term[i]);
            t38_set_t38_version(core, 0);
            t38_set_data_rate_management_method(core, T38_DATA_RATE_MANAGEMENT_TRANSFERRED_TCF);
            t38_set_fastest_image_data_rate(core, 14400);
            t38_terminal_set_config(c->term[i], 0);
            hdlc_guard_attach_t38(&c->guard[i], c->term[i]);
            c->t30[i] = t38_terminal_get_t30_state(c->term[i]);
        } else {
            c->fax[i] = fax_init(NULL, i == 0);
            assert_non_null(c->fax[i]);
            fax_set_transmit_on_idle(c->fax[i], 1);
            hdlc_guard_attach(&c->guard[i], c->fax[i]);
            c->t30[i] = fax_get_t30_state(c->fax[i]);
        }
        t30_set_ecm_capability(c->t30[i], 1);
        t30_set_supported_compressions(c->t30[i], T30_SUPPORT_T4_1D_COMPRESSION | T30_SUPPORT_T4_2D_COMPRESSION
                                                      | T30_SUPPORT_T6_COMPRESSION);
        t30_set_tx_page_header_info(c->t30[i], HEADER);
        t30_set_phase_e_handler(c->t30[i], phase_e, c);
    }
    t30_set_tx_file(c->t30[0], c->tx, -1, -1);
    t30_set_rx_file(c->t30[1], c->rx, -1);
}

/* 20 ms of the call; false once both ends are done. */
static bool call_tick(struct call *c)
{
    if (c->t38) {
        t38_terminal_send_timeout(c->term[0], BLOCK);
        t38_terminal_send_timeout(c->term[1], BLOCK);
    } else {
        int16_t a[BLOCK], b[BLOCK];
        memset(a, 0, sizeof a);
        memset(b, 0, sizeof b);
        fax_tx(c->fax[0], a, BLOCK);
        fax_tx(c->fax[1], b, BLOCK);
        fax_rx(c->fax[1], a, BLOCK);
        fax_rx(c->fax[0], b, BLOCK);
    }
    return !(c->done[0] && c->done[1]);
}

/* Runs the call (at most two minutes of line time) until the receiver is
 * in `state`; false if it never got there. */
static bool call_run_until(struct call *c, int state)
{
    for (int i = 0; i < 120 * 50; i++) {
        if (c->t30[1]->state == state)
            return true;
        if (!call_tick(c))
            return false;
    }
    return false;
}

static void call_finish(struct call *c)
{
    for (int i = 0; i < 180 * 50 && call_tick(c); i++)
        ;
}

static void call_free(struct call *c)
{
    for (int i = 0; i < 2; i++) {
        if (c->fax[i])
            fax_free(c->fax[i]);
        if (c->term[i])
            t38_terminal_free(c->term[i]);
    }
    unlink(c->tx);
    unlink(c->rx);
}

/* The frame as the remote's modem delivers it to the receiver. */
static void inject(struct call *c, const uint8_t *msg, int len)
{
    if (!c->t38) {
        hdlc_rx_state_t *rx = &c->fax[1]->modems.hdlc_rx;
        rx->frame_handler(rx->frame_user_data, msg, len, true);
        return;
    }
    t38_core_state_t *core = t38_terminal_get_t38_core_state(c->term[1]);
    uint8_t wire[T38_MAX_HDLC_LEN];
    for (int i = 0; i < len; i++)
        wire[i] = bit_reverse8(msg[i]);
    core->rx_data_handler(core, core->rx_user_data, T38_DATA_V17_14400, T38_FIELD_HDLC_DATA, wire, len);
    core->rx_data_handler(core, core->rx_user_data, T38_DATA_V17_14400, T38_FIELD_HDLC_FCS_OK, NULL, 0);
}

static void assert_call_completed(struct call *c)
{
    call_finish(c);
    assert_true(c->done[0] && c->done[1]);
    assert_int_equal(c->result[0], T30_ERR_OK);
    assert_int_equal(c->result[1], T30_ERR_OK);
    assert_string_equal(c->t30[1]->header_info, HEADER);
    assert_int_equal(faxtest_page_count(c->rx), 1);
}

/* ff 03 07: FCF 0x07 & 0xFE is FCD; 3 bytes make process_rx_fcd copy -1. */
static void short_fcd_with_odd_fcf_is_dropped(bool t38)
{
    struct call c;
    call_start(&c, t38);
    assert_true(call_run_until(&c, STATE_F_DOC_ECM));
    const uint8_t fcd[] = { 0xff, 0x03, 0x07 };
    inject(&c, fcd, sizeof fcd);
    assert_int_equal(c.guard[1].dropped, 1);
    assert_call_completed(&c);
    call_free(&c);
}

static void test_short_fcd_fcf_07_over_audio_is_dropped_and_call_completes(void **state)
{
    (void)state;
    short_fcd_with_odd_fcf_is_dropped(false);
}

static void test_short_fcd_fcf_07_over_t38_is_dropped_and_call_completes(void **state)
{
    (void)state;
    short_fcd_with_odd_fcf_is_dropped(true);
}

static void test_short_fcd_fcf_06_over_audio_is_dropped_and_call_completes(void **state)
{
    (void)state;
    struct call c;
    call_start(&c, false);
    assert_true(call_run_until(&c, STATE_F_DOC_ECM));
    const uint8_t fcd[] = { 0xff, 0x03, T4_FCD };
    inject(&c, fcd, sizeof fcd);
    assert_int_equal(c.guard[1].dropped, 1);
    assert_call_completed(&c);
    call_free(&c);
}

/* Over T.38 the terminal of 0.0.6 appends octets that arrive inside the
 * FCS OK field to the frame: "ff 03" as HDLC data and "07" in the FCS
 * field still make the 3-octet FCD frame. */
static void test_short_fcd_completed_in_fcs_field_over_t38_is_dropped(void **state)
{
    (void)state;
    struct call c;
    call_start(&c, true);
    assert_true(call_run_until(&c, STATE_F_DOC_ECM));
    t38_core_state_t *core = t38_terminal_get_t38_core_state(c.term[1]);
    const uint8_t head[] = { bit_reverse8(0xff), bit_reverse8(0x03) };
    const uint8_t tail[] = { bit_reverse8(0x07) };
    core->rx_data_handler(core, core->rx_user_data, T38_DATA_V17_14400, T38_FIELD_HDLC_DATA, head, sizeof head);
    core->rx_data_handler(core, core->rx_user_data, T38_DATA_V17_14400, T38_FIELD_HDLC_FCS_OK, tail, sizeof tail);
    assert_int_equal(c.guard[1].dropped, 1);
    assert_call_completed(&c);
    call_free(&c);
}

/* A DCS of 26+ octets: process_rx_dcs writes past rx_dcs_string into the
 * page header and the rest of the T.30 state. Sent while the receiver
 * waits for the caller's DCS. */
static void long_dcs_is_dropped(bool t38)
{
    struct call c;
    call_start(&c, t38);
    assert_true(call_run_until(&c, STATE_R));
    uint8_t dcs[40] = { 0xff, 0x13, T30_DCS | 1, 0x00, 0x62, 0xf8, 0x44 };
    memset(dcs + 7, 0x55, sizeof dcs - 7);
    inject(&c, dcs, sizeof dcs);
    assert_int_equal(c.guard[1].dropped, 1);
    assert_string_equal(c.t30[1]->header_info, HEADER);
    assert_call_completed(&c);
    call_free(&c);
}

static void test_long_dcs_over_audio_is_dropped_and_call_completes(void **state)
{
    (void)state;
    long_dcs_is_dropped(false);
}

static void test_long_dcs_over_t38_is_dropped_and_call_completes(void **state)
{
    (void)state;
    long_dcs_is_dropped(true);
}

/* NSF, NSC and NSS: spandsp 0.0.6 replaces its copy of each without
 * freeing the old one. 3000 repeats (a T.38 peer sends them as fast as it
 * likes) must not grow the heap by their size; T.30 still keeps the
 * newest copy. Under ASan mallinfo2 reads nothing, and LeakSanitizer
 * reports the leak at exit instead. */
static void repeated_nsf_nsc_nss_do_not_leak(bool t38)
{
    struct call c;
    call_start(&c, t38);
    assert_true(call_run_until(&c, STATE_R));
    uint8_t frame[64] = { 0xff, 0x03 };
    static const uint8_t fcf[] = { T30_NSF, T30_NSC, T30_NSS };
    size_t before = mallinfo2().uordblks;
    for (int i = 0; i < 3000; i++) {
        frame[2] = fcf[i % 3];
        memset(frame + 3, 'a' + i % 26, sizeof frame - 3);
        inject(&c, frame, sizeof frame);
    }
    size_t after = mallinfo2().uordblks;
    assert_true(after < before + 3000 * (sizeof frame - 3) / 10);
    assert_non_null(c.t30[1]->rx_info.nsf);
    assert_int_equal(c.t30[1]->rx_info.nsf_len, sizeof frame - 3);
    assert_int_equal(c.guard[1].dropped, 0);
    assert_call_completed(&c);
    call_free(&c);
}

static void test_repeated_nsf_over_audio_does_not_leak(void **state)
{
    (void)state;
    repeated_nsf_nsc_nss_do_not_leak(false);
}

static void test_repeated_nsf_over_t38_does_not_leak(void **state)
{
    (void)state;
    repeated_nsf_nsc_nss_do_not_leak(true);
}

/* A remote that sends a non-final frame without ending its carrier, then
 * answers MCF while faxfs is still sending a non-ECM page, leaves the T.38
 * terminal of 0.0.6 sending empty HDLC frames in an endless loop inside
 * one t38_terminal_send_timeout call. The guard stops the loop at its
 * packet bound and the call ends as dropped. (Without the guard this test
 * never returns and ctest fails it on its timeout.) */
struct lone {
    t38_terminal_state_t *t38;
    struct hdlc_guard guard;
    int result;
    bool done;
    long sent;
};

static int count_sent(t38_core_state_t *core, void *user, const uint8_t *buf, int len, int count)
{
    (void)core; (void)buf; (void)len; (void)count;
    ((struct lone *)user)->sent++;
    return 0;
}

static void lone_phase_e(t30_state_t *s, void *user, int result)
{
    (void)s;
    struct lone *l = user;
    l->result = result;
    l->done = true;
}

static void lone_frame(struct lone *l, const uint8_t *msg, int len)
{
    t38_core_state_t *core = t38_terminal_get_t38_core_state(l->t38);
    uint8_t wire[T38_MAX_HDLC_LEN];
    for (int i = 0; i < len; i++)
        wire[i] = bit_reverse8(msg[i]);
    bool final = msg[1] == 0x13;
    core->rx_data_handler(core, core->rx_user_data, T38_DATA_V21, T38_FIELD_HDLC_DATA, wire, len);
    core->rx_data_handler(core, core->rx_user_data, T38_DATA_V21,
                          final ? T38_FIELD_HDLC_FCS_OK_SIG_END : T38_FIELD_HDLC_FCS_OK, NULL, 0);
}

static void lone_wait(struct lone *l, int blocks)
{
    for (int i = 0; i < blocks && !l->guard.runaway; i++)
        if (hdlc_guard_t38_tick(&l->guard, BLOCK)) {
            t30_set_status(t38_terminal_get_t30_state(l->t38), T30_ERR_CALLDROPPED);
            t30_terminate(t38_terminal_get_t30_state(l->t38));
        }
}

static void test_mcf_during_non_ecm_page_over_t38_cannot_hang_the_terminal(void **state)
{
    (void)state;
    static const uint8_t dis[] = { 0xff, 0x13, 0x80, 0x00, 0xee, 0xf8, 0xc4, 0x80, 0x91, 0x80, 0x80, 0x80, 0x18 };
    static const uint8_t csi[] = { 0xff, 0x03, 0x40, '0', '0', '1', '0', ' ', '5', '5', '5', ' ', '1', '+',
                                   ' ', ' ', ' ', ' ', ' ', ' ', ' ', ' ', ' ' };
    static const uint8_t cfr[] = { 0xff, 0x13, 0x84 };
    static const uint8_t mcf[] = { 0xff, 0x13, 0x8c };
    char tx[64];
    snprintf(tx, sizeof tx, "/tmp/faxfs-t-guard-%ld-lone.tif", (long)getpid());
    assert_int_equal(faxtest_write(tx, 2, 64), 0);
    struct lone l;
    memset(&l, 0, sizeof l);
    l.t38 = t38_terminal_init(NULL, true, count_sent, &l);
    assert_non_null(l.t38);
    t38_core_state_t *core = t38_terminal_get_t38_core_state(l.t38);
    t38_set_t38_version(core, 0);
    t38_set_data_rate_management_method(core, T38_DATA_RATE_MANAGEMENT_TRANSFERRED_TCF);
    t38_set_max_datagram_size(core, 400);
    t38_set_fastest_image_data_rate(core, 14400);
    t38_terminal_set_config(l.t38, 0);
    hdlc_guard_attach_t38(&l.guard, l.t38);
    t30_state_t *t30 = t38_terminal_get_t30_state(l.t38);
    t30_set_ecm_capability(t30, 0);
    t30_set_supported_compressions(t30, T30_SUPPORT_T4_1D_COMPRESSION | T30_SUPPORT_T4_2D_COMPRESSION);
    t30_set_supported_modems(t30, T30_SUPPORT_V27TER | T30_SUPPORT_V29 | T30_SUPPORT_V17);
    t30_set_tx_file(t30, tx, -1, -1);
    t30_set_tx_ident(t30, "+1 555 0100");
    t30_set_tx_page_header_info(t30, "faxfs fuzz header");
    t30_set_phase_e_handler(t30, lone_phase_e, &l);

    lone_wait(&l, 1 + 128 + 128);
    lone_frame(&l, dis, sizeof dis);
    lone_wait(&l, 128 + 96 + 128);
    lone_frame(&l, csi, sizeof csi); /* no signal end after it */
    lone_wait(&l, 128);
    lone_frame(&l, cfr, sizeof cfr);
    lone_wait(&l, 107 + 3);          /* the page is on its way */
    lone_frame(&l, mcf, sizeof mcf);
    lone_wait(&l, 128);

    assert_true(l.guard.runaway);
    assert_true(l.done);
    assert_int_equal(l.result, T30_ERR_CALLDROPPED);
    assert_true(l.sent < 20000); /* the loop, unchecked, never ends */
    t38_terminal_free(l.t38);
    unlink(tx);
}

/* A full A4 page over T.38 with ECM sends a whole block in one tick
 * (well over a thousand packets): the loop guard must not take that for
 * the loop. */
static void test_full_page_t38_call_is_not_stopped(void **state)
{
    (void)state;
    struct call c;
    call_start(&c, true);
    assert_int_equal(faxtest_write(c.tx, 1, 2300), 0); /* read when the page starts */
    assert_call_completed(&c);
    assert_false(c.guard[0].runaway);
    assert_false(c.guard[1].runaway);
    call_free(&c);
}

/* A well-formed call passes the guard untouched on both ends. */
static void test_clean_call_drops_nothing(void **state)
{
    (void)state;
    for (int t38 = 0; t38 < 2; t38++) {
        struct call c;
        call_start(&c, t38);
        assert_call_completed(&c);
        assert_int_equal(c.guard[0].dropped, 0);
        assert_int_equal(c.guard[1].dropped, 0);
        call_free(&c);
    }
}

/* The predicate as spandsp judges frames: the FCF's low bit is ignored,
 * frames spandsp rejects by their header are left to spandsp. */
static void test_predicate_judges_fcf_as_spandsp_does(void **state)
{
    (void)state;
    const uint8_t fcd7[] = { 0xff, 0x03, 0x07 };
    const uint8_t badhdr[] = { 0x00, 0x03, 0x07 };
    uint8_t dcs25[25] = { 0xff, 0x13, 0x83 }, dcs26[26] = { 0xff, 0x13, 0x82 };
    uint8_t fcd261[261] = { 0xff, 0x03, 0x06 };
    assert_false(hdlc_guard_frame_is_safe(fcd7, sizeof fcd7));
    assert_true(hdlc_guard_frame_is_safe(badhdr, sizeof badhdr));
    assert_true(hdlc_guard_frame_is_safe(dcs25, sizeof dcs25));
    assert_false(hdlc_guard_frame_is_safe(dcs26, sizeof dcs26));
    assert_true(hdlc_guard_frame_is_safe(fcd261, 260));
    assert_false(hdlc_guard_frame_is_safe(fcd261, 261));
}

int main(void)
{
    const struct CMUnitTest tests[] = {
        cmocka_unit_test(test_predicate_judges_fcf_as_spandsp_does),
        cmocka_unit_test(test_short_fcd_fcf_07_over_audio_is_dropped_and_call_completes),
        cmocka_unit_test(test_short_fcd_fcf_07_over_t38_is_dropped_and_call_completes),
        cmocka_unit_test(test_short_fcd_fcf_06_over_audio_is_dropped_and_call_completes),
        cmocka_unit_test(test_short_fcd_completed_in_fcs_field_over_t38_is_dropped),
        cmocka_unit_test(test_long_dcs_over_audio_is_dropped_and_call_completes),
        cmocka_unit_test(test_long_dcs_over_t38_is_dropped_and_call_completes),
        cmocka_unit_test(test_repeated_nsf_over_audio_does_not_leak),
        cmocka_unit_test(test_repeated_nsf_over_t38_does_not_leak),
        cmocka_unit_test(test_mcf_during_non_ecm_page_over_t38_cannot_hang_the_terminal),
        cmocka_unit_test(test_full_page_t38_call_is_not_stopped),
        cmocka_unit_test(test_clean_call_drops_nothing),
    };
    return cmocka_run_group_tests(tests, NULL, NULL);
}

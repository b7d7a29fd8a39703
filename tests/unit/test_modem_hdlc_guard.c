/*
 * test_modem_hdlc_guard.c - the guard in front of spandsp's T.38
 * terminal: a short ECM FCD frame that a peer vouches for with "FCS OK"
 * reaches T.30 as a bad frame (spandsp 0.0.6 would crash on it), while
 * well-formed frames and other fields pass untouched.
 */
#include <setjmp.h>
#include <stdarg.h>
#include <stddef.h>
#include <stdint.h>
#include <string.h>

#include <cmocka.h>

#define SPANDSP_EXPOSE_INTERNAL_STRUCTURES
#include "modem/hdlc_guard.h"

/* What the guard passed on to the terminal. */
struct seen {
    int fields;
    int last_field_type;
};

static int record_rx_data(t38_core_state_t *core, void *user, int data_type, int field_type, const uint8_t *buf,
                          int len)
{
    (void)core; (void)data_type; (void)buf; (void)len;
    struct seen *s = user;
    s->fields++;
    s->last_field_type = field_type;
    return 0;
}

struct fixture {
    t38_terminal_state_t *t38;
    struct hdlc_guard guard;
    struct seen seen;
};

static int tx_nothing(t38_core_state_t *s, void *user, const uint8_t *buf, int len, int count)
{
    (void)s; (void)user; (void)buf; (void)len; (void)count;
    return 0;
}

static int setup(void **state)
{
    static struct fixture f;
    memset(&f, 0, sizeof f);
    f.t38 = t38_terminal_init(NULL, 0, tx_nothing, NULL);
    if (!f.t38)
        return -1;
    hdlc_guard_attach_t38(&f.guard, f.t38);
    /* Listen where the terminal would have been called. */
    f.guard.rx_data = record_rx_data;
    f.guard.rx_user = &f.seen;
    *state = &f;
    return 0;
}

static int teardown(void **state)
{
    struct fixture *f = *state;
    t38_terminal_free(f->t38);
    return 0;
}

/* Sends a frame (T.30 bit order) as T.38 does: bit-reversed data, then FCS OK. */
static int send_frame(struct fixture *f, const uint8_t *frame, int len)
{
    t38_core_state_t *core = t38_terminal_get_t38_core_state(f->t38);
    uint8_t wire[300];
    for (int i = 0; i < len; i++)
        wire[i] = bit_reverse8(frame[i]);
    core->rx_data_handler(core, core->rx_user_data, T38_DATA_V17_14400, T38_FIELD_HDLC_DATA, wire, len);
    core->rx_data_handler(core, core->rx_user_data, T38_DATA_V17_14400, T38_FIELD_HDLC_FCS_OK, NULL, 0);
    return f->seen.last_field_type;
}

static void test_short_fcd_frame_over_t38_reaches_t30_as_bad_frame(void **state)
{
    struct fixture *f = *state;
    const uint8_t fcd[] = { 0xff, 0x03, T4_FCD };
    assert_int_equal(send_frame(f, fcd, sizeof fcd), T38_FIELD_HDLC_FCS_BAD);
    assert_int_equal(f->guard.dropped, 1);
}

static void test_whole_fcd_frame_over_t38_passes(void **state)
{
    struct fixture *f = *state;
    uint8_t fcd[4 + 64] = { 0xff, 0x03, T4_FCD, 0x00 };
    assert_int_equal(send_frame(f, fcd, sizeof fcd), T38_FIELD_HDLC_FCS_OK);
    assert_int_equal(f->guard.dropped, 0);
}

static void test_short_control_frame_over_t38_passes(void **state)
{
    struct fixture *f = *state;
    const uint8_t cfr[] = { 0xff, 0x13, T30_CFR };
    assert_int_equal(send_frame(f, cfr, sizeof cfr), T38_FIELD_HDLC_FCS_OK);
    assert_int_equal(f->guard.dropped, 0);
}

int main(void)
{
    const struct CMUnitTest tests[] = {
        cmocka_unit_test_setup_teardown(test_short_fcd_frame_over_t38_reaches_t30_as_bad_frame, setup, teardown),
        cmocka_unit_test_setup_teardown(test_whole_fcd_frame_over_t38_passes, setup, teardown),
        cmocka_unit_test_setup_teardown(test_short_control_frame_over_t38_passes, setup, teardown),
    };
    return cmocka_run_group_tests(tests, NULL, NULL);
}

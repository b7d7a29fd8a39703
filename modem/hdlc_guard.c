/*
 * hdlc_guard.c - filters received HDLC frames before spandsp's T.30 sees
 * them. spandsp re-initialises its HDLC receiver, with t30_hdlc_accept
 * as the frame handler, every time T.30 switches receive modems; the
 * guard therefore wraps T.30's set-rx-type hook and re-installs itself
 * after each switch. A dropped frame is passed on as a frame with a bad
 * CRC, which T.30 already knows how to recover from (ECM asks for the
 * frame again; elsewhere the command is repeated or times out). Over
 * T.38 the guard sits in front of the terminal's IFP data handler.
 */
#define SPANDSP_EXPOSE_INTERNAL_STRUCTURES /* the HDLC receiver inside fax_state_t */
#include "modem/hdlc_guard.h"

#include <stdlib.h>
#include <string.h>

/* What spandsp 0.0.6 does with a frame, judged as t30.c judges it: only
 * frames with address 0xff and control 0x03/0x13 reach the FCF dispatch,
 * and every dispatch looks at msg[2] & 0xFE (the low bit only says
 * whether the sender had received a DIS). Each rule bounds the frame
 * length where spandsp trusts it. */
struct guard_rule {
    uint8_t fcf;     /* masked with 0xFE */
    int min_len;
    int max_len;
};

static const struct guard_rule guard_rules[] = {
    /* FCD: address, control, FCF, frame number, then 0..256 data bytes.
     * process_rx_fcd copies len - 4 bytes without checking len >= 4
     * (fixed upstream after 0.0.6: "Fix crash when FCD frame has bad
     * length but CRC is OK"). */
    { T4_FCD, 4, 4 + 256 },
    /* DCS: process_rx_dcs prints every octet from the fourth on as
     * " %02X" into rx_dcs_string[22 * 3 + 1]; from 26 octets on it writes
     * past the array into the rest of the T.30 state (unfixed upstream).
     * The last octet lands at 3 * (len - 1) - 10, its NUL at 3 * len - 10. */
    { T30_DCS, 0, (T30_MAX_DIS_DTC_DCS_LEN * 3 + 1 + 9) / 3 },
};

bool hdlc_guard_frame_is_safe(const uint8_t *msg, int len)
{
    if (len < 3)
        return true; /* T.30 itself rejects frames without an FCF */
    if (msg[0] != 0xFF || (msg[1] != 0x03 && msg[1] != 0x13))
        return true; /* T.30 rejects the header before it looks further */
    uint8_t fcf = msg[2] & 0xFE;
    for (size_t i = 0; i < sizeof guard_rules / sizeof guard_rules[0]; i++)
        if (guard_rules[i].fcf == fcf)
            return len >= guard_rules[i].min_len && len <= guard_rules[i].max_len;
    return true;
}

/* NSF, NSC and NSS (non-final frames only) are copied by T.30 into a
 * fresh malloc'd buffer that replaces the previous copy without freeing
 * it: every repeat leaks its length, and a T.38 peer can repeat them as
 * fast as the network carries them. The guard frees the old copy first,
 * so T.30 keeps the newest one as before and nothing leaks. */
static void guard_release_old_copy(t30_state_t *t30, const uint8_t *msg, int len)
{
    if (len < 3 || msg[0] != 0xFF || msg[1] != 0x03)
        return;
    uint8_t **copy = NULL;
    size_t *copy_len = NULL;
    if ((msg[2] & 0xFE) == (T30_NSF & 0xFE)) {
        bool nsf = msg[2] == T30_NSF;
        copy = nsf ? &t30->rx_info.nsf : &t30->rx_info.nsc;
        copy_len = nsf ? &t30->rx_info.nsf_len : &t30->rx_info.nsc_len;
    } else if ((msg[2] & 0xFE) == (T30_NSS & 0xFE)) {
        copy = &t30->rx_info.nss;
        copy_len = &t30->rx_info.nss_len;
    }
    if (copy && *copy) {
        free(*copy);
        *copy = NULL;
        *copy_len = 0;
    }
}

static void guard_deliver(struct hdlc_guard *g, const uint8_t *msg, int len, int ok)
{
    t30_state_t *t30 = fax_get_t30_state(g->fax);
    if (len >= 0 && ok && !hdlc_guard_frame_is_safe(msg, len)) {
        g->dropped++;
        span_log(t30_get_logging_state(t30), SPAN_LOG_FLOW, "Dropped a malformed frame of %d bytes\n", len);
        t30_hdlc_accept(t30, msg, len, 0);
        return;
    }
    if (len >= 0 && ok)
        guard_release_old_copy(t30, msg, len);
    t30_hdlc_accept(t30, msg, len, ok);
}

void hdlc_guard_release(struct hdlc_guard *g)
{
    /* Delivering may re-install the frame handler (a modem switch), never
     * call guard_accept itself: the list does not change under us. */
    int n = g->held_n;
    g->held_n = 0;
    for (int i = 0; i < n; i++) {
        const struct hdlc_guard_event *e = &g->held[i];
        guard_deliver(g, e->len >= 0 ? e->msg : NULL, e->len, e->ok);
    }
}

static bool guard_hold(struct hdlc_guard *g, const uint8_t *msg, int len, int ok)
{
    if (g->held_n >= HDLC_GUARD_HELD_MAX || len > HDLC_GUARD_HELD_FRAME_MAX || (len > 0 && !msg))
        return false;
    struct hdlc_guard_event *e = &g->held[g->held_n++];
    e->len = len;
    e->ok = ok;
    if (len > 0)
        memcpy(e->msg, msg, (size_t)len);
    return true;
}

static void guard_accept(void *user, const uint8_t *msg, int len, int ok)
{
    struct hdlc_guard *g = user;
    /* Once a frame is held, everything after it waits too: T.30 must see
     * the events in the order they came. */
    if (g->held_n > 0) {
        if (guard_hold(g, msg, len, ok))
            return;
        hdlc_guard_release(g);
    } else if (g->defer_final && len >= 3 && ok && msg[0] == 0xFF && msg[1] == 0x13 && guard_hold(g, msg, len, ok)) {
        return;
    }
    guard_deliver(g, msg, len, ok);
}

static void guard_set_rx_type(void *user, int type, int bit_rate, int short_train, int use_hdlc)
{
    struct hdlc_guard *g = user;
    g->set_rx_type(g->set_rx_type_user, type, bit_rate, short_train, use_hdlc);
    hdlc_rx_set_frame_handler(&g->fax->modems.hdlc_rx, guard_accept, g);
}

void hdlc_guard_attach(struct hdlc_guard *g, fax_state_t *fax)
{
    t30_state_t *t30 = fax_get_t30_state(fax);
    g->fax = fax;
    g->dropped = 0;
    g->defer_final = false;
    g->held_n = 0;
    g->set_rx_type = t30->set_rx_type_handler;
    g->set_rx_type_user = t30->set_rx_type_user_data;
    t30->set_rx_type_handler = guard_set_rx_type;
    t30->set_rx_type_user_data = g;
    hdlc_rx_set_frame_handler(&fax->modems.hdlc_rx, guard_accept, g);
}

/* ---- T.38: frames come as HDLC data fields ended by an FCS field ----
 * The terminal assembles a frame in its own buffer (it skips fields of
 * some data types, drops octets past T38_MAX_HDLC_LEN and marks the
 * frame as missing octets); the guard judges that buffer plus whatever
 * the FCS field carries, the exact bytes T.30 is about to get, when a
 * field vouches for it. */

static bool guard_fcs_ok(int field_type)
{
    return field_type == T38_FIELD_HDLC_FCS_OK || field_type == T38_FIELD_HDLC_FCS_OK_SIG_END;
}

static int guard_rx_data(t38_core_state_t *core, void *user, int data_type, int field_type, const uint8_t *buf,
                         int len)
{
    struct hdlc_guard *g = user;
    const t38_terminal_front_end_state_t *fe = &g->t38->t38_fe;
    t30_state_t *t30 = t38_terminal_get_t30_state(g->t38);
    if (guard_fcs_ok(field_type)) {
        /* The terminal appends octets that came inside the FCS field
         * itself (some gateways send them there) before it hands the frame
         * on: judge the frame with them, as T.30 will see it. */
        uint8_t frame[T38_MAX_HDLC_LEN];
        int n = fe->hdlc_rx.len;
        bool missing = fe->rx_data_missing;
        memcpy(frame, fe->hdlc_rx.buf, (size_t)n);
        if (len > 0 && n + len <= T38_MAX_HDLC_LEN) {
            bit_reverse(frame + n, buf, len);
            n += len;
        } else if (len > 0) {
            missing = true;
        }
        if (!missing && n > 0 && !hdlc_guard_frame_is_safe(frame, n)) {
            g->dropped++;
            span_log(t30_get_logging_state(t30), SPAN_LOG_FLOW, "Dropped a malformed frame of %d bytes\n", n);
            field_type = field_type == T38_FIELD_HDLC_FCS_OK ? T38_FIELD_HDLC_FCS_BAD : T38_FIELD_HDLC_FCS_BAD_SIG_END;
        } else if (!missing && n > 0) {
            guard_release_old_copy(t30, frame, n);
        }
    }
    return g->rx_data ? g->rx_data(core, g->rx_user, data_type, field_type, buf, len) : 0;
}

/* The three receive handlers share one user pointer: the guard takes it
 * and hands spandsp's own back to the two it does not filter. */
static int guard_rx_indicator(t38_core_state_t *core, void *user, int indicator)
{
    struct hdlc_guard *g = user;
    return g->rx_indicator ? g->rx_indicator(core, g->rx_user, indicator) : 0;
}

static int guard_rx_missing(t38_core_state_t *core, void *user, int rx_seq_no, int expected_seq_no)
{
    struct hdlc_guard *g = user;
    return g->rx_missing ? g->rx_missing(core, g->rx_user, rx_seq_no, expected_seq_no) : 0;
}

static int guard_tx_packet(t38_core_state_t *core, void *user, const uint8_t *buf, int len, int count)
{
    struct hdlc_guard *g = user;
    g->tiny_run = len <= 3 ? g->tiny_run + 1 : 0;
    if (++g->tx_this_tick > HDLC_GUARD_MAX_IFP_PER_TICK || g->tiny_run > HDLC_GUARD_MAX_TINY_RUN) {
        if (!g->runaway)
            span_log(t30_get_logging_state(t38_terminal_get_t30_state(g->t38)), SPAN_LOG_WARNING,
                     "T.38 terminal looped (%d packets, %d empty in a row, in one tick); stopping it\n",
                     g->tx_this_tick, g->tiny_run);
        g->runaway = true;
        return -1; /* t38_core_send_data fails, which ends the terminal's loop */
    }
    return g->tx_packet ? g->tx_packet(core, g->tx_user, buf, len, count) : 0;
}

bool hdlc_guard_t38_tick(struct hdlc_guard *g, int samples)
{
    g->tx_this_tick = 0;
    g->tiny_run = 0;
    t38_terminal_send_timeout(g->t38, samples);
    return g->runaway;
}

void hdlc_guard_attach_t38(struct hdlc_guard *g, t38_terminal_state_t *t38)
{
    t38_core_state_t *core = t38_terminal_get_t38_core_state(t38);
    g->fax = NULL;
    g->t38 = t38;
    g->dropped = 0;
    g->rx_data = core->rx_data_handler;
    g->rx_indicator = core->rx_indicator_handler;
    g->rx_missing = core->rx_missing_handler;
    g->rx_user = core->rx_user_data;
    core->rx_data_handler = guard_rx_data;
    core->rx_indicator_handler = guard_rx_indicator;
    core->rx_missing_handler = guard_rx_missing;
    core->rx_user_data = g;
    g->tx_packet = core->tx_packet_handler;
    g->tx_user = core->tx_packet_user_data;
    g->tx_this_tick = 0;
    g->tiny_run = 0;
    g->runaway = false;
    core->tx_packet_handler = guard_tx_packet;
    core->tx_packet_user_data = g;
}

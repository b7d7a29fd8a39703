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

bool hdlc_guard_frame_is_safe(const uint8_t *msg, int len)
{
    if (len < 3)
        return true; /* T.30 itself rejects frames without an FCF */
    /* FCD: address, control, FCF, frame number, then 0..256 data bytes.
     * 0.0.6 copies len - 4 bytes without checking len >= 4. */
    if (msg[2] == T4_FCD)
        return len >= 4 && len <= 4 + 256;
    return true;
}

static void guard_accept(void *user, const uint8_t *msg, int len, int ok)
{
    struct hdlc_guard *g = user;
    t30_state_t *t30 = fax_get_t30_state(g->fax);
    if (len >= 0 && ok && !hdlc_guard_frame_is_safe(msg, len)) {
        g->dropped++;
        span_log(t30_get_logging_state(t30), SPAN_LOG_FLOW, "Dropped a malformed frame of %d bytes\n", len);
        t30_hdlc_accept(t30, msg, len, 0);
        return;
    }
    t30_hdlc_accept(t30, msg, len, ok);
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
    g->set_rx_type = t30->set_rx_type_handler;
    g->set_rx_type_user = t30->set_rx_type_user_data;
    t30->set_rx_type_handler = guard_set_rx_type;
    t30->set_rx_type_user_data = g;
    hdlc_rx_set_frame_handler(&fax->modems.hdlc_rx, guard_accept, g);
}

/* ---- T.38: frames come as HDLC data fields ended by an FCS field ---- */

static bool guard_fcs_ok(int field_type)
{
    return field_type == T38_FIELD_HDLC_FCS_OK || field_type == T38_FIELD_HDLC_FCS_OK_SIG_END;
}

static int guard_rx_data(t38_core_state_t *core, void *user, int data_type, int field_type, const uint8_t *buf,
                         int len)
{
    struct hdlc_guard *g = user;
    if (field_type == T38_FIELD_HDLC_DATA) {
        /* T.38 carries HDLC octets bit-reversed relative to T.30's view. */
        for (int i = 0; i < len && g->frame_len + i < 3; i++)
            g->head[g->frame_len + i] = bit_reverse8(buf[i]);
        g->frame_len += len > 0 ? len : 0;
    } else if (guard_fcs_ok(field_type)) {
        if (g->frame_len > 0 && !hdlc_guard_frame_is_safe(g->head, g->frame_len)) {
            g->dropped++;
            span_log(t30_get_logging_state(t38_terminal_get_t30_state(g->t38)), SPAN_LOG_FLOW,
                     "Dropped a malformed frame of %d bytes\n", g->frame_len);
            field_type = field_type == T38_FIELD_HDLC_FCS_OK ? T38_FIELD_HDLC_FCS_BAD : T38_FIELD_HDLC_FCS_BAD_SIG_END;
        }
        g->frame_len = 0;
    } else {
        g->frame_len = 0; /* FCS bad, signal end, other data: the frame is over */
    }
    return g->rx_data ? g->rx_data(core, g->rx_user, data_type, field_type, buf, len) : 0;
}

/* The three receive handlers share one user pointer: the guard takes it
 * and hands spandsp's own back to the two it does not filter. */
static int guard_rx_indicator(t38_core_state_t *core, void *user, int indicator)
{
    struct hdlc_guard *g = user;
    g->frame_len = 0;
    return g->rx_indicator ? g->rx_indicator(core, g->rx_user, indicator) : 0;
}

static int guard_rx_missing(t38_core_state_t *core, void *user, int rx_seq_no, int expected_seq_no)
{
    struct hdlc_guard *g = user;
    g->frame_len = 0; /* part of the frame may be gone: never vouch for it */
    return g->rx_missing ? g->rx_missing(core, g->rx_user, rx_seq_no, expected_seq_no) : 0;
}

void hdlc_guard_attach_t38(struct hdlc_guard *g, t38_terminal_state_t *t38)
{
    t38_core_state_t *core = t38_terminal_get_t38_core_state(t38);
    g->fax = NULL;
    g->t38 = t38;
    g->dropped = 0;
    g->frame_len = 0;
    g->rx_data = core->rx_data_handler;
    g->rx_indicator = core->rx_indicator_handler;
    g->rx_missing = core->rx_missing_handler;
    g->rx_user = core->rx_user_data;
    core->rx_data_handler = guard_rx_data;
    core->rx_indicator_handler = guard_rx_indicator;
    core->rx_missing_handler = guard_rx_missing;
    core->rx_user_data = g;
}

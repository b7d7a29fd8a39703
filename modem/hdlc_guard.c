/*
 * hdlc_guard.c - filters received HDLC frames before spandsp's T.30 sees
 * them. spandsp re-initialises its HDLC receiver, with t30_hdlc_accept
 * as the frame handler, every time T.30 switches receive modems; the
 * guard therefore wraps T.30's set-rx-type hook and re-installs itself
 * after each switch. A dropped frame is passed on as a frame with a bad
 * CRC, which T.30 already knows how to recover from (ECM asks for the
 * frame again; elsewhere the command is repeated or times out).
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

/*
 * fax_engine.c - one spandsp T.30 endpoint over audio or over T.38. The
 * T.38 terminal is set up for UDPTL (T.38 version 0, transferred TCF, the
 * 14400 bps ceiling of V.17) and paced by its caller's ticks, which are
 * 20 ms of wall clock on a SIP line.
 */
#include "modem/fax_engine.h"

#include <errno.h>
#include <string.h>

#define ENGINE_T38_MAX_DATAGRAM 400

static int engine_t38_tx(t38_core_state_t *core, void *user, const uint8_t *buf, int len, int count)
{
    (void)core;
    (void)count; /* repeats are UDPTL redundancy's job: each IFP goes once */
    struct fax_engine *e = user;
    if (e->send_ifp)
        e->send_ifp(e->send_user, buf, len);
    return 0;
}

int fax_engine_start(struct fax_engine *e, enum line_media kind, bool calling, fax_engine_ifp_fn send_ifp,
                     void *user)
{
    memset(e, 0, sizeof *e);
    e->kind = kind;
    e->send_ifp = send_ifp;
    e->send_user = user;
    if (kind == LINE_MEDIA_AUDIO) {
        e->fax = fax_init(NULL, calling);
        if (!e->fax)
            return -ENOMEM;
        fax_set_transmit_on_idle(e->fax, 1);
        hdlc_guard_attach(&e->guard, e->fax);
        e->t30 = fax_get_t30_state(e->fax);
        return 0;
    }
    e->t38 = t38_terminal_init(NULL, calling, engine_t38_tx, e);
    if (!e->t38)
        return -ENOMEM;
    t38_core_state_t *core = t38_terminal_get_t38_core_state(e->t38);
    t38_set_t38_version(core, 0);
    t38_set_data_rate_management_method(core, T38_DATA_RATE_MANAGEMENT_TRANSFERRED_TCF);
    t38_set_max_datagram_size(core, ENGINE_T38_MAX_DATAGRAM);
    t38_set_fastest_image_data_rate(core, 14400);
    /* Paced output, indicators sent once: UDPTL redundancy covers loss.
     * (0.0.6 with 2 s repeating indicators never starts ECM image data:
     * it keeps repeating no-signal after CFR.) */
    t38_terminal_set_config(e->t38, 0);
    hdlc_guard_attach_t38(&e->guard, e->t38);
    e->t30 = t38_terminal_get_t30_state(e->t38);
    return 0;
}

bool fax_engine_started(const struct fax_engine *e)
{
    return e->t30 != NULL;
}

void fax_engine_rx_audio(struct fax_engine *e, const int16_t *buf, int n)
{
    if (!e->fax)
        return;
    int16_t block[LINE_BLOCK];
    for (int off = 0; off < n; off += LINE_BLOCK) {
        int len = n - off < LINE_BLOCK ? n - off : LINE_BLOCK;
        memcpy(block, buf + off, sizeof(int16_t) * (size_t)len); /* fax_rx may modify its input */
        fax_rx(e->fax, block, len);
    }
}

void fax_engine_rx_lost(struct fax_engine *e, int n)
{
    if (e->fax && n > 0)
        fax_rx_fillin(e->fax, n);
}

void fax_engine_tx_audio(struct fax_engine *e, int16_t *buf, int n)
{
    int m = e->fax ? fax_tx(e->fax, buf, n) : 0;
    if (m < n)
        memset(buf + m, 0, sizeof(int16_t) * (size_t)(n - m));
}

void fax_engine_rx_ifp(struct fax_engine *e, const uint8_t *buf, int len, uint16_t seq)
{
    if (e->t38)
        t38_core_rx_ifp_packet(t38_terminal_get_t38_core_state(e->t38), buf, len, seq);
}

void fax_engine_tick(struct fax_engine *e, int n)
{
    if (!e->t38 || e->guard.runaway)
        return;
    if (hdlc_guard_t38_tick(&e->guard, n)) {
        /* The remote steered the terminal into an endless loop: end the
         * call as dropped (phase E reports it) rather than spin. */
        t30_set_status(e->t30, T30_ERR_CALLDROPPED);
        t30_terminate(e->t30);
    }
}

void fax_engine_free(struct fax_engine *e)
{
    if (e->fax)
        fax_free(e->fax);
    if (e->t38)
        t38_terminal_free(e->t38);
    e->fax = NULL;
    e->t38 = NULL;
    e->t30 = NULL;
}

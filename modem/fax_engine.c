/*
 * fax_engine.c - one spandsp T.30 endpoint over audio or over T.38, and
 * what sending and receiving share about T.30: its setup, its transcript
 * log and the names of its results. The T.38 terminal is set up for
 * UDPTL (T.38 version 0, transferred TCF, the 14400 bps ceiling of V.17)
 * and paced by its caller's ticks, which are 20 ms of wall clock on a SIP line.
 */
#include "modem/fax_engine.h"

#include <ctype.h>
#include <errno.h>
#include <stdio.h>
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

/* The engine whose DSP call this thread is making (see fax_engine_log_enter). */
static _Thread_local struct fax_engine *engine_logging;

/* spandsp's flow-level messages that say nothing to a reader of the job
 * log: capability bit decodes, state numbers, per-frame signal chatter. */
static const char *const engine_log_noise[] = {
    "  ", "DIS:", "DCS:", "DTC:", "HDLC signal status", "Bad CRC and timer", "Bad HDLC CRC",
    "Stop ", "Changing from state", "Partial page buffer", "Minimum bits per row",
    "Rx final frame in state", "Start sending document", "Trying to send file",
    "Send complete in phase", "Tx:  FCD", "Tx:  RCP", "Start T", "Is there more to send",
    "Rx:  FCD", "Rx:  RCP", "Storing ECM frame", "Set rx type", "Set tx type", "Queue tx",
    "Non-ECM signal status", "ECM signal status", "ECM carrier not found", "Status changing to",
};

bool fax_engine_log_is_noise(const char *text)
{
    for (size_t i = 0; i < sizeof engine_log_noise / sizeof engine_log_noise[0]; i++)
        if (strncmp(text, engine_log_noise[i], strlen(engine_log_noise[i])) == 0)
            return true;
    /* Hex dumps of frames follow their decoded name ("Tx:  ff 13 83 ..."). */
    if ((strncmp(text, "Tx:  ", 5) == 0 || strncmp(text, "Rx:  ", 5) == 0) && isxdigit((unsigned char)text[5])
        && isxdigit((unsigned char)text[6]) && text[7] == ' ')
        return true;
    return false;
}

/* Turns spandsp's T.30 log into transcript lines: one line per message,
 * without the trailing newline, protocol flow only. */
static void engine_span_log(int level, const char *text)
{
    (void)level;
    struct fax_engine *e = engine_logging;
    if (!e || !e->log || fax_engine_log_is_noise(text))
        return;
    char line[256];
    size_t n = strnlen(text, sizeof line - 8);
    while (n > 0 && (text[n - 1] == '\n' || text[n - 1] == '\r'))
        n--;
    if (n == 0)
        return;
    snprintf(line, sizeof line, "T.30: %.*s", (int)n, text);
    e->log(e->log_user, line);
}

void fax_engine_log_enter(struct fax_engine *e)
{
    engine_logging = e;
}

void fax_engine_log_leave(void)
{
    engine_logging = NULL;
}

void fax_engine_setup_t30(struct fax_engine *e, const char *ident, const char *tz, fax_engine_log_fn log,
                          void *log_user)
{
    t30_state_t *t30 = e->t30;
    e->log = log;
    e->log_user = log_user;
    if (ident && ident[0])
        t30_set_tx_ident(t30, ident);
    t30_set_tx_page_header_tz(t30, tz);
    t30_set_ecm_capability(t30, 1);
    t30_set_supported_compressions(t30, T30_SUPPORT_T4_1D_COMPRESSION | T30_SUPPORT_T4_2D_COMPRESSION
                                            | T30_SUPPORT_T6_COMPRESSION);
    t30_set_supported_modems(t30, T30_SUPPORT_V27TER | T30_SUPPORT_V29 | T30_SUPPORT_V17);
    logging_state_t *span = t30_get_logging_state(t30);
    span_log_set_level(span, SPAN_LOG_FLOW);
    span_log_set_message_handler(span, engine_span_log);
}

void fax_engine_limit(struct fax_engine *e, int ecm, int max_bit_rate, int min_bit_rate)
{
    t30_state_t *t30 = e->t30;
    int modems = T30_SUPPORT_V27TER | T30_SUPPORT_V29 | T30_SUPPORT_V17;

    if (ecm == 0)
        t30_set_ecm_capability(t30, 0);
    if (max_bit_rate > 0 && max_bit_rate <= 9600)
        modems &= ~T30_SUPPORT_V17;
    if (max_bit_rate > 0 && max_bit_rate <= 4800)
        modems &= ~T30_SUPPORT_V29;
    if (min_bit_rate >= 7200 && (modems & ~T30_SUPPORT_V27TER))
        modems &= ~T30_SUPPORT_V27TER;
    t30_set_supported_modems(t30, modems);
    if (e->t38 && max_bit_rate > 0)
        t38_set_fastest_image_data_rate(t38_terminal_get_t38_core_state(e->t38), max_bit_rate);
}

const char *fax_engine_compression_name(int encoding)
{
    switch (encoding) {
    case T4_COMPRESSION_ITU_T4_1D: return "T.4 1D";
    case T4_COMPRESSION_ITU_T4_2D: return "T.4 2D";
    case T4_COMPRESSION_ITU_T6: return "T.6";
    default: return "";
    }
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

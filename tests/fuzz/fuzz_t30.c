/*
 * fuzz_t30.c - libFuzzer target for what a remote fax machine can send to
 * a real spandsp T.30 endpoint with the HDLC guard attached, configured as
 * faxfs configures it (ECM, T.4 1D/2D and T.6, V.27ter/V.29/V.17, FLOW
 * logging). The first input byte picks audio or T.38, sending or
 * answering, ECM or not; the rest is a script of remote events: HDLC
 * frames (through the handler the guard wraps), frames captured from a
 * real call (so the script reaches phases B, C and D), modem status,
 * non-ECM image/TCF data, raw IFP packets and raw T.38 fields, and time.
 * FAXFS_FUZZ_T30_UNGUARDED=1 runs without the guard, to show what it stops.
 */
#include <stdbool.h>
#include <stddef.h>
#include <stdint.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <unistd.h>

#define SPANDSP_EXPOSE_INTERNAL_STRUCTURES /* the HDLC receiver inside fax_state_t */
#include "modem/hdlc_guard.h"
#include "tests/lib/faxtest.h"

#define BLOCK 160
#define MAX_BLOCKS 1500 /* 30 s of line time per input */
#define MAX_CANNED 96
/* The page header sits right after rx_dcs_string in the T.30 state: an
 * overrun there changes it without any sanitizer noticing. */
#define PAGE_HEADER "faxfs fuzz header"

struct canned {
    uint8_t msg[T38_MAX_HDLC_LEN];
    int len;
};

static char tx_path[64];
static char rx_path[64];
static struct canned canned[MAX_CANNED];
static int ncanned;
static bool unguarded;

static bool trace; /* FAXFS_FUZZ_T30_TRACE=1: T.30's state after each event, and spandsp's log */

static void log_nothing(int level, const char *text)
{
    (void)level;
    if (trace)
        fputs(text, stderr);
}

static void quiet(logging_state_t *log, int level)
{
    span_log_set_level(log, level);
    span_log_set_message_handler(log, log_nothing);
}

/* Every frame either end of a real call receives becomes a canned frame. */
static void capture(t30_state_t *s, void *user, int incoming, const uint8_t *msg, int len)
{
    (void)s;
    (void)user;
    if (!incoming || ncanned >= MAX_CANNED || len <= 0 || len > T38_MAX_HDLC_LEN)
        return;
    int same_fcf = 0;
    for (int i = 0; i < ncanned; i++) {
        if (canned[i].len == len && memcmp(canned[i].msg, msg, (size_t)len) == 0)
            return;
        if (len >= 3 && canned[i].len >= 3 && (canned[i].msg[2] & 0xFE) == (msg[2] & 0xFE))
            same_fcf++;
    }
    if (same_fcf >= 3)
        return; /* a few image frames are enough */
    memcpy(canned[ncanned].msg, msg, (size_t)len);
    canned[ncanned].len = len;
    ncanned++;
}

static void configure(t30_state_t *t30, bool ecm, bool calling)
{
    t30_set_ecm_capability(t30, ecm);
    t30_set_supported_compressions(t30, T30_SUPPORT_T4_1D_COMPRESSION | T30_SUPPORT_T4_2D_COMPRESSION
                                            | (ecm ? T30_SUPPORT_T6_COMPRESSION : 0));
    t30_set_supported_modems(t30, T30_SUPPORT_V27TER | T30_SUPPORT_V29 | T30_SUPPORT_V17);
    if (calling)
        t30_set_tx_file(t30, tx_path, -1, -1);
    else
        t30_set_rx_file(t30, rx_path, -1);
    t30_set_tx_ident(t30, "+1 555 0100");
    t30_set_tx_page_header_info(t30, PAGE_HEADER);
    quiet(t30_get_logging_state(t30), SPAN_LOG_FLOW);
}

/* One real audio call, back to back, to learn what real frames look like. */
static void capture_call(bool ecm)
{
    fax_state_t *end[2] = { fax_init(NULL, true), fax_init(NULL, false) };
    if (!end[0] || !end[1])
        abort();
    for (int i = 0; i < 2; i++) {
        configure(fax_get_t30_state(end[i]), ecm, i == 0);
        fax_set_transmit_on_idle(end[i], 1);
        t30_set_real_time_frame_handler(fax_get_t30_state(end[i]), capture, NULL);
    }
    for (int block = 0; block < 90 * 50; block++) {
        int16_t a[BLOCK], b[BLOCK];
        memset(a, 0, sizeof a);
        memset(b, 0, sizeof b);
        fax_tx(end[0], a, BLOCK);
        fax_tx(end[1], b, BLOCK);
        fax_rx(end[1], a, BLOCK);
        fax_rx(end[0], b, BLOCK);
        if (t30_call_active(fax_get_t30_state(end[0])) == 0 && t30_call_active(fax_get_t30_state(end[1])) == 0)
            break;
    }
    fax_free(end[0]);
    fax_free(end[1]);
}

static void remove_page_files(void)
{
    unlink(tx_path);
    unlink(rx_path);
}

int LLVMFuzzerInitialize(int *argc, char ***argv)
{
    (void)argc;
    (void)argv;
    const char *e = getenv("FAXFS_FUZZ_T30_UNGUARDED");
    unguarded = e && *e && strcmp(e, "0") != 0;
    e = getenv("FAXFS_FUZZ_T30_TRACE");
    trace = e && *e && strcmp(e, "0") != 0;
    snprintf(tx_path, sizeof tx_path, "/tmp/faxfs-fuzz-t30-%ld-tx.tif", (long)getpid());
    snprintf(rx_path, sizeof rx_path, "/tmp/faxfs-fuzz-t30-%ld-rx.tif", (long)getpid());
    if (faxtest_write(tx_path, 2, 64) != 0)
        abort();
    atexit(remove_page_files); /* libFuzzer ends with exit() */
    capture_call(true);
    capture_call(false);
    unlink(rx_path);
    if (getenv("FAXFS_FUZZ_T30_LIST")) /* the canned frames, for writing seeds */
        for (int i = 0; i < ncanned; i++) {
            fprintf(stderr, "%2d:", i);
            for (int j = 0; j < canned[i].len && j < 24; j++)
                fprintf(stderr, " %02x", canned[i].msg[j]);
            fprintf(stderr, " (%d bytes)\n", canned[i].len);
        }
    return 0;
}

/* ---- one endpoint under test ---- */

struct target {
    bool audio;
    fax_state_t *fax;
    t38_terminal_state_t *t38;
    t30_state_t *t30;
    struct hdlc_guard guard;
    uint16_t seq;
    /* Audio: which receiver T.30 last asked fax.c for, since only that
     * one can deliver anything (fax.c ignores a request for the same type). */
    t30_set_handler_t *set_rx_type;
    void *set_rx_type_user;
    int rx_type;
    bool rx_hdlc;
};

static void track_rx_type(void *user, int type, int bit_rate, int short_train, int use_hdlc)
{
    struct target *t = user;
    if (type != t->rx_type) {
        t->rx_type = type;
        t->rx_hdlc = use_hdlc;
    }
    t->set_rx_type(t->set_rx_type_user, type, bit_rate, short_train, use_hdlc);
}

static bool fast_modem(int type)
{
    return type == T30_MODEM_V27TER || type == T30_MODEM_V29 || type == T30_MODEM_V17;
}

/* Over audio a frame arrives only while a V.21 receiver runs (alone or
 * beside a fast modem); image data and its status only from a fast
 * modem set up without HDLC. */
static bool audio_hears_frames(const struct target *t)
{
    return t->rx_type == T30_MODEM_V21 || fast_modem(t->rx_type);
}

static bool audio_hears_non_ecm(const struct target *t)
{
    return fast_modem(t->rx_type) && !t->rx_hdlc;
}

static unsigned sent_sum; /* keeps the reads below from being optimised away */

static int t38_tx_nothing(t38_core_state_t *s, void *user, const uint8_t *buf, int len, int count)
{
    (void)s;
    (void)user;
    (void)count;
    /* Touch what spandsp sends so the sanitizers check it. */
    for (int i = 0; i < len; i++)
        sent_sum += buf[i];
    return 0;
}

static bool target_start(struct target *t, uint8_t mode)
{
    memset(t, 0, sizeof *t);
    t->audio = !(mode & 1);
    bool calling = mode & 2;
    bool ecm = !(mode & 4);
    if (t->audio) {
        t->fax = fax_init(NULL, calling);
        if (!t->fax)
            return false;
        fax_set_transmit_on_idle(t->fax, 1);
        quiet(fax_get_logging_state(t->fax), SPAN_LOG_FLOW);
        if (!unguarded)
            hdlc_guard_attach(&t->guard, t->fax);
        t->t30 = fax_get_t30_state(t->fax);
        t->rx_type = t->fax->modems.current_rx_type;
        t->set_rx_type = t->t30->set_rx_type_handler;
        t->set_rx_type_user = t->t30->set_rx_type_user_data;
        t->t30->set_rx_type_handler = track_rx_type;
        t->t30->set_rx_type_user_data = t;
    } else {
        t->t38 = t38_terminal_init(NULL, calling, t38_tx_nothing, NULL);
        if (!t->t38)
            return false;
        t38_core_state_t *core = t38_terminal_get_t38_core_state(t->t38);
        t38_set_t38_version(core, 0);
        t38_set_data_rate_management_method(core, T38_DATA_RATE_MANAGEMENT_TRANSFERRED_TCF);
        t38_set_max_datagram_size(core, 400);
        t38_set_fastest_image_data_rate(core, 14400);
        t38_terminal_set_config(t->t38, 0);
        quiet(t38_terminal_get_logging_state(t->t38), SPAN_LOG_FLOW);
        quiet(t38_core_get_logging_state(core), SPAN_LOG_FLOW);
        if (!unguarded)
            hdlc_guard_attach_t38(&t->guard, t->t38);
        t->t30 = t38_terminal_get_t30_state(t->t38);
    }
    configure(t->t30, ecm, calling);
    return true;
}

static void target_stop(struct target *t)
{
    t30_terminate(t->t30);
    if (t->fax)
        fax_free(t->fax);
    if (t->t38)
        t38_terminal_free(t->t38);
}

/* A frame as the remote's modem delivers it: through the HDLC receiver's
 * frame handler (audio) or as HDLC data fields and an FCS field (T.38). */
static void send_frame(struct target *t, const uint8_t *msg, int len, bool ok, uint8_t data_type, bool sig_end)
{
    if (t->audio) {
        hdlc_rx_state_t *rx = &t->fax->modems.hdlc_rx;
        if (audio_hears_frames(t))
            rx->frame_handler(rx->frame_user_data, msg, len, ok);
        if (sig_end && audio_hears_frames(t))
            rx->frame_handler(rx->frame_user_data, NULL, SIG_STATUS_CARRIER_DOWN, true);
        return;
    }
    t38_core_state_t *core = t38_terminal_get_t38_core_state(t->t38);
    uint8_t wire[T38_MAX_HDLC_LEN + 16];
    int n = len < (int)sizeof wire ? len : (int)sizeof wire;
    for (int i = 0; i < n; i++)
        wire[i] = bit_reverse8(msg[i]);
    int dt = data_type % 9; /* V.21 .. V.17 14400: the types that carry HDLC */
    core->rx_data_handler(core, core->rx_user_data, dt, T38_FIELD_HDLC_DATA, wire, n);
    int fcs = ok ? (sig_end ? T38_FIELD_HDLC_FCS_OK_SIG_END : T38_FIELD_HDLC_FCS_OK)
                 : (sig_end ? T38_FIELD_HDLC_FCS_BAD_SIG_END : T38_FIELD_HDLC_FCS_BAD);
    core->rx_data_handler(core, core->rx_user_data, dt, fcs, NULL, 0);
}

static void send_status(struct target *t, uint8_t which)
{
    static const int status[] = { SIG_STATUS_CARRIER_UP, SIG_STATUS_CARRIER_DOWN, SIG_STATUS_TRAINING_SUCCEEDED,
                                  SIG_STATUS_TRAINING_FAILED, SIG_STATUS_FRAMING_OK, SIG_STATUS_ABORT };
    int st = status[(which & 0x7F) % (sizeof status / sizeof status[0])];
    if (t->audio) {
        if (which & 0x80) {
            if (audio_hears_non_ecm(t))
                t30_non_ecm_put_bit(t->t30, st);
        } else if (audio_hears_frames(t)) {
            hdlc_rx_state_t *rx = &t->fax->modems.hdlc_rx;
            rx->frame_handler(rx->frame_user_data, NULL, st, true);
        }
        return;
    }
    t38_core_state_t *core = t38_terminal_get_t38_core_state(t->t38);
    core->rx_indicator_handler(core, core->rx_user_data, which % (T38_IND_V33_14400_TRAINING + 1));
}

static void send_non_ecm(struct target *t, const uint8_t *buf, int len, bool end)
{
    if (t->audio) {
        if (!audio_hears_non_ecm(t))
            return;
        for (int i = 0; i < len; i++)
            for (int b = 0; b < 8; b++)
                t30_non_ecm_put_bit(t->t30, (buf[i] >> b) & 1);
        if (end)
            t30_non_ecm_put_bit(t->t30, SIG_STATUS_CARRIER_DOWN);
        return;
    }
    t38_core_state_t *core = t38_terminal_get_t38_core_state(t->t38);
    core->rx_data_handler(core, core->rx_user_data, T38_DATA_V17_14400,
                          end ? T38_FIELD_T4_NON_ECM_SIG_END : T38_FIELD_T4_NON_ECM_DATA, buf, len);
}

static void advance(struct target *t, int blocks)
{
    for (int i = 0; i < blocks; i++) {
        if (t->audio) {
            int16_t tx[BLOCK], rx[BLOCK];
            fax_tx(t->fax, tx, BLOCK);
            memset(rx, 0, sizeof rx);
            fax_rx(t->fax, rx, BLOCK);
        } else if (unguarded) {
            t38_terminal_send_timeout(t->t38, BLOCK);
        } else if (!t->guard.runaway && hdlc_guard_t38_tick(&t->guard, BLOCK)) {
            /* as fax_engine_tick does: the call ends, dropped */
            t30_set_status(t->t30, T30_ERR_CALLDROPPED);
            t30_terminate(t->t30);
        }
    }
}

/* spandsp is a system library without coverage instrumentation, so the
 * fuzzer is told about T.30's progress instead: every (state, state),
 * (state, phase, step) and (state, event) seen is a feature of its own. */
#define STATE_FEATURES 8192
__attribute__((used, section("__libfuzzer_extra_counters"))) static uint8_t state_features[STATE_FEATURES];

static void note_progress(const t30_state_t *t30, int *prev_state, int op)
{
    unsigned st = (unsigned)t30->state & 63, ph = (unsigned)t30->phase & 15, step = (unsigned)t30->step & 7;
    state_features[(unsigned)(*prev_state & 63) * 64 + st]++;
    state_features[4096 + ((st * 16 + ph) * 8 + step) % 2048]++;
    state_features[6144 + (st * 32 + ((unsigned)op & 31)) % 2048]++;
    *prev_state = (int)st;
    if (strcmp(t30->header_info, PAGE_HEADER) != 0) {
        fprintf(stderr, "T.30 state corrupted: page header is now \"%.60s\"\n", t30->header_info);
        abort();
    }
    if (trace)
        fprintf(stderr, "op %02x: state %d phase %d step %d\n", (unsigned)op, t30->state, t30->phase, t30->step);
}

/* Reads the next n bytes of the script, or fewer at its end. */
struct script {
    const uint8_t *p;
    size_t left;
};

static int take(struct script *s, const uint8_t **out, int n)
{
    if ((size_t)n > s->left)
        n = (int)s->left;
    *out = s->p;
    s->p += n;
    s->left -= (size_t)n;
    return n;
}

static int take_byte(struct script *s)
{
    const uint8_t *b;
    return take(s, &b, 1) == 1 ? b[0] : 0;
}

int LLVMFuzzerTestOneInput(const uint8_t *data, size_t size)
{
    if (size < 1)
        return 0;
    struct target t;
    if (!target_start(&t, data[0]))
        return 0;
    struct script s = { data + 1, size - 1 };
    int blocks = 0;
    int prev_state = 0;
    advance(&t, 1);
    while (s.left > 0 && blocks < MAX_BLOCKS) {
        int op = take_byte(&s);
        const uint8_t *buf;
        int n;
        switch (op & 7) {
        case 0: /* a raw frame: length, bytes; op bit 3 = bad CRC */
            n = take(&s, &buf, take_byte(&s) + ((op & 0x10) ? 256 : 0));
            send_frame(&t, buf, n, !(op & 8), (uint8_t)(op >> 5), false);
            break;
        case 1: /* a frame from a real call, maybe cut short or with one octet changed */
            if (ncanned > 0) {
                const struct canned *c = &canned[take_byte(&s) % ncanned];
                uint8_t msg[T38_MAX_HDLC_LEN];
                memcpy(msg, c->msg, (size_t)c->len);
                int len = c->len;
                if (op & 8) {
                    int at = take_byte(&s);
                    msg[at % len] ^= (uint8_t)take_byte(&s);
                }
                if (op & 0x10)
                    len = take_byte(&s) % (len + 1);
                /* the carrier ends after a final frame, as real peers do */
                send_frame(&t, msg, len, true, 0, len >= 2 && msg[1] == 0x13);
            }
            break;
        case 2: /* modem status or T.38 indicator */
            send_status(&t, (uint8_t)take_byte(&s));
            break;
        case 3: /* non-ECM data (TCF or image) */
            n = take(&s, &buf, take_byte(&s));
            send_non_ecm(&t, buf, n, op & 8);
            break;
        case 4: /* time passes */
            n = 1 + take_byte(&s) % 128;
            advance(&t, n);
            blocks += n;
            break;
        case 5: /* a raw IFP packet */
            n = take(&s, &buf, take_byte(&s));
            if (t.t38)
                t38_core_rx_ifp_packet(t38_terminal_get_t38_core_state(t.t38), buf, n, t.seq++);
            else
                send_frame(&t, buf, n, true, 0, false);
            break;
        case 6: /* a raw T.38 field: data type, field type, length, bytes */
            if (t.t38) {
                int dt = take_byte(&s) % (T38_DATA_V33_14400 + 1);
                int ft = take_byte(&s) % (T38_FIELD_V34RATE + 1);
                n = take(&s, &buf, take_byte(&s));
                t38_core_state_t *core = t38_terminal_get_t38_core_state(t.t38);
                core->rx_data_handler(core, core->rx_user_data, dt, ft, n > 0 ? buf : (const uint8_t *)"", n);
            }
            break;
        default: /* a short wait, the usual gap between frames */
            advance(&t, 3);
            blocks += 3;
            break;
        }
        note_progress(t.t30, &prev_state, op);
    }
    target_stop(&t);
    return 0;
}

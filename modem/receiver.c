/*
 * receiver.c - inbound slots and the T.30 receiver of an inbound call.
 * spandsp writes the received document into one TIFF, appending a
 * directory when a page ends (t4_rx_end_page) and only then counting the
 * page in its statistics; so between DSP calls, on the thread that runs
 * them, every page the statistics count is complete on disk. Each is
 * copied into its own single-page file and handed over at once.
 * spandsp rewrites the directories when it closes the file, which only
 * happens inside t30_terminate/fax_free, after which we read it again.
 */
#include "modem/receiver.h"

#include <errno.h>
#include <limits.h>
#include <stdarg.h>
#include <stdatomic.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/stat.h>
#include <unistd.h>

#include <tiffio.h>
#include <spandsp.h>

#include "modem/fax_engine.h"
#include "modem/result.h"
#include "modem/tiff_join.h"

#define INBOUND_DEFAULT_SLOTS 8
#define INBOUND_DEFAULT_STATION "5550100"
#define INBOUND_DEFAULT_MAX_PAGES 200
#define INBOUND_DEFAULT_MAX_SECONDS 3600
#define INBOUND_DEFAULT_MAX_BYTES (100LL << 20)

struct inbound_hub {
    struct modem_inbound_ops ops;
    void *ctx;
    char csi[21];
    char station[256];           /* our numbers on the simulated network, comma-separated */
    char audiosocket_number[64]; /* the number the AudioSocket listener serves; "" unknown */
    char scratch_dir[PATH_MAX - 128];
    char tz[32];
    int nslots;
    int max_pages;        /* caps per received fax */
    int max_seconds;
    long long max_bytes;
    atomic_bool *slots;   /* one flag per slot: taken */
    atomic_int active;
    atomic_uint seq;      /* names scratch files */
};

struct receiver {
    struct inbound_hub *hub;
    int slot;
    void *user;           /* from begin() */
    struct fax_engine eng;
    char rx_path[PATH_MAX];
    char page_prefix[PATH_MAX - 32];
    int page_base;        /* pages handed over from receive files of earlier engines */
    int engines;          /* engines started: a switch to T.38 restarts T.30 */

    /* Set by spandsp handlers, consumed after the DSP call returns. */
    bool t30_done;
    int t30_code;
    bool training_ok;     /* we sent CFR: a page is coming */
    bool more_pages;      /* the last post-page command was MPS or EOM */
    bool check;           /* something happened: look at the statistics */
    int frames_in;        /* T.30 frames the caller sent: none means no fax at all */

    int pages_done;       /* pages handed over through page() */
    long long bytes;      /* their size as single-page files */
    int announced;        /* page last announced in a status */
    long samples;         /* audio (or T.38 time) given to T.30 */
    long wall;            /* packet lines: line time by the clock, heard or not */
    struct modem_rx_result res;
};

int inbound_hub_create(struct inbound_hub **out, const struct modem_pool_config *cfg, const char *header_tz,
                       char *err, size_t errlen)
{
    *out = NULL;
    if (!cfg->inbound)
        return 0;
    if (!cfg->inbound->begin || !cfg->inbound->finished) {
        snprintf(err, errlen, "inbound calls need at least the begin and finished callbacks");
        return -EINVAL;
    }
    struct inbound_hub *hub = calloc(1, sizeof *hub);
    if (!hub) {
        snprintf(err, errlen, "out of memory");
        return -ENOMEM;
    }
    hub->ops = *cfg->inbound;
    hub->ctx = cfg->inbound_ctx;
    hub->nslots = cfg->inbound_slots > 0 ? cfg->inbound_slots : INBOUND_DEFAULT_SLOTS;
    hub->max_pages = cfg->receive_max_pages > 0 ? cfg->receive_max_pages : INBOUND_DEFAULT_MAX_PAGES;
    hub->max_seconds = cfg->receive_max_seconds > 0 ? cfg->receive_max_seconds : INBOUND_DEFAULT_MAX_SECONDS;
    hub->max_bytes = cfg->receive_max_bytes > 0 ? cfg->receive_max_bytes : INBOUND_DEFAULT_MAX_BYTES;
    snprintf(hub->csi, sizeof hub->csi, "%s", cfg->tsid ? cfg->tsid : "");
    snprintf(hub->station, sizeof hub->station, "%s",
             cfg->station_number && *cfg->station_number ? cfg->station_number : INBOUND_DEFAULT_STATION);
    snprintf(hub->audiosocket_number, sizeof hub->audiosocket_number, "%s",
             cfg->audiosocket_number ? cfg->audiosocket_number : "");
    snprintf(hub->scratch_dir, sizeof hub->scratch_dir, "%s", cfg->scratch_dir);
    snprintf(hub->tz, sizeof hub->tz, "%s", header_tz);
    hub->slots = calloc((size_t)hub->nslots, sizeof *hub->slots);
    if (!hub->slots) {
        free(hub);
        snprintf(err, errlen, "out of memory");
        return -ENOMEM;
    }
    for (int i = 0; i < hub->nslots; i++)
        atomic_init(&hub->slots[i], false);
    *out = hub;
    return 0;
}

void inbound_hub_free(struct inbound_hub *hub)
{
    if (!hub)
        return;
    free(hub->slots);
    free(hub);
}

int inbound_hub_slots(const struct inbound_hub *hub)
{
    return hub ? hub->nslots : 0;
}

int inbound_slot_take(struct inbound_hub *hub)
{
    for (int i = 0; hub && i < hub->nslots; i++)
        if (!atomic_exchange(&hub->slots[i], true)) {
            atomic_fetch_add(&hub->active, 1);
            return i;
        }
    return -1;
}

void inbound_slot_release(struct inbound_hub *hub, int slot)
{
    if (slot < 0 || slot >= hub->nslots)
        return;
    if (atomic_exchange(&hub->slots[slot], false))
        atomic_fetch_sub(&hub->active, 1);
}

int inbound_active(const struct inbound_hub *hub)
{
    return hub ? atomic_load(&((struct inbound_hub *)hub)->active) : 0;
}

int inbound_max_pages(const struct inbound_hub *hub)
{
    return hub->max_pages;
}

long long inbound_max_bytes(const struct inbound_hub *hub)
{
    return hub->max_bytes;
}

long inbound_max_samples(const struct inbound_hub *hub)
{
    return (long)hub->max_seconds * 8000;
}

bool inbound_is_station(const struct inbound_hub *hub, const char *number)
{
    if (!hub)
        return false;
    size_t n = strlen(number);
    for (const char *p = hub->station; *p;) {
        size_t len = strcspn(p, ",");
        if (len == n && n > 0 && strncmp(p, number, n) == 0)
            return true;
        p += len + (p[len] == ',');
    }
    return false;
}

void inbound_notice(struct inbound_hub *hub, const char *fmt, ...)
{
    if (!hub || !hub->ops.notice)
        return;
    char line[256];
    va_list ap;
    va_start(ap, fmt);
    vsnprintf(line, sizeof line, fmt, ap);
    va_end(ap);
    hub->ops.notice(hub->ctx, line);
}

static void receiver_status(struct receiver *r, const char *fmt, ...) __attribute__((format(printf, 2, 3)));
static void receiver_status(struct receiver *r, const char *fmt, ...)
{
    if (!r->hub->ops.status)
        return;
    char text[128];
    va_list ap;
    va_start(ap, fmt);
    vsnprintf(text, sizeof text, fmt, ap);
    va_end(ap);
    r->hub->ops.status(r->user, text);
}

void receiver_log(struct receiver *r, const char *fmt, ...)
{
    if (!r->hub->ops.log)
        return;
    char text[256];
    va_list ap;
    va_start(ap, fmt);
    vsnprintf(text, sizeof text, fmt, ap);
    va_end(ap);
    r->hub->ops.log(r->user, text);
}

/* Handlers run inside fax_rx/fax_tx: they only record. */
static void receiver_phase_e(t30_state_t *t30, void *user, int code)
{
    (void)t30;
    struct receiver *r = user;
    r->t30_done = true;
    r->t30_code = code;
    r->check = true;
}

static int receiver_phase_d(t30_state_t *t30, void *user, int fcf)
{
    (void)t30; (void)fcf;
    struct receiver *r = user;
    r->check = true;
    return T30_ERR_OK;
}

static void receiver_frame(t30_state_t *t30, void *user, int incoming, const uint8_t *msg, int len)
{
    (void)t30;
    struct receiver *r = user;
    if (len < 3)
        return;
    if (incoming)
        r->frames_in++;
    int fcf = msg[2] & 0xFE;
    if (!incoming && fcf == (T30_CFR & 0xFE)) {
        r->training_ok = true;
        r->more_pages = true;
        r->check = true;
    }
    if (incoming && fcf == (T30_PPS & 0xFE) && len >= 4)
        fcf = msg[3] & 0xFE; /* ECM: the post-page command rides in PPS */
    if (incoming && (fcf == (T30_MPS & 0xFE) || fcf == (T30_EOM & 0xFE)))
        r->more_pages = true;
    else if (incoming && fcf == (T30_EOP & 0xFE))
        r->more_pages = false;
}

static void rx_result_set(struct modem_rx_result *res, enum modem_outcome o, const char *code, const char *text)
{
    res->outcome = o;
    snprintf(res->code, sizeof res->code, "%s", code ? code : "");
    snprintf(res->text, sizeof res->text, "%s", text ? text : "");
}

static int receiver_start_t30(struct receiver *r, enum line_media kind, fax_engine_ifp_fn send_ifp, void *user)
{
    if (fax_engine_start(&r->eng, kind, false, send_ifp, user) != 0)
        return -ENOMEM;
    r->engines++;
    snprintf(r->rx_path, sizeof r->rx_path, r->engines == 1 ? "%s.tif" : "%s-%d.tif", r->page_prefix, r->engines);
    t30_state_t *t30 = r->eng.t30;
    fax_engine_setup_t30(&r->eng, r->hub->csi, r->hub->tz, r->hub->ops.log, r->user);
    t30_set_rx_encoding(t30, T4_COMPRESSION_ITU_T6); /* stored pages: the most compact */
    t30_set_rx_file(t30, r->rx_path, -1);
    t30_set_phase_d_handler(t30, receiver_phase_d, r);
    t30_set_phase_e_handler(t30, receiver_phase_e, r);
    t30_set_real_time_frame_handler(t30, receiver_frame, r);
    return 0;
}

struct receiver *receiver_start(struct inbound_hub *hub, int slot, const char *line, const char *caller_id,
                                const char *called, const char *call_ref)
{
    struct receiver *r = calloc(1, sizeof *r);
    if (!r)
        return NULL;
    r->hub = hub;
    r->slot = slot;
    r->res.bit_rate = -1;
    r->res.ecm = -1;
    char channel[16];
    snprintf(channel, sizeof channel, "in%d", slot);
    unsigned seq = atomic_fetch_add(&hub->seq, 1);
    snprintf(r->page_prefix, sizeof r->page_prefix, "%s/rx-%ld-%s-%u", hub->scratch_dir, (long)getpid(), channel, seq);
    struct modem_inbound_call call = {
        .channel = channel, .line = line, .caller_id = caller_id ? caller_id : "", .call_ref = call_ref ? call_ref : "",
        .called_number = called && *called ? called : "",
    };
    /* AudioSocket carries only a UUID: the listener serves one number. */
    if (!call.called_number[0] && strcmp(line, "audiosocket") == 0)
        call.called_number = hub->audiosocket_number;
    r->user = hub->ops.begin(hub->ctx, &call);
    if (!r->user) {
        free(r);
        return NULL;
    }
    snprintf(r->res.transport, sizeof r->res.transport, "%s", strcmp(line, "sip") == 0 ? "g711" : "audio");
    if (receiver_start_t30(r, LINE_MEDIA_AUDIO, NULL, NULL) != 0) {
        /* begin() accepted the call: it hears how it ended. */
        fax_engine_free(&r->eng);
        rx_result_set(&r->res, MODEM_DROPPED, "no_memory", "Out of memory answering the call.");
        hub->ops.finished(r->user, &r->res);
        free(r);
        return NULL;
    }
    receiver_status(r, "answering");
    receiver_log(r, "answered a call on %s (%s%s%s)", channel, line,
                 call.caller_id[0] ? " from " : "", call.caller_id);
    return r;
}

void receiver_rx(struct receiver *r, const int16_t *buf, int n)
{
    fax_engine_log_enter(&r->eng);
    if (!r->t30_done)
        fax_engine_rx_audio(&r->eng, buf, n);
    fax_engine_log_leave();
    r->samples += n;
}

void receiver_rx_lost(struct receiver *r, int n)
{
    fax_engine_log_enter(&r->eng);
    if (!r->t30_done)
        fax_engine_rx_lost(&r->eng, n);
    fax_engine_log_leave();
    r->samples += n;
}

void receiver_tx(struct receiver *r, int16_t *buf, int n)
{
    fax_engine_log_enter(&r->eng);
    if (!r->t30_done)
        fax_engine_tx_audio(&r->eng, buf, n);
    else
        memset(buf, 0, sizeof(int16_t) * (size_t)n);
    fax_engine_log_leave();
}

void receiver_rx_ifp(struct receiver *r, const uint8_t *buf, int len, uint16_t seq)
{
    fax_engine_log_enter(&r->eng);
    if (!r->t30_done)
        fax_engine_rx_ifp(&r->eng, buf, len, seq);
    fax_engine_log_leave();
}

void receiver_tick(struct receiver *r, int n)
{
    fax_engine_log_enter(&r->eng);
    if (!r->t30_done)
        fax_engine_tick(&r->eng, n);
    fax_engine_log_leave();
    r->samples += n;
}

enum line_media receiver_media(const struct receiver *r)
{
    return r->eng.kind;
}

bool receiver_done(const struct receiver *r)
{
    return r->t30_done;
}

long long receiver_bytes(const struct receiver *r)
{
    return r->bytes;
}

bool receiver_more_coming(const struct receiver *r)
{
    return r->more_pages;
}

int receiver_pages(const struct receiver *r)
{
    return r->pages_done;
}

long receiver_samples(const struct receiver *r)
{
    return r->wall > r->samples ? r->wall : r->samples;
}

void receiver_clock(struct receiver *r, int n)
{
    r->wall += n;
}

/* Copies page index (0-based) of the receive file into its own file
 * and hands it over; the file is gone when this returns. */
static void receiver_hand_over(struct receiver *r, int index)
{
    char path[PATH_MAX], err[192];
    snprintf(path, sizeof path, "%s-p%03d.tif", r->page_prefix, index + 1);
    int rc = tiff_extract_page(r->rx_path, index - r->page_base, path, err, sizeof err);
    if (rc != 0) {
        receiver_log(r, "page %d could not be read back: %s", index + 1, err);
        return;
    }
    r->pages_done = index + 1;
    struct stat st;
    if (stat(path, &st) == 0)
        r->bytes += st.st_size;
    if (r->hub->ops.page) {
        rc = r->hub->ops.page(r->user, index + 1, path);
        if (rc < 0)
            receiver_log(r, "page %d was received but could not be stored: %s", index + 1, strerror(-rc));
    }
    unlink(path);
}

static int receiver_pages_written(struct receiver *r)
{
    t30_stats_t st;
    t30_get_transfer_statistics(r->eng.t30, &st);
    if (st.bit_rate > 0)
        r->res.bit_rate = st.bit_rate;
    return r->page_base + st.pages_rx;
}

void receiver_service(struct receiver *r)
{
    if (!r->check || !fax_engine_started(&r->eng))
        return;
    r->check = false;
    int written = receiver_pages_written(r);
    /* Pages are only read back while spandsp still has the file open if
     * the call goes on; the last ones are taken after it is closed. */
    while (!r->t30_done && r->pages_done < written) {
        int before = r->pages_done;
        receiver_hand_over(r, r->pages_done);
        if (r->pages_done == before)
            break; /* unreadable now: try again at the end */
    }
    if (r->t30_done || !r->training_ok)
        return;
    int page = r->pages_done + 1;
    if (r->more_pages && page != r->announced) {
        r->announced = page;
        receiver_status(r, "receiving page %d at %d bps", page, r->res.bit_rate);
    }
}

/* The result a call gets from how it ended; T.30's own verdict first. */
static void receiver_result(struct receiver *r, enum receiver_end how, const char *code, const char *text)
{
    struct modem_result tmp = { 0 };
    switch (how) {
    case RECEIVER_END_ABORTED:
        rx_result_set(&r->res, MODEM_ABORTED, "aborted", "The call was aborted.");
        return;
    case RECEIVER_END_TIMEOUT: {
        char text[192];
        if (r->frames_in == 0) {
            snprintf(text, sizeof text, "The caller never started a fax exchange; the call was ended after %ld s.",
                     receiver_samples(r) / 8000);
            rx_result_set(&r->res, MODEM_NOT_FAX, "not_fax", text);
        } else {
            snprintf(text, sizeof text, "The call took too long and was ended after %ld s (at most %d s: "
                     "--receive-max-duration).", receiver_samples(r) / 8000, r->hub->max_seconds);
            rx_result_set(&r->res, MODEM_DROPPED, "call_timeout", text);
        }
        return;
    }
    case RECEIVER_END_LINE:
        rx_result_set(&r->res, MODEM_DROPPED, code, text);
        return;
    case RECEIVER_END_HUNG_UP:
    case RECEIVER_END_T30:
        break;
    }
    result_from_t30(&tmp, r->t30_code);
    rx_result_set(&r->res, tmp.outcome, tmp.code, r->t30_code == T30_ERR_OK ? "The fax was received." : tmp.text);
    if (how == RECEIVER_END_HUNG_UP && r->t30_code == T30_ERR_CALLDROPPED)
        rx_result_set(&r->res, MODEM_DROPPED, "call_dropped", "The sender hung up before the end of the fax.");
    if (r->res.outcome != MODEM_OK && r->frames_in == 0)
        rx_result_set(&r->res, MODEM_NOT_FAX, "not_fax", "The caller never started a fax exchange.");
}

/* The call switched media (to T.38, asked for by either side; note ends
 * the log line, saying which when the line knows): T.30 starts again on
 * the new media, after the pages complete so far are handed over. */
int receiver_switch(struct receiver *r, enum line_media kind, const char *note, fax_engine_ifp_fn send_ifp,
                    void *user)
{
    if (r->t30_done || kind == r->eng.kind)
        return 0;
    int written = receiver_pages_written(r);
    for (int i = r->pages_done; i < written; i++)
        receiver_hand_over(r, i);
    if (r->eng.guard.dropped > 0)
        receiver_log(r, "%ld malformed frame(s) from the sender were dropped", r->eng.guard.dropped);
    fax_engine_free(&r->eng);
    unlink(r->rx_path);
    r->page_base = r->pages_done;
    r->training_ok = false;
    r->more_pages = false;
    receiver_log(r, "the call switched to %s%s", kind == LINE_MEDIA_T38 ? "T.38" : "audio", note);
    snprintf(r->res.transport, sizeof r->res.transport, "%s", kind == LINE_MEDIA_T38 ? "t38" : "g711");
    if (receiver_start_t30(r, kind, send_ifp, user) != 0)
        return -ENOMEM;
    return 0;
}

void receiver_end(struct receiver *r, enum receiver_end how, const char *code, const char *text)
{
    if (!fax_engine_started(&r->eng)) {
        /* A failed switch left no engine: the line ended the call. */
        receiver_result(r, how == RECEIVER_END_T30 ? RECEIVER_END_LINE : how, "no_memory",
                        "Out of memory switching the call to T.38.");
        r->res.pages_received = r->pages_done;
        r->res.duration = (double)receiver_samples(r) / 8000.0;
        r->hub->ops.finished(r->user, &r->res);
        free(r);
        return;
    }
    t30_state_t *t30 = r->eng.t30;
    fax_engine_log_enter(&r->eng);
    if (!r->t30_done)
        t30_terminate(t30); /* closes the receive file; phase E reports */
    fax_engine_log_leave();
    t30_stats_t st;
    t30_get_transfer_statistics(t30, &st);
    r->res.bit_rate = st.bit_rate;
    r->res.ecm = st.error_correcting_mode ? 1 : 0;
    snprintf(r->res.compression, sizeof r->res.compression, "%s", fax_engine_compression_name(st.encoding));
    const char *ident = t30_get_rx_ident(t30);
    snprintf(r->res.remote_id, sizeof r->res.remote_id, "%s", ident ? ident : "");
    int written = r->page_base + st.pages_rx;
    if (r->eng.guard.dropped > 0)
        receiver_log(r, "%ld malformed frame(s) from the sender were dropped", r->eng.guard.dropped);
    fax_engine_free(&r->eng); /* the receive file is complete and closed now */
    for (int i = r->pages_done; i < written; i++)
        receiver_hand_over(r, i);
    unlink(r->rx_path);
    receiver_result(r, how, code, text);
    r->res.pages_received = r->pages_done;
    r->res.duration = (double)r->samples / 8000.0;
    if (r->res.outcome == MODEM_OK)
        receiver_log(r, "call ended: fax received, %d page(s)", r->res.pages_received);
    else
        receiver_log(r, "call ended: %s (%s), %d page(s) received", r->res.code, r->res.text, r->res.pages_received);
    receiver_status(r, "hanging up");
    r->hub->ops.finished(r->user, &r->res);
    free(r);
}

/*
 * line_sip.c - SIP lines: outbound calls through a peer or trunk
 * (--line sip:HOST[:PORT]) and inbound calls taken by the pool's SIP
 * listener (--listen sip:ADDR:PORT). Signalling is sip_ua.c's; this file
 * owns the media of each call: G.711 over RTP (one 20 ms packet of ours
 * per tick, every packet of theirs fed in as it comes, gaps given to
 * spandsp as lost audio: no jitter buffer, no resampling) and T.38 IFPs
 * over UDPTL once either side has switched the call by re-INVITE.
 */
#include "modem/line.h"

#include <arpa/inet.h>
#include <errno.h>
#include <netinet/in.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/random.h>
#include <sys/socket.h>

#include <spandsp.h>

#include "modem/media_latch.h"
#include "modem/sip_ua.h"
#include "modem/udptl.h"

#define RTP_HEADER 12
#define RTP_MAX_PACKET 1500
#define RTP_MAX_GAP 8000          /* a jump beyond 1 s is a new stream, not loss */
#define UDPTL_REDUNDANCY 3        /* previous IFPs repeated in each packet */
#define SIP_DRAIN_MAX 64          /* packets taken per receive, per socket */
/* Line time an answering line waits for the caller to ask for T.38
 * before asking itself. The called fax's answer tone starts about 0.2 s
 * after the answer, and a caller that switches on hearing it (T.38
 * gateways) asks within about a second; our DIS leaves on audio at
 * about 3.5 s, and switching before it spares T.30 a restart. */
#define SIP_T38_ANSWER_GRACE_SAMPLES (2 * 8000)

struct line {
    struct sip_ua *ua;
    bool t38;
    char name[64];
    void (*notice)(void *user, const char *line);
    void *notice_user;
    int (*incoming)(void *user, struct sip_call *call, const char *caller_id);
    void *incoming_user;
};

struct sip_listener {
    struct sip_ua *ua;
};

struct line_call {
    struct sip_call *sc;         /* NULL: the line refused the call before any SIP (see code) */
    char code[32];               /* LINE_NO_LINE: "line_unregistered", "line_503", ... */
    bool outbound;
    bool t38_asked;              /* we asked for T.38 (once per call) */
    bool t38_enabled;
    long audio_samples;          /* line time on audio since the answer */
    char error[160];

    /* The agreed media, refreshed when the agent publishes a change. */
    unsigned media_gen;
    bool media_known;
    struct sdp_choice media;
    enum sip_t38_state t38_state;
    /* Where media may go and come from: symmetric RTP (media_latch.h). */
    struct media_latch audio_latch, image_latch;

    /* RTP, ours and theirs. */
    uint16_t tx_seq;
    uint32_t tx_ts, tx_ssrc;
    bool tx_started;
    bool rx_started;
    uint32_t rx_ssrc, rx_next_ts;
    long rx_lost;                /* samples given to spandsp as lost */

    /* UDPTL, reset at the switch to T.38. */
    bool udptl_ready;
    struct udptl_tx utx;
    struct udptl_rx urx;
};

static int sip_dst(const char *addr, uint16_t port, struct sockaddr_storage *ss, socklen_t *len)
{
    memset(ss, 0, sizeof *ss);
    struct sockaddr_in *in = (struct sockaddr_in *)ss;
    struct sockaddr_in6 *in6 = (struct sockaddr_in6 *)ss;
    if (inet_pton(AF_INET, addr, &in->sin_addr) == 1) {
        in->sin_family = AF_INET;
        in->sin_port = htons(port);
        *len = sizeof *in;
        return 0;
    }
    if (inet_pton(AF_INET6, addr, &in6->sin6_addr) == 1) {
        in6->sin6_family = AF_INET6;
        in6->sin6_port = htons(port);
        *len = sizeof *in6;
        return 0;
    }
    *len = 0;
    return -EINVAL;
}

/* Picks up what the agent agreed since we last looked. */
static void sip_refresh_media(struct line_call *c)
{
    struct sdp_choice m;
    enum sip_t38_state t38;
    unsigned gen = sip_call_media(c->sc, &m, &t38);
    if (c->media_known && gen == c->media_gen)
        return;
    bool was_t38 = c->media_known && c->media.kind == SDP_CHOICE_T38 && c->t38_state == SIP_T38_ACTIVE;
    c->media_known = true;
    c->media_gen = gen;
    c->media = m;
    c->t38_state = t38;
    struct peer_addr peer;
    bool have_peer = sip_call_peer(c->sc, &peer);
    struct sockaddr_storage offered;
    socklen_t offered_len;
    sip_dst(m.addr, m.port, &offered, &offered_len);
    struct media_latch *latch = m.kind == SDP_CHOICE_T38 ? &c->image_latch : &c->audio_latch;
    media_latch_offer(latch, have_peer ? &peer : NULL, (struct sockaddr *)&offered, offered_len);
    if (m.kind == SDP_CHOICE_T38) {
        if (!was_t38) {
            size_t dg = m.t38.max_datagram > 0 ? (size_t)m.t38.max_datagram : UDPTL_DEFAULT_MAX_DATAGRAM;
            udptl_tx_init(&c->utx, UDPTL_REDUNDANCY, dg);
            udptl_rx_init(&c->urx);
            c->udptl_ready = true;
        }
    }
}

static struct line_call *sip_call_wrap(struct sip_call *sc, bool outbound, bool t38)
{
    struct line_call *c = calloc(1, sizeof *c);
    if (!c)
        return NULL;
    c->sc = sc;
    c->outbound = outbound;
    c->t38_enabled = t38;
    uint32_t r[2] = { 0, 0 };
    if (getrandom(r, sizeof r, GRND_NONBLOCK) != (ssize_t)sizeof r)
        r[0] = (uint32_t)(uintptr_t)c; /* any value will do: SSRC only tells streams apart */
    c->tx_ssrc = r[0];
    c->tx_seq = (uint16_t)r[1];
    c->tx_ts = r[1] >> 16;
    return c;
}

/* ---- the line driver ---- */

/* The agent's log lines (registration changes, refused callers), named
 * by the line; incoming calls are handed to the pool's user data. */
static void sip_line_notice(void *user, const char *text)
{
    struct line *l = user;
    if (!l->notice)
        return;
    char buf[320];
    snprintf(buf, sizeof buf, "line %s: %s", l->name, text);
    l->notice(l->notice_user, buf);
}

static int sip_line_incoming(void *user, struct sip_call *call, const char *caller_id)
{
    struct line *l = user;
    return l->incoming(l->incoming_user, call, caller_id);
}

static int sip_create(struct line **out, const struct line_config *cfg, char *err, size_t errlen)
{
    static const struct modem_sip_options none = { 0 };
    const struct modem_sip_options *o = cfg->sip ? cfg->sip : &none;
    struct line *l = calloc(1, sizeof *l);
    if (!l) {
        snprintf(err, errlen, "out of memory");
        return -ENOMEM;
    }
    snprintf(l->name, sizeof l->name, "%s", cfg->name && *cfg->name ? cfg->name : "default");
    l->notice = cfg->sip_notice;
    l->notice_user = cfg->sip_user;
    l->incoming = cfg->sip_incoming;
    l->incoming_user = cfg->sip_user;
    bool registers = o->registrar && *o->registrar;
    struct sip_ua_config ucfg = {
        .peer = cfg->arg, .local = o->local, .user = o->user, .password = o->password,
        .codecs = o->codecs, .t38 = !o->no_t38, .ring_timeout_s = o->ring_timeout_s,
        .registrar = o->registrar, .auth_user = o->auth_user, .expires_s = o->expires_s,
        .outbound_proxy = o->outbound_proxy, .keepalive_s = o->keepalive_s,
        /* Calls to the registered contact: the listener's admission rules. */
        .incoming = registers && cfg->sip_incoming ? sip_line_incoming : NULL, .notice = sip_line_notice,
        .user_data = l,
        .allow = o->allow, .calls_per_source = o->calls_per_source,
        .inbound_user = o->inbound_user, .inbound_password = o->inbound_password,
    };
    int rc = sip_ua_create(&l->ua, &ucfg, err, errlen);
    if (rc != 0) {
        free(l);
        return rc;
    }
    l->t38 = !o->no_t38;
    *out = l;
    return 0;
}

static void sip_destroy(struct line *l)
{
    sip_ua_destroy(l->ua);
    free(l);
}

static int sip_dial(struct line *l, const char *number, struct line_call **out)
{
    struct sip_call *sc;
    struct modem_line_status st;
    char why[128];
    sip_ua_line_status(l->ua, &st, why, sizeof why);
    if (!st.usable) { /* not registered: the line's fault, nothing is sent */
        struct line_call *c = calloc(1, sizeof *c);
        if (!c)
            return -ENOMEM;
        snprintf(c->code, sizeof c->code, "line_unregistered");
        snprintf(c->error, sizeof c->error, "%.150s", why);
        *out = c;
        return 0;
    }
    int rc = sip_ua_dial(l->ua, number, &sc);
    if (rc != 0)
        return rc;
    *out = sip_call_wrap(sc, true, l->t38);
    if (!*out) {
        sip_call_release(sc);
        return -ENOMEM;
    }
    return 0;
}

/* Why the call could not be placed, naming the fix where there is one. */
static void sip_failure_text(struct line_call *c, int status)
{
    enum sip_auth_state auth = sip_call_auth(c->sc);
    bool refused = status == 401 || status == 407 || status == 403;
    if (auth == SIP_AUTH_SENT && refused)
        snprintf(c->error, sizeof c->error,
                 "the SIP peer refused our credentials (%d); check --sip-user and --sip-password", status);
    else if (auth == SIP_AUTH_NO_PASSWORD && refused)
        snprintf(c->error, sizeof c->error,
                 "the SIP peer asks for a password (%d); set --sip-password or FAXFS_SIP_PASSWORD", status);
    else if (status)
        snprintf(c->error, sizeof c->error, "the SIP peer answered %d", status);
    else
        snprintf(c->error, sizeof c->error, "no SIP dialog could be set up");
}

/* The calling side asks for T.38 once, right after the answer. The
 * answering side gives the caller SIP_T38_ANSWER_GRACE_SAMPLES to ask
 * first (many gateways and Asterisk's SendFax wait for the receiver to
 * ask, and stay on G.711 otherwise), then asks itself; if both ask at
 * once, the agent sorts out the glare. */
static void sip_maybe_ask_t38(struct line_call *c)
{
    if (!c->t38_enabled || c->t38_asked || c->t38_state != SIP_T38_NONE)
        return;
    if (!c->outbound && c->audio_samples < SIP_T38_ANSWER_GRACE_SAMPLES)
        return;
    c->t38_asked = true;
    sip_call_request_t38(c->sc);
}

static enum line_state sip_state(struct line_call *c)
{
    if (!c->sc)
        return LINE_NO_LINE;
    int status = 0;
    enum sip_call_state st = sip_call_state(c->sc, &status);
    static const enum line_state map[] = {
        [SIP_CALL_CALLING] = LINE_DIALING, [SIP_CALL_RINGING] = LINE_DIALING,
        [SIP_CALL_ANSWERED] = LINE_ANSWERED, [SIP_CALL_BUSY] = LINE_BUSY,
        [SIP_CALL_NO_ANSWER] = LINE_NO_ANSWER, [SIP_CALL_FAILED] = LINE_FAILED,
        [SIP_CALL_NO_LINE] = LINE_NO_LINE, [SIP_CALL_ENDED] = LINE_HUNG_UP,
    };
    if (st == SIP_CALL_FAILED && !c->error[0])
        sip_failure_text(c, status);
    if (st == SIP_CALL_NO_LINE && !c->code[0]) {
        if (status == 503) {
            snprintf(c->code, sizeof c->code, "line_503");
            snprintf(c->error, sizeof c->error, "the SIP service answered 503 Service Unavailable");
        } else {
            snprintf(c->code, sizeof c->code, "line_timeout");
            snprintf(c->error, sizeof c->error, "no answer from the SIP proxy or registrar");
        }
    }
    if (st == SIP_CALL_ANSWERED) {
        sip_refresh_media(c);
        sip_maybe_ask_t38(c);
    }
    return map[st];
}

static enum line_media sip_media(struct line_call *c)
{
    sip_refresh_media(c);
    return c->media.kind == SDP_CHOICE_T38 && c->t38_state == SIP_T38_ACTIVE ? LINE_MEDIA_T38 : LINE_MEDIA_AUDIO;
}

static const char *sip_transport(struct line_call *c)
{
    return sip_media(c) == LINE_MEDIA_T38 ? "t38" : "g711";
}

/* A call whose destination must stay on audio: never ask, never accept. */
static void sip_forbid_t38(struct line_call *c)
{
    c->t38_enabled = false;
    sip_call_forbid_t38(c->sc);
}

static const char *sip_media_origin(struct line_call *c)
{
    switch (sip_call_t38_origin(c->sc)) {
    case SIP_T38_BY_US: return "faxfs asked";
    case SIP_T38_BY_PEER: return "the remote asked";
    default: return NULL;
    }
}

/* One RTP packet of theirs: its audio, after any samples lost before it. */
static void sip_rtp_in(struct line_call *c, const uint8_t *p, size_t len, const struct line_packet_sink *sink,
                       void *user)
{
    if (len < RTP_HEADER || (p[0] >> 6) != 2)
        return;
    size_t off = RTP_HEADER + 4 * (size_t)(p[0] & 0x0f);
    if (p[0] & 0x10) { /* header extension */
        if (len < off + 4)
            return;
        off += 4 + 4 * (size_t)(p[off + 2] << 8 | p[off + 3]);
    }
    if (p[0] & 0x20) { /* padding: its length is the last octet */
        if (len == 0 || p[len - 1] > len)
            return;
        len -= p[len - 1];
    }
    int pt = p[1] & 0x7f;
    if (off >= len || (pt != SDP_PT_PCMU && pt != SDP_PT_PCMA))
        return; /* comfort noise, DTMF events, foreign payloads: no fax audio */
    uint32_t ts = (uint32_t)p[4] << 24 | (uint32_t)p[5] << 16 | (uint32_t)p[6] << 8 | p[7];
    uint32_t ssrc = (uint32_t)p[8] << 24 | (uint32_t)p[9] << 16 | (uint32_t)p[10] << 8 | p[11];
    int n = (int)(len - off);
    if (c->rx_started && ssrc == c->rx_ssrc) {
        int32_t gap = (int32_t)(ts - c->rx_next_ts);
        if (gap < 0)
            return; /* late or repeated: its moment has passed */
        if (gap > 0 && gap <= RTP_MAX_GAP) {
            c->rx_lost += gap;
            sink->audio_lost(user, gap);
        }
    }
    c->rx_started = true;
    c->rx_ssrc = ssrc;
    c->rx_next_ts = ts + (uint32_t)n;
    int16_t pcm[RTP_MAX_PACKET];
    for (int i = 0; i < n; i++)
        pcm[i] = pt == SDP_PT_PCMU ? ulaw_to_linear(p[off + i]) : alaw_to_linear(p[off + i]);
    sink->audio(user, pcm, n);
}

struct sip_ifp_ctx {
    const struct line_packet_sink *sink;
    void *user;
};

static void sip_ifp_in(void *user, const uint8_t *ifp, size_t len, uint16_t seq)
{
    struct sip_ifp_ctx *x = user;
    x->sink->ifp(x->user, ifp, (int)len, seq);
}

static void sip_receive(struct line_call *c, const struct line_packet_sink *sink, void *user)
{
    uint8_t buf[RTP_MAX_PACKET];
    bool t38 = sip_media(c) == LINE_MEDIA_T38;
    int afd = sip_call_audio_fd(c->sc), ifd = sip_call_image_fd(c->sc);
    struct sockaddr_storage from;
    socklen_t flen;
    for (int i = 0; i < SIP_DRAIN_MAX; i++) {
        flen = sizeof from;
        ssize_t n = recvfrom(afd, buf, sizeof buf, MSG_DONTWAIT, (struct sockaddr *)&from, &flen);
        if (n < 0)
            break;
        /* After the switch, stray RTP is dropped; before it, only RTP
         * (version 2) from the peer's addresses counts and latches. */
        if (!t38 && n >= RTP_HEADER && (buf[0] >> 6) == 2
            && media_latch_packet(&c->audio_latch, (struct sockaddr *)&from, flen))
            sip_rtp_in(c, buf, (size_t)n, sink, user);
    }
    struct sip_ifp_ctx x = { sink, user };
    for (int i = 0; i < SIP_DRAIN_MAX; i++) {
        flen = sizeof from;
        ssize_t n = recvfrom(ifd, buf, sizeof buf, MSG_DONTWAIT, (struct sockaddr *)&from, &flen);
        if (n < 0)
            break;
        if (t38 && c->udptl_ready && n >= 2 && media_latch_packet(&c->image_latch, (struct sockaddr *)&from, flen))
            udptl_rx_packet(&c->urx, buf, (size_t)n, sip_ifp_in, &x);
    }
}

static void sip_write(struct line_call *c, const int16_t *buf, int n)
{
    socklen_t dst_len = 0;
    const struct sockaddr *dst = media_latch_dst(&c->audio_latch, &dst_len);
    if (sip_media(c) != LINE_MEDIA_AUDIO || c->media.kind != SDP_CHOICE_AUDIO || n <= 0
        || n > RTP_MAX_PACKET - RTP_HEADER)
        return;
    uint8_t p[RTP_MAX_PACKET];
    int pt = c->media.pt;
    p[0] = 0x80;
    p[1] = (uint8_t)(pt | (c->tx_started ? 0 : 0x80)); /* marker on the first packet */
    p[2] = (uint8_t)(c->tx_seq >> 8);
    p[3] = (uint8_t)c->tx_seq;
    for (int i = 0; i < 4; i++) {
        p[4 + i] = (uint8_t)(c->tx_ts >> (24 - 8 * i));
        p[8 + i] = (uint8_t)(c->tx_ssrc >> (24 - 8 * i));
    }
    for (int i = 0; i < n; i++)
        p[RTP_HEADER + i] = pt == SDP_PT_PCMU ? linear_to_ulaw(buf[i]) : linear_to_alaw(buf[i]);
    /* A full socket buffer loses the packet, as the network would; with
     * no destination yet (symmetric RTP waits for the peer's media) the
     * packet is not sent but the stream's clock moves on all the same. */
    if (dst) {
        ssize_t w = sendto(sip_call_audio_fd(c->sc), p, RTP_HEADER + (size_t)n, MSG_DONTWAIT, dst, dst_len);
        (void)w;
    }
    c->tx_started = true;
    c->tx_seq++;
    c->tx_ts += (uint32_t)n;
    c->audio_samples += n;
}

static void sip_send_ifp(struct line_call *c, const uint8_t *ifp, int len)
{
    if (sip_media(c) != LINE_MEDIA_T38 || !c->udptl_ready || len <= 0)
        return;
    uint8_t p[RTP_MAX_PACKET];
    /* Packed even when it cannot leave yet: the redundancy of later
     * packets carries it once the peer's UDPTL has fixed where to. */
    int n = udptl_tx_packet(&c->utx, ifp, (size_t)len, p, sizeof p);
    socklen_t dst_len = 0;
    const struct sockaddr *dst = media_latch_dst(&c->image_latch, &dst_len);
    if (n <= 0 || !dst)
        return;
    ssize_t w = sendto(sip_call_image_fd(c->sc), p, (size_t)n, MSG_DONTWAIT, dst, dst_len);
    (void)w;
}

static int sip_poll_fd(struct line_call *c)
{
    return sip_call_audio_fd(c->sc);
}

static const char *sip_error_code(struct line_call *c)
{
    return c->code;
}

static void sip_line_status(struct line *l, struct modem_line_status *out)
{
    sip_ua_line_status(l->ua, out, NULL, 0);
}

static void sip_hangup(struct line_call *c)
{
    sip_call_release(c->sc); /* BYE, or CANCEL while ringing */
    free(c);
}

static const char *sip_caller_id(struct line_call *c)
{
    return sip_call_caller_id(c->sc);
}

static const char *sip_called_number(struct line_call *c)
{
    return sip_call_called(c->sc);
}

static const char *sip_call_ref(struct line_call *c)
{
    (void)c;
    return "";
}

static const char *sip_error_text(struct line_call *c)
{
    return c->error;
}

const struct line_driver line_sip_driver = {
    .name = "sip",
    .clock = LINE_CLOCK_REALTIME,
    .create = sip_create,
    .destroy = sip_destroy,
    .dial = sip_dial,
    .state = sip_state,
    .write = sip_write,
    .poll_fd = sip_poll_fd,
    .hangup = sip_hangup,
    .caller_id = sip_caller_id,
    .called_number = sip_called_number,
    .call_ref = sip_call_ref,
    .error_text = sip_error_text,
    .media = sip_media,
    .receive = sip_receive,
    .send_ifp = sip_send_ifp,
    .transport = sip_transport,
    .media_origin = sip_media_origin,
    .error_code = sip_error_code,
    .status = sip_line_status,
    .forbid_t38 = sip_forbid_t38,
};

/* ---- the listener ---- */

int sip_line_listen(struct sip_listener **out, const char *addrport, const struct modem_sip_options *opt,
                    sip_line_incoming_fn fn, sip_line_notice_fn notice, void *user, char *err, size_t errlen)
{
    *out = NULL;
    struct sip_listener *l = calloc(1, sizeof *l);
    if (!l) {
        snprintf(err, errlen, "out of memory");
        return -ENOMEM;
    }
    struct sip_ua_config ucfg = {
        .local = addrport, .user = opt->user, .password = opt->password, .codecs = opt->codecs,
        .t38 = !opt->no_t38, .incoming = fn, .notice = notice, .user_data = user,
        .allow = opt->allow, .calls_per_source = opt->calls_per_source,
        .inbound_user = opt->inbound_user, .inbound_password = opt->inbound_password,
    };
    int rc = sip_ua_create(&l->ua, &ucfg, err, errlen);
    if (rc != 0) {
        free(l);
        return rc;
    }
    *out = l;
    return 0;
}

void sip_line_listener_free(struct sip_listener *l)
{
    if (!l)
        return;
    sip_ua_destroy(l->ua);
    free(l);
}

int sip_line_listener_port(const struct sip_listener *l)
{
    return l ? sip_ua_port(l->ua) : -1;
}

struct line_call *sip_line_call_new(struct sip_call *sc)
{
    /* The answering side follows the caller's T.38 switch, and asks
     * itself after a grace when the caller does not (sip_maybe_ask_t38). */
    return sip_call_wrap(sc, false, sip_call_t38_allowed(sc));
}

void sip_line_call_discard(struct line_call *c)
{
    free(c);
}

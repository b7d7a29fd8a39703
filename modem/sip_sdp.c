/*
 * sip_sdp.c - SDP for fax calls (RFC 4566, offer/answer of RFC 3264, T.38
 * attributes of ITU-T T.38 Annex D). The parser reads the peer's text one
 * line at a time into fixed-size fields, so a hostile body can at worst
 * be refused; the writer produces the few shapes faxfs ever sends.
 */
#include "modem/sip_sdp.h"

#include <errno.h>
#include <stdarg.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <strings.h>

#define SDP_LINE_MAX 256

/* Copies the next whitespace-separated token of *p into out (truncated
 * to fit) and advances *p. Returns false when there is none. */
static bool sdp_token(const char **p, char *out, size_t cap)
{
    const char *s = *p;
    while (*s == ' ' || *s == '\t')
        s++;
    size_t n = strcspn(s, " \t");
    if (n == 0)
        return false;
    size_t k = n < cap - 1 ? n : cap - 1;
    memcpy(out, s, k);
    out[k] = '\0';
    *p = s + n;
    return true;
}

/* A decimal number within [0, max]; false for anything else. */
static bool sdp_number(const char *s, long max, long *out)
{
    char *end;
    if (*s < '0' || *s > '9')
        return false;
    long v = strtol(s, &end, 10);
    if (v < 0 || v > max || (*end && *end != '/'))
        return false;
    *out = v;
    return true;
}

/* c=IN IP4 ADDR / c=IN IP6 ADDR */
static void sdp_parse_connection(const char *v, char *addr, size_t cap, bool *ipv6)
{
    char net[8], type[8], a[48];
    if (!sdp_token(&v, net, sizeof net) || !sdp_token(&v, type, sizeof type) || !sdp_token(&v, a, sizeof a))
        return;
    if (strcmp(net, "IN") != 0 || (strcmp(type, "IP4") != 0 && strcmp(type, "IP6") != 0))
        return;
    char *slash = strchr(a, '/'); /* multicast ttl: not for us, keep the address */
    if (slash)
        *slash = '\0';
    snprintf(addr, cap, "%s", a);
    if (ipv6)
        *ipv6 = strcmp(type, "IP6") == 0;
}

static void sdp_parse_origin(const char *v, struct sdp_session *s)
{
    char user[64], id[24], ver[24];
    if (!sdp_token(&v, user, sizeof user) || !sdp_token(&v, id, sizeof id) || !sdp_token(&v, ver, sizeof ver))
        return;
    s->id = strtoull(id, NULL, 10);
    s->version = strtoull(ver, NULL, 10);
}

static int sdp_parse_media(const char *v, struct sdp_media *m)
{
    char port[16], tok[16];
    long n;
    memset(m, 0, sizeof *m);
    if (!sdp_token(&v, m->name, sizeof m->name) || !sdp_token(&v, port, sizeof port)
        || !sdp_token(&v, m->proto, sizeof m->proto) || !sdp_number(port, 65535, &n))
        return -EBADMSG;
    m->port = (uint16_t)n;
    m->kind = strcmp(m->name, "audio") == 0 ? SDP_MEDIA_AUDIO
              : strcmp(m->name, "image") == 0 ? SDP_MEDIA_IMAGE : SDP_MEDIA_OTHER;
    if (m->kind == SDP_MEDIA_IMAGE && strcasecmp(m->proto, "udptl") != 0)
        m->kind = SDP_MEDIA_OTHER; /* T.38 over RTP or TCP: not ours */
    if (m->kind == SDP_MEDIA_AUDIO && strcmp(m->proto, "RTP/AVP") != 0)
        m->kind = SDP_MEDIA_OTHER; /* SRTP profiles: not ours */
    bool first = true;
    while (sdp_token(&v, tok, sizeof tok)) {
        if (first)
            snprintf(m->fmt, sizeof m->fmt, "%s", tok);
        first = false;
        if (m->kind == SDP_MEDIA_AUDIO && m->nformats < SDP_MAX_FORMATS && sdp_number(tok, 127, &n))
            m->formats[m->nformats++] = (int)n;
    }
    if (first)
        return -EBADMSG;
    /* T.38 defaults when the peer leaves attributes out (Annex D). */
    m->t38.transferred_tcf = true;
    m->t38.max_bitrate = 14400;
    return 0;
}

static void sdp_parse_t38_attr(const char *name, const char *value, struct sdp_t38 *t)
{
    long n;
    if (strcasecmp(name, "T38FaxVersion") == 0 && sdp_number(value, 255, &n))
        t->version = (int)n;
    else if ((strcasecmp(name, "T38MaxBitRate") == 0 || strcasecmp(name, "T38FaxMaxBitRate") == 0)
             && sdp_number(value, 1000000, &n))
        t->max_bitrate = (int)n;
    else if (strcasecmp(name, "T38FaxRateManagement") == 0)
        t->transferred_tcf = strcasecmp(value, "transferredTCF") == 0;
    else if (strcasecmp(name, "T38FaxMaxDatagram") == 0 && sdp_number(value, 65535, &n))
        t->max_datagram = (int)n;
    else if (strcasecmp(name, "T38FaxUdpEC") == 0)
        t->ec = strcasecmp(value, "t38UDPRedundancy") == 0 ? SDP_T38_EC_REDUNDANCY
                : strcasecmp(value, "t38UDPFEC") == 0 ? SDP_T38_EC_FEC : SDP_T38_EC_NONE;
}

static void sdp_parse_attribute(const char *v, struct sdp_media *m)
{
    char name[40], value[64] = "";
    size_t n = strcspn(v, ":");
    if (n == 0 || n >= sizeof name)
        return;
    memcpy(name, v, n);
    name[n] = '\0';
    if (v[n] == ':') {
        const char *p = v + n + 1;
        sdp_token(&p, value, sizeof value);
    }
    long num;
    if (strcmp(name, "ptime") == 0 && sdp_number(value, 1000, &num))
        m->ptime = (int)num;
    else if (m->kind == SDP_MEDIA_IMAGE)
        sdp_parse_t38_attr(name, value, &m->t38);
}

int sdp_parse(const char *text, size_t len, struct sdp_session *out)
{
    memset(out, 0, sizeof *out);
    if (!text)
        return -EBADMSG;
    struct sdp_media *cur = NULL;
    bool saw_version = false;
    size_t off = 0;
    while (off < len) {
        size_t n = 0;
        while (off + n < len && text[off + n] != '\n' && text[off + n] != '\r')
            n++;
        char line[SDP_LINE_MAX];
        size_t k = n < sizeof line - 1 ? n : sizeof line - 1;
        memcpy(line, text + off, k);
        line[k] = '\0';
        off += n;
        while (off < len && (text[off] == '\n' || text[off] == '\r'))
            off++;
        if (k == 0)
            continue;
        if (memchr(line, '\0', k)) /* embedded NUL: not text */
            return -EBADMSG;
        if (k < 2 || line[1] != '=')
            return -EBADMSG;
        if (!saw_version) {
            if (strcmp(line, "v=0") != 0)
                return -EBADMSG;
            saw_version = true;
            continue;
        }
        const char *v = line + 2;
        switch (line[0]) {
        case 'o':
            sdp_parse_origin(v, out);
            break;
        case 'c':
            if (cur)
                sdp_parse_connection(v, cur->addr, sizeof cur->addr, NULL);
            else
                sdp_parse_connection(v, out->addr, sizeof out->addr, &out->ipv6);
            break;
        case 'm':
            if (out->nmedia == SDP_MAX_MEDIA)
                return -EBADMSG;
            cur = &out->media[out->nmedia];
            if (sdp_parse_media(v, cur) != 0)
                return -EBADMSG;
            out->nmedia++;
            break;
        case 'a':
            if (cur)
                sdp_parse_attribute(v, cur);
            break;
        default:
            break;
        }
    }
    return saw_version && out->nmedia > 0 ? 0 : -EBADMSG;
}

/* Appends to a bounded buffer; remembers an overflow. */
struct sdp_out {
    char *buf;
    size_t cap, len;
    bool overflow;
};

static void sdp_printf(struct sdp_out *o, const char *fmt, ...) __attribute__((format(printf, 2, 3)));
static void sdp_printf(struct sdp_out *o, const char *fmt, ...)
{
    if (o->overflow)
        return;
    va_list ap;
    va_start(ap, fmt);
    int n = vsnprintf(o->buf + o->len, o->cap - o->len, fmt, ap);
    va_end(ap);
    if (n < 0 || (size_t)n >= o->cap - o->len)
        o->overflow = true;
    else
        o->len += (size_t)n;
}

static const char *sdp_codec_name(int pt)
{
    return pt == SDP_PT_PCMU ? "PCMU" : pt == SDP_PT_PCMA ? "PCMA" : NULL;
}

static void sdp_write_t38(struct sdp_out *o, const struct sdp_t38 *t)
{
    static const char *const ec_names[] = {
        [SDP_T38_EC_NONE] = "t38UDPNoEC",
        [SDP_T38_EC_REDUNDANCY] = "t38UDPRedundancy",
        [SDP_T38_EC_FEC] = "t38UDPFEC",
    };
    sdp_printf(o, "a=T38FaxVersion:%d\r\n", t->version);
    sdp_printf(o, "a=T38MaxBitRate:%d\r\n", t->max_bitrate);
    sdp_printf(o, "a=T38FaxRateManagement:%s\r\n", t->transferred_tcf ? "transferredTCF" : "localTCF");
    if (t->max_datagram > 0)
        sdp_printf(o, "a=T38FaxMaxDatagram:%d\r\n", t->max_datagram);
    sdp_printf(o, "a=T38FaxUdpEC:%s\r\n", ec_names[t->ec]);
}

static void sdp_write_media(struct sdp_out *o, const struct sdp_media *m)
{
    switch (m->kind) {
    case SDP_MEDIA_AUDIO:
        sdp_printf(o, "m=audio %u RTP/AVP", m->port);
        for (int i = 0; i < m->nformats; i++)
            sdp_printf(o, " %d", m->formats[i]);
        if (m->nformats == 0) /* a refused stream of formats we do not know */
            sdp_printf(o, " %s", m->fmt);
        sdp_printf(o, "\r\n");
        for (int i = 0; i < m->nformats; i++)
            if (sdp_codec_name(m->formats[i]))
                sdp_printf(o, "a=rtpmap:%d %s/8000\r\n", m->formats[i], sdp_codec_name(m->formats[i]));
        if (m->port) {
            sdp_printf(o, "a=ptime:20\r\n");
            sdp_printf(o, "a=sendrecv\r\n");
        }
        break;
    case SDP_MEDIA_IMAGE:
        sdp_printf(o, "m=image %u udptl t38\r\n", m->port);
        if (m->port)
            sdp_write_t38(o, &m->t38);
        break;
    case SDP_MEDIA_OTHER:
        sdp_printf(o, "m=%s 0 %s %s\r\n", m->name, m->proto, m->fmt);
        break;
    }
}

int sdp_write(char *buf, size_t cap, const struct sdp_session *s)
{
    struct sdp_out o = { buf, cap, 0, cap == 0 };
    const char *ip = s->ipv6 ? "IP6" : "IP4";
    sdp_printf(&o, "v=0\r\n");
    sdp_printf(&o, "o=faxfs %llu %llu IN %s %s\r\n", s->id, s->version, ip, s->addr);
    sdp_printf(&o, "s=faxfs\r\n");
    sdp_printf(&o, "c=IN %s %s\r\n", ip, s->addr);
    sdp_printf(&o, "t=0 0\r\n");
    for (int i = 0; i < s->nmedia; i++)
        sdp_write_media(&o, &s->media[i]);
    return o.overflow ? -ENOSPC : (int)o.len;
}

static void sdp_local_base(struct sdp_session *s, const char *addr, bool ipv6)
{
    unsigned long long id = s->id, version = s->version;
    memset(s, 0, sizeof *s);
    s->id = id;
    s->version = version + 1; /* every new description of a session counts up */
    s->ipv6 = ipv6;
    snprintf(s->addr, sizeof s->addr, "%s", addr);
}

static void sdp_audio_media(struct sdp_media *m, const struct sdp_prefs *p, uint16_t port)
{
    m->kind = SDP_MEDIA_AUDIO;
    m->port = port;
    snprintf(m->name, sizeof m->name, "audio");
    snprintf(m->proto, sizeof m->proto, "RTP/AVP");
    for (int i = 0; i < p->ncodecs && i < SDP_MAX_FORMATS; i++)
        m->formats[m->nformats++] = p->codecs[i];
    snprintf(m->fmt, sizeof m->fmt, "%d", m->nformats ? m->formats[0] : SDP_PT_PCMU);
    m->ptime = 20;
}

static void sdp_image_media(struct sdp_media *m, const struct sdp_prefs *p, uint16_t port)
{
    m->kind = SDP_MEDIA_IMAGE;
    m->port = port;
    snprintf(m->name, sizeof m->name, "image");
    snprintf(m->proto, sizeof m->proto, "udptl");
    snprintf(m->fmt, sizeof m->fmt, "t38");
    m->t38 = (struct sdp_t38){
        .version = 0, .max_bitrate = 14400, .transferred_tcf = true,
        .max_datagram = p->max_datagram, .ec = SDP_T38_EC_REDUNDANCY,
    };
}

void sdp_local_audio(struct sdp_session *s, const struct sdp_prefs *p, const char *addr, bool ipv6,
                     uint16_t audio_port)
{
    sdp_local_base(s, addr, ipv6);
    s->nmedia = 1;
    sdp_audio_media(&s->media[0], p, audio_port);
}

void sdp_local_t38(struct sdp_session *s, const struct sdp_prefs *p, const char *addr, bool ipv6,
                   uint16_t image_port)
{
    sdp_local_base(s, addr, ipv6);
    s->nmedia = 2;
    sdp_audio_media(&s->media[0], p, 0);
    sdp_image_media(&s->media[1], p, image_port);
}

static const char *sdp_media_addr(const struct sdp_session *s, const struct sdp_media *m)
{
    return m->addr[0] ? m->addr : s->addr;
}

/* Our first codec the peer also offered, or -1. */
static int sdp_pick_codec(const struct sdp_media *m, const struct sdp_prefs *p)
{
    for (int i = 0; i < p->ncodecs; i++)
        for (int j = 0; j < m->nformats; j++)
            if (m->formats[j] == p->codecs[i])
                return p->codecs[i];
    return -1;
}

/* The usable stream of a description, T.38 first: index or -1. */
static int sdp_pick_media(const struct sdp_session *s, const struct sdp_prefs *p, int *pt)
{
    int audio = -1;
    *pt = -1;
    for (int i = 0; i < s->nmedia; i++) {
        const struct sdp_media *m = &s->media[i];
        if (m->port == 0 || !sdp_media_addr(s, m)[0])
            continue;
        if (m->kind == SDP_MEDIA_IMAGE && p->t38 && m->t38.version == 0)
            return i;
        if (m->kind == SDP_MEDIA_AUDIO && audio < 0 && (*pt = sdp_pick_codec(m, p)) >= 0)
            audio = i;
    }
    return audio;
}

static void sdp_fill_choice(const struct sdp_session *s, int i, int pt, struct sdp_choice *c)
{
    const struct sdp_media *m = &s->media[i];
    memset(c, 0, sizeof *c);
    c->kind = m->kind == SDP_MEDIA_IMAGE ? SDP_CHOICE_T38 : SDP_CHOICE_AUDIO;
    snprintf(c->addr, sizeof c->addr, "%s", sdp_media_addr(s, m));
    c->port = m->port;
    c->pt = pt;
    c->t38 = m->t38;
}

int sdp_answer(const struct sdp_session *offer, const struct sdp_prefs *p, const char *addr, bool ipv6,
               uint16_t audio_port, uint16_t image_port, struct sdp_session *answer, struct sdp_choice *choice)
{
    int pt;
    int chosen = sdp_pick_media(offer, p, &pt);
    if (chosen < 0)
        return -EPROTONOSUPPORT;
    sdp_local_base(answer, addr, ipv6);
    answer->nmedia = offer->nmedia;
    for (int i = 0; i < offer->nmedia; i++) {
        const struct sdp_media *om = &offer->media[i];
        struct sdp_media *am = &answer->media[i];
        if (i != chosen) {
            /* Refused streams keep their line, with port 0 (RFC 3264 6). */
            *am = *om;
            am->port = 0;
            am->addr[0] = '\0';
            continue;
        }
        if (om->kind == SDP_MEDIA_IMAGE) {
            sdp_image_media(am, p, image_port);
            /* Answer with what both sides do: redundancy (never FEC, which
             * we do not generate), our datagram size, transferred TCF. */
            am->t38.ec = om->t38.ec == SDP_T38_EC_NONE ? SDP_T38_EC_NONE : SDP_T38_EC_REDUNDANCY;
            if (om->t38.max_bitrate > 0 && om->t38.max_bitrate < am->t38.max_bitrate)
                am->t38.max_bitrate = om->t38.max_bitrate;
        } else {
            struct sdp_prefs one = { { pt }, 1, false, 0 };
            sdp_audio_media(am, &one, audio_port);
        }
    }
    sdp_fill_choice(offer, chosen, pt, choice);
    return 0;
}

int sdp_accepted(const struct sdp_session *answer, const struct sdp_prefs *p, struct sdp_choice *choice)
{
    int pt;
    int chosen = sdp_pick_media(answer, p, &pt);
    if (chosen < 0)
        return -EPROTONOSUPPORT;
    sdp_fill_choice(answer, chosen, pt, choice);
    return 0;
}

int sdp_prefs_codecs(const char *spec, struct sdp_prefs *p, char *err, size_t errlen)
{
    p->ncodecs = 0;
    const char *s = spec && *spec ? spec : "pcmu,pcma";
    while (*s) {
        size_t n = strcspn(s, ",");
        int pt = n == 4 && strncasecmp(s, "pcmu", 4) == 0 ? SDP_PT_PCMU
                 : n == 4 && strncasecmp(s, "pcma", 4) == 0 ? SDP_PT_PCMA : -1;
        if (pt < 0 || p->ncodecs == 2) {
            snprintf(err, errlen, "SIP codecs \"%s\": use pcmu, pcma or both, comma-separated", spec);
            return -EINVAL;
        }
        p->codecs[p->ncodecs++] = pt;
        s += n;
        if (*s == ',')
            s++;
    }
    return 0;
}

/*
 * sip_sdp.h - the session descriptions a fax line offers and accepts:
 * G.711 audio (PCMU/PCMA, 20 ms) and T.38 over UDPTL (m=image). Parsing
 * the peer's SDP, writing ours, and the offer/answer choice are pure
 * functions here; the SIP user agent only carries the text.
 */
#ifndef FAXFS_MODEM_SIP_SDP_H
#define FAXFS_MODEM_SIP_SDP_H

#include <stdbool.h>
#include <stddef.h>
#include <stdint.h>

#define SDP_PT_PCMU 0
#define SDP_PT_PCMA 8
#define SDP_MAX_MEDIA 4
#define SDP_MAX_FORMATS 8

enum sdp_media_kind { SDP_MEDIA_AUDIO, SDP_MEDIA_IMAGE, SDP_MEDIA_OTHER };
enum sdp_t38_ec { SDP_T38_EC_NONE, SDP_T38_EC_REDUNDANCY, SDP_T38_EC_FEC };

struct sdp_t38 {
    int version;              /* T38FaxVersion */
    int max_bitrate;          /* T38MaxBitRate */
    bool transferred_tcf;     /* T38FaxRateManagement: transferredTCF (else localTCF) */
    int max_datagram;         /* T38FaxMaxDatagram; 0 when not given */
    enum sdp_t38_ec ec;       /* T38FaxUdpEC */
};

struct sdp_media {
    enum sdp_media_kind kind;
    uint16_t port;            /* 0: this stream is refused or disabled */
    char proto[16];           /* "RTP/AVP", "udptl", ... */
    char name[16];            /* "audio", "image", ... as written */
    char fmt[16];             /* the first format as written ("0", "t38") */
    char addr[48];            /* media-level c= address, "" for the session's */
    int formats[SDP_MAX_FORMATS]; /* audio payload types in the peer's order */
    int nformats;
    int ptime;                /* a=ptime, 0 when not given */
    struct sdp_t38 t38;       /* image only */
};

struct sdp_session {
    char addr[48];            /* session-level c= address */
    bool ipv6;
    unsigned long long id, version; /* o= session id and version */
    int nmedia;
    struct sdp_media media[SDP_MAX_MEDIA];
};

/* What the line does with a call's media once both sides agree. */
enum sdp_choice_kind { SDP_CHOICE_NONE, SDP_CHOICE_AUDIO, SDP_CHOICE_T38 };
struct sdp_choice {
    enum sdp_choice_kind kind;
    char addr[48];            /* where to send */
    uint16_t port;
    int pt;                   /* audio payload type */
    struct sdp_t38 t38;       /* T.38 parameters agreed */
};

/* What we are willing to do. */
struct sdp_prefs {
    int codecs[2];            /* payload types in order of preference */
    int ncodecs;
    bool t38;                 /* accept and offer T.38 */
    int max_datagram;         /* our T38FaxMaxDatagram */
};

/* Parses a peer's SDP. Returns 0 or -EBADMSG (not SDP, no address, too
 * many media lines). Unknown lines are ignored. */
int sdp_parse(const char *text, size_t len, struct sdp_session *out);

/* Writes an SDP body; returns its length or -ENOSPC. */
int sdp_write(char *buf, size_t cap, const struct sdp_session *s);

/* Our description: audio only (initial offer), or audio disabled and
 * T.38 image (re-INVITE offer). Ports are our media sockets'. */
void sdp_local_audio(struct sdp_session *s, const struct sdp_prefs *p, const char *addr, bool ipv6,
                     uint16_t audio_port);
void sdp_local_t38(struct sdp_session *s, const struct sdp_prefs *p, const char *addr, bool ipv6,
                   uint16_t image_port);

/* Answers a peer's offer: mirrors its media lines, accepting T.38 when
 * offered and enabled, else one G.711 codec. Returns 0 with the choice,
 * or -EPROTONOSUPPORT when nothing is acceptable (reply 488). */
int sdp_answer(const struct sdp_session *offer, const struct sdp_prefs *p, const char *addr, bool ipv6,
               uint16_t audio_port, uint16_t image_port, struct sdp_session *answer, struct sdp_choice *choice);

/* Reads the peer's answer to our offer: which stream it accepted.
 * Returns 0 with the choice, or -EPROTONOSUPPORT when none. */
int sdp_accepted(const struct sdp_session *answer, const struct sdp_prefs *p, struct sdp_choice *choice);

/* Our codecs from a --sip-codecs list ("pcmu", "pcma" or both,
 * comma-separated; NULL or "": both). 0, or -EINVAL with a sentence in err. */
int sdp_prefs_codecs(const char *spec, struct sdp_prefs *p, char *err, size_t errlen);

#endif

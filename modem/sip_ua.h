/*
 * sip_ua.h - the SIP user agent of a SIP line, over libre. One thread per
 * agent runs libre's event loop and owns every libre object; DSP workers
 * never call libre. They hold a struct sip_call, read its state and media
 * (published under the call's lock) and send commands (hang up, switch to
 * T.38, answer) through a libre message queue. The media sockets (RTP and
 * UDPTL) belong to the call and are used by the worker alone.
 */
#ifndef FAXFS_MODEM_SIP_UA_H
#define FAXFS_MODEM_SIP_UA_H

#include <stdbool.h>
#include <stddef.h>
#include <stdint.h>

#include "modem/admission.h"
#include "modem/modem.h"
#include "modem/sip_sdp.h"

struct sip_ua;
struct sip_call;

/* Where a call stands; the SIP status that ended it is kept beside. */
enum sip_call_state {
    SIP_CALL_CALLING,   /* INVITE sent, nothing or 100 back */
    SIP_CALL_RINGING,   /* 180/183 */
    SIP_CALL_ANSWERED,  /* 200 OK: media flows */
    SIP_CALL_BUSY,      /* 486, 600 */
    SIP_CALL_NO_ANSWER, /* 408, 480, 487, our ring timeout, no response */
    SIP_CALL_FAILED,    /* any other failure, or no common codec */
    SIP_CALL_NO_LINE,   /* the line's fault, not the remote's: 503, no answer from the proxy */
    SIP_CALL_ENDED,     /* BYE (either side) after answer */
};

/* How the call's T.38 switch stands. */
enum sip_t38_state {
    SIP_T38_NONE,       /* audio, nobody asked */
    SIP_T38_PENDING,    /* our re-INVITE is out */
    SIP_T38_ACTIVE,     /* media is T.38 (either side asked) */
    SIP_T38_REFUSED,    /* the peer said 488/606 (or anything but 2xx): stay on audio */
};

/* Which side's re-INVITE moved the call to T.38. */
enum sip_t38_origin {
    SIP_T38_BY_NOBODY,  /* not on T.38 */
    SIP_T38_BY_US,
    SIP_T38_BY_PEER,
};

/* Whether the peer asked us to authenticate (401/407), and what we did. */
enum sip_auth_state {
    SIP_AUTH_NOT_ASKED,
    SIP_AUTH_NO_PASSWORD, /* challenged, but no password is configured */
    SIP_AUTH_SENT,        /* the INVITE was sent again with our digest */
};

/* Called on the agent's thread for each inbound call that has an agreed
 * media: take the call (return 0: the caller now owns one reference and
 * must sip_call_release it) or refuse it (-EBUSY: 486 Busy Here). Must
 * not block. */
typedef int (*sip_incoming_fn)(void *user, struct sip_call *call, const char *caller_id);
/* One line for the daemon's log (refused callers), on the agent's thread. */
typedef void (*sip_notice_fn)(void *user, const char *line);

struct sip_ua_config {
    const char *peer;       /* "HOST[:PORT]" calls go to; NULL for inbound only */
    const char *local;      /* "ADDR[:PORT]" SIP listens on; NULL: any address, port 5060 inbound / ephemeral outbound */
    const char *user;       /* From user and digest user name; NULL: "faxfs" */
    const char *password;   /* digest password; NULL: no authentication */
    const char *codecs;     /* "pcmu,pcma" (default) or "pcma,pcmu", ... */
    bool t38;               /* offer and accept T.38 */
    int ring_timeout_s;     /* outbound: give up ringing after this; 0: 60 */
    sip_incoming_fn incoming; /* NULL: inbound calls get 486 */
    sip_notice_fn notice;     /* NULL: refusals are not logged */
    void *user_data;
    /* Admission of inbound calls (docs/sip.md, "Who may call"). */
    const char *allow;        /* allowed peers "ADDR[/BITS],..." or "any"; NULL: any */
    int calls_per_source;     /* inbound calls at once per source address; 0: 4 */
    const char *inbound_user; /* INVITEs must carry this digest user...; NULL: no authentication */
    const char *inbound_password; /* ...and password */
    /* Registration (docs/sip.md, "Registering with a provider or PBX"). */
    const char *registrar;      /* "sip:HOST[:PORT]"; NULL: the agent does not register */
    const char *auth_user;      /* digest user name; NULL: user */
    int expires_s;              /* asked for; 0: 3600 */
    const char *outbound_proxy; /* "sip:HOST[:PORT]" every request is routed through; NULL: none */
    int keepalive_s;            /* OPTIONS towards the proxy or registrar this often; 0: none */
};

/* Starts the agent's thread. Returns 0 or -errno with a sentence in err. */
int sip_ua_create(struct sip_ua **out, const struct sip_ua_config *cfg, char *err, size_t errlen);
/* Hangs up every call (BYE/CANCEL), stops the thread. Calls still held by
 * workers stay valid (state ENDED) until released. */
void sip_ua_destroy(struct sip_ua *ua);
/* The SIP port the agent listens on (useful with port 0). */
uint16_t sip_ua_port(const struct sip_ua *ua);

/* How the agent's registration stands (MODEM_LINE_REG_NONE without a
 * registrar); error gets the last failure ("registration failed: 403
 * Forbidden"), "" when there is none. Any thread. */
void sip_ua_line_status(struct sip_ua *ua, struct modem_line_status *out, char *error, size_t errlen);

/* Places a call to NUMBER@peer (NUMBER@the registrar's domain when the
 * agent registers). The caller owns one reference. */
int sip_ua_dial(struct sip_ua *ua, const char *number, struct sip_call **out);

enum sip_call_state sip_call_state(struct sip_call *call, int *sip_status);
/* The agreed media and a counter that moves whenever it changes. */
unsigned sip_call_media(struct sip_call *call, struct sdp_choice *media, enum sip_t38_state *t38);
/* Asks the peer to switch to T.38 (re-INVITE); see sip_call_media. If
 * the peer's own re-INVITE crosses ours (491 Request Pending), the agent
 * tries again after RFC 3261's random delay unless the peer's switch
 * has landed by then. */
void sip_call_request_t38(struct sip_call *call);
/* This call stays on audio: it asks for no T.38 and answers a peer's
 * T.38 re-INVITE without it (488 when the offer has nothing else). */
void sip_call_forbid_t38(struct sip_call *call);
/* Whether this call's agent offers and accepts T.38 at all. */
bool sip_call_t38_allowed(const struct sip_call *call);
/* Who switched the call to T.38 (SIP_T38_BY_NOBODY while on audio). */
enum sip_t38_origin sip_call_t38_origin(struct sip_call *call);
/* The signalling peer's address, once known (inbound: the INVITE's
 * source; outbound: the 200 OK's). */
bool sip_call_peer(struct sip_call *call, struct peer_addr *out);
/* Whether a 401/407 challenge came, and whether we answered it. */
enum sip_auth_state sip_call_auth(struct sip_call *call);
/* The call's media sockets (non-blocking UDP), for the worker's use. */
int sip_call_audio_fd(const struct sip_call *call);
int sip_call_image_fd(const struct sip_call *call);
const char *sip_call_caller_id(const struct sip_call *call);
/* Inbound: the number dialed (Request-URI user, else To user), printable only. */
const char *sip_call_called(const struct sip_call *call);
/* Hangs up if still up, and drops the caller's reference. */
void sip_call_release(struct sip_call *call);

#endif

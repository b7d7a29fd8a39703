/*
 * sip_ua.c - SIP signalling for fax calls over libre: outbound INVITE with
 * digest authentication, ringing and answer, failure codes mapped to line
 * outcomes, BYE and CANCEL, inbound calls, and the T.38 switch by
 * re-INVITE in both directions. Everything libre happens on the agent's
 * own thread (libre's loop is single-threaded); workers reach it only
 * through the message queue and the call's published fields.
 */
#include "modem/sip_ua.h"

#include <arpa/inet.h>
#include <errno.h>
#include <netinet/in.h>
#include <pthread.h>
#include <signal.h>
#include <stdarg.h>
#include <stdatomic.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <strings.h>
#include <sys/socket.h>
#include <time.h>
#include <unistd.h>

#include <re.h>

#include "modem/admission.h"
#include "modem/hostport.h"
#include "modem/sip_gate.h"

#define UA_DEFAULT_RING_TIMEOUT_S 60
#define UA_STOP_GRACE_MS 300   /* for BYEs and CANCELs to leave before the loop ends */
#define UA_SDP_MAX 2048
#define UA_CUSER "faxfs"
/* RFC 3261 14.1: after a 491, the side that owns the Call-ID (the
 * caller) waits 2.1-4 s before trying again, the other side 0-2 s, so
 * the answerer's retry lands first and the two do not cross again. */
#define UA_GLARE_OWNER_MIN_MS 2100
#define UA_GLARE_OWNER_MAX_MS 4000
#define UA_GLARE_OTHER_MAX_MS 2000
/* Our T.38 re-INVITEs per call, the first included: a peer that answers
 * 491 for ever gets no storm, and the call stays on audio. */
#define UA_T38_MAX_ATTEMPTS 3
/* Refused callers in the log: one line per source per minute, at most
 * this many lines a minute in all (the rest are counted). */
#define UA_REFUSAL_LOG_WINDOW_S 60
#define UA_REFUSAL_LOG_BURST 10
#define UA_DEFAULT_CALLS_PER_SOURCE 4
/* Registration: lifetime asked for, and the back-off after a failure
 * (30 s doubling to 10 min, each wait drawn from 80-120 % of it). */
#define UA_DEFAULT_EXPIRES_S 3600
#define UA_REG_BACKOFF_MIN_S 30
#define UA_REG_BACKOFF_MAX_S 600

enum ua_cmd { CMD_DIAL, CMD_HANGUP, CMD_T38, CMD_STOP };

struct sip_call {
    atomic_int refs;
    struct sip_ua *ua;
    char number[64];
    char caller_id[64];
    char called[64];   /* inbound: the Request-URI user (or the To user) */
    char local_ip[48];
    bool ipv6;
    int audio_fd, image_fd;
    uint16_t audio_port, image_port;

    pthread_mutex_t lock;       /* protects state, status, media, t38, t38_by, media_gen, auth */
    enum sip_call_state state;
    int status;
    struct sdp_choice media;
    enum sip_t38_state t38;
    enum sip_t38_origin t38_by;
    unsigned media_gen;
    enum sip_auth_state auth;
    struct peer_addr peer;      /* the signalling peer's address (once known) */
    bool have_peer;

    /* Agent thread only. */
    struct sipsess *sess;
    struct sip_request *reinvite;
    struct sdp_session local;   /* our side's description; its version counts up */
    struct tmr ring_tmr;
    struct tmr kill_tmr;
    struct tmr t38_retry_tmr;   /* our T.38 re-INVITE again, after a 491 */
    int t38_attempts;           /* our T.38 re-INVITEs sent so far */
    bool owns_call_id;          /* we placed the call: the slower side after a 491 */
    _Atomic bool no_t38;        /* this call neither asks for nor accepts T.38 */
    bool agent_ref;             /* the agent holds a reference (call in ua->calls) */
    bool counted;               /* inbound: counted in ua->gate.per_source under peer */
    struct le le;
};

struct sip_ua {
    pthread_t thread;
    char peer[128];             /* HOST[:PORT] */
    char peer_host[96];
    char user[64];
    char password[64];
    char media_ip[48];          /* our address in SDP and for media sockets (outbound) */
    bool media_ipv6;
    struct sdp_prefs prefs;
    int ring_timeout_s;
    sip_incoming_fn incoming;
    void *user_data;
    char listen_spec[128];
    struct sip_gate gate;       /* who may call us */
    uint16_t port;

    /* Registration: set before the agent starts. */
    char registrar[160];        /* REGISTER's request URI; "" when the agent does not register */
    char domain[128];           /* the registrar's HOST[:PORT]: our address-of-record's domain */
    char auth_user[64];         /* digest user name */
    uint32_t expires_s;
    char route[176];            /* "sip:HOST[:PORT];lr" of the outbound proxy, or "" */
    char first_hop[160];        /* where keep-alives go: the proxy, else the registrar */
    int keepalive_s;
    /* Registration: published under reg_lock. */
    pthread_mutex_t reg_lock;
    enum modem_line_reg reg_state;
    char reg_error[128];        /* the last failure, "" after a success */
    char reg_contact[200];      /* "sip:USER@DOMAIN" */
    long long reg_expires;      /* unix seconds */
    long long reg_next_try;     /* unix seconds, while failed */
    /* Registration: agent thread only. */
    struct sipreg *reg;
    struct tmr reg_tmr;         /* dropping a failed registration, then the next try */
    struct tmr ka_tmr;
    struct sip_request *ka_req;
    uint32_t ka_seq;
    int reg_failures;           /* in a row */
    int reg_auth_asked;         /* digests given since the last REGISTER without one */
    char reg_logged[128];       /* the last state change logged */

    /* Start-up handshake between sip_ua_create and the agent thread. */
    pthread_mutex_t start_lock;
    pthread_cond_t start_cond;
    bool started;
    int start_err;
    char start_msg[160];

    /* Agent thread only. */
    struct mqueue *mq;
    struct dnsc *dnsc;
    struct sip *sip;
    struct sipsess_sock *sock;
    struct sip_lsnr *glare_lsnr; /* answers 491 to a re-INVITE crossing ours */
    struct list calls;
    struct tmr stop_tmr;
};

static pthread_once_t ua_libre_once = PTHREAD_ONCE_INIT;
static int ua_libre_err;

/* libre's process-wide set-up (sockets, random numbers) runs once; its
 * per-thread loop state is made by re_thread_init in each agent thread. */
static void ua_libre_init(void)
{
    ua_libre_err = libre_init();
}

/* --- calls: references and published state ------------------------- */

static void call_unref(struct sip_call *c)
{
    if (atomic_fetch_sub(&c->refs, 1) != 1)
        return;
    if (c->audio_fd >= 0)
        close(c->audio_fd);
    if (c->image_fd >= 0)
        close(c->image_fd);
    pthread_mutex_destroy(&c->lock);
    free(c);
}

static bool state_is_final(enum sip_call_state st)
{
    return st >= SIP_CALL_BUSY;
}

static void call_set_state(struct sip_call *c, enum sip_call_state st, int status)
{
    pthread_mutex_lock(&c->lock);
    if (!state_is_final(c->state)) {
        c->state = st;
        if (status)
            c->status = status;
    }
    pthread_mutex_unlock(&c->lock);
}

/* The signalling peer's address: symmetric RTP sends media there (or
 * where media comes from), never to a third address named in SDP. */
static void call_set_peer(struct sip_call *c, const struct sip_msg *msg)
{
    struct peer_addr a;
    if (!msg || peer_addr_from_sockaddr(&a, &msg->src.u.sa) != 0)
        return;
    pthread_mutex_lock(&c->lock);
    c->peer = a;
    c->have_peer = true;
    pthread_mutex_unlock(&c->lock);
}

/* by: whose re-INVITE it was, kept when this moves the call to T.38. A
 * late failure of our own re-INVITE never undoes the peer's switch. */
static void call_set_media(struct sip_call *c, const struct sdp_choice *m, enum sip_t38_state t38,
                           enum sip_t38_origin by)
{
    pthread_mutex_lock(&c->lock);
    bool undoes_switch = c->t38 == SIP_T38_ACTIVE && t38 != SIP_T38_ACTIVE && !m;
    if (!undoes_switch) {
        if (m)
            c->media = *m;
        if (t38 == SIP_T38_ACTIVE && c->t38 != SIP_T38_ACTIVE)
            c->t38_by = by;
        c->t38 = t38;
        c->media_gen++;
    }
    pthread_mutex_unlock(&c->lock);
}

static enum sip_t38_state call_t38(struct sip_call *c)
{
    pthread_mutex_lock(&c->lock);
    enum sip_t38_state t = c->t38;
    pthread_mutex_unlock(&c->lock);
    return t;
}

/* The final state a SIP failure status means for a fax line. */
static enum sip_call_state state_for_status(int status)
{
    static const struct {
        int status;
        enum sip_call_state state;
    } map[] = {
        { 486, SIP_CALL_BUSY }, { 600, SIP_CALL_BUSY },
        { 408, SIP_CALL_NO_ANSWER }, { 480, SIP_CALL_NO_ANSWER }, { 487, SIP_CALL_NO_ANSWER },
    };
    for (size_t i = 0; i < sizeof map / sizeof map[0]; i++)
        if (map[i].status == status)
            return map[i].state;
    return SIP_CALL_FAILED;
}

/* A UDP socket on our media address, any port; the port in *port. */
static int media_socket(const char *ip, bool ipv6, uint16_t *port)
{
    struct sockaddr_storage ss;
    socklen_t len;
    memset(&ss, 0, sizeof ss);
    if (ipv6) {
        struct sockaddr_in6 *a = (struct sockaddr_in6 *)&ss;
        a->sin6_family = AF_INET6;
        if (inet_pton(AF_INET6, ip, &a->sin6_addr) != 1)
            return -EINVAL;
        len = sizeof *a;
    } else {
        struct sockaddr_in *a = (struct sockaddr_in *)&ss;
        a->sin_family = AF_INET;
        if (inet_pton(AF_INET, ip, &a->sin_addr) != 1)
            return -EINVAL;
        len = sizeof *a;
    }
    int fd = socket(ss.ss_family, SOCK_DGRAM | SOCK_NONBLOCK | SOCK_CLOEXEC, 0);
    if (fd < 0)
        return -errno;
    if (bind(fd, (struct sockaddr *)&ss, len) != 0 || getsockname(fd, (struct sockaddr *)&ss, &len) != 0) {
        int e = errno;
        close(fd);
        return -e;
    }
    *port = ntohs(ipv6 ? ((struct sockaddr_in6 *)&ss)->sin6_port : ((struct sockaddr_in *)&ss)->sin_port);
    return fd;
}

static struct sip_call *call_new(struct sip_ua *ua, const char *local_ip, bool ipv6)
{
    struct sip_call *c = calloc(1, sizeof *c);
    if (!c)
        return NULL;
    atomic_init(&c->refs, 1);
    c->ua = ua;
    c->audio_fd = c->image_fd = -1;
    pthread_mutex_init(&c->lock, NULL);
    snprintf(c->local_ip, sizeof c->local_ip, "%s", local_ip);
    c->ipv6 = ipv6;
    c->local.id = (unsigned long long)rand_u32();
    c->audio_fd = media_socket(local_ip, ipv6, &c->audio_port);
    c->image_fd = media_socket(local_ip, ipv6, &c->image_port);
    if (c->audio_fd < 0 || c->image_fd < 0) {
        call_unref(c);
        return NULL;
    }
    tmr_init(&c->ring_tmr);
    tmr_init(&c->kill_tmr);
    tmr_init(&c->t38_retry_tmr);
    return c;
}

/* --- agent thread: ending calls -------------------------------------- */

/* The agent lets go of a call: no more SIP for it. */
static void agent_drop(struct sip_call *c)
{
    tmr_cancel(&c->ring_tmr);
    tmr_cancel(&c->kill_tmr);
    tmr_cancel(&c->t38_retry_tmr);
    c->reinvite = mem_deref(c->reinvite);
    c->sess = mem_deref(c->sess); /* sends BYE, or CANCEL while ringing */
    if (c->counted) {
        c->counted = false;
        peer_count_put(&c->ua->gate.per_source, &c->peer);
    }
    if (c->agent_ref) {
        c->agent_ref = false;
        list_unlink(&c->le);
        call_unref(c);
    }
}

static void kill_handler(void *arg)
{
    agent_drop(arg);
}

/* Ends the call from inside a libre handler of its own session, where
 * freeing the session is not allowed: on the next loop turn. */
static void agent_drop_later(struct sip_call *c)
{
    tmr_start(&c->kill_tmr, 0, kill_handler, c);
}

static void ring_timeout_handler(void *arg)
{
    struct sip_call *c = arg;
    call_set_state(c, SIP_CALL_NO_ANSWER, 0);
    agent_drop(c);
}

/* --- agent thread: SDP over libre ------------------------------------ */

static int mbuf_from_sdp(struct mbuf **out, const struct sdp_session *s)
{
    char text[UA_SDP_MAX];
    int n = sdp_write(text, sizeof text, s);
    if (n < 0)
        return ENOSPC;
    struct mbuf *mb = mbuf_alloc((size_t)n);
    if (!mb)
        return ENOMEM;
    mbuf_write_mem(mb, (const uint8_t *)text, (size_t)n);
    mb->pos = 0;
    *out = mb;
    return 0;
}

static int sdp_from_msg(const struct sip_msg *msg, struct sdp_session *s)
{
    if (!msg || !msg->mb || mbuf_get_left(msg->mb) == 0)
        return -EBADMSG;
    return sdp_parse((const char *)mbuf_buf(msg->mb), mbuf_get_left(msg->mb), s);
}

/* The peer offers new media (re-INVITE, usually to T.38): answer it. */
static int offer_handler(struct mbuf **descp, const struct sip_msg *msg, void *arg)
{
    struct sip_call *c = arg;
    struct sdp_session offer;
    struct sdp_choice choice;
    if (sdp_from_msg(msg, &offer) != 0)
        return EBADMSG;
    struct sdp_prefs prefs = c->ua->prefs;
    if (atomic_load(&c->no_t38))
        prefs.t38 = false;
    if (sdp_answer(&offer, &prefs, c->local_ip, c->ipv6, c->audio_port, c->image_port, &c->local, &choice)
        != 0)
        return EPROTONOSUPPORT; /* libre replies 488 */
    int err = mbuf_from_sdp(descp, &c->local);
    if (err)
        return err;
    call_set_media(c, &choice, choice.kind == SDP_CHOICE_T38 ? SIP_T38_ACTIVE : call_t38(c), SIP_T38_BY_PEER);
    return 0;
}

/* The answer to our initial offer (in the 200 OK). */
static int answer_handler(const struct sip_msg *msg, void *arg)
{
    struct sip_call *c = arg;
    struct sdp_session answer;
    struct sdp_choice choice;
    call_set_peer(c, msg);
    if (sdp_from_msg(msg, &answer) != 0 || sdp_accepted(&answer, &c->ua->prefs, &choice) != 0) {
        call_set_state(c, SIP_CALL_FAILED, 488);
        agent_drop_later(c);
        return EPROTONOSUPPORT;
    }
    call_set_media(c, &choice, choice.kind == SDP_CHOICE_T38 ? SIP_T38_ACTIVE : SIP_T38_NONE, SIP_T38_BY_PEER);
    return 0;
}

static void progress_handler(const struct sip_msg *msg, void *arg)
{
    struct sip_call *c = arg;
    if (msg->scode == 180 || msg->scode == 183)
        call_set_state(c, SIP_CALL_RINGING, msg->scode);
}

static void established_handler(const struct sip_msg *msg, void *arg)
{
    (void)msg;
    struct sip_call *c = arg;
    tmr_cancel(&c->ring_tmr);
    call_set_state(c, SIP_CALL_ANSWERED, 200);
}

static void close_handler(int err, const struct sip_msg *msg, void *arg)
{
    struct sip_call *c = arg;
    int status = msg && !msg->req ? msg->scode : 0;
    bool via_service = c->ua->registrar[0] || c->ua->route[0];
    if (status == 503)
        call_set_state(c, SIP_CALL_NO_LINE, status);
    else if (status >= 300)
        call_set_state(c, state_for_status(status), status);
    else if (err == ETIMEDOUT && via_service)
        call_set_state(c, SIP_CALL_NO_LINE, 408); /* not even a 100 Trying from the proxy or registrar */
    else if (err == ETIMEDOUT)
        call_set_state(c, SIP_CALL_NO_ANSWER, 408);
    else if (sip_call_state(c, NULL) == SIP_CALL_ANSWERED)
        call_set_state(c, SIP_CALL_ENDED, 0);
    else
        call_set_state(c, SIP_CALL_FAILED, status);
    /* libre allows freeing the session from its close handler. */
    agent_drop(c);
}

/* libre asks once per realm; a second challenge for the same realm
 * (wrong password) ends the call with that 401/407, with no retry. */
static int auth_handler(char **username, char **password, const char *realm, void *arg)
{
    (void)realm;
    struct sip_call *c = arg;
    bool have = c->ua->password[0] != '\0';
    pthread_mutex_lock(&c->lock);
    c->auth = have ? SIP_AUTH_SENT : SIP_AUTH_NO_PASSWORD;
    pthread_mutex_unlock(&c->lock);
    if (!have)
        return EAUTH;
    int err = str_dup(username, c->ua->auth_user);
    if (!err)
        err = str_dup(password, c->ua->password);
    return err;
}

/* --- agent thread: registration ----------------------------------------- */

static long long ua_unix_now(void)
{
    return (long long)time(NULL);
}

static void reg_notice(struct sip_ua *ua, const char *text)
{
    if (strcmp(ua->reg_logged, text) == 0)
        return; /* every change once, not every retry */
    snprintf(ua->reg_logged, sizeof ua->reg_logged, "%s", text);
    if (ua->gate.notice)
        ua->gate.notice(ua->gate.notice_user, text);
}

static void reg_publish(struct sip_ua *ua, enum modem_line_reg st, const char *error, long long expires,
                        long long next_try)
{
    pthread_mutex_lock(&ua->reg_lock);
    ua->reg_state = st;
    if (error)
        snprintf(ua->reg_error, sizeof ua->reg_error, "%s", error);
    ua->reg_expires = expires;
    ua->reg_next_try = next_try;
    pthread_mutex_unlock(&ua->reg_lock);
}

/* libre forgets the realm before each answer to a 401 of REGISTER, so
 * it would ask again (and REGISTER again) up to its loop limit: a
 * second challenge within one try means the password is wrong. */
static int reg_auth_handler(char **username, char **password, const char *realm, void *arg)
{
    (void)realm;
    struct sip_ua *ua = arg;
    if (!ua->password[0] || ++ua->reg_auth_asked > 1)
        return EAUTH;
    int err = str_dup(username, ua->auth_user);
    if (!err)
        err = str_dup(password, ua->password);
    return err;
}

static void reg_start(struct sip_ua *ua);

static void reg_retry_handler(void *arg)
{
    reg_start(arg);
}

/* After a failure: the old registration goes (outside its own handler),
 * and the next try waits its back-off. */
static void reg_drop_handler(void *arg)
{
    struct sip_ua *ua = arg;
    ua->reg = mem_deref(ua->reg);
    int shift = ua->reg_failures > 1 ? ua->reg_failures - 1 : 0;
    uint32_t base = UA_REG_BACKOFF_MIN_S << (shift < 5 ? shift : 5);
    if (base > UA_REG_BACKOFF_MAX_S)
        base = UA_REG_BACKOFF_MAX_S;
    uint64_t ms = (uint64_t)base * (800 + rand_u32() % 401); /* 80-120 % */
    pthread_mutex_lock(&ua->reg_lock);
    ua->reg_next_try = ua_unix_now() + (long long)(ms / 1000);
    pthread_mutex_unlock(&ua->reg_lock);
    tmr_start(&ua->reg_tmr, ms, reg_retry_handler, ua);
}

static void reg_failed(struct sip_ua *ua, const char *why, int scode)
{
    char text[128];
    const char *hint = "";
    if (scode == 401 || scode == 407 || scode == 403)
        hint = ua->password[0] ? "; check the line's user and password" : "; the line has no password";
    snprintf(text, sizeof text, "registration failed: %s%s", why, hint);
    ua->reg_failures++;
    reg_publish(ua, MODEM_LINE_REG_FAILED, text, 0, 0);
    reg_notice(ua, text);
    tmr_start(&ua->reg_tmr, 0, reg_drop_handler, ua);
}

static void reg_resp_handler(int err, const struct sip_msg *msg, void *arg)
{
    struct sip_ua *ua = arg;
    if (!err && msg && msg->scode < 200)
        return;
    if (!err && msg && msg->scode < 300) {
        uint32_t exp = sipreg_proxy_expires(ua->reg);
        if (exp == 0)
            exp = ua->expires_s;
        ua->reg_failures = 0;
        ua->reg_auth_asked = 0; /* the next refresh is challenged anew */
        reg_publish(ua, MODEM_LINE_REG_REGISTERED, "", ua_unix_now() + exp, 0);
        char text[256];
        const struct sa *laddr = sipreg_laddr(ua->reg);
        (void)re_snprintf(text, sizeof text, "registered as %s (contact sip:%s@%J)", ua->reg_contact, ua->user,
                          laddr);
        reg_notice(ua, text);
        return;
    }
    char why[96];
    int scode = 0;
    if (!err && msg) {
        scode = msg->scode;
        snprintf(why, sizeof why, "%d %.*s", scode, (int)(msg->reason.l < 60 ? msg->reason.l : 60), msg->reason.p);
    } else if (err == ETIMEDOUT) {
        snprintf(why, sizeof why, "no answer from %s", ua->route[0] ? "the outbound proxy" : "the registrar");
    } else {
        char buf[64];
        snprintf(why, sizeof why, "%s", str_error(err, buf, sizeof buf));
    }
    reg_failed(ua, why, scode);
}

static void reg_start(struct sip_ua *ua)
{
    const char *routev[1] = { ua->route };
    pthread_mutex_lock(&ua->reg_lock);
    ua->reg_state = MODEM_LINE_REG_REGISTERING;
    pthread_mutex_unlock(&ua->reg_lock);
    ua->reg_auth_asked = 0;
    int err = sipreg_register(&ua->reg, ua->sip, ua->registrar, ua->reg_contact, NULL, ua->reg_contact,
                              ua->expires_s, ua->user, ua->route[0] ? routev : NULL, ua->route[0] ? 1 : 0, 0,
                              reg_auth_handler, ua, false, reg_resp_handler, ua, NULL, NULL);
    if (err) {
        char buf[64], why[96];
        snprintf(why, sizeof why, "cannot send REGISTER (%s)", str_error(err, buf, sizeof buf));
        reg_failed(ua, why, 0);
    }
}

/* NAT keep-alive: an OPTIONS to the first hop keeps the binding open
 * between registrations. The answer does not matter. */
static int ka_send_handler(enum sip_transp tp, const struct sa *src, const struct sa *dst, struct mbuf *mb,
                           void *arg)
{
    (void)tp; (void)src; (void)dst; (void)mb; (void)arg;
    return 0;
}

static void ka_resp_handler(int err, const struct sip_msg *msg, void *arg)
{
    (void)err; (void)msg; (void)arg;
}

static void ka_handler(void *arg)
{
    struct sip_ua *ua = arg;
    tmr_start(&ua->ka_tmr, (uint64_t)ua->keepalive_s * 1000, ka_handler, ua);
    if (ua->ka_req)
        return; /* the last one is still out */
    ua->ka_seq++;
    (void)sip_requestf(&ua->ka_req, ua->sip, true, "OPTIONS", ua->first_hop, NULL, NULL, ka_send_handler,
                       ka_resp_handler, ua,
                       "To: <%s>\r\n"
                       "From: <%s>;tag=%08x\r\n"
                       "Call-ID: %08x%08x@faxfs\r\n"
                       "CSeq: %u OPTIONS\r\n"
                       "Max-Forwards: 70\r\n"
                       "Content-Length: 0\r\n"
                       "\r\n",
                       ua->first_hop, ua->reg_contact, rand_u32(), rand_u32(), rand_u32(), ua->ka_seq);
}

/* --- agent thread: our T.38 re-INVITE -------------------------------- */

/* Our own re-INVITE goes straight through the dialog rather than
 * sipsess_modify, because libre reports no failure response of a
 * modification, and a 488 is exactly what we must hear. */
static int reinvite_send_handler(enum sip_transp tp, const struct sa *src, const struct sa *dst,
                                 struct mbuf *mb, void *arg)
{
    (void)dst; (void)arg;
    struct sip_contact contact;
    sip_contact_set(&contact, UA_CUSER, src, tp);
    return mbuf_printf(mb, "%H", sip_contact_print, &contact);
}

static void agent_request_t38(struct sip_call *c);

static void t38_retry_handler(void *arg)
{
    struct sip_call *c = arg;
    if (call_t38(c) != SIP_T38_ACTIVE) /* the peer's own switch may have landed meanwhile */
        agent_request_t38(c);
}

/* RFC 3261 14.1's wait after a 491, in its units of 10 ms; r is random. */
static uint32_t glare_delay_ms(bool owns_call_id, uint32_t r)
{
    if (owns_call_id)
        return UA_GLARE_OWNER_MIN_MS + 10 * (r % ((UA_GLARE_OWNER_MAX_MS - UA_GLARE_OWNER_MIN_MS) / 10 + 1));
    return 10 * (r % (UA_GLARE_OTHER_MAX_MS / 10 + 1));
}

/* Our re-INVITE crossed the peer's (491 Request Pending): wait as RFC
 * 3261 14.1 says and ask again, unless the peer's switch lands first. */
static void agent_t38_glare(struct sip_call *c)
{
    if (call_t38(c) == SIP_T38_ACTIVE)
        return;
    if (c->t38_attempts >= UA_T38_MAX_ATTEMPTS) {
        call_set_media(c, NULL, SIP_T38_REFUSED, SIP_T38_BY_NOBODY);
        return;
    }
    tmr_start(&c->t38_retry_tmr, glare_delay_ms(c->owns_call_id, rand_u32()), t38_retry_handler, c);
}

static void reinvite_response_handler(int err, const struct sip_msg *msg, void *arg)
{
    struct sip_call *c = arg;
    if (!err && msg && msg->scode < 200)
        return;
    c->reinvite = NULL; /* the request frees itself once answered */
    struct sdp_session answer;
    struct sdp_choice choice;
    if (!err && msg && msg->scode == 491) {
        agent_t38_glare(c);
        return;
    }
    if (err || !msg || msg->scode >= 300) {
        call_set_media(c, NULL, SIP_T38_REFUSED, SIP_T38_BY_NOBODY);
        return;
    }
    (void)sip_drequestf(NULL, c->ua->sip, false, "ACK", sipsess_dialog(c->sess), msg->cseq.num, NULL,
                        reinvite_send_handler, NULL, NULL, "Content-Length: 0\r\n\r\n");
    if (sdp_from_msg(msg, &answer) == 0 && sdp_accepted(&answer, &c->ua->prefs, &choice) == 0
        && choice.kind == SDP_CHOICE_T38)
        call_set_media(c, &choice, SIP_T38_ACTIVE, SIP_T38_BY_US);
    else
        call_set_media(c, NULL, SIP_T38_REFUSED, SIP_T38_BY_NOBODY);
}

static void agent_request_t38(struct sip_call *c)
{
    if (!c->sess || c->reinvite || sip_call_state(c, NULL) != SIP_CALL_ANSWERED || !c->ua->prefs.t38
        || atomic_load(&c->no_t38)
        || call_t38(c) == SIP_T38_ACTIVE) {
        if (call_t38(c) != SIP_T38_ACTIVE)
            call_set_media(c, NULL, SIP_T38_REFUSED, SIP_T38_BY_NOBODY);
        return;
    }
    char text[UA_SDP_MAX];
    struct sdp_session offer = c->local;
    sdp_local_t38(&offer, &c->ua->prefs, c->local_ip, c->ipv6, c->image_port);
    int n = sdp_write(text, sizeof text, &offer);
    int err = n < 0 ? ENOSPC
                    : sip_drequestf(&c->reinvite, c->ua->sip, true, "INVITE", sipsess_dialog(c->sess), 0, NULL,
                                    reinvite_send_handler, reinvite_response_handler, c,
                                    "Content-Type: application/sdp\r\n"
                                    "Content-Length: %d\r\n"
                                    "\r\n"
                                    "%b",
                                    n, text, (size_t)n);
    if (err) {
        call_set_media(c, NULL, SIP_T38_REFUSED, SIP_T38_BY_NOBODY);
        return;
    }
    c->t38_attempts++;
    c->local = offer;
    call_set_media(c, NULL, SIP_T38_PENDING, SIP_T38_BY_NOBODY);
}

/* RFC 3261 14.2: a re-INVITE that arrives while ours is out is answered
 * 491 Request Pending; both sides then retry after 14.1's delays.
 * Registered before libre's session listener, which would take it:
 * libre only knows of re-INVITEs it sent itself. */
static bool glare_handler(const struct sip_msg *msg, void *arg)
{
    struct sip_ua *ua = arg;
    if (pl_strcmp(&msg->met, "INVITE") != 0 || !pl_isset(&msg->to.tag))
        return false;
    for (struct le *le = list_head(&ua->calls); le; le = le->next) {
        struct sip_call *c = le->data;
        if (c->reinvite && c->sess && sip_dialog_cmp(sipsess_dialog(c->sess), msg)) {
            (void)sip_treply(NULL, ua->sip, msg, 491, "Request Pending");
            return true;
        }
    }
    return false;
}

/* --- agent thread: placing and taking calls -------------------------- */

static void agent_dial(struct sip_ua *ua, struct sip_call *c)
{
    char to[256], from[256];
    struct mbuf *desc = NULL;
    const char *routev[1] = { ua->route };
    if (ua->registrar[0]) { /* NUMBER at our address-of-record's domain */
        snprintf(to, sizeof to, "sip:%s@%s", c->number, ua->domain);
        snprintf(from, sizeof from, "%s", ua->reg_contact);
    } else {
        snprintf(to, sizeof to, "sip:%s@%s", c->number, ua->peer);
        snprintf(from, sizeof from, "sip:%s@%s", ua->user, ua->peer_host);
    }
    c->owns_call_id = true;
    sdp_local_audio(&c->local, &ua->prefs, c->local_ip, c->ipv6, c->audio_port);
    int err = mbuf_from_sdp(&desc, &c->local);
    if (!err)
        err = sipsess_connect(&c->sess, ua->sock, to, NULL, from, ua->registrar[0] ? ua->user : UA_CUSER,
                              ua->route[0] ? routev : NULL, ua->route[0] ? 1 : 0, "application/sdp", desc,
                              auth_handler, c, false, offer_handler, answer_handler, progress_handler,
                              established_handler, NULL, NULL, close_handler, c, NULL);
    mem_deref(desc);
    if (err) {
        call_set_state(c, SIP_CALL_FAILED, 0);
        agent_drop(c);
        return;
    }
    tmr_start(&c->ring_tmr, (uint64_t)ua->ring_timeout_s * 1000, ring_timeout_handler, c);
}

/* A number from a header lands in files people read: printable only. */
static void sip_number_copy(const struct pl *p, char *out, size_t cap)
{
    size_t k = 0;
    for (size_t i = 0; i < p->l && k + 1 < cap; i++) {
        char ch = p->p[i];
        if (ch > 0x20 && ch < 0x7f && ch != '/')
            out[k++] = ch;
    }
    out[k] = '\0';
}

/* The number the caller dialed: the Request-URI user, else the To user
 * (a proxy may rewrite the Request-URI to our contact without a user). */
static void called_of(const struct sip_msg *msg, char *out, size_t cap)
{
    sip_number_copy(pl_isset(&msg->uri.user) ? &msg->uri.user : &msg->to.uri.user, out, cap);
}

static void caller_id_of(const struct sip_msg *msg, char *out, size_t cap)
{
    const struct pl *p = pl_isset(&msg->from.uri.user) ? &msg->from.uri.user : &msg->from.dname;
    size_t k = 0;
    for (size_t i = 0; i < p->l && k + 1 < cap; i++) {
        char ch = p->p[i];
        /* A caller id lands in files people read: printable only. */
        if (ch > 0x20 && ch < 0x7f && ch != '/')
            out[k++] = ch;
    }
    out[k] = '\0';
}

static void incoming_handler(const struct sip_msg *msg, void *arg)
{
    struct sip_ua *ua = arg;
    if (!ua->incoming) {
        (void)sip_treply(NULL, ua->sip, msg, 486, "Busy Here");
        return;
    }
    struct peer_addr src;
    if (sip_gate_admit(&ua->gate, ua->sip, msg, &src) != 0)
        return;
    char ip[48];
    struct sip_call *c = sa_ntop(&msg->dst, ip, sizeof ip) == 0 ? call_new(ua, ip, sa_af(&msg->dst) == AF_INET6) : NULL;
    if (!c) {
        peer_count_put(&ua->gate.per_source, &src);
        (void)sip_treply(NULL, ua->sip, msg, 503, "Service Unavailable");
        return;
    }
    c->peer = src;
    c->have_peer = true;
    struct sdp_session offer;
    struct sdp_choice choice;
    struct mbuf *desc = NULL;
    if (sdp_from_msg(msg, &offer) != 0
        || sdp_answer(&offer, &ua->prefs, c->local_ip, c->ipv6, c->audio_port, c->image_port, &c->local, &choice)
               != 0
        || mbuf_from_sdp(&desc, &c->local) != 0) {
        (void)sip_treply(NULL, ua->sip, msg, 488, "Not Acceptable Here");
        peer_count_put(&ua->gate.per_source, &src);
        call_unref(c);
        return;
    }
    caller_id_of(msg, c->caller_id, sizeof c->caller_id);
    called_of(msg, c->called, sizeof c->called);
    call_set_media(c, &choice, choice.kind == SDP_CHOICE_T38 ? SIP_T38_ACTIVE : SIP_T38_NONE, SIP_T38_BY_PEER);
    c->state = SIP_CALL_ANSWERED;
    c->status = 200;
    atomic_fetch_add(&c->refs, 1); /* the taker's */
    if (ua->incoming(ua->user_data, c, c->caller_id) != 0) {
        atomic_fetch_sub(&c->refs, 1);
        (void)sip_treply(NULL, ua->sip, msg, 486, "Busy Here");
        mem_deref(desc);
        peer_count_put(&ua->gate.per_source, &src);
        call_unref(c);
        return;
    }
    c->agent_ref = true;
    c->counted = true; /* agent_drop gives the source's count back */
    list_append(&ua->calls, &c->le, c);
    int err = sipsess_accept(&c->sess, ua->sock, msg, 200, "OK", UA_CUSER, "application/sdp", desc, NULL, NULL,
                             false, offer_handler, answer_handler, established_handler, NULL, NULL,
                             close_handler, c, NULL);
    mem_deref(desc);
    if (err) {
        pthread_mutex_lock(&c->lock);
        c->state = SIP_CALL_FAILED;
        pthread_mutex_unlock(&c->lock);
        agent_drop(c);
    }
}

/* --- agent thread: commands and life cycle --------------------------- */

static void stop_handler(void *arg)
{
    (void)arg;
    re_cancel();
}

static void agent_stop(struct sip_ua *ua)
{
    tmr_cancel(&ua->reg_tmr);
    tmr_cancel(&ua->ka_tmr);
    ua->ka_req = mem_deref(ua->ka_req);
    ua->reg = mem_deref(ua->reg); /* un-REGISTERs (if registered) during the grace */
    struct le *le;
    while ((le = list_head(&ua->calls)) != NULL) {
        struct sip_call *c = le->data;
        call_set_state(c, SIP_CALL_ENDED, 0);
        agent_drop(c);
    }
    tmr_start(&ua->stop_tmr, UA_STOP_GRACE_MS, stop_handler, ua);
}

static void command_handler(int id, void *data, void *arg)
{
    struct sip_ua *ua = arg;
    struct sip_call *c = data;
    switch (id) {
    case CMD_DIAL:
        c->agent_ref = true;
        list_append(&ua->calls, &c->le, c);
        agent_dial(ua, c);
        break;
    case CMD_HANGUP:
        call_set_state(c, SIP_CALL_ENDED, 0);
        agent_drop(c);
        call_unref(c); /* the releasing worker's reference */
        break;
    case CMD_T38:
        agent_request_t38(c);
        call_unref(c);
        break;
    case CMD_STOP:
        agent_stop(ua);
        break;
    }
}

static int ua_fail(struct sip_ua *ua, int err, const char *what)
{
    char buf[64];
    snprintf(ua->start_msg, sizeof ua->start_msg, "SIP: %s: %s", what, str_error(err, buf, sizeof buf));
    return err;
}

static int agent_setup(struct sip_ua *ua)
{
    struct sa laddr, srv[4];
    uint32_t nsrv = sizeof srv / sizeof srv[0];
    char domain[64] = "";
    int err = mqueue_alloc(&ua->mq, command_handler, ua);
    if (err)
        return ua_fail(ua, err, "message queue");
    /* DNS only matters for a peer given by name; without resolvers a
     * numeric peer still works. */
    if (dns_srv_get(domain, sizeof domain, srv, &nsrv) == 0 && nsrv > 0)
        (void)dnsc_alloc(&ua->dnsc, NULL, srv, nsrv);
    err = sip_alloc(&ua->sip, ua->dnsc, 32, 32, 32, "faxfs/" FAXFS_VERSION, NULL, NULL);
    if (err)
        return ua_fail(ua, err, "cannot start the SIP stack");
    err = sa_decode(&laddr, ua->listen_spec, strlen(ua->listen_spec));
    if (err)
        err = sa_set_str(&laddr, ua->listen_spec, 0);
    if (err)
        return ua_fail(ua, EINVAL, "bad local address (use ADDR or ADDR:PORT)");
    err = sip_transp_add(ua->sip, SIP_TRANSP_UDP, &laddr);
    if (err)
        return ua_fail(ua, err, "cannot listen on the local SIP address");
    struct sa bound;
    if (sip_transp_laddr(ua->sip, &bound, SIP_TRANSP_UDP, NULL) == 0)
        ua->port = sa_port(&bound);
    err = sip_listen(&ua->glare_lsnr, ua->sip, true, glare_handler, ua);
    if (err)
        return ua_fail(ua, err, "cannot accept calls");
    err = sipsess_listen(&ua->sock, ua->sip, 32, incoming_handler, ua);
    if (err)
        return ua_fail(ua, err, "cannot accept calls");
    if (ua->registrar[0])
        reg_start(ua);
    if (ua->keepalive_s > 0 && ua->first_hop[0])
        tmr_start(&ua->ka_tmr, (uint64_t)ua->keepalive_s * 1000, ka_handler, ua);
    return 0;
}

static void agent_teardown(struct sip_ua *ua)
{
    struct le *le;
    while ((le = list_head(&ua->calls)) != NULL)
        agent_drop(le->data);
    tmr_cancel(&ua->stop_tmr);
    tmr_cancel(&ua->reg_tmr);
    tmr_cancel(&ua->ka_tmr);
    ua->ka_req = mem_deref(ua->ka_req);
    ua->reg = mem_deref(ua->reg); /* un-REGISTERs if registered, while the grace lasts */
    ua->sock = mem_deref(ua->sock);
    ua->glare_lsnr = mem_deref(ua->glare_lsnr);
    if (ua->sip)
        sip_close(ua->sip, true);
    ua->sip = mem_deref(ua->sip);
    ua->dnsc = mem_deref(ua->dnsc);
    ua->mq = mem_deref(ua->mq);
}

static void *agent_main(void *arg)
{
    struct sip_ua *ua = arg;
    int err = re_thread_init();
    if (err)
        ua_fail(ua, err, "cannot start the event loop");
    else
        err = agent_setup(ua);
    pthread_mutex_lock(&ua->start_lock);
    ua->started = true;
    ua->start_err = err;
    pthread_cond_signal(&ua->start_cond);
    pthread_mutex_unlock(&ua->start_lock);
    if (!err)
        re_main(NULL);
    agent_teardown(ua);
    re_thread_close();
    return NULL;
}

/* --- configuration ---------------------------------------------------- */

/* "sip:HOST[:PORT]" (parameters after ';' ignored) into HOST and PORT
 * ("5060" when absent); HOST[:PORT] alone into *hostport. */
static int ua_sip_uri(const char *uri, char *hostport, size_t hplen, char *host, size_t hostlen, char *port,
                      size_t portlen)
{
    if (!uri || strncasecmp(uri, "sip:", 4) != 0 || strchr(uri, '@'))
        return -EINVAL;
    size_t n = strcspn(uri + 4, ";?>");
    if (n == 0 || n >= hplen)
        return -EINVAL;
    memcpy(hostport, uri + 4, n);
    hostport[n] = '\0';
    snprintf(port, portlen, "5060");
    return hostport_split(hostport, HOSTPORT_PORT_OPTIONAL, host, hostlen, port, portlen) == 0 ? 0 : -EINVAL;
}

/* Registration settings; route_host and route_port get the first hop
 * (proxy, else registrar) for picking our address. */
static int ua_configure_reg(struct sip_ua *ua, const struct sip_ua_config *cfg, char *route_host, size_t rhlen,
                            char *route_port, size_t rplen, char *err, size_t errlen)
{
    char hp[128], host[96], port[16];
    snprintf(ua->auth_user, sizeof ua->auth_user, "%s", cfg->auth_user && *cfg->auth_user ? cfg->auth_user : ua->user);
    ua->expires_s = cfg->expires_s > 0 ? (uint32_t)cfg->expires_s : UA_DEFAULT_EXPIRES_S;
    ua->keepalive_s = cfg->keepalive_s > 0 ? cfg->keepalive_s : 0;
    if (cfg->registrar && *cfg->registrar) {
        if (ua_sip_uri(cfg->registrar, hp, sizeof hp, host, sizeof host, port, sizeof port) != 0) {
            snprintf(err, errlen, "SIP registrar \"%s\": use sip:HOST or sip:HOST:PORT", cfg->registrar);
            return -EINVAL;
        }
        snprintf(ua->registrar, sizeof ua->registrar, "sip:%s", hp);
        snprintf(ua->domain, sizeof ua->domain, "%s", hp);
        snprintf(ua->reg_contact, sizeof ua->reg_contact, "sip:%s@%s", ua->user, hp);
        snprintf(ua->first_hop, sizeof ua->first_hop, "sip:%s", hp);
        snprintf(route_host, rhlen, "%s", host);
        snprintf(route_port, rplen, "%s", port);
    }
    if (cfg->outbound_proxy && *cfg->outbound_proxy) {
        if (ua_sip_uri(cfg->outbound_proxy, hp, sizeof hp, host, sizeof host, port, sizeof port) != 0) {
            snprintf(err, errlen, "SIP outbound proxy \"%s\": use sip:HOST or sip:HOST:PORT", cfg->outbound_proxy);
            return -EINVAL;
        }
        snprintf(ua->route, sizeof ua->route, "sip:%s;lr", hp);
        snprintf(ua->first_hop, sizeof ua->first_hop, "sip:%s", hp);
        snprintf(route_host, rhlen, "%s", host);
        snprintf(route_port, rplen, "%s", port);
    }
    if (ua->keepalive_s > 0 && !ua->first_hop[0]) {
        snprintf(err, errlen, "SIP keep-alive needs a registrar or an outbound proxy to send to");
        return -EINVAL;
    }
    return 0;
}

static int ua_configure(struct sip_ua *ua, const struct sip_ua_config *cfg, char *err, size_t errlen)
{
    snprintf(ua->user, sizeof ua->user, "%s", cfg->user && *cfg->user ? cfg->user : "faxfs");
    snprintf(ua->password, sizeof ua->password, "%s", cfg->password ? cfg->password : "");
    ua->ring_timeout_s = cfg->ring_timeout_s > 0 ? cfg->ring_timeout_s : UA_DEFAULT_RING_TIMEOUT_S;
    ua->incoming = cfg->incoming;
    ua->gate.notice = cfg->notice;
    ua->gate.notice_user = cfg->user_data;
    ua->user_data = cfg->user_data;
    char aerr[128];
    if (peer_acl_parse(&ua->gate.allow, cfg->allow && *cfg->allow ? cfg->allow : "any", aerr, sizeof aerr) != 0) {
        snprintf(err, errlen, "SIP allowed peers: %s", aerr);
        return -EINVAL;
    }
    peer_count_init(&ua->gate.per_source, cfg->calls_per_source > 0 ? cfg->calls_per_source : UA_DEFAULT_CALLS_PER_SOURCE);
    refusal_log_init(&ua->gate.refusals, UA_REFUSAL_LOG_WINDOW_S, UA_REFUSAL_LOG_BURST);
    if (cfg->inbound_user && *cfg->inbound_user) {
        if (!cfg->inbound_password || !*cfg->inbound_password) {
            snprintf(err, errlen, "SIP inbound user '%s' needs a password (--sip-inbound-password or "
                                  "FAXFS_SIP_INBOUND_PASSWORD)", cfg->inbound_user);
            return -EINVAL;
        }
        snprintf(ua->gate.in_user, sizeof ua->gate.in_user, "%s", cfg->inbound_user);
        snprintf(ua->gate.in_password, sizeof ua->gate.in_password, "%s", cfg->inbound_password);
    }
    ua->prefs.t38 = cfg->t38;
    ua->prefs.max_datagram = 400;
    if (sdp_prefs_codecs(cfg->codecs, &ua->prefs, err, errlen) != 0)
        return -EINVAL;
    /* Placing calls only, any port will do; taking calls, the usual one. */
    char lhost[48] = "0.0.0.0", lport[16];
    snprintf(lport, sizeof lport, "%s", cfg->peer && *cfg->peer ? "0" : "5060");
    if (cfg->local && *cfg->local
        && hostport_split(cfg->local, HOSTPORT_PORT_OPTIONAL, lhost, sizeof lhost, lport, sizeof lport) != 0) {
        snprintf(err, errlen, "SIP local address \"%s\": use ADDR or ADDR:PORT", cfg->local);
        return -EINVAL;
    }
    bool v6 = strchr(lhost, ':') != NULL;
    snprintf(ua->listen_spec, sizeof ua->listen_spec, v6 ? "[%s]:%s" : "%s:%s", lhost, lport);
    snprintf(ua->media_ip, sizeof ua->media_ip, "%s", lhost);
    ua->media_ipv6 = v6;
    char hop_host[96] = "", hop_port[16] = "5060";
    int rc = ua_configure_reg(ua, cfg, hop_host, sizeof hop_host, hop_port, sizeof hop_port, err, errlen);
    if (rc != 0)
        return rc;
    if (cfg->peer && *cfg->peer) {
        char pport[16] = "5060";
        snprintf(ua->peer, sizeof ua->peer, "%s", cfg->peer);
        if (hostport_split(cfg->peer, HOSTPORT_PORT_OPTIONAL, ua->peer_host, sizeof ua->peer_host, pport,
                           sizeof pport) != 0) {
            snprintf(err, errlen, "SIP peer \"%s\": use HOST or HOST:PORT", cfg->peer);
            return -EINVAL;
        }
        /* Our address is the one that routes to the first hop: the
         * outbound proxy, else the registrar, else the peer. */
        const char *rhost = hop_host[0] ? hop_host : ua->peer_host, *rport = hop_host[0] ? hop_port : pport;
        struct sa any;
        if (sa_set_str(&any, lhost, 0) == 0 && sa_is_any(&any)) {
            if (hostport_route_source(rhost, rport, ua->media_ip, sizeof ua->media_ip, &ua->media_ipv6) != 0) {
                snprintf(err, errlen, "SIP %s \"%s\": no route to it; give a numeric address or --sip-local",
                         hop_host[0] ? "first hop" : "peer", hop_host[0] ? rhost : cfg->peer);
                return -EHOSTUNREACH;
            }
            /* libre's transports need a real address: signalling leaves
             * from the one that routes to the peer, as the media does. */
            snprintf(ua->listen_spec, sizeof ua->listen_spec, ua->media_ipv6 ? "[%s]:%s" : "%s:%s", ua->media_ip,
                     lport);
        }
    }
    struct sa laddr;
    if ((sa_decode(&laddr, ua->listen_spec, strlen(ua->listen_spec)) == 0 || sa_set_str(&laddr, lhost, 0) == 0)
        && sa_is_any(&laddr)) {
        snprintf(err, errlen, "SIP local address \"%s\": the any-address cannot be listened on; give the "
                              "address to use", lhost);
        return -EINVAL;
    }
    return 0;
}

int sip_ua_create(struct sip_ua **out, const struct sip_ua_config *cfg, char *err, size_t errlen)
{
    *out = NULL;
    pthread_once(&ua_libre_once, ua_libre_init);
    if (ua_libre_err) {
        snprintf(err, errlen, "SIP: the libre library could not start");
        return -ua_libre_err;
    }
    struct sip_ua *ua = calloc(1, sizeof *ua);
    if (!ua) {
        snprintf(err, errlen, "out of memory");
        return -ENOMEM;
    }
    int rc = ua_configure(ua, cfg, err, errlen);
    if (rc != 0) {
        free(ua);
        return rc;
    }
    list_init(&ua->calls);
    tmr_init(&ua->stop_tmr);
    tmr_init(&ua->reg_tmr);
    tmr_init(&ua->ka_tmr);
    pthread_mutex_init(&ua->reg_lock, NULL);
    ua->reg_state = ua->registrar[0] ? MODEM_LINE_REG_REGISTERING : MODEM_LINE_REG_NONE;
    rand_bytes(ua->gate.nonce_key, sizeof ua->gate.nonce_key);
    pthread_mutex_init(&ua->start_lock, NULL);
    pthread_cond_init(&ua->start_cond, NULL);
    /* The agent never takes signals meant for the daemon. */
    sigset_t all, old;
    sigfillset(&all);
    pthread_sigmask(SIG_BLOCK, &all, &old);
    rc = -pthread_create(&ua->thread, NULL, agent_main, ua);
    pthread_sigmask(SIG_SETMASK, &old, NULL);
    if (rc == 0) {
        pthread_mutex_lock(&ua->start_lock);
        while (!ua->started)
            pthread_cond_wait(&ua->start_cond, &ua->start_lock);
        pthread_mutex_unlock(&ua->start_lock);
        if (ua->start_err) {
            pthread_join(ua->thread, NULL);
            snprintf(err, errlen, "%s", ua->start_msg);
            rc = -ua->start_err;
        }
    } else {
        snprintf(err, errlen, "SIP: cannot start the signalling thread");
    }
    if (rc != 0) {
        pthread_mutex_destroy(&ua->start_lock);
        pthread_cond_destroy(&ua->start_cond);
        pthread_mutex_destroy(&ua->reg_lock);
        free(ua);
        return rc;
    }
    *out = ua;
    return 0;
}

void sip_ua_destroy(struct sip_ua *ua)
{
    if (!ua)
        return;
    if (mqueue_push(ua->mq, CMD_STOP, NULL) != 0)
        pthread_kill(ua->thread, SIGTERM); /* cannot happen short of fd exhaustion */
    pthread_join(ua->thread, NULL);
    pthread_mutex_destroy(&ua->start_lock);
    pthread_cond_destroy(&ua->start_cond);
    pthread_mutex_destroy(&ua->reg_lock);
    free(ua);
}

void sip_ua_line_status(struct sip_ua *ua, struct modem_line_status *out, char *error, size_t errlen)
{
    memset(out, 0, sizeof *out);
    pthread_mutex_lock(&ua->reg_lock);
    enum modem_line_reg st = ua->reg_state;
    long long expires = ua->reg_expires, next = ua->reg_next_try;
    char err[sizeof ua->reg_error];
    snprintf(err, sizeof err, "%s", ua->reg_error);
    pthread_mutex_unlock(&ua->reg_lock);
    long long now = ua_unix_now();
    out->reg = st;
    out->usable = st == MODEM_LINE_REG_NONE || st == MODEM_LINE_REG_REGISTERED;
    out->reg_expires = st == MODEM_LINE_REG_REGISTERED ? expires : 0;
    switch (st) {
    case MODEM_LINE_REG_NONE:
        break;
    case MODEM_LINE_REG_REGISTERED:
        snprintf(out->text, sizeof out->text, "registered as %.110s, expires in %lld s", ua->reg_contact,
                 expires > now ? expires - now : 0);
        break;
    case MODEM_LINE_REG_REGISTERING:
        snprintf(out->text, sizeof out->text, "registering as %.60s%s%.60s", ua->reg_contact, err[0] ? " after " : "",
                 err);
        break;
    case MODEM_LINE_REG_FAILED:
        snprintf(out->text, sizeof out->text, "%.120s (next try in %lld s)", err, next > now ? next - now : 0);
        break;
    }
    if (error)
        snprintf(error, errlen, "%s", err[0] ? err : st == MODEM_LINE_REG_REGISTERING
                                                      ? "not registered yet: the registrar has not answered" : "");
}

uint16_t sip_ua_port(const struct sip_ua *ua)
{
    return ua->port;
}

/* --- worker side -------------------------------------------------------- */

int sip_ua_dial(struct sip_ua *ua, const char *number, struct sip_call **out)
{
    *out = NULL;
    if (!ua->peer[0])
        return -EINVAL;
    struct sip_call *c = call_new(ua, ua->media_ip, ua->media_ipv6);
    if (!c)
        return -ENOMEM;
    snprintf(c->number, sizeof c->number, "%s", number);
    atomic_fetch_add(&c->refs, 1); /* the agent's, taken over with the command */
    int err = mqueue_push(ua->mq, CMD_DIAL, c);
    if (err) {
        atomic_fetch_sub(&c->refs, 1);
        call_unref(c);
        return -err;
    }
    *out = c;
    return 0;
}

enum sip_call_state sip_call_state(struct sip_call *c, int *sip_status)
{
    pthread_mutex_lock(&c->lock);
    enum sip_call_state st = c->state;
    if (sip_status)
        *sip_status = c->status;
    pthread_mutex_unlock(&c->lock);
    return st;
}

unsigned sip_call_media(struct sip_call *c, struct sdp_choice *media, enum sip_t38_state *t38)
{
    pthread_mutex_lock(&c->lock);
    unsigned gen = c->media_gen;
    if (media)
        *media = c->media;
    if (t38)
        *t38 = c->t38;
    pthread_mutex_unlock(&c->lock);
    return gen;
}

void sip_call_request_t38(struct sip_call *c)
{
    atomic_fetch_add(&c->refs, 1);
    if (mqueue_push(c->ua->mq, CMD_T38, c) != 0) {
        call_set_media(c, NULL, SIP_T38_REFUSED, SIP_T38_BY_NOBODY);
        call_unref(c);
    }
}

void sip_call_forbid_t38(struct sip_call *c)
{
    atomic_store(&c->no_t38, true);
}

bool sip_call_t38_allowed(const struct sip_call *c)
{
    return c->ua->prefs.t38; /* set before the agent starts, never changed */
}

enum sip_t38_origin sip_call_t38_origin(struct sip_call *c)
{
    pthread_mutex_lock(&c->lock);
    enum sip_t38_origin by = c->t38 == SIP_T38_ACTIVE ? c->t38_by : SIP_T38_BY_NOBODY;
    pthread_mutex_unlock(&c->lock);
    return by;
}

bool sip_call_peer(struct sip_call *c, struct peer_addr *out)
{
    pthread_mutex_lock(&c->lock);
    bool have = c->have_peer;
    if (have)
        *out = c->peer;
    pthread_mutex_unlock(&c->lock);
    return have;
}

enum sip_auth_state sip_call_auth(struct sip_call *c)
{
    pthread_mutex_lock(&c->lock);
    enum sip_auth_state a = c->auth;
    pthread_mutex_unlock(&c->lock);
    return a;
}

int sip_call_audio_fd(const struct sip_call *c)
{
    return c->audio_fd;
}

int sip_call_image_fd(const struct sip_call *c)
{
    return c->image_fd;
}

const char *sip_call_caller_id(const struct sip_call *c)
{
    return c->caller_id;
}

const char *sip_call_called(const struct sip_call *c)
{
    return c->called;
}

void sip_call_release(struct sip_call *c)
{
    if (!c)
        return;
    /* The command carries our reference; the agent drops it. */
    if (mqueue_push(c->ua->mq, CMD_HANGUP, c) != 0)
        call_unref(c);
}

/*
 * sip_gate.c - who may call over SIP (docs/sip.md, "Who may call"): the
 * allowed peers, inbound digest authentication with nonces that need no
 * state per challenge, calls at once per source, and the refusal lines,
 * throttled. Runs on the SIP agent's thread, answering refused INVITEs.
 */
#include "modem/sip_gate.h"

#include <arpa/inet.h>
#include <errno.h>
#include <netinet/in.h>
#include <stdint.h>
#include <stdarg.h>
#include <stdbool.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <time.h>

#include <re.h>

/* Inbound digest authentication: realm, and how long a nonce we handed
 * out stays good (a caller answers a challenge within a second). */
#define GATE_AUTH_REALM "faxfs"
#define GATE_NONCE_LIFETIME_S 300

static int64_t gate_now_s(void)
{
    struct timespec ts;
    clock_gettime(CLOCK_MONOTONIC, &ts);
    return (int64_t)ts.tv_sec + 1; /* never 0: 0 means "never" in the throttle */
}

static void gate_notice(struct sip_gate *g, const char *fmt, ...) __attribute__((format(printf, 2, 3)));
static void gate_notice(struct sip_gate *g, const char *fmt, ...)
{
    char line[256];
    va_list ap;
    va_start(ap, fmt);
    vsnprintf(line, sizeof line, fmt, ap);
    va_end(ap);
    g->notice(g->notice_user, line);
}

/* Answers a refused INVITE, and says so in the log unless the throttle
 * holds the line back (one per source a minute, a few a minute in all). */
static void gate_refuse(struct sip_gate *g, struct sip *sip, const struct sip_msg *msg, const struct peer_addr *src,
                        uint16_t code, const char *reason, const char *why)
{
    (void)sip_treply(NULL, sip, msg, code, reason);
    long held = 0;
    if (!g->notice || !refusal_log_should(&g->refusals, src, gate_now_s(), &held))
        return;
    char ip[64];
    peer_addr_text(src, ip, sizeof ip);
    if (held > 0)
        gate_notice(g, "SIP call from %s refused (%u %s): %s; %ld more refusal(s) not logged", ip, code, reason, why,
                    held);
    else
        gate_notice(g, "SIP call from %s refused (%u %s): %s", ip, code, reason, why);
}

/* Our nonces: the time they were made and a keyed MD5 of it, so a nonce
 * is checked without keeping any state per challenge. */
static void gate_nonce_make(const struct sip_gate *g, int64_t t, char *out, size_t cap)
{
    uint8_t md[16];
    (void)md5_printf(md, "%w:%lld", g->nonce_key, sizeof g->nonce_key, (long long)t);
    int k = snprintf(out, cap, "%016llx", (unsigned long long)t);
    for (int i = 0; i < 16 && k + 2 < (int)cap; i++)
        k += snprintf(out + k, cap - (size_t)k, "%02x", md[i]);
}

/* 0: a nonce we made, young enough; -ESTALE: ours but old; -EINVAL. */
static int gate_nonce_check(const struct sip_gate *g, const struct pl *nonce)
{
    char text[64], want[64];
    if (nonce->l != 48)
        return -EINVAL;
    snprintf(text, sizeof text, "%.*s", (int)nonce->l, nonce->p);
    char ts[17], *end;
    memcpy(ts, text, 16);
    ts[16] = '\0';
    unsigned long long t = strtoull(ts, &end, 16);
    if (*end)
        return -EINVAL;
    gate_nonce_make(g, (int64_t)t, want, sizeof want);
    if (strcmp(want, text) != 0)
        return -EINVAL;
    return gate_now_s() - (int64_t)t > GATE_NONCE_LIFETIME_S ? -ESTALE : 0;
}

/* With an inbound user and password configured, an INVITE must carry a
 * valid digest (RFC 3261 22.2, MD5, qop=auth or none); without one it is
 * challenged (401) and nothing is created. Returns 0 when it may go on. */
static int gate_check_auth(struct sip_gate *g, struct sip *sip, const struct sip_msg *msg, const struct peer_addr *src)
{
    if (!g->in_user[0])
        return 0;
    const struct sip_hdr *h = sip_msg_hdr(msg, SIP_HDR_AUTHORIZATION);
    bool stale = false, tried = h != NULL;
    struct httpauth_digest_resp resp;
    if (h && httpauth_digest_response_decode(&resp, &h->val) == 0 && pl_strcmp(&resp.username, g->in_user) == 0
        && pl_strcmp(&resp.realm, GATE_AUTH_REALM) == 0) {
        int nv = gate_nonce_check(g, &resp.nonce);
        uint8_t ha1[16];
        if (nv == 0 && md5_printf(ha1, "%s:%s:%s", g->in_user, GATE_AUTH_REALM, g->in_password) == 0
            && httpauth_digest_response_auth(&resp, &msg->met, ha1) == 0)
            return 0;
        stale = nv == -ESTALE;
    }
    char nonce[64];
    gate_nonce_make(g, gate_now_s(), nonce, sizeof nonce);
    (void)sip_treplyf(NULL, NULL, sip, msg, false, 401, "Unauthorized",
                      "WWW-Authenticate: Digest realm=\"%s\", nonce=\"%s\", algorithm=MD5, qop=\"auth\"%s\r\n"
                      "Content-Length: 0\r\n"
                      "\r\n",
                      GATE_AUTH_REALM, nonce, stale ? ", stale=true" : "");
    long held = 0;
    if (tried && !stale && g->notice && refusal_log_should(&g->refusals, src, gate_now_s(), &held)) {
        char ip[64];
        peer_addr_text(src, ip, sizeof ip);
        gate_notice(g, "SIP call from %s refused (401): wrong credentials; the caller must use the --sip-inbound-user "
                       "name and password", ip);
    }
    return -EACCES;
}

int sip_gate_admit(struct sip_gate *g, struct sip *sip, const struct sip_msg *msg, struct peer_addr *src)
{
    if (peer_addr_from_sockaddr(src, &msg->src.u.sa) != 0) {
        (void)sip_treply(NULL, sip, msg, 403, "Forbidden");
        return -EACCES;
    }
    if (!peer_acl_allows(&g->allow, src)) {
        gate_refuse(g, sip, msg, src, 403, "Forbidden", "not in --sip-allow");
        return -EACCES;
    }
    if (gate_check_auth(g, sip, msg, src) != 0)
        return -EACCES;
    int rc = peer_count_take(&g->per_source, src);
    if (rc == -EBUSY)
        gate_refuse(g, sip, msg, src, 486, "Busy Here", "too many calls from this address (--sip-calls-per-source)");
    else if (rc != 0)
        gate_refuse(g, sip, msg, src, 503, "Service Unavailable", "too many callers at once");
    return rc;
}


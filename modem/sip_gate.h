/*
 * sip_gate.h - who may call over SIP: the checks an INVITE passes before
 * it becomes a call (allowed peers, digest, calls per source), with the
 * refusal answered and logged (throttled) where it is decided.
 */
#ifndef FAXFS_MODEM_SIP_GATE_H
#define FAXFS_MODEM_SIP_GATE_H

#include <stdint.h>

#include "modem/admission.h"

struct sip;
struct sip_msg;

struct sip_gate {
    struct peer_acl allow;       /* who may call us */
    char in_user[64];            /* inbound digest user; "" no authentication */
    char in_password[64];
    uint8_t nonce_key[16];       /* signs our nonces: no state per challenge */
    struct peer_count per_source; /* inbound calls in progress per source */
    struct refusal_log refusals;
    void (*notice)(void *user, const char *line); /* NULL: refusals are not logged */
    void *notice_user;
};

/* Whether the INVITE may become a call: the allowed peers, the digest,
 * the per-source limit (taken in per_source: peer_count_put gives it
 * back). On refusal the reply is sent here. 0, or -EACCES, -EBUSY, ... */
int sip_gate_admit(struct sip_gate *g, struct sip *sip, const struct sip_msg *msg, struct peer_addr *src);

#endif

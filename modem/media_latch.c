/*
 * media_latch.c - the symmetric RTP/UDPTL rule (media_latch.h).
 */
#include "modem/media_latch.h"

#include <netinet/in.h>
#include <string.h>

static bool same_endpoint(const struct sockaddr *a, const struct sockaddr *b)
{
    struct peer_addr pa, pb;
    if (peer_addr_from_sockaddr(&pa, a) != 0 || peer_addr_from_sockaddr(&pb, b) != 0 || !peer_addr_equal(&pa, &pb))
        return false;
    in_port_t qa = a->sa_family == AF_INET ? ((const struct sockaddr_in *)a)->sin_port
                                           : ((const struct sockaddr_in6 *)a)->sin6_port;
    in_port_t qb = b->sa_family == AF_INET ? ((const struct sockaddr_in *)b)->sin_port
                                           : ((const struct sockaddr_in6 *)b)->sin6_port;
    return qa == qb;
}

void media_latch_offer(struct media_latch *m, const struct peer_addr *signalling, const struct sockaddr *offered,
                       socklen_t len)
{
    bool same = m->offered_len == len && len > 0 && same_endpoint((const struct sockaddr *)&m->offered, offered);
    m->have_signalling = signalling != NULL;
    if (signalling)
        m->signalling = *signalling;
    if (same)
        return;
    memset(&m->offered, 0, sizeof m->offered);
    m->offered_len = 0;
    if (len > 0 && len <= sizeof m->offered) {
        memcpy(&m->offered, offered, len);
        m->offered_len = len;
    }
    m->latched = false;
    m->dst_len = 0;
}

const struct sockaddr *media_latch_dst(const struct media_latch *m, socklen_t *len)
{
    if (m->latched) {
        *len = m->dst_len;
        return (const struct sockaddr *)&m->dst;
    }
    struct peer_addr c;
    if (m->offered_len > 0 && m->have_signalling
        && peer_addr_from_sockaddr(&c, (const struct sockaddr *)&m->offered) == 0
        && peer_addr_equal(&c, &m->signalling)) {
        *len = m->offered_len;
        return (const struct sockaddr *)&m->offered;
    }
    *len = 0;
    return NULL;
}

bool media_latch_packet(struct media_latch *m, const struct sockaddr *from, socklen_t len)
{
    if (m->latched)
        return same_endpoint((const struct sockaddr *)&m->dst, from);
    struct peer_addr src, c;
    if (len == 0 || len > sizeof m->dst || peer_addr_from_sockaddr(&src, from) != 0)
        return false;
    bool from_signalling = m->have_signalling && peer_addr_equal(&src, &m->signalling);
    bool from_offered = m->offered_len > 0 && peer_addr_from_sockaddr(&c, (const struct sockaddr *)&m->offered) == 0
                        && peer_addr_equal(&src, &c);
    if (!from_signalling && !from_offered)
        return false;
    memcpy(&m->dst, from, len);
    m->dst_len = len;
    m->latched = true;
    return true;
}

/*
 * hostport.c - splits "HOST:PORT" and "[V6ADDR]:PORT" address text, with
 * or without a port, for the line drivers and the SIP user agent; and the
 * source address the kernel picks toward a peer.
 */
#include "modem/hostport.h"

#include <arpa/inet.h>
#include <errno.h>
#include <netdb.h>
#include <netinet/in.h>
#include <stdint.h>
#include <stdbool.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/socket.h>
#include <unistd.h>

#include <re.h>

int hostport_split(const char *spec, enum hostport_port need, char *host, size_t hcap, char *port, size_t pcap)
{
    bool required = need == HOSTPORT_PORT_REQUIRED;
    const char *colon;
    if (spec[0] == '[') {
        const char *end = strchr(spec, ']');
        if (!end || (required && end[1] != ':'))
            return -EINVAL;
        snprintf(host, hcap, "%.*s", (int)(end - spec - 1), spec + 1);
        colon = end[1] == ':' ? end + 1 : NULL;
    } else {
        colon = strrchr(spec, ':');
        if (required && !colon)
            return -EINVAL;
        if (!required && colon && strchr(spec, ':') != colon)
            colon = NULL; /* a bare IPv6 address */
        snprintf(host, hcap, "%.*s", colon ? (int)(colon - spec) : (int)strlen(spec), spec);
    }
    if (colon)
        snprintf(port, pcap, "%s", colon + 1);
    if (required)
        return host[0] && port[0] ? 0 : -EINVAL;
    return host[0] ? 0 : -EINVAL;
}

/* Our address as the peer will see it: the source address the kernel
 * picks to reach the peer (nothing is sent). */
int hostport_route_source(const char *peer_host, const char *peer_port, char *out, size_t cap, bool *ipv6)
{
    struct sa dst;
    if (sa_set_str(&dst, peer_host, (uint16_t)atoi(peer_port)) != 0) {
        /* A name (a provider's registrar): its first address will do for
         * finding ours; libre resolves it again for the requests. */
        struct addrinfo hints = { .ai_socktype = SOCK_DGRAM }, *res = NULL;
        if (getaddrinfo(peer_host, peer_port, &hints, &res) != 0 || !res)
            return -EHOSTUNREACH;
        sa_set_sa(&dst, res->ai_addr);
        freeaddrinfo(res);
    }
    int fd = socket(sa_af(&dst), SOCK_DGRAM | SOCK_CLOEXEC, 0);
    if (fd < 0)
        return -errno;
    struct sockaddr_storage ss;
    socklen_t len = sizeof ss;
    int rc = connect(fd, &dst.u.sa, dst.len) == 0 && getsockname(fd, (struct sockaddr *)&ss, &len) == 0 ? 0 : -errno;
    close(fd);
    if (rc)
        return rc;
    struct sa src;
    sa_set_sa(&src, (struct sockaddr *)&ss);
    *ipv6 = sa_af(&src) == AF_INET6;
    return sa_ntop(&src, out, (int)cap) == 0 ? 0 : -EINVAL;
}

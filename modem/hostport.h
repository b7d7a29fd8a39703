/*
 * hostport.h - the one reader of "HOST:PORT" address text in modem/: the
 * AudioSocket listen address (port required) and the SIP local and peer
 * addresses (port optional); and our address as a peer will see it.
 */
#ifndef FAXFS_MODEM_HOSTPORT_H
#define FAXFS_MODEM_HOSTPORT_H

#include <stdbool.h>
#include <stddef.h>

enum hostport_port {
    HOSTPORT_PORT_REQUIRED, /* "HOST:PORT", "[V6ADDR]:PORT" (the last colon splits) */
    HOSTPORT_PORT_OPTIONAL, /* also "HOST", "[V6ADDR]" and a bare IPv6 address: port is left as it is */
};

/* Splits spec into host and port. Returns 0, or -EINVAL when the host (or
 * a required port) is missing or the brackets are unbalanced. */
int hostport_split(const char *spec, enum hostport_port need, char *host, size_t hcap, char *port, size_t pcap);
/* Our address as the peer will see it: the source address the kernel
 * picks to reach peer_host:peer_port (nothing is sent; a name is resolved
 * and its first address used), as text in out. 0 or -errno. */
int hostport_route_source(const char *peer_host, const char *peer_port, char *out, size_t cap, bool *ipv6);

#endif

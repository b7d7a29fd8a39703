/*
 * hostport.h - the one reader of "HOST:PORT" address text in modem/: the
 * AudioSocket listen address (port required) and the SIP local and peer
 * addresses (port optional).
 */
#ifndef FAXFS_MODEM_HOSTPORT_H
#define FAXFS_MODEM_HOSTPORT_H

#include <stddef.h>

enum hostport_port {
    HOSTPORT_PORT_REQUIRED, /* "HOST:PORT", "[V6ADDR]:PORT" (the last colon splits) */
    HOSTPORT_PORT_OPTIONAL, /* also "HOST", "[V6ADDR]" and a bare IPv6 address: port is left as it is */
};

/* Splits spec into host and port. Returns 0, or -EINVAL when the host (or
 * a required port) is missing or the brackets are unbalanced. */
int hostport_split(const char *spec, enum hostport_port need, char *host, size_t hcap, char *port, size_t pcap);

#endif

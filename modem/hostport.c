/*
 * hostport.c - splits "HOST:PORT" and "[V6ADDR]:PORT" address text, with
 * or without a port, for the line drivers and the SIP user agent.
 */
#include "modem/hostport.h"

#include <errno.h>
#include <stdbool.h>
#include <stdio.h>
#include <string.h>

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

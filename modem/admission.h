/*
 * admission.h - who may call us: allowed-peer lists (addresses and CIDR
 * prefixes, IPv4 and IPv6), a per-source count of calls in progress, and
 * a throttle for refusal log lines so that a flood of refused calls
 * cannot fill the log. Pure data structures: no sockets, no threads, no
 * locks (each user keeps them on one thread or under its own lock).
 */
#ifndef FAXFS_MODEM_ADMISSION_H
#define FAXFS_MODEM_ADMISSION_H

#include <stdbool.h>
#include <stddef.h>
#include <stdint.h>
#include <sys/socket.h>

#define PEER_ACL_MAX 32

/* One address family's address in network order; IPv4-mapped IPv6
 * addresses (::ffff:a.b.c.d) are stored and compared as IPv4. */
struct peer_addr {
    int family;          /* AF_INET or AF_INET6 */
    uint8_t bytes[16];   /* 4 used for AF_INET */
};

struct peer_acl {
    int count;           /* 0 with any == false: nobody */
    bool any;            /* "any": everybody */
    struct {
        struct peer_addr net;
        int prefix;      /* bits */
    } rule[PEER_ACL_MAX];
};

/* Parses "ADDR[/BITS][,ADDR[/BITS]...]" or "any". Host bits set beyond
 * the prefix are refused (a typo more often than intent). 0, or -EINVAL
 * with a sentence naming the bad entry in err. */
int peer_acl_parse(struct peer_acl *acl, const char *spec, char *err, size_t errlen);
bool peer_acl_allows(const struct peer_acl *acl, const struct peer_addr *a);

/* From a socket address (port ignored); -EAFNOSUPPORT for other families. */
int peer_addr_from_sockaddr(struct peer_addr *out, const struct sockaddr *sa);
int peer_addr_from_text(struct peer_addr *out, const char *text);
bool peer_addr_equal(const struct peer_addr *a, const struct peer_addr *b);
void peer_addr_text(const struct peer_addr *a, char *out, size_t cap);

/* Calls in progress per source address, bounded: at most per_source per
 * address, at most PEER_COUNT_SLOTS addresses with calls at once. */
#define PEER_COUNT_SLOTS 256

struct peer_count {
    int per_source;
    int used;
    struct {
        struct peer_addr addr;
        int calls;
    } slot[PEER_COUNT_SLOTS];
};

void peer_count_init(struct peer_count *pc, int per_source);
/* Counts one more call from a: 0, or -EBUSY when a has per_source calls
 * already, -ENOSPC when the table is full. */
int peer_count_take(struct peer_count *pc, const struct peer_addr *a);
void peer_count_put(struct peer_count *pc, const struct peer_addr *a);
int peer_count_of(const struct peer_count *pc, const struct peer_addr *a);

/* Refusal log lines: one per source per window, and at most `burst`
 * lines per window in all; what is held back is counted and reported
 * with the next line that is let through. */
#define REFUSAL_LOG_SOURCES 64

struct refusal_log {
    int64_t window_s;    /* length of a window, seconds */
    int burst;           /* lines per window, all sources together */
    int64_t window_start;
    int lines;           /* let through in this window */
    long held;           /* held back since the last line let through */
    int next;            /* ring position in src */
    struct {
        struct peer_addr addr;
        int64_t last;    /* when a line about it was let through; 0 never */
    } src[REFUSAL_LOG_SOURCES];
};

void refusal_log_init(struct refusal_log *rl, int64_t window_s, int burst);
/* Whether to log a refusal of a at time now (seconds); when true,
 * *held is the number of refusals held back since the last logged one. */
bool refusal_log_should(struct refusal_log *rl, const struct peer_addr *a, int64_t now, long *held);

#endif

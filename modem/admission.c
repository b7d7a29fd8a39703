/*
 * admission.c - allowed-peer lists, per-source call counts and the
 * refusal log throttle (admission.h). Everything here is bounded by
 * fixed-size tables: a flood from many addresses costs no memory.
 */
#include "modem/admission.h"

#include <arpa/inet.h>
#include <errno.h>
#include <netinet/in.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

static const uint8_t v4_mapped_prefix[12] = { 0, 0, 0, 0, 0, 0, 0, 0, 0, 0, 0xff, 0xff };

static int addr_len(const struct peer_addr *a)
{
    return a->family == AF_INET ? 4 : 16;
}

/* ::ffff:a.b.c.d is a.b.c.d: a dual-stack socket reports IPv4 peers so. */
static void addr_normalize(struct peer_addr *a)
{
    if (a->family == AF_INET6 && memcmp(a->bytes, v4_mapped_prefix, 12) == 0) {
        memmove(a->bytes, a->bytes + 12, 4);
        memset(a->bytes + 4, 0, 12);
        a->family = AF_INET;
    }
}

int peer_addr_from_text(struct peer_addr *out, const char *text)
{
    memset(out, 0, sizeof *out);
    if (inet_pton(AF_INET, text, out->bytes) == 1) {
        out->family = AF_INET;
        return 0;
    }
    if (inet_pton(AF_INET6, text, out->bytes) == 1) {
        out->family = AF_INET6;
        addr_normalize(out);
        return 0;
    }
    return -EINVAL;
}

int peer_addr_from_sockaddr(struct peer_addr *out, const struct sockaddr *sa)
{
    memset(out, 0, sizeof *out);
    if (sa->sa_family == AF_INET) {
        out->family = AF_INET;
        memcpy(out->bytes, &((const struct sockaddr_in *)sa)->sin_addr, 4);
        return 0;
    }
    if (sa->sa_family == AF_INET6) {
        out->family = AF_INET6;
        memcpy(out->bytes, &((const struct sockaddr_in6 *)sa)->sin6_addr, 16);
        addr_normalize(out);
        return 0;
    }
    return -EAFNOSUPPORT;
}

bool peer_addr_equal(const struct peer_addr *a, const struct peer_addr *b)
{
    return a->family == b->family && memcmp(a->bytes, b->bytes, (size_t)addr_len(a)) == 0;
}

void peer_addr_text(const struct peer_addr *a, char *out, size_t cap)
{
    if (!inet_ntop(a->family, a->bytes, out, (socklen_t)cap))
        snprintf(out, cap, "?");
}

/* Whether the first bits of a and net agree. */
static bool prefix_matches(const struct peer_addr *a, const struct peer_addr *net, int bits)
{
    if (a->family != net->family)
        return false;
    int whole = bits / 8, rest = bits % 8;
    if (memcmp(a->bytes, net->bytes, (size_t)whole) != 0)
        return false;
    if (rest == 0)
        return true;
    uint8_t mask = (uint8_t)(0xff << (8 - rest));
    return (a->bytes[whole] & mask) == (net->bytes[whole] & mask);
}

static int acl_add(struct peer_acl *acl, const char *entry, char *err, size_t errlen)
{
    char text[64];
    if (snprintf(text, sizeof text, "%s", entry) >= (int)sizeof text)
        goto bad;
    char *slash = strchr(text, '/');
    if (slash)
        *slash = '\0';
    struct peer_addr net;
    if (peer_addr_from_text(&net, text) != 0)
        goto bad;
    int max = addr_len(&net) * 8, bits = max;
    if (slash) {
        char *end;
        long v = strtol(slash + 1, &end, 10);
        if (!slash[1] || *end || v < 0 || v > max)
            goto bad;
        bits = (int)v;
        /* A v4-mapped entry with a v6 prefix length: count the 96 bits. */
        if (strchr(text, ':') && net.family == AF_INET) {
            if (bits < 96)
                goto bad;
            bits -= 96;
        }
    }
    struct peer_addr masked = net;
    for (int i = bits; i < addr_len(&net) * 8; i++)
        masked.bytes[i / 8] &= (uint8_t) ~(0x80 >> (i % 8));
    if (!peer_addr_equal(&masked, &net)) {
        snprintf(err, errlen, "'%s': address bits are set beyond the /%d prefix", entry, bits);
        return -EINVAL;
    }
    if (acl->count == PEER_ACL_MAX) {
        snprintf(err, errlen, "more than %d entries; use wider prefixes", PEER_ACL_MAX);
        return -EINVAL;
    }
    acl->rule[acl->count].net = net;
    acl->rule[acl->count].prefix = bits;
    acl->count++;
    return 0;
bad:
    snprintf(err, errlen, "'%s' is not an address or ADDR/BITS prefix", entry);
    return -EINVAL;
}

int peer_acl_parse(struct peer_acl *acl, const char *spec, char *err, size_t errlen)
{
    memset(acl, 0, sizeof *acl);
    if (!spec || !*spec) {
        snprintf(err, errlen, "empty list; give addresses, ADDR/BITS prefixes or 'any'");
        return -EINVAL;
    }
    if (strcmp(spec, "any") == 0) {
        acl->any = true;
        return 0;
    }
    const char *s = spec;
    while (*s) {
        size_t n = strcspn(s, ", ");
        if (n > 0) {
            char entry[80];
            snprintf(entry, sizeof entry, "%.*s", (int)(n < 79 ? n : 79), s);
            if (acl_add(acl, entry, err, errlen) != 0)
                return -EINVAL;
        }
        s += n;
        while (*s == ',' || *s == ' ')
            s++;
    }
    if (acl->count == 0) {
        snprintf(err, errlen, "empty list; give addresses, ADDR/BITS prefixes or 'any'");
        return -EINVAL;
    }
    return 0;
}

bool peer_acl_allows(const struct peer_acl *acl, const struct peer_addr *a)
{
    if (acl->any)
        return true;
    for (int i = 0; i < acl->count; i++)
        if (prefix_matches(a, &acl->rule[i].net, acl->rule[i].prefix))
            return true;
    return false;
}

/* ---- calls per source ---- */

void peer_count_init(struct peer_count *pc, int per_source)
{
    memset(pc, 0, sizeof *pc);
    pc->per_source = per_source;
}

static int count_find(const struct peer_count *pc, const struct peer_addr *a)
{
    for (int i = 0; i < pc->used; i++)
        if (peer_addr_equal(&pc->slot[i].addr, a))
            return i;
    return -1;
}

int peer_count_take(struct peer_count *pc, const struct peer_addr *a)
{
    int i = count_find(pc, a);
    if (i >= 0) {
        if (pc->per_source > 0 && pc->slot[i].calls >= pc->per_source)
            return -EBUSY;
        pc->slot[i].calls++;
        return 0;
    }
    if (pc->used == PEER_COUNT_SLOTS)
        return -ENOSPC;
    pc->slot[pc->used].addr = *a;
    pc->slot[pc->used].calls = 1;
    pc->used++;
    return 0;
}

void peer_count_put(struct peer_count *pc, const struct peer_addr *a)
{
    int i = count_find(pc, a);
    if (i < 0)
        return;
    if (--pc->slot[i].calls > 0)
        return;
    pc->slot[i] = pc->slot[--pc->used]; /* the table only holds sources with calls */
}

int peer_count_of(const struct peer_count *pc, const struct peer_addr *a)
{
    int i = count_find(pc, a);
    return i < 0 ? 0 : pc->slot[i].calls;
}

/* ---- refusal log throttle ---- */

void refusal_log_init(struct refusal_log *rl, int64_t window_s, int burst)
{
    memset(rl, 0, sizeof *rl);
    rl->window_s = window_s > 0 ? window_s : 60;
    rl->burst = burst > 0 ? burst : 10;
}

bool refusal_log_should(struct refusal_log *rl, const struct peer_addr *a, int64_t now, long *held)
{
    if (now - rl->window_start >= rl->window_s) {
        rl->window_start = now;
        rl->lines = 0;
    }
    int found = -1;
    for (int i = 0; i < REFUSAL_LOG_SOURCES; i++)
        if (rl->src[i].last != 0 && peer_addr_equal(&rl->src[i].addr, a)) {
            found = i;
            break;
        }
    bool recent = found >= 0 && now - rl->src[found].last < rl->window_s;
    if (recent || rl->lines >= rl->burst) {
        rl->held++;
        return false;
    }
    if (found < 0) {
        found = rl->next;
        rl->next = (rl->next + 1) % REFUSAL_LOG_SOURCES;
        rl->src[found].addr = *a;
    }
    rl->src[found].last = now > 0 ? now : 1;
    rl->lines++;
    *held = rl->held;
    rl->held = 0;
    return true;
}

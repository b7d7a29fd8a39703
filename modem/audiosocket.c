/*
 * audiosocket.c - AudioSocket frame parsing and encoding (see
 * audiosocket.h). Every header is checked before its payload is
 * buffered, so a hostile peer can never make us hold more than one
 * maximum-size frame.
 */
#include "modem/audiosocket.h"

#include <stdarg.h>
#include <stdio.h>
#include <string.h>

void as_parser_init(struct as_parser *p)
{
    memset(p, 0, sizeof *p);
}

static int as_fail(struct as_parser *p, const char *fmt, ...) __attribute__((format(printf, 2, 3)));
static int as_fail(struct as_parser *p, const char *fmt, ...)
{
    va_list ap;
    va_start(ap, fmt);
    vsnprintf(p->error, sizeof p->error, fmt, ap);
    va_end(ap);
    p->failed = true;
    return -1;
}

/* Decides whether a header may be followed by its payload at all. */
static int as_check_header(struct as_parser *p, uint8_t type, unsigned len)
{
    if (!p->got_uuid && type != AS_TYPE_UUID)
        return as_fail(p, "the first frame must be the call UUID (type 0x01), got type 0x%02x, length %u", type, len);
    switch (type) {
    case AS_TYPE_UUID:
        if (p->got_uuid)
            return as_fail(p, "a second call UUID frame (type 0x%02x, length %u)", type, len);
        if (len != AS_UUID_LEN)
            return as_fail(p, "UUID frame of %u bytes; it must be %d", len, AS_UUID_LEN);
        return 0;
    case AS_TYPE_AUDIO:
        if (len == 0 || len % 2 != 0 || len > AS_MAX_AUDIO)
            return as_fail(p, "audio frame of %u bytes; it must be an even length up to %d", len, AS_MAX_AUDIO);
        return 0;
    case AS_TYPE_HANGUP:
        if (len != 0)
            return as_fail(p, "hang-up frame with a %u-byte payload; it must be empty", len);
        return 0;
    case AS_TYPE_DTMF:
        if (len != 1)
            return as_fail(p, "DTMF frame of %u bytes; it must be 1", len);
        return 0;
    case AS_TYPE_ERROR:
        if (len > AS_MAX_ERROR)
            return as_fail(p, "error frame of %u bytes; at most %d", len, AS_MAX_ERROR);
        return 0;
    default:
        if (type > AS_TYPE_AUDIO && type <= 0x18)
            return as_fail(p, "audio of another sample rate (type 0x%02x, length %u); send 8 kHz signed linear", type, len);
        return as_fail(p, "unknown frame type 0x%02x (length %u)", type, len);
    }
}

long as_parse(struct as_parser *p, const uint8_t *data, size_t len, as_frame_fn *fn, void *user)
{
    if (p->failed)
        return -1;
    size_t off = 0;
    while (off < len && !p->ended) {
        if (p->have < AS_HEADER_LEN) {
            p->buf[p->have++] = data[off++];
            if (p->have == AS_HEADER_LEN && as_check_header(p, p->buf[0], (unsigned)(p->buf[1] << 8 | p->buf[2])) != 0)
                return -1;
        } else {
            size_t want = AS_HEADER_LEN + (size_t)(p->buf[1] << 8 | p->buf[2]) - p->have;
            size_t take = len - off < want ? len - off : want;
            memcpy(p->buf + p->have, data + off, take);
            p->have += take;
            off += take;
        }
        if (p->have < AS_HEADER_LEN)
            continue;
        struct as_frame f = { .type = p->buf[0], .len = (uint16_t)(p->buf[1] << 8 | p->buf[2]),
                              .payload = p->buf + AS_HEADER_LEN };
        if (p->have < AS_HEADER_LEN + (size_t)f.len)
            continue;
        p->have = 0;
        if (f.type == AS_TYPE_UUID)
            p->got_uuid = true;
        if (f.type == AS_TYPE_HANGUP || f.type == AS_TYPE_ERROR)
            p->ended = true;
        fn(user, &f);
        if (f.type == AS_TYPE_UUID && p->pause_after_uuid)
            return (long)off;
    }
    return (long)len;
}

void as_put_header(uint8_t *out, uint8_t type, uint16_t len)
{
    out[0] = type;
    out[1] = (uint8_t)(len >> 8);
    out[2] = (uint8_t)(len & 0xff);
}

void as_uuid_text(const uint8_t uuid[AS_UUID_LEN], char out[37])
{
    static const char hex[] = "0123456789abcdef";
    size_t o = 0;
    for (int i = 0; i < AS_UUID_LEN; i++) {
        if (i == 4 || i == 6 || i == 8 || i == 10)
            out[o++] = '-';
        out[o++] = hex[uuid[i] >> 4];
        out[o++] = hex[uuid[i] & 15];
    }
    out[o] = '\0';
}

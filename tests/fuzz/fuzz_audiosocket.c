/*
 * fuzz_audiosocket.c - libFuzzer target for the AudioSocket frame parser
 * (modem/audiosocket.c), the first code that touches bytes from a
 * caller. The input is split into reads at offsets taken from its first
 * byte, as TCP may split it, and the parser pauses after the UUID frame
 * as the listener makes it do. Invariants: no crash, no frame longer
 * than the limits, nothing accepted after a failure.
 */
#include <stddef.h>
#include <stdint.h>
#include <stdlib.h>

#include "modem/audiosocket.h"

struct fuzz_state {
    int frames;
    int uuids;
};

static void on_frame(void *user, const struct as_frame *f)
{
    struct fuzz_state *st = user;
    st->frames++;
    if (f->type == AS_TYPE_UUID && (f->len != AS_UUID_LEN || ++st->uuids > 1))
        abort();
    if (f->type == AS_TYPE_AUDIO && (f->len == 0 || f->len > AS_MAX_AUDIO || f->len % 2))
        abort();
    if (st->frames == 1 && f->type != AS_TYPE_UUID)
        abort();
    volatile uint8_t sink = 0;
    for (uint16_t i = 0; i < f->len; i++)
        sink ^= f->payload[i]; /* every payload byte must be readable */
    (void)sink;
}

int LLVMFuzzerTestOneInput(const uint8_t *data, size_t size)
{
    if (size == 0)
        return 0;
    size_t chunk = (size_t)(data[0] % 64) + 1;
    data++;
    size--;
    struct as_parser p;
    as_parser_init(&p);
    p.pause_after_uuid = true;
    struct fuzz_state st = { 0, 0 };
    size_t off = 0;
    while (off < size) {
        size_t n = size - off < chunk ? size - off : chunk;
        long used = as_parse(&p, data + off, n, on_frame, &st);
        if (used < 0) {
            if (!p.failed || as_parse(&p, data, size, on_frame, &st) != -1)
                abort(); /* a failed parser accepts nothing more */
            break;
        }
        if ((size_t)used > n)
            abort();
        off += (size_t)used;
        if ((size_t)used < n)
            p.pause_after_uuid = false; /* the call is set up: go on */
    }
    char text[37];
    uint8_t uuid[AS_UUID_LEN] = { 0 };
    for (size_t i = 0; i < AS_UUID_LEN && i < size; i++)
        uuid[i] = data[i];
    as_uuid_text(uuid, text);
    return 0;
}

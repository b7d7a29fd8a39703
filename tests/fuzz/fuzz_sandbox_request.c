/*
 * fuzz_sandbox_request.c - libFuzzer target for the request framing of
 * the converter's serve mode (queue/sandbox.h): the input is read as the
 * converter reads its stdin, header after header, each followed by the
 * document bytes it announces. An accepted header must be within the
 * bounds, announce no more bytes than its maximum, and encode back to
 * exactly the bytes it came from.
 */
#include <stdint.h>
#include <stdlib.h>
#include <string.h>

#include "queue/sandbox.h"

int LLVMFuzzerTestOneInput(const uint8_t *data, size_t size);

int LLVMFuzzerTestOneInput(const uint8_t *data, size_t size)
{
    size_t off = 0;

    while (size - off >= SANDBOX_REQUEST_BYTES) {
        struct sandbox_request rq;
        unsigned char again[SANDBOX_REQUEST_BYTES];
        if (sandbox_request_decode(data + off, &rq) != 0)
            return 0; /* the converter ends here */
        if (rq.resolution > SANDBOX_MAX_RESOLUTION || rq.render_seconds > SANDBOX_MAX_SECONDS ||
            rq.max_bytes > SANDBOX_MAX_BYTES || rq.length > rq.max_bytes)
            abort();
        sandbox_request_encode(&rq, again);
        if (memcmp(again, data + off, SANDBOX_REQUEST_BYTES) != 0)
            abort();
        off += SANDBOX_REQUEST_BYTES;
        if (rq.length > size - off)
            return 0; /* the request broke off: the converter ends */
        off += rq.length;
    }
    return 0;
}

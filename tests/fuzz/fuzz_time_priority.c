/*
 * fuzz_time_priority.c - libFuzzer target for the `scheduled` time and
 * `priority` parsers that read draft files written by users. Priorities
 * must land in 0..255; a parsed absolute time, formatted and parsed again,
 * must come back as the same second.
 */
#include <stdint.h>
#include <stdlib.h>
#include <string.h>

#include "queue/queue.h"

int LLVMFuzzerTestOneInput(const uint8_t *data, size_t size);

#define NOW 1790000000LL
#define YEAR_9999 253402300799LL

int LLVMFuzzerTestOneInput(const uint8_t *data, size_t size)
{
    char in[256], text[64];
    int priority;
    int64_t t, back;

    if (size >= sizeof in)
        size = sizeof in - 1;
    memcpy(in, data, size);
    in[size] = '\0';
    if (job_parse_priority(in, &priority) == 0 && (priority < 0 || priority > 255))
        abort();
    if (job_parse_time(in, NOW, &t) != 0 || t <= 0 || t > YEAR_9999)
        return 0;
    job_format_time(t, text, sizeof text);
    if (job_parse_time(text, NOW, &back) != 0 || back != t)
        abort();
    return 0;
}

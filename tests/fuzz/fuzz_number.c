/*
 * fuzz_number.c - libFuzzer target for phone number normalization, fed by
 * outbox file names and draft files. An accepted number must be digits
 * with at most a leading '+', and normalizing it again must not change it.
 */
#include <ctype.h>
#include <stdint.h>
#include <stdlib.h>
#include <string.h>

#include "queue/queue.h"

int LLVMFuzzerTestOneInput(const uint8_t *data, size_t size);

int LLVMFuzzerTestOneInput(const uint8_t *data, size_t size)
{
    char in[512], out[JOB_NUMBER_MAX], again[JOB_NUMBER_MAX], why[256];

    if (size >= sizeof in)
        size = sizeof in - 1;
    memcpy(in, data, size);
    in[size] = '\0';
    if (job_normalize_number(in, out, sizeof out, why, sizeof why) != 0)
        return 0;
    for (size_t i = 0; out[i] != '\0'; i++)
        if (!(isdigit((unsigned char)out[i]) || (out[i] == '+' && i == 0)))
            abort();
    if (job_normalize_number(out, again, sizeof again, why, sizeof why) != 0 || strcmp(out, again) != 0)
        abort();
    return 0;
}

/*
 * fuzz_jobfile.c - libFuzzer target for the job file parser, which reads
 * whatever a damaged disk or a meddling administrator left in the spool.
 * Beyond "no crash": whatever it accepts must survive a format/parse round
 * trip unchanged.
 */
#include <stdint.h>
#include <stdlib.h>
#include <string.h>

#include "queue/jobfile.h"

int LLVMFuzzerTestOneInput(const uint8_t *data, size_t size);

int LLVMFuzzerTestOneInput(const uint8_t *data, size_t size)
{
    struct job job, again;
    char why[256];
    char *text = NULL, *text2 = NULL;

    if (jobfile_parse((const char *)data, size, &job, why, sizeof why) != 0) {
        if (why[0] == '\0')
            abort(); /* every refusal gives a reason */
        return 0;
    }
    long len = jobfile_format(&job, &text);
    if (len < 0)
        return 0;
    if (jobfile_parse(text, (size_t)len, &again, why, sizeof why) != 0)
        abort(); /* what we write, we must read back */
    long len2 = jobfile_format(&again, &text2);
    if (len2 != len || memcmp(text, text2, (size_t)len) != 0)
        abort();
    free(text);
    free(text2);
    return 0;
}

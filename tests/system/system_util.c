/*
 * system_util.c - see system_util.h.
 */
#include "tests/system/system_util.h"

#include <stdio.h>
#include <stdlib.h>
#include <string.h>

int system_tiff_page_pixels_equal(const char *a, int pa, const char *b, int pb)
{
    uint32_t wa = 0, ha = 0, wb = 0, hb = 0;
    uint8_t *A = faxtest_load_page(a, pa, &wa, &ha);
    uint8_t *B = faxtest_load_page(b, pb, &wb, &hb);
    int same = 0;
    if (A && B && wa == wb && hb >= ha && hb - ha <= 64) {
        size_t stride = wa / 8;
        same = memcmp(A, B + (hb - ha) * stride, ha * stride) == 0;
        if (!same)
            fprintf(stderr, "pixels differ: %s page %d vs %s page %d\n", a, pa, b, pb);
    } else {
        fprintf(stderr, "page shapes differ: %ux%u vs %ux%u\n", wa, ha, wb, hb);
    }
    free(A);
    free(B);
    return same;
}

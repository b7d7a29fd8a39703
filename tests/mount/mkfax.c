/*
 * mkfax.c - writes a fax TIFF for the mounted tests: PAGES pages of 1-bit,
 * 1728-pixel-wide, 204x196 dpi images with a distinct pattern per page
 * (tests/lib/faxtest.c).
 * usage: mkfax OUT.tif [PAGES]
 */
#include <stdio.h>
#include <stdlib.h>

#include "tests/lib/faxtest.h"

#define ROWS 400

int main(int argc, char **argv)
{
    int pages = argc > 2 ? atoi(argv[2]) : 1;

    if (argc < 2 || pages < 1) {
        fprintf(stderr, "usage: mkfax OUT.tif [PAGES]\n");
        return 2;
    }
    if (faxtest_write(argv[1], pages, ROWS) != 0) {
        fprintf(stderr, "mkfax: cannot write %s\n", argv[1]);
        return 1;
    }
    return 0;
}

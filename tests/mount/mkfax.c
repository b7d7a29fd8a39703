/*
 * mkfax.c - writes a fax TIFF for the mounted tests: PAGES pages of 1-bit,
 * 1728-pixel-wide, 204x196 dpi images with a distinct pattern per page.
 * usage: mkfax OUT.tif [PAGES]
 */
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <tiffio.h>

#define WIDTH 1728
#define ROWS 400

int main(int argc, char **argv)
{
    int pages = argc > 2 ? atoi(argv[2]) : 1;
    unsigned char row[WIDTH / 8];
    TIFF *t;

    if (argc < 2 || pages < 1) {
        fprintf(stderr, "usage: mkfax OUT.tif [PAGES]\n");
        return 2;
    }
    if (!(t = TIFFOpen(argv[1], "w")))
        return 1;
    for (int p = 0; p < pages; p++) {
        TIFFSetField(t, TIFFTAG_IMAGEWIDTH, WIDTH);
        TIFFSetField(t, TIFFTAG_IMAGELENGTH, ROWS);
        TIFFSetField(t, TIFFTAG_BITSPERSAMPLE, 1);
        TIFFSetField(t, TIFFTAG_SAMPLESPERPIXEL, 1);
        TIFFSetField(t, TIFFTAG_COMPRESSION, COMPRESSION_CCITTFAX4);
        TIFFSetField(t, TIFFTAG_PHOTOMETRIC, PHOTOMETRIC_MINISWHITE);
        TIFFSetField(t, TIFFTAG_FILLORDER, FILLORDER_LSB2MSB);
        TIFFSetField(t, TIFFTAG_XRESOLUTION, 204.0);
        TIFFSetField(t, TIFFTAG_YRESOLUTION, 196.0);
        TIFFSetField(t, TIFFTAG_RESOLUTIONUNIT, RESUNIT_INCH);
        TIFFSetField(t, TIFFTAG_ROWSPERSTRIP, ROWS);
        TIFFSetField(t, TIFFTAG_SUBFILETYPE, FILETYPE_PAGE);
        TIFFSetField(t, TIFFTAG_PAGENUMBER, p, pages);
        for (int y = 0; y < ROWS; y++) {
            memset(row, 0, sizeof row);
            for (int x = 0; x < WIDTH / 8; x++)
                if (((x / 8) + (y / 32) + p) % (p + 2) == 0)
                    row[x] = 0xff;
            if (TIFFWriteScanline(t, row, (uint32_t)y, 0) < 0)
                return 1;
        }
        TIFFWriteDirectory(t);
    }
    TIFFClose(t);
    return 0;
}

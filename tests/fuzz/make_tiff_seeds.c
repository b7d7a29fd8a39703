/*
 * make_tiff_seeds.c - writes the seed corpus of fuzz_document into the
 * directory given: a few tiny TIFFs, good and bad in the ways submissions
 * go wrong, generated here so that no binary is kept in the repository.
 */
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <tiffio.h>
#include <unistd.h>

struct seed {
    const char *name;
    const char *mode;     /* "w", or "w8" for BigTIFF */
    int pages;
    uint32_t width, height;
    uint16_t bps, spp, compression, photometric, resunit;
    float xres, yres;
    double keep;          /* fraction of the file kept; 1 = whole */
};

static const struct seed seeds[] = {
    {"g3-a4-fine.tif", "w", 1, 1728, 4, 1, 1, COMPRESSION_CCITTFAX3, PHOTOMETRIC_MINISWHITE, RESUNIT_INCH, 204, 196, 1},
    {"g4-two-pages.tif", "w", 2, 1728, 3, 1, 1, COMPRESSION_CCITTFAX4, PHOTOMETRIC_MINISWHITE, RESUNIT_INCH, 204, 98, 1},
    {"raw-min-is-black.tif", "w", 1, 1728, 2, 1, 1, COMPRESSION_NONE, PHOTOMETRIC_MINISBLACK, RESUNIT_INCH, 204, 196, 1},
    {"b4-cm.tif", "w", 1, 2048, 2, 1, 1, COMPRESSION_CCITTRLE, PHOTOMETRIC_MINISWHITE, RESUNIT_CENTIMETER, 80.3f, 77.2f, 1},
    {"bigtiff.tif", "w8", 1, 1728, 2, 1, 1, COMPRESSION_CCITTFAX4, PHOTOMETRIC_MINISWHITE, RESUNIT_INCH, 204, 196, 1},
    {"grey.tif", "w", 1, 1728, 1, 8, 1, COMPRESSION_NONE, PHOTOMETRIC_MINISBLACK, RESUNIT_INCH, 204, 196, 1},
    {"rgb.tif", "w", 1, 16, 2, 8, 3, COMPRESSION_NONE, PHOTOMETRIC_RGB, RESUNIT_INCH, 72, 72, 1},
    {"narrow.tif", "w", 1, 100, 2, 1, 1, COMPRESSION_CCITTFAX3, PHOTOMETRIC_MINISWHITE, RESUNIT_INCH, 204, 196, 1},
    {"photo-dpi.tif", "w", 1, 1728, 2, 1, 1, COMPRESSION_PACKBITS, PHOTOMETRIC_MINISWHITE, RESUNIT_INCH, 300, 300, 1},
    {"truncated.tif", "w", 2, 1728, 8, 1, 1, COMPRESSION_CCITTFAX4, PHOTOMETRIC_MINISWHITE, RESUNIT_INCH, 204, 196, 0.6},
};

static int write_seed(const char *dir, const struct seed *s)
{
    char path[4096];
    snprintf(path, sizeof path, "%s/%s", dir, s->name);
    TIFF *t = TIFFOpen(path, s->mode);
    if (t == NULL)
        return -1;
    size_t rowbytes = ((size_t)s->width * s->bps * s->spp + 7) / 8;
    unsigned char *row = calloc(1, rowbytes);
    for (int p = 0; p < s->pages; p++) {
        TIFFSetField(t, TIFFTAG_IMAGEWIDTH, s->width);
        TIFFSetField(t, TIFFTAG_IMAGELENGTH, s->height);
        TIFFSetField(t, TIFFTAG_BITSPERSAMPLE, s->bps);
        TIFFSetField(t, TIFFTAG_SAMPLESPERPIXEL, s->spp);
        TIFFSetField(t, TIFFTAG_COMPRESSION, s->compression);
        TIFFSetField(t, TIFFTAG_PHOTOMETRIC, s->photometric);
        TIFFSetField(t, TIFFTAG_PLANARCONFIG, PLANARCONFIG_CONTIG);
        TIFFSetField(t, TIFFTAG_ROWSPERSTRIP, s->height);
        TIFFSetField(t, TIFFTAG_XRESOLUTION, s->xres);
        TIFFSetField(t, TIFFTAG_YRESOLUTION, s->yres);
        TIFFSetField(t, TIFFTAG_RESOLUTIONUNIT, s->resunit);
        TIFFSetField(t, TIFFTAG_SUBFILETYPE, FILETYPE_PAGE);
        TIFFSetField(t, TIFFTAG_PAGENUMBER, p, s->pages);
        for (uint32_t y = 0; y < s->height; y++) {
            memset(row, y % 2 ? 0x0f : 0xf0, rowbytes);
            TIFFWriteScanline(t, row, y, 0);
        }
        TIFFWriteDirectory(t);
    }
    TIFFClose(t);
    free(row);
    if (s->keep < 1) {
        FILE *fp = fopen(path, "r+");
        if (fp == NULL || fseek(fp, 0, SEEK_END) != 0)
            return -1;
        long len = ftell(fp);
        fclose(fp);
        if (truncate(path, (off_t)((double)len * s->keep)) != 0)
            return -1;
    }
    return 0;
}

int main(int argc, char **argv)
{
    if (argc != 2) {
        fprintf(stderr, "usage: %s DIR\n", argv[0]);
        return 2;
    }
    for (size_t i = 0; i < sizeof seeds / sizeof seeds[0]; i++) {
        if (write_seed(argv[1], &seeds[i]) != 0) {
            fprintf(stderr, "make_tiff_seeds: cannot write %s/%s\n", argv[1], seeds[i].name);
            return 1;
        }
    }
    return 0;
}

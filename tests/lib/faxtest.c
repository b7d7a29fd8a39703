/*
 * faxtest.c - see faxtest.h.
 */
#include "tests/lib/faxtest.h"

#include <dirent.h>
#include <ftw.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/stat.h>

void faxtest_page_tags(TIFF *t, uint32_t rows, int page, int pages)
{
    TIFFSetField(t, TIFFTAG_IMAGEWIDTH, (uint32_t)FAXTEST_WIDTH);
    TIFFSetField(t, TIFFTAG_IMAGELENGTH, rows);
    TIFFSetField(t, TIFFTAG_BITSPERSAMPLE, 1);
    TIFFSetField(t, TIFFTAG_SAMPLESPERPIXEL, 1);
    TIFFSetField(t, TIFFTAG_COMPRESSION, COMPRESSION_CCITTFAX4);
    TIFFSetField(t, TIFFTAG_PHOTOMETRIC, PHOTOMETRIC_MINISWHITE);
    TIFFSetField(t, TIFFTAG_FILLORDER, FILLORDER_LSB2MSB);
    TIFFSetField(t, TIFFTAG_XRESOLUTION, 204.0f);
    TIFFSetField(t, TIFFTAG_YRESOLUTION, 196.0f);
    TIFFSetField(t, TIFFTAG_RESOLUTIONUNIT, RESUNIT_INCH);
    TIFFSetField(t, TIFFTAG_ROWSPERSTRIP, rows);
    TIFFSetField(t, TIFFTAG_PLANARCONFIG, PLANARCONFIG_CONTIG);
    if (pages > 0) {
        TIFFSetField(t, TIFFTAG_SUBFILETYPE, FILETYPE_PAGE);
        TIFFSetField(t, TIFFTAG_PAGENUMBER, (uint16_t)page, (uint16_t)pages);
    }
}

/* Blocks whose size and place depend on the page and the row. */
static void draw_row(uint8_t *line, int r, int p)
{
    int band = (r / (8 + 4 * p)) % 6;

    memset(line, 0, FAXTEST_WIDTH / 8);
    for (int b = band * 20 + p * 7; b < FAXTEST_WIDTH / 8 && b < band * 20 + p * 7 + 12; b++)
        line[b] = (uint8_t)(0xF0 >> (r % 4));
    if (r % 50 == p)
        memset(line + 100, 0xFF, 60);
}

int faxtest_write(const char *path, int pages, int rows)
{
    TIFF *t = TIFFOpen(path, "w");
    uint8_t line[FAXTEST_WIDTH / 8];
    int rc = 0;

    if (!t)
        return -1;
    for (int p = 0; p < pages && rc == 0; p++) {
        faxtest_page_tags(t, (uint32_t)rows, p, pages);
        for (int r = 0; r < rows && rc == 0; r++) {
            draw_row(line, r, p);
            if (TIFFWriteScanline(t, line, (uint32_t)r, 0) < 0)
                rc = -1;
        }
        if (rc == 0 && !TIFFWriteDirectory(t))
            rc = -1;
    }
    TIFFClose(t);
    return rc;
}

int faxtest_page_count(const char *path)
{
    TIFF *t = TIFFOpen(path, "r");

    if (!t)
        return -1;
    int n = TIFFNumberOfDirectories(t);
    TIFFClose(t);
    return n;
}

uint8_t *faxtest_load_page(const char *path, int page, uint32_t *width, uint32_t *rows)
{
    TIFF *t = TIFFOpen(path, "r");
    uint8_t *bits = NULL;
    uint16_t photometric = PHOTOMETRIC_MINISWHITE;

    if (!t)
        return NULL;
    if (!TIFFSetDirectory(t, (uint16_t)page))
        goto out;
    TIFFGetField(t, TIFFTAG_IMAGEWIDTH, width);
    TIFFGetField(t, TIFFTAG_IMAGELENGTH, rows);
    TIFFGetField(t, TIFFTAG_PHOTOMETRIC, &photometric);
    tmsize_t stride = TIFFScanlineSize(t);
    if (!(bits = calloc(*rows ? *rows : 1, (size_t)stride)))
        goto out;
    for (uint32_t r = 0; r < *rows; r++) {
        uint8_t *line = bits + r * (size_t)stride;
        if (TIFFReadScanline(t, line, r, 0) < 0) {
            free(bits);
            bits = NULL;
            goto out;
        }
        if (photometric == PHOTOMETRIC_MINISBLACK)
            for (tmsize_t i = 0; i < stride; i++)
                line[i] ^= 0xff;
    }
out:
    TIFFClose(t);
    return bits;
}

int faxtest_latest_sim_file(const char *sim_dir, const char *number, char *out, size_t outlen)
{
    char dir[512];
    unsigned long best = 0;
    struct dirent *e;
    DIR *d;

    snprintf(dir, sizeof dir, "%s/%s", sim_dir, number);
    if (outlen)
        out[0] = '\0';
    if (!(d = opendir(dir)))
        return -1;
    while ((e = readdir(d)) != NULL) {
        char *end;
        unsigned long v = strtoul(e->d_name, &end, 10);
        if (end != e->d_name && strcmp(end, ".tif") == 0 && v >= best) {
            best = v;
            snprintf(out, outlen, "%s/%s", dir, e->d_name);
        }
    }
    closedir(d);
    return outlen && out[0] ? 0 : -1;
}

static int remove_entry(const char *path, const struct stat *st, int flag, struct FTW *ftw)
{
    (void)st, (void)flag, (void)ftw;
    return remove(path);
}

void faxtest_rmtree(const char *dir)
{
    nftw(dir, remove_entry, 16, FTW_DEPTH | FTW_PHYS);
}

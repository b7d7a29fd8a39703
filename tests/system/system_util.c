/*
 * system_util.c - see system_util.h.
 */
#include "tests/system/system_util.h"

#include <dirent.h>
#include <ftw.h>
#include <stdint.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/stat.h>
#include <tiffio.h>

int system_write_fax_tiff(const char *path, int pages, int rows)
{
    TIFF *t = TIFFOpen(path, "w");
    if (!t)
        return -1;
    uint8_t line[1728 / 8];
    for (int p = 0; p < pages; p++) {
        TIFFSetField(t, TIFFTAG_IMAGEWIDTH, 1728);
        TIFFSetField(t, TIFFTAG_IMAGELENGTH, rows);
        TIFFSetField(t, TIFFTAG_BITSPERSAMPLE, 1);
        TIFFSetField(t, TIFFTAG_SAMPLESPERPIXEL, 1);
        TIFFSetField(t, TIFFTAG_COMPRESSION, COMPRESSION_CCITTFAX4);
        TIFFSetField(t, TIFFTAG_PHOTOMETRIC, PHOTOMETRIC_MINISWHITE);
        TIFFSetField(t, TIFFTAG_FILLORDER, FILLORDER_LSB2MSB);
        TIFFSetField(t, TIFFTAG_XRESOLUTION, 204.0);
        TIFFSetField(t, TIFFTAG_YRESOLUTION, 196.0);
        TIFFSetField(t, TIFFTAG_RESOLUTIONUNIT, RESUNIT_INCH);
        TIFFSetField(t, TIFFTAG_ROWSPERSTRIP, rows);
        TIFFSetField(t, TIFFTAG_SUBFILETYPE, FILETYPE_PAGE);
        TIFFSetField(t, TIFFTAG_PAGENUMBER, p, pages);
        for (int r = 0; r < rows; r++) {
            memset(line, 0, sizeof line);
            /* Blocks whose size and place depend on the page and row. */
            int band = (r / (8 + 4 * p)) % 6;
            for (int b = band * 20 + p * 7; b < (int)sizeof line && b < band * 20 + p * 7 + 12; b++)
                line[b] = (uint8_t)(0xF0 >> (r % 4));
            if (r % 50 == p)
                memset(line + 100, 0xFF, 60);
            if (TIFFWriteScanline(t, line, (uint32_t)r, 0) < 0) {
                TIFFClose(t);
                return -1;
            }
        }
        if (!TIFFWriteDirectory(t)) {
            TIFFClose(t);
            return -1;
        }
    }
    TIFFClose(t);
    return 0;
}

int system_tiff_pages(const char *path)
{
    TIFF *t = TIFFOpen(path, "r");
    if (!t)
        return -1;
    int n = TIFFNumberOfDirectories(t);
    TIFFClose(t);
    return n;
}

/* Decodes one page into a malloc'd bitmap of rows x (width/8) bytes. */
static uint8_t *load_page(const char *path, int page, uint32_t *w, uint32_t *h)
{
    TIFF *t = TIFFOpen(path, "r");
    if (!t)
        return NULL;
    uint8_t *bits = NULL;
    if (!TIFFSetDirectory(t, (uint16_t)page))
        goto out;
    TIFFGetField(t, TIFFTAG_IMAGEWIDTH, w);
    TIFFGetField(t, TIFFTAG_IMAGELENGTH, h);
    tmsize_t stride = TIFFScanlineSize(t);
    bits = calloc(*h, (size_t)stride);
    if (!bits)
        goto out;
    for (uint32_t r = 0; r < *h; r++) {
        if (TIFFReadScanline(t, bits + r * (size_t)stride, r, 0) < 0) {
            free(bits);
            bits = NULL;
            goto out;
        }
    }
out:
    TIFFClose(t);
    return bits;
}

int system_tiff_page_pixels_equal(const char *a, int pa, const char *b, int pb)
{
    uint32_t wa = 0, ha = 0, wb = 0, hb = 0;
    uint8_t *A = load_page(a, pa, &wa, &ha);
    uint8_t *B = load_page(b, pb, &wb, &hb);
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

int system_latest_sim_file(const char *dir, const char *number, char *out, size_t outlen)
{
    char sub[512];
    snprintf(sub, sizeof sub, "%s/sim/%s", dir, number);
    DIR *d = opendir(sub);
    if (!d)
        return -1;
    struct dirent *e;
    char best[256] = "";
    while ((e = readdir(d)) != NULL) {
        size_t n = strlen(e->d_name);
        if (n > 4 && strcmp(e->d_name + n - 4, ".tif") == 0 && e->d_name[0] != '.' &&
            (strlen(e->d_name) > strlen(best) ||
             (strlen(e->d_name) == strlen(best) && strcmp(e->d_name, best) > 0)))
            snprintf(best, sizeof best, "%s", e->d_name);
    }
    closedir(d);
    if (!best[0])
        return -1;
    snprintf(out, outlen, "%s/%s", sub, best);
    return 0;
}

static int remove_entry(const char *path, const struct stat *st, int flag, struct FTW *ftw)
{
    (void)st;
    (void)flag;
    (void)ftw;
    return remove(path);
}

void system_remove_tree(const char *dir)
{
    nftw(dir, remove_entry, 16, FTW_DEPTH | FTW_PHYS);
}

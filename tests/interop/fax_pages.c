/*
 * fax_pages.c - page tools for the interop tests (not part of faxfs):
 *   fax_pages split IN.tif PREFIX    one T.4 1D single-page TIFF per page,
 *                                    PREFIX.001, PREFIX.002... (what efax sends)
 *   fax_pages compare SENT.tif SENT_PAGE GOT.tif GOT_PAGE [SKIP_ROWS]
 *                                    decoded pixels of two pages (1-based) match
 * The far end may add rows at the top (efax's page header) or lose a few at an
 * edge, so compare finds the vertical offset that aligns the pages best and
 * then demands every overlapping row match, except SKIP_ROWS at the top of the
 * sent page (where a header drawn over the image may sit).
 */
#include <stdint.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <tiffio.h>

#define MAX_SHIFT 200                   /* rows a header may add at the top */

struct page {
    uint32_t width, rows;
    size_t stride;                      /* bytes per row */
    uint8_t *bits;                      /* 1 = black, MSB first */
};

static int page_load(const char *path, int pageno, struct page *pg)
{
    TIFF *t = TIFFOpen(path, "r");
    if (!t) {
        fprintf(stderr, "%s: cannot open as TIFF\n", path);
        return -1;
    }
    if (pageno < 1 || !TIFFSetDirectory(t, (uint16_t)(pageno - 1))) {
        fprintf(stderr, "%s: has no page %d\n", path, pageno);
        TIFFClose(t);
        return -1;
    }
    uint16_t bps = 1, photometric = PHOTOMETRIC_MINISWHITE;
    TIFFGetField(t, TIFFTAG_IMAGEWIDTH, &pg->width);
    TIFFGetField(t, TIFFTAG_IMAGELENGTH, &pg->rows);
    TIFFGetFieldDefaulted(t, TIFFTAG_BITSPERSAMPLE, &bps);
    TIFFGetField(t, TIFFTAG_PHOTOMETRIC, &photometric);
    if (bps != 1) {
        fprintf(stderr, "%s page %d: %u bits per sample; fax pages must be 1-bit\n", path, pageno, bps);
        TIFFClose(t);
        return -1;
    }
    pg->stride = (size_t)TIFFScanlineSize(t);
    pg->bits = calloc(pg->rows ? pg->rows : 1, pg->stride);
    if (!pg->bits) {
        TIFFClose(t);
        return -1;
    }
    for (uint32_t y = 0; y < pg->rows; y++) {
        uint8_t *row = pg->bits + y * pg->stride;
        if (TIFFReadScanline(t, row, y, 0) < 0) {
            fprintf(stderr, "%s page %d: row %u does not decode\n", path, pageno, y);
            TIFFClose(t);
            return -1;
        }
        if (photometric == PHOTOMETRIC_MINISBLACK)
            for (size_t i = 0; i < pg->stride; i++)
                row[i] = (uint8_t)~row[i];
    }
    TIFFClose(t);
    return 0;
}

static long row_diff_bits(const uint8_t *a, const uint8_t *b, uint32_t width)
{
    long bad = 0;
    for (uint32_t x = 0; x < width; x++) {
        int pa = (a[x / 8] >> (7 - x % 8)) & 1, pb = (b[x / 8] >> (7 - x % 8)) & 1;
        bad += pa != pb;
    }
    return bad;
}

/* Mismatching pixels of sent rows [skip, rows) against got rows shifted by d. */
static long compare_at(const struct page *sent, const struct page *got, long d, uint32_t skip, long *overlap)
{
    long bad = 0;
    *overlap = 0;
    for (uint32_t y = skip; y < sent->rows; y++) {
        long gy = (long)y + d;
        if (gy < 0 || gy >= (long)got->rows)
            continue;
        (*overlap)++;
        bad += row_diff_bits(sent->bits + y * sent->stride, got->bits + (size_t)gy * got->stride, sent->width);
    }
    return bad;
}

/* Where the pages differ, for whoever reads a failed test's log. */
static void report_rows(const struct page *sent, const struct page *got, long d, uint32_t skip)
{
    int shown = 0;
    for (uint32_t y = skip; y < sent->rows && shown < 12; y++) {
        long gy = (long)y + d;
        if (gy < 0 || gy >= (long)got->rows)
            continue;
        long bad = row_diff_bits(sent->bits + y * sent->stride, got->bits + (size_t)gy * got->stride, sent->width);
        if (bad) {
            printf("  sent row %u / received row %ld: %ld pixels differ\n", y, gy, bad);
            shown++;
        }
    }
}

static long black_pixels(const struct page *pg)
{
    long n = 0;
    for (size_t i = 0; i < pg->rows * pg->stride; i++)
        n += __builtin_popcount(pg->bits[i]);
    return n;
}

static int cmd_compare(int argc, char **argv)
{
    if (argc < 6) {
        fprintf(stderr, "usage: fax_pages compare SENT.tif SENT_PAGE GOT.tif GOT_PAGE [SKIP_ROWS]\n");
        return 2;
    }
    struct page sent = { 0 }, got = { 0 };
    uint32_t skip = argc > 6 ? (uint32_t)atoi(argv[6]) : 0;
    int rc = 1;
    if (page_load(argv[2], atoi(argv[3]), &sent) < 0 || page_load(argv[4], atoi(argv[5]), &got) < 0)
        goto out;
    if (sent.width != got.width) {
        fprintf(stderr, "width: sent %u, received %u\n", sent.width, got.width);
        goto out;
    }
    if (black_pixels(&sent) == 0) {
        fprintf(stderr, "%s page %s is blank: nothing to compare\n", argv[2], argv[3]);
        goto out;
    }
    long best = -1, best_d = 0, best_overlap = 0;
    for (long d = -MAX_SHIFT; d <= MAX_SHIFT + (long)got.rows - (long)sent.rows; d++) {
        long overlap, bad = compare_at(&sent, &got, d, skip, &overlap);
        /* A candidate must cover most of the page, or a sliver of white would win. */
        if (overlap * 10 < ((long)sent.rows - (long)skip) * 9)
            continue;
        if (best < 0 || bad < best || (bad == best && overlap > best_overlap)) {
            best = bad;
            best_d = d;
            best_overlap = overlap;
        }
    }
    if (best < 0) {
        fprintf(stderr, "rows: sent %u, received %u: too few in common\n", sent.rows, got.rows);
        goto out;
    }
    printf("sent %ux%u, received %ux%u, offset %ld rows, %ld rows compared, %ld pixels differ\n",
           sent.width, sent.rows, got.width, got.rows, best_d, best_overlap, best);
    if (best > 0)
        report_rows(&sent, &got, best_d, skip);
    rc = best == 0 ? 0 : 1;
out:
    free(sent.bits);
    free(got.bits);
    return rc;
}

static int split_page(TIFF *in, const char *path)
{
    uint32_t width, rows;
    float xres = 204.0f, yres = 196.0f;
    TIFFGetField(in, TIFFTAG_IMAGEWIDTH, &width);
    TIFFGetField(in, TIFFTAG_IMAGELENGTH, &rows);
    TIFFGetField(in, TIFFTAG_XRESOLUTION, &xres);
    TIFFGetField(in, TIFFTAG_YRESOLUTION, &yres);
    TIFF *out = TIFFOpen(path, "w");
    if (!out) {
        fprintf(stderr, "%s: cannot create\n", path);
        return -1;
    }
    TIFFSetField(out, TIFFTAG_IMAGEWIDTH, width);
    TIFFSetField(out, TIFFTAG_IMAGELENGTH, rows);
    TIFFSetField(out, TIFFTAG_BITSPERSAMPLE, 1);
    TIFFSetField(out, TIFFTAG_SAMPLESPERPIXEL, 1);
    TIFFSetField(out, TIFFTAG_COMPRESSION, COMPRESSION_CCITTFAX3);
    TIFFSetField(out, TIFFTAG_GROUP3OPTIONS, 0);           /* T.4 1D: all efax sends */
    TIFFSetField(out, TIFFTAG_PHOTOMETRIC, PHOTOMETRIC_MINISWHITE);
    TIFFSetField(out, TIFFTAG_FILLORDER, FILLORDER_MSB2LSB);
    TIFFSetField(out, TIFFTAG_XRESOLUTION, xres);
    TIFFSetField(out, TIFFTAG_YRESOLUTION, yres);
    TIFFSetField(out, TIFFTAG_RESOLUTIONUNIT, RESUNIT_INCH);
    TIFFSetField(out, TIFFTAG_ROWSPERSTRIP, rows);
    tmsize_t stride = TIFFScanlineSize(in);
    uint8_t *row = malloc((size_t)stride);
    int rc = row ? 0 : -1;
    for (uint32_t y = 0; rc == 0 && y < rows; y++)
        if (TIFFReadScanline(in, row, y, 0) < 0 || TIFFWriteScanline(out, row, y, 0) < 0)
            rc = -1;
    free(row);
    TIFFClose(out);
    if (rc < 0)
        fprintf(stderr, "%s: page did not convert\n", path);
    return rc;
}

static int cmd_split(int argc, char **argv)
{
    if (argc != 4) {
        fprintf(stderr, "usage: fax_pages split IN.tif PREFIX\n");
        return 2;
    }
    TIFF *in = TIFFOpen(argv[2], "r");
    if (!in) {
        fprintf(stderr, "%s: cannot open as TIFF\n", argv[2]);
        return 1;
    }
    int page = 0, rc = 0;
    do {
        char path[4096];
        snprintf(path, sizeof path, "%s.%03d", argv[3], ++page);
        rc = split_page(in, path);
    } while (rc == 0 && TIFFReadDirectory(in));
    TIFFClose(in);
    return rc == 0 ? 0 : 1;
}

int main(int argc, char **argv)
{
    if (argc > 1 && strcmp(argv[1], "compare") == 0)
        return cmd_compare(argc, argv);
    if (argc > 1 && strcmp(argv[1], "split") == 0)
        return cmd_split(argc, argv);
    fprintf(stderr, "usage: fax_pages split IN.tif PREFIX\n"
                    "       fax_pages compare SENT.tif SENT_PAGE GOT.tif GOT_PAGE [SKIP_ROWS]\n");
    return 2;
}

/*
 * preview.c - queue_page_png(): a stored page (a 1-bit fax TIFF) rendered
 * as a 1-bit greyscale PNG with square pixels, for image viewers. One row
 * is decoded and encoded at a time, so memory stays at a few rows plus the
 * compressed output. No timestamps are written: the same page always gives
 * the same bytes.
 */
#include "queue/preview.h"

#include <errno.h>
#include <png.h>
#include <setjmp.h>
#include <stdlib.h>
#include <string.h>
#include <tiffio.h>
#include <unistd.h>

#define PREVIEW_MAX_WIDTH 4864    /* twice the widest fax page (A3) */
#define PREVIEW_MAX_ROWS 16000    /* a very long received page */
#define PREVIEW_MAX_ALLOC (16 << 20)
#define PIXELS_PER_METRE_204DPI 8031 /* 204 / 0.0254 */

struct png_out {
    unsigned char *data;
    size_t len, cap;
    bool failed;
};

static void png_out_write(png_structp png, png_bytep bytes, png_size_t n)
{
    struct png_out *o = png_get_io_ptr(png);

    if (o->failed)
        return;
    if (o->len + n > o->cap) {
        size_t cap = o->cap ? o->cap : 16384;
        while (o->len + n > cap)
            cap *= 2;
        unsigned char *p = realloc(o->data, cap);
        if (p == NULL) {
            o->failed = true;
            png_error(png, "out of memory");
        }
        o->data = p;
        o->cap = cap;
    }
    memcpy(o->data + o->len, bytes, n);
    o->len += n;
}

static void png_out_flush(png_structp png)
{
    (void)png;
}

static void png_quiet(png_structp png, png_const_charp msg)
{
    (void)png, (void)msg;
}

static int tiff_quiet(TIFF *tif, void *user, const char *module, const char *fmt, va_list ap)
{
    (void)tif, (void)user, (void)module, (void)fmt, (void)ap;
    return 1;
}

/* What the page is, checked before any row is decoded. */
struct page_shape {
    uint32_t width, height;
    bool min_is_black;
    int row_repeat; /* 2: standard resolution, each row shown twice */
    int row_merge;  /* 2: superfine, two rows shown as one */
};

static int read_shape(TIFF *tif, struct page_shape *ps)
{
    uint16_t bps = 1, spp = 1, photometric = PHOTOMETRIC_MINISWHITE, unit = RESUNIT_INCH;
    float yres = 0;

    TIFFGetFieldDefaulted(tif, TIFFTAG_BITSPERSAMPLE, &bps);
    TIFFGetFieldDefaulted(tif, TIFFTAG_SAMPLESPERPIXEL, &spp);
    TIFFGetFieldDefaulted(tif, TIFFTAG_RESOLUTIONUNIT, &unit);
    if (!TIFFGetField(tif, TIFFTAG_PHOTOMETRIC, &photometric))
        photometric = PHOTOMETRIC_MINISWHITE;
    if (!TIFFGetField(tif, TIFFTAG_IMAGEWIDTH, &ps->width) || !TIFFGetField(tif, TIFFTAG_IMAGELENGTH, &ps->height))
        return -EINVAL;
    if (bps != 1 || spp != 1 || TIFFIsTiled(tif) ||
        (photometric != PHOTOMETRIC_MINISWHITE && photometric != PHOTOMETRIC_MINISBLACK))
        return -EINVAL;
    if (ps->width < 1 || ps->width > PREVIEW_MAX_WIDTH || ps->height < 1 || ps->height > PREVIEW_MAX_ROWS)
        return -EINVAL;
    ps->min_is_black = photometric == PHOTOMETRIC_MINISBLACK;
    ps->row_repeat = ps->row_merge = 1;
    if (TIFFGetField(tif, TIFFTAG_YRESOLUTION, &yres) && yres > 0) {
        if (unit == RESUNIT_CENTIMETER)
            yres *= 2.54f;
        if (yres < 147) /* nearer 98 than 196 */
            ps->row_repeat = 2;
        else if (yres > 294) /* nearer 391 than 196 */
            ps->row_merge = 2;
    }
    return 0;
}

/* Converts a TIFF row to PNG bits (1 = white) in place. */
static void to_png_bits(unsigned char *row, size_t n, bool min_is_black)
{
    if (!min_is_black)
        for (size_t i = 0; i < n; i++)
            row[i] = (unsigned char)~row[i];
}

/* Streams the page's rows into png; returns 0 or -EINVAL (damaged page). */
static int encode_rows(TIFF *tif, const struct page_shape *ps, png_structp png, unsigned char *row,
                       unsigned char *merged, size_t rowbytes)
{
    for (uint32_t y = 0; y < ps->height; y++) {
        if (TIFFReadScanline(tif, row, y, 0) < 0)
            return -EINVAL;
        to_png_bits(row, rowbytes, ps->min_is_black);
        if (ps->row_merge == 2) {
            /* black (0) in either row stays black: thin lines survive */
            if (y % 2 == 0) {
                memcpy(merged, row, rowbytes);
                if (y + 1 < ps->height)
                    continue;
            } else {
                for (size_t i = 0; i < rowbytes; i++)
                    merged[i] &= row[i];
            }
            png_write_row(png, merged);
            continue;
        }
        for (int k = 0; k < ps->row_repeat; k++)
            png_write_row(png, row);
    }
    return 0;
}

static int encode_png(TIFF *tif, const struct page_shape *ps, struct png_out *out)
{
    size_t rowbytes = (ps->width + 7) / 8;
    uint32_t out_rows = ps->row_merge == 2 ? (ps->height + 1) / 2 : ps->height * (uint32_t)ps->row_repeat;
    unsigned char *volatile row = NULL, *volatile merged = NULL;
    volatile int r = -ENOMEM;
    png_structp png = png_create_write_struct(PNG_LIBPNG_VER_STRING, NULL, png_quiet, png_quiet);
    png_infop info = png != NULL ? png_create_info_struct(png) : NULL;

    if (info == NULL || (size_t)TIFFScanlineSize(tif) != rowbytes)
        goto out;
    row = malloc(rowbytes);
    merged = malloc(rowbytes);
    if (row == NULL || merged == NULL)
        goto out;
    if (setjmp(png_jmpbuf(png))) {
        r = out->failed ? -ENOMEM : -EIO;
        goto out;
    }
    png_set_write_fn(png, out, png_out_write, png_out_flush);
    png_set_compression_level(png, 9);
    png_set_IHDR(png, info, ps->width, out_rows, 1, PNG_COLOR_TYPE_GRAY, PNG_INTERLACE_NONE,
                 PNG_COMPRESSION_TYPE_DEFAULT, PNG_FILTER_TYPE_DEFAULT);
    png_set_pHYs(png, info, PIXELS_PER_METRE_204DPI, PIXELS_PER_METRE_204DPI, PNG_RESOLUTION_METER);
    png_write_info(png, info);
    r = encode_rows(tif, ps, png, row, merged, rowbytes);
    if (r == 0)
        png_write_end(png, info);
out:
    png_destroy_write_struct(&png, &info);
    free(row);
    free(merged);
    return r;
}

int preview_page_png(int page_fd, unsigned char **png, size_t *len)
{
    TIFFOpenOptions *opts = TIFFOpenOptionsAlloc();
    struct png_out out = {0};
    struct page_shape ps;
    TIFF *tif = NULL;
    int r, fd = dup(page_fd); /* libtiff closes the fd it is given */

    if (opts == NULL || fd < 0) {
        TIFFOpenOptionsFree(opts);
        if (fd >= 0)
            close(fd);
        return fd < 0 ? -errno : -ENOMEM;
    }
    TIFFOpenOptionsSetMaxSingleMemAlloc(opts, PREVIEW_MAX_ALLOC);
    TIFFOpenOptionsSetErrorHandlerExtR(opts, tiff_quiet, NULL);
    TIFFOpenOptionsSetWarningHandlerExtR(opts, tiff_quiet, NULL);
    lseek(fd, 0, SEEK_SET);
    tif = TIFFFdOpenExt(fd, "page", "rm", opts);
    TIFFOpenOptionsFree(opts);
    if (tif == NULL) {
        close(fd);
        return -EINVAL;
    }
    if ((r = read_shape(tif, &ps)) == 0)
        r = encode_png(tif, &ps, &out);
    TIFFClose(tif);
    if (r != 0) {
        free(out.data);
        return r;
    }
    *png = out.data;
    *len = out.len;
    return 0;
}

/*
 * raster.c - a grey picture becomes a fax page. Scaling averages the
 * source pixels under each output pixel (enlarging repeats them); the
 * picture is centred across the page. Pictures that are mostly black and
 * white (text, line art) are thresholded so strokes stay crisp; photos are
 * Floyd-Steinberg dithered so grey levels survive as dot density.
 */
#include "queue/raster.h"

#include <errno.h>
#include <stdbool.h>
#include <stdlib.h>
#include <string.h>
#include <sys/stat.h>
#include <tiffio.h>
#include <unistd.h>

#define A4_LENGTH_INCHES 11.69 /* 297 mm; Letter (11 in) is shorter */
#define MIDTONE_LOW 48
#define MIDTONE_HIGH 208
#define PHOTO_MIDTONE_PERCENT 10 /* more mid-tones than this: dither */

float raster_y_dpi(int resolution)
{
    return resolution == 1 ? 98.0f : resolution == 3 ? 391.0f : 196.0f;
}

void raster_fit(const struct grey_image *img, int resolution, uint32_t *width, uint32_t *rows)
{
    double ydpi = raster_y_dpi(resolution), max_rows = A4_LENGTH_INCHES * ydpi, w, h;

    if (img->x_dpi > 0 && img->y_dpi > 0) {
        /* its printed size, unless that does not fit */
        w = img->width * (double)RASTER_FAX_X_DPI / img->x_dpi;
        h = img->height * ydpi / img->y_dpi;
    } else {
        /* no size known: as wide as the page */
        w = RASTER_FAX_WIDTH;
        h = img->height * ((double)RASTER_FAX_WIDTH / img->width) * (ydpi / RASTER_FAX_X_DPI);
    }
    double s = 1.0;
    if (w * s > RASTER_FAX_WIDTH)
        s = RASTER_FAX_WIDTH / w;
    if (h * s > max_rows)
        s = max_rows / h;
    *width = (uint32_t)(w * s + 0.5);
    *rows = (uint32_t)(h * s + 0.5);
    if (*width < 1)
        *width = 1;
    if (*width > RASTER_FAX_WIDTH)
        *width = RASTER_FAX_WIDTH;
    if (*rows < 1)
        *rows = 1;
}

/* spans[i]..spans[i+1] are the source indices under output index i; never
 * empty. */
static uint32_t *make_spans(uint32_t src, uint32_t dst)
{
    uint32_t *s = malloc(((size_t)dst + 1) * sizeof *s);

    if (s == NULL)
        return NULL;
    for (uint32_t i = 0; i <= dst; i++)
        s[i] = (uint32_t)((uint64_t)i * src / dst);
    return s;
}

static uint32_t span_end(const uint32_t *spans, uint32_t i)
{
    return spans[i + 1] > spans[i] ? spans[i + 1] : spans[i] + 1;
}

/* Area-average scaling into out (tw x th). */
static int scale(const struct grey_image *img, uint32_t tw, uint32_t th, unsigned char *out)
{
    uint32_t *xs = make_spans(img->width, tw), *ys = make_spans(img->height, th);
    uint32_t *colsum = calloc(img->width, sizeof *colsum);
    int r = xs && ys && colsum ? 0 : -ENOMEM;

    for (uint32_t oy = 0; r == 0 && oy < th; oy++) {
        uint32_t y0 = ys[oy], y1 = span_end(ys, oy);
        memset(colsum, 0, img->width * sizeof *colsum);
        for (uint32_t y = y0; y < y1; y++)
            for (uint32_t x = 0; x < img->width; x++)
                colsum[x] += img->pixels[(size_t)y * img->width + x];
        for (uint32_t ox = 0; ox < tw; ox++) {
            uint32_t x0 = xs[ox], x1 = span_end(xs, ox);
            uint64_t sum = 0;
            for (uint32_t x = x0; x < x1; x++)
                sum += colsum[x];
            out[(size_t)oy * tw + ox] = (unsigned char)(sum / ((uint64_t)(x1 - x0) * (y1 - y0)));
        }
    }
    free(xs);
    free(ys);
    free(colsum);
    return r;
}

static bool looks_like_photo(const unsigned char *px, size_t n)
{
    size_t mid = 0;

    for (size_t i = 0; i < n; i++)
        mid += px[i] >= MIDTONE_LOW && px[i] <= MIDTONE_HIGH;
    return mid * 100 > n * PHOTO_MIDTONE_PERCENT;
}

/* Grey row y of g (tw wide) into packed fax bits (1 = black) at offset x0.
 * err holds this row's diffused error (tw + 2 entries, index + 1) and
 * receives the next row's. */
static void bilevel_row(const unsigned char *g, uint32_t tw, bool dither, int *err, int *next, uint32_t x0,
                        unsigned char *bits)
{
    memset(next, 0, ((size_t)tw + 2) * sizeof *next);
    for (uint32_t x = 0; x < tw; x++) {
        int v = g[x] + (dither ? err[x + 1] / 16 : 0);
        bool black = v < 128;
        if (black)
            bits[(x0 + x) / 8] |= (unsigned char)(0x80 >> ((x0 + x) % 8));
        if (dither) {
            int e = v - (black ? 0 : 255);
            err[x + 2] += e * 7;
            next[x] += e * 3;
            next[x + 1] += e * 5;
            next[x + 2] += e;
        }
    }
}

static bool set_fields(TIFF *out, uint32_t rows, float ydpi)
{
    return TIFFSetField(out, TIFFTAG_SUBFILETYPE, FILETYPE_PAGE) &&
           TIFFSetField(out, TIFFTAG_IMAGEWIDTH, RASTER_FAX_WIDTH) && TIFFSetField(out, TIFFTAG_IMAGELENGTH, rows) &&
           TIFFSetField(out, TIFFTAG_BITSPERSAMPLE, 1) && TIFFSetField(out, TIFFTAG_SAMPLESPERPIXEL, 1) &&
           TIFFSetField(out, TIFFTAG_COMPRESSION, COMPRESSION_CCITTFAX4) &&
           TIFFSetField(out, TIFFTAG_PHOTOMETRIC, PHOTOMETRIC_MINISWHITE) &&
           TIFFSetField(out, TIFFTAG_FILLORDER, FILLORDER_LSB2MSB) &&
           TIFFSetField(out, TIFFTAG_PLANARCONFIG, PLANARCONFIG_CONTIG) &&
           TIFFSetField(out, TIFFTAG_ORIENTATION, ORIENTATION_TOPLEFT) &&
           TIFFSetField(out, TIFFTAG_ROWSPERSTRIP, rows) &&
           TIFFSetField(out, TIFFTAG_XRESOLUTION, RASTER_FAX_X_DPI) && TIFFSetField(out, TIFFTAG_YRESOLUTION, ydpi) &&
           TIFFSetField(out, TIFFTAG_RESOLUTIONUNIT, RESUNIT_INCH) && TIFFSetField(out, TIFFTAG_PAGENUMBER, 0, 1) &&
           TIFFSetField(out, TIFFTAG_SOFTWARE, "faxfs");
}

static int tiff_quiet(TIFF *tif, void *user, const char *module, const char *fmt, va_list ap)
{
    (void)tif, (void)user, (void)module, (void)fmt, (void)ap;
    return 1;
}

static int write_error(void)
{
    return errno == ENOSPC || errno == EDQUOT ? -ENOSPC : -EIO;
}

static int encode(const unsigned char *g, uint32_t tw, uint32_t th, float ydpi, int outfd, uint64_t *bytes)
{
    int *err = calloc((size_t)tw + 2, sizeof *err), *next = calloc((size_t)tw + 2, sizeof *next);
    unsigned char row[RASTER_FAX_WIDTH / 8];
    bool dither = looks_like_photo(g, (size_t)tw * th);
    TIFFOpenOptions *opts = TIFFOpenOptionsAlloc();
    TIFF *out = NULL;
    struct stat st;
    int r = 0;

    if (opts != NULL) {
        TIFFOpenOptionsSetErrorHandlerExtR(opts, tiff_quiet, NULL);
        TIFFOpenOptionsSetWarningHandlerExtR(opts, tiff_quiet, NULL);
        out = TIFFFdOpenExt(outfd, "page", "w", opts);
        TIFFOpenOptionsFree(opts);
    }
    if (out == NULL)
        close(outfd);
    if (err == NULL || next == NULL || out == NULL) {
        r = -ENOMEM;
        goto out;
    }
    if (!set_fields(out, th, ydpi)) {
        r = write_error();
        goto out;
    }
    for (uint32_t y = 0; y < th; y++) {
        memset(row, 0, sizeof row);
        bilevel_row(g + (size_t)y * tw, tw, dither, err, next, (RASTER_FAX_WIDTH - tw) / 2, row);
        int *t = err;
        err = next;
        next = t;
        if (TIFFWriteScanline(out, row, y, 0) < 0) {
            r = write_error();
            goto out;
        }
    }
    if (!TIFFWriteDirectory(out) || TIFFFlush(out) != 1 || fstat(TIFFFileno(out), &st) != 0)
        r = write_error();
    else
        *bytes += (uint64_t)st.st_size;
out:
    if (out != NULL)
        TIFFClose(out);
    free(err);
    free(next);
    return r;
}

int raster_write_fax_page(const struct grey_image *img, int resolution, int outfd, uint64_t *bytes)
{
    uint32_t tw, th;
    unsigned char *g;
    int r;

    raster_fit(img, resolution, &tw, &th);
    if ((g = malloc((size_t)tw * th)) == NULL) {
        close(outfd);
        return -ENOMEM;
    }
    if ((r = scale(img, tw, th, g)) != 0)
        close(outfd);
    else
        r = encode(g, tw, th, raster_y_dpi(resolution), outfd, bytes);
    free(g);
    return r;
}

/*
 * image.c - PNG, JPEG and general TIFF pages decoded into an 8-bit grey
 * raster (transparency composited onto white paper). Sizes are checked
 * from the headers before decoding; the libraries' own allocations are
 * capped too, so a hostile file costs at most IMAGE_MAX_PIXELS bytes of
 * raster plus bounded working memory.
 */
#include "queue/image.h"

#include <errno.h>
#include <stdio.h> /* before jpeglib.h, which needs FILE */
#include <jpeglib.h>
#include <png.h>
#include <setjmp.h>
#include <stdbool.h>
#include <stdlib.h>
#include <string.h>
#include <tiffio.h>
#include <unistd.h>

#define JPEG_MAX_WORKING_MEMORY (128l << 20) /* progressive coefficient buffers */
#define JPEG_MAX_SCANS 300                   /* a real progressive JPEG has about 10 */
#define TIFF_BAND_BYTES (16u << 20)          /* RGBA rows decoded at a time */
#define PNG_MAX_CHUNKS_BEFORE_IDAT 256

void grey_image_free(struct grey_image *img)
{
    free(img->pixels);
    img->pixels = NULL;
}

int image_refuse_size(uint32_t width, uint32_t height, const char *what, char *why, size_t whylen)
{
    snprintf(why, whylen,
             "%s is %ux%u pixels; pictures may have at most %u million pixels and %u pixels a side; "
             "scale it down (300 dpi is plenty for fax)",
             what, width, height, IMAGE_MAX_PIXELS >> 20, IMAGE_MAX_SIDE);
    return -EINVAL;
}

static int check_size(uint32_t w, uint32_t h, const char *what, char *why, size_t whylen)
{
    if (w == 0 || h == 0) {
        snprintf(why, whylen, "%s has no pixels; the file is damaged", what);
        return -EINVAL;
    }
    if (w > IMAGE_MAX_SIDE || h > IMAGE_MAX_SIDE || (uint64_t)w * h > IMAGE_MAX_PIXELS)
        return image_refuse_size(w, h, what, why, whylen);
    return 0;
}

static int alloc_pixels(struct grey_image *img)
{
    img->pixels = malloc((size_t)img->width * img->height);
    return img->pixels != NULL ? 0 : -ENOMEM;
}

static uint32_t be32(const unsigned char *p)
{
    return (uint32_t)p[0] << 24 | (uint32_t)p[1] << 16 | (uint32_t)p[2] << 8 | p[3];
}

/* ---- PNG ------------------------------------------------------------ */

/* The simplified libpng API does not report pHYs: walk the chunks before
 * the image data for it. Pixels per metre become dots per inch. */
static void png_find_dpi(int fd, struct grey_image *img)
{
    unsigned char h[8 + 9];
    off_t at = 8;

    for (int i = 0; i < PNG_MAX_CHUNKS_BEFORE_IDAT; i++) {
        if (pread(fd, h, 8, at) != 8 || memcmp(h + 4, "IDAT", 4) == 0 || memcmp(h + 4, "IEND", 4) == 0)
            return;
        uint32_t len = be32(h);
        if (memcmp(h + 4, "pHYs", 4) == 0 && len == 9 && pread(fd, h + 8, 9, at + 8) == 9) {
            uint32_t x = be32(h + 8), y = be32(h + 12);
            if (h[16] == 1 && x > 0 && y > 0 && x < 1000000 && y < 1000000) {
                img->x_dpi = (float)x * 0.0254f;
                img->y_dpi = (float)y * 0.0254f;
            }
            return;
        }
        if (len > 0x7fffffffu)
            return;
        at += 12 + (off_t)len;
    }
}

int image_decode_png(int fd, struct grey_image *out, char *why, size_t whylen)
{
    static const png_color white = {255, 255, 255};
    png_image img;
    int r, dupfd = dup(fd);
    FILE *f = dupfd >= 0 && lseek(dupfd, 0, SEEK_SET) == 0 ? fdopen(dupfd, "rb") : NULL;

    unsigned char ihdr[24];

    memset(out, 0, sizeof *out);
    if (f == NULL) {
        if (dupfd >= 0)
            close(dupfd);
        return -ENOMEM;
    }
    /* The size from IHDR first: libpng reads on to the image data before
     * it reports it, and a bomb may not have any. */
    if (pread(fd, ihdr, sizeof ihdr, 0) == (ssize_t)sizeof ihdr && memcmp(ihdr + 12, "IHDR", 4) == 0 &&
        (r = check_size(be32(ihdr + 16), be32(ihdr + 20), "the PNG picture", why, whylen)) != 0) {
        fclose(f);
        return r;
    }
    memset(&img, 0, sizeof img);
    img.version = PNG_IMAGE_VERSION;
    if (!png_image_begin_read_from_stdio(&img, f)) {
        snprintf(why, whylen, "the PNG picture cannot be read (%s); save it again", img.message);
        r = -EINVAL;
        goto out;
    }
    if ((r = check_size(img.width, img.height, "the PNG picture", why, whylen)) != 0)
        goto out;
    out->width = img.width;
    out->height = img.height;
    if ((r = alloc_pixels(out)) != 0)
        goto out;
    img.format = PNG_FORMAT_GRAY;
    if (!png_image_finish_read(&img, &white, out->pixels, 0, NULL)) {
        snprintf(why, whylen, "the PNG picture is damaged (%s); save it again", img.message);
        r = -EINVAL;
        goto out;
    }
    png_find_dpi(fd, out);
out:
    png_image_free(&img);
    fclose(f);
    if (r != 0)
        grey_image_free(out);
    return r;
}

/* ---- JPEG ----------------------------------------------------------- */

struct jpeg_guard {
    struct jpeg_error_mgr mgr;
    struct jpeg_progress_mgr progress;
    jmp_buf jump;
    char message[JMSG_LENGTH_MAX];
};

static void jpeg_fail(j_common_ptr cinfo)
{
    struct jpeg_guard *g = (struct jpeg_guard *)cinfo->err;

    g->mgr.format_message(cinfo, g->message);
    longjmp(g->jump, 1);
}

static void jpeg_quiet(j_common_ptr cinfo, int level)
{
    (void)cinfo, (void)level;
}

/* Endless progressive scans cost time without adding pixels. */
static void jpeg_progress(j_common_ptr cinfo)
{
    struct jpeg_decompress_struct *d = (struct jpeg_decompress_struct *)cinfo;

    if (cinfo->is_decompressor && d->input_scan_number > JPEG_MAX_SCANS) {
        struct jpeg_guard *g = (struct jpeg_guard *)cinfo->err;
        snprintf(g->message, sizeof g->message, "more than %d scans", JPEG_MAX_SCANS);
        longjmp(g->jump, 1);
    }
}

static void jpeg_find_dpi(const struct jpeg_decompress_struct *d, struct grey_image *img)
{
    float scale = d->density_unit == 1 ? 1.0f : d->density_unit == 2 ? 2.54f : 0.0f;

    if (scale > 0 && d->X_density > 0 && d->Y_density > 0) {
        img->x_dpi = d->X_density * scale;
        img->y_dpi = d->Y_density * scale;
    }
}

static int jpeg_read_pixels(struct jpeg_decompress_struct *d, struct grey_image *out)
{
    while (d->output_scanline < d->output_height) {
        JSAMPROW row = out->pixels + (size_t)d->output_scanline * out->width;
        if (jpeg_read_scanlines(d, &row, 1) != 1)
            return -EINVAL;
    }
    return 0;
}

int image_decode_jpeg(int fd, struct grey_image *out, char *why, size_t whylen)
{
    struct jpeg_decompress_struct d;
    struct jpeg_guard g;
    volatile int r = -EINVAL;
    int dupfd = dup(fd);
    FILE *volatile f = dupfd >= 0 && lseek(dupfd, 0, SEEK_SET) == 0 ? fdopen(dupfd, "rb") : NULL;

    memset(out, 0, sizeof *out);
    if (f == NULL) {
        if (dupfd >= 0)
            close(dupfd);
        return -ENOMEM;
    }
    d.err = jpeg_std_error(&g.mgr);
    g.mgr.error_exit = jpeg_fail;
    g.mgr.emit_message = jpeg_quiet;
    g.message[0] = '\0';
    if (setjmp(g.jump)) {
        snprintf(why, whylen, "the JPEG picture is damaged or unsupported (%s); save it again", g.message);
        r = -EINVAL;
        goto out;
    }
    jpeg_create_decompress(&d);
    d.mem->max_memory_to_use = JPEG_MAX_WORKING_MEMORY;
    g.progress.progress_monitor = jpeg_progress;
    d.progress = &g.progress;
    jpeg_stdio_src(&d, f);
    jpeg_read_header(&d, TRUE);
    if ((r = check_size(d.image_width, d.image_height, "the JPEG picture", why, whylen)) != 0)
        goto out;
    if (d.jpeg_color_space == JCS_CMYK || d.jpeg_color_space == JCS_YCCK) {
        snprintf(why, whylen, "the JPEG picture is CMYK; save it as RGB or greyscale");
        r = -EINVAL;
        goto out;
    }
    d.out_color_space = JCS_GRAYSCALE;
    jpeg_start_decompress(&d);
    out->width = d.output_width;
    out->height = d.output_height;
    if ((r = alloc_pixels(out)) == 0 && (r = jpeg_read_pixels(&d, out)) == 0) {
        jpeg_find_dpi(&d, out);
        jpeg_finish_decompress(&d);
    }
out:
    jpeg_destroy_decompress(&d);
    fclose(f);
    if (r != 0)
        grey_image_free(out);
    return r;
}

/* ---- TIFF pages that are not fax pages ------------------------------ */

static void tiff_find_dpi(TIFF *tif, struct grey_image *img)
{
    float x = 0, y = 0;
    uint16_t unit = RESUNIT_INCH;

    TIFFGetFieldDefaulted(tif, TIFFTAG_RESOLUTIONUNIT, &unit);
    if (unit == RESUNIT_NONE || !TIFFGetField(tif, TIFFTAG_XRESOLUTION, &x) ||
        !TIFFGetField(tif, TIFFTAG_YRESOLUTION, &y) || !(x > 0) || !(y > 0) || x > 100000 || y > 100000)
        return;
    img->x_dpi = unit == RESUNIT_CENTIMETER ? x * 2.54f : x;
    img->y_dpi = unit == RESUNIT_CENTIMETER ? y * 2.54f : y;
}

/* RGBA (alpha premultiplied by libtiff) onto white paper, then luma. */
static unsigned char rgba_to_grey(uint32_t p)
{
    unsigned r = TIFFGetR(p), g = TIFFGetG(p), b = TIFFGetB(p), paper = 255 - TIFFGetA(p);
    unsigned y = (299 * (r + paper) + 587 * (g + paper) + 114 * (b + paper) + 500) / 1000;
    return (unsigned char)(y > 255 ? 255 : y);
}

/* Decodes the page band by band so the RGBA buffer stays bounded. */
static int tiff_read_bands(TIFFRGBAImage *ri, struct grey_image *out)
{
    uint32_t band = TIFF_BAND_BYTES / 4 / out->width;
    uint32_t *rgba;

    if (band == 0)
        band = 1;
    if (band > out->height)
        band = out->height;
    if ((rgba = malloc((size_t)band * out->width * 4)) == NULL)
        return -ENOMEM;
    for (uint32_t y = 0; y < out->height; y += band) {
        uint32_t rows = out->height - y < band ? out->height - y : band;
        ri->row_offset = (int)y;
        ri->col_offset = 0;
        if (!TIFFRGBAImageGet(ri, rgba, out->width, rows)) {
            free(rgba);
            return -EINVAL;
        }
        for (size_t i = 0; i < (size_t)rows * out->width; i++)
            out->pixels[(size_t)y * out->width + i] = rgba_to_grey(rgba[i]);
    }
    free(rgba);
    return 0;
}

int image_decode_tiff_page(void *tiff, int page, struct grey_image *out, char *why, size_t whylen)
{
    TIFF *tif = tiff;
    TIFFRGBAImage ri;
    char what[32], emsg[1024] = "";
    uint32_t w = 0, h = 0;
    int r;

    memset(out, 0, sizeof *out);
    snprintf(what, sizeof what, "page %d", page);
    TIFFGetField(tif, TIFFTAG_IMAGEWIDTH, &w);
    TIFFGetField(tif, TIFFTAG_IMAGELENGTH, &h);
    if ((r = check_size(w, h, what, why, whylen)) != 0)
        return r;
    if (!TIFFRGBAImageOK(tif, emsg) || !TIFFRGBAImageBegin(&ri, tif, 0, emsg)) {
        snprintf(why, whylen, "page %d cannot be converted (%s); save it as an RGB or greyscale TIFF", page, emsg);
        return -EINVAL;
    }
    ri.req_orientation = ORIENTATION_TOPLEFT;
    out->width = w;
    out->height = h;
    if ((r = alloc_pixels(out)) == 0 && (r = tiff_read_bands(&ri, out)) == -EINVAL)
        snprintf(why, whylen, "page %d is damaged or truncated; save the document again", page);
    TIFFRGBAImageEnd(&ri);
    if (r != 0) {
        grey_image_free(out);
        return r;
    }
    tiff_find_dpi(tif, out);
    return 0;
}

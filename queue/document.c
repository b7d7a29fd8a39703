/*
 * document.c - the fax TIFF intake: a TIFF page that is already a fax page
 * (1-bit, an exact T.4 width, fax resolution, bounded height) is copied as
 * a single-page CCITT G4 TIFF that spandsp sends unchanged. Every scanline
 * is decoded, which catches truncated and damaged files; dimensions are
 * checked before decoding so a hostile header cannot make us allocate or
 * decode a huge image. The daemon uses it only through
 * document_accept_page() on the sandboxed converter's output; pages that
 * are pictures are converted by document_convert.c, in the converter.
 */
#include "queue/document.h"

#include "queue/document_internal.h"

#include <errno.h>
#include <math.h>
#include <stdarg.h>
#include <stdbool.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/mman.h>
#include <sys/stat.h>
#include <tiffio.h>
#include <unistd.h>

#define MAX_TIFF_ALLOC (16 << 20) /* libtiff's largest single allocation for one document */

static const uint32_t fax_widths[] = {1728, 2048, 2432};
static const float fax_y_dpi[] = {98.0f, 196.0f, 391.0f};
#define FAX_X_DPI 204.0f
#define DPI_TOLERANCE 0.05f

/* Everything learned about one page before decoding it. */
struct page_format {
    uint32_t width, height;
    float y_dpi; /* snapped to one of fax_y_dpi */
    bool min_is_black;
};

int document_refuse(struct split *sp, int err, const char *fmt, ...)
{
    va_list ap;

    va_start(ap, fmt);
    vsnprintf(sp->why, sp->whylen, fmt, ap);
    va_end(ap);
    return err;
}

/* libtiff reports through this instead of stderr. */
static int tiff_error_handler(TIFF *tif, void *user, const char *module, const char *fmt, va_list ap)
{
    struct split *sp = user;

    (void)tif;
    (void)module;
    if (sp->tiff_error[0] == '\0')
        vsnprintf(sp->tiff_error, sizeof sp->tiff_error, fmt, ap);
    return 1;
}

static int tiff_warning_handler(TIFF *tif, void *user, const char *module, const char *fmt, va_list ap)
{
    (void)tif, (void)user, (void)module, (void)fmt, (void)ap;
    return 1;
}

static TIFF *tiff_open(struct split *sp, int fd, const char *mode)
{
    TIFFOpenOptions *opts = TIFFOpenOptionsAlloc();
    TIFF *tif;

    if (opts == NULL)
        return NULL;
    TIFFOpenOptionsSetMaxSingleMemAlloc(opts, MAX_TIFF_ALLOC);
    TIFFOpenOptionsSetErrorHandlerExtR(opts, tiff_error_handler, sp);
    TIFFOpenOptionsSetWarningHandlerExtR(opts, tiff_warning_handler, sp);
    tif = TIFFFdOpenExt(fd, "document", mode, opts);
    TIFFOpenOptionsFree(opts);
    return tif;
}

/* A quick look at the header so "not a TIFF" and "no pages" get their own
 * sentences instead of a libtiff error. */
static int check_header(struct split *sp, int fd)
{
    unsigned char h[8];

    if (pread(fd, h, sizeof h, 0) != (ssize_t)sizeof h)
        return document_refuse(sp, -EINVAL, "the document starts like a TIFF file but is not one; save it again");
    bool le = h[0] == 'I' && h[1] == 'I', be = h[0] == 'M' && h[1] == 'M';
    unsigned magic = le ? (unsigned)(h[2] | h[3] << 8) : (unsigned)(h[2] << 8 | h[3]);
    if (!(le || be) || (magic != 42 && magic != 43))
        return document_refuse(sp, -EINVAL, "the document starts like a TIFF file but is not one; save it again");
    uint32_t ifd = le ? (uint32_t)h[4] | (uint32_t)h[5] << 8 | (uint32_t)h[6] << 16 | (uint32_t)h[7] << 24
                      : (uint32_t)h[4] << 24 | (uint32_t)h[5] << 16 | (uint32_t)h[6] << 8 | (uint32_t)h[7];
    if (magic == 42 && ifd == 0)
        return document_refuse(sp, -EINVAL, "the TIFF document has no pages; submit a document with at least one page");
    return 0;
}

static bool near(float v, float target)
{
    return fabsf(v - target) <= target * DPI_TOLERANCE;
}

/* Is the page at a fax resolution? Pages without one are taken as fine. */
static bool fax_resolution(TIFF *tif, struct page_format *pf)
{
    float xres = 0, yres = 0;
    uint16_t unit = RESUNIT_INCH;

    TIFFGetFieldDefaulted(tif, TIFFTAG_RESOLUTIONUNIT, &unit);
    if (!TIFFGetField(tif, TIFFTAG_XRESOLUTION, &xres) || !TIFFGetField(tif, TIFFTAG_YRESOLUTION, &yres) ||
        unit == RESUNIT_NONE || !(xres > 0) || !(yres > 0)) {
        pf->y_dpi = 196.0f; /* no resolution: fine mode, as fax programs assume */
        return true;
    }
    if (unit == RESUNIT_CENTIMETER) {
        xres *= 2.54f;
        yres *= 2.54f;
    }
    for (size_t i = 0; i < sizeof fax_y_dpi / sizeof fax_y_dpi[0]; i++) {
        if (near(xres, FAX_X_DPI) && near(yres, fax_y_dpi[i])) {
            pf->y_dpi = fax_y_dpi[i];
            return true;
        }
    }
    return false;
}

static bool is_fax_width(uint32_t w)
{
    for (size_t i = 0; i < sizeof fax_widths / sizeof fax_widths[0]; i++)
        if (w == fax_widths[i])
            return true;
    return false;
}

enum page_kind { PAGE_FAX, PAGE_PICTURE };

/* Reads one directory's header fields and decides whether the page is a
 * fax page to copy or a picture to convert; decodes nothing. */
static int classify_page(struct split *sp, TIFF *tif, int page, struct page_format *pf, enum page_kind *kind)
{
    uint16_t bps = 1, spp = 1, photometric = PHOTOMETRIC_MINISWHITE, compression = COMPRESSION_NONE;

    TIFFGetFieldDefaulted(tif, TIFFTAG_BITSPERSAMPLE, &bps);
    TIFFGetFieldDefaulted(tif, TIFFTAG_SAMPLESPERPIXEL, &spp);
    TIFFGetFieldDefaulted(tif, TIFFTAG_COMPRESSION, &compression);
    if (!TIFFGetField(tif, TIFFTAG_PHOTOMETRIC, &photometric))
        photometric = PHOTOMETRIC_MINISWHITE;
    if (!TIFFGetField(tif, TIFFTAG_IMAGEWIDTH, &pf->width) || !TIFFGetField(tif, TIFFTAG_IMAGELENGTH, &pf->height))
        return document_refuse(sp, -EINVAL, "page %d has no image size; the file is damaged", page);
    if (!TIFFIsCODECConfigured(compression))
        return document_refuse(sp, -EINVAL, "page %d: compression %u is not supported; save it uncompressed, LZW, "
                      "Deflate, JPEG or CCITT G3/G4", page, compression);
    pf->min_is_black = photometric == PHOTOMETRIC_MINISBLACK;
    bool fax = spp == 1 && bps == 1 &&
               (photometric == PHOTOMETRIC_MINISWHITE || photometric == PHOTOMETRIC_MINISBLACK) &&
               is_fax_width(pf->width) && pf->height >= 1 && pf->height <= DOCUMENT_MAX_ROWS && !TIFFIsTiled(tif);
    *kind = fax && fax_resolution(tif, pf) ? PAGE_FAX : PAGE_PICTURE;
    return 0;
}

static bool set_output_fields(TIFF *out, const struct page_format *pf)
{
    return TIFFSetField(out, TIFFTAG_SUBFILETYPE, FILETYPE_PAGE) && TIFFSetField(out, TIFFTAG_IMAGEWIDTH, pf->width) &&
           TIFFSetField(out, TIFFTAG_IMAGELENGTH, pf->height) && TIFFSetField(out, TIFFTAG_BITSPERSAMPLE, 1) &&
           TIFFSetField(out, TIFFTAG_SAMPLESPERPIXEL, 1) &&
           TIFFSetField(out, TIFFTAG_COMPRESSION, COMPRESSION_CCITTFAX4) &&
           TIFFSetField(out, TIFFTAG_PHOTOMETRIC, PHOTOMETRIC_MINISWHITE) &&
           TIFFSetField(out, TIFFTAG_FILLORDER, FILLORDER_LSB2MSB) &&
           TIFFSetField(out, TIFFTAG_PLANARCONFIG, PLANARCONFIG_CONTIG) &&
           TIFFSetField(out, TIFFTAG_ORIENTATION, ORIENTATION_TOPLEFT) &&
           TIFFSetField(out, TIFFTAG_ROWSPERSTRIP, pf->height) &&
           TIFFSetField(out, TIFFTAG_XRESOLUTION, FAX_X_DPI) && TIFFSetField(out, TIFFTAG_YRESOLUTION, pf->y_dpi) &&
           TIFFSetField(out, TIFFTAG_RESOLUTIONUNIT, RESUNIT_INCH) &&
           TIFFSetField(out, TIFFTAG_PAGENUMBER, 0, 1) && TIFFSetField(out, TIFFTAG_SOFTWARE, "faxfs");
}

int document_write_error(struct split *sp, int page)
{
    int err = errno == ENOSPC || errno == EDQUOT ? ENOSPC : errno == ENOMEM ? ENOMEM : EIO;

    return document_refuse(sp, -err, "page %d could not be stored: %s; free space in the spool and submit again", page,
                  strerror(err));
}

/* Decodes every row of the current page of in and encodes it into outfd. */
static int copy_page(struct split *sp, TIFF *in, int page, const struct page_format *pf, int outfd,
                     uint64_t *bytes)
{
    tmsize_t rowbytes = TIFFScanlineSize(in);
    unsigned char *row = NULL;
    TIFF *out = NULL;
    struct stat st;
    int r = 0;

    if (rowbytes != (tmsize_t)((pf->width + 7) / 8)) {
        close(outfd);
        return document_refuse(sp, -EINVAL, "page %d has an inconsistent row size; the file is damaged", page);
    }
    row = malloc((size_t)rowbytes);
    out = tiff_open(sp, outfd, "w");
    if (row == NULL || out == NULL || !set_output_fields(out, pf)) {
        if (out == NULL)
            close(outfd);
        r = document_write_error(sp, page);
        goto out;
    }
    for (uint32_t y = 0; y < pf->height; y++) {
        if (TIFFReadScanline(in, row, y, 0) < 0) {
            r = document_refuse(sp, -EINVAL, "page %d is damaged or truncated at row %u; save the document again", page, y + 1);
            goto out;
        }
        if (pf->min_is_black)
            for (tmsize_t i = 0; i < rowbytes; i++)
                row[i] = (unsigned char)~row[i];
        if (TIFFWriteScanline(out, row, y, 0) < 0) {
            r = document_write_error(sp, page);
            goto out;
        }
    }
    if (!TIFFWriteDirectory(out) || TIFFFlush(out) != 1 || fstat(TIFFFileno(out), &st) != 0) {
        r = document_write_error(sp, page);
        goto out;
    }
    *bytes += (uint64_t)st.st_size;
out:
    if (out != NULL)
        TIFFClose(out);
    free(row);
    return r;
}

static int split_pages(struct split *sp, TIFF *in, int first_index, const struct document_sink *sink,
                       struct document_result *res)
{
    int page = 0;

    do {
        struct page_format pf;
        enum page_kind kind = PAGE_PICTURE;
        int r;

        if (++page > sp->max_pages)
            return sp->max_pages == 1
                       ? document_refuse(sp, -EINVAL, "the converted page holds more than one page")
                       : document_refuse(sp, -EINVAL, "the document has more than %d pages; split it into several jobs",
                                         sp->max_pages);
        if ((r = classify_page(sp, in, page, &pf, &kind)) != 0)
            return r;
        if (kind == PAGE_PICTURE && sp->picture == NULL)
            return document_refuse(sp, -EINVAL, "page %d is not a fax page (1-bit, %u dots wide, fax resolution)",
                                   page, fax_widths[0]);
        int outfd = sink->page_fd(sink->ctx, first_index + page - 1);
        if (outfd < 0) {
            errno = -outfd;
            return document_write_error(sp, page);
        }
        if (kind == PAGE_FAX)
            r = copy_page(sp, in, page, &pf, outfd, &res->bytes);
        else
            r = sp->picture(sp, in, page, outfd, &res->bytes);
        if (r != 0)
            return r;
        res->pages = page;
    } while (TIFFReadDirectory(in));
    if (sp->tiff_error[0] != '\0')
        return document_refuse(sp, -EINVAL, "the page after page %d is damaged (%s); save the document again", page,
                      sp->tiff_error);
    return 0;
}

int document_split_tiff(struct split *sp, int fd, int first_index, const struct document_sink *sink,
                      struct document_result *res)
{
    TIFF *in;
    int r;

    if ((r = check_header(sp, fd)) != 0)
        return r;
    int dupfd = dup(fd); /* libtiff closes the fd it is given */
    if (dupfd < 0)
        return document_refuse(sp, -errno, "the document cannot be read: %s", strerror(errno));
    lseek(dupfd, 0, SEEK_SET);
    /* "m": no mmap; a document changed under us must not SIGBUS the daemon. */
    in = tiff_open(sp, dupfd, "rm");
    if (in == NULL) {
        close(dupfd);
        return document_refuse(sp, -EINVAL, "the document is not a readable TIFF file (%s); save it again",
                      sp->tiff_error[0] ? sp->tiff_error : "bad header");
    }
    r = split_pages(sp, in, first_index, sink, res);
    TIFFClose(in);
    return r;
}

enum document_type document_sniff(int fd)
{
    static const unsigned char png_magic[8] = {0x89, 'P', 'N', 'G', '\r', '\n', 0x1a, '\n'};
    unsigned char h[1024];
    ssize_t n = pread(fd, h, sizeof h, 0);

    if (n >= 4 && ((h[0] == 'I' && h[1] == 'I') || (h[0] == 'M' && h[1] == 'M')))
        return DOC_TIFF;
    if (n >= 8 && memcmp(h, png_magic, 8) == 0)
        return DOC_PNG;
    if (n >= 3 && h[0] == 0xff && h[1] == 0xd8 && h[2] == 0xff)
        return DOC_JPEG;
    if (n >= 2 && h[0] == '%' && h[1] == '!')
        return DOC_POSTSCRIPT;
    /* PDF allows junk before the header within the first 1024 bytes */
    for (ssize_t i = 0; i + 5 <= n; i++)
        if (memcmp(h + i, "%PDF-", 5) == 0)
            return DOC_PDF;
    return DOC_UNKNOWN;
}


int document_accept_page(int fd, int index, const struct document_sink *sink, uint64_t *bytes, char *why,
                         size_t whylen)
{
    struct split sp = {.why = why, .whylen = whylen, .picture = NULL, .max_pages = 1};
    struct document_result res = {0};
    int r = document_split_tiff(&sp, fd, index, sink, &res);

    if (r == 0 && res.pages != 1)
        r = document_refuse(&sp, -EINVAL, "the converted page is empty");
    *bytes = res.bytes;
    return r;
}

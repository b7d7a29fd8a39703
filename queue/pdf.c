/*
 * pdf.c - pdf_write_fax(): fax TIFF pages as a PDF 1.4 whose pages are
 * CCITTFaxDecode images. The CCITT data of a page is copied from its TIFF
 * strips unchanged (bytes bit-reversed when the TIFF stores them LSB
 * first); a page whose data cannot be embedded as stored is decoded and
 * encoded again as G4 into an anonymous memory file first. Objects are
 * written in one pass, their offsets remembered for the xref table.
 */
#include "queue/pdf.h"

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
#include <time.h>
#include <unistd.h>

#define PDF_MAX_TIFF_ALLOC (16 << 20)
#define PDF_OUT_BUF 65536
#define PDF_COPY_CHUNK 65536
#define PDF_DEFAULT_X_DPI 204.0
#define PDF_DEFAULT_Y_DPI 196.0

/* Objects: 1 catalog, 2 page tree, 3 info, then per page i (0-based)
 * the page, its content stream and its image. */
#define OBJ_CATALOG 1
#define OBJ_PAGES 2
#define OBJ_INFO 3
#define OBJ_PAGE(i) (4 + 3 * (i))
#define OBJ_CONTENT(i) (5 + 3 * (i))
#define OBJ_IMAGE(i) (6 + 3 * (i))

/* ---- buffered output that counts its offset ---- */

struct pdf_out {
    int fd;
    uint64_t off; /* bytes written so far, buffered ones included */
    unsigned char *buf;
    size_t len;
    int err;
};

static void out_flush(struct pdf_out *o)
{
    size_t done = 0;

    while (o->err == 0 && done < o->len) {
        ssize_t n = write(o->fd, o->buf + done, o->len - done);
        if (n < 0 && errno == EINTR)
            continue;
        if (n <= 0)
            o->err = n < 0 ? -errno : -EIO;
        else
            done += (size_t)n;
    }
    o->len = 0;
}

static void out_bytes(struct pdf_out *o, const void *p, size_t n)
{
    const unsigned char *b = p;

    while (n > 0 && o->err == 0) {
        size_t room = PDF_OUT_BUF - o->len, k = n < room ? n : room;
        memcpy(o->buf + o->len, b, k);
        o->len += k;
        o->off += k;
        b += k;
        n -= k;
        if (o->len == PDF_OUT_BUF)
            out_flush(o);
    }
}

static void out_printf(struct pdf_out *o, const char *fmt, ...) __attribute__((format(printf, 2, 3)));
static void out_printf(struct pdf_out *o, const char *fmt, ...)
{
    char line[512];
    va_list ap;

    va_start(ap, fmt);
    int n = vsnprintf(line, sizeof line, fmt, ap);
    va_end(ap);
    if (n < 0 || (size_t)n >= sizeof line) {
        o->err = o->err ? o->err : -EOVERFLOW; /* a bug: every line is short */
        return;
    }
    out_bytes(o, line, (size_t)n);
}

/* ---- one page: what its TIFF holds ---- */

struct fax_page {
    TIFF *tif;
    int fd;                   /* the TIFF's own fd (libtiff closes it) */
    uint32_t width, height;
    double x_dpi, y_dpi;
    uint16_t compression, photometric, fill_order;
    uint32_t t4_options, t6_options;
    uint32_t nstrips;
    uint64_t length;          /* CCITT bytes, all strips */
};

static int tiff_quiet(TIFF *tif, void *user, const char *module, const char *fmt, va_list ap)
{
    (void)tif, (void)user, (void)module, (void)fmt, (void)ap;
    return 1;
}

static int refuse(char *why, size_t whylen, int err, const char *fmt, ...) __attribute__((format(printf, 4, 5)));
static int refuse(char *why, size_t whylen, int err, const char *fmt, ...)
{
    va_list ap;

    if (why != NULL && whylen > 0) {
        va_start(ap, fmt);
        vsnprintf(why, whylen, fmt, ap);
        va_end(ap);
    }
    return err;
}

/* Opens a TIFF on a duplicate of fd (libtiff closes what it is given). */
static TIFF *open_tiff(int fd, const char *mode)
{
    TIFFOpenOptions *opts = TIFFOpenOptionsAlloc();
    int dupfd = dup(fd);
    TIFF *tif = NULL;

    if (opts != NULL && dupfd >= 0) {
        TIFFOpenOptionsSetMaxSingleMemAlloc(opts, PDF_MAX_TIFF_ALLOC);
        TIFFOpenOptionsSetErrorHandlerExtR(opts, tiff_quiet, NULL);
        TIFFOpenOptionsSetWarningHandlerExtR(opts, tiff_quiet, NULL);
        if (mode[0] == 'r')
            lseek(dupfd, 0, SEEK_SET);
        /* "m": no mmap, so a file cut short cannot SIGBUS the daemon */
        tif = TIFFFdOpenExt(dupfd, "page", mode, opts);
    }
    TIFFOpenOptionsFree(opts);
    if (tif == NULL && dupfd >= 0)
        close(dupfd);
    return tif;
}

static void read_resolution(TIFF *tif, struct fax_page *p)
{
    float xres = 0, yres = 0;
    uint16_t unit = RESUNIT_INCH;

    TIFFGetFieldDefaulted(tif, TIFFTAG_RESOLUTIONUNIT, &unit);
    p->x_dpi = PDF_DEFAULT_X_DPI;
    p->y_dpi = PDF_DEFAULT_Y_DPI;
    if (unit == RESUNIT_NONE || !TIFFGetField(tif, TIFFTAG_XRESOLUTION, &xres) ||
        !TIFFGetField(tif, TIFFTAG_YRESOLUTION, &yres) || !(xres >= 10 && xres <= 2000) || !(yres >= 10 && yres <= 2000))
        return; /* no usable resolution: fine mode, as fax programs assume */
    double scale = unit == RESUNIT_CENTIMETER ? 2.54 : 1.0;
    p->x_dpi = xres * scale;
    p->y_dpi = yres * scale;
}

/* Reads the header fields of the page; decodes nothing. */
static int read_page(struct fax_page *p, size_t index, char *why, size_t whylen)
{
    uint16_t bps = 1, spp = 1;
    TIFF *tif = p->tif;

    TIFFGetFieldDefaulted(tif, TIFFTAG_BITSPERSAMPLE, &bps);
    TIFFGetFieldDefaulted(tif, TIFFTAG_SAMPLESPERPIXEL, &spp);
    TIFFGetFieldDefaulted(tif, TIFFTAG_COMPRESSION, &p->compression);
    TIFFGetFieldDefaulted(tif, TIFFTAG_FILLORDER, &p->fill_order);
    if (!TIFFGetField(tif, TIFFTAG_PHOTOMETRIC, &p->photometric))
        p->photometric = PHOTOMETRIC_MINISWHITE;
    p->t4_options = p->t6_options = 0;
    if (p->compression == COMPRESSION_CCITTFAX3)
        TIFFGetField(tif, TIFFTAG_GROUP3OPTIONS, &p->t4_options);
    if (p->compression == COMPRESSION_CCITTFAX4)
        TIFFGetField(tif, TIFFTAG_GROUP4OPTIONS, &p->t6_options);
    if (!TIFFGetField(tif, TIFFTAG_IMAGEWIDTH, &p->width) || !TIFFGetField(tif, TIFFTAG_IMAGELENGTH, &p->height))
        return refuse(why, whylen, -EINVAL, "page %zu has no image size", index + 1);
    if (bps != 1 || spp != 1 || TIFFIsTiled(tif) ||
        (p->photometric != PHOTOMETRIC_MINISWHITE && p->photometric != PHOTOMETRIC_MINISBLACK))
        return refuse(why, whylen, -EINVAL, "page %zu is not a 1-bit black-and-white page", index + 1);
    if (p->width < 1 || p->width > PDF_MAX_COLUMNS || p->height < 1 || p->height > PDF_MAX_ROWS)
        return refuse(why, whylen, -EINVAL, "page %zu is %ux%u pixels, beyond %ux%u", index + 1, p->width,
                      p->height, PDF_MAX_COLUMNS, PDF_MAX_ROWS);
    read_resolution(tif, p);
    p->nstrips = TIFFNumberOfStrips(tif);
    return 0;
}

/* Can the stored CCITT data go into the PDF unchanged? T.4 strips each
 * begin with an EOL (and 2-D ones with a 1-D line), so they join; a T.6
 * strip starts from an imaginary white line, so only a single one can. */
static bool embeddable(const struct fax_page *p)
{
    if (p->nstrips < 1)
        return false;
    if (p->compression == COMPRESSION_CCITTFAX4)
        return p->nstrips == 1 && !(p->t6_options & GROUP4OPT_UNCOMPRESSED);
    if (p->compression == COMPRESSION_CCITTFAX3)
        return !(p->t4_options & GROUP3OPT_UNCOMPRESSED);
    return false;
}

/* Sums the strips' sizes, checking each lies inside the file. */
static int strip_extent(struct fax_page *p, size_t index, char *why, size_t whylen)
{
    struct stat st;

    if (fstat(p->fd, &st) != 0)
        return refuse(why, whylen, -errno, "page %zu cannot be read: %s", index + 1, strerror(errno));
    p->length = 0;
    for (uint32_t s = 0; s < p->nstrips; s++) {
        int err = 0;
        uint64_t off = TIFFGetStrileOffsetWithErr(p->tif, s, &err);
        uint64_t n = TIFFGetStrileByteCountWithErr(p->tif, s, &err);
        if (err != 0 || n == 0 || off > (uint64_t)st.st_size || n > (uint64_t)st.st_size - off)
            return refuse(why, whylen, -EINVAL, "page %zu is damaged: its image data lies outside the file",
                          index + 1);
        p->length += n;
    }
    return 0;
}

static unsigned char reverse_bits(unsigned char b)
{
    b = (unsigned char)((b & 0xF0) >> 4 | (b & 0x0F) << 4);
    b = (unsigned char)((b & 0xCC) >> 2 | (b & 0x33) << 2);
    return (unsigned char)((b & 0xAA) >> 1 | (b & 0x55) << 1);
}

/* Copies the strips into the PDF in chunks; PDF wants MSB-first bytes. */
static int copy_strips(struct fax_page *p, struct pdf_out *o, unsigned char *chunk, size_t index, char *why,
                       size_t whylen)
{
    bool reverse = p->fill_order == FILLORDER_LSB2MSB;

    for (uint32_t s = 0; s < p->nstrips; s++) {
        uint64_t off = TIFFGetStrileOffset(p->tif, s), left = TIFFGetStrileByteCount(p->tif, s);
        while (left > 0) {
            size_t want = left < PDF_COPY_CHUNK ? (size_t)left : PDF_COPY_CHUNK;
            ssize_t n = pread(p->fd, chunk, want, (off_t)off);
            if (n < 0 && errno == EINTR)
                continue;
            if (n <= 0)
                return refuse(why, whylen, n < 0 ? -errno : -EINVAL, "page %zu cannot be read: %s", index + 1,
                              n < 0 ? strerror(errno) : "the file is shorter than its header says");
            if (reverse)
                for (ssize_t i = 0; i < n; i++)
                    chunk[i] = reverse_bits(chunk[i]);
            out_bytes(o, chunk, (size_t)n);
            off += (uint64_t)n;
            left -= (uint64_t)n;
        }
    }
    return o->err;
}

/* ---- re-encoding a page that cannot be embedded as stored ---- */

static bool set_g4_fields(TIFF *out, const struct fax_page *p)
{
    return TIFFSetField(out, TIFFTAG_IMAGEWIDTH, p->width) && TIFFSetField(out, TIFFTAG_IMAGELENGTH, p->height) &&
           TIFFSetField(out, TIFFTAG_BITSPERSAMPLE, 1) && TIFFSetField(out, TIFFTAG_SAMPLESPERPIXEL, 1) &&
           TIFFSetField(out, TIFFTAG_COMPRESSION, COMPRESSION_CCITTFAX4) &&
           TIFFSetField(out, TIFFTAG_PHOTOMETRIC, PHOTOMETRIC_MINISWHITE) &&
           TIFFSetField(out, TIFFTAG_FILLORDER, FILLORDER_MSB2LSB) &&
           TIFFSetField(out, TIFFTAG_PLANARCONFIG, PLANARCONFIG_CONTIG) &&
           TIFFSetField(out, TIFFTAG_ROWSPERSTRIP, p->height) &&
           TIFFSetField(out, TIFFTAG_XRESOLUTION, (float)p->x_dpi) &&
           TIFFSetField(out, TIFFTAG_YRESOLUTION, (float)p->y_dpi) &&
           TIFFSetField(out, TIFFTAG_RESOLUTIONUNIT, RESUNIT_INCH);
}

/* Decodes the page row by row into a single-strip G4 TIFF in a memory
 * file; returns that file's fd or -errno. */
static int reencode_g4(const struct fax_page *p, size_t index, char *why, size_t whylen)
{
    tmsize_t rowbytes = TIFFScanlineSize(p->tif);
    int memfd = memfd_create("faxfs-pdf-page", MFD_CLOEXEC);
    unsigned char *row = NULL;
    TIFF *out = NULL;
    int r = 0;

    if (memfd < 0)
        return refuse(why, whylen, -errno, "page %zu: no memory to re-encode it: %s", index + 1, strerror(errno));
    if (rowbytes != (tmsize_t)((p->width + 7) / 8)) {
        r = refuse(why, whylen, -EINVAL, "page %zu has an inconsistent row size", index + 1);
        goto out;
    }
    row = malloc((size_t)rowbytes);
    out = open_tiff(memfd, "w");
    if (row == NULL || out == NULL || !set_g4_fields(out, p)) {
        r = refuse(why, whylen, -ENOMEM, "page %zu: no memory to re-encode it", index + 1);
        goto out;
    }
    for (uint32_t y = 0; y < p->height; y++) {
        if (TIFFReadScanline(p->tif, row, y, 0) < 0) {
            r = refuse(why, whylen, -EINVAL, "page %zu is damaged at row %u", index + 1, y + 1);
            goto out;
        }
        if (p->photometric == PHOTOMETRIC_MINISBLACK)
            for (tmsize_t i = 0; i < rowbytes; i++)
                row[i] = (unsigned char)~row[i];
        if (TIFFWriteScanline(out, row, y, 0) < 0) {
            r = refuse(why, whylen, -ENOMEM, "page %zu: re-encoding it failed", index + 1);
            goto out;
        }
    }
    if (!TIFFWriteDirectory(out))
        r = refuse(why, whylen, -ENOMEM, "page %zu: re-encoding it failed", index + 1);
out:
    if (out != NULL)
        TIFFClose(out);
    free(row);
    if (r != 0) {
        close(memfd);
        return r;
    }
    return memfd;
}

static void close_page(struct fax_page *p)
{
    if (p->tif != NULL)
        TIFFClose(p->tif); /* closes p->fd */
    p->tif = NULL;
    p->fd = -1;
}

static int open_page(struct fax_page *p, int fd, size_t index, char *why, size_t whylen)
{
    memset(p, 0, sizeof *p);
    p->fd = -1;
    if ((p->tif = open_tiff(fd, "rm")) == NULL)
        return refuse(why, whylen, -EINVAL, "page %zu is not a readable TIFF file", index + 1);
    p->fd = TIFFFileno(p->tif);
    return read_page(p, index, why, whylen);
}

/* Opens page index ready to copy: as stored, or re-encoded (counted). */
static int prepare_page(struct fax_page *p, int fd, size_t index, struct pdf_result *res, char *why, size_t whylen)
{
    int r = open_page(p, fd, index, why, whylen);

    if (r == 0 && !embeddable(p)) {
        int g4 = reencode_g4(p, index, why, whylen);
        close_page(p);
        if (g4 < 0)
            return g4;
        r = open_page(p, g4, index, why, whylen);
        close(g4);
        if (r == 0 && !embeddable(p))
            r = refuse(why, whylen, -EINVAL, "page %zu: its re-encoded copy is not a single G4 strip", index + 1);
        res->reencoded++;
    }
    if (r == 0)
        r = strip_extent(p, index, why, whylen);
    return r;
}

/* ---- the objects ---- */

static void begin_object(struct pdf_out *o, uint64_t *offsets, int obj)
{
    offsets[obj] = o->off;
    out_printf(o, "%d 0 obj\n", obj);
}

/* /K: -1 pure 2-D (T.6), 0 pure 1-D, > 0 mixed (T.4 2-D: each line's tag
 * bit says which). */
static int ccitt_k(const struct fax_page *p)
{
    if (p->compression == COMPRESSION_CCITTFAX4)
        return -1;
    return (p->t4_options & GROUP3OPT_2DENCODING) ? 4 : 0;
}

static void write_image_head(struct pdf_out *o, uint64_t *offsets, int obj, const struct fax_page *p);

static void write_page_objects(struct pdf_out *o, uint64_t *offsets, size_t i, const struct fax_page *p)
{
    /* Rounded down: a renderer at the page's own dpi then makes exactly
     * width x height pixels instead of one more for a ten-thousandth. */
    double w = floor(p->width * 72.0 / p->x_dpi * 10000) / 10000, h = floor(p->height * 72.0 / p->y_dpi * 10000) / 10000;
    char content[160];
    int clen = snprintf(content, sizeof content, "q\n%.4f 0 0 %.4f 0 0 cm\n/Im0 Do\nQ\n", w, h);
    int obj = (int)i;

    begin_object(o, offsets, OBJ_PAGE(obj));
    out_printf(o, "<< /Type /Page /Parent %d 0 R /MediaBox [0 0 %.4f %.4f]\n", OBJ_PAGES, w, h);
    out_printf(o, "   /Resources << /ProcSet [/PDF /ImageB] /XObject << /Im0 %d 0 R >> >>\n", OBJ_IMAGE(obj));
    out_printf(o, "   /Contents %d 0 R >>\nendobj\n", OBJ_CONTENT(obj));

    begin_object(o, offsets, OBJ_CONTENT(obj));
    out_printf(o, "<< /Length %d >>\nstream\n", clen);
    out_bytes(o, content, (size_t)clen);
    out_printf(o, "endstream\nendobj\n");

    write_image_head(o, offsets, OBJ_IMAGE(obj), p);
}

/* The image object of a page up to its stream data (copy_strips follows). */
static void write_image_head(struct pdf_out *o, uint64_t *offsets, int obj, const struct fax_page *p)
{
    begin_object(o, offsets, obj);
    out_printf(o, "<< /Type /XObject /Subtype /Image /Width %u /Height %u\n", p->width, p->height);
    out_printf(o, "   /ColorSpace /DeviceGray /BitsPerComponent 1 /Filter /CCITTFaxDecode\n");
    /* No /EncodedByteAlign for T.4 pages with fill bits (T4Options bit 2):
     * those are zero bits before an EOL, which T.4 allows anywhere and
     * every decoder skips; with the flag set, Ghostscript misplaces 1-D
     * lines (poppler copes either way). Checked by test_queue_pdf. */
    out_printf(o, "   /DecodeParms << /K %d /Columns %u /Rows %u /BlackIs1 %s /EndOfBlock false >>\n", ccitt_k(p),
               p->width, p->height, p->photometric == PHOTOMETRIC_MINISBLACK ? "true" : "false");
    out_printf(o, "   /Length %llu >>\nstream\n", (unsigned long long)p->length);
}

static void write_head(struct pdf_out *o, uint64_t *offsets, size_t npages)
{
    char date[32];
    time_t now = time(NULL);
    struct tm tm;

    /* The binary comment line tells transfer programs the file is binary. */
    out_printf(o, "%%PDF-1.4\n%%\xe2\xe3\xcf\xd3\n");
    begin_object(o, offsets, OBJ_CATALOG);
    out_printf(o, "<< /Type /Catalog /Pages %d 0 R >>\nendobj\n", OBJ_PAGES);
    begin_object(o, offsets, OBJ_PAGES);
    out_printf(o, "<< /Type /Pages /Count %zu /Kids [", npages);
    for (size_t i = 0; i < npages; i++)
        out_printf(o, "%s%d 0 R", i % 8 == 0 ? "\n" : " ", OBJ_PAGE((int)i));
    out_printf(o, "\n] >>\nendobj\n");
    gmtime_r(&now, &tm);
    strftime(date, sizeof date, "D:%Y%m%d%H%M%SZ", &tm);
    begin_object(o, offsets, OBJ_INFO);
    out_printf(o, "<< /Producer (faxfs) /CreationDate (%s) >>\nendobj\n", date);
}

static void write_tail(struct pdf_out *o, const uint64_t *offsets, int nobjs)
{
    uint64_t xref = o->off;

    out_printf(o, "xref\n0 %d\n0000000000 65535 f \n", nobjs + 1);
    for (int i = 1; i <= nobjs; i++)
        out_printf(o, "%010llu 00000 n \n", (unsigned long long)offsets[i]);
    out_printf(o, "trailer\n<< /Size %d /Root %d 0 R /Info %d 0 R >>\nstartxref\n%llu\n%%%%EOF\n", nobjs + 1,
               OBJ_CATALOG, OBJ_INFO, (unsigned long long)xref);
}

int pdf_write_fax_pages(const struct pdf_pages *pages, int out_fd, struct pdf_result *res, char *why,
                        size_t whylen)
{
    size_t npages = pages->count;
    struct pdf_result local = {0};
    struct pdf_out o = {.fd = out_fd};
    uint64_t *offsets = NULL;
    unsigned char *chunk = NULL;
    int r = 0;

    if (res == NULL)
        res = &local;
    memset(res, 0, sizeof *res);
    if (npages == 0)
        return refuse(why, whylen, -EINVAL, "a PDF needs at least one page");
    if (npages > (size_t)(INT32_MAX / 4))
        return refuse(why, whylen, -EFBIG, "%zu pages are too many for one PDF", npages);
    int nobjs = OBJ_IMAGE((int)npages - 1);
    offsets = calloc((size_t)nobjs + 1, sizeof *offsets);
    o.buf = malloc(PDF_OUT_BUF);
    chunk = malloc(PDF_COPY_CHUNK);
    if (offsets == NULL || o.buf == NULL || chunk == NULL) {
        r = refuse(why, whylen, -ENOMEM, "no memory to write the PDF");
        goto out;
    }
    write_head(&o, offsets, npages);
    for (size_t i = 0; i < npages && r == 0 && o.err == 0; i++) {
        struct fax_page p = {.fd = -1};
        int fd = pages->open(pages->ctx, i);
        if (fd < 0) {
            r = refuse(why, whylen, fd, "page %zu cannot be opened: %s", i + 1, strerror(-fd));
            break;
        }
        r = prepare_page(&p, fd, i, res, why, whylen);
        close(fd); /* the page's TIFF, if open, holds its own duplicate */
        if (r == 0) {
            write_page_objects(&o, offsets, i, &p);
            r = copy_strips(&p, &o, chunk, i, why, whylen);
            out_printf(&o, "\nendstream\nendobj\n");
        }
        close_page(&p);
        res->pages += r == 0;
    }
    if (r == 0 && o.err == 0) {
        write_tail(&o, offsets, nobjs);
        out_flush(&o);
    }
    if (o.err != 0 && (r == 0 || r == o.err))
        r = refuse(why, whylen, o.err, "the PDF could not be written: %s", strerror(-o.err));
    res->bytes = o.off;
out:
    free(offsets);
    free(o.buf);
    free(chunk);
    return r;
}

static int dup_page_fd(void *ctx, size_t index)
{
    int fd = dup(((const int *)ctx)[index]);

    return fd < 0 ? -errno : fd;
}

int pdf_write_fax_counted(const int *page_fds, size_t npages, int out_fd, struct pdf_result *res, char *why,
                          size_t whylen)
{
    struct pdf_pages pages = {npages, dup_page_fd, (void *)page_fds};

    return pdf_write_fax_pages(&pages, out_fd, res, why, whylen);
}

int pdf_write_fax(const int *page_fds, size_t npages, int out_fd, char *why, size_t whylen)
{
    return pdf_write_fax_counted(page_fds, npages, out_fd, NULL, why, whylen);
}

/* ---- the transmission report: one page of text and a thumbnail ---- */

#define REPORT_W 595 /* A4 in points */
#define REPORT_H 842
#define REPORT_MARGIN 56
#define REPORT_VALUE_X 190
#define REPORT_LINE_STEP 15
#define REPORT_WRAP 64      /* characters of a value per printed line */
#define REPORT_WRAP_LINES 4 /* printed lines of one value at most */
#define REPORT_THUMB_W 240.0
#define REPORT_CONTENT_MAX 24576

enum { ROBJ_CATALOG = 1, ROBJ_PAGES, ROBJ_INFO, ROBJ_PAGE, ROBJ_CONTENT, ROBJ_FONT, ROBJ_BOLD, ROBJ_IMAGE };
_Static_assert(ROBJ_CATALOG == OBJ_CATALOG && ROBJ_PAGES == OBJ_PAGES && ROBJ_INFO == OBJ_INFO &&
                   ROBJ_PAGE == OBJ_PAGE(0),
               "the report reuses write_head()");

struct textbuf {
    char *p;
    size_t len, cap;
    bool full;
};

static void tb_printf(struct textbuf *t, const char *fmt, ...) __attribute__((format(printf, 2, 3)));
static void tb_printf(struct textbuf *t, const char *fmt, ...)
{
    va_list ap;

    if (t->full)
        return;
    va_start(ap, fmt);
    int n = vsnprintf(t->p + t->len, t->cap - t->len, fmt, ap);
    va_end(ap);
    if (n < 0 || (size_t)n >= t->cap - t->len)
        t->full = true;
    else
        t->len += (size_t)n;
}

/* One character of a PDF string in WinAnsiEncoding: U+0020..U+007E and
 * U+00A0..U+00FF are the same code there; anything else prints as '?'.
 * Returns the bytes of s consumed (at least 1). */
static size_t winansi_char(const unsigned char *s, size_t n, unsigned *code)
{
    if (s[0] >= 0x20 && s[0] < 0x7f) {
        *code = s[0];
        return 1;
    }
    if ((s[0] == 0xc2 || s[0] == 0xc3) && n >= 2 && (s[1] & 0xc0) == 0x80) {
        unsigned cp = (unsigned)(s[0] & 0x1f) << 6 | (s[1] & 0x3f);
        *code = cp >= 0xa0 ? cp : '?';
        return 2;
    }
    *code = '?';
    size_t k = 1; /* skip a whole UTF-8 sequence as one '?' */
    while (k < n && k < 4 && (s[k] & 0xc0) == 0x80)
        k++;
    return k;
}

/* Text as a PDF string literal: ( ) \ escaped, other bytes as octal. */
static void tb_string(struct textbuf *t, const char *text, size_t n)
{
    const unsigned char *s = (const unsigned char *)text;

    tb_printf(t, "(");
    for (size_t i = 0; i < n;) {
        unsigned c;
        i += winansi_char(s + i, n - i, &c);
        if (c == '(' || c == ')' || c == '\\')
            tb_printf(t, "\\%c", (char)c);
        else if (c < 0x80)
            tb_printf(t, "%c", (char)c);
        else
            tb_printf(t, "\\%03o", c);
    }
    tb_printf(t, ")");
}

static void tb_text(struct textbuf *t, const char *font, int size, int x, int y, const char *text, size_t n)
{
    tb_printf(t, "BT /%s %d Tf %d %d Td ", font, size, x, y);
    tb_string(t, text, n);
    tb_printf(t, " Tj ET\n");
}

/* The printed length of at most REPORT_WRAP characters of s: breaks after
 * a space when there is one, and never inside a UTF-8 sequence. */
static size_t wrap_len(const char *s)
{
    size_t n = 0, chars = 0, space = 0;

    while (s[n] != '\0' && chars < REPORT_WRAP) {
        size_t k = 1;
        while ((s[n + k] & 0xc0) == 0x80 && k < 4)
            k++;
        if (s[n] == ' ')
            space = n + 1;
        n += k;
        chars++;
    }
    return s[n] != '\0' && space > 0 ? space : n;
}

/* The page's text (and where the thumbnail goes) as a content stream. */
static int report_content(struct textbuf *t, const char *title, const struct pdf_report_line *lines, size_t nlines,
                          const struct fax_page *thumb)
{
    int y = REPORT_H - REPORT_MARGIN - 16;

    tb_text(t, "F2", 16, REPORT_MARGIN, y, title, strlen(title));
    y -= 2 * REPORT_LINE_STEP;
    for (size_t i = 0; i < nlines && y >= REPORT_MARGIN; i++) {
        const char *v = lines[i].value != NULL ? lines[i].value : "";
        tb_text(t, "F2", 10, REPORT_MARGIN, y, lines[i].label, strlen(lines[i].label));
        for (int row = 0; row < REPORT_WRAP_LINES; row++) {
            size_t n = wrap_len(v);
            if ((n == 0 && row > 0) || y < REPORT_MARGIN)
                break; /* the rest of a value that does not fit the page is cut */
            tb_text(t, "F1", 10, REPORT_VALUE_X, y, v, n);
            v += n;
            y -= REPORT_LINE_STEP;
        }
    }
    if (thumb != NULL) {
        /* The page at its physical size, scaled to fit what is left: the
         * image keeps its own pixels, only the CTM makes it smaller. */
        double pw = thumb->width * 72.0 / thumb->x_dpi, ph = thumb->height * 72.0 / thumb->y_dpi;
        double top = y - REPORT_LINE_STEP, room = top - 16 - REPORT_MARGIN;
        double scale = REPORT_THUMB_W / pw;
        if (ph * scale > room)
            scale = room / ph;
        if (room < 40 || !(scale > 0))
            return t->full ? -EOVERFLOW : 0; /* no room left: text only */
        double w = pw * scale, h = ph * scale, x = REPORT_MARGIN, by = top - 16 - h;
        static const char caption[] = "First page";
        tb_text(t, "F2", 10, REPORT_MARGIN, (int)top, caption, sizeof caption - 1);
        tb_printf(t, "q %.4f 0 0 %.4f %.4f %.4f cm /Im0 Do Q\n", w, h, x, by);
    }
    return t->full ? -EOVERFLOW : 0;
}

int pdf_write_report(const char *title, const struct pdf_report_line *lines, size_t nlines, int page_fd, int out_fd,
                     char *why, size_t whylen)
{
    struct pdf_out o = {.fd = out_fd};
    struct textbuf t = {.cap = REPORT_CONTENT_MAX};
    uint64_t offsets[ROBJ_IMAGE + 1] = {0};
    unsigned char *chunk = NULL;
    struct fax_page page = {.fd = -1};
    bool thumb = page_fd >= 0;
    int nobjs = thumb ? ROBJ_IMAGE : ROBJ_BOLD, r = 0;

    if (nlines > PDF_REPORT_MAX_LINES)
        return refuse(why, whylen, -EINVAL, "a report has at most %d lines", PDF_REPORT_MAX_LINES);
    o.buf = malloc(PDF_OUT_BUF);
    t.p = malloc(t.cap);
    chunk = thumb ? malloc(PDF_COPY_CHUNK) : NULL;
    if (o.buf == NULL || t.p == NULL || (thumb && chunk == NULL)) {
        r = refuse(why, whylen, -ENOMEM, "no memory to write the report");
        goto out;
    }
    if (thumb) {
        struct pdf_result res = {0};
        if ((r = prepare_page(&page, page_fd, 0, &res, why, whylen)) != 0)
            goto out;
    }
    if ((r = report_content(&t, title, lines, nlines, thumb ? &page : NULL)) != 0) {
        r = refuse(why, whylen, r, "the report's text does not fit its page");
        goto out;
    }
    write_head(&o, offsets, 1); /* its one kid is OBJ_PAGE(0), ROBJ_PAGE */
    begin_object(&o, offsets, ROBJ_PAGE);
    out_printf(&o, "<< /Type /Page /Parent %d 0 R /MediaBox [0 0 %d %d]\n", ROBJ_PAGES, REPORT_W, REPORT_H);
    out_printf(&o, "   /Resources << /ProcSet [/PDF /Text /ImageB] /Font << /F1 %d 0 R /F2 %d 0 R >>", ROBJ_FONT,
               ROBJ_BOLD);
    if (thumb)
        out_printf(&o, " /XObject << /Im0 %d 0 R >>", ROBJ_IMAGE);
    out_printf(&o, " >>\n   /Contents %d 0 R >>\nendobj\n", ROBJ_CONTENT);
    begin_object(&o, offsets, ROBJ_CONTENT);
    out_printf(&o, "<< /Length %zu >>\nstream\n", t.len);
    out_bytes(&o, t.p, t.len);
    out_printf(&o, "endstream\nendobj\n");
    begin_object(&o, offsets, ROBJ_FONT);
    out_printf(&o, "<< /Type /Font /Subtype /Type1 /BaseFont /Helvetica /Encoding /WinAnsiEncoding >>\nendobj\n");
    begin_object(&o, offsets, ROBJ_BOLD);
    out_printf(&o, "<< /Type /Font /Subtype /Type1 /BaseFont /Helvetica-Bold /Encoding /WinAnsiEncoding >>\nendobj\n");
    if (thumb) {
        write_image_head(&o, offsets, ROBJ_IMAGE, &page);
        r = copy_strips(&page, &o, chunk, 0, why, whylen);
        out_printf(&o, "\nendstream\nendobj\n");
    }
    if (r == 0 && o.err == 0) {
        write_tail(&o, offsets, nobjs);
        out_flush(&o);
    }
    if (r == 0 && o.err != 0)
        r = refuse(why, whylen, o.err, "the report could not be written: %s", strerror(-o.err));
out:
    if (thumb)
        close_page(&page);
    free(o.buf);
    free(t.p);
    free(chunk);
    return r;
}

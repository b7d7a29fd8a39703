/*
 * test_queue_pdf.c - pdf_write_fax() and queue_open_pdf(): the PDF's
 * structure (header, xref offsets, page count), its size against the
 * TIFF pages, the page size at each fax resolution, every stored encoding
 * (T.4 1-D and 2-D, with and without fill bits, T.6, either fill order,
 * either photometric) rendered back to the TIFF's pixels by poppler and
 * Ghostscript, re-encoding of pages that cannot be embedded, and the
 * queue's cache of the PDF.
 */
#include <stdarg.h>
#include <stddef.h>
#include <setjmp.h>
#include <cmocka.h>

#include <errno.h>
#include <fcntl.h>
#include <math.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/mman.h>
#include <sys/stat.h>
#include <sys/wait.h>
#include <tiffio.h>
#include <unistd.h>

#include "queue/fault.h"
#include "queue/pdf.h"
#include "queue_testutil.h"

/* ---- fax pages made with libtiff ---- */

struct page_fmt {
    uint32_t width, height;
    uint16_t compression; /* COMPRESSION_CCITTFAX3/4, _NONE */
    uint32_t t4_options;  /* GROUP3OPT_* */
    uint16_t fill_order;
    uint16_t photometric;
    float xres, yres;     /* 0: no resolution tags */
    uint16_t unit;
    uint32_t rows_per_strip; /* 0: one strip */
};

static struct page_fmt fmt_g4(void)
{
    return (struct page_fmt){1728, 300, COMPRESSION_CCITTFAX4, 0, FILLORDER_LSB2MSB, PHOTOMETRIC_MINISWHITE,
                             204.0f, 196.0f, RESUNIT_INCH, 0};
}

/* Black (1) or white (0): runs of many lengths, lines, a diagonal. */
static int ink(uint32_t x, uint32_t y)
{
    if ((x / 37 + y / 11) % 7 == 0)
        return 1;
    if (y % 50 == 3 || x % 200 == 17 || x == y)
        return 1;
    return ((x * 7 + y * 13) % 101) == 0;
}

static int make_page(const struct page_fmt *f)
{
    int fd = memfd_create("page", MFD_CLOEXEC);
    assert_true(fd >= 0);
    TIFF *t = TIFFFdOpen(dup(fd), "page", "w");
    assert_non_null(t);
    TIFFSetField(t, TIFFTAG_IMAGEWIDTH, f->width);
    TIFFSetField(t, TIFFTAG_IMAGELENGTH, f->height);
    TIFFSetField(t, TIFFTAG_BITSPERSAMPLE, 1);
    TIFFSetField(t, TIFFTAG_SAMPLESPERPIXEL, 1);
    TIFFSetField(t, TIFFTAG_COMPRESSION, f->compression);
    if (f->compression == COMPRESSION_CCITTFAX3)
        TIFFSetField(t, TIFFTAG_GROUP3OPTIONS, f->t4_options);
    TIFFSetField(t, TIFFTAG_PHOTOMETRIC, f->photometric);
    TIFFSetField(t, TIFFTAG_FILLORDER, f->fill_order);
    TIFFSetField(t, TIFFTAG_PLANARCONFIG, PLANARCONFIG_CONTIG);
    TIFFSetField(t, TIFFTAG_ROWSPERSTRIP, f->rows_per_strip ? f->rows_per_strip : f->height);
    if (f->xres > 0) {
        TIFFSetField(t, TIFFTAG_XRESOLUTION, f->xres);
        TIFFSetField(t, TIFFTAG_YRESOLUTION, f->yres);
        TIFFSetField(t, TIFFTAG_RESOLUTIONUNIT, f->unit);
    }
    size_t rowbytes = (f->width + 7) / 8;
    unsigned char *row = malloc(rowbytes);
    for (uint32_t y = 0; y < f->height; y++) {
        memset(row, 0, rowbytes);
        for (uint32_t x = 0; x < f->width; x++)
            if (ink(x, y) != (f->photometric == PHOTOMETRIC_MINISBLACK))
                row[x / 8] |= (unsigned char)(0x80 >> (x % 8));
        assert_true(TIFFWriteScanline(t, row, y, 0) >= 0);
    }
    free(row);
    TIFFClose(t);
    return fd;
}

static uint64_t file_size(int fd)
{
    struct stat st;
    assert_int_equal(fstat(fd, &st), 0);
    return (uint64_t)st.st_size;
}

/* The whole PDF, NUL-terminated, and its length. */
struct pdf {
    char *data;
    size_t len;
    struct pdf_result res;
};

static int write_pdf(const int *fds, size_t n, struct pdf *out, char *why, size_t whylen)
{
    int fd = memfd_create("pdf", MFD_CLOEXEC);
    assert_true(fd >= 0);
    int r = pdf_write_fax_counted(fds, n, fd, &out->res, why, whylen);
    out->len = (size_t)file_size(fd);
    out->data = calloc(1, out->len + 1);
    assert_int_equal(pread(fd, out->data, out->len, 0), (ssize_t)out->len);
    close(fd);
    return r;
}

static struct pdf pdf_of(const struct page_fmt *fmts, size_t n)
{
    int fds[16];
    struct pdf p = {0};
    char why[256] = "";

    for (size_t i = 0; i < n; i++)
        fds[i] = make_page(&fmts[i]);
    int r = write_pdf(fds, n, &p, why, sizeof why);
    if (r != 0)
        fail_msg("pdf_write_fax: %d %s", r, why);
    for (size_t i = 0; i < n; i++)
        close(fds[i]);
    return p;
}

static const char *find(const struct pdf *p, const char *from, const char *needle)
{
    size_t n = strlen(needle);
    for (const char *s = from; s + n <= p->data + p->len; s++)
        if (memcmp(s, needle, n) == 0)
            return s;
    return NULL;
}

static int count(const struct pdf *p, const char *needle)
{
    int c = 0;
    for (const char *s = find(p, p->data, needle); s; s = find(p, s + 1, needle))
        c++;
    return c;
}

/* ---- structure ---- */

/* Parses the xref table the trailer points to and checks that every
 * in-use entry points at "N 0 obj" for its own number. Returns the
 * number of objects. */
static int check_xref(const struct pdf *p)
{
    const char *sx = NULL;
    for (const char *s = find(p, p->data, "startxref\n"); s; s = find(p, s + 1, "startxref\n"))
        sx = s;
    assert_non_null(sx);
    unsigned long long xref = strtoull(sx + 10, NULL, 10);
    assert_true(xref < p->len);
    assert_memory_equal(p->data + xref, "xref\n0 ", 7);
    char *end;
    int n = (int)strtol(p->data + xref + 7, &end, 10);
    assert_true(n > 1);
    const char *e = end + 1;
    assert_memory_equal(e, "0000000000 65535 f \n", 20);
    for (int i = 1; i < n; i++) {
        const char *entry = e + 20 * i;
        assert_memory_equal(entry + 10, " 00000 n \n", 10);
        unsigned long long off = strtoull(entry, NULL, 10);
        char expect[32];
        int len = snprintf(expect, sizeof expect, "%d 0 obj\n", i);
        assert_true(off + (size_t)len <= p->len);
        assert_memory_equal(p->data + off, expect, (size_t)len);
    }
    assert_non_null(find(p, e + 20 * n, "trailer\n<< /Size "));
    assert_int_equal(memcmp(p->data + p->len - 6, "%%EOF\n", 6), 0);
    return n;
}

static void test_header_xref_and_page_count_match_the_objects(void **state)
{
    (void)state;
    struct page_fmt f[3] = {fmt_g4(), fmt_g4(), fmt_g4()};
    struct pdf p = pdf_of(f, 3);

    assert_memory_equal(p.data, "%PDF-1.4\n", 9);
    assert_int_equal(check_xref(&p), 1 + 3 + 3 * 3);
    assert_int_equal(count(&p, "/Type /Page "), 3);
    assert_non_null(find(&p, p.data, "/Count 3 "));
    assert_non_null(find(&p, p.data, "/Producer (faxfs)"));
    assert_non_null(find(&p, p.data, "/CreationDate (D:"));
    assert_int_equal(p.res.pages, 3);
    assert_int_equal(p.res.reencoded, 0);
    assert_int_equal(p.res.bytes, p.len);
    free(p.data);
}

/* Embedded as stored: about the TIFF's size, plus a few hundred bytes of
 * objects per page. */
static void test_pdf_is_about_the_size_of_the_tiff_pages(void **state)
{
    (void)state;
    struct page_fmt f = fmt_g4();
    f.height = 2200;
    int fds[2] = {make_page(&f), make_page(&f)};
    uint64_t tiff = file_size(fds[0]) + file_size(fds[1]);
    struct pdf p = {0};
    char why[256];

    assert_int_equal(write_pdf(fds, 2, &p, why, sizeof why), 0);
    print_message("two G4 pages: TIFF %llu bytes, PDF %zu bytes\n", (unsigned long long)tiff, p.len);
    assert_true(p.len < tiff + 1024 + 2 * 600);
    assert_true(p.len > tiff - 2 * 400); /* the image data is all there */
    close(fds[0]);
    close(fds[1]);
    free(p.data);
}

static void media_box(const struct pdf *p, double *w, double *h)
{
    const char *m = find(p, p->data, "/MediaBox [0 0 ");
    assert_non_null(m);
    assert_int_equal(sscanf(m, "/MediaBox [0 0 %lf %lf]", w, h), 2);
}

static void test_page_size_follows_each_resolution(void **state)
{
    (void)state;
    static const struct {
        uint32_t width;
        float xres, yres;
        uint16_t unit;
        double mm_w, dpi_x, dpi_y;
    } cases[] = {
        {1728, 204.0f, 98.0f, RESUNIT_INCH, 215.0, 204, 98},
        {1728, 204.0f, 196.0f, RESUNIT_INCH, 215.0, 204, 196},
        {1728, 204.0f, 391.0f, RESUNIT_INCH, 215.0, 204, 391},
        {1728, 80.0f, 77.0f, RESUNIT_CENTIMETER, 216.0, 203.2, 195.58}, /* 8 x 7.7 per mm */
        {1728, 200.0f, 200.0f, RESUNIT_INCH, 219.5, 200, 200},
        {2592, 300.0f, 300.0f, RESUNIT_INCH, 219.5, 300, 300},
        {3456, 400.0f, 400.0f, RESUNIT_INCH, 219.5, 400, 400},
    };
    for (size_t i = 0; i < sizeof cases / sizeof cases[0]; i++) {
        struct page_fmt f = fmt_g4();
        f.width = cases[i].width;
        f.height = 400;
        f.xres = cases[i].xres;
        f.yres = cases[i].yres;
        f.unit = cases[i].unit;
        struct pdf p = pdf_of(&f, 1);
        double w, h;
        media_box(&p, &w, &h);
        print_message("%ux400 at %gx%g: %.2f x %.2f pt\n", f.width, cases[i].dpi_x, cases[i].dpi_y, w, h);
        assert_true(fabs(w / 72 * 25.4 - cases[i].mm_w) < 1.0);
        assert_true(fabs(w - f.width * 72.0 / cases[i].dpi_x) < 0.3);
        assert_true(fabs(h - 400 * 72.0 / cases[i].dpi_y) < 0.3);
        free(p.data);
    }
}

static void test_page_without_resolution_is_taken_as_fine(void **state)
{
    (void)state;
    struct page_fmt f = fmt_g4();
    f.xres = 0;
    struct pdf p = pdf_of(&f, 1);
    double w, h;

    media_box(&p, &w, &h);
    assert_true(fabs(w - 1728 * 72.0 / 204) < 0.01);
    assert_true(fabs(h - 300 * 72.0 / 196) < 0.01);
    free(p.data);
}

/* ---- pixels: rendered by real readers ---- */

static bool have(const char *prog)
{
    char cmd[128];
    snprintf(cmd, sizeof cmd, "command -v %s >/dev/null 2>&1", prog);
    return system(cmd) == 0;
}

/* Reads a binary PBM (P4): 1 = black. */
static unsigned char *read_pbm(const char *path, uint32_t *w, uint32_t *h)
{
    FILE *fp = fopen(path, "rb");
    assert_non_null(fp);
    char magic[3] = "";
    int c;
    assert_int_equal(fscanf(fp, "%2s", magic), 1);
    assert_string_equal(magic, "P4");
    for (int got = 0; got < 2;) { /* width and height, comments skipped */
        while ((c = fgetc(fp)) == ' ' || c == '\n' || c == '\r' || c == '\t')
            ;
        if (c == '#') {
            while ((c = fgetc(fp)) != '\n' && c != EOF)
                ;
            continue;
        }
        ungetc(c, fp);
        assert_int_equal(fscanf(fp, "%u", got == 0 ? w : h), 1);
        got++;
    }
    fgetc(fp); /* the single blank after the height */
    size_t n = (size_t)(*w + 7) / 8 * *h;
    unsigned char *bits = malloc(n);
    assert_int_equal(fread(bits, 1, n, fp), n);
    fclose(fp);
    return bits;
}

/* Renders page 1 of the PDF at the TIFF's own resolution with renderer
 * ("pdftoppm" or "gs") and counts the pixels that differ from ink(). */
static long differing_pixels(const char *renderer, const struct pdf *p, const struct page_fmt *f)
{
    char dir[256], pdf[300], out[300], cmd[2048];
    int xdpi = f->xres > 0 ? (int)lround(f->unit == RESUNIT_CENTIMETER ? f->xres * 2.54 : f->xres) : 204;
    int ydpi = f->xres > 0 ? (int)lround(f->unit == RESUNIT_CENTIMETER ? f->yres * 2.54 : f->yres) : 196;

    make_temp_dir(dir, sizeof dir);
    snprintf(pdf, sizeof pdf, "%s/fax.pdf", dir);
    FILE *fp = fopen(pdf, "wb");
    assert_non_null(fp);
    assert_int_equal(fwrite(p->data, 1, p->len, fp), p->len);
    fclose(fp);
    if (strcmp(renderer, "pdftoppm") == 0) {
        snprintf(out, sizeof out, "%s/page-1.pbm", dir);
        snprintf(cmd, sizeof cmd, "pdftoppm -q -mono -rx %d -ry %d -singlefile %s %s/page-1", xdpi, ydpi, pdf, dir);
    } else {
        snprintf(out, sizeof out, "%s/page-1.pbm", dir);
        snprintf(cmd, sizeof cmd, "gs -q -dSAFER -dNOPAUSE -dBATCH -sDEVICE=pbmraw -r%dx%d -o %s %s", xdpi, ydpi,
                 out, pdf);
    }
    int st = system(cmd);
    assert_true(WIFEXITED(st) && WEXITSTATUS(st) == 0);
    uint32_t w, h;
    unsigned char *bits = read_pbm(out, &w, &h);
    remove_dir(dir);
    /* A renderer may round the page up by a pixel; the image fills it. */
    if (w < f->width || w > f->width + 1 || h < f->height || h > f->height + 1)
        fail_msg("%s rendered %ux%u for a %ux%u page", renderer, w, h, f->width, f->height);
    long diff = 0;
    size_t stride = (w + 7) / 8;
    for (uint32_t y = 0; y < f->height; y++)
        for (uint32_t x = 0; x < f->width; x++)
            diff += ((bits[y * stride + x / 8] >> (7 - x % 8)) & 1) != ink(x, y);
    free(bits);
    return diff;
}

/* Every renderer there is must show the page's exact pixels. */
static void renders_exactly(const struct page_fmt *f, const char *what)
{
    struct pdf p = pdf_of(f, 1);
    const char *renderers[] = {"pdftoppm", "gs"};
    int ran = 0;

    for (size_t i = 0; i < 2; i++) {
        if (!have(renderers[i]))
            continue;
        long d = differing_pixels(renderers[i], &p, f);
        print_message("%s, %s: %ld of %u pixels differ\n", what, renderers[i], d, f->width * f->height);
        assert_int_equal(d, 0);
        ran++;
    }
    free(p.data);
    if (ran == 0)
        skip();
}

static void test_g4_msb_page_renders_like_the_tiff(void **state)
{
    (void)state;
    struct page_fmt f = fmt_g4();
    f.fill_order = FILLORDER_MSB2LSB;
    renders_exactly(&f, "G4 MSB-first");
}

static void test_g4_lsb_page_renders_like_the_tiff(void **state)
{
    (void)state;
    struct page_fmt f = fmt_g4(); /* how intake stores every sent page */
    renders_exactly(&f, "G4 LSB-first");
    struct pdf p = pdf_of(&f, 1);
    assert_non_null(find(&p, p.data, "/K -1 "));
    free(p.data);
}

static void test_g3_1d_page_renders_like_the_tiff(void **state)
{
    (void)state;
    struct page_fmt f = fmt_g4();
    f.compression = COMPRESSION_CCITTFAX3;
    renders_exactly(&f, "G3 1-D");
    struct pdf p = pdf_of(&f, 1);
    assert_non_null(find(&p, p.data, "/K 0 "));
    assert_null(find(&p, p.data, "/EncodedByteAlign"));
    free(p.data);
}

static void test_g3_2d_page_renders_like_the_tiff(void **state)
{
    (void)state;
    struct page_fmt f = fmt_g4();
    f.compression = COMPRESSION_CCITTFAX3;
    f.t4_options = GROUP3OPT_2DENCODING;
    renders_exactly(&f, "G3 2-D");
    struct pdf p = pdf_of(&f, 1);
    assert_non_null(find(&p, p.data, "/K 4 "));
    free(p.data);
}

static void test_g3_pages_with_byte_aligned_eols_render_like_the_tiff(void **state)
{
    (void)state;
    struct page_fmt f = fmt_g4();
    f.compression = COMPRESSION_CCITTFAX3;
    f.t4_options = GROUP3OPT_FILLBITS;
    renders_exactly(&f, "G3 1-D, fill bits");
    f.t4_options = GROUP3OPT_FILLBITS | GROUP3OPT_2DENCODING;
    f.fill_order = FILLORDER_MSB2LSB;
    renders_exactly(&f, "G3 2-D, fill bits, MSB-first");
    /* Fill bits are T.4 fill before each EOL: readers skip them unasked,
     * and Ghostscript misreads 1-D lines when told /EncodedByteAlign. */
    struct pdf p = pdf_of(&f, 1);
    assert_null(find(&p, p.data, "/EncodedByteAlign"));
    free(p.data);
}

static void test_g3_page_in_several_strips_is_embedded_as_stored(void **state)
{
    (void)state;
    struct page_fmt f = fmt_g4();
    f.compression = COMPRESSION_CCITTFAX3;
    f.t4_options = GROUP3OPT_2DENCODING;
    f.rows_per_strip = 64;
    renders_exactly(&f, "G3 2-D in strips of 64 rows");
    struct pdf p = pdf_of(&f, 1);
    assert_int_equal(p.res.reencoded, 0);
    free(p.data);
}

static void test_min_is_black_page_renders_like_the_tiff(void **state)
{
    (void)state;
    struct page_fmt f = fmt_g4();
    f.photometric = PHOTOMETRIC_MINISBLACK;
    renders_exactly(&f, "G4 MinIsBlack");
    struct pdf p = pdf_of(&f, 1);
    assert_non_null(find(&p, p.data, "/BlackIs1 true"));
    free(p.data);
}

static void test_standard_and_superfine_pages_render_like_the_tiff(void **state)
{
    (void)state;
    struct page_fmt f = fmt_g4();
    f.yres = 98.0f;
    renders_exactly(&f, "G4 standard");
    f.yres = 391.0f;
    renders_exactly(&f, "G4 superfine");
}

/* ---- pages that cannot be embedded as stored ---- */

static void test_g4_page_in_several_strips_is_reencoded(void **state)
{
    (void)state;
    struct page_fmt f = fmt_g4();
    f.rows_per_strip = 50;
    renders_exactly(&f, "G4 in strips of 50 rows, re-encoded");
    struct pdf p = pdf_of(&f, 1);
    assert_int_equal(p.res.reencoded, 1);
    assert_non_null(find(&p, p.data, "/K -1 "));
    free(p.data);
}

static void test_uncompressed_page_is_reencoded(void **state)
{
    (void)state;
    struct page_fmt f = fmt_g4();
    f.compression = COMPRESSION_NONE;
    f.photometric = PHOTOMETRIC_MINISBLACK;
    renders_exactly(&f, "uncompressed MinIsBlack, re-encoded");
    struct page_fmt fs[2] = {fmt_g4(), f};
    struct pdf p = pdf_of(fs, 2);
    assert_int_equal(p.res.pages, 2);
    assert_int_equal(p.res.reencoded, 1);
    check_xref(&p);
    free(p.data);
}

/* ---- refusals ---- */

static void test_page_that_is_not_a_tiff_is_refused_naming_it(void **state)
{
    (void)state;
    struct page_fmt f = fmt_g4();
    int fds[2] = {make_page(&f), memfd_create("junk", MFD_CLOEXEC)};
    struct pdf p = {0};
    char why[256] = "";

    assert_int_equal(write(fds[1], "not a tiff at all", 17), 17);
    assert_int_equal(write_pdf(fds, 2, &p, why, sizeof why), -EINVAL);
    assert_non_null(strstr(why, "page 2"));
    close(fds[0]);
    close(fds[1]);
    free(p.data);
}

/* Sets the single strip's byte count in a little-endian classic TIFF's
 * first directory (what libtiff writes here) to count. */
static void patch_strip_byte_count(int fd, uint32_t count)
{
    unsigned char h[8], e[12];
    uint16_t n;

    assert_int_equal(pread(fd, h, 8, 0), 8);
    assert_memory_equal(h, "II*\0", 4);
    uint32_t ifd = (uint32_t)h[4] | (uint32_t)h[5] << 8 | (uint32_t)h[6] << 16 | (uint32_t)h[7] << 24;
    assert_int_equal(pread(fd, &n, 2, ifd), 2);
    for (uint16_t i = 0; i < n; i++) {
        off_t at = (off_t)ifd + 2 + 12 * i;
        assert_int_equal(pread(fd, e, 12, at), 12);
        if ((e[0] | e[1] << 8) != TIFFTAG_STRIPBYTECOUNTS)
            continue;
        assert_int_equal(e[2] | e[3] << 8, 4); /* LONG */
        assert_int_equal(e[4], 1);             /* one strip */
        unsigned char v[4] = {(unsigned char)count, (unsigned char)(count >> 8), (unsigned char)(count >> 16),
                              (unsigned char)(count >> 24)};
        assert_int_equal(pwrite(fd, v, 4, at + 8), 4);
        return;
    }
    fail_msg("no StripByteCounts tag");
}

/* A page whose header says its data runs past the end of the file. */
static void test_page_cut_short_is_refused(void **state)
{
    (void)state;
    struct page_fmt f = fmt_g4();
    f.fill_order = FILLORDER_MSB2LSB;
    int fd = make_page(&f);
    struct pdf p = {0};
    char why[256] = "";

    patch_strip_byte_count(fd, (uint32_t)file_size(fd) * 2);
    assert_int_equal(write_pdf(&fd, 1, &p, why, sizeof why), -EINVAL);
    assert_non_null(strstr(why, "page 1 is damaged"));
    close(fd);
    free(p.data);
}

static void test_write_error_is_returned(void **state)
{
    (void)state;
    struct page_fmt f = fmt_g4();
    int fd = make_page(&f), ro = open("/dev/null", O_RDONLY);
    char why[256] = "";

    assert_int_equal(pdf_write_fax(&fd, 1, ro, why, sizeof why), -EBADF);
    assert_non_null(strstr(why, "could not be written"));
    close(fd);
    close(ro);
}

/* Pages handed over one at a time: each is closed before the next opens. */
struct page_source {
    int last_fd;
    int opened;
    int fail_at; /* -1: never */
    bool overlapped;
};

static int open_source_page(void *ctx, size_t index)
{
    struct page_source *s = ctx;
    struct page_fmt f = fmt_g4();

    if (s->last_fd >= 0 && fcntl(s->last_fd, F_GETFD) != -1)
        s->overlapped = true;
    if ((int)index == s->fail_at)
        return -ENOENT;
    s->opened++;
    return s->last_fd = make_page(&f);
}

static void test_pages_are_opened_one_at_a_time(void **state)
{
    (void)state;
    struct page_source src = {.last_fd = -1, .fail_at = -1};
    struct pdf_pages pages = {12, open_source_page, &src};
    int out = memfd_create("pdf", MFD_CLOEXEC);
    char why[256] = "";

    assert_int_equal(pdf_write_fax_pages(&pages, out, NULL, why, sizeof why), 0);
    assert_int_equal(src.opened, 12);
    assert_false(src.overlapped);
    assert_int_equal(fcntl(src.last_fd, F_GETFD), -1); /* the last one too */
    close(out);
}

static void test_page_that_cannot_be_opened_is_named(void **state)
{
    (void)state;
    struct page_source src = {.last_fd = -1, .fail_at = 1};
    struct pdf_pages pages = {3, open_source_page, &src};
    int out = memfd_create("pdf", MFD_CLOEXEC);
    char why[256] = "";

    assert_int_equal(pdf_write_fax_pages(&pages, out, NULL, why, sizeof why), -ENOENT);
    assert_non_null(strstr(why, "page 2 cannot be opened"));
    close(out);
}

static void test_no_pages_is_refused(void **state)
{
    (void)state;
    char why[256] = "";
    assert_int_equal(pdf_write_fax(NULL, 0, 1, why, sizeof why), -EINVAL);
}

/* ---- queue_open_pdf ---- */

static uint64_t submit_pages(struct queue_fixture *f, int pages)
{
    struct page_fmt fmt = fmt_g4();
    struct queue_request req = {0};
    int fds[8];
    char why[256];
    uint64_t id;

    for (int i = 0; i < pages; i++)
        fds[i] = make_page(&fmt);
    strcpy(req.recipient_number, "5551234");
    int r = queue_submit(f->q, &test_owner, &req, fds, (size_t)pages, &id, why, sizeof why);
    if (r != 0)
        fail_msg("submit: %s", why);
    for (int i = 0; i < pages; i++)
        close(fds[i]);
    return id;
}

static struct pdf read_fd(int fd)
{
    struct pdf p = {0};
    p.len = (size_t)file_size(fd);
    p.data = calloc(1, p.len + 1);
    assert_int_equal(pread(fd, p.data, p.len, 0), (ssize_t)p.len);
    assert_int_equal(lseek(fd, 0, SEEK_CUR), 0);
    return p;
}

static void test_open_pdf_is_made_once_and_kept_in_the_spool(void **state)
{
    struct queue_fixture *f = *state;
    uint64_t id = submit_pages(f, 2);
    char path[512];
    struct stat a, b, s;

    int fd = queue_open_pdf(f->q, id);
    assert_true(fd >= 0);
    struct pdf p = read_fd(fd);
    assert_int_equal(check_xref(&p), 1 + 3 + 2 * 3);
    assert_int_equal(count(&p, "/Type /Page "), 2);
    assert_int_equal(fcntl(fd, F_GETFL) & O_ACCMODE, O_RDONLY);
    snprintf(path, sizeof path, "%s/jobs/%llu/fax.pdf", f->dir, (unsigned long long)id);
    assert_int_equal(stat(path, &s), 0);
    assert_int_equal(fstat(fd, &a), 0);
    assert_int_equal(a.st_ino, s.st_ino);

    int again = queue_open_pdf(f->q, id);
    assert_true(again >= 0);
    assert_int_equal(fstat(again, &b), 0);
    assert_int_equal(a.st_ino, b.st_ino); /* the same file, not made again */
    close(fd);
    close(again);
    free(p.data);
}

static void test_damaged_kept_pdf_is_made_again(void **state)
{
    struct queue_fixture *f = *state;
    uint64_t id = submit_pages(f, 1);
    char path[512];
    struct stat s;

    close(queue_open_pdf(f->q, id));
    snprintf(path, sizeof path, "%s/jobs/%llu/fax.pdf", f->dir, (unsigned long long)id);
    assert_int_equal(stat(path, &s), 0);
    assert_int_equal(truncate(path, s.st_size / 2), 0);
    int fd = queue_open_pdf(f->q, id);
    assert_true(fd >= 0);
    assert_int_equal(file_size(fd), (uint64_t)s.st_size);
    struct pdf p = read_fd(fd);
    check_xref(&p);
    close(fd);
    free(p.data);
}

static void test_open_pdf_survives_a_restart(void **state)
{
    struct queue_fixture *f = *state;
    uint64_t id = submit_pages(f, 1);
    struct stat a, b;

    int fd = queue_open_pdf(f->q, id);
    assert_int_equal(fstat(fd, &a), 0);
    close(fd);
    queue_fixture_reopen(f);
    fd = queue_open_pdf(f->q, id);
    assert_true(fd >= 0);
    assert_int_equal(fstat(fd, &b), 0);
    assert_int_equal(a.st_ino, b.st_ino);
    close(fd);
}

static void test_open_pdf_without_a_cache_is_written_for_each_reader(void **state)
{
    struct queue_fixture *f = *state; /* the in-memory backend keeps no PDF */
    uint64_t id = submit_pages(f, 3);

    int fd = queue_open_pdf(f->q, id);
    assert_true(fd >= 0);
    struct pdf p = read_fd(fd);
    assert_int_equal(count(&p, "/Type /Page "), 3);
    check_xref(&p);
    close(fd);
    free(p.data);
}

static void test_open_pdf_of_an_unknown_job_is_enoent(void **state)
{
    struct queue_fixture *f = *state;
    assert_int_equal(queue_open_pdf(f->q, 999999), -ENOENT);
}

static void test_received_fax_has_its_pdf_once_the_call_ended(void **state)
{
    struct queue_fixture *f = *state;
    struct page_fmt fmt = fmt_g4();
    fmt.compression = COMPRESSION_CCITTFAX3;
    fmt.t4_options = GROUP3OPT_2DENCODING | GROUP3OPT_FILLBITS;
    uint64_t id;

    assert_int_equal(queue_receive_begin(f->q, "modem0", "5550100", &id), 0);
    assert_int_equal(queue_open_pdf(f->q, id), -ENODATA);
    int page = make_page(&fmt);
    assert_int_equal(queue_receive_page(f->q, id, page), 0);
    close(page);
    assert_int_equal(queue_open_pdf(f->q, id), -ENODATA); /* still receiving */
    struct queue_call_result res = test_result(QF_NONE, "", 1);
    assert_int_equal(queue_receive_finished(f->q, id, &res), 0);
    int fd = queue_open_pdf(f->q, id);
    assert_true(fd >= 0);
    struct pdf p = read_fd(fd);
    assert_int_equal(count(&p, "/Type /Page "), 1);
    assert_non_null(find(&p, p.data, "/K 4 "));
    close(fd);
    free(p.data);
}

static void test_received_fax_without_pages_has_no_pdf(void **state)
{
    struct queue_fixture *f = *state;
    uint64_t id;

    assert_int_equal(queue_receive_begin(f->q, "modem0", "", &id), 0);
    struct queue_call_result res = test_result(QF_DROPPED, "dropped", 0);
    assert_int_equal(queue_receive_finished(f->q, id, &res), 0);
    assert_int_equal(queue_open_pdf(f->q, id), -ENODATA);
}

static void test_damaged_page_in_the_spool_gives_eio(void **state)
{
    struct queue_fixture *f = *state;
    uint64_t id = submit_pages(f, 2);
    char path[512];

    snprintf(path, sizeof path, "%s/jobs/%llu/pages/002.tif", f->dir, (unsigned long long)id);
    FILE *fp = fopen(path, "wb");
    assert_non_null(fp);
    fputs("damaged", fp);
    fclose(fp);
    assert_int_equal(queue_open_pdf(f->q, id), -EIO);
    snprintf(path, sizeof path, "%s/jobs/%llu/fax.pdf", f->dir, (unsigned long long)id);
    assert_int_not_equal(access(path, F_OK), 0); /* nothing half-made is kept */
}

#ifdef FAXFS_FAULT_INJECTION
static int count_entries(const char *path)
{
    char cmd[600];
    snprintf(cmd, sizeof cmd, "test -z \"$(ls -A '%s')\"", path);
    return system(cmd) == 0 ? 0 : 1;
}
#endif

/* A write that fails before the rename keeps nothing: no fax.pdf, no
 * leftover in tmp/; the next open makes it. */
static void test_failed_write_keeps_no_pdf(void **state)
{
#ifdef FAXFS_FAULT_INJECTION
    struct queue_fixture *f = *state;
    uint64_t id = submit_pages(f, 1);
    char path[512], tmp[512];

    assert_int_equal(fault_configure("spool.pdf.written:eio"), 0);
    assert_int_equal(queue_open_pdf(f->q, id), -EIO);
    fault_configure(NULL);
    snprintf(path, sizeof path, "%s/jobs/%llu/fax.pdf", f->dir, (unsigned long long)id);
    snprintf(tmp, sizeof tmp, "%s/tmp", f->dir);
    assert_int_not_equal(access(path, F_OK), 0);
    assert_int_equal(count_entries(tmp), 0);
    int fd = queue_open_pdf(f->q, id);
    assert_true(fd >= 0);
    assert_int_equal(access(path, F_OK), 0);
    close(fd);
#else
    (void)state;
    skip();
#endif
}


/* ---- the transmission report ---- */

static struct pdf report_of(const struct pdf_report_line *lines, size_t n, bool thumb)
{
    struct page_fmt fmt = fmt_g4();
    int page = thumb ? make_page(&fmt) : -1;
    int fd = memfd_create("report", MFD_CLOEXEC);
    char why[256] = "";
    struct pdf p = {0};

    assert_true(fd >= 0);
    int r = pdf_write_report("Fax transmission report", lines, n, page, fd, why, sizeof why);
    if (r != 0)
        fail_msg("pdf_write_report: %d %s", r, why);
    p.len = (size_t)file_size(fd);
    p.data = calloc(1, p.len + 1);
    assert_int_equal(pread(fd, p.data, p.len, 0), (ssize_t)p.len);
    close(fd);
    if (page >= 0)
        close(page);
    return p;
}

/* The text as pdftotext reads it, or NULL without poppler-utils. */
static char *text_of(const struct pdf *p)
{
    char dir[] = "/tmp/faxfs-report-XXXXXX", in[64], out[64], cmd[256];
    if (!have("pdftotext") || mkdtemp(dir) == NULL)
        return NULL;
    snprintf(in, sizeof in, "%s/r.pdf", dir);
    snprintf(out, sizeof out, "%s/r.txt", dir);
    FILE *fp = fopen(in, "wb");
    assert_non_null(fp);
    assert_int_equal(fwrite(p->data, 1, p->len, fp), p->len);
    fclose(fp);
    snprintf(cmd, sizeof cmd, "pdftotext -layout %s %s", in, out);
    assert_int_equal(system(cmd), 0);
    fp = fopen(out, "rb");
    assert_non_null(fp);
    char *text = calloc(1, 65536);
    size_t n = fread(text, 1, 65535, fp);
    text[n] = '\0';
    fclose(fp);
    unlink(in);
    unlink(out);
    rmdir(dir);
    return text;
}

static void test_report_has_its_objects_text_and_thumbnail(void **state)
{
    (void)state;
    const struct pdf_report_line lines[] = {
        {"Result", "failed"}, {"Error", "busy: the line was busy (twice)"}, {"Number", "5550101"}, {"Pages", "0 of 2 sent"},
    };
    struct pdf p = report_of(lines, 4, true);

    assert_int_equal(check_xref(&p), 9); /* 8 objects and the free one */
    assert_int_equal(count(&p, "/Type /Page "), 1);
    assert_int_equal(count(&p, "/Subtype /Image"), 1);
    assert_int_equal(count(&p, "/BaseFont /Helvetica "), 1);
    assert_int_equal(count(&p, "/BaseFont /Helvetica-Bold "), 1);
    assert_non_null(find(&p, p.data, "(5550101) Tj"));
    assert_non_null(find(&p, p.data, "(busy: the line was busy \\(twice\\)) Tj")); /* parentheses escaped */
    assert_non_null(find(&p, p.data, "/Im0 Do"));
    char *text = text_of(&p);
    if (text != NULL) {
        assert_non_null(strstr(text, "Fax transmission report"));
        assert_non_null(strstr(text, "5550101"));
        assert_non_null(strstr(text, "failed"));
        assert_non_null(strstr(text, "0 of 2 sent"));
        free(text);
    }
    free(p.data);
}

static void test_report_without_a_page_has_no_image(void **state)
{
    (void)state;
    const struct pdf_report_line lines[] = {{"Result", "canceled"}};
    struct pdf p = report_of(lines, 1, false);

    assert_int_equal(check_xref(&p), 8);
    assert_int_equal(count(&p, "/Subtype /Image"), 0);
    assert_null(find(&p, p.data, "/Im0"));
    free(p.data);
}

static void test_report_text_outside_winansi_prints_as_question_marks(void **state)
{
    (void)state;
    /* "Müller" keeps its u-umlaut (WinAnsi 0374); the CJK character and
     * a control byte become '?'; a long value wraps onto more lines. */
    const struct pdf_report_line lines[] = {
        {"Recipient", "M\xc3\xbcller \xe4\xb8\xad\x01"},
        {"Error", "dropped: aaaa bbbb cccc dddd eeee ffff gggg hhhh iiii jjjj kkkk llll mmmm nnnn oooo pppp"},
    };
    struct pdf p = report_of(lines, 2, true);

    assert_non_null(find(&p, p.data, "(M\\374ller ?" "?) Tj"));
    assert_non_null(find(&p, p.data, "oooo pppp) Tj")); /* the wrapped rest */
    assert_null(find(&p, p.data, "(dropped: aaaa bbbb cccc dddd eeee ffff gggg hhhh iiii jjjj kkkk llll mmmm"));
    free(p.data);
}

static void test_report_with_every_value_at_its_longest_still_fits(void **state)
{
    (void)state;
    char longest[300];
    struct pdf_report_line lines[PDF_REPORT_MAX_LINES];
    memset(longest, 'x', sizeof longest - 1);
    longest[sizeof longest - 1] = '\0';
    for (size_t i = 0; i < PDF_REPORT_MAX_LINES; i++)
        lines[i] = (struct pdf_report_line){"Label", longest};
    struct pdf p = report_of(lines, PDF_REPORT_MAX_LINES, true);

    check_xref(&p); /* written whole: the text cut at the page's foot, no thumbnail room left */
    int rows = 0;
    for (const char *s = find(&p, p.data, " Td ("); s; s = find(&p, s + 1, " Td (")) {
        const char *num = s;
        while (num > p.data && num[-1] != ' ')
            num--;
        assert_true(atoi(num) >= 56); /* every line above the bottom margin */
        rows++;
    }
    assert_true(rows > 40); /* and the page is used */
    assert_null(find(&p, p.data, "/Im0 Do"));
    free(p.data);
}

static void test_report_with_too_many_lines_is_refused(void **state)
{
    (void)state;
    struct pdf_report_line lines[PDF_REPORT_MAX_LINES + 1];
    char why[256] = "";
    for (size_t i = 0; i < sizeof lines / sizeof lines[0]; i++)
        lines[i] = (struct pdf_report_line){"L", "v"};
    int fd = memfd_create("report", MFD_CLOEXEC);
    assert_int_equal(pdf_write_report("t", lines, PDF_REPORT_MAX_LINES + 1, -1, fd, why, sizeof why), -EINVAL);
    assert_int_equal(file_size(fd), 0);
    assert_non_null(strstr(why, "at most"));
    close(fd);
}

static void finish_job(struct queue_fixture *f, uint64_t id, enum queue_failure fl, const char *code, int pages)
{
    struct queue_call_result r = test_result(fl, code, pages);
    assert_int_equal(queue_run_once(f->q), 1); /* dialed */
    r.bit_rate = 14400;
    r.ecm = 1;
    r.remote_id = "+1 555 0100";
    r.duration = 75;
    queue_call_finished(f->q, id, &r);
}

static void test_report_of_a_done_job_is_made_once_and_kept(void **state)
{
    struct queue_fixture *f = *state;
    uint64_t id = submit_pages(f, 2);
    char path[512];
    struct stat a, b;

    assert_int_equal(queue_open_report(f->q, id), -ENODATA); /* not finished */
    finish_job(f, id, QF_NONE, "", 2);
    int fd = queue_open_report(f->q, id);
    assert_true(fd >= 0);
    struct pdf p = read_fd(fd);
    check_xref(&p);
    assert_non_null(find(&p, p.data, "(done) Tj"));
    assert_non_null(find(&p, p.data, "(2 of 2 sent) Tj"));
    assert_non_null(find(&p, p.data, "(5551234) Tj"));
    assert_non_null(find(&p, p.data, "(+1 555 0100) Tj"));
    assert_non_null(find(&p, p.data, "(14400 bit/s) Tj"));
    assert_non_null(find(&p, p.data, "(1:15) Tj"));
    assert_int_equal(count(&p, "/Subtype /Image"), 1);
    snprintf(path, sizeof path, "%s/jobs/%llu/report.pdf", f->dir, (unsigned long long)id);
    assert_int_equal(stat(path, &a), 0);
    assert_int_equal(fstat(fd, &b), 0);
    assert_int_equal(a.st_ino, b.st_ino);
    close(fd);
    queue_fixture_reopen(f);
    fd = queue_open_report(f->q, id);
    assert_true(fd >= 0);
    assert_int_equal(fstat(fd, &b), 0);
    assert_int_equal(a.st_ino, b.st_ino); /* kept over a restart, not made again */
    close(fd);
    free(p.data);
}

static void test_report_of_a_failed_job_names_the_error(void **state)
{
    struct queue_fixture *f = *state;
    uint64_t id = submit_pages(f, 1);

    finish_job(f, id, QF_PERMANENT, "rejected", 0);
    struct job j;
    assert_int_equal(queue_snapshot(f->q, id, &j), 0);
    assert_int_equal(j.status, JOB_FAILED);
    int fd = queue_open_report(f->q, id);
    assert_true(fd >= 0);
    struct pdf p = read_fd(fd);
    assert_non_null(find(&p, p.data, "(failed) Tj"));
    assert_non_null(find(&p, p.data, "(rejected: rejected) Tj"));
    assert_non_null(find(&p, p.data, "(0 of 1 sent) Tj"));
    close(fd);
    free(p.data);
}

/* ---- receipts: the delivery record stored with the final state ---- */

static uint64_t submit_notify(struct queue_fixture *f, const char *notify, int when, char *why, size_t whylen,
                              int *result)
{
    struct page_fmt fmt = fmt_g4();
    struct queue_request req = {0};
    int fd = make_page(&fmt);
    uint64_t id = 0;

    strcpy(req.recipient_number, "5551234");
    snprintf(req.notify, sizeof req.notify, "%s", notify);
    req.notify_when = when;
    *result = queue_submit(f->q, &test_owner, &req, &fd, 1, &id, why, whylen);
    close(fd);
    return id;
}

static void test_receipt_record_is_stored_with_the_final_state(void **state)
{
    struct queue_fixture *f = *state;
    char why[256] = "";
    int r;
    uint64_t id = submit_notify(f, "alice@example.com, bob@example.org", JOB_NOTIFY_FINAL, why, sizeof why, &r);
    struct job j;

    assert_int_equal(r, 0);
    assert_int_equal(queue_snapshot(f->q, id, &j), 0);
    assert_string_equal(j.notify, "alice@example.com,bob@example.org");
    assert_int_equal(j.ndeliveries, 0); /* not before the end */
    finish_job(f, id, QF_PERMANENT, "rejected", 0);
    queue_fixture_reopen(f); /* what the spool holds */
    assert_int_equal(queue_snapshot(f->q, id, &j), 0);
    assert_int_equal(j.status, JOB_FAILED);
    assert_int_equal(j.ndeliveries, 1);
    assert_string_equal(j.deliveries[0].action, JOB_RECEIPT_ACTION);
    assert_string_equal(j.deliveries[0].target, "alice@example.com,bob@example.org");
    assert_int_equal(j.deliveries[0].state, JD_PENDING);
    assert_string_equal(j.notify, "alice@example.com,bob@example.org");
}

static void test_receipt_only_when_asked_for(void **state)
{
    struct queue_fixture *f = *state;
    char why[256] = "";
    int r;
    struct job j;
    uint64_t done_only = submit_notify(f, "alice@example.com", JOB_NOTIFY_DONE, why, sizeof why, &r);
    assert_int_equal(r, 0);
    finish_job(f, done_only, QF_PERMANENT, "rejected", 0);
    assert_int_equal(queue_snapshot(f->q, done_only, &j), 0);
    assert_int_equal(j.ndeliveries, 0); /* failed, and only done was asked for */

    uint64_t none = submit_notify(f, "", JOB_NOTIFY_FINAL, why, sizeof why, &r);
    assert_int_equal(r, 0);
    finish_job(f, none, QF_NONE, "", 1);
    assert_int_equal(queue_snapshot(f->q, none, &j), 0);
    assert_int_equal(j.status, JOB_DONE);
    assert_int_equal(j.ndeliveries, 0);
}

static void test_redeliver_sends_a_receipt_again_only_when_it_failed(void **state)
{
    struct queue_fixture *f = *state;
    char why[256] = "";
    int r;
    struct job j;
    uint64_t id = submit_notify(f, "alice@example.com", JOB_NOTIFY_FINAL, why, sizeof why, &r);

    assert_int_equal(r, 0);
    finish_job(f, id, QF_NONE, "", 1);
    assert_int_equal(queue_snapshot(f->q, id, &j), 0);
    struct job_delivery d = j.deliveries[0];
    d.state = JD_DONE;
    d.attempts = 1;
    assert_int_equal(queue_delivery_update(f->q, id, 0, &d), 0);
    assert_int_equal(queue_redeliver(f->q, &test_owner, id, why, sizeof why), -EINVAL); /* sent: not again */
    assert_non_null(strstr(why, "receipt"));
    d.state = JD_FAILED;
    assert_int_equal(queue_delivery_update(f->q, id, 0, &d), 0);
    assert_int_equal(queue_redeliver(f->q, &test_owner, id, why, sizeof why), 0);
    assert_int_equal(queue_snapshot(f->q, id, &j), 0);
    assert_int_equal(j.deliveries[0].state, JD_PENDING);
    assert_int_equal(j.deliveries[0].attempts, 0);
}

static int count_action(const struct job *j, const char *action)
{
    int n = 0;
    for (int i = 0; i < j->ndeliveries; i++)
        n += strcmp(j->deliveries[i].action, action) == 0;
    return n;
}

/* every-attempt: a busy number, three attempts. Attempts 1 and 2 each
 * leave one attempt receipt naming the attempt, its error and the next
 * try, stored with the retrying state; the third ends the job and adds
 * the final receipt. A restart neither adds nor loses any. */
static void test_every_attempt_stores_one_receipt_per_retried_attempt_and_the_final(void **state)
{
    struct queue_fixture *f = *state;
    char why[256] = "";
    struct job j;
    struct page_fmt fmt = fmt_g4();
    struct queue_request req = {0};
    int fd = make_page(&fmt);
    uint64_t id = 0;
    strcpy(req.recipient_number, "5551234");
    strcpy(req.notify, "alice@example.com");
    req.notify_when = JOB_NOTIFY_EVERY_ATTEMPT;
    req.max_attempts = 3;
    assert_int_equal(queue_submit(f->q, &test_owner, &req, &fd, 1, &id, why, sizeof why), 0);
    close(fd);

    for (int attempt = 1; attempt <= 3; attempt++) {
        assert_int_equal(queue_snapshot(f->q, id, &j), 0);
        if (j.next_attempt > f->clock.now)
            f->clock.now = j.next_attempt;
        finish_job(f, id, QF_BUSY, "busy", 0);
        queue_fixture_reopen(f); /* what the spool holds */
        assert_int_equal(queue_snapshot(f->q, id, &j), 0);
        assert_int_equal(j.attempts, attempt);
        int want_attempts = attempt < 3 ? attempt : 2;
        assert_int_equal(count_action(&j, JOB_ATTEMPT_RECEIPT_ACTION), want_attempts);
        assert_int_equal(count_action(&j, JOB_RECEIPT_ACTION), attempt == 3);
        if (attempt < 3) {
            const struct job_delivery *d = &j.deliveries[attempt - 1];
            assert_int_equal(j.status, JOB_RETRYING);
            assert_string_equal(d->action, JOB_ATTEMPT_RECEIPT_ACTION);
            assert_int_equal(d->of_attempt, attempt);
            assert_int_equal(d->retry_at, j.next_attempt);
            assert_true(d->retry_at > f->clock.now);
            assert_non_null(strstr(d->reason, "busy"));
            assert_string_equal(d->target, "alice@example.com");
            assert_int_equal(d->state, JD_PENDING);
        }
    }
    assert_int_equal(j.status, JOB_FAILED);
    assert_int_equal(j.ndeliveries, 3);
    assert_int_equal(j.deliveries[0].of_attempt, 1);
    assert_int_equal(j.deliveries[1].of_attempt, 2);
    assert_int_equal(j.deliveries[2].of_attempt, 0);
    /* The outcome of a record whose slot was taken by another is refused. */
    struct job_delivery stale = j.deliveries[0];
    stale.of_attempt = 7;
    stale.state = JD_DONE;
    assert_int_equal(queue_delivery_update(f->q, id, 0, &stale), -ESTALE);
}

/* Attempt receipts keep at most JOB_DELIVERIES_MAX - 1 slots: a sent one
 * makes room for the next; while all are unsent, further attempts get
 * none, and the final receipt still has its slot. */
static void test_attempt_receipts_leave_room_for_the_final_one(void **state)
{
    (void)state;
    struct job j;
    job_init(&j);
    j.type = JOB_SEND;
    strcpy(j.notify, "alice@example.com");
    j.notify_when = JOB_NOTIFY_EVERY_ATTEMPT;
    j.status = JOB_RETRYING;
    j.next_attempt = 1000;
    strcpy(j.error_code, "busy");
    strcpy(j.error_text, "The line was busy\\ again\n");
    for (j.attempts = 1; j.attempts <= JOB_DELIVERIES_MAX + 2; j.attempts++)
        (void)job_add_receipts(&j);
    assert_int_equal(j.ndeliveries, JOB_DELIVERIES_MAX - 1);
    assert_int_equal(j.deliveries[JOB_DELIVERIES_MAX - 2].of_attempt, JOB_DELIVERIES_MAX - 1);
    assert_string_equal(j.deliveries[0].reason, "busy: The line was busy/ again "); /* one spool line */
    assert_int_equal(job_add_receipts(&j), 0); /* the same attempt again: nothing */
    j.deliveries[2].state = JD_DONE;
    j.attempts = 20;
    assert_int_equal(job_add_receipts(&j), 1);
    assert_int_equal(j.deliveries[2].of_attempt, 20);
    assert_int_equal(j.deliveries[2].state, JD_PENDING);
    j.status = JOB_FAILED;
    assert_int_equal(job_add_receipts(&j), 1);
    assert_int_equal(j.ndeliveries, JOB_DELIVERIES_MAX);
    assert_string_equal(j.deliveries[JOB_DELIVERIES_MAX - 1].action, JOB_RECEIPT_ACTION);
    assert_int_equal(job_add_receipts(&j), 0);
}

static void test_owner_default_receipt_when_the_job_asks_for_none(void **state)
{
    struct queue_fixture *f = *state;
    static const struct queue_receipt_default defaults[] = {
        {1000, "owner@example.com", JOB_NOTIFY_FAILED}, /* test_owner */
        {2000, "other@example.com", JOB_NOTIFY_FINAL},
    };
    char why[256] = "";
    int r;
    struct job j;

    queue_close(f->q);
    f->cfg.receipt_defaults = defaults;
    f->cfg.nreceipt_defaults = 2;
    queue_fixture_open(f);
    uint64_t plain = submit_notify(f, "", JOB_NOTIFY_FINAL, why, sizeof why, &r);
    assert_int_equal(r, 0);
    assert_int_equal(queue_snapshot(f->q, plain, &j), 0);
    assert_string_equal(j.notify, "owner@example.com");
    assert_int_equal(j.notify_when, JOB_NOTIFY_FAILED);
    uint64_t own = submit_notify(f, "me@example.com", JOB_NOTIFY_DONE, why, sizeof why, &r);
    assert_int_equal(r, 0);
    assert_int_equal(queue_snapshot(f->q, own, &j), 0);
    assert_string_equal(j.notify, "me@example.com"); /* the job's own wins */
    assert_int_equal(j.notify_when, JOB_NOTIFY_DONE);
}

static int refuse_example_org(const char *address)
{
    return strstr(address, "example.org") == NULL;
}

static void test_submit_checks_receipt_addresses_with_the_mail_code(void **state)
{
    struct queue_fixture *f = *state;
    char why[256] = "";
    int r;

    queue_close(f->q);
    f->cfg.mail_address_ok = refuse_example_org;
    queue_fixture_open(f);
    submit_notify(f, "alice@example.com,bob@example.org", JOB_NOTIFY_FINAL, why, sizeof why, &r);
    assert_int_equal(r, -EINVAL);
    assert_non_null(strstr(why, "address 2"));
    submit_notify(f, "-oQ@example.com", JOB_NOTIFY_FINAL, why, sizeof why, &r);
    assert_int_equal(r, -EINVAL);
    submit_notify(f, "alice@example.com", 7, why, sizeof why, &r);
    assert_int_equal(r, -EINVAL);
    submit_notify(f, "alice@example.com", JOB_NOTIFY_FINAL, why, sizeof why, &r);
    assert_int_equal(r, 0);
}

static void test_job_canceled_before_any_attempt_has_no_report(void **state)
{
    struct queue_fixture *f = *state;
    struct job j;
    uint64_t id = submit_pages(f, 1);

    assert_int_equal(queue_snapshot(f->q, id, &j), 0);
    j.status = JOB_CANCELED;
    j.attempts = 0;
    assert_false(queue_job_has_report(&j));
    j.attempts = 1;
    assert_true(queue_job_has_report(&j));
    j.type = JOB_RECEIVE;
    assert_false(queue_job_has_report(&j));
    assert_int_equal(queue_open_report(f->q, 999999), -ENOENT);
}

#define T(name) cmocka_unit_test(name)
#define S(name) cmocka_unit_test_setup_teardown(name, queue_fixture_setup_spool, queue_fixture_teardown)
#define M(name) cmocka_unit_test_setup_teardown(name, queue_fixture_setup_memory, queue_fixture_teardown)

int main(void)
{
    const struct CMUnitTest tests[] = {
        T(test_header_xref_and_page_count_match_the_objects),
        T(test_pdf_is_about_the_size_of_the_tiff_pages),
        T(test_page_size_follows_each_resolution),
        T(test_page_without_resolution_is_taken_as_fine),
        T(test_g4_msb_page_renders_like_the_tiff),
        T(test_g4_lsb_page_renders_like_the_tiff),
        T(test_g3_1d_page_renders_like_the_tiff),
        T(test_g3_2d_page_renders_like_the_tiff),
        T(test_g3_pages_with_byte_aligned_eols_render_like_the_tiff),
        T(test_g3_page_in_several_strips_is_embedded_as_stored),
        T(test_min_is_black_page_renders_like_the_tiff),
        T(test_standard_and_superfine_pages_render_like_the_tiff),
        T(test_g4_page_in_several_strips_is_reencoded),
        T(test_uncompressed_page_is_reencoded),
        T(test_page_that_is_not_a_tiff_is_refused_naming_it),
        T(test_page_cut_short_is_refused),
        T(test_write_error_is_returned),
        T(test_no_pages_is_refused),
        T(test_pages_are_opened_one_at_a_time),
        T(test_page_that_cannot_be_opened_is_named),
        S(test_open_pdf_is_made_once_and_kept_in_the_spool),
        S(test_damaged_kept_pdf_is_made_again),
        S(test_open_pdf_survives_a_restart),
        M(test_open_pdf_without_a_cache_is_written_for_each_reader),
        M(test_open_pdf_of_an_unknown_job_is_enoent),
        S(test_received_fax_has_its_pdf_once_the_call_ended),
        S(test_received_fax_without_pages_has_no_pdf),
        S(test_damaged_page_in_the_spool_gives_eio),
        S(test_failed_write_keeps_no_pdf),
        T(test_report_has_its_objects_text_and_thumbnail),
        T(test_report_without_a_page_has_no_image),
        T(test_report_text_outside_winansi_prints_as_question_marks),
        T(test_report_with_too_many_lines_is_refused),
        T(test_report_with_every_value_at_its_longest_still_fits),
        S(test_report_of_a_done_job_is_made_once_and_kept),
        S(test_report_of_a_failed_job_names_the_error),
        S(test_job_canceled_before_any_attempt_has_no_report),
        S(test_receipt_record_is_stored_with_the_final_state),
        M(test_receipt_only_when_asked_for),
        M(test_owner_default_receipt_when_the_job_asks_for_none),
        M(test_redeliver_sends_a_receipt_again_only_when_it_failed),
        M(test_submit_checks_receipt_addresses_with_the_mail_code),
        S(test_every_attempt_stores_one_receipt_per_retried_attempt_and_the_final),
        T(test_attempt_receipts_leave_room_for_the_final_one),
    };
    return cmocka_run_group_tests(tests, NULL, NULL);
}

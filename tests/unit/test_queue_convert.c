/*
 * test_queue_convert.c - documents that are not fax TIFFs: PNG and JPEG
 * pictures, PostScript and PDF rendered by Ghostscript, cover pages; and
 * the refusals that keep a hostile document from costing unbounded memory,
 * time or disk (picture bombs, endless PostScript, oversized output).
 */
#include <stdarg.h>
#include <stddef.h>
#include <setjmp.h>
#include <cmocka.h>

#include <errno.h>
#include <stdio.h> /* before jpeglib.h */
#include <jpeglib.h>
#include <png.h>
#include <stdlib.h>
#include <string.h>
#include <sys/mman.h>
#include <tiffio.h>
#include <unistd.h>

#include "queue/backend_mem.h"
#include "queue/cover.h"
#include "queue/document.h"
#include "queue_testutil.h"

#define GS "/usr/bin/gs"

/* ---- inputs made on the fly ---------------------------------------- */

static int text_doc(const char *text)
{
    int fd = memfd_create("doc", 0);
    assert_int_equal(write(fd, text, strlen(text)), (ssize_t)strlen(text));
    return fd;
}

/* A grey gradient, left to right, w x h. */
static int make_png(uint32_t w, uint32_t h)
{
    png_image img;
    unsigned char *px = malloc((size_t)w * h);
    int fd = memfd_create("png", 0);
    FILE *f = fdopen(dup(fd), "wb");

    for (size_t i = 0; i < (size_t)w * h; i++)
        px[i] = (unsigned char)(i % w * 255 / w);
    memset(&img, 0, sizeof img);
    img.version = PNG_IMAGE_VERSION;
    img.width = w;
    img.height = h;
    img.format = PNG_FORMAT_GRAY;
    assert_true(png_image_write_to_stdio(&img, f, 0, px, 0, NULL));
    fclose(f);
    free(px);
    return fd;
}

/* Only an IHDR claiming w x h: nothing to decode behind it. */
static int make_png_header_only(uint32_t w, uint32_t h)
{
    int fd = memfd_create("bomb", 0);
    FILE *f = fdopen(dup(fd), "wb");
    png_structp png = png_create_write_struct(PNG_LIBPNG_VER_STRING, NULL, NULL, NULL);
    png_infop info = png_create_info_struct(png);

    png_set_user_limits(png, 0x7fffffff, 0x7fffffff);
    png_init_io(png, f);
    png_set_IHDR(png, info, w, h, 8, PNG_COLOR_TYPE_RGB, PNG_INTERLACE_NONE, PNG_COMPRESSION_TYPE_DEFAULT,
                 PNG_FILTER_TYPE_DEFAULT);
    png_write_info(png, info);
    png_destroy_write_struct(&png, &info);
    fclose(f);
    return fd;
}

static int make_jpeg(uint32_t w, uint32_t h, int dpi)
{
    struct jpeg_compress_struct c;
    struct jpeg_error_mgr err;
    int fd = memfd_create("jpeg", 0);
    FILE *f = fdopen(dup(fd), "wb");
    unsigned char *row = malloc((size_t)w * 3);

    c.err = jpeg_std_error(&err);
    jpeg_create_compress(&c);
    jpeg_stdio_dest(&c, f);
    c.image_width = w;
    c.image_height = h;
    c.input_components = 3;
    c.in_color_space = JCS_RGB;
    jpeg_set_defaults(&c);
    c.density_unit = 1;
    c.X_density = c.Y_density = (UINT16)dpi;
    jpeg_start_compress(&c, TRUE);
    for (uint32_t y = 0; y < h; y++) {
        for (uint32_t x = 0; x < w; x++) {
            row[x * 3] = (unsigned char)(x * 255 / w);
            row[x * 3 + 1] = (unsigned char)(y * 255 / h);
            row[x * 3 + 2] = 128;
        }
        JSAMPROW r = row;
        jpeg_write_scanlines(&c, &r, 1);
    }
    jpeg_finish_compress(&c);
    jpeg_destroy_compress(&c);
    fclose(f);
    free(row);
    return fd;
}

static const char two_page_ps[] = "%!PS\n/Helvetica findfont 24 scalefont setfont\n"
                                  "72 700 moveto (Page one) show showpage\n"
                                  "72 700 moveto (Page two) show showpage\n";

/* The PostScript above as a PDF, made by Ghostscript's pdfwrite. */
static int make_pdf(void)
{
    char dir[256], cmd[1024], path[300];

    make_temp_dir(dir, sizeof dir);
    snprintf(path, sizeof path, "%s/in.ps", dir);
    FILE *f = fopen(path, "w");
    fputs(two_page_ps, f);
    fclose(f);
    snprintf(cmd, sizeof cmd, GS " -q -dSAFER -dBATCH -dNOPAUSE -sDEVICE=pdfwrite -sOutputFile=%s/out.pdf %s",
             dir, path);
    assert_int_equal(system(cmd), 0);
    snprintf(path, sizeof path, "%s/out.pdf", dir);
    f = fopen(path, "rb");
    assert_non_null(f);
    int fd = memfd_create("pdf", 0);
    char buf[4096];
    size_t n;
    while ((n = fread(buf, 1, sizeof buf, f)) > 0)
        assert_int_equal(write(fd, buf, n), (ssize_t)n);
    fclose(f);
    remove_dir(dir);
    return fd;
}

/* ---- document_split directly --------------------------------------- */

struct pages {
    int fds[16];
    int n;
};

static int sink_page(void *ctx, int index)
{
    struct pages *p = ctx;
    assert_true(p->n < 16);
    int fd = memfd_create("page", 0);
    (void)index;
    p->fds[p->n++] = fd;
    return dup(fd);
}

static void close_pages(struct pages *p)
{
    for (int i = 0; i < p->n; i++)
        close(p->fds[i]);
}

static struct document_options opts(int resolution)
{
    struct document_options o = {
        .max_bytes = QUEUE_DEFAULT_MAX_DOCUMENT_BYTES, .resolution = resolution, .ghostscript = GS,
        .render_seconds = 30,
    };
    return o;
}

static int split_with(int fd, const struct document_options *o, struct pages *p, struct document_result *res,
                      char *why)
{
    struct document_sink sink = {sink_page, p};
    int r = document_split(fd, o, 0, &sink, res, why, 256);
    close(fd);
    return r;
}

static int split(int fd, int resolution, struct pages *p, struct document_result *res, char *why)
{
    struct document_options o = opts(resolution);
    return split_with(fd, &o, p, res, why);
}

struct page_facts {
    uint32_t width, rows;
    uint16_t compression, bps;
    float yres;
    size_t black; /* black pixels */
};

static struct page_facts facts(int fd)
{
    struct page_facts pf = {0};
    lseek(fd, 0, SEEK_SET);
    TIFF *t = TIFFFdOpen(dup(fd), "page", "r");

    assert_non_null(t);
    TIFFGetField(t, TIFFTAG_IMAGEWIDTH, &pf.width);
    TIFFGetField(t, TIFFTAG_IMAGELENGTH, &pf.rows);
    TIFFGetField(t, TIFFTAG_COMPRESSION, &pf.compression);
    TIFFGetField(t, TIFFTAG_BITSPERSAMPLE, &pf.bps);
    TIFFGetField(t, TIFFTAG_YRESOLUTION, &pf.yres);
    unsigned char *row = malloc((size_t)TIFFScanlineSize(t));
    for (uint32_t y = 0; y < pf.rows; y++) {
        assert_true(TIFFReadScanline(t, row, y, 0) >= 0);
        for (tmsize_t i = 0; i < TIFFScanlineSize(t); i++)
            pf.black += (size_t)__builtin_popcount(row[i]);
    }
    free(row);
    TIFFClose(t);
    return pf;
}

static void assert_fax_page(const struct page_facts *pf, float yres)
{
    assert_int_equal(pf->width, 1728);
    assert_int_equal(pf->bps, 1);
    assert_int_equal(pf->compression, COMPRESSION_CCITTFAX4);
    assert_true(pf->yres == yres);
}

static void test_png_becomes_one_fine_fax_page(void **state)
{
    (void)state;
    struct pages p = {0};
    struct document_result res;
    char why[256] = "";

    assert_int_equal(split(make_png(400, 300), 0, &p, &res, why), 0);
    assert_int_equal(res.pages, 1);
    struct page_facts pf = facts(p.fds[0]);
    assert_fax_page(&pf, 196.0f);
    /* no dpi in the file: as wide as the page, proportions kept */
    assert_int_equal(pf.rows, 1245); /* 300 * 1728/400 * 196/204 = 1245.2 */
    close_pages(&p);
}

static void test_photo_gradient_is_dithered_not_thresholded(void **state)
{
    (void)state;
    struct pages p = {0};
    struct document_result res;
    char why[256] = "";

    assert_int_equal(split(make_png(400, 300), 0, &p, &res, why), 0);
    struct page_facts pf = facts(p.fds[0]);
    /* a left-to-right gradient: about half the dots black; thresholding
     * would give exactly the left half, dithering spreads them */
    double share = (double)pf.black / (1728.0 * pf.rows);
    assert_true(share > 0.40 && share < 0.60);
    close_pages(&p);
}

static void test_jpeg_at_its_printed_size(void **state)
{
    (void)state;
    struct pages p = {0};
    struct document_result res;
    char why[256] = "";

    /* 600 x 150 pixels at 150 dpi: 4 x 1 inches */
    assert_int_equal(split(make_jpeg(600, 150, 150), 0, &p, &res, why), 0);
    struct page_facts pf = facts(p.fds[0]);
    assert_fax_page(&pf, 196.0f);
    assert_int_equal(pf.rows, 196);
    close_pages(&p);
}

static void test_standard_resolution_halves_the_rows(void **state)
{
    (void)state;
    struct pages p = {0};
    struct document_result res;
    char why[256] = "";

    assert_int_equal(split(make_jpeg(600, 150, 150), JOB_RES_STANDARD, &p, &res, why), 0);
    struct page_facts pf = facts(p.fds[0]);
    assert_fax_page(&pf, 98.0f);
    assert_int_equal(pf.rows, 98);
    close_pages(&p);
}

static void test_png_bomb_is_refused_before_decoding(void **state)
{
    (void)state;
    struct pages p = {0};
    struct document_result res;
    char why[256] = "";

    assert_int_equal(split(make_png_header_only(50000, 50000), 0, &p, &res, why), -EINVAL);
    if (strstr(why, "50000x50000 pixels") == NULL)
        fail_msg("reason: %s", why);
    assert_non_null(strstr(why, "scale it down"));
    assert_int_equal(p.n, 0);
}

static void test_truncated_png_is_refused(void **state)
{
    (void)state;
    struct pages p = {0};
    struct document_result res;
    char why[256] = "";
    int fd = make_png(400, 300);

    assert_int_equal(ftruncate(fd, lseek(fd, 0, SEEK_END) / 2), 0);
    assert_int_equal(split(fd, 0, &p, &res, why), -EINVAL);
    assert_non_null(strstr(why, "PNG picture"));
    close_pages(&p);
}

static void test_truncated_jpeg_is_refused(void **state)
{
    (void)state;
    struct pages p = {0};
    struct document_result res;
    char why[256] = "";
    int fd = make_jpeg(64, 64, 72);

    assert_int_equal(ftruncate(fd, 100), 0);
    assert_int_equal(split(fd, 0, &p, &res, why), -EINVAL);
    assert_non_null(strstr(why, "JPEG picture"));
    close_pages(&p);
}

static void test_postscript_pages_become_fax_pages(void **state)
{
    (void)state;
    struct pages p = {0};
    struct document_result res;
    char why[256] = "";

    if (split(text_doc(two_page_ps), 0, &p, &res, why) != 0)
        fail_msg("refused: %s", why);
    assert_int_equal(res.pages, 2);
    struct page_facts pf = facts(p.fds[1]);
    assert_fax_page(&pf, 196.0f);
    assert_int_equal(pf.rows, 2291); /* A4 length */
    assert_true(pf.black > 100);     /* the text is there */
    close_pages(&p);
}

static void test_pdf_pages_become_fax_pages(void **state)
{
    (void)state;
    struct pages p = {0};
    struct document_result res;
    char why[256] = "";

    if (split(make_pdf(), JOB_RES_SUPERFINE, &p, &res, why) != 0)
        fail_msg("refused: %s", why);
    assert_int_equal(res.pages, 2);
    struct page_facts pf = facts(p.fds[0]);
    assert_fax_page(&pf, 391.0f);
    close_pages(&p);
}

static void test_letter_page_fits_the_fax_width(void **state)
{
    (void)state;
    struct pages p = {0};
    struct document_result res;
    char why[256] = "";
    /* a frame around the whole Letter page: it must survive on all sides */
    const char *letter = "%!PS\n<< /PageSize [612 792] >> setpagedevice\n"
                         "10 setlinewidth 5 5 602 782 rectstroke showpage\n";

    assert_int_equal(split(text_doc(letter), 0, &p, &res, why), 0);
    struct page_facts pf = facts(p.fds[0]);
    assert_fax_page(&pf, 196.0f);
    assert_true(pf.black > 2 * 1700 * 10); /* top and bottom edges at least */
    close_pages(&p);
}

static void test_endless_postscript_is_killed_at_the_time_limit(void **state)
{
    (void)state;
    struct pages p = {0};
    struct document_result res;
    char why[256] = "";
    struct document_options o = opts(0);

    o.render_seconds = 1;
    assert_int_equal(split_with(text_doc("%!PS\n{} loop\n"), &o, &p, &res, why), -ETIMEDOUT);
    assert_non_null(strstr(why, "took longer than 1 seconds"));
    assert_int_equal(p.n, 0);
}

static void test_postscript_rendering_to_too_many_bytes_is_refused(void **state)
{
    (void)state;
    struct pages p = {0};
    struct document_result res;
    char why[256] = "";
    struct document_options o = opts(0);
    /* 30 pages of fine checkerboard: hundreds of kilobytes of G4 */
    const char *noisy = "%!PS\n30 { 0 2 595 { /x exch def 0 2 842 { x exch 1 1 rectfill } for } for showpage } repeat\n";

    o.max_bytes = 20000;
    assert_int_equal(split_with(text_doc(noisy), &o, &p, &res, why), -EFBIG);
    assert_non_null(strstr(why, "more than 20000 bytes"));
}

static void test_postscript_cannot_read_files(void **state)
{
    (void)state;
    struct pages p = {0};
    struct document_result res;
    char why[256] = "";

    assert_int_equal(split(text_doc("%!PS\n(/etc/passwd) (r) file pop showpage\n"), 0, &p, &res, why), -EINVAL);
    assert_non_null(strstr(why, "cannot be rendered"));
    close_pages(&p);
}

static void test_missing_ghostscript_is_named(void **state)
{
    (void)state;
    struct pages p = {0};
    struct document_result res;
    char why[256] = "";
    struct document_options o = opts(0);

    o.ghostscript = "/nonexistent/gs";
    assert_int_equal(split_with(text_doc(two_page_ps), &o, &p, &res, why), -ENOENT);
    assert_non_null(strstr(why, "install ghostscript"));
}

static void test_type_is_found_by_content_not_name(void **state)
{
    (void)state;
    int fd;

    assert_int_equal(document_sniff(fd = make_png(4, 4)), DOC_PNG);
    close(fd);
    assert_int_equal(document_sniff(fd = make_jpeg(8, 8, 72)), DOC_JPEG);
    close(fd);
    assert_int_equal(document_sniff(fd = text_doc("%!PS-Adobe-3.0\n")), DOC_POSTSCRIPT);
    close(fd);
    assert_int_equal(document_sniff(fd = text_doc("\n\n%PDF-1.7\n")), DOC_PDF);
    close(fd);
    assert_int_equal(document_sniff(fd = make_good_tiff(1)), DOC_TIFF);
    close(fd);
    assert_int_equal(document_sniff(fd = text_doc("plain text")), DOC_UNKNOWN);
    close(fd);
}

/* ---- cover pages ---------------------------------------------------- */

static void test_cover_program_escapes_hostile_text(void **state)
{
    (void)state;
    struct job j;
    char *ps;
    size_t len;

    job_init(&j);
    strcpy(j.recipient_name, ") showpage (/etc/passwd) (r) file (");
    strcpy(j.sender_name, "back\\slash \xc3\xa9t\xc3\xa9 \xe2\x82\xac"); /* été € */
    assert_int_equal(cover_page_program(&j, 3, "line one\nline (two)", &ps, &len), 0);
    assert_non_null(strstr(ps, "(\\) showpage \\(/etc/passwd\\) \\(r\\) file \\()"));
    assert_non_null(strstr(ps, "(back\\\\slash \\351t\\351 ?)"));
    assert_non_null(strstr(ps, "(line \\(two\\)) line"));
    assert_non_null(strstr(ps, "(3, including this cover page)"));
    for (size_t i = 0; i < len; i++)
        assert_true(ps[i] == '\n' || (ps[i] >= 0x20 && ps[i] < 0x7f));
    free(ps);
}

static void test_long_comment_is_wrapped_and_cut(void **state)
{
    (void)state;
    struct job j;
    char comment[1024], *ps;
    size_t len;

    job_init(&j);
    memset(comment, 'x', sizeof comment - 1);
    comment[sizeof comment - 1] = '\0';
    for (int i = 5; i < 1000; i += 6)
        comment[i] = '\n'; /* 166 short lines */
    assert_int_equal(cover_page_program(&j, 1, comment, &ps, &len), 0);
    assert_non_null(strstr(ps, "(...) line"));
    free(ps);
}

struct engine {
    struct fake_clock clock;
    struct queue_backend *mem;
    struct queue_config cfg;
    struct queue *q;
};

static int engine_setup(void **state)
{
    struct engine *e = calloc(1, sizeof *e);

    e->clock.now = 1790000000;
    e->mem = backend_mem_create();
    test_config(&e->cfg, &e->clock, NULL, e->mem, NULL);
    assert_int_equal(queue_open(&e->q, &e->cfg), 0);
    *state = e;
    return 0;
}

static int engine_teardown(void **state)
{
    struct engine *e = *state;
    queue_close(e->q);
    backend_mem_destroy(e->mem);
    free(e);
    return 0;
}

static void test_cover_page_is_page_one_and_counted(void **state)
{
    struct engine *e = *state;
    struct queue_request req = {0};
    char why[256] = "";
    uint64_t id;
    struct job j;
    int fd = make_good_tiff(2);

    strcpy(req.recipient_number, "5551234");
    strcpy(req.recipient_name, "Ada (Accounts)");
    strcpy(req.sender_name, "Bob");
    req.cover_page = true;
    strcpy(req.cover_comment, "Please sign and return.");
    if (queue_submit(e->q, &test_owner, &req, &fd, 1, &id, why, sizeof why) != 0)
        fail_msg("refused: %s", why);
    close(fd);
    assert_int_equal(queue_snapshot(e->q, id, &j), 0);
    assert_int_equal(j.page_count, 3);
    int page = queue_open_page(e->q, id, 0);
    struct page_facts cover = facts(page);
    close(page);
    assert_int_equal(cover.rows, 2291); /* rendered, A4 long */
    assert_true(cover.black > 1000);
    page = queue_open_page(e->q, id, 1);
    assert_int_equal(facts(page).rows, 100); /* the document's first page */
    close(page);
}

static void test_resolution_is_recorded_on_the_job(void **state)
{
    struct engine *e = *state;
    struct queue_request req = {0};
    char why[256] = "";
    uint64_t id;
    struct job j;
    int fd = make_png(100, 100);

    strcpy(req.recipient_number, "5551234");
    req.resolution = JOB_RES_STANDARD;
    assert_int_equal(queue_submit(e->q, &test_owner, &req, &fd, 1, &id, why, sizeof why), 0);
    close(fd);
    assert_int_equal(queue_snapshot(e->q, id, &j), 0);
    assert_int_equal(j.resolution, JOB_RES_STANDARD);
    int page = queue_open_page(e->q, id, 0);
    assert_true(facts(page).yres == 98.0f);
    close(page);
}

static void test_unknown_resolution_is_refused(void **state)
{
    struct engine *e = *state;
    struct queue_request req = {0};
    char why[256] = "";
    uint64_t id;
    int fd = make_good_tiff(1);

    strcpy(req.recipient_number, "5551234");
    req.resolution = 9;
    assert_int_equal(queue_submit(e->q, &test_owner, &req, &fd, 1, &id, why, sizeof why), -EINVAL);
    close(fd);
    assert_non_null(strstr(why, "standard, fine or superfine"));
}

int main(void)
{
#define E(name) cmocka_unit_test_setup_teardown(name, engine_setup, engine_teardown)
    const struct CMUnitTest tests[] = {
        cmocka_unit_test(test_png_becomes_one_fine_fax_page),
        cmocka_unit_test(test_photo_gradient_is_dithered_not_thresholded),
        cmocka_unit_test(test_jpeg_at_its_printed_size),
        cmocka_unit_test(test_standard_resolution_halves_the_rows),
        cmocka_unit_test(test_png_bomb_is_refused_before_decoding),
        cmocka_unit_test(test_truncated_png_is_refused),
        cmocka_unit_test(test_truncated_jpeg_is_refused),
        cmocka_unit_test(test_postscript_pages_become_fax_pages),
        cmocka_unit_test(test_pdf_pages_become_fax_pages),
        cmocka_unit_test(test_letter_page_fits_the_fax_width),
        cmocka_unit_test(test_endless_postscript_is_killed_at_the_time_limit),
        cmocka_unit_test(test_postscript_rendering_to_too_many_bytes_is_refused),
        cmocka_unit_test(test_postscript_cannot_read_files),
        cmocka_unit_test(test_missing_ghostscript_is_named),
        cmocka_unit_test(test_type_is_found_by_content_not_name),
        cmocka_unit_test(test_cover_program_escapes_hostile_text),
        cmocka_unit_test(test_long_comment_is_wrapped_and_cut),
        E(test_cover_page_is_page_one_and_counted),
        E(test_resolution_is_recorded_on_the_job),
        E(test_unknown_resolution_is_refused),
    };
    return cmocka_run_group_tests(tests, NULL, NULL);
}

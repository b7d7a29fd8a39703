/*
 * test_queue_document.c - intake of submitted TIFFs: good fax TIFFs are
 * split into single-page G4 files unchanged, other TIFF pages are
 * converted to fax pages, and damaged or oversized files are refused with
 * a sentence naming the page and the fix. test_queue_convert.c covers the
 * other document types.
 */
#include <stdarg.h>
#include <stddef.h>
#include <setjmp.h>
#include <cmocka.h>

#include <errno.h>
#include <fcntl.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/mman.h>
#include <tiffio.h>
#include <unistd.h>

#include "queue/document.h"
#include "queue_testutil.h"

struct pages {
    int fds[16]; /* read-back copies of what was written */
    int n;
};

static int sink_page(void *ctx, int index)
{
    struct pages *p = ctx;
    int fd = memfd_create("page", 0);
    assert_int_equal(index, p->n);
    p->fds[p->n++] = fd;
    return dup(fd);
}

static void close_pages(struct pages *p)
{
    for (int i = 0; i < p->n; i++)
        close(p->fds[i]);
}

static const struct document_options options = {.max_bytes = QUEUE_DEFAULT_MAX_DOCUMENT_BYTES};

static int split(int fd, struct pages *p, struct document_result *res, char *why)
{
    struct document_sink sink = {sink_page, p};
    int r = document_split(fd, &options, 0, &sink, res, why, 200);
    close(fd);
    return r;
}

static void assert_refused(const struct tiff_spec *spec, const char *reason_part)
{
    struct pages p = {0};
    struct document_result res;
    char why[200] = "";

    assert_int_equal(split(make_tiff(spec), &p, &res, why), -EINVAL);
    if (strstr(why, reason_part) == NULL)
        fail_msg("reason \"%s\" does not mention \"%s\"", why, reason_part);
    close_pages(&p);
}

static void test_good_two_page_document_becomes_two_g4_pages(void **state)
{
    (void)state;
    struct pages p = {0};
    struct document_result res;
    char why[200];

    assert_int_equal(split(make_good_tiff(2), &p, &res, why), 0);
    assert_int_equal(res.pages, 2);
    assert_int_equal(p.n, 2);
    assert_true(res.bytes > 0);
    for (int i = 0; i < 2; i++) {
        lseek(p.fds[i], 0, SEEK_SET);
        TIFF *t = TIFFFdOpen(dup(p.fds[i]), "page", "r");
        uint16_t comp, bps, photo;
        uint32_t w, h;
        float xres, yres;
        assert_non_null(t);
        assert_int_equal(TIFFNumberOfDirectories(t), 1);
        TIFFGetField(t, TIFFTAG_COMPRESSION, &comp);
        TIFFGetField(t, TIFFTAG_BITSPERSAMPLE, &bps);
        TIFFGetField(t, TIFFTAG_PHOTOMETRIC, &photo);
        TIFFGetField(t, TIFFTAG_IMAGEWIDTH, &w);
        TIFFGetField(t, TIFFTAG_IMAGELENGTH, &h);
        TIFFGetField(t, TIFFTAG_XRESOLUTION, &xres);
        TIFFGetField(t, TIFFTAG_YRESOLUTION, &yres);
        assert_int_equal(comp, COMPRESSION_CCITTFAX4);
        assert_int_equal(bps, 1);
        assert_int_equal(photo, PHOTOMETRIC_MINISWHITE);
        assert_int_equal(w, 1728);
        assert_int_equal(h, 100);
        assert_true(xres > 203 && xres < 205);
        assert_true(yres > 195 && yres < 197);
        /* the pixels survive the re-encoding */
        unsigned char row[216];
        for (uint32_t y = 0; y < 10; y++) {
            assert_true(TIFFReadScanline(t, row, y, 0) >= 0);
            assert_int_equal(row[0], y < 8 ? 0xf0 : 0x00);
        }
        TIFFClose(t);
    }
    close_pages(&p);
}

static void test_missing_resolution_is_taken_as_fine(void **state)
{
    (void)state;
    struct tiff_spec spec = {1, 1728, 20, 1, 0, 0, 1};
    struct pages p = {0};
    struct document_result res;
    char why[200];

    assert_int_equal(split(make_tiff(&spec), &p, &res, why), 0);
    close_pages(&p);
}

/* Opens page i of p and checks it is a G4 fax page; returns its rows. */
static uint32_t assert_fax_page(struct pages *p, int i, float want_yres)
{
    lseek(p->fds[i], 0, SEEK_SET);
    TIFF *t = TIFFFdOpen(dup(p->fds[i]), "page", "r");
    uint16_t comp = 0, bps = 0;
    uint32_t w = 0, h = 0;
    float yres = 0;

    assert_non_null(t);
    TIFFGetField(t, TIFFTAG_COMPRESSION, &comp);
    TIFFGetField(t, TIFFTAG_BITSPERSAMPLE, &bps);
    TIFFGetField(t, TIFFTAG_IMAGEWIDTH, &w);
    TIFFGetField(t, TIFFTAG_IMAGELENGTH, &h);
    TIFFGetField(t, TIFFTAG_YRESOLUTION, &yres);
    TIFFClose(t);
    assert_int_equal(comp, COMPRESSION_CCITTFAX4);
    assert_int_equal(bps, 1);
    assert_int_equal(w, 1728);
    assert_true(yres == want_yres);
    return h;
}

static void assert_converted(const struct tiff_spec *spec, uint32_t want_rows)
{
    struct pages p = {0};
    struct document_result res;
    char why[200] = "";

    if (split(make_tiff(spec), &p, &res, why) != 0)
        fail_msg("refused: %s", why);
    assert_int_equal(res.pages, 1);
    assert_int_equal(assert_fax_page(&p, 0, 196.0f), want_rows);
    close_pages(&p);
}

static void test_eight_bit_page_is_converted_to_a_fax_page(void **state)
{
    (void)state;
    struct tiff_spec spec = {1, 1728, 20, 8, 204, 196, 1};
    assert_converted(&spec, 20);
}

static void test_page_of_another_width_is_fitted_to_the_fax_width(void **state)
{
    (void)state;
    /* 1700 dots at 204 dpi fit as they are: same rows, centred */
    struct tiff_spec spec = {1, 1700, 20, 1, 204, 196, 1};
    assert_converted(&spec, 20);
}

static void test_long_page_is_shrunk_to_an_a4_length(void **state)
{
    (void)state;
    struct tiff_spec spec = {1, 1728, 9000, 1, 204, 196, 1};
    assert_converted(&spec, 2291); /* 11.69 in at 196 dpi */
}

static void test_300_dpi_scan_is_scaled_to_fax_resolution(void **state)
{
    (void)state;
    /* 2480 x 300 dots at 300 dpi: 8.27 x 1 in -> 1686 x 196 fax dots */
    struct tiff_spec spec = {1, 2480, 300, 1, 300, 300, 1};
    assert_converted(&spec, 196);
}

static void test_huge_picture_page_is_refused_before_decoding(void **state)
{
    (void)state;
    struct tiff_spec spec = {1, 60000, 1000, 1, 204, 196, 1};
    assert_refused(&spec, "60000x1000 pixels");
}

static void test_truncated_tiff_is_refused(void **state)
{
    (void)state;
    struct pages p = {0};
    struct document_result res;
    char why[200] = "";
    int fd = make_good_tiff(2);
    off_t size = lseek(fd, 0, SEEK_END);

    /* keep the header but cut into the image data */
    assert_int_equal(ftruncate(fd, size / 3), 0);
    assert_int_equal(split(fd, &p, &res, why), -EINVAL);
    assert_true(why[0] != '\0');
    close_pages(&p);
}

static void test_unknown_format_is_refused_naming_the_accepted_ones(void **state)
{
    (void)state;
    struct pages p = {0};
    struct document_result res;
    char why[200];
    int fd = memfd_create("doc", 0);

    assert_int_equal(write(fd, "hello world\n", 12), 12);
    assert_int_equal(split(fd, &p, &res, why), -EINVAL);
    assert_non_null(strstr(why, "not a PDF, PostScript, TIFF, PNG or JPEG file"));
    assert_int_equal(p.n, 0);
}

static void test_pdf_is_refused_when_ghostscript_is_not_enabled(void **state)
{
    (void)state;
    struct pages p = {0};
    struct document_result res;
    char why[200];
    int fd = memfd_create("doc", 0);

    assert_int_equal(write(fd, "%PDF-1.4\nhello world\n", 21), 21);
    assert_int_equal(split(fd, &p, &res, why), -EINVAL);
    assert_non_null(strstr(why, "PDF and PostScript are not enabled"));
    assert_int_equal(p.n, 0);
}

static void test_tiff_with_zero_pages_is_refused(void **state)
{
    (void)state;
    struct pages p = {0};
    struct document_result res;
    char why[200];
    int fd = memfd_create("doc", 0);

    assert_int_equal(write(fd, "II*\0\0\0\0\0", 8), 8);
    assert_int_equal(split(fd, &p, &res, why), -EINVAL);
    assert_non_null(strstr(why, "no pages"));
}

static void test_empty_file_is_refused(void **state)
{
    (void)state;
    struct pages p = {0};
    struct document_result res;
    char why[200];

    assert_int_equal(split(memfd_create("doc", 0), &p, &res, why), -EINVAL);
}

static void test_colour_page_is_converted(void **state)
{
    (void)state;
    struct tiff_spec spec = {1, 1728, 4, 8, 204, 196, 3};
    assert_converted(&spec, 4);
}

static void test_absurd_width_is_refused_before_decoding(void **state)
{
    (void)state;
    struct tiff_spec spec = {1, 200000, 1, 1, 204, 196, 1};
    assert_refused(&spec, "200000x1 pixels");
}

static void test_document_over_the_size_limit_is_refused(void **state)
{
    (void)state;
    struct pages p = {0};
    struct document_result res;
    struct document_sink sink = {sink_page, &p};
    char why[200];
    int fd = make_good_tiff(1);

    struct document_options small = {.max_bytes = 100};
    assert_int_equal(document_split(fd, &small, 0, &sink, &res, why, sizeof why), -EFBIG);
    assert_non_null(strstr(why, "limit"));
    close(fd);
}

static void test_fax_page_is_kept_and_greyscale_page_converted_in_one_document(void **state)
{
    (void)state;
    /* a good page followed by a greyscale one */
    int fd = memfd_create("doc", 0);
    TIFF *t = TIFFFdOpen(dup(fd), "doc", "w");
    unsigned char row[1728];
    memset(row, 0, sizeof row);
    for (int p = 0; p < 2; p++) {
        int bps = p == 0 ? 1 : 8;
        TIFFSetField(t, TIFFTAG_IMAGEWIDTH, 1728);
        TIFFSetField(t, TIFFTAG_IMAGELENGTH, 4);
        TIFFSetField(t, TIFFTAG_BITSPERSAMPLE, bps);
        TIFFSetField(t, TIFFTAG_SAMPLESPERPIXEL, 1);
        TIFFSetField(t, TIFFTAG_PHOTOMETRIC, PHOTOMETRIC_MINISWHITE);
        TIFFSetField(t, TIFFTAG_ROWSPERSTRIP, 4);
        for (int y = 0; y < 4; y++)
            TIFFWriteScanline(t, row, (uint32_t)y, 0);
        TIFFWriteDirectory(t);
    }
    TIFFClose(t);
    struct pages p = {0};
    struct document_result res;
    char why[200];
    assert_int_equal(split(fd, &p, &res, why), 0);
    assert_int_equal(res.pages, 2);
    assert_int_equal(assert_fax_page(&p, 0, 196.0f), 4);
    assert_int_equal(assert_fax_page(&p, 1, 196.0f), 4);
    close_pages(&p);
}

int main(void)
{
    const struct CMUnitTest tests[] = {
        cmocka_unit_test(test_good_two_page_document_becomes_two_g4_pages),
        cmocka_unit_test(test_missing_resolution_is_taken_as_fine),
        cmocka_unit_test(test_eight_bit_page_is_converted_to_a_fax_page),
        cmocka_unit_test(test_page_of_another_width_is_fitted_to_the_fax_width),
        cmocka_unit_test(test_long_page_is_shrunk_to_an_a4_length),
        cmocka_unit_test(test_300_dpi_scan_is_scaled_to_fax_resolution),
        cmocka_unit_test(test_huge_picture_page_is_refused_before_decoding),
        cmocka_unit_test(test_truncated_tiff_is_refused),
        cmocka_unit_test(test_unknown_format_is_refused_naming_the_accepted_ones),
        cmocka_unit_test(test_pdf_is_refused_when_ghostscript_is_not_enabled),
        cmocka_unit_test(test_tiff_with_zero_pages_is_refused),
        cmocka_unit_test(test_empty_file_is_refused),
        cmocka_unit_test(test_colour_page_is_converted),
        cmocka_unit_test(test_absurd_width_is_refused_before_decoding),
        cmocka_unit_test(test_document_over_the_size_limit_is_refused),
        cmocka_unit_test(test_fax_page_is_kept_and_greyscale_page_converted_in_one_document),
    };
    return cmocka_run_group_tests(tests, NULL, NULL);
}

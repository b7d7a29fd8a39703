/*
 * test_queue_document.c - intake of submitted documents: good fax TIFFs
 * are split into single-page G4 files; everything else is refused with a
 * sentence naming the page and the fix.
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

static int split(int fd, struct pages *p, struct document_result *res, char *why)
{
    struct document_sink sink = {sink_page, p};
    int r = document_split(fd, QUEUE_DEFAULT_MAX_DOCUMENT_BYTES, 0, &sink, res, why, 200);
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

static void test_eight_bit_page_is_refused_naming_the_page(void **state)
{
    (void)state;
    struct tiff_spec spec = {1, 1728, 20, 8, 204, 196, 1};
    assert_refused(&spec, "page 1: 8 bits per sample; fax pages must be 1-bit");
}

static void test_wrong_width_is_refused(void **state)
{
    (void)state;
    struct tiff_spec spec = {1, 1700, 20, 1, 204, 196, 1};
    assert_refused(&spec, "1700 pixels wide");
}

static void test_absurd_height_is_refused_before_decoding(void **state)
{
    (void)state;
    struct tiff_spec spec = {1, 1728, 9000, 1, 204, 196, 1};
    assert_refused(&spec, "9000 rows");
}

static void test_non_fax_resolution_is_refused(void **state)
{
    (void)state;
    struct tiff_spec spec = {1, 1728, 20, 1, 300, 300, 1};
    assert_refused(&spec, "300x300 dpi");
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

static void test_not_a_tiff_is_refused(void **state)
{
    (void)state;
    struct pages p = {0};
    struct document_result res;
    char why[200];
    int fd = memfd_create("doc", 0);

    assert_int_equal(write(fd, "%PDF-1.4\nhello world\n", 21), 21);
    assert_int_equal(split(fd, &p, &res, why), -EINVAL);
    assert_non_null(strstr(why, "not a TIFF"));
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

static void test_colour_page_is_refused(void **state)
{
    (void)state;
    struct tiff_spec spec = {1, 1728, 4, 8, 204, 196, 3};
    assert_refused(&spec, "page 1: 3 samples per pixel (colour)");
}

static void test_absurd_width_is_refused_before_decoding(void **state)
{
    (void)state;
    struct tiff_spec spec = {1, 200000, 1, 1, 204, 196, 1};
    assert_refused(&spec, "200000 pixels wide");
}

static void test_document_over_the_size_limit_is_refused(void **state)
{
    (void)state;
    struct pages p = {0};
    struct document_result res;
    struct document_sink sink = {sink_page, &p};
    char why[200];
    int fd = make_good_tiff(1);

    assert_int_equal(document_split(fd, 100, 0, &sink, &res, why, sizeof why), -EFBIG);
    assert_non_null(strstr(why, "limit"));
    close(fd);
}

static void test_second_page_is_named_when_it_is_bad(void **state)
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
    assert_int_equal(split(fd, &p, &res, why), -EINVAL);
    assert_non_null(strstr(why, "page 2: 8 bits per sample"));
    close_pages(&p);
}

int main(void)
{
    const struct CMUnitTest tests[] = {
        cmocka_unit_test(test_good_two_page_document_becomes_two_g4_pages),
        cmocka_unit_test(test_missing_resolution_is_taken_as_fine),
        cmocka_unit_test(test_eight_bit_page_is_refused_naming_the_page),
        cmocka_unit_test(test_wrong_width_is_refused),
        cmocka_unit_test(test_absurd_height_is_refused_before_decoding),
        cmocka_unit_test(test_non_fax_resolution_is_refused),
        cmocka_unit_test(test_truncated_tiff_is_refused),
        cmocka_unit_test(test_not_a_tiff_is_refused),
        cmocka_unit_test(test_tiff_with_zero_pages_is_refused),
        cmocka_unit_test(test_empty_file_is_refused),
        cmocka_unit_test(test_colour_page_is_refused),
        cmocka_unit_test(test_absurd_width_is_refused_before_decoding),
        cmocka_unit_test(test_document_over_the_size_limit_is_refused),
        cmocka_unit_test(test_second_page_is_named_when_it_is_bad),
    };
    return cmocka_run_group_tests(tests, NULL, NULL);
}

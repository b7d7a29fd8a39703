/*
 * test_queue_preview.c - queue_page_png(): stored pages become PNGs with
 * square pixels, the same bytes every time, and the picture matches the
 * page.
 */
#include <stdarg.h>
#include <stddef.h>
#include <setjmp.h>
#include <cmocka.h>

#include <errno.h>
#include <png.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <unistd.h>

#include "queue/backend_mem.h"
#include "queue_testutil.h"

static uint64_t submit_tiff(struct queue_fixture *f, float yres, uint32_t rows)
{
    struct tiff_spec spec = {1, 1728, rows, 1, 204.0f, yres, 1};
    struct queue_request req = {0};
    char why[256];
    uint64_t id;
    int fd = make_tiff(&spec);

    strcpy(req.recipient_number, "5551234");
    int r = queue_submit(f->q, &test_owner, &req, &fd, 1, &id, why, sizeof why);
    if (r != 0)
        fail_msg("submit: %s", why);
    close(fd);
    return id;
}

/* Decodes a PNG made by queue_page_png into 8-bit grey rows. */
struct decoded {
    png_uint_32 width, height;
    int bit_depth, colour;
    unsigned char *pixels; /* width * height, 0 black, 255 white */
};

static struct decoded decode(const unsigned char *data, size_t len)
{
    png_image img;
    struct decoded d = {0};

    memset(&img, 0, sizeof img);
    img.version = PNG_IMAGE_VERSION;
    assert_true(png_image_begin_read_from_memory(&img, data, len));
    d.width = img.width;
    d.height = img.height;
    d.colour = (int)img.format;
    img.format = PNG_FORMAT_GRAY;
    d.pixels = malloc(PNG_IMAGE_SIZE(img));
    assert_true(png_image_finish_read(&img, NULL, d.pixels, 0, NULL));
    d.bit_depth = data[24]; /* IHDR: bit depth follows width and height */
    return d;
}

static void test_fine_page_keeps_its_rows(void **state)
{
    struct queue_fixture *f = *state;
    uint64_t id = submit_tiff(f, 196.0f, 100);
    unsigned char *png;
    size_t len;

    assert_int_equal(queue_page_png(f->q, id, 0, &png, &len), 0);
    struct decoded d = decode(png, len);
    assert_int_equal(d.width, 1728);
    assert_int_equal(d.height, 100);
    assert_int_equal(d.bit_depth, 1);
    free(d.pixels);
    free(png);
}

static void test_standard_page_doubles_its_rows(void **state)
{
    struct queue_fixture *f = *state;
    uint64_t id = submit_tiff(f, 98.0f, 100);
    unsigned char *png;
    size_t len;

    assert_int_equal(queue_page_png(f->q, id, 0, &png, &len), 0);
    struct decoded d = decode(png, len);
    assert_int_equal(d.height, 200);
    free(d.pixels);
    free(png);
}

static void test_superfine_page_merges_row_pairs(void **state)
{
    struct queue_fixture *f = *state;
    uint64_t id = submit_tiff(f, 391.0f, 101);
    unsigned char *png;
    size_t len;

    assert_int_equal(queue_page_png(f->q, id, 0, &png, &len), 0);
    struct decoded d = decode(png, len);
    assert_int_equal(d.height, 51);
    free(d.pixels);
    free(png);
}

/* make_tiff draws 8 rows of 0xf0 bytes (4 black, 4 white pixels) then 8
 * white rows. */
static void test_preview_shows_the_page_content(void **state)
{
    struct queue_fixture *f = *state;
    uint64_t id = submit_tiff(f, 196.0f, 16);
    unsigned char *png;
    size_t len;

    assert_int_equal(queue_page_png(f->q, id, 0, &png, &len), 0);
    struct decoded d = decode(png, len);
    assert_int_equal(d.pixels[0], 0);     /* row 0, pixel 0: black */
    assert_int_equal(d.pixels[4], 255);   /* row 0, pixel 4: white */
    assert_int_equal(d.pixels[8 * 1728], 255); /* row 8: white */
    free(d.pixels);
    free(png);
}

static void test_same_page_renders_to_the_same_bytes(void **state)
{
    struct queue_fixture *f = *state;
    uint64_t id = submit_tiff(f, 196.0f, 300);
    unsigned char *a, *b;
    size_t alen, blen;

    assert_int_equal(queue_page_png(f->q, id, 0, &a, &alen), 0);
    assert_int_equal(queue_page_png(f->q, id, 0, &b, &blen), 0);
    assert_int_equal(alen, blen);
    assert_memory_equal(a, b, alen);
    free(a);
    free(b);
}

static void test_page_out_of_range_is_not_found(void **state)
{
    struct queue_fixture *f = *state;
    uint64_t id = submit_tiff(f, 196.0f, 10);
    unsigned char *png = NULL;
    size_t len;

    assert_int_equal(queue_page_png(f->q, id, 1, &png, &len), -ENOENT);
    assert_int_equal(queue_page_png(f->q, id + 1, 0, &png, &len), -ENOENT);
    assert_null(png);
}

#define T(name) cmocka_unit_test_setup_teardown(name, queue_fixture_setup_memory, queue_fixture_teardown)

int main(void)
{
    const struct CMUnitTest tests[] = {
        T(test_fine_page_keeps_its_rows),
        T(test_standard_page_doubles_its_rows),
        T(test_superfine_page_merges_row_pairs),
        T(test_preview_shows_the_page_content),
        T(test_same_page_renders_to_the_same_bytes),
        T(test_page_out_of_range_is_not_found),
    };
    return cmocka_run_group_tests(tests, NULL, NULL);
}

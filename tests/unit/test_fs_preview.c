/*
 * test_fs_preview.c - the page preview cache (fs/preview.c): one render
 * per page, least recently used dropped past the cap, readers keep their
 * bytes across eviction.
 */
#include <errno.h>
#include <setjmp.h>
#include <stdarg.h>
#include <stddef.h>
#include <stdint.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <cmocka.h>

#include "fs/preview.h"

/* A renderer whose output is 100 bytes per page filled with (id + page). */
struct fake {
    int renders;
    int fail_with;
};

static int fake_render(void *ctx, uint64_t id, int page, unsigned char **png, size_t *len)
{
    struct fake *f = ctx;

    if (f->fail_with)
        return f->fail_with;
    f->renders++;
    *png = malloc(100);
    memset(*png, (int)(id + (uint64_t)page), 100);
    *len = 100;
    return 0;
}

static int get(struct fs_previews *c, uint64_t id, int page)
{
    struct fs_png *p;
    int r = fs_preview_get(c, id, page, &p);

    if (r == 0) {
        assert_int_equal(p->bytes[0], (unsigned char)(id + (uint64_t)page));
        fs_png_release(p);
    }
    return r;
}

static void test_a_page_is_rendered_once_then_served_from_the_cache(void **state)
{
    struct fake f = { 0 };
    struct fs_previews c;
    uint64_t size = 0;

    (void)state;
    fs_previews_init(&c, 1000, fake_render, &f);
    assert_false(fs_preview_size_known(&c, 7, 0, &size));
    assert_int_equal(get(&c, 7, 0), 0);
    assert_int_equal(get(&c, 7, 0), 0);
    assert_int_equal(f.renders, 1);
    assert_true(fs_preview_size_known(&c, 7, 0, &size));
    assert_int_equal(size, 100);
    fs_previews_free(&c);
}

static void test_least_recently_used_preview_goes_first_past_the_cap(void **state)
{
    struct fake f = { 0 };
    struct fs_previews c;
    uint64_t size;

    (void)state;
    fs_previews_init(&c, 300, fake_render, &f); /* room for three */
    get(&c, 1, 0);
    get(&c, 1, 1);
    get(&c, 1, 2);
    get(&c, 1, 0); /* page 1 is now the coldest */
    get(&c, 1, 3);
    assert_int_equal(f.renders, 4);
    assert_false(fs_preview_size_known(&c, 1, 1, &size));
    assert_true(fs_preview_size_known(&c, 1, 0, &size));
    assert_true(fs_preview_size_known(&c, 1, 2, &size));
    assert_true(fs_preview_size_known(&c, 1, 3, &size));
    assert_int_equal(c.bytes, 300);
    fs_previews_free(&c);
}

static void test_a_reader_keeps_its_bytes_after_eviction(void **state)
{
    struct fake f = { 0 };
    struct fs_previews c;
    struct fs_png *held;
    uint64_t size;

    (void)state;
    fs_previews_init(&c, 100, fake_render, &f); /* room for one */
    assert_int_equal(fs_preview_get(&c, 5, 0, &held), 0);
    get(&c, 5, 1); /* evicts page 0 while it is held */
    assert_false(fs_preview_size_known(&c, 5, 0, &size));
    assert_int_equal(held->len, 100);
    assert_int_equal(held->bytes[99], 5);
    fs_png_release(held); /* ASan: freed here, exactly once */
    fs_previews_free(&c);
}

static void test_a_preview_larger_than_the_cache_is_served_uncached(void **state)
{
    struct fake f = { 0 };
    struct fs_previews c;
    struct fs_png *p;
    uint64_t size;

    (void)state;
    fs_previews_init(&c, 50, fake_render, &f);
    assert_int_equal(fs_preview_get(&c, 3, 0, &p), 0);
    assert_int_equal(p->len, 100);
    assert_false(fs_preview_size_known(&c, 3, 0, &size));
    assert_int_equal(c.bytes, 0);
    fs_png_release(p);
    fs_previews_free(&c);
}

static void test_render_errors_reach_the_caller_and_cache_nothing(void **state)
{
    struct fake f = { .fail_with = -ENOENT };
    struct fs_previews c;
    struct fs_png *p = NULL;

    (void)state;
    fs_previews_init(&c, 1000, fake_render, &f);
    assert_int_equal(fs_preview_get(&c, 9, 4, &p), -ENOENT);
    assert_null(c.head);
    fs_previews_free(&c);
}

static void test_forgetting_a_job_drops_only_its_previews(void **state)
{
    struct fake f = { 0 };
    struct fs_previews c;
    uint64_t size;

    (void)state;
    fs_previews_init(&c, 1000, fake_render, &f);
    get(&c, 1, 0);
    get(&c, 2, 0);
    get(&c, 1, 1);
    fs_preview_forget(&c, 1);
    assert_false(fs_preview_size_known(&c, 1, 0, &size));
    assert_false(fs_preview_size_known(&c, 1, 1, &size));
    assert_true(fs_preview_size_known(&c, 2, 0, &size));
    assert_int_equal(c.bytes, 100);
    fs_previews_free(&c);
}

static void test_thousands_of_previews_stay_findable_and_leave_oldest_first(void **state)
{
    struct fake f = { 0 };
    struct fs_previews c;
    uint64_t size;

    (void)state;
    fs_previews_init(&c, 100 * 3000, fake_render, &f);
    for (int page = 0; page < 3000; page++)
        get(&c, (uint64_t)(page % 7) + 1, page);
    for (int page = 0; page < 3000; page++)
        assert_true(fs_preview_size_known(&c, (uint64_t)(page % 7) + 1, page, &size));
    get(&c, 99, 0);
    assert_false(fs_preview_size_known(&c, 1, 0, &size));
    assert_true(fs_preview_size_known(&c, 2, 1, &size));
    assert_int_equal(f.renders, 3001);
    fs_previews_free(&c);
}

int main(void)
{
    const struct CMUnitTest tests[] = {
        cmocka_unit_test(test_a_page_is_rendered_once_then_served_from_the_cache),
        cmocka_unit_test(test_least_recently_used_preview_goes_first_past_the_cap),
        cmocka_unit_test(test_a_reader_keeps_its_bytes_after_eviction),
        cmocka_unit_test(test_a_preview_larger_than_the_cache_is_served_uncached),
        cmocka_unit_test(test_render_errors_reach_the_caller_and_cache_nothing),
        cmocka_unit_test(test_forgetting_a_job_drops_only_its_previews),
        cmocka_unit_test(test_thousands_of_previews_stay_findable_and_leave_oldest_first),
    };
    return cmocka_run_group_tests(tests, NULL, NULL);
}

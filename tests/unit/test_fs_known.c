/*
 * test_fs_known.c - the view's table of inodes the kernel may hold
 * (fs/known.c), which decides which inodes the notifier invalidates: a
 * noted inode must be found until its object is dropped, an inode never
 * noted must not be, and dropping one object (linear probing moves others
 * back into the hole) must keep every other object's inodes.
 */
#include <setjmp.h>
#include <stdarg.h>
#include <stddef.h>
#include <stdint.h>
#include <stdlib.h>
#include <cmocka.h>

#include "fs/internal.h"
#include "fs/render.h"

static int setup(void **state)
{
    struct fs *fs = calloc(1, sizeof *fs);
    fs_known_init(&fs->known);
    *state = fs;
    return 0;
}

static int teardown(void **state)
{
    struct fs *fs = *state;
    fs_known_free(&fs->known);
    free(fs);
    return 0;
}

static void noted_inodes_only(void **state)
{
    struct fs *fs = *state;

    assert_false(fs_known_has(fs, fs_ino_make(AREA_JOBS, 100000, NODE_SELF)));
    fs_known_note(fs, fs_ino_make(AREA_JOBS, 100000, NODE_SELF));
    fs_known_note(fs, fs_ino_make(AREA_JOBS, 100000, NODE_LOG));
    assert_true(fs_known_has(fs, fs_ino_make(AREA_JOBS, 100000, NODE_SELF)));
    assert_true(fs_known_has(fs, fs_ino_make(AREA_JOBS, 100000, NODE_LOG)));
    assert_false(fs_known_has(fs, fs_ino_make(AREA_JOBS, 100000, NODE_INFO)));
    /* the same job in another area, another job in the same area */
    assert_false(fs_known_has(fs, fs_ino_make(AREA_HISTORY, 100000, NODE_LOG)));
    assert_false(fs_known_has(fs, fs_ino_make(AREA_JOBS, 100001, NODE_LOG)));
    /* nodes from 63 up share one bit: a page noted makes every page known */
    fs_known_note(fs, fs_ino_make(AREA_JOBS, 100000, NODE_FIRST_PAGE + 3));
    assert_true(fs_known_has(fs, fs_ino_make(AREA_JOBS, 100000, NODE_PAGES)));
    /* modems and the fixed files are tracked; the root, groups and the outbox count as known */
    assert_false(fs_known_has(fs, fs_ino_make(AREA_MODEMS, 0, 1)));
    assert_false(fs_known_has(fs, fs_ino_top(TOP_SERVER)));
    fs_known_note(fs, fs_ino_top(TOP_SERVER));
    assert_true(fs_known_has(fs, fs_ino_top(TOP_SERVER)));
    assert_true(fs_known_has(fs, fs_ino_top(TOP_ROOT)));
    assert_true(fs_known_has(fs, fs_ino_make(AREA_GROUPS, 7, 1)));
    assert_true(fs_known_has(fs, fs_ino_make(AREA_OUTBOX, 3, 1)));
}

static void drop_keeps_the_others(void **state)
{
    struct fs *fs = *state;
    enum { N = 5000 };

    /* enough objects to grow the table several times and collide often */
    for (uint64_t id = 1; id <= N; id++)
        fs_known_note(fs, fs_ino_make(id % 2 ? AREA_JOBS : AREA_HISTORY, 100000 + id, (uint32_t)(id % 60)));
    for (uint64_t id = 1; id <= N; id += 3)
        fs_known_drop(fs, id % 2 ? AREA_JOBS : AREA_HISTORY, 100000 + id);
    for (uint64_t id = 1; id <= N; id++) {
        bool want = (id - 1) % 3 != 0;
        enum fs_area a = id % 2 ? AREA_JOBS : AREA_HISTORY;
        assert_int_equal(fs_known_has(fs, fs_ino_make(a, 100000 + id, (uint32_t)(id % 60))), want);
        assert_false(fs_known_has(fs, fs_ino_make(a, 100000 + id, (uint32_t)(id % 60 + 1))));
    }
    assert_int_equal(fs->known.n, N - (N + 2) / 3);
    /* dropping what is not there changes nothing */
    fs_known_drop(fs, AREA_JOBS, 999999);
    assert_int_equal(fs->known.n, N - (N + 2) / 3);
}

int main(void)
{
    const struct CMUnitTest tests[] = {
        cmocka_unit_test_setup_teardown(noted_inodes_only, setup, teardown),
        cmocka_unit_test_setup_teardown(drop_keeps_the_others, setup, teardown),
    };
    return cmocka_run_group_tests(tests, NULL, NULL);
}

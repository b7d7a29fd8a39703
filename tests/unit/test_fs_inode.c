/*
 * test_fs_inode.c - the inode numbering of the view (fs/inode.c).
 */
#include <setjmp.h>
#include <stdarg.h>
#include <stddef.h>
#include <stdint.h>
#include <cmocka.h>

#include "fs/inode.h"

static void test_root_is_fuse_root_id(void **state)
{
    (void)state;
    assert_int_equal(fs_ino_top(TOP_ROOT), 1);
}

static void test_job_file_round_trips_area_id_and_node(void **state)
{
    struct fs_ino w;

    (void)state;
    uint64_t ino = fs_ino_make(AREA_HISTORY, 123456789, NODE_FIRST_PAGE + 41);
    assert_true(fs_ino_split(ino, &w));
    assert_int_equal(w.area, AREA_HISTORY);
    assert_int_equal(w.id, 123456789);
    assert_int_equal(w.node, NODE_FIRST_PAGE + 41);
}

static void test_same_job_differs_between_jobs_and_history(void **state)
{
    (void)state;
    assert_int_not_equal(fs_ino_make(AREA_JOBS, 7, NODE_SELF), fs_ino_make(AREA_HISTORY, 7, NODE_SELF));
}

static void test_largest_id_and_node_are_distinct_from_neighbours(void **state)
{
    struct fs_ino w;

    (void)state;
    uint64_t a = fs_ino_make(AREA_JOBS, INO_ID_MAX, (uint32_t)INO_NODE_MAX);
    uint64_t b = fs_ino_make(AREA_HISTORY, 0, 0);
    assert_int_not_equal(a, 0);
    assert_int_not_equal(a, b);
    assert_true(fs_ino_split(a, &w));
    assert_int_equal(w.area, AREA_JOBS);
    assert_int_equal(w.id, INO_ID_MAX);
}

static void test_out_of_range_objects_get_no_number(void **state)
{
    (void)state;
    assert_int_equal(fs_ino_make(AREA_JOBS, INO_ID_MAX + 1, 0), 0);
    assert_int_equal(fs_ino_make(AREA_JOBS, 1, (uint32_t)INO_NODE_MAX + 1), 0);
    assert_int_equal(fs_ino_make(AREA_COUNT, 1, 0), 0);
}

static void test_numbers_never_handed_out_do_not_split(void **state)
{
    struct fs_ino w;

    (void)state;
    assert_false(fs_ino_split(0, &w));                 /* no inode 0 */
    assert_false(fs_ino_split(TOP_COUNT, &w));         /* past the fixed nodes */
    assert_false(fs_ino_split(UINT64_MAX, &w));        /* unknown area */
    assert_false(fs_ino_split(fs_ino_make(AREA_TOP, 0, 0), &w));
}

int main(void)
{
    const struct CMUnitTest tests[] = {
        cmocka_unit_test(test_root_is_fuse_root_id),
        cmocka_unit_test(test_job_file_round_trips_area_id_and_node),
        cmocka_unit_test(test_same_job_differs_between_jobs_and_history),
        cmocka_unit_test(test_largest_id_and_node_are_distinct_from_neighbours),
        cmocka_unit_test(test_out_of_range_objects_get_no_number),
        cmocka_unit_test(test_numbers_never_handed_out_do_not_split),
    };
    return cmocka_run_group_tests(tests, NULL, NULL);
}

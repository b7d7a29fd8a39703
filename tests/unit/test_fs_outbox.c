/*
 * test_fs_outbox.c - the outbox's bookkeeping (fs/outbox.c): lookups by
 * name and serial through hash tables, per-user limits on drafts and
 * bytes, the bounded list of remembered refusals, draft expiry, and the
 * escaping of user text for log lines.
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

#include "fs/internal.h"

static struct fs_outbox *outbox_with(const struct fs_limits *limits)
{
    struct fs_outbox *ob = malloc(sizeof *ob);

    assert_non_null(ob);
    assert_int_equal(fs_outbox_init(ob, limits), 0);
    return ob;
}

static void outbox_done(struct fs_outbox *ob)
{
    fs_outbox_free(ob);
    free(ob);
}

static void test_many_entries_are_found_by_name_and_serial(void **state)
{
    (void)state;
    struct fs_outbox *ob = outbox_with(NULL);
    enum { N = 20000 };
    uint64_t *serial = calloc(N, sizeof *serial);
    char name[32];

    for (int i = 0; i < N; i++) {
        snprintf(name, sizeof name, "draft%d", i);
        struct outbox_entry *e = fs_outbox_add(ob, OB_DRAFT, name, (uid_t)(1000 + i % 7));
        assert_non_null(e);
        serial[i] = e->serial;
    }
    for (int i = 0; i < N; i += 2) { /* every other one goes */
        snprintf(name, sizeof name, "draft%d", i);
        fs_outbox_remove(ob, fs_outbox_find(ob, name, 0));
    }
    for (int i = 0; i < N; i++) {
        snprintf(name, sizeof name, "draft%d", i);
        struct outbox_entry *byname = fs_outbox_find(ob, name, 0), *byserial = fs_outbox_get(ob, serial[i]);
        if (i % 2 == 0) {
            assert_null(byname);
            assert_null(byserial);
        } else {
            assert_non_null(byname);
            assert_ptr_equal(byname, byserial);
            assert_string_equal(byname->name, name);
        }
    }
    /* The list keeps creation order for listings. */
    uint64_t last = 0;
    size_t n = 0;
    for (struct outbox_entry *e = ob->head; e; e = e->next, n++) {
        assert_true(e->serial > last);
        last = e->serial;
    }
    assert_int_equal(n, N / 2);
    assert_int_equal(fs_outbox_user(ob, 1000, false)->drafts + fs_outbox_user(ob, 1001, false)->drafts > 0, 1);
    free(serial);
    outbox_done(ob);
}

static void test_refusals_kept_per_user_are_bounded_oldest_first(void **state)
{
    (void)state;
    struct fs_outbox *ob = outbox_with(NULL);
    char name[32];

    for (int i = 0; i < FS_DEFAULT_ERRORS_PER_USER + 5; i++) {
        snprintf(name, sizeof name, "r%d.tif.error", i);
        struct outbox_entry *e = fs_outbox_add(ob, OB_ERROR, name, 1000);
        assert_non_null(e);
        e->expires = 100;
    }
    fs_outbox_add(ob, OB_ERROR, "other.tif.error", 1001)->expires = 100;
    assert_int_equal(fs_outbox_user(ob, 1000, false)->errors, FS_DEFAULT_ERRORS_PER_USER);
    for (int i = 0; i < 5; i++) {
        snprintf(name, sizeof name, "r%d.tif.error", i);
        assert_null(fs_outbox_find(ob, name, 0));
    }
    snprintf(name, sizeof name, "r%d.tif.error", FS_DEFAULT_ERRORS_PER_USER + 4);
    assert_non_null(fs_outbox_find(ob, name, 0));
    assert_non_null(fs_outbox_find(ob, "other.tif.error", 0)); /* another user's stays */
    outbox_done(ob);
}

static void test_refusals_kept_in_total_are_bounded(void **state)
{
    (void)state;
    struct fs_limits lim = { .errors_total = 10 };
    struct fs_outbox *ob = outbox_with(&lim);
    char name[32];

    for (int i = 0; i < 50; i++) {
        snprintf(name, sizeof name, "r%d.tif.error", i);
        fs_outbox_add(ob, OB_ERROR, name, (uid_t)(2000 + i))->expires = 100;
    }
    assert_int_equal(ob->nerrors, 10);
    assert_int_equal(ob->count, 10);
    assert_non_null(fs_outbox_find(ob, "r49.tif.error", 0));
    assert_null(fs_outbox_find(ob, "r39.tif.error", 0));
    assert_null(fs_outbox_user(ob, 2000, false)); /* users holding nothing are forgotten */
    outbox_done(ob);
}

static void test_expired_refusal_is_gone_at_lookup(void **state)
{
    (void)state;
    struct fs_outbox *ob = outbox_with(NULL);

    fs_outbox_add(ob, OB_ERROR, "a.tif.error", 1000)->expires = 50;
    assert_non_null(fs_outbox_find(ob, "a.tif.error", 49));
    assert_null(fs_outbox_find(ob, "a.tif.error", 50));
    assert_int_equal(ob->count, 0);
    outbox_done(ob);
}

static void test_drafts_over_the_user_limit_are_refused_root_exempt(void **state)
{
    (void)state;
    struct fs_limits lim = { .drafts_per_user = 2 };
    struct fs_outbox *ob = outbox_with(&lim);

    assert_int_equal(fs_outbox_may_add_draft(ob, 1000), 0);
    struct outbox_entry *first = fs_outbox_add(ob, OB_DRAFT, "a", 1000);
    assert_int_equal(fs_outbox_may_add_draft(ob, 1000), 0);
    fs_outbox_add(ob, OB_DRAFT, "b", 1000);
    assert_int_equal(fs_outbox_may_add_draft(ob, 1000), -EDQUOT);
    assert_int_equal(fs_outbox_may_add_draft(ob, 1001), 0);
    fs_outbox_add(ob, OB_DRAFT, "r1", 0);
    fs_outbox_add(ob, OB_DRAFT, "r2", 0);
    assert_int_equal(fs_outbox_may_add_draft(ob, 0), 0);
    fs_outbox_remove(ob, first);
    assert_int_equal(fs_outbox_may_add_draft(ob, 1000), 0);
    outbox_done(ob);
}

static void test_bytes_are_accounted_per_user_and_per_file(void **state)
{
    (void)state;
    struct fs_limits lim = { .bytes_per_user = 100, .bytes_per_file = 60 };
    struct fs_outbox *ob = outbox_with(&lim);

    assert_int_equal(fs_outbox_resize(ob, 1000, 0, 50), 0);
    assert_int_equal(fs_outbox_resize(ob, 1000, 0, 61), -EFBIG);
    assert_int_equal(fs_outbox_resize(ob, 1000, 0, 51), -EDQUOT);
    assert_int_equal(fs_outbox_user(ob, 1000, false)->bytes, 50);
    assert_int_equal(fs_outbox_resize(ob, 1001, 0, 60), 0); /* another user's room is theirs */
    assert_int_equal(fs_outbox_resize(ob, 1000, 0, 50), 0);
    assert_int_equal(fs_outbox_resize(ob, 1000, 50, 10), 0); /* shrinking gives room back */
    assert_int_equal(fs_outbox_resize(ob, 1000, 0, 40), 0);
    assert_int_equal(fs_outbox_user(ob, 1000, false)->bytes, 100);
    assert_int_equal(fs_outbox_resize(ob, 0, 0, 1000), 0); /* root is exempt */
    assert_int_equal(fs_outbox_resize(ob, 1000, 50, 0), 0);
    assert_int_equal(fs_outbox_resize(ob, 1000, 50, 0), 0);
    assert_null(fs_outbox_user(ob, 1000, false));
    outbox_done(ob);
}

static void test_removing_a_draft_gives_back_its_documents_bytes(void **state)
{
    (void)state;
    struct fs_limits lim = { .bytes_per_user = 100 };
    struct fs_outbox *ob = outbox_with(&lim);
    struct draft_doc *d;

    struct outbox_entry *e = fs_outbox_add(ob, OB_DRAFT, "letter", 1000);
    assert_int_equal(fs_draft_doc_add(e, "b.tif", -1, NULL, &d), 0);
    assert_int_equal(fs_outbox_resize(ob, 1000, 0, 70), 0);
    d->size = 70;
    assert_int_equal(fs_draft_doc_add(e, "a.tif", -1, NULL, &d), 0);
    assert_string_equal(e->docs[0].name, "a.tif"); /* sent in name order */
    assert_non_null(fs_draft_doc_find(e, "b.tif"));
    assert_null(fs_draft_doc_find(e, "c.tif"));
    assert_int_equal(fs_outbox_resize(ob, 1000, 0, 31), -EDQUOT);
    fs_outbox_remove(ob, e);
    assert_null(fs_outbox_user(ob, 1000, false));
    assert_int_equal(fs_outbox_resize(ob, 1000, 0, 100), 0);
    outbox_done(ob);
}

static void test_untouched_drafts_expire_unless_in_use(void **state)
{
    (void)state;
    struct fs_limits lim = { .draft_expire_seconds = 7 * 86400 };
    struct fs_outbox *ob = outbox_with(&lim);
    int64_t now = fs_now();

    fs_outbox_add(ob, OB_DRAFT, "old", 1000)->mtime = now - 8 * 86400;
    fs_outbox_add(ob, OB_DRAFT, "open", 1000)->mtime = now - 8 * 86400;
    fs_outbox_find(ob, "open", now)->handles = 1;
    fs_outbox_add(ob, OB_DRAFT, "busy", 1000)->mtime = now - 8 * 86400;
    fs_outbox_find(ob, "busy", now)->busy = true;
    fs_outbox_add(ob, OB_DRAFT, "fresh", 1000)->mtime = now - 6 * 86400;
    assert_int_equal(fs_outbox_sweep(ob, now), 1);
    assert_null(fs_outbox_find(ob, "old", now));
    assert_non_null(fs_outbox_find(ob, "open", now));
    assert_non_null(fs_outbox_find(ob, "busy", now));
    assert_non_null(fs_outbox_find(ob, "fresh", now));
    assert_int_equal(fs_outbox_user(ob, 1000, false)->drafts, 3);
    outbox_done(ob);
}

static void test_open_files_per_user_are_bounded(void **state)
{
    (void)state;
    struct fs_limits lim = { .handles_per_user = 2 };
    struct fs_outbox *ob = outbox_with(&lim);

    assert_int_equal(fs_outbox_handle_get(ob, 1000), 0);
    assert_int_equal(fs_outbox_handle_get(ob, 1000), 0);
    assert_int_equal(fs_outbox_handle_get(ob, 1000), -EMFILE);
    assert_int_equal(fs_outbox_handle_get(ob, 1001), 0);
    fs_outbox_handle_put(ob, 1000);
    assert_int_equal(fs_outbox_handle_get(ob, 1000), 0);
    fs_outbox_handle_put(ob, 1000);
    fs_outbox_handle_put(ob, 1000);
    fs_outbox_handle_put(ob, 1001);
    assert_null(fs_outbox_user(ob, 1000, false));
    outbox_done(ob);
}

static void test_submissions_in_progress_are_bounded_per_user_and_in_all(void **state)
{
    (void)state;
    struct fs_outbox *ob = outbox_with(NULL);

    for (int i = 0; i < FS_SUBMITS_PER_USER; i++)
        assert_int_equal(fs_outbox_submit_begin(ob, 1000), 0);
    assert_int_equal(fs_outbox_submit_begin(ob, 1000), -EAGAIN);
    for (uid_t u = 1001; ob->submitting < FS_SUBMITS_TOTAL; u++)
        assert_int_equal(fs_outbox_submit_begin(ob, u), 0);
    assert_int_equal(fs_outbox_submit_begin(ob, 2000), -EAGAIN);
    assert_int_equal(fs_outbox_submit_begin(ob, 0), 0); /* root is never refused */
    fs_outbox_submit_end(ob, 0);
    fs_outbox_submit_end(ob, 1000);
    assert_int_equal(fs_outbox_submit_begin(ob, 2000), 0);
    assert_int_equal(fs_outbox_submit_begin(ob, 1000), -EAGAIN); /* the total is reached again */
    fs_outbox_submit_end(ob, 1001);
    assert_int_equal(fs_outbox_submit_begin(ob, 1000), 0);
    outbox_done(ob);
}

static void test_names_with_control_characters_are_not_printable(void **state)
{
    (void)state;
    assert_true(fs_name_printable("letter to Ada"));
    assert_true(fs_name_printable("Brief für Ada")); /* UTF-8 is fine */
    assert_false(fs_name_printable("bad\nname"));
    assert_false(fs_name_printable("bad\tname"));
    assert_false(fs_name_printable("esc\x1b[2J"));
    assert_false(fs_name_printable("del\x7f"));
}

static void test_log_escape_leaves_no_control_characters(void **state)
{
    (void)state;
    char out[64];

    fs_log_escape("a\nb\\c\x1b", out, sizeof out);
    assert_string_equal(out, "a\\x0ab\\x5cc\\x1b");
    fs_log_escape("0123456789\n", out, 12); /* cut before a partial escape */
    assert_string_equal(out, "0123456789");
    fs_log_escape("plain", out, sizeof out);
    assert_string_equal(out, "plain");
}

int main(void)
{
    const struct CMUnitTest tests[] = {
        cmocka_unit_test(test_many_entries_are_found_by_name_and_serial),
        cmocka_unit_test(test_refusals_kept_per_user_are_bounded_oldest_first),
        cmocka_unit_test(test_refusals_kept_in_total_are_bounded),
        cmocka_unit_test(test_expired_refusal_is_gone_at_lookup),
        cmocka_unit_test(test_drafts_over_the_user_limit_are_refused_root_exempt),
        cmocka_unit_test(test_bytes_are_accounted_per_user_and_per_file),
        cmocka_unit_test(test_removing_a_draft_gives_back_its_documents_bytes),
        cmocka_unit_test(test_untouched_drafts_expire_unless_in_use),
        cmocka_unit_test(test_open_files_per_user_are_bounded),
        cmocka_unit_test(test_submissions_in_progress_are_bounded_per_user_and_in_all),
        cmocka_unit_test(test_names_with_control_characters_are_not_printable),
        cmocka_unit_test(test_log_escape_leaves_no_control_characters),
    };
    return cmocka_run_group_tests(tests, NULL, NULL);
}

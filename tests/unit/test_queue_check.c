/*
 * test_queue_check.c - queue_check_spool(): a clean spool is clean, every
 * kind of damage is reported once naming the job, what a running daemon
 * has in progress is only a note, and the checker never changes anything.
 */
#include <stdarg.h>
#include <stddef.h>
#include <setjmp.h>
#include <cmocka.h>

#include <dirent.h>
#include <errno.h>
#include <fcntl.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/stat.h>
#include <unistd.h>

#include "queue_testutil.h"

/* The daemon stops; the spool stays as it left it. */
static void stop(struct queue_fixture *f)
{
    queue_close(f->q);
    f->q = NULL;
}

static char report[16384]; /* what the last check() printed */

static int check(struct queue_fixture *f)
{
    memset(report, 0, sizeof report);
    FILE *fp = fmemopen(report, sizeof report - 1, "w");
    assert_non_null(fp);
    int r = queue_check_spool(f->dir, fp);
    fclose(fp);
    if (getenv("FAXFS_TEST_VERBOSE"))
        fprintf(stderr, "%s", report);
    return r;
}

/* Formats text that names a job id; a few results may be in use at once. */
static const char *fmt(const char *format, ...) __attribute__((format(printf, 1, 2)));
static const char *fmt(const char *format, ...)
{
    static char buf[4][256];
    static int next;
    char *out = buf[next++ % 4];
    va_list ap;

    va_start(ap, format);
    vsnprintf(out, sizeof buf[0], format, ap);
    va_end(ap);
    return out;
}

static void path_of(struct queue_fixture *f, const char *rel, char *out, size_t len)
{
    snprintf(out, len, "%s/%s", f->dir, rel);
}

static void write_text(struct queue_fixture *f, const char *rel, const char *text)
{
    char path[512];
    path_of(f, rel, path, sizeof path);
    FILE *fp = fopen(path, "w");
    assert_non_null(fp);
    fputs(text, fp);
    fclose(fp);
}

static char *read_text(struct queue_fixture *f, const char *rel)
{
    static char buf[8192];
    char path[512];
    path_of(f, rel, path, sizeof path);
    FILE *fp = fopen(path, "r");
    assert_non_null(fp);
    size_t n = fread(buf, 1, sizeof buf - 1, fp);
    buf[n] = '\0';
    fclose(fp);
    return buf;
}

/* Replaces the first "key: old" line value in a job file. */
static void edit_job(struct queue_fixture *f, uint64_t id, const char *from, const char *to)
{
    char rel[64], text[8192];
    snprintf(rel, sizeof rel, "jobs/%llu/job", (unsigned long long)id);
    snprintf(text, sizeof text, "%s", read_text(f, rel));
    char *at = strstr(text, from);
    assert_non_null(at);
    char out[8192];
    snprintf(out, sizeof out, "%.*s%s%s", (int)(at - text), text, to, at + strlen(from));
    write_text(f, rel, out);
}

static void assert_reported(const char *needle)
{
    if (strstr(report, needle) == NULL)
        fail_msg("report lacks \"%s\":\n%s", needle, report);
}

static void test_spool_with_healthy_jobs_is_clean(void **state)
{
    struct queue_fixture *f = *state;

    submit_simple(f->q, "5551234", 2);
    submit_simple(f->q, "5559876", 1);
    stop(f);
    assert_int_equal(check(f), 0);
    assert_reported("clean, 2 jobs checked");
}

static void test_missing_page_is_reported_naming_job_and_page(void **state)
{
    struct queue_fixture *f = *state;
    char path[512];

    unsigned long long id = submit_simple(f->q, "5551234", 2);
    stop(f);
    path_of(f, fmt("jobs/%llu/pages/002.tif", id), path, sizeof path);
    unlink(path);
    assert_int_equal(check(f), 1);
    assert_reported(fmt("job %llu: page pages/002.tif is missing", id));
}

static void test_page_that_is_not_a_tiff_is_reported(void **state)
{
    struct queue_fixture *f = *state;

    unsigned long long id = submit_simple(f->q, "5551234", 1);
    stop(f);
    write_text(f, fmt("jobs/%llu/pages/001.tif", id), "not a tiff at all");
    assert_true(check(f) >= 1);
    assert_reported(fmt("job %llu: page pages/001.tif is unreadable or not a TIFF", id));
}

static void test_truncated_job_file_is_reported(void **state)
{
    struct queue_fixture *f = *state;

    unsigned long long id = submit_simple(f->q, "5551234", 1);
    stop(f);
    char *text = read_text(f, fmt("jobs/%llu/job", id));
    text[strlen(text) - 8] = '\0';
    write_text(f, fmt("jobs/%llu/job", id), text);
    assert_int_equal(check(f), 1);
    assert_reported(fmt("job %llu: bad job file: ", id));
}

static void test_job_file_naming_another_id_is_reported(void **state)
{
    struct queue_fixture *f = *state;
    char from[512], to[512];

    unsigned long long id = submit_simple(f->q, "5551234", 1), other = id + 6;
    stop(f);
    path_of(f, fmt("jobs/%llu", id), from, sizeof from);
    path_of(f, fmt("jobs/%llu", other), to, sizeof to);
    assert_int_equal(rename(from, to), 0);
    write_text(f, "next_id", fmt("%llu\n", other + 1)); /* only the id mismatch is wrong */
    assert_int_equal(check(f), 1);
    assert_reported(fmt("job %llu: its job file names id %llu", other, id));
}

static void test_pages_sent_above_page_count_is_reported(void **state)
{
    struct queue_fixture *f = *state;

    uint64_t id = submit_simple(f->q, "5551234", 1);
    stop(f);
    edit_job(f, id, "pages_sent: 0", "pages_sent: 2");
    assert_int_equal(check(f), 1);
    assert_reported("pages_sent 2 exceeds page_count 1");
}

static void test_page_count_above_the_pages_present_is_reported(void **state)
{
    struct queue_fixture *f = *state;

    unsigned long long id = submit_simple(f->q, "5551234", 1);
    stop(f);
    edit_job(f, id, "page_count: 1", "page_count: 2");
    assert_int_equal(check(f), 1);
    assert_reported(fmt("job %llu: page pages/002.tif is missing", id));
}

static void test_size_that_does_not_match_the_pages_is_reported(void **state)
{
    struct queue_fixture *f = *state;

    unsigned long long id = submit_simple(f->q, "5551234", 1);
    stop(f);
    char *text = read_text(f, fmt("jobs/%llu/job", id));
    char *size = strstr(text, "\nsize: ");
    assert_non_null(size);
    char line[64];
    snprintf(line, sizeof line, "%.*s", (int)strcspn(size + 1, "\n"), size + 1);
    edit_job(f, id, line, "size: 1");
    assert_int_equal(check(f), 1);
    assert_reported(fmt("job %llu: the job file says 1 bytes of pages", id));
}

static void test_extra_page_of_a_send_job_is_reported(void **state)
{
    struct queue_fixture *f = *state;
    char from[512], to[512];

    unsigned long long id = submit_simple(f->q, "5551234", 1);
    stop(f);
    path_of(f, fmt("jobs/%llu/pages/001.tif", id), from, sizeof from);
    path_of(f, fmt("jobs/%llu/pages/002.tif", id), to, sizeof to);
    assert_int_equal(link(from, to), 0);
    assert_int_equal(check(f), 1);
    assert_reported(fmt("job %llu: pages/002.tif is beyond its page_count 1", id));
}

static void test_counter_not_above_every_id_is_reported(void **state)
{
    struct queue_fixture *f = *state;

    submit_simple(f->q, "5551234", 1);
    unsigned long long last = submit_simple(f->q, "5551234", 1);
    stop(f);
    write_text(f, "next_id", fmt("%llu\n", last));
    assert_int_equal(check(f), 1);
    assert_reported(fmt("next_id is %llu but job %llu exists", last, last));
}

/* The same with the clean-stop mark holding that value: the next start
 * would trust next_id, so the report says to remove the mark. */
static void test_counter_with_clean_mark_is_reported(void **state)
{
    struct queue_fixture *f = *state;

    submit_simple(f->q, "5551234", 1);
    unsigned long long last = submit_simple(f->q, "5551234", 1);
    stop(f);
    write_text(f, "next_id", fmt("%llu\n", last));
    write_text(f, "clean", fmt("%llu\n", last));
    assert_int_equal(check(f), 1);
    assert_reported("remove SPOOL/clean");
}

static void test_missing_counter_is_reported(void **state)
{
    struct queue_fixture *f = *state;
    char path[512];

    submit_simple(f->q, "5551234", 1);
    stop(f);
    path_of(f, "next_id", path, sizeof path);
    unlink(path);
    assert_int_equal(check(f), 1);
    assert_reported("next_id is missing");
}

static void test_leftovers_in_tmp_are_reported_when_no_daemon_runs(void **state)
{
    struct queue_fixture *f = *state;
    char path[512];

    stop(f);
    path_of(f, "tmp/stage.99.1", path, sizeof path);
    assert_int_equal(mkdir(path, 0700), 0);
    write_text(f, "next_id.tmp", "3");
    assert_int_equal(check(f), 2);
    assert_reported("tmp/stage.99.1 left over");
    assert_reported("next_id.tmp left over");
}

static void test_work_in_progress_of_a_running_daemon_is_only_a_note(void **state)
{
    struct queue_fixture *f = *state;
    char path[512];

    unsigned long long id = submit_simple(f->q, "5551234", 1); /* the queue stays open: a daemon runs */
    path_of(f, "tmp/stage.99.1", path, sizeof path);
    assert_int_equal(mkdir(path, 0700), 0);
    write_text(f, fmt("jobs/%llu/job.tmp", id), "half");
    assert_int_equal(check(f), 0);
    assert_reported("note: a faxfs daemon (pid ");
    assert_reported("note: tmp/stage.99.1 left over (work in progress");
    assert_reported(fmt("note: job %llu: job.tmp left over (work in progress", id));
}

static void test_active_job_is_a_note_not_an_inconsistency(void **state)
{
    struct queue_fixture *f = *state;

    unsigned long long id = submit_simple(f->q, "5551234", 1);
    stop(f);
    /* as a kill -9 during the call leaves it */
    edit_job(f, id, "status: queued", "status: active");
    assert_int_equal(check(f), 0);
    assert_reported(fmt("note: job %llu is active: the daemon stopped during its call", id));
}

static void test_same_id_in_jobs_and_corrupt_is_reported_as_a_duplicate(void **state)
{
    struct queue_fixture *f = *state;
    char path[512];

    unsigned long long id = submit_simple(f->q, "5551234", 1);
    stop(f);
    path_of(f, fmt("corrupt/%llu", id), path, sizeof path);
    assert_int_equal(mkdir(path, 0700), 0);
    assert_int_equal(check(f), 1);
    assert_reported(fmt("job %llu: present in jobs/ and as corrupt/%llu (duplicate id)", id, id));
}

static void test_job_set_aside_in_corrupt_is_reported(void **state)
{
    struct queue_fixture *f = *state;
    char path[512];

    stop(f);
    path_of(f, "corrupt/4", path, sizeof path);
    assert_int_equal(mkdir(path, 0700), 0);
    write_text(f, "next_id", "5\n");
    assert_int_equal(check(f), 1);
    assert_reported("corrupt/4: a damaged job set aside");
}

/* A spool from before ids started at QUEUE_FIRST_JOB_ID: small ids and a
 * counter below the first id are how it was left, not damage. */
static void test_spool_with_small_ids_and_a_counter_below_the_first_id_is_clean(void **state)
{
    struct queue_fixture *f = *state;
    char from[512], to[512];

    unsigned long long id = submit_simple(f->q, "5551234", 1);
    stop(f);
    path_of(f, fmt("jobs/%llu", id), from, sizeof from);
    path_of(f, "jobs/3", to, sizeof to);
    assert_int_equal(rename(from, to), 0);
    edit_job(f, 3, fmt("\nid: %llu\n", id), "\nid: 3\n");
    edit_job(f, 3, fmt("\nend: %llu\n", id), "\nend: 3\n");
    write_text(f, "next_id", "7\n");
    assert_int_equal(check(f), 0);
    assert_reported("clean, 1 job checked");
}

static void test_stray_entry_in_jobs_is_reported(void **state)
{
    struct queue_fixture *f = *state;

    stop(f);
    write_text(f, "jobs/notes.txt", "hello");
    assert_int_equal(check(f), 1);
    assert_reported("jobs/notes.txt: not a job id");
}

/* A listing of every path with size and mtime, to compare before/after. */
static void fingerprint(const char *dir, char *out, size_t len)
{
    char cmd[600];
    snprintf(cmd, sizeof cmd, "cd '%s' && find . -printf '%%p %%s %%T@ %%m\\n' | sort", dir);
    FILE *p = popen(cmd, "r");
    assert_non_null(p);
    size_t n = fread(out, 1, len - 1, p);
    out[n] = '\0';
    pclose(p);
}

static void test_checker_changes_nothing_in_a_damaged_spool(void **state)
{
    struct queue_fixture *f = *state;
    static char before[16384], after[16384];
    char path[512];

    unsigned long long id = submit_simple(f->q, "5551234", 2);
    stop(f);
    path_of(f, fmt("jobs/%llu/pages/002.tif", id), path, sizeof path);
    unlink(path);
    path_of(f, "tmp/stage.9.9", path, sizeof path);
    mkdir(path, 0700);
    write_text(f, fmt("jobs/%llu/job.tmp", id), "half");
    fingerprint(f->dir, before, sizeof before);
    assert_true(check(f) >= 3);
    fingerprint(f->dir, after, sizeof after);
    assert_string_equal(before, after);
}

static void test_directory_that_is_not_a_spool_is_an_error(void **state)
{
    struct queue_fixture *f = *state;
    char path[512];

    path_of(f, "tmp", path, sizeof path);
    FILE *fp = fopen("/dev/null", "w");
    assert_int_equal(queue_check_spool(path, fp), -ENOENT);
    assert_int_equal(queue_check_spool("/nonexistent/faxfs-spool", fp), -ENOENT);
    fclose(fp);
}

static void test_spool_is_clean_again_after_a_restart_repairs_it(void **state)
{
    struct queue_fixture *f = *state;
    char path[512];

    unsigned long long id = submit_simple(f->q, "5551234", 1);
    stop(f);
    path_of(f, "tmp/stage.99.1", path, sizeof path);
    mkdir(path, 0700);
    write_text(f, fmt("jobs/%llu/job.tmp", id), "half");
    assert_int_equal(check(f), 2);
    assert_int_equal(queue_open(&f->q, &f->cfg), 0);
    stop(f);
    assert_int_equal(check(f), 0);
}

int main(void)
{
#define T(name) cmocka_unit_test_setup_teardown(name, queue_fixture_setup_spool, queue_fixture_teardown)
    const struct CMUnitTest tests[] = {
        T(test_spool_with_healthy_jobs_is_clean),
        T(test_missing_page_is_reported_naming_job_and_page),
        T(test_page_that_is_not_a_tiff_is_reported),
        T(test_truncated_job_file_is_reported),
        T(test_job_file_naming_another_id_is_reported),
        T(test_pages_sent_above_page_count_is_reported),
        T(test_page_count_above_the_pages_present_is_reported),
        T(test_size_that_does_not_match_the_pages_is_reported),
        T(test_extra_page_of_a_send_job_is_reported),
        T(test_counter_not_above_every_id_is_reported),
        T(test_counter_with_clean_mark_is_reported),
        T(test_missing_counter_is_reported),
        T(test_leftovers_in_tmp_are_reported_when_no_daemon_runs),
        T(test_work_in_progress_of_a_running_daemon_is_only_a_note),
        T(test_active_job_is_a_note_not_an_inconsistency),
        T(test_same_id_in_jobs_and_corrupt_is_reported_as_a_duplicate),
        T(test_job_set_aside_in_corrupt_is_reported),
        T(test_spool_with_small_ids_and_a_counter_below_the_first_id_is_clean),
        T(test_stray_entry_in_jobs_is_reported),
        T(test_checker_changes_nothing_in_a_damaged_spool),
        T(test_directory_that_is_not_a_spool_is_an_error),
        T(test_spool_is_clean_again_after_a_restart_repairs_it),
    };
    return cmocka_run_group_tests(tests, NULL, NULL);
}

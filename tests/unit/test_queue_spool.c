/*
 * test_queue_spool.c - the file spool: atomic job creation, durable ids
 * that start at QUEUE_FIRST_JOB_ID, durable pause, and recovery at open
 * from leftover temp files, missing pages, truncated job files and a job
 * that was active at a crash.
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
#include <sys/stat.h>
#include <unistd.h>

#include "queue/jobfile.h"
#include "queue_testutil.h"

static bool exists(struct queue_fixture *f, const char *rel)
{
    char path[512];
    struct stat st;
    snprintf(path, sizeof path, "%s/%s", f->dir, rel);
    return stat(path, &st) == 0;
}

static void write_text(struct queue_fixture *f, const char *rel, const char *text)
{
    char path[512];
    snprintf(path, sizeof path, "%s/%s", f->dir, rel);
    FILE *fp = fopen(path, "w");
    assert_non_null(fp);
    fputs(text, fp);
    fclose(fp);
}

/* "jobs/<id>/<rest>" (or another area): the spool path of a job's file. */
static const char *job_rel(const char *area, uint64_t id, const char *rest)
{
    static char buf[4][256]; /* a few may be in use in one expression */
    static int next;
    char *out = buf[next++ % 4];

    snprintf(out, sizeof buf[0], "%s/%llu%s%s", area, (unsigned long long)id, rest[0] ? "/" : "", rest);
    return out;
}

static char *read_text(struct queue_fixture *f, const char *rel)
{
    char path[512];
    static char buf[8192];
    snprintf(path, sizeof path, "%s/%s", f->dir, rel);
    FILE *fp = fopen(path, "r");
    if (fp == NULL)
        return NULL;
    size_t n = fread(buf, 1, sizeof buf - 1, fp);
    buf[n] = '\0';
    fclose(fp);
    return buf;
}

static void test_submitted_job_is_a_directory_with_job_file_pages_and_log(void **state)
{
    struct queue_fixture *f = *state;
    uint64_t id = submit_simple(f->q, "5551234", 2);

    assert_int_equal(id, QUEUE_FIRST_JOB_ID);
    assert_true(exists(f, job_rel("jobs", id, "job")));
    assert_true(exists(f, job_rel("jobs", id, "pages/001.tif")));
    assert_true(exists(f, job_rel("jobs", id, "pages/002.tif")));
    assert_false(exists(f, job_rel("jobs", id, "pages/003.tif")));
    assert_non_null(strstr(read_text(f, job_rel("jobs", id, "log")), "submitted by uid 1000"));
    assert_true(strtoull(read_text(f, "next_id"), NULL, 10) > id);
}

static void test_fresh_spool_hands_out_the_first_job_id_and_counts_on_from_it(void **state)
{
    struct queue_fixture *f = *state;
    char want[32];

    assert_int_equal(submit_simple(f->q, "5551234", 1), QUEUE_FIRST_JOB_ID);
    assert_int_equal(submit_simple(f->q, "5551234", 1), QUEUE_FIRST_JOB_ID + 1);
    /* A clean close writes back the exact next id (no block is skipped). */
    queue_fixture_reopen(f);
    snprintf(want, sizeof want, "%llu\n", (unsigned long long)QUEUE_FIRST_JOB_ID + 2);
    assert_string_equal(read_text(f, "next_id"), want);
    assert_int_equal(submit_simple(f->q, "5551234", 1), QUEUE_FIRST_JOB_ID + 2);
}

/* Ids are reserved durably a block at a time: the counter on disk is
 * always above every id handed out, and one write serves many jobs. */
static void test_the_counter_on_disk_stays_ahead_of_every_id_handed_out(void **state)
{
    struct queue_fixture *f = *state;
    struct stat before, after;
    char path[512];
    uint64_t id = 0;

    snprintf(path, sizeof path, "%s/next_id", f->dir);
    submit_simple(f->q, "5551234", 1);
    assert_int_equal(stat(path, &before), 0);
    for (int i = 0; i < 5; i++) {
        id = submit_simple(f->q, "5551234", 1);
        assert_true(strtoull(read_text(f, "next_id"), NULL, 10) > id);
    }
    assert_int_equal(stat(path, &after), 0);
    assert_int_equal(before.st_ino, after.st_ino); /* not rewritten (replaced by rename) per job */
}

/* Rewrites the stored job `from` as job `to`: what an older spool, from
 * before ids started at QUEUE_FIRST_JOB_ID, holds. The queue is closed. */
static void renumber_job(struct queue_fixture *f, uint64_t from, uint64_t to)
{
    char a[512], b[512], *text;
    struct job j;
    char why[200];

    snprintf(a, sizeof a, "%s/%s", f->dir, job_rel("jobs", from, ""));
    snprintf(b, sizeof b, "%s/%s", f->dir, job_rel("jobs", to, ""));
    assert_int_equal(rename(a, b), 0);
    const char *job = read_text(f, job_rel("jobs", to, "job"));
    assert_int_equal(jobfile_parse(job, strlen(job), &j, why, sizeof why), 0);
    j.id = to;
    assert_true(jobfile_format(&j, &text) > 0);
    write_text(f, job_rel("jobs", to, "job"), text);
    free(text);
}

static void test_spool_with_small_ids_keeps_them_and_continues_from_the_first_job_id(void **state)
{
    struct queue_fixture *f = *state;
    uint64_t id = submit_simple(f->q, "5551234", 1);
    struct job j;

    queue_close(f->q);
    f->q = NULL;
    renumber_job(f, id, 3);
    write_text(f, "next_id", "7\n");
    queue_fixture_reopen(f);
    assert_int_equal(queue_snapshot(f->q, 3, &j), 0);
    assert_string_equal(j.recipient_number, "5551234");
    assert_int_equal(submit_simple(f->q, "5559999", 1), QUEUE_FIRST_JOB_ID);
    assert_int_equal(queue_snapshot(f->q, 3, &j), 0);
}

static void test_damaged_counter_with_small_ids_present_continues_from_the_first_job_id(void **state)
{
    struct queue_fixture *f = *state;
    uint64_t id = submit_simple(f->q, "5551234", 1);
    struct job j;

    queue_close(f->q);
    f->q = NULL;
    renumber_job(f, id, 3);
    write_text(f, "next_id", "garbage\n");
    queue_fixture_reopen(f);
    assert_int_equal(submit_simple(f->q, "5559999", 1), QUEUE_FIRST_JOB_ID);
    assert_int_equal(queue_snapshot(f->q, 3, &j), 0);
}

static void test_ids_grow_past_six_digits_without_wrapping(void **state)
{
    struct queue_fixture *f = *state;

    queue_close(f->q);
    f->q = NULL;
    write_text(f, "next_id", "999999\n");
    queue_fixture_reopen(f);
    assert_int_equal(submit_simple(f->q, "5551234", 1), 999999);
    uint64_t id = submit_simple(f->q, "5551234", 1);
    assert_int_equal(id, 1000000);
    assert_true(exists(f, "jobs/1000000/job"));
    queue_fixture_reopen(f);
    assert_string_equal(read_text(f, "next_id"), "1000001\n");
}

/* Many submitters at once: each waits for a flush it shares with others,
 * every one succeeds under its own id, and every job is whole after a
 * restart. Real fsyncs here, so batches form as they do on a disk. */
static void test_many_threads_committing_at_once_all_succeed_and_load_after_reopen(void **state)
{
    enum { THREADS = 8, EACH = 6, N = THREADS * EACH };
    struct queue_fixture *f = *state;
    int result[N];
    uint64_t id[N];
    struct job j;
    char number[32];

    f->cfg.no_fsync = false;
    queue_fixture_reopen(f);
    submit_concurrently(f->q, THREADS, EACH, 2, result, id);
    for (int k = 0; k < N; k++) {
        assert_int_equal(result[k], 0);
        for (int m = 0; m < k; m++)
            assert_true(id[m] != id[k]);
    }
    queue_fixture_reopen(f);
    for (int k = 0; k < N; k++) {
        assert_int_equal(queue_snapshot(f->q, id[k], &j), 0);
        snprintf(number, sizeof number, "5556%02d%03d", k / EACH, k % EACH);
        assert_string_equal(j.recipient_number, number);
        assert_int_equal(j.page_count, 2);
        int fd = queue_open_page(f->q, id[k], 1);
        assert_true(fd >= 0);
        close(fd);
    }
    assert_false(exists(f, "tmp/stage.1"));
    FILE *null = fopen("/dev/null", "w");
    assert_int_equal(queue_check_spool(f->dir, null), 0);
    fclose(null);
}

static void test_page_fd_reads_the_stored_tiff(void **state)
{
    struct queue_fixture *f = *state;
    uint64_t id = submit_simple(f->q, "5551234", 1);
    char magic[4];

    int fd = queue_open_page(f->q, id, 0);
    assert_true(fd >= 0);
    assert_int_equal(read(fd, magic, 4), 4);
    assert_memory_equal(magic, "II*\0", 4);
    close(fd);
    assert_int_equal(queue_open_page(f->q, id, 1), -ENOENT);
}

static void test_ids_are_never_reused_after_reopen(void **state)
{
    struct queue_fixture *f = *state;
    char why[200];
    uint64_t a = submit_simple(f->q, "5551234", 1);

    queue_control(f->q, &test_owner, a, QOP_CANCEL, why, sizeof why);
    assert_int_equal(queue_delete(f->q, &test_owner, a, why, sizeof why), 0);
    assert_false(exists(f, job_rel("jobs", a, "")));
    queue_fixture_reopen(f);
    assert_int_equal(submit_simple(f->q, "5551234", 1), a + 1);
}

static void test_ids_stay_unique_when_the_counter_file_is_lost(void **state)
{
    struct queue_fixture *f = *state;
    submit_simple(f->q, "5551234", 1);
    uint64_t last = submit_simple(f->q, "5551234", 1);
    queue_close(f->q);
    f->q = NULL;
    char path[512];
    snprintf(path, sizeof path, "%s/next_id", f->dir);
    unlink(path);
    queue_fixture_reopen(f);
    assert_int_equal(submit_simple(f->q, "5551234", 1), last + 1);
}

static void test_leftover_temp_files_are_removed_at_open(void **state)
{
    struct queue_fixture *f = *state;
    uint64_t id = submit_simple(f->q, "5551234", 1);
    char path[512];

    queue_close(f->q);
    f->q = NULL;
    snprintf(path, sizeof path, "%s/tmp/stage.99.1", f->dir);
    mkdir(path, 0700);
    write_text(f, "tmp/stage.99.1/job", "version: 1\n");
    write_text(f, job_rel("jobs", id, "job.tmp"), "half");
    write_text(f, "next_id.tmp", "7");
    queue_fixture_reopen(f);
    assert_false(exists(f, "tmp/stage.99.1"));
    assert_false(exists(f, job_rel("jobs", id, "job.tmp")));
    assert_false(exists(f, "next_id.tmp"));
    struct job j;
    assert_int_equal(queue_snapshot(f->q, id, &j), 0);
}

static void test_job_with_missing_page_is_moved_to_corrupt(void **state)
{
    struct queue_fixture *f = *state;
    uint64_t bad = submit_simple(f->q, "5551234", 2), good = submit_simple(f->q, "5559999", 1);
    char path[512];
    struct job j;

    queue_close(f->q);
    f->q = NULL;
    snprintf(path, sizeof path, "%s/%s", f->dir, job_rel("jobs", bad, "pages/002.tif"));
    unlink(path);
    queue_fixture_reopen(f);
    assert_int_equal(queue_snapshot(f->q, bad, &j), -ENOENT);
    assert_int_equal(queue_snapshot(f->q, good, &j), 0);
    assert_true(exists(f, job_rel("corrupt", bad, "job")));
    assert_false(exists(f, job_rel("jobs", bad, "")));
    assert_int_equal(submit_simple(f->q, "5551234", 1), good + 1); /* its id stays used */
}

static void test_truncated_job_file_is_moved_to_corrupt(void **state)
{
    struct queue_fixture *f = *state;
    uint64_t id = submit_simple(f->q, "5551234", 1);
    struct job j;

    queue_close(f->q);
    f->q = NULL;
    char *text = read_text(f, job_rel("jobs", id, "job"));
    text[strlen(text) - 10] = '\0';
    write_text(f, job_rel("jobs", id, "job"), text);
    queue_fixture_reopen(f);
    assert_int_equal(queue_snapshot(f->q, id, &j), -ENOENT);
    assert_true(exists(f, job_rel("corrupt", id, "")));
}

static void test_stray_entries_in_jobs_are_set_aside(void **state)
{
    struct queue_fixture *f = *state;
    char path[512];

    queue_close(f->q);
    f->q = NULL;
    snprintf(path, sizeof path, "%s/jobs/notajob", f->dir);
    mkdir(path, 0700);
    queue_fixture_reopen(f);
    assert_true(exists(f, "corrupt/notajob"));
}

static void test_job_active_at_a_crash_is_queued_again_with_confirmed_pages_kept(void **state)
{
    struct queue_fixture *f = *state;
    uint64_t id = submit_simple(f->q, "5551234", 3);
    struct job j;
    char *text;

    assert_int_equal(queue_snapshot(f->q, id, &j), 0);
    queue_close(f->q);
    f->q = NULL;
    /* what a crash mid-call leaves behind */
    j.status = JOB_ACTIVE;
    j.attempts = 1;
    j.pages_sent = 2;
    strcpy(j.modem, "modem0");
    assert_true(jobfile_format(&j, &text) > 0);
    write_text(f, job_rel("jobs", id, "job"), text);
    free(text);
    queue_fixture_reopen(f);
    assert_int_equal(queue_snapshot(f->q, id, &j), 0);
    assert_int_equal(j.status, JOB_QUEUED);
    assert_int_equal(j.pages_sent, 2);
    assert_int_equal(j.attempts, 1);
    assert_non_null(strstr(read_text(f, job_rel("jobs", id, "job")), "\nstatus: queued\n"));
    assert_int_equal(queue_run_once(f->q), 1);
    assert_int_equal(f->line.calls[0].first_page, 2);
    assert_int_equal(f->line.calls[0].page_count, 1);
}

static void test_job_active_at_a_crash_with_every_page_confirmed_is_done_not_resent(void **state)
{
    struct queue_fixture *f = *state;
    uint64_t id = submit_simple(f->q, "5551234", 3);
    struct job j;
    char *text;

    assert_int_equal(queue_snapshot(f->q, id, &j), 0);
    queue_close(f->q);
    f->q = NULL;
    /* a crash after the last page was confirmed, before the call's result */
    j.status = JOB_ACTIVE;
    j.attempts = 1;
    j.pages_sent = 3;
    assert_true(jobfile_format(&j, &text) > 0);
    write_text(f, job_rel("jobs", id, "job"), text);
    free(text);
    queue_fixture_reopen(f);
    assert_int_equal(queue_snapshot(f->q, id, &j), 0);
    assert_int_equal(j.status, JOB_DONE);
    assert_int_equal(j.pages_sent, 3);
    assert_non_null(strstr(read_text(f, job_rel("jobs", id, "job")), "\nstatus: done\n"));
    assert_int_equal(queue_run_once(f->q), 0);
    assert_int_equal(f->line.ncalls, 0);
}

static void test_whole_queue_pause_is_a_durable_file(void **state)
{
    struct queue_fixture *f = *state;

    assert_int_equal(queue_set_paused(f->q, true), 0);
    assert_true(exists(f, "paused"));
    queue_fixture_reopen(f);
    assert_true(queue_is_paused(f->q));
    assert_int_equal(queue_set_paused(f->q, false), 0);
    assert_false(exists(f, "paused"));
}

static void test_refused_document_leaves_nothing_in_the_spool(void **state)
{
    struct queue_fixture *f = *state;
    struct queue_request req = {0};
    struct tiff_spec spec = {2, 1728, 50, 1, 204, 196, 1};
    char why[200];
    uint64_t id;
    int fd = make_tiff(&spec);

    /* cut into the second page: the first page is staged, then refused */
    assert_int_equal(ftruncate(fd, lseek(fd, 0, SEEK_END) - 200), 0);

    strcpy(req.recipient_number, "5551234");
    assert_int_equal(queue_submit(f->q, &test_owner, &req, &fd, 1, &id, why, sizeof why), -EINVAL);
    close(fd);
    char path[512];
    snprintf(path, sizeof path, "%s/tmp", f->dir);
    assert_int_equal(rmdir(path), 0); /* empty */
    snprintf(path, sizeof path, "%s/jobs", f->dir);
    assert_int_equal(rmdir(path), 0);
    mkdir(path, 0700);
    snprintf(path, sizeof path, "%s/tmp", f->dir);
    mkdir(path, 0700);
}

static void test_upload_file_is_anonymous_and_writable(void **state)
{
    struct queue_fixture *f = *state;
    int fd = queue_upload_open(f->q);

    assert_true(fd >= 0);
    assert_int_equal(write(fd, "abc", 3), 3);
    close(fd);
    char path[512];
    snprintf(path, sizeof path, "%s/tmp", f->dir);
    assert_int_equal(rmdir(path), 0); /* nothing named was left */
    mkdir(path, 0700);
}

int main(void)
{
#define T(name) cmocka_unit_test_setup_teardown(name, queue_fixture_setup_spool, queue_fixture_teardown)
    const struct CMUnitTest tests[] = {
        T(test_submitted_job_is_a_directory_with_job_file_pages_and_log),
        T(test_fresh_spool_hands_out_the_first_job_id_and_counts_on_from_it),
        T(test_the_counter_on_disk_stays_ahead_of_every_id_handed_out),
        T(test_many_threads_committing_at_once_all_succeed_and_load_after_reopen),
        T(test_spool_with_small_ids_keeps_them_and_continues_from_the_first_job_id),
        T(test_damaged_counter_with_small_ids_present_continues_from_the_first_job_id),
        T(test_ids_grow_past_six_digits_without_wrapping),
        T(test_page_fd_reads_the_stored_tiff),
        T(test_ids_are_never_reused_after_reopen),
        T(test_ids_stay_unique_when_the_counter_file_is_lost),
        T(test_leftover_temp_files_are_removed_at_open),
        T(test_job_with_missing_page_is_moved_to_corrupt),
        T(test_truncated_job_file_is_moved_to_corrupt),
        T(test_stray_entries_in_jobs_are_set_aside),
        T(test_job_active_at_a_crash_is_queued_again_with_confirmed_pages_kept),
        T(test_job_active_at_a_crash_with_every_page_confirmed_is_done_not_resent),
        T(test_whole_queue_pause_is_a_durable_file),
        T(test_refused_document_leaves_nothing_in_the_spool),
        T(test_upload_file_is_anonymous_and_writable),
    };
    return cmocka_run_group_tests(tests, NULL, NULL);
}

/*
 * test_queue_receive.c - receive jobs (inbound faxes), run over both the
 * in-memory backend and the file spool: creation, pages appearing only
 * when stored, the end of the call, listing, deletion rights, and what a
 * restart does to a reception cut off in the middle.
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
#include <sys/stat.h>
#include <unistd.h>

#include "queue/backend_mem.h"
#include "queue_testutil.h"

static struct event_log events; /* what the open queue told its listener */

/* Opens the queue (again) and listens to it from a clean event log. */
static void open_queue(struct queue_fixture *f)
{
    queue_fixture_open(f);
    memset(&events, 0, sizeof events);
    assert_int_equal(queue_subscribe(f->q, event_log_listener, &events), 0);
}

static int setup_common(void **state, bool spool)
{
    struct queue_fixture *f = queue_fixture_new(spool);

    f->cfg.receive_uid = 8;
    f->cfg.receive_gid = 9;
    open_queue(f);
    *state = f;
    return 0;
}

static int setup_mem(void **state)
{
    return setup_common(state, false);
}

static int setup_spool(void **state)
{
    return setup_common(state, true);
}

static void reopen(struct queue_fixture *f)
{
    queue_close(f->q);
    open_queue(f);
}

static struct job snap(struct queue_fixture *f, uint64_t id)
{
    struct job j;
    assert_int_equal(queue_snapshot(f->q, id, &j), 0);
    return j;
}

/* The job's stored text, wherever the backend keeps it. */
static char *stored_text(struct queue_fixture *f, uint64_t id)
{
    static char buf[8192];

    if (f->mem != NULL) {
        const char *t = backend_mem_job_text(f->mem, id);
        snprintf(buf, sizeof buf, "%s", t ? t : "");
        return buf;
    }
    char path[512];
    snprintf(path, sizeof path, "%s/jobs/%llu/job", f->dir, (unsigned long long)id);
    FILE *fp = fopen(path, "r");
    size_t n = fp != NULL ? fread(buf, 1, sizeof buf - 1, fp) : 0;
    buf[n] = '\0';
    if (fp != NULL)
        fclose(fp);
    return buf;
}

/* A received page as a modem would hand it over: a one-page TIFF. */
static int page_file(void)
{
    return make_good_tiff(1);
}

static uint64_t begin(struct queue_fixture *f)
{
    uint64_t id = 0;
    assert_int_equal(queue_receive_begin(f->q, "modem3", "5550199", &id), 0);
    return id;
}

static void add_page(struct queue_fixture *f, uint64_t id)
{
    int fd = page_file();
    assert_int_equal(queue_receive_page(f->q, id, fd), 0);
    close(fd);
}

static struct queue_call_result received_ok(void)
{
    struct queue_call_result r = test_result(QF_NONE, "", 0);
    r.bit_rate = 14400;
    r.ecm = 1;
    r.remote_id = "+1 555 0100";
    r.duration = 42;
    r.compression = "T.6";
    return r;
}

static void read_all(int fd, char *buf, size_t len, size_t *got)
{
    ssize_t n = pread(fd, buf, len, 0);
    assert_true(n > 0);
    *got = (size_t)n;
}

/* ---- tests ---------------------------------------------------------- */

static void test_inbound_call_creates_a_durable_receiving_job_owned_by_the_receive_owner(void **state)
{
    struct queue_fixture *f = *state;
    uint64_t id = begin(f);
    struct job j = snap(f, id);

    assert_int_equal(j.type, JOB_RECEIVE);
    assert_int_equal(j.status, JOB_RECEIVING);
    assert_int_equal(j.owner_uid, 8);
    assert_int_equal(j.owner_gid, 9);
    assert_string_equal(j.caller_id, "5550199");
    assert_string_equal(j.modem, "modem3");
    assert_int_equal(j.page_count, 0);
    assert_int_equal(j.submitted, f->clock.now);
    assert_non_null(strstr(stored_text(f, id), "\nstatus: receiving\n"));
    assert_non_null(strstr(stored_text(f, id), "\ncaller_id: 5550199\n"));
    assert_int_equal(events.count[QE_ADDED], 1);
}

static void test_received_faxes_belong_to_root_by_default(void **state)
{
    struct queue_fixture *f = *state;
    uint64_t id;

    queue_close(f->q);
    f->cfg.receive_uid = 0;
    f->cfg.receive_gid = 0;
    open_queue(f);
    assert_int_equal(queue_receive_begin(f->q, "modem0", "", &id), 0);
    assert_int_equal(snap(f, id).owner_uid, 0);
    assert_int_equal(snap(f, id).owner_gid, 0);
}

static void test_received_page_is_stored_as_the_next_page_and_counted(void **state)
{
    struct queue_fixture *f = *state;
    uint64_t id = begin(f);
    char sent[65536], stored[65536];
    size_t nsent, nstored;
    int src = page_file();

    read_all(src, sent, sizeof sent, &nsent);
    int changed_before = events.count[QE_CHANGED];
    assert_int_equal(queue_receive_page(f->q, id, src), 0);
    close(src);
    add_page(f, id);
    struct job j = snap(f, id);
    assert_int_equal(j.page_count, 2);
    assert_true(events.count[QE_CHANGED] >= changed_before + 2);
    int fd = queue_open_page(f->q, id, 0);
    assert_true(fd >= 0);
    read_all(fd, stored, sizeof stored, &nstored);
    close(fd);
    assert_int_equal(nstored, nsent);
    assert_memory_equal(stored, sent, nsent);
    assert_int_equal(j.size, 2 * nsent);
    assert_non_null(strstr(stored_text(f, id), "\npage_count: 2\n"));
    assert_int_equal(queue_open_page(f->q, id, 2), -ENOENT);
}

static void test_page_that_is_not_a_tiff_is_refused_and_not_counted(void **state)
{
    struct queue_fixture *f = *state;
    uint64_t id = begin(f);
    int fd = memfd_create("page", 0);

    assert_int_equal(write(fd, "garbage bytes", 13), 13);
    assert_int_equal(queue_receive_page(f->q, id, fd), -EINVAL);
    close(fd);
    assert_int_equal(snap(f, id).page_count, 0);
    assert_int_equal(queue_open_page(f->q, id, 0), -ENOENT);
}

static void test_page_over_the_document_size_limit_is_refused(void **state)
{
    struct queue_fixture *f = *state;
    uint64_t id;

    queue_close(f->q);
    f->cfg.max_document_bytes = 64;
    open_queue(f);
    id = begin(f);
    int fd = page_file();
    assert_int_equal(queue_receive_page(f->q, id, fd), -EFBIG);
    close(fd);
    assert_int_equal(snap(f, id).page_count, 0);
    assert_int_equal(queue_open_page(f->q, id, 0), -ENOENT);
}

static void test_completed_reception_is_done_with_the_call_facts(void **state)
{
    struct queue_fixture *f = *state;
    uint64_t id = begin(f);
    struct queue_call_result r = received_ok();

    add_page(f, id);
    queue_call_status(f->q, id, "receiving page 2 at 14400 bps");
    assert_string_equal(snap(f, id).device_status, "receiving page 2 at 14400 bps");
    add_page(f, id);
    f->clock.now += 42;
    assert_int_equal(queue_receive_finished(f->q, id, &r), 0);
    struct job j = snap(f, id);
    assert_int_equal(j.status, JOB_DONE);
    assert_int_equal(j.page_count, 2);
    assert_int_equal(j.bit_rate, 14400);
    assert_int_equal(j.ecm, 1);
    assert_string_equal(j.remote_id, "+1 555 0100");
    assert_string_equal(j.compression, "T.6");
    assert_int_equal(j.call_duration, 42);
    assert_int_equal(j.finished, f->clock.now);
    assert_string_equal(j.error_code, "");
    assert_non_null(strstr(stored_text(f, id), "\nstatus: done\n"));
}

static void test_failed_reception_keeps_its_pages_and_the_reason(void **state)
{
    struct queue_fixture *f = *state;
    uint64_t id = begin(f);
    struct queue_call_result r = test_result(QF_DROPPED, "call_dropped", 0);

    r.text = "the sender hung up during page 2";
    add_page(f, id);
    assert_int_equal(queue_receive_finished(f->q, id, &r), 0);
    struct job j = snap(f, id);
    assert_int_equal(j.status, JOB_FAILED);
    assert_string_equal(j.error_code, "call_dropped");
    assert_string_equal(j.error_text, "the sender hung up during page 2");
    assert_int_equal(j.page_count, 1);
    int fd = queue_open_page(f->q, id, 0);
    assert_true(fd >= 0);
    close(fd);
}

static void test_reports_after_the_call_ended_are_refused(void **state)
{
    struct queue_fixture *f = *state;
    uint64_t id = begin(f);
    struct queue_call_result r = received_ok();
    int fd = page_file();

    assert_int_equal(queue_receive_finished(f->q, id, &r), 0);
    assert_int_equal(queue_receive_page(f->q, id, fd), -EBUSY);
    assert_int_equal(queue_receive_finished(f->q, id, &r), -EBUSY);
    assert_int_equal(queue_receive_page(f->q, 999, fd), -ENOENT);
    close(fd);
    assert_int_equal(snap(f, id).page_count, 0);
}

static void test_received_jobs_are_listed_apart_from_send_jobs(void **state)
{
    struct queue_fixture *f = *state;
    uint64_t sent = submit_simple(f->q, "5551234", 1), rx = begin(f);
    uint64_t *ids;
    size_t n;

    assert_int_equal(queue_list(f->q, QL_RECEIVED, &ids, &n), 0);
    assert_int_equal(n, 1);
    assert_int_equal(ids[0], rx);
    free(ids);
    assert_int_equal(queue_list(f->q, QL_UNFINISHED | QL_HISTORY, &ids, &n), 0);
    assert_int_equal(n, 1);
    assert_int_equal(ids[0], sent);
    free(ids);
}

static void test_received_job_is_deleted_only_by_its_owner_or_an_administrator(void **state)
{
    struct queue_fixture *f = *state;
    struct queue_caller owner = {8, 9, NULL, 0};
    struct queue_call_result r = received_ok();
    uint64_t a = begin(f), b = begin(f);
    char why[200];
    struct job j;

    assert_int_equal(queue_delete(f->q, &owner, a, why, sizeof why), -EBUSY); /* still receiving */
    queue_receive_finished(f->q, a, &r);
    queue_receive_finished(f->q, b, &r);
    assert_int_equal(queue_delete(f->q, &test_stranger, a, why, sizeof why), -EPERM);
    assert_int_equal(queue_snapshot(f->q, a, &j), 0);
    assert_int_equal(queue_delete(f->q, &owner, a, why, sizeof why), 0);
    assert_int_equal(queue_delete(f->q, &test_root, b, why, sizeof why), 0);
    assert_int_equal(queue_snapshot(f->q, a, &j), -ENOENT);
    assert_int_equal(queue_snapshot(f->q, b, &j), -ENOENT);
    assert_int_equal(events.count[QE_REMOVED], 2);
}

/* A failed reception restarted would become a queued send with nothing
 * to dial and no way to delete it; every operation is refused and the
 * fax stays as it was, deletable. */
static void test_operations_on_a_received_fax_are_refused_and_change_nothing(void **state)
{
    struct queue_fixture *f = *state;
    struct queue_caller owner = {.uid = 8, .gid = 9};
    struct queue_call_result r = {.failure = QF_DROPPED};
    uint64_t done = begin(f), failed = begin(f);
    char why[256] = "";

    struct queue_call_result ok = received_ok();
    queue_receive_finished(f->q, done, &ok);
    queue_receive_finished(f->q, failed, &r);
    for (enum queue_op op = QOP_PAUSE; op <= QOP_CANCEL; op++) {
        for (int k = 0; k < 2; k++) {
            uint64_t id = k ? failed : done;
            struct job before = snap(f, id);
            why[0] = '\0';
            assert_int_equal(queue_control(f->q, &test_root, id, op, why, sizeof why), -EBUSY);
            assert_non_null(strstr(why, "received fax"));
            struct job after = snap(f, id);
            assert_memory_equal(&before, &after, sizeof before);
            assert_false(job_op_allowed(JOB_RECEIVE, before.status, op));
        }
    }
    assert_int_equal(snap(f, failed).status, JOB_FAILED);
    assert_int_equal(queue_delete(f->q, &owner, failed, why, sizeof why), 0);
    assert_int_equal(queue_delete(f->q, &owner, done, why, sizeof why), 0);
}

static void test_reception_cut_by_a_restart_fails_with_its_pages_kept(void **state)
{
    struct queue_fixture *f = *state;
    uint64_t id = begin(f);

    add_page(f, id);
    add_page(f, id);
    reopen(f);
    struct job j = snap(f, id);
    assert_int_equal(j.status, JOB_FAILED);
    assert_string_equal(j.error_code, "interrupted");
    assert_int_equal(j.page_count, 2);
    int fd = queue_open_page(f->q, id, 1);
    assert_true(fd >= 0);
    close(fd);
    assert_non_null(strstr(stored_text(f, id), "\nstatus: failed\n"));
}

static void test_received_faxes_are_not_purged_with_the_history(void **state)
{
    struct queue_fixture *f = *state;
    struct queue_call_result r = received_ok();
    uint64_t id = begin(f);

    queue_receive_finished(f->q, id, &r);
    f->clock.now += 31 * 86400;
    reopen(f); /* purges at open */
    queue_run_once(f->q);
    assert_int_equal(snap(f, id).status, JOB_DONE);
}

static void test_receives_that_failed_without_pages_are_purged_after_received_empty_hours(void **state)
{
    struct queue_fixture *f = *state;
    struct queue_call_result not_fax = test_result(QF_NOT_FAX, "not_fax", 0);
    struct queue_call_result dropped = test_result(QF_DROPPED, "call_dropped", 0);
    struct queue_call_result ok = received_ok();
    struct job j;

    not_fax.text = "The caller never started a fax exchange.";
    f->cfg.received_empty_hours = 24;
    reopen(f);
    uint64_t empty = begin(f), partial = begin(f), done = begin(f);
    add_page(f, partial);
    add_page(f, done);
    queue_receive_finished(f->q, empty, &not_fax);
    queue_receive_finished(f->q, partial, &dropped);
    queue_receive_finished(f->q, done, &ok);
    f->clock.now += 23 * 3600;
    reopen(f);
    assert_int_equal(queue_snapshot(f->q, empty, &j), 0);
    f->clock.now += 3600;
    reopen(f); /* purges at open */
    assert_int_equal(queue_snapshot(f->q, empty, &j), -ENOENT);
    assert_int_equal(snap(f, partial).status, JOB_FAILED);
    assert_int_equal(snap(f, done).status, JOB_DONE);
}

static void test_received_faxes_are_purged_after_received_days(void **state)
{
    struct queue_fixture *f = *state;
    struct queue_call_result ok = received_ok();
    struct job j;

    f->cfg.received_days = 7;
    reopen(f);
    uint64_t old = begin(f);
    add_page(f, old);
    queue_receive_finished(f->q, old, &ok);
    f->clock.now += 6 * 86400;
    uint64_t young = begin(f);
    add_page(f, young);
    queue_receive_finished(f->q, young, &ok);
    f->clock.now += 86400;
    reopen(f);
    assert_int_equal(queue_snapshot(f->q, old, &j), -ENOENT);
    assert_int_equal(snap(f, young).status, JOB_DONE);
}

static void test_a_call_still_receiving_is_never_purged(void **state)
{
    struct queue_fixture *f = *state;

    f->cfg.received_days = 1;
    f->cfg.received_empty_hours = 1;
    reopen(f);
    uint64_t id = begin(f);
    f->clock.now += 3 * 86400;
    queue_run_once(f->q);
    assert_int_equal(snap(f, id).status, JOB_RECEIVING);
}

static void test_receive_job_log_tells_the_story_of_the_call(void **state)
{
    struct queue_fixture *f = *state;
    struct queue_call_result r = received_ok();
    uint64_t id = begin(f);
    char buf[4096] = "";

    queue_call_log(f->q, id, "phase B: DIS sent");
    add_page(f, id);
    queue_receive_finished(f->q, id, &r);
    int fd = queue_open_log(f->q, id);
    assert_true(fd >= 0);
    assert_true(pread(fd, buf, sizeof buf - 1, 0) > 0);
    close(fd);
    assert_non_null(strstr(buf, "receiving on modem3 from 5550199"));
    assert_non_null(strstr(buf, "phase B: DIS sent"));
    assert_non_null(strstr(buf, "page 1 received"));
    assert_non_null(strstr(buf, "reception complete: 1 page received from \"+1 555 0100\""));
}

/* Memory backend only: its one-shot failure plays a full disk. */
static void test_page_that_cannot_be_stored_is_not_counted_and_the_call_goes_on(void **state)
{
    struct queue_fixture *f = *state;
    uint64_t id = begin(f);
    int fd = page_file();

    backend_mem_fail_next(f->mem, MEM_FAULT_ADD_PAGE, ENOSPC);
    assert_int_equal(queue_receive_page(f->q, id, fd), -ENOSPC);
    struct job j = snap(f, id);
    assert_int_equal(j.page_count, 0);
    assert_int_equal(j.status, JOB_RECEIVING);
    assert_int_equal(queue_receive_page(f->q, id, fd), 0);
    close(fd);
    assert_int_equal(snap(f, id).page_count, 1);
}

/* Spool only: the page file is in place but the crash came before the job
 * file counted it. */
static void test_page_stored_just_before_a_crash_is_kept_at_start(void **state)
{
    struct queue_fixture *f = *state;
    uint64_t id = begin(f);
    char src[512], dst[512];

    add_page(f, id);
    queue_close(f->q);
    f->q = NULL;
    snprintf(src, sizeof src, "%s/jobs/%llu/pages/001.tif", f->dir, (unsigned long long)id);
    snprintf(dst, sizeof dst, "%s/jobs/%llu/pages/002.tif", f->dir, (unsigned long long)id);
    assert_int_equal(link(src, dst), 0);
    snprintf(dst, sizeof dst, "%s/jobs/%llu/pages/003.tif.part", f->dir, (unsigned long long)id);
    int fd = open(dst, O_WRONLY | O_CREAT, 0600);
    assert_true(fd >= 0);
    assert_int_equal(write(fd, "II*", 3), 3);
    close(fd);
    open_queue(f);
    struct job j = snap(f, id);
    assert_int_equal(j.page_count, 2);
    assert_int_equal(j.status, JOB_FAILED);
    struct stat st;
    assert_int_equal(stat(dst, &st), -1); /* the partial page is gone */
    FILE *report = fopen("/dev/null", "w");
    assert_int_equal(queue_check_spool(f->dir, report), 0);
    fclose(report);
}

int main(void)
{
#define BOTH(name) cmocka_unit_test_setup_teardown(name, setup_mem, queue_fixture_teardown), \
                   cmocka_unit_test_setup_teardown(name, setup_spool, queue_fixture_teardown)
    const struct CMUnitTest tests[] = {
        BOTH(test_inbound_call_creates_a_durable_receiving_job_owned_by_the_receive_owner),
        BOTH(test_received_faxes_belong_to_root_by_default),
        BOTH(test_received_page_is_stored_as_the_next_page_and_counted),
        BOTH(test_page_that_is_not_a_tiff_is_refused_and_not_counted),
        BOTH(test_page_over_the_document_size_limit_is_refused),
        BOTH(test_completed_reception_is_done_with_the_call_facts),
        BOTH(test_failed_reception_keeps_its_pages_and_the_reason),
        BOTH(test_reports_after_the_call_ended_are_refused),
        BOTH(test_received_jobs_are_listed_apart_from_send_jobs),
        BOTH(test_received_job_is_deleted_only_by_its_owner_or_an_administrator),
        BOTH(test_reception_cut_by_a_restart_fails_with_its_pages_kept),
        BOTH(test_operations_on_a_received_fax_are_refused_and_change_nothing),
        BOTH(test_received_faxes_are_not_purged_with_the_history),
        BOTH(test_receives_that_failed_without_pages_are_purged_after_received_empty_hours),
        BOTH(test_received_faxes_are_purged_after_received_days),
        BOTH(test_a_call_still_receiving_is_never_purged),
        BOTH(test_receive_job_log_tells_the_story_of_the_call),
        cmocka_unit_test_setup_teardown(test_page_that_cannot_be_stored_is_not_counted_and_the_call_goes_on,
                                        setup_mem, queue_fixture_teardown),
        cmocka_unit_test_setup_teardown(test_page_stored_just_before_a_crash_is_kept_at_start, setup_spool,
                                        queue_fixture_teardown),
    };
    return cmocka_run_group_tests(tests, NULL, NULL);
}

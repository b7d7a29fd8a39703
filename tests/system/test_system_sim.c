/*
 * test_system_sim.c - the queue engine driving real modems on the simulated
 * phone network: every reserved test number gives its documented outcome
 * through the whole engine, retries included. The clock is fake (retry
 * delays are skipped by moving it); the calls themselves are real spandsp
 * sessions run at fast pace.
 */
#include <errno.h>
#include <fcntl.h>
#include <setjmp.h>
#include <stdarg.h>
#include <stddef.h>
#include <stdint.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/stat.h>
#include <time.h>
#include <unistd.h>

#include <cmocka.h>
#include <tiffio.h>

#include "daemon/wiring.h"
#include "tests/system/system_util.h"

/* Each test's fixture is the shared engine on a sim line (system_util.h). */
static int open_engine(struct system_engine *f, enum modem_pace pace)
{
    struct modem_pool_config mcfg = {
        .channels = 2, .line_spec = "sim", .pace = pace, .sim_dir = f->sim, .workers = 1, .tsid = "faxfs test",
    };
    return system_engine_open(f, &mcfg);
}

static int setup(void **state)
{
    struct system_engine *f = calloc(1, sizeof *f);
    if (!f || system_engine_init(f, "/tmp/faxfs-system-XXXXXX") < 0)
        return -1;
    if (open_engine(f, MODEM_PACE_FAST) < 0)
        return -1;
    *state = f;
    return 0;
}

/* Real-time pace, so a call lasts long enough to be interrupted. */
static int setup_realtime(void **state)
{
    if (setup(state) < 0)
        return -1;
    struct system_engine *f = *state;
    system_engine_close(f);
    return open_engine(f, MODEM_PACE_REALTIME);
}

static int teardown(void **state)
{
    struct system_engine *f = *state;
    system_engine_cleanup(f);
    free(f);
    return 0;
}

static uint64_t submit(struct system_engine *f, const char *number, int pages)
{
    char path[300];
    snprintf(path, sizeof path, "%s/doc.tif", f->dir);
    return system_submit(f, number, path, pages, 400);
}

static struct job attempt(struct system_engine *f, uint64_t id)
{
    return system_attempt(f, id, 120);
}

static void assert_retrying_after(struct system_engine *f, const struct job *j, int delay)
{
    assert_int_equal(j->status, JOB_RETRYING);
    assert_int_equal(j->next_attempt - f->now, delay);
    assert_true(j->error_code[0] != '\0');
    system_engine_set_now(f, j->next_attempt);
}

static void test_normal_number_is_sent_in_one_call(void **state)
{
    struct system_engine *f = *state;
    uint64_t id = submit(f, "555-1234", 2);
    struct job j = attempt(f, id);
    assert_int_equal(j.status, JOB_DONE);
    assert_int_equal(j.pages_sent, 2);
    assert_int_equal(j.attempts, 1);
    assert_int_equal(j.bit_rate, 14400);
    assert_int_equal(j.ecm, 1);
    assert_string_equal(j.transport, "audio");
    assert_string_equal(j.recipient_number, "5551234");
}

static void test_busy_number_is_retried_after_busy_delay_until_attempts_run_out(void **state)
{
    struct system_engine *f = *state;
    uint64_t id = submit(f, "5550101", 1);
    struct job j = attempt(f, id);
    assert_string_equal(j.error_code, "busy");
    assert_retrying_after(f, &j, 180);
    j = attempt(f, id);
    assert_retrying_after(f, &j, 180);
    j = attempt(f, id);
    assert_int_equal(j.status, JOB_FAILED);
    assert_int_equal(j.attempts, 3);
    assert_int_equal(j.pages_sent, 0);
}

static void test_unanswered_number_is_retried_after_no_answer_delay(void **state)
{
    struct system_engine *f = *state;
    uint64_t id = submit(f, "5550102", 1);
    struct job j = attempt(f, id);
    assert_string_equal(j.error_code, "no_answer");
    assert_retrying_after(f, &j, 300);
}

static void test_person_answering_is_not_a_fax_machine(void **state)
{
    struct system_engine *f = *state;
    uint64_t id = submit(f, "5550103", 1);
    struct job j = attempt(f, id);
    assert_string_equal(j.error_code, "not_fax");
    assert_retrying_after(f, &j, 300);
    assert_int_equal(j.pages_sent, 0);
}

static void test_hangup_after_first_page_retries_only_the_rest(void **state)
{
    struct system_engine *f = *state;
    uint64_t id = submit(f, "5550104", 3);
    struct job j = attempt(f, id);
    assert_int_equal(j.pages_sent, 1);
    assert_retrying_after(f, &j, 60);
    j = attempt(f, id);
    assert_int_equal(j.status, JOB_DONE);
    assert_int_equal(j.pages_sent, 3);
    assert_int_equal(j.attempts, 2);
    /* The second call carried pages 2 and 3 only. */
    char latest[400];
    assert_int_equal(faxtest_latest_sim_file(f->sim, "5550104", latest, sizeof latest), 0);
    assert_int_equal(faxtest_page_count(latest), 2);
}

static void test_busy_twice_then_answered_is_done_on_third_attempt(void **state)
{
    struct system_engine *f = *state;
    uint64_t id = submit(f, "5550105", 1);
    struct job j = attempt(f, id);
    assert_retrying_after(f, &j, 180);
    j = attempt(f, id);
    assert_retrying_after(f, &j, 180);
    j = attempt(f, id);
    assert_int_equal(j.status, JOB_DONE);
    assert_int_equal(j.attempts, 3);
}

static void test_noisy_line_succeeds_at_lower_speed(void **state)
{
    struct system_engine *f = *state;
    uint64_t id = submit(f, "5550106", 1);
    struct job j = attempt(f, id);
    assert_int_equal(j.status, JOB_DONE);
    assert_true(j.bit_rate > 0 && j.bit_rate < 14400);
}

static void test_old_machine_gets_no_ecm_at_9600(void **state)
{
    struct system_engine *f = *state;
    uint64_t id = submit(f, "5550107", 1);
    struct job j = attempt(f, id);
    assert_int_equal(j.status, JOB_DONE);
    assert_int_equal(j.ecm, 0);
    assert_true(j.bit_rate > 0 && j.bit_rate <= 9600);
}

static void test_received_pages_match_sent_pages(void **state)
{
    struct system_engine *f = *state;
    uint64_t id = submit(f, "5551000", 3);
    struct job j = attempt(f, id);
    assert_int_equal(j.status, JOB_DONE);
    char doc[300], latest[400];
    snprintf(doc, sizeof doc, "%s/doc.tif", f->dir);
    assert_int_equal(faxtest_latest_sim_file(f->sim, "5551000", latest, sizeof latest), 0);
    assert_int_equal(faxtest_page_count(latest), 3);
    for (int p = 0; p < 3; p++)
        assert_int_equal(system_tiff_page_pixels_equal(doc, p, latest, p), 1);
}

/* Waits (bounded) until the job's confirmed pages reach n. */
static void wait_pages_sent(struct system_engine *f, uint64_t id, int n)
{
    struct job j;
    for (int i = 0; i < 900; i++) {
        assert_int_equal(queue_snapshot(f->q, id, &j), 0);
        if (j.pages_sent >= n)
            return;
        usleep(100 * 1000);
    }
    fail_msg("job %llu: %d pages confirmed after 90 s, expected %d", (unsigned long long)id, j.pages_sent, n);
}

static void test_cancel_aborts_the_active_call(void **state)
{
    struct system_engine *f = *state;
    uint64_t id = submit(f, "5552000", 3);
    assert_int_equal(queue_run_once(f->q), 1);
    wait_pages_sent(f, id, 1);
    struct queue_caller me = {.uid = getuid(), .gid = getgid()};
    char why[256];
    assert_int_equal(queue_control(f->q, &me, id, QOP_CANCEL, why, sizeof why), 0);
    struct job j;
    assert_int_equal(queue_snapshot(f->q, id, &j), 0);
    assert_int_equal(j.status, JOB_CANCELED);
    /* The channel is free again once the aborted call has reported. */
    struct queue_modem_info m = {0};
    for (int i = 0; i < 50 && queue_modem_info(f->q, 0, &m) == 0 && m.job != 0; i++)
        usleep(100 * 1000);
    assert_int_equal(m.job, 0);
    assert_true(j.pages_sent < 3);
}

static void test_restart_mid_call_requeues_without_resending_confirmed_pages(void **state)
{
    struct system_engine *f = *state;
    uint64_t id = submit(f, "5553000", 3);
    assert_int_equal(queue_run_once(f->q), 1);
    wait_pages_sent(f, id, 1);
    system_engine_close(f);
    assert_int_equal(open_engine(f, MODEM_PACE_FAST), 0);

    struct job j;
    assert_int_equal(queue_snapshot(f->q, id, &j), 0);
    assert_int_equal(j.status, JOB_QUEUED);
    int confirmed = j.pages_sent;
    assert_true(confirmed >= 1 && confirmed < 3);
    assert_int_equal(j.attempts, 0); /* a call cut by shutdown is not an attempt */

    j = attempt(f, id);
    assert_int_equal(j.status, JOB_DONE);
    assert_int_equal(j.pages_sent, 3);
    char latest[400];
    assert_int_equal(faxtest_latest_sim_file(f->sim, "5553000", latest, sizeof latest), 0);
    assert_int_equal(faxtest_page_count(latest), 3 - confirmed);
}

int main(int argc, char **argv)
{
    if (argc > 1)
        cmocka_set_test_filter(argv[1]); /* one case: ctest runs each on its own (SPLIT) */
    const struct CMUnitTest tests[] = {
        cmocka_unit_test_setup_teardown(test_normal_number_is_sent_in_one_call, setup, teardown),
        cmocka_unit_test_setup_teardown(test_busy_number_is_retried_after_busy_delay_until_attempts_run_out,
                                        setup, teardown),
        cmocka_unit_test_setup_teardown(test_unanswered_number_is_retried_after_no_answer_delay, setup, teardown),
        cmocka_unit_test_setup_teardown(test_person_answering_is_not_a_fax_machine, setup, teardown),
        cmocka_unit_test_setup_teardown(test_hangup_after_first_page_retries_only_the_rest, setup, teardown),
        cmocka_unit_test_setup_teardown(test_busy_twice_then_answered_is_done_on_third_attempt, setup, teardown),
        cmocka_unit_test_setup_teardown(test_noisy_line_succeeds_at_lower_speed, setup, teardown),
        cmocka_unit_test_setup_teardown(test_old_machine_gets_no_ecm_at_9600, setup, teardown),
        cmocka_unit_test_setup_teardown(test_received_pages_match_sent_pages, setup, teardown),
        cmocka_unit_test_setup_teardown(test_cancel_aborts_the_active_call, setup_realtime, teardown),
        cmocka_unit_test_setup_teardown(test_restart_mid_call_requeues_without_resending_confirmed_pages,
                                        setup_realtime, teardown),
    };
    return cmocka_run_group_tests(tests, NULL, NULL);
}

/*
 * test_modem_exec.c - the exec line: a whole call through a bridge
 * command running a spandsp receiver, and the exit statuses a command
 * uses to say why there was no call.
 */
#include <errno.h>
#include <limits.h>
#include <setjmp.h>
#include <stdarg.h>
#include <stddef.h>
#include <stdint.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <unistd.h>

#include <cmocka.h>

#include "modem/modem.h"
#include "modem_testlib.h"

#define CALL_TIMEOUT_S 120

struct fixture {
    char *dir;
    char pages[2][PATH_MAX];
    const char *page_ptrs[2];
    struct test_recorder rec;
};

static int setup(void **state)
{
    struct fixture *f = calloc(1, sizeof *f);
    f->dir = test_tempdir();
    for (int i = 0; i < 2; i++) {
        snprintf(f->pages[i], sizeof f->pages[i], "%s/page%d.tif", f->dir, i + 1);
        if (test_write_page(f->pages[i], 500, (unsigned)i + 11) != 0)
            return -1;
        f->page_ptrs[i] = f->pages[i];
    }
    test_recorder_init(&f->rec);
    *state = f;
    return 0;
}

static int teardown(void **state)
{
    struct fixture *f = *state;
    test_recorder_destroy(&f->rec);
    faxtest_rmtree(f->dir);
    free(f->dir);
    free(f);
    return 0;
}

/* One call over "exec:<bridge> ARGS"; the pool is gone when this returns,
 * so the bridge has exited and its files are complete. */
static const struct modem_result *call_through(struct fixture *f, const char *bridge_args, int pages)
{
    char spec[PATH_MAX * 2];
    snprintf(spec, sizeof spec, "exec:%s %s", MODEM_EXEC_BRIDGE, bridge_args);
    struct modem_pool_config cfg = { .channels = 1, .line_spec = spec, .scratch_dir = f->dir, .workers = 1 };
    struct modem_pool *pool;
    char err[256];
    assert_int_equal(modem_pool_create(&pool, &cfg, err, sizeof err), 0);
    struct modem_send_request req = { .number = "5551234", .page_paths = f->page_ptrs, .page_count = pages,
                                      .first_page_number = 1, .total_pages = pages };
    assert_int_equal(modem_send(pool, 0, &req, &test_recorder_events, &f->rec), 0);
    assert_true(test_recorder_wait(&f->rec, CALL_TIMEOUT_S));
    modem_pool_destroy(pool);
    return &f->rec.result;
}

static void test_exec_line_call_delivers_pages_pixel_for_pixel(void **state)
{
    struct fixture *f = *state;
    char out[PATH_MAX], args[PATH_MAX + 32];
    snprintf(out, sizeof out, "%s/received.tif", f->dir);
    snprintf(args, sizeof args, "--receive %s", out);
    const struct modem_result *r = call_through(f, args, 2);
    assert_int_equal(r->outcome, MODEM_OK);
    assert_int_equal(r->pages_sent, 2);
    assert_int_equal(r->ecm, 1);
    assert_string_equal(r->remote_id, "5551234"); /* the bridge got the number as $1 */
    assert_true(test_pages_match(out, f->page_ptrs, 2));
}

static void test_exec_command_exiting_2_is_busy(void **state)
{
    struct fixture *f = *state;
    const struct modem_result *r = call_through(f, "--exit 2", 1);
    assert_int_equal(r->outcome, MODEM_BUSY);
    assert_string_equal(r->code, "busy");
}

static void test_exec_command_exiting_3_is_no_answer(void **state)
{
    struct fixture *f = *state;
    assert_int_equal(call_through(f, "--exit 3", 1)->outcome, MODEM_NO_ANSWER);
}

static void test_exec_command_exiting_4_is_no_line(void **state)
{
    struct fixture *f = *state;
    assert_int_equal(call_through(f, "--exit 4", 1)->outcome, MODEM_NO_LINE);
}

static void test_exec_command_exiting_otherwise_is_a_failed_call(void **state)
{
    struct fixture *f = *state;
    const struct modem_result *r = call_through(f, "--exit 9", 1);
    assert_int_equal(r->outcome, MODEM_DROPPED);
    assert_string_equal(r->code, "line_failed");
}

/* The command sees PATH and the C locale, never the daemon's environment
 * (FAXFS_SIP_PASSWORD above all). */
static void test_exec_command_gets_a_fixed_environment(void **state)
{
    struct fixture *f = *state;
    char out[PATH_MAX], args[PATH_MAX + 64], env[8192];
    snprintf(out, sizeof out, "%s/command.env", f->dir);
    snprintf(args, sizeof args, "--exit 2; env > '%s'; exit 2", out);
    setenv("FAXFS_SIP_PASSWORD", "hunter2-secret", 1);
    setenv("DAEMON_ONLY_SETTING", "daemon-only-value", 1);
    assert_int_equal(call_through(f, args, 1)->outcome, MODEM_BUSY);
    unsetenv("FAXFS_SIP_PASSWORD");
    unsetenv("DAEMON_ONLY_SETTING");
    FILE *fp = fopen(out, "r");
    assert_non_null(fp);
    size_t n = fread(env, 1, sizeof env - 1, fp);
    env[n] = '\0';
    fclose(fp);
    assert_null(strstr(env, "hunter2-secret"));
    assert_null(strstr(env, "daemon-only-value"));
    assert_non_null(strstr(env, "PATH="));
    assert_non_null(strstr(env, "LC_ALL=C"));
}

static void test_exec_line_abort_ends_aborted(void **state)
{
    struct fixture *f = *state;
    char out[PATH_MAX], spec[PATH_MAX * 2];
    snprintf(out, sizeof out, "%s/aborted.tif", f->dir);
    snprintf(spec, sizeof spec, "exec:%s --receive %s", MODEM_EXEC_BRIDGE, out);
    struct modem_pool_config cfg = { .channels = 1, .line_spec = spec, .scratch_dir = f->dir, .workers = 1 };
    struct modem_pool *pool;
    char err[256];
    assert_int_equal(modem_pool_create(&pool, &cfg, err, sizeof err), 0);
    struct modem_send_request req = { .number = "5551234", .page_paths = f->page_ptrs, .page_count = 2,
                                      .first_page_number = 1, .total_pages = 2 };
    assert_int_equal(modem_send(pool, 0, &req, &test_recorder_events, &f->rec), 0);
    assert_true(test_recorder_wait_status(&f->rec, "sending page", CALL_TIMEOUT_S));
    modem_abort(pool, 0);
    assert_true(test_recorder_wait(&f->rec, CALL_TIMEOUT_S));
    assert_int_equal(f->rec.result.outcome, MODEM_ABORTED);
    modem_pool_destroy(pool);
}

int main(void)
{
    const struct CMUnitTest tests[] = {
        cmocka_unit_test_setup_teardown(test_exec_line_call_delivers_pages_pixel_for_pixel, setup, teardown),
        cmocka_unit_test_setup_teardown(test_exec_command_exiting_2_is_busy, setup, teardown),
        cmocka_unit_test_setup_teardown(test_exec_command_exiting_3_is_no_answer, setup, teardown),
        cmocka_unit_test_setup_teardown(test_exec_command_exiting_4_is_no_line, setup, teardown),
        cmocka_unit_test_setup_teardown(test_exec_command_exiting_otherwise_is_a_failed_call, setup, teardown),
        cmocka_unit_test_setup_teardown(test_exec_command_gets_a_fixed_environment, setup, teardown),
        cmocka_unit_test_setup_teardown(test_exec_line_abort_ends_aborted, setup, teardown),
    };
    return cmocka_run_group_tests_name("modem_exec", tests, NULL, NULL);
}

/*
 * test_queue_edit.c - changing a waiting job's fields (queue_edit): every
 * field, the lifecycle column that allows it, who may, the priority group,
 * and that a refusal changes nothing while an accepted change survives a
 * restart.
 */
#include <errno.h>
#include <setjmp.h>
#include <stdarg.h>
#include <stddef.h>
#include <stdint.h>
#include <string.h>
#include <unistd.h>

#include <cmocka.h>

#include "queue_testutil.h"

static struct job snap(struct queue *q, uint64_t id)
{
    struct job j;
    assert_int_equal(queue_snapshot(q, id, &j), 0);
    return j;
}

static void test_each_field_changes_and_persists(void **state)
{
    struct queue_fixture *f = *state;
    char why[256];
    assert_int_equal(queue_set_paused(f->q, true), 0);
    uint64_t id = submit_simple(f->q, "5551234", 1);
    assert_int_equal(queue_edit(f->q, &test_owner, id, "scheduled", "+2h", why, sizeof why), 0);
    struct job j = snap(f->q, id);
    assert_int_equal(j.scheduled, TEST_START + 7200);
    assert_int_equal(j.status, JOB_SCHEDULED);
    assert_int_equal(queue_edit(f->q, &test_owner, id, "kill_time", "+1d", why, sizeof why), 0);
    assert_int_equal(queue_edit(f->q, &test_owner, id, "priority", "high", why, sizeof why), 0);
    assert_int_equal(queue_edit(f->q, &test_owner, id, "max_attempts", "9", why, sizeof why), 0);
    assert_int_equal(queue_edit(f->q, &test_owner, id, "recipient_number", "+44 (20) 7946-0958", why, sizeof why), 0);
    assert_int_equal(queue_edit(f->q, &test_owner, id, "recipient_name", "Jane Roe", why, sizeof why), 0);
    assert_int_equal(queue_edit(f->q, &test_owner, id, "scheduled", "", why, sizeof why), 0);
    queue_fixture_reopen(f);
    j = snap(f->q, id);
    assert_int_equal(j.scheduled, 0);
    assert_int_equal(j.status, JOB_QUEUED);
    assert_int_equal(j.kill_time, TEST_START + 86400);
    assert_int_equal(j.priority, JOB_PRIORITY_HIGH);
    assert_int_equal(j.max_attempts, 9);
    assert_string_equal(j.recipient_number, "+442079460958");
    assert_string_equal(j.recipient_name, "Jane Roe");
}

static void test_refusals_change_nothing(void **state)
{
    struct queue_fixture *f = *state;
    char why[256];
    assert_int_equal(queue_set_paused(f->q, true), 0);
    uint64_t id = submit_simple(f->q, "5551234", 1);
    struct job before = snap(f->q, id);
    static const struct { const char *field, *value; int err; } bad[] = {
        {"scheduled", "tomorrowish", -EINVAL},
        {"kill_time", "-1h", -EINVAL},
        {"priority", "urgent", -EINVAL},
        {"priority", "256", -EINVAL},
        {"max_attempts", "0", -EINVAL},
        {"max_attempts", "3x", -EINVAL},
        {"recipient_number", "555-CALL", -EINVAL},
        {"recipient_name", "two\nlines", -EINVAL},
        {"pages_sent", "3", -EINVAL},
        {"owner", "root", -EINVAL},
    };
    for (size_t i = 0; i < sizeof bad / sizeof bad[0]; i++) {
        why[0] = '\0';
        int r = queue_edit(f->q, &test_owner, id, bad[i].field, bad[i].value, why, sizeof why);
        if (r != bad[i].err || !why[0])
            fail_msg("%s=%s: %d '%s', wanted %d with a reason", bad[i].field, bad[i].value, r, why, bad[i].err);
    }
    assert_int_equal(queue_edit(f->q, &test_stranger, id, "priority", "low", why, sizeof why), -EPERM);
    assert_int_equal(queue_edit(f->q, &test_owner, id + 1000, "priority", "low", why, sizeof why), -ENOENT);
    struct job after = snap(f->q, id);
    assert_memory_equal(&before, &after, sizeof before);
}

/* The lifecycle's edit column: waiting and paused yes; on a call and
 * finished no (-EBUSY). Root counts as an administrator. */
static void test_edit_follows_the_lifecycle(void **state)
{
    struct queue_fixture *f = *state;
    char why[256];
    for (int s = 0; s < JOB_STATUS_COUNT; s++)
        assert_int_equal(job_edit_allowed(JOB_SEND, s),
                         s == JOB_QUEUED || s == JOB_SCHEDULED || s == JOB_RETRYING || s == JOB_PAUSED);
    assert_false(job_edit_allowed(JOB_RECEIVE, JOB_QUEUED));
    uint64_t id = submit_simple(f->q, "5551234", 1);
    assert_int_equal(queue_run_once(f->q), 1); /* on the fake line now */
    assert_int_equal(snap(f->q, id).status, JOB_ACTIVE);
    assert_int_equal(queue_edit(f->q, &test_root, id, "priority", "low", why, sizeof why), -EBUSY);
    assert_non_null(strstr(why, "on a call"));
    queue_call_finished(f->q, id, &(struct queue_call_result){.failure = QF_BUSY, .code = "busy", .text = "busy"});
    assert_int_equal(snap(f->q, id).status, JOB_RETRYING);
    assert_int_equal(queue_edit(f->q, &test_owner, id, "priority", "low", why, sizeof why), 0);
    assert_int_equal(queue_control(f->q, &test_owner, id, QOP_CANCEL, why, sizeof why), 0);
    assert_int_equal(queue_edit(f->q, &test_owner, id, "priority", "high", why, sizeof why), -EBUSY);
    assert_int_equal(snap(f->q, id).priority, JOB_PRIORITY_LOW);
}

static void test_priority_group_limits_raising(void **state)
{
    (void)state;
    struct queue_fixture *f = queue_fixture_new(false);
    f->cfg.restrict_priority = true;
    f->cfg.priority_gid = 4242;
    queue_fixture_open(f);
    char why[256];
    assert_int_equal(queue_set_paused(f->q, true), 0);
    uint64_t id = submit_simple(f->q, "5551234", 1);
    assert_int_equal(queue_edit(f->q, &test_owner, id, "priority", "high", why, sizeof why), -EPERM);
    assert_int_equal(queue_edit(f->q, &test_owner, id, "priority", "low", why, sizeof why), 0);
    assert_int_equal(queue_edit(f->q, &test_owner, id, "priority", "normal", why, sizeof why), 0);
    gid_t groups[] = {4242};
    struct queue_caller member = test_owner;
    member.groups = groups;
    member.ngroups = 1;
    assert_int_equal(queue_edit(f->q, &member, id, "priority", "200", why, sizeof why), 0);
    assert_int_equal(queue_edit(f->q, &test_root, id, "priority", "255", why, sizeof why), 0);
    /* Submission obeys the same rule. */
    struct queue_request req = {.recipient_number = "5551234", .priority = JOB_PRIORITY_HIGH};
    int fd = make_good_tiff(1);
    uint64_t other;
    assert_int_equal(queue_submit(f->q, &test_owner, &req, &fd, 1, &other, why, sizeof why), -EPERM);
    assert_int_equal(queue_submit(f->q, &member, &req, &fd, 1, &other, why, sizeof why), 0);
    close(fd);
    queue_fixture_free(f);
}

int main(void)
{
    const struct CMUnitTest tests[] = {
        cmocka_unit_test_setup_teardown(test_each_field_changes_and_persists, queue_fixture_setup_spool,
                                        queue_fixture_teardown),
        cmocka_unit_test_setup_teardown(test_refusals_change_nothing, queue_fixture_setup_memory,
                                        queue_fixture_teardown),
        cmocka_unit_test_setup_teardown(test_edit_follows_the_lifecycle, queue_fixture_setup_memory,
                                        queue_fixture_teardown),
        cmocka_unit_test(test_priority_group_limits_raising),
    };
    return cmocka_run_group_tests(tests, NULL, NULL);
}

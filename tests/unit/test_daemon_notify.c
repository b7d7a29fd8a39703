/*
 * test_daemon_notify.c - the notifier: which job changes are news, what
 * the hook sees in its environment, the owner's mail, and a real hook run
 * when a job finishes in a live engine.
 */
#include <errno.h>
#include <setjmp.h>
#include <stdarg.h>
#include <stddef.h>
#include <stdint.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/stat.h>
#include <unistd.h>

#include <cmocka.h>

#include "daemon/notify.h"
#include "queue/fault.h"
#include "tests/unit/queue_testutil.h"

static struct job sample_job(enum job_status status, int attempts)
{
    struct job j;
    job_init(&j);
    j.id = 42;
    j.type = JOB_SEND;
    j.status = status;
    j.attempts = attempts;
    j.max_attempts = 4;
    j.page_count = 3;
    j.pages_sent = 1;
    j.owner_uid = 1000;
    strcpy(j.recipient_number, "5551234");
    strcpy(j.recipient_name, "Accounts\nBcc: evil@example.com");
    strcpy(j.error_code, "busy");
    strcpy(j.error_text, "the line was busy");
    return j;
}

static void test_final_state_is_news_once(void **state)
{
    (void)state;
    struct job j = sample_job(JOB_DONE, 1);
    assert_int_equal(notify_event_of(&j, NOTIFY_NONE, 0), NOTIFY_DONE);
    assert_int_equal(notify_event_of(&j, NOTIFY_DONE, 1), NOTIFY_NONE);
    j.status = JOB_FAILED;
    assert_int_equal(notify_event_of(&j, NOTIFY_RETRY, 1), NOTIFY_FAILED);
    j.status = JOB_CANCELED;
    assert_int_equal(notify_event_of(&j, NOTIFY_NONE, 0), NOTIFY_CANCELED);
}

static void test_each_retry_is_news_once_per_attempt(void **state)
{
    (void)state;
    struct job j = sample_job(JOB_RETRYING, 1);
    assert_int_equal(notify_event_of(&j, NOTIFY_NONE, 0), NOTIFY_RETRY);
    assert_int_equal(notify_event_of(&j, NOTIFY_RETRY, 1), NOTIFY_NONE);
    j.attempts = 2;
    assert_int_equal(notify_event_of(&j, NOTIFY_RETRY, 1), NOTIFY_RETRY);
}

static void test_waiting_and_active_states_are_not_news(void **state)
{
    (void)state;
    enum job_status quiet[] = {JOB_QUEUED, JOB_SCHEDULED, JOB_ACTIVE, JOB_PAUSED, JOB_RECEIVING};
    for (size_t i = 0; i < sizeof quiet / sizeof quiet[0]; i++) {
        struct job j = sample_job(quiet[i], 1);
        assert_int_equal(notify_event_of(&j, NOTIFY_NONE, 0), NOTIFY_NONE);
    }
}

static void test_received_fax_is_its_own_event(void **state)
{
    (void)state;
    struct job j = sample_job(JOB_DONE, 0);
    j.type = JOB_RECEIVE;
    assert_int_equal(notify_event_of(&j, NOTIFY_NONE, 0), NOTIFY_RECEIVED);
}

static const char *find_var(char (*vars)[256], size_t n, const char *key)
{
    size_t k = strlen(key);
    for (size_t i = 0; i < n; i++)
        if (strncmp(vars[i], key, k) == 0 && vars[i][k] == '=')
            return vars[i] + k + 1;
    return NULL;
}

static void test_hook_environment_carries_the_job_without_control_characters(void **state)
{
    (void)state;
    struct job j = sample_job(JOB_FAILED, 4);
    char vars[32][256];
    size_t n = notify_environment(&j, NOTIFY_FAILED, vars, 32);
    assert_string_equal(find_var(vars, n, "FAXFS_JOB_ID"), "42");
    assert_string_equal(find_var(vars, n, "FAXFS_STATUS"), "failed");
    assert_string_equal(find_var(vars, n, "FAXFS_EVENT"), "failed");
    assert_string_equal(find_var(vars, n, "FAXFS_RECIPIENT_NUMBER"), "5551234");
    assert_string_equal(find_var(vars, n, "FAXFS_RECIPIENT_NAME"), "Accounts Bcc: evil@example.com");
    assert_string_equal(find_var(vars, n, "FAXFS_ERROR_CODE"), "busy");
    assert_string_equal(find_var(vars, n, "FAXFS_PAGES_SENT"), "1");
    assert_string_equal(find_var(vars, n, "FAXFS_ATTEMPTS"), "4");
}

static void test_mail_names_owner_and_reason_and_cannot_gain_headers(void **state)
{
    (void)state;
    struct job j = sample_job(JOB_FAILED, 4);
    char msg[4096];
    int len = notify_mail_message(&j, NOTIFY_FAILED, "alice", msg, sizeof msg);
    assert_true(len > 0);
    assert_non_null(strstr(msg, "To: alice\n"));
    assert_non_null(strstr(msg, "Subject: fax 42 to 5551234 (Accounts Bcc: evil@example.com): failed\n"));
    assert_non_null(strstr(msg, "Reason: the line was busy\n"));
    assert_null(strstr(msg, "\nBcc:"));
    assert_int_equal(notify_mail_message(&j, NOTIFY_FAILED, "", msg, sizeof msg), -1);
}

static void test_mail_policy_names(void **state)
{
    (void)state;
    enum notify_mail_policy p;
    assert_int_equal(notify_mail_policy_parse("failures", &p), 0);
    assert_int_equal(p, NOTIFY_MAIL_FAILURES);
    assert_int_equal(notify_mail_policy_parse("all", &p), 0);
    assert_int_equal(p, NOTIFY_MAIL_ALL);
    assert_int_equal(notify_mail_policy_parse("sometimes", &p), -EINVAL);
}

static char *slurp(const char *path)
{
    FILE *f = fopen(path, "r");
    if (!f)
        return NULL;
    static char buf[8192];
    size_t n = fread(buf, 1, sizeof buf - 1, f);
    buf[n] = '\0';
    fclose(f);
    return buf;
}

/* A live engine on the memory backend: the hook runs when the job ends,
 * once, with the job in its environment; a failing hook changes nothing. */
static void test_hook_runs_once_when_a_job_finishes(void **state)
{
    (void)state;
    char dir[256], out[300], cmd[600];
    make_temp_dir(dir, sizeof dir);
    snprintf(out, sizeof out, "%s/hook.out", dir);
    snprintf(cmd, sizeof cmd, "echo \"$FAXFS_EVENT $FAXFS_JOB_ID $FAXFS_STATUS $FAXFS_PAGES_SENT\" >> '%s'; exit 3", out);

    struct fake_clock clock = {1800000000};
    struct fake_line line = {0};
    struct queue_config cfg;
    test_config(&cfg, &clock, &line, NULL, dir);
    struct queue *q;
    assert_int_equal(queue_open(&q, &cfg), 0);
    struct notifier *n;
    struct notify_config ncfg = {.command = cmd, .timeout_seconds = 10};
    assert_int_equal(notifier_start(&n, q, &ncfg), 0);

    uint64_t id = submit_simple(q, "5551234", 2);
    assert_int_equal(queue_run_once(q), 1);
    struct queue_call_result ok = test_result(QF_NONE, "", 2);
    queue_call_finished(q, id, &ok);

    char want[64];
    snprintf(want, sizeof want, "done %llu done 2\n", (unsigned long long)id);
    const char *got = NULL;
    for (int i = 0; i < 500 && !((got = slurp(out)) && strstr(got, want)); i++)
        usleep(10 * 1000);
    assert_non_null(got);
    assert_string_equal(got, want);
    notifier_stop(n); /* waits for the hook */
    assert_string_equal(slurp(out), want);
    queue_close(q);
    remove_dir(dir);
}

/* Hook and mailer see a fixed environment: the job's FAXFS_* variables
 * (hook only), PATH and the C locale, and nothing the daemon was started
 * with, FAXFS_SIP_PASSWORD least of all. */
static void test_hook_and_sendmail_never_see_the_daemon_environment(void **state)
{
    (void)state;
    char dir[256], hook_out[300], mail_out[300], sendmail[300], cmd[1200];
    make_temp_dir(dir, sizeof dir);
    snprintf(hook_out, sizeof hook_out, "%s/hook.env", dir);
    snprintf(mail_out, sizeof mail_out, "%s/sendmail.env", dir);
    snprintf(sendmail, sizeof sendmail, "%s/sendmail", dir);
    snprintf(cmd, sizeof cmd, "env > '%s.tmp' && mv '%s.tmp' '%s'", hook_out, hook_out, hook_out);
    FILE *f = fopen(sendmail, "w");
    assert_non_null(f);
    fprintf(f, "#!/bin/sh\ncat >/dev/null\nenv > '%s.tmp' && mv '%s.tmp' '%s'\n", mail_out, mail_out, mail_out);
    fclose(f);
    assert_int_equal(chmod(sendmail, 0755), 0);
    setenv("FAXFS_SIP_PASSWORD", "hunter2-secret", 1);
    setenv("DAEMON_ONLY_SETTING", "daemon-only-value", 1);

    struct fake_clock clock = {1800000000};
    struct fake_line line = {0};
    struct queue_config cfg;
    test_config(&cfg, &clock, &line, NULL, dir);
    struct queue *q;
    assert_int_equal(queue_open(&q, &cfg), 0);
    struct notifier *n;
    struct notify_config ncfg = {.command = cmd, .mail = NOTIFY_MAIL_ALL, .sendmail = sendmail, .timeout_seconds = 10};
    assert_int_equal(notifier_start(&n, q, &ncfg), 0);
    /* Submitted by root, whose name every system has, so mail is sent. */
    struct queue_request req = {.recipient_number = "5551234"};
    char why[256] = "";
    uint64_t id = 0;
    int fd = make_good_tiff(1);
    assert_int_equal(queue_submit(q, &test_root, &req, &fd, 1, &id, why, sizeof why), 0);
    close(fd);
    assert_int_equal(queue_run_once(q), 1);
    struct queue_call_result ok = test_result(QF_NONE, "", 1);
    queue_call_finished(q, id, &ok);
    notifier_stop(n); /* waits for both children */
    queue_close(q);
    unsetenv("FAXFS_SIP_PASSWORD");
    unsetenv("DAEMON_ONLY_SETTING");

    char hook[8192], mail[8192];
    assert_non_null(slurp(hook_out));
    snprintf(hook, sizeof hook, "%s", slurp(hook_out));
    assert_non_null(slurp(mail_out));
    snprintf(mail, sizeof mail, "%s", slurp(mail_out));
    assert_null(strstr(hook, "hunter2-secret"));
    assert_null(strstr(hook, "daemon-only-value"));
    assert_null(strstr(mail, "hunter2-secret"));
    assert_null(strstr(mail, "daemon-only-value"));
    assert_non_null(strstr(hook, "FAXFS_JOB_ID="));
    assert_non_null(strstr(hook, "PATH="));
    assert_non_null(strstr(mail, "LC_ALL=C"));
    assert_null(strstr(mail, "FAXFS_JOB_ID="));
    remove_dir(dir);
}

/* The owner's mail goes to sendmail with the owner as an argument (never
 * -t: the headers carry outside text), as a MIME message. */
static void test_owner_mail_names_the_owner_on_the_command_line(void **state)
{
    (void)state;
    char dir[256], args_out[300], msg_out[300], sendmail[300];
    make_temp_dir(dir, sizeof dir);
    snprintf(args_out, sizeof args_out, "%s/sendmail.args", dir);
    snprintf(msg_out, sizeof msg_out, "%s/sendmail.msg", dir);
    snprintf(sendmail, sizeof sendmail, "%s/sendmail", dir);
    FILE *f = fopen(sendmail, "w");
    assert_non_null(f);
    fprintf(f, "#!/bin/sh\ncat > '%s'\nfor a in \"$@\"; do printf '[%%s]' \"$a\"; done > '%s.tmp' && mv '%s.tmp' '%s'\n",
            msg_out, args_out, args_out, args_out);
    fclose(f);
    assert_int_equal(chmod(sendmail, 0755), 0);

    struct fake_clock clock = {1800000000};
    struct fake_line line = {0};
    struct queue_config cfg;
    test_config(&cfg, &clock, &line, NULL, dir);
    struct queue *q;
    assert_int_equal(queue_open(&q, &cfg), 0);
    struct notifier *n;
    struct notify_config ncfg = {.mail = NOTIFY_MAIL_ALL, .sendmail = sendmail, .timeout_seconds = 10};
    assert_int_equal(notifier_start(&n, q, &ncfg), 0);
    struct queue_request req = {.recipient_number = "5551234"};
    char why[256] = "";
    uint64_t id = 0;
    int fd = make_good_tiff(1);
    assert_int_equal(queue_submit(q, &test_root, &req, &fd, 1, &id, why, sizeof why), 0);
    close(fd);
    assert_int_equal(queue_run_once(q), 1);
    struct queue_call_result ok = test_result(QF_NONE, "", 1);
    queue_call_finished(q, id, &ok);
    notifier_stop(n); /* waits for sendmail */
    queue_close(q);

    assert_non_null(slurp(args_out));
    assert_string_equal(slurp(args_out), "[-i][--][root]");
    char msg[8192], subject[128];
    assert_non_null(slurp(msg_out));
    snprintf(msg, sizeof msg, "%s", slurp(msg_out));
    snprintf(subject, sizeof subject, "\nSubject: fax %llu to 5551234: done\n", (unsigned long long)id);
    assert_non_null(strstr(msg, subject));
    assert_non_null(strstr(msg, "\nTo: root\n"));
    assert_non_null(strstr(msg, "\nMIME-Version: 1.0\n"));
    assert_non_null(strstr(msg, "\nAuto-Submitted: auto-generated\n"));
    remove_dir(dir);
}

#ifdef FAXFS_FAULT_INJECTION
/* Listener subscribed ahead of the notifier: at the job's next change
 * (its first page confirmed and stored) the call ends, and the store
 * refuses that result; the notifier hears of the job only after this. */
struct store_refuses {
    struct queue *q;
    uint64_t id;
    bool armed, done;
};

static void end_call_while_store_refuses(void *ctx, enum queue_event ev, uint64_t id)
{
    struct store_refuses *s = ctx;
    if (!s->armed || s->done || ev != QE_CHANGED || id != s->id)
        return;
    s->done = true;
    assert_int_equal(fault_configure("spool.update.tmp_written:eio"), 0);
    struct queue_call_result ok = test_result(QF_NONE, "", 1);
    queue_call_finished(s->q, id, &ok);
}

/* Persist, then tell: a job's end that the store refused (kept unsaved,
 * written again by the dispatcher) runs no hook, mails no one, has no
 * receipt record and answers no waiting reader, even when the notifier
 * looks at the job then; once the store takes it, the hook runs once and
 * sees it stored, and the receipt's record is there. */
static void test_nothing_is_told_of_a_result_before_it_is_stored(void **state)
{
    (void)state;
    char dir[256], out[300], cmd[900], why[256];
    make_temp_dir(dir, sizeof dir);
    snprintf(out, sizeof out, "%s/hook.out", dir);
    snprintf(cmd, sizeof cmd,
             "s=$(sed -n 's/^status: //p' '%s/jobs/'\"$FAXFS_JOB_ID\"/job); "
             "echo \"$FAXFS_EVENT $FAXFS_JOB_ID stored:$s\" >> '%s'",
             dir, out);

    struct fake_clock clock = {1800000000};
    struct fake_line line = {0};
    struct queue_config cfg;
    test_config(&cfg, &clock, &line, NULL, dir);
    struct queue *q;
    assert_int_equal(queue_open(&q, &cfg), 0);
    struct store_refuses sr = {.q = q};
    assert_int_equal(queue_subscribe(q, end_call_while_store_refuses, &sr), 0);
    struct notifier *n;
    struct notify_config ncfg = {.command = cmd, .timeout_seconds = 10};
    assert_int_equal(notifier_start(&n, q, &ncfg), 0);

    struct queue_request req = {0};
    strcpy(req.recipient_number, "5551234");
    strcpy(req.notify, "alice@example.com");
    req.notify_when = JOB_NOTIFY_FINAL;
    int fd = make_good_tiff(1);
    uint64_t id = 0;
    assert_int_equal(queue_submit(q, &test_owner, &req, &fd, 1, &id, why, sizeof why), 0);
    close(fd);
    sr.id = id;
    assert_int_equal(queue_run_once(q), 1);
    sr.armed = true;
    queue_call_pages_confirmed(q, id, 1); /* stored and announced; the call ends meanwhile */
    assert_true(sr.done);
    struct job j;
    assert_int_equal(queue_snapshot(q, id, &j), 0);
    assert_int_equal(j.status, JOB_DONE); /* in memory */
    assert_true(j.unsaved);
    assert_int_equal(j.ndeliveries, 0); /* no receipt to mail yet */
    notifier_stop(n);                   /* looks at every job it heard of, waits for its hooks */
    assert_null(slurp(out));

    n = NULL;
    assert_int_equal(notifier_start(&n, q, &ncfg), 0);
    fault_configure(NULL);
    clock.now += 1; /* ENGINE_UNSAVED_FIRST_RETRY */
    queue_run_once(q);
    assert_int_equal(queue_snapshot(q, id, &j), 0);
    assert_false(j.unsaved);
    assert_int_equal(j.ndeliveries, 1); /* the receipt, stored with the end */
    assert_string_equal(j.deliveries[0].action, "receipt");
    notifier_stop(n);
    char want[64];
    snprintf(want, sizeof want, "done %llu stored:done\n", (unsigned long long)id);
    assert_non_null(slurp(out));
    assert_string_equal(slurp(out), want);
    queue_unsubscribe(q, end_call_while_store_refuses, &sr);
    queue_close(q);
    remove_dir(dir);
}
#endif

int main(void)
{
    const struct CMUnitTest tests[] = {
        cmocka_unit_test(test_final_state_is_news_once),
        cmocka_unit_test(test_each_retry_is_news_once_per_attempt),
        cmocka_unit_test(test_waiting_and_active_states_are_not_news),
        cmocka_unit_test(test_received_fax_is_its_own_event),
        cmocka_unit_test(test_hook_environment_carries_the_job_without_control_characters),
        cmocka_unit_test(test_mail_names_owner_and_reason_and_cannot_gain_headers),
        cmocka_unit_test(test_mail_policy_names),
        cmocka_unit_test(test_hook_runs_once_when_a_job_finishes),
        cmocka_unit_test(test_hook_and_sendmail_never_see_the_daemon_environment),
        cmocka_unit_test(test_owner_mail_names_the_owner_on_the_command_line),
#ifdef FAXFS_FAULT_INJECTION
        cmocka_unit_test(test_nothing_is_told_of_a_result_before_it_is_stored),
#endif
    };
    return cmocka_run_group_tests(tests, NULL, NULL);
}

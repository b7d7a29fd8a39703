/*
 * test_daemon_options.c - named lines and routes on the command line and
 * in configuration sections: what each option sets, the older --line SPEC
 * form, and refusals that name the setting's file and line and the fix.
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
#include <unistd.h>

#include <cmocka.h>

#include "daemon/options.h"

static char said[4096];

/* Parses argv (NULL-terminated, argv[0] added) with origins (NULL or one
 * per word); what the parser said on stderr lands in said. */
static enum options_result parse(struct daemon_options *opt, const char *const *words, const char *const *origins)
{
    char *argv[64];
    const char *org[64] = {NULL};
    int argc = 0;
    argv[argc++] = "faxfs";
    for (int i = 0; words[i]; i++) {
        org[argc] = origins ? origins[i] : NULL;
        argv[argc++] = (char *)words[i];
    }
    argv[argc] = NULL;
    fflush(stderr);
    int saved = dup(2);
    FILE *tmp = tmpfile();
    assert_non_null(tmp);
    dup2(fileno(tmp), 2);
    enum options_result r = options_parse_from(argc, argv, origins ? org : NULL, opt);
    fflush(stderr);
    dup2(saved, 2);
    close(saved);
    rewind(tmp);
    size_t n = fread(said, 1, sizeof said - 1, tmp);
    said[n] = '\0';
    fclose(tmp);
    return r;
}

static void test_older_line_spec_is_the_default_line_with_modems_channels(void **state)
{
    (void)state;
    struct daemon_options opt;
    const char *w[] = {"--line", "exec:bridge FOO=1", "--modems", "3", "/mnt", NULL};
    assert_int_equal(parse(&opt, w, NULL), OPTIONS_RUN);
    assert_int_equal(opt.nlines, 1);
    assert_string_equal(opt.lines[0].name, "default");
    assert_string_equal(opt.lines[0].spec, "exec:bridge FOO=1");
    assert_int_equal(opt.lines[0].channels, 3);
    options_free(&opt);

    const char *none[] = {"/mnt", NULL};
    assert_int_equal(parse(&opt, none, NULL), OPTIONS_RUN);
    assert_int_equal(opt.nlines, 1);
    assert_string_equal(opt.lines[0].spec, "sim");
    assert_int_equal(opt.lines[0].channels, 4);
    options_free(&opt);
}

static void test_receipt_defaults_per_user(void **state)
{
    (void)state;
    struct daemon_options opt;
    const char *w[] = {"--receipt-notify", "alice= alice@example.com ,boss@example.com", "--receipt-notify-when",
                       "alice=failed", "--receipt-notify", "bob=bob@example.com", "/mnt", NULL};
    assert_int_equal(parse(&opt, w, NULL), OPTIONS_RUN);
    assert_int_equal(opt.nreceipt_users, 2);
    assert_string_equal(opt.receipt_users[0].user, "alice");
    assert_string_equal(opt.receipt_users[0].notify, "alice@example.com,boss@example.com");
    assert_int_equal(opt.receipt_users[0].when, JOB_NOTIFY_FAILED);
    assert_string_equal(opt.receipt_users[1].user, "bob");
    assert_int_equal(opt.receipt_users[1].when, JOB_NOTIFY_FINAL);
    options_free(&opt);
    const char *every[] = {"--receipt-notify", "carol=carol@example.com", "--receipt-notify-when",
                           "carol=every-attempt", "/mnt", NULL};
    assert_int_equal(parse(&opt, every, NULL), OPTIONS_RUN);
    assert_int_equal(opt.receipt_users[0].when, JOB_NOTIFY_EVERY_ATTEMPT);
    options_free(&opt);

    static const char *const bad[][3] = {
        {"--receipt-notify", "alice@example.com", "USER=VALUE"},          /* no user */
        {"--receipt-notify", "alice=-oQ/tmp/x", "not a plain mail address"},
        {"--receipt-notify", "alice=", "no address"},
        {"--receipt-notify-when", "alice=sometimes", "final, done, failed or every-attempt"},
    };
    for (size_t i = 0; i < sizeof bad / sizeof bad[0]; i++) {
        const char *b[] = {bad[i][0], bad[i][1], "/mnt", NULL};
        assert_int_equal(parse(&opt, b, NULL), OPTIONS_EXIT_USAGE);
        if (strstr(said, bad[i][2]) == NULL)
            fail_msg("%s %s: said '%s'", bad[i][0], bad[i][1], said);
        options_free(&opt);
    }
}

static void test_named_lines_settings_and_routes(void **state)
{
    (void)state;
    struct daemon_options opt;
    const char *w[] = {"--line", "trunk=sip:sip.example.net", "--line-channels=trunk=4", "--line", "backup=sim",
                       "--line-tsid", "backup=+1 555 0100", "--line-t38=trunk=off", "--line-registrar",
                       "trunk=sip:reg.example.net", "--line-expires=trunk=600", "--line-caller-id=backup=5550100",
                       "--route", "+4420* trunk,backup", "--route=* backup", "/mnt", NULL};
    assert_int_equal(parse(&opt, w, NULL), OPTIONS_RUN);
    assert_int_equal(opt.nlines, 2);
    assert_string_equal(opt.lines[0].name, "trunk");
    assert_int_equal(opt.lines[0].channels, 4);
    assert_int_equal(opt.lines[0].t38, 0);
    assert_string_equal(opt.lines[0].registrar, "sip:reg.example.net");
    assert_int_equal(opt.lines[0].expires, 600);
    assert_string_equal(opt.lines[1].name, "backup");
    assert_int_equal(opt.lines[1].channels, 1);
    assert_string_equal(opt.lines[1].tsid, "+1 555 0100");
    assert_string_equal(opt.lines[1].caller_id, "5550100");
    assert_int_equal(opt.nroutes, 2);
    assert_string_equal(opt.routes[0].pattern, "+4420*");
    assert_int_equal(opt.routes[0].nlines, 2);
    assert_int_equal(opt.routes[0].lines[0], 0);
    assert_int_equal(opt.routes[0].lines[1], 1);
    assert_int_equal(opt.routes[1].lines[0], 1);
    options_free(&opt);
}

static void test_password_only_from_file_or_environment(void **state)
{
    (void)state;
    struct daemon_options opt;
    const char *cmd[] = {"--line", "trunk=sip:h", "--line-password", "trunk=secret", "/mnt", NULL};
    assert_int_equal(parse(&opt, cmd, NULL), OPTIONS_EXIT_USAGE);
    assert_non_null(strstr(said, "--line-password"));
    assert_non_null(strstr(said, "configuration file"));
    assert_null(strstr(said, "secret"));
    options_free(&opt);

    const char *file[] = {"--line-spec=trunk=sip:h", "--line-password=trunk=s3cret", "/mnt", NULL};
    const char *org[] = {"/etc/faxfs.conf:2", "/etc/faxfs.conf:3", NULL, NULL};
    assert_int_equal(parse(&opt, file, org), OPTIONS_RUN);
    assert_string_equal(opt.lines[0].password, "s3cret");
    options_free(&opt);

    setenv("FAXFS_LINE_MY_TRUNK_PASSWORD", "fromenv", 1);
    const char *env[] = {"--line", "my-trunk=sip:h", "/mnt", NULL};
    assert_int_equal(parse(&opt, env, NULL), OPTIONS_RUN);
    assert_string_equal(opt.lines[0].password, "fromenv");
    unsetenv("FAXFS_LINE_MY_TRUNK_PASSWORD");
    options_free(&opt);
}

static void test_store_node_and_store_actions(void **state)
{
    (void)state;
    struct daemon_options opt;

    const char *pg[] = {"--store", "postgresql://fax@db/faxfs", "--node", "fax-1", "/mnt", NULL};
    assert_int_equal(parse(&opt, pg, NULL), OPTIONS_RUN);
    assert_string_equal(opt.store, "postgresql://fax@db/faxfs");
    assert_string_equal(opt.node, "fax-1");
    options_free(&opt);

    /* A password is refused wherever it is written, and never repeated. */
    const char *url[] = {"--store", "postgresql://fax:s3cret@db/faxfs", "/mnt", NULL};
    assert_int_equal(parse(&opt, url, NULL), OPTIONS_EXIT_USAGE);
    assert_non_null(strstr(said, "PGPASSWORD"));
    assert_null(strstr(said, "s3cret"));
    options_free(&opt);
    const char *kv[] = {"--store=host=db dbname=faxfs password=s3cret", "/mnt", NULL};
    const char *org[] = {"/etc/faxfs.conf:4", NULL, NULL};
    assert_int_equal(parse(&opt, kv, org), OPTIONS_EXIT_USAGE);
    assert_non_null(strstr(said, "/etc/faxfs.conf:4"));
    assert_null(strstr(said, "s3cret"));
    options_free(&opt);
    const char *copy_pw[] = {"--copy-store", "/var/spool/faxfs", "postgresql://u:s3cret@db/x", NULL};
    assert_int_equal(parse(&opt, copy_pw, NULL), OPTIONS_EXIT_USAGE);
    assert_null(strstr(said, "s3cret"));
    options_free(&opt);

    const char *bogus[] = {"--store", "mysql", "/mnt", NULL};
    assert_int_equal(parse(&opt, bogus, NULL), OPTIONS_EXIT_USAGE);
    assert_non_null(strstr(said, "--store"));
    options_free(&opt);
    const char *node[] = {"--node", "a b", "/mnt", NULL};
    assert_int_equal(parse(&opt, node, NULL), OPTIONS_EXIT_USAGE);
    options_free(&opt);

    const char *copy[] = {"--copy-store", "/var/spool/faxfs", "dbname=faxfs", NULL};
    assert_int_equal(parse(&opt, copy, NULL), OPTIONS_RUN);
    assert_string_equal(opt.copy_from, "/var/spool/faxfs");
    assert_string_equal(opt.copy_to, "dbname=faxfs");
    options_free(&opt);
    const char *copy1[] = {"--copy-store", "/var/spool/faxfs", NULL};
    assert_int_equal(parse(&opt, copy1, NULL), OPTIONS_EXIT_USAGE);
    assert_non_null(strstr(said, "missing TO"));
    options_free(&opt);

    const char *mig[] = {"--store-migrate", "--store", "dbname=faxfs", NULL};
    assert_int_equal(parse(&opt, mig, NULL), OPTIONS_RUN);
    assert_true(opt.store_migrate);
    options_free(&opt);
    const char *mig_file[] = {"--store-migrate", NULL};
    assert_int_equal(parse(&opt, mig_file, NULL), OPTIONS_EXIT_USAGE);
    assert_non_null(strstr(said, "--store CONNINFO"));
    options_free(&opt);
    /* Actions are not configuration keys. */
    assert_int_equal(options_kind("copy-store"), -1);
    assert_int_equal(options_kind("store-migrate"), -1);
    assert_int_equal(options_kind("store"), 1);
}

static void test_route_to_unknown_line_names_file_and_line(void **state)
{
    (void)state;
    struct daemon_options opt;
    const char *w[] = {"--line-spec=a=sim", "--route=555* a,b", "/mnt", NULL};
    const char *org[] = {"/etc/faxfs.conf:2", "/etc/faxfs.conf:7", NULL, NULL};
    assert_int_equal(parse(&opt, w, org), OPTIONS_EXIT_USAGE);
    assert_non_null(strstr(said, "no line named 'b'"));
    assert_non_null(strstr(said, "/etc/faxfs.conf:7"));
    options_free(&opt);
}

static void test_bad_line_configurations_are_refused(void **state)
{
    (void)state;
    struct daemon_options opt;
    const char *dup[] = {"--line", "a=sim", "--line", "a=exec:x", "/mnt", NULL};
    assert_int_equal(parse(&opt, dup, NULL), OPTIONS_EXIT_USAGE);
    assert_non_null(strstr(said, "defined twice"));
    options_free(&opt);

    const char *zero[] = {"--line", "a=sim", "--line-channels", "a=0", "/mnt", NULL};
    assert_int_equal(parse(&opt, zero, NULL), OPTIONS_EXIT_USAGE);
    assert_non_null(strstr(said, "'0' is not a number from 1"));
    options_free(&opt);

    const char *undefined[] = {"--line", "a=sim", "--line-channels=ghost=2", "/mnt", NULL};
    const char *org[] = {NULL, NULL, "/etc/faxfs.conf:9", NULL, NULL};
    assert_int_equal(parse(&opt, undefined, org), OPTIONS_EXIT_USAGE);
    assert_non_null(strstr(said, "the line ghost has settings but no spec"));
    assert_non_null(strstr(said, "/etc/faxfs.conf:9"));
    options_free(&opt);

    const char *badname[] = {"--line-channels=a b=2", "/mnt", NULL};
    assert_int_equal(parse(&opt, badname, NULL), OPTIONS_EXIT_USAGE);
    assert_non_null(strstr(said, "not a line name"));
    options_free(&opt);

    const char *badspec[] = {"--line", "a=ftp:x", "/mnt", NULL};
    assert_int_equal(parse(&opt, badspec, NULL), OPTIONS_EXIT_USAGE);
    assert_non_null(strstr(said, "unknown line 'ftp:x'"));
    options_free(&opt);
}

static void test_spec_shown_drops_userinfo(void **state)
{
    (void)state;
    char out[128];
    options_spec_shown("sip:alice:secret@sip.example.net:5070", out, sizeof out);
    assert_string_equal(out, "sip:sip.example.net:5070");
    options_spec_shown("sip:sip.example.net", out, sizeof out);
    assert_string_equal(out, "sip:sip.example.net");
    options_spec_shown("exec:bridge --fast", out, sizeof out);
    assert_string_equal(out, "exec:bridge --fast");
}

static void test_batching_options(void **state)
{
    (void)state;
    struct daemon_options opt;
    const char *none[] = {"/mnt", NULL};
    assert_int_equal(parse(&opt, none, NULL), OPTIONS_RUN);
    assert_int_equal(opt.batch_max, 10);
    assert_int_equal(opt.sim_setup_time, 0);
    options_free(&opt);

    const char *set[] = {"--batch-max", "1", "--sim-setup-time", "4", "/mnt", NULL};
    assert_int_equal(parse(&opt, set, NULL), OPTIONS_RUN);
    assert_int_equal(opt.batch_max, 1);
    assert_int_equal(opt.sim_setup_time, 4);
    options_free(&opt);

    const char *zero[] = {"--batch-max", "0", "/mnt", NULL};
    assert_int_equal(parse(&opt, zero, NULL), OPTIONS_EXIT_USAGE);
    assert_non_null(strstr(said, "--batch-max"));
    options_free(&opt);

    const char *big[] = {"--batch-max", "51", "/mnt", NULL};
    assert_int_equal(parse(&opt, big, NULL), OPTIONS_EXIT_USAGE);
    options_free(&opt);

    const char *slow[] = {"--sim-setup-time", "121", "/mnt", NULL};
    assert_int_equal(parse(&opt, slow, NULL), OPTIONS_EXIT_USAGE);
    assert_non_null(strstr(said, "--sim-setup-time"));
    options_free(&opt);

    const char *bad[] = {"--destination-batch=555*=maybe", "/mnt", NULL};
    const char *org[] = {"/etc/faxfs.conf:3", NULL, NULL};
    assert_int_equal(parse(&opt, bad, org), OPTIONS_EXIT_USAGE);
    assert_non_null(strstr(said, "/etc/faxfs.conf:3"));
    options_free(&opt);
}

int main(void)
{
    const struct CMUnitTest tests[] = {
        cmocka_unit_test(test_older_line_spec_is_the_default_line_with_modems_channels),
        cmocka_unit_test(test_named_lines_settings_and_routes),
        cmocka_unit_test(test_receipt_defaults_per_user),
        cmocka_unit_test(test_store_node_and_store_actions),
        cmocka_unit_test(test_password_only_from_file_or_environment),
        cmocka_unit_test(test_route_to_unknown_line_names_file_and_line),
        cmocka_unit_test(test_bad_line_configurations_are_refused),
        cmocka_unit_test(test_spec_shown_drops_userinfo),
        cmocka_unit_test(test_batching_options),
    };
    return cmocka_run_group_tests(tests, NULL, NULL);
}

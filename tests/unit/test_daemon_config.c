/*
 * test_daemon_config.c - the configuration file becomes option words;
 * mistakes are refused with the file, the line and the fix.
 */
#include <errno.h>
#include <setjmp.h>
#include <stdarg.h>
#include <stddef.h>
#include <stdint.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <unistd.h>

#include <cmocka.h>

#include "daemon/config.h"
#include "daemon/options.h"
#include "queue/dialplan.h"

static int kind(const char *name)
{
    static const struct { const char *name; int kind; } known[] = {
        {"modems", 1}, {"line", 1}, {"foreground", 0}, {"retry-delay", 1}, {"config", 1},
        {"line-spec", 1}, {"line-channels", 1}, {"line-quiet", 0},
    };
    for (size_t i = 0; i < sizeof known / sizeof known[0]; i++)
        if (strcmp(known[i].name, name) == 0)
            return known[i].kind;
    return -1;
}

static char path[64];

static void write_config(const char *text)
{
    snprintf(path, sizeof path, "/tmp/faxfs-config-XXXXXX");
    int fd = mkstemp(path);
    assert_true(fd >= 0);
    assert_int_equal(write(fd, text, strlen(text)), (ssize_t)strlen(text));
    close(fd);
}

static void test_settings_become_long_options_in_order(void **state)
{
    (void)state;
    write_config("# faxfs\n\nmodems = 8\n  line=exec:bridge --fast   # comment\nforeground = yes\n");
    struct config_words w;
    char err[256] = "";
    assert_int_equal(config_read(path, 1, kind, &w, err, sizeof err), 0);
    assert_int_equal(w.count, 3);
    assert_string_equal(w.words[0], "--modems=8");
    assert_string_equal(w.words[1], "--line=exec:bridge --fast");
    assert_string_equal(w.words[2], "--foreground");
    config_words_free(&w);
    unlink(path);
}

static void test_switch_set_to_no_adds_nothing(void **state)
{
    (void)state;
    write_config("foreground = off\n");
    struct config_words w;
    char err[256] = "";
    assert_int_equal(config_read(path, 1, kind, &w, err, sizeof err), 0);
    assert_int_equal(w.count, 0);
    config_words_free(&w);
    unlink(path);
}

static void test_unknown_setting_names_file_and_line(void **state)
{
    (void)state;
    write_config("modems = 2\nmodemz = 3\n");
    struct config_words w;
    char err[256] = "";
    assert_int_equal(config_read(path, 1, kind, &w, err, sizeof err), -EINVAL);
    assert_non_null(strstr(err, ":2: unknown setting 'modemz'"));
    assert_int_equal(w.count, 0);
    unlink(path);
}

static void test_line_without_equals_and_bad_switch_are_refused(void **state)
{
    (void)state;
    struct config_words w;
    char err[256] = "";
    write_config("modems 2\n");
    assert_int_equal(config_read(path, 1, kind, &w, err, sizeof err), -EINVAL);
    assert_non_null(strstr(err, ":1: 'modems 2' is not 'key = value'"));
    unlink(path);
    write_config("foreground = maybe\n");
    assert_int_equal(config_read(path, 1, kind, &w, err, sizeof err), -EINVAL);
    assert_non_null(strstr(err, "foreground takes yes or no"));
    unlink(path);
}

static void test_config_cannot_name_another_config(void **state)
{
    (void)state;
    write_config("config = /etc/other.conf\n");
    struct config_words w;
    char err[256] = "";
    assert_int_equal(config_read(path, 1, kind, &w, err, sizeof err), -EINVAL);
    unlink(path);
}

static void test_missing_file_is_fine_unless_required(void **state)
{
    (void)state;
    struct config_words w;
    char err[256] = "";
    assert_int_equal(config_read("/nonexistent/faxfs.conf", 0, kind, &w, err, sizeof err), 0);
    assert_int_equal(w.count, 0);
    assert_int_equal(config_read("/nonexistent/faxfs.conf", 1, kind, &w, err, sizeof err), -ENOENT);
    assert_non_null(strstr(err, "/nonexistent/faxfs.conf"));
}

/* A password may hold '#': only a '#' at the start of a line or after
 * white space begins a comment. */
static void test_hash_inside_a_value_is_kept(void **state)
{
    (void)state;
    write_config("line = ab#cd\nmodems = 2 # two channels\n#modems = 9\n  # indented comment\n");
    struct config_words w;
    char err[256] = "";
    assert_int_equal(config_read(path, 1, kind, &w, err, sizeof err), 0);
    assert_int_equal(w.count, 2);
    assert_string_equal(w.words[0], "--line=ab#cd");
    assert_string_equal(w.words[1], "--modems=2");
    config_words_free(&w);
    unlink(path);
}

static void test_quoted_value_keeps_spaces_hashes_and_escapes(void **state)
{
    (void)state;
    write_config("line = \"a # b \\\"q\\\" \\\\ \"   # comment\nretry-delay = say\"s\n");
    struct config_words w;
    char err[256] = "";
    assert_int_equal(config_read(path, 1, kind, &w, err, sizeof err), 0);
    assert_int_equal(w.count, 2);
    assert_string_equal(w.words[0], "--line=a # b \"q\" \\ ");
    assert_string_equal(w.words[1], "--retry-delay=say\"s"); /* a quote inside is a character */
    config_words_free(&w);
    unlink(path);
}

static void test_unclosed_quote_names_file_and_line(void **state)
{
    (void)state;
    struct config_words w;
    char err[256] = "";
    write_config("modems = 2\nline = \"abc # not closed\n");
    assert_int_equal(config_read(path, 1, kind, &w, err, sizeof err), -EINVAL);
    assert_non_null(strstr(err, ":2: the value of 'line' opens a double quote"));
    assert_int_equal(w.count, 0);
    unlink(path);
    write_config("line = \"abc\" trailing\n");
    assert_int_equal(config_read(path, 1, kind, &w, err, sizeof err), -EINVAL);
    unlink(path);
}

/* [KIND NAME] sections: each key becomes --KIND-key=NAME=value, in the
 * order written, each word remembering its file and line. */
static void test_sections_become_named_options(void **state)
{
    (void)state;
    write_config("modems = 2\n[line trunk]\nspec = sip:pbx # the PBX\nchannels = 4\n\n"
                 "[line  backup ]\nspec = \"exec:bridge --x\"\n");
    struct config_words w;
    char err[256] = "";
    assert_int_equal(config_read(path, 1, kind, &w, err, sizeof err), 0);
    assert_int_equal(w.count, 4);
    assert_string_equal(w.words[0], "--modems=2");
    assert_string_equal(w.words[1], "--line-spec=trunk=sip:pbx");
    assert_string_equal(w.words[2], "--line-channels=trunk=4");
    assert_string_equal(w.words[3], "--line-spec=backup=exec:bridge --x");
    char want[96];
    snprintf(want, sizeof want, "%s:4", path);
    assert_string_equal(w.origins[2], want);
    config_words_free(&w);
    unlink(path);
}

static void test_bad_sections_name_file_line_and_fix(void **state)
{
    (void)state;
    static const struct { const char *text; const char *said; } bad[] = {
        {"[line trunk]\nchanels = 4\n", ":2: unknown setting 'chanels' in section [line trunk]"},
        {"[line trunk]\nquiet = yes\n", ":2: unknown setting 'quiet' in section [line trunk]"},
        {"[line]\nspec = sim\n", ":1: '[line]' is not a section header"},
        {"[line a b]\nspec = sim\n", ":1: '[line a b]' is not a section header"},
        {"[line trunk\nspec = sim\n", ":1: '[line trunk' is not a section header"},
        {"[line trunk]\n[line other]\nspec = sim\n", ":1: section [line trunk] sets nothing"},
        {"modems = 2\n[line trunk]\n", ":2: section [line trunk] sets nothing"},
    };
    for (size_t i = 0; i < sizeof bad / sizeof bad[0]; i++) {
        write_config(bad[i].text);
        struct config_words w;
        char err[256] = "";
        assert_int_equal(config_read(path, 1, kind, &w, err, sizeof err), -EINVAL);
        if (!strstr(err, bad[i].said))
            fail_msg("case %zu: '%s' does not say '%s'", i, err, bad[i].said);
        assert_int_equal(w.count, 0);
        unlink(path);
    }
}

/* [destination PATTERN] and [line NAME] dial keys through the real
 * option table: accepted into the dial plan, or refused naming FILE:LINE. */
static int parse_config_file(struct daemon_options *opt, char *stderr_text, size_t len)
{
    struct config_words w;
    char err[256] = "";
    assert_int_equal(config_read(path, 1, options_kind, &w, err, sizeof err), 0);
    char *argv[64];
    const char *origins[64] = {0};
    int argc = 0;
    argv[argc++] = "faxfs";
    for (int i = 0; i < w.count && argc < 62; i++) {
        origins[argc] = w.origins[i];
        argv[argc++] = w.words[i];
    }
    argv[argc++] = "/mnt";
    FILE *saved = stderr, *mem = fmemopen(stderr_text, len, "w");
    assert_non_null(mem);
    stderr = mem;
    enum options_result r = options_parse_from(argc, argv, origins, opt);
    fclose(mem);
    stderr = saved;
    config_words_free(&w);
    return r == OPTIONS_RUN ? 0 : -1;
}

static void test_destination_sections_reach_the_dial_plan(void **state)
{
    (void)state;
    write_config("dial-country = 44\ndial-national-prefix = 0\ndial-deny = 0909*\necm = no\n"
                 "[destination +4420*]\nmax-calls = 2\nwindow = Mon-Fri 08:00-18:00, Sat 09:00-12:00\n"
                 "[line default]\ndial-prefix = 9\nnumber-format = national\n");
    struct daemon_options opt;
    char said[1024] = "";
    assert_int_equal(parse_config_file(&opt, said, sizeof said), 0);
    assert_non_null(opt.dialplan);
    struct dialplan_controls c;
    dialplan_controls(opt.dialplan, "+442079460958", &c);
    assert_string_equal(c.pattern, "+4420*");
    assert_int_equal(c.max_calls, 2);
    assert_non_null(c.window);
    assert_int_equal(c.window->nranges, 2);
    char out[64];
    assert_int_equal(dialplan_format_for_line(opt.dialplan, "default", "+442079460958", out, sizeof out), 0);
    assert_string_equal(out, "902079460958");
    options_free(&opt);
    unlink(path);

    write_config("[destination +4420*]\nmax-bit-rate = 9000\n");
    said[0] = '\0';
    assert_int_equal(parse_config_file(&opt, said, sizeof said), -1);
    char want[96];
    snprintf(want, sizeof want, "that setting is at %s:2", path);
    if (!strstr(said, want) || !strstr(said, "--destination-max-bit-rate: bit rate '9000'"))
        fail_msg("refusal says: %s", said);
    options_free(&opt);
    unlink(path);
}

int main(void)
{
    const struct CMUnitTest tests[] = {
        cmocka_unit_test(test_destination_sections_reach_the_dial_plan),
        cmocka_unit_test(test_settings_become_long_options_in_order),
        cmocka_unit_test(test_switch_set_to_no_adds_nothing),
        cmocka_unit_test(test_unknown_setting_names_file_and_line),
        cmocka_unit_test(test_line_without_equals_and_bad_switch_are_refused),
        cmocka_unit_test(test_config_cannot_name_another_config),
        cmocka_unit_test(test_missing_file_is_fine_unless_required),
        cmocka_unit_test(test_hash_inside_a_value_is_kept),
        cmocka_unit_test(test_quoted_value_keeps_spaces_hashes_and_escapes),
        cmocka_unit_test(test_unclosed_quote_names_file_and_line),
        cmocka_unit_test(test_sections_become_named_options),
        cmocka_unit_test(test_bad_sections_name_file_line_and_fix),
    };
    return cmocka_run_group_tests(tests, NULL, NULL);
}

/*
 * test_queue_dialplan.c - dial rules as tables: numbers as people type
 * them made canonical for several countries, formatted per line, refused
 * by rules, destination controls, sending windows (across midnight and
 * over DST changes) and the precedence of modem settings.
 */
#include <errno.h>
#include <setjmp.h>
#include <stdarg.h>
#include <stddef.h>
#include <stdint.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <time.h>

#include <cmocka.h>

#include "queue/dialplan.h"
#include "queue/queue.h"
#include "queue_testutil.h"

#include <unistd.h>

struct site {
    const char *country, *area, *intl, *natl, *strip;
};

static struct dialplan *plan(const struct site *s)
{
    struct dialplan *dp = dialplan_new();
    char why[200];
    assert_non_null(dp);
    if (s->country)
        assert_int_equal(dialplan_set(dp, DPO_COUNTRY, s->country, why, sizeof why), 0);
    if (s->area)
        assert_int_equal(dialplan_set(dp, DPO_AREA, s->area, why, sizeof why), 0);
    if (s->intl)
        assert_int_equal(dialplan_set(dp, DPO_INTERNATIONAL_PREFIX, s->intl, why, sizeof why), 0);
    if (s->natl)
        assert_int_equal(dialplan_set(dp, DPO_NATIONAL_PREFIX, s->natl, why, sizeof why), 0);
    if (s->strip)
        assert_int_equal(dialplan_set(dp, DPO_STRIP_PREFIX, s->strip, why, sizeof why), 0);
    return dp;
}

static const struct site uk = {"44", "20", "00", "0", "9"};
static const struct site us = {"1", "212", "011", "1", "9"};
static const struct site de = {"49", "30", "00", "0", NULL};
static const struct site fr = {"33", NULL, "00", "0", NULL};
static const struct site jp = {"81", "3", "010", "0", NULL};
static const struct site au = {"61", "2", "0011", "0", "0"};

static void test_canonical_table(void **state)
{
    (void)state;
    static const struct {
        const struct site *site;
        const char *typed, *want; /* want NULL: refused with EINVAL */
    } cases[] = {
        {&uk, "+44 20 7946 0958", "+442079460958"},
        {&uk, "020 7946 0958", "+442079460958"},
        {&uk, "0044 20 7946 0958", "+442079460958"},
        {&uk, "7946 0958", "+442079460958"},
        {&uk, "9,020 7946 0958", "+442079460958"},
        {&uk, "9 020 7946 0958", "+442079460958"},
        {&uk, "900 1 212 555 0100", "+12125550100"},
        {&uk, "9,+1 212 555 0100", "+12125550100"},
        {&uk, "0161 496 0000", "+441614960000"},
        {&uk, "9,", NULL},
        {&uk, "abc", NULL},
        {&us, "(555) 123-4567", "+15551234567"},
        {&us, "1 555 123 4567", "+15551234567"},
        {&us, "555-0101", "+12125550101"},
        {&us, "9,5551234", "+12125551234"},
        {&us, "9123456", "+12129123456"},     /* a local number that starts with 91: kept */
        {&us, "9 1 555 123 4567", "+15551234567"},
        {&us, "011 44 20 7946 0958", "+442079460958"},
        {&us, "9011 44 20 7946 0958", "+442079460958"},
        {&de, "030 1234567", "+49301234567"},
        {&de, "1234567", "+49301234567"},
        {&de, "00 33 1 23 45 67 89", "+33123456789"},
        {&fr, "01 23 45 67 89", "+33123456789"},
        {&fr, "+33 1 23 45 67 89", "+33123456789"},
        {&jp, "03-1234-5678", "+81312345678"},
        {&jp, "010-44-20-7946-0958", "+442079460958"},
        {&jp, "1234-5678", "+81312345678"},
        {&au, "0011 44 20 7946 0958", "+442079460958"},
        {&au, "(02) 9876 5432", "+61298765432"},
        {&au, "9876 5432", "+61298765432"},
        {&au, "0 02 9876 5432", "+61298765432"},
        {&au, "0,9876 5432", "+61298765432"},
    };
    for (size_t i = 0; i < sizeof cases / sizeof cases[0]; i++) {
        struct dialplan *dp = plan(cases[i].site);
        char out[JOB_NUMBER_MAX], why[200] = "";
        int r = dialplan_canonical(dp, cases[i].typed, out, sizeof out, why, sizeof why);
        if (cases[i].want == NULL) {
            if (r != -EINVAL)
                fail_msg("case %zu '%s': accepted as %s", i, cases[i].typed, out);
            assert_true(why[0] != '\0');
        } else if (r != 0 || strcmp(out, cases[i].want) != 0) {
            fail_msg("case %zu '%s': got %d '%s' (%s), want %s", i, cases[i].typed, r, r ? "" : out, why,
                     cases[i].want);
        }
        dialplan_free(dp);
    }
}

/* Without a plan numbers are exactly what job_normalize_number makes. */
static void test_no_plan_is_todays_behaviour(void **state)
{
    (void)state;
    static const char *const typed[] = {"5550101", "555 0101", "+1 (555) 010-1234", "9,5551234", "0044 20",
                                        "", "12a", "(555) 123-4567"};
    struct dialplan *empty = dialplan_new();
    for (size_t i = 0; i < sizeof typed / sizeof typed[0]; i++) {
        char a[JOB_NUMBER_MAX], b[JOB_NUMBER_MAX], c[JOB_NUMBER_MAX], why[200];
        int ra = job_normalize_number(typed[i], a, sizeof a, why, sizeof why);
        int rb = dialplan_canonical(NULL, typed[i], b, sizeof b, why, sizeof why);
        int rc = dialplan_canonical(empty, typed[i], c, sizeof c, why, sizeof why);
        assert_int_equal(ra, rb);
        assert_int_equal(ra, rc);
        if (ra == 0) {
            assert_string_equal(a, b);
            assert_string_equal(a, c);
        }
    }
    dialplan_free(empty);
}

static void test_format_for_line(void **state)
{
    (void)state;
    struct dialplan *dp = plan(&uk);
    char why[200], out[80];
    assert_int_equal(dialplan_set(dp, DPO_LINE_DIAL_PREFIX, "pbx=9", why, sizeof why), 0);
    assert_int_equal(dialplan_set(dp, DPO_LINE_NUMBER_FORMAT, "pbx=national", why, sizeof why), 0);
    assert_int_equal(dialplan_set(dp, DPO_LINE_NUMBER_FORMAT, "trunk=international", why, sizeof why), 0);
    assert_int_equal(dialplan_set(dp, DPO_LINE_NUMBER_FORMAT, "office=local", why, sizeof why), 0);
    assert_int_equal(dialplan_set(dp, DPO_LINE_NUMBER_FORMAT, "x=dialtone", why, sizeof why), -EINVAL);
    assert_int_equal(dialplan_set(dp, DPO_LINE_DIAL_PREFIX, "x=9a", why, sizeof why), -EINVAL);
    static const struct {
        const char *line, *number, *want;
    } cases[] = {
        {"pbx", "+442079460958", "902079460958"},
        {"pbx", "+12125550100", "90012125550100"},
        {"trunk", "+442079460958", "00442079460958"},
        {"office", "+442079460958", "79460958"},
        {"office", "+441614960000", "01614960000"},
        {"office", "+12125550100", "0012125550100"},
        {"default", "+442079460958", "+442079460958"},
        {"unknown", "5550101", "5550101"},
    };
    for (size_t i = 0; i < sizeof cases / sizeof cases[0]; i++) {
        assert_int_equal(dialplan_format_for_line(dp, cases[i].line, cases[i].number, out, sizeof out), 0);
        if (strcmp(out, cases[i].want))
            fail_msg("case %zu: %s on %s gave %s, want %s", i, cases[i].number, cases[i].line, out, cases[i].want);
    }
    assert_int_equal(dialplan_format_for_line(NULL, "default", "5550101", out, sizeof out), 0);
    assert_string_equal(out, "5550101");
    assert_int_equal(dialplan_format_for_line(dp, "pbx", "+442079460958", out, 5), -ENOSPC);
    dialplan_free(dp);
}

/* The worked examples of docs/dialing.md, typed to dialed. */
static void test_worked_examples(void **state)
{
    (void)state;
    static const struct {
        const struct site *site;
        const char *prefix, *format, *typed, *canonical, *dialed; /* dialed NULL: refused */
    } cases[] = {
        {&uk, "default=9", "default=national", "020 7946 0958", "+442079460958", "902079460958"},
        {&uk, "default=9", "default=national", "9,020 7946 0958", "+442079460958", "902079460958"},
        {&uk, "default=9", "default=national", "7946 0958", "+442079460958", "902079460958"},
        {&uk, "default=9", "default=national", "+1 212 555 0100", "+12125550100", "90012125550100"},
        {&uk, "default=9", "default=national", "999", "+4420999", NULL},
        {&uk, "default=9", "default=national", "9999", "+44209999", NULL},
        {&uk, "default=9", "default=national", "0909 879 0000", "+449098790000", NULL},
        {&us, "default=", "default=national", "(555) 123-4567", "+15551234567", "15551234567"},
        {&us, "default=", "default=national", "555-0101", "+12125550101", "12125550101"},
        {&us, "default=", "default=national", "9,5551234", "+12125551234", "12125551234"},
        {&us, "default=", "default=national", "011 44 20 7946 0958", "+442079460958", "011442079460958"},
        {&us, "default=", "default=national", "1 900 555 0100", "+19005550100", NULL},
    };
    for (size_t i = 0; i < sizeof cases / sizeof cases[0]; i++) {
        struct dialplan *dp = plan(cases[i].site);
        char why[200], canon[JOB_NUMBER_MAX], out[80], rule[160];
        assert_int_equal(dialplan_set(dp, DPO_LINE_DIAL_PREFIX, cases[i].prefix, why, sizeof why), 0);
        assert_int_equal(dialplan_set(dp, DPO_LINE_NUMBER_FORMAT, cases[i].format, why, sizeof why), 0);
        assert_int_equal(dialplan_canonical(dp, cases[i].typed, canon, sizeof canon, why, sizeof why), 0);
        if (strcmp(canon, cases[i].canonical))
            fail_msg("case %zu %s: canonical %s, want %s", i, cases[i].typed, canon, cases[i].canonical);
        int r = dialplan_check(dp, cases[i].typed, canon, rule, sizeof rule);
        if (!cases[i].dialed) {
            assert_int_equal(r, -EACCES);
        } else {
            assert_int_equal(r, 0);
            assert_int_equal(dialplan_format_for_line(dp, "default", canon, out, sizeof out), 0);
            if (strcmp(out, cases[i].dialed))
                fail_msg("case %zu %s: dialed %s, want %s", i, cases[i].typed, out, cases[i].dialed);
        }
        dialplan_free(dp);
    }
}

static void test_refusals(void **state)
{
    (void)state;
    struct dialplan *dp = plan(&uk);
    char why[200], rule[160], canon[JOB_NUMBER_MAX];
    static const char deny[] = "# premium and abroad\n+1900*\n\n  +33*   # France\n";
    assert_int_equal(dialplan_set(dp, DPO_DENY, "+4420794600XX", why, sizeof why), 0);
    assert_int_equal(dialplan_add_deny_text(dp, deny, sizeof deny - 1, "deny.txt", why, sizeof why), 0);
    assert_int_equal(dialplan_set(dp, DPO_DENY, "12a", why, sizeof why), -EINVAL);
    assert_int_equal(dialplan_add_deny_text(dp, "+1*\nfoo\n", 8, "bad.txt", why, sizeof why), -EINVAL);
    assert_non_null(strstr(why, "bad.txt:2"));
    static const struct {
        const char *typed, *rule; /* rule NULL: allowed */
    } cases[] = {
        {"020 7946 0958", NULL},
        {"020 7946 0012", "--dial-deny +4420794600XX"},
        {"001 900 555 0100", "deny.txt:2: +1900*"},
        {"+33 1 23 45 67 89", "deny.txt:4: +33*"},
        {"999", "built-in refusal of the emergency number 999"},
        {"9,999", "built-in refusal of the emergency number 999"},
        {"9999", "built-in refusal of the emergency number 999"},
        {"112", "built-in refusal of the emergency number 112"},
        {"+44 999", "built-in refusal of the emergency number 999"},
        {"0909 879 0000", "built-in refusal of premium-rate numbers +449*"},
        {"0871 234 5678", "built-in refusal of premium-rate numbers +44871*"},
        {"+1 900 555 0100", "deny.txt:2: +1900*"},
    };
    for (size_t i = 0; i < sizeof cases / sizeof cases[0]; i++) {
        assert_int_equal(dialplan_canonical(dp, cases[i].typed, canon, sizeof canon, why, sizeof why), 0);
        int r = dialplan_check(dp, cases[i].typed, canon, rule, sizeof rule);
        if (cases[i].rule == NULL && r != 0)
            fail_msg("case %zu %s: refused by %s", i, cases[i].typed, rule);
        if (cases[i].rule && (r != -EACCES || strcmp(rule, cases[i].rule)))
            fail_msg("case %zu %s: %d '%s', want %s", i, cases[i].typed, r, rule, cases[i].rule);
    }
    /* An administrator lifts one built-in refusal. */
    assert_int_equal(dialplan_set(dp, DPO_ALLOW, "+44909*", why, sizeof why), 0);
    assert_int_equal(dialplan_canonical(dp, "0909 879 0000", canon, sizeof canon, why, sizeof why), 0);
    assert_int_equal(dialplan_check(dp, "0909 879 0000", canon, rule, sizeof rule), 0);
    assert_int_equal(dialplan_canonical(dp, "0908 879 0000", canon, sizeof canon, why, sizeof why), 0);
    assert_int_equal(dialplan_check(dp, "0908 879 0000", canon, rule, sizeof rule), -EACCES);
    dialplan_free(dp);
    /* Without a plan the emergency numbers are still refused; others pass. */
    assert_int_equal(dialplan_check(NULL, "911", "911", rule, sizeof rule), -EACCES);
    assert_int_equal(dialplan_check(NULL, "5550101", "5550101", rule, sizeof rule), 0);
    assert_int_equal(dialplan_check(NULL, "9115550101", "9115550101", rule, sizeof rule), 0);
}

static void test_destinations(void **state)
{
    (void)state;
    struct dialplan *dp = dialplan_new();
    char why[200];
    struct dialplan_controls c;
    assert_int_equal(dialplan_set(dp, DPO_DEST_MAX_CALLS, "5550101=1", why, sizeof why), 0);
    assert_int_equal(dialplan_set(dp, DPO_DEST_ECM, "5550101=no", why, sizeof why), 0);
    assert_int_equal(dialplan_set(dp, DPO_DEST_MAX_BIT_RATE, "5550101=9600", why, sizeof why), 0);
    assert_int_equal(dialplan_set(dp, DPO_DEST_REFUSE, "555XXXX=call the office instead", why, sizeof why), 0);
    assert_int_equal(dialplan_set(dp, DPO_DEST_MAX_PAGES, "*=50", why, sizeof why), 0);
    assert_int_equal(dialplan_set(dp, DPO_DEST_WINDOW, "+44*=Mon-Fri 08:00-18:00", why, sizeof why), 0);
    /* Refused values leave no section behind. */
    assert_int_equal(dialplan_set(dp, DPO_DEST_MAX_BIT_RATE, "777=9000", why, sizeof why), -EINVAL);
    assert_int_equal(dialplan_set(dp, DPO_DEST_ECM, "777=maybe", why, sizeof why), -EINVAL);
    assert_int_equal(dialplan_set(dp, DPO_DEST_WINDOW, "777=Mon 8-9", why, sizeof why), -EINVAL);
    assert_int_equal(dialplan_set(dp, DPO_DEST_MAX_CALLS, "5a5=1", why, sizeof why), -EINVAL);
    assert_int_equal(dialplan_set(dp, DPO_DEST_MAX_CALLS, "noequals", why, sizeof why), -EINVAL);

    dialplan_controls(dp, "5550101", &c); /* first matching section wins */
    assert_string_equal(c.pattern, "5550101");
    assert_int_equal(c.max_calls, 1);
    assert_null(c.refuse);
    assert_int_equal(c.max_pages, 0);
    dialplan_controls(dp, "5550102", &c);
    assert_string_equal(c.pattern, "555XXXX");
    assert_string_equal(c.refuse, "call the office instead");
    dialplan_controls(dp, "777", &c);
    assert_string_equal(c.pattern, "*");
    assert_int_equal(c.max_pages, 50);
    assert_int_equal(c.max_calls, -1);
    dialplan_free(dp);
}

static void test_modem_precedence(void **state)
{
    (void)state;
    struct dialplan *dp = dialplan_new();
    char why[200];
    struct dialplan_modem m;
    assert_int_equal(dialplan_set(dp, DPO_ECM, "yes", why, sizeof why), 0);
    assert_int_equal(dialplan_set(dp, DPO_MAX_BIT_RATE, "14400", why, sizeof why), 0);
    assert_int_equal(dialplan_set(dp, DPO_MIN_BIT_RATE, "4800", why, sizeof why), 0);
    assert_int_equal(dialplan_set(dp, DPO_MIN_BIT_RATE, "4000", why, sizeof why), -EINVAL);
    assert_int_equal(dialplan_set(dp, DPO_DEST_ECM, "5550101=no", why, sizeof why), 0);
    assert_int_equal(dialplan_set(dp, DPO_DEST_MAX_BIT_RATE, "5550101=9600", why, sizeof why), 0);
    assert_int_equal(dialplan_set(dp, DPO_DEST_T38, "5550101=no", why, sizeof why), 0);

    dialplan_modem_settings(dp, "5550199", -1, 0, 0, &m); /* global */
    assert_int_equal(m.ecm, 1);
    assert_int_equal(m.max_bit_rate, 14400);
    assert_int_equal(m.min_bit_rate, 4800);
    assert_int_equal(m.t38, -1);
    dialplan_modem_settings(dp, "5550199", 0, 7200, 2400, &m); /* the job over global */
    assert_int_equal(m.ecm, 0);
    assert_int_equal(m.max_bit_rate, 7200);
    assert_int_equal(m.min_bit_rate, 2400);
    dialplan_modem_settings(dp, "5550101", 1, 14400, 12000, &m); /* the destination over the job */
    assert_int_equal(m.ecm, 0);
    assert_int_equal(m.max_bit_rate, 9600);
    assert_int_equal(m.min_bit_rate, 9600); /* a floor above the ceiling is lowered to it */
    assert_int_equal(m.t38, 0);
    dialplan_modem_settings(NULL, "5550101", -1, 0, 0, &m);
    assert_int_equal(m.ecm, -1);
    assert_int_equal(m.max_bit_rate, 0);
    dialplan_free(dp);
}

static int64_t local(int y, int mo, int d, int h, int mi)
{
    struct tm t = {.tm_year = y - 1900, .tm_mon = mo - 1, .tm_mday = d, .tm_hour = h, .tm_min = mi, .tm_isdst = -1};
    return (int64_t)mktime(&t);
}

static void test_windows(void **state)
{
    (void)state;
    struct dialplan_window w;
    char why[200];
    setenv("TZ", "Europe/London", 1);
    tzset();

    static const char *const bad[] = {"", "Mon", "08:00", "8:00-9:00", "Mon-Fri 08:00-08:00", "Xyz 08:00-09:00",
                                      "25:00-26:00", "08:00-09:00,", "08:00-09:00 10:00-11:00",
                                      "1:00-2:00,1:00-2:00,1:00-2:00,1:00-2:00,1:00-2:00,1:00-2:00,1:00-2:00,1:00-2:00,1:00-2:00"};
    for (size_t i = 0; i < sizeof bad / sizeof bad[0]; i++)
        if (dialplan_parse_window(bad[i], &w, why, sizeof why) != -EINVAL)
            fail_msg("window '%s' accepted", bad[i]);

    assert_int_equal(dialplan_parse_window("Mon-Fri 08:00-18:00, Sat 09:00-12:00", &w, why, sizeof why), 0);
    assert_int_equal(w.nranges, 2);
    /* 2026-12-02 is a Wednesday. */
    int64_t wed10 = local(2026, 12, 2, 10, 0);
    assert_int_equal(dialplan_window_next_open(&w, wed10), wed10);
    assert_int_equal(dialplan_window_next_open(&w, local(2026, 12, 2, 19, 0)), local(2026, 12, 3, 8, 0));
    assert_int_equal(dialplan_window_next_open(&w, local(2026, 12, 4, 18, 0)), local(2026, 12, 5, 9, 0));
    assert_int_equal(dialplan_window_next_open(&w, local(2026, 12, 5, 12, 30)), local(2026, 12, 7, 8, 0));

    /* Across midnight, and a day range that wraps the week end. */
    assert_int_equal(dialplan_parse_window("Fri-Mon 22:00-06:00", &w, why, sizeof why), 0);
    assert_int_equal(dialplan_window_next_open(&w, local(2026, 12, 2, 23, 0)), local(2026, 12, 4, 22, 0));
    int64_t sat3 = local(2026, 12, 5, 3, 0); /* Friday's range still open */
    assert_int_equal(dialplan_window_next_open(&w, sat3), sat3);
    int64_t tue5 = local(2026, 12, 8, 5, 0); /* Monday's range runs into Tuesday */
    assert_int_equal(dialplan_window_next_open(&w, tue5), tue5);
    assert_int_equal(dialplan_window_next_open(&w, local(2026, 12, 8, 6, 0)), local(2026, 12, 11, 22, 0));

    /* DST: in London the clocks go forward at 01:00 on 2027-03-28 and
     * back at 02:00 on 2027-10-31. A window opening in the gap opens when
     * the clock reaches that wall time after the jump; local times stay
     * local on both sides of the change. */
    assert_int_equal(dialplan_parse_window("01:30-03:00", &w, why, sizeof why), 0);
    int64_t before = local(2027, 3, 28, 0, 30);
    int64_t opens = dialplan_window_next_open(&w, before);
    assert_true(opens > before);
    assert_true(opens - before <= 2 * 3600);
    assert_int_equal(dialplan_parse_window("Mon-Fri 08:00-18:00", &w, why, sizeof why), 0);
    int64_t fri = local(2027, 3, 26, 19, 0);
    assert_int_equal(dialplan_window_next_open(&w, fri), local(2027, 3, 29, 8, 0));
    assert_int_equal(local(2027, 3, 29, 8, 0) - local(2027, 3, 26, 8, 0), 3 * 86400 - 3600);
    int64_t fri_oct = local(2027, 10, 29, 19, 0);
    assert_int_equal(dialplan_window_next_open(&w, fri_oct), local(2027, 11, 1, 8, 0));
    struct tm tm;
    time_t t = (time_t)dialplan_window_next_open(&w, fri_oct);
    localtime_r(&t, &tm);
    assert_int_equal(tm.tm_hour, 8);
    assert_int_equal(tm.tm_min, 0);
    assert_int_equal(tm.tm_wday, 1);
    setenv("TZ", "UTC", 1);
    tzset();
}

/* ---- through the engine ---- */

static int submit_doc(struct queue *q, const char *number, int pages, int use_ecm, int max_rate, uint64_t *id,
                      char *why, size_t whylen)
{
    struct queue_request req;
    int fd = make_good_tiff(pages);
    memset(&req, 0, sizeof req);
    snprintf(req.recipient_number, sizeof req.recipient_number, "%s", number);
    req.use_ecm = use_ecm;
    req.max_bit_rate = max_rate;
    int r = queue_submit(q, &test_owner, &req, &fd, 1, id, why, whylen);
    close(fd);
    return r;
}

static size_t job_count(struct queue *q)
{
    uint64_t *ids = NULL;
    size_t n = 0;
    assert_int_equal(queue_list(q, QL_UNFINISHED | QL_HISTORY, &ids, &n), 0);
    free(ids);
    return n;
}

static void test_engine_refuses_and_stores_nothing(void **state)
{
    (void)state;
    struct queue_fixture *f = queue_fixture_new(true);
    struct dialplan *dp = plan(&uk);
    char why[512];
    uint64_t id = 0;
    assert_int_equal(dialplan_set(dp, DPO_DENY, "+4420794600XX", why, sizeof why), 0);
    assert_int_equal(dialplan_set(dp, DPO_DEST_MAX_PAGES, "+4420*=1", why, sizeof why), 0);
    assert_int_equal(dialplan_set(dp, DPO_DEST_REFUSE, "+4416*=Manchester takes no faxes", why, sizeof why), 0);
    f->cfg.dialplan = dp;
    queue_fixture_open(f);

    assert_int_equal(submit_doc(f->q, "020 7946 0012", 1, 0, 0, &id, why, sizeof why), -EACCES);
    assert_non_null(strstr(why, "--dial-deny +4420794600XX"));
    assert_int_equal(submit_doc(f->q, "9,999", 1, 0, 0, &id, why, sizeof why), -EACCES);
    assert_non_null(strstr(why, "emergency number 999"));
    assert_int_equal(submit_doc(f->q, "0161 496 0000", 1, 0, 0, &id, why, sizeof why), -EACCES);
    assert_non_null(strstr(why, "Manchester takes no faxes"));
    assert_int_equal(submit_doc(f->q, "020 7946 0958", 2, 0, 0, &id, why, sizeof why), -EFBIG);
    assert_int_equal(submit_doc(f->q, "020 7946 0958", 1, 0, 9000, &id, why, sizeof why), -EINVAL);
    assert_int_equal(submit_doc(f->q, "020 7946 0958", 1, 7, 0, &id, why, sizeof why), -EINVAL);
    assert_int_equal(job_count(f->q), 0);
    struct queue_metrics m;
    queue_metrics(f->q, &m);
    assert_int_equal(m.submissions_refused, 6);
    queue_fixture_free(f);
    dialplan_free(dp);
}

static void test_engine_dials_formatted_with_destination_settings(void **state)
{
    (void)state;
    struct queue_fixture *f = queue_fixture_new(true);
    struct dialplan *dp = plan(&uk);
    char why[512];
    uint64_t id = 0, other = 0;
    assert_int_equal(dialplan_set(dp, DPO_LINE_DIAL_PREFIX, "default=9", why, sizeof why), 0);
    assert_int_equal(dialplan_set(dp, DPO_LINE_NUMBER_FORMAT, "default=national", why, sizeof why), 0);
    assert_int_equal(dialplan_set(dp, DPO_DEST_ECM, "+44207946*=no", why, sizeof why), 0);
    assert_int_equal(dialplan_set(dp, DPO_DEST_MAX_BIT_RATE, "+44207946*=9600", why, sizeof why), 0);
    assert_int_equal(dialplan_set(dp, DPO_MIN_BIT_RATE, "4800", why, sizeof why), 0);
    f->cfg.dialplan = dp;
    queue_fixture_open(f);

    assert_int_equal(submit_doc(f->q, "9,020 7946 0958", 1, QUEUE_ECM_ON, 14400, &id, why, sizeof why), 0);
    assert_int_equal(submit_doc(f->q, "0161 496 0000", 1, QUEUE_ECM_OFF, 7200, &other, why, sizeof why), 0);
    assert_int_equal(queue_run_once(f->q), 2);
    assert_int_equal(f->line.ncalls, 2);
    struct fake_call *a = &f->line.calls[0], *b = &f->line.calls[1];
    if (a->job_id != id) {
        struct fake_call *t = a;
        a = b;
        b = t;
    }
    assert_string_equal(a->number, "902079460958");
    assert_int_equal(a->ecm, 0); /* the destination wins over the job */
    assert_int_equal(a->max_bit_rate, 9600);
    assert_int_equal(a->min_bit_rate, 4800); /* global */
    assert_string_equal(b->number, "901614960000");
    assert_int_equal(b->ecm, 0); /* the job's own */
    assert_int_equal(b->max_bit_rate, 7200);

    struct job j;
    assert_int_equal(queue_snapshot(f->q, id, &j), 0);
    assert_string_equal(j.submitted_number, "9,020 7946 0958");
    assert_string_equal(j.recipient_number, "+442079460958");
    assert_string_equal(j.dialed_number, "902079460958");
    assert_int_equal(j.use_ecm, 1);
    assert_int_equal(j.max_bit_rate, 14400);
    /* Durable: a restart reads them back. */
    queue_call_finished(f->q, id, &(struct queue_call_result){.failure = QF_ABORTED, .code = "", .text = "",
                                                              .pages_sent = 0, .bit_rate = -1, .ecm = -1,
                                                              .duration = -1});
    queue_fixture_reopen(f);
    assert_int_equal(queue_snapshot(f->q, id, &j), 0);
    assert_string_equal(j.submitted_number, "9,020 7946 0958");
    assert_string_equal(j.dialed_number, "902079460958");
    assert_int_equal(j.use_ecm, 1);
    queue_fixture_free(f);
    dialplan_free(dp);
}

static void test_engine_holds_jobs_outside_their_window(void **state)
{
    (void)state;
    struct queue_fixture *f = queue_fixture_new(false);
    struct dialplan *dp = dialplan_new();
    char why[512];
    uint64_t id = 0;
    /* TEST_START is 2026-09-21 (a Monday) 14:13:20 UTC; the tests run in UTC. */
    assert_int_equal(dialplan_set(dp, DPO_DEST_WINDOW, "5551234=Mon-Fri 22:00-23:00", why, sizeof why), 0);
    assert_int_equal(dialplan_set(dp, DPO_DEST_WINDOW, "5559876=Mon-Fri 20:00-21:00", why, sizeof why), 0);
    f->cfg.dialplan = dp;
    queue_fixture_open(f);
    int64_t open = TEST_START - TEST_START % 86400 + 22 * 3600;

    assert_int_equal(submit_doc(f->q, "555 1234", 1, 0, 0, &id, why, sizeof why), 0);
    struct job j;
    assert_int_equal(queue_snapshot(f->q, id, &j), 0);
    assert_int_equal(j.status, JOB_SCHEDULED);
    assert_int_equal(j.scheduled, open);
    assert_int_equal(queue_run_once(f->q), 0);
    f->clock.now = open - 1;
    assert_int_equal(queue_run_once(f->q), 0);
    f->clock.now = open;
    assert_int_equal(queue_run_once(f->q), 1);

    /* A retry that falls after the window closed waits for the next one. */
    queue_call_finished(f->q, id, &(struct queue_call_result){.failure = QF_BUSY, .code = "busy", .text = "busy",
                                                              .pages_sent = 0, .bit_rate = -1, .ecm = -1,
                                                              .duration = -1});
    f->clock.now = open + 3600; /* 23:00: closed, within the kill time */
    assert_int_equal(queue_run_once(f->q), 0);
    assert_int_equal(queue_snapshot(f->q, id, &j), 0);
    assert_int_equal(j.status, JOB_SCHEDULED);
    assert_int_equal(j.scheduled, open + 86400);
    queue_fixture_free(f);
    dialplan_free(dp);
}

int main(void)
{
    const struct CMUnitTest tests[] = {
        cmocka_unit_test(test_canonical_table), cmocka_unit_test(test_no_plan_is_todays_behaviour),
        cmocka_unit_test(test_format_for_line), cmocka_unit_test(test_worked_examples),
        cmocka_unit_test(test_refusals),
        cmocka_unit_test(test_destinations),    cmocka_unit_test(test_modem_precedence),
        cmocka_unit_test(test_windows),
        cmocka_unit_test(test_engine_refuses_and_stores_nothing),
        cmocka_unit_test(test_engine_dials_formatted_with_destination_settings),
        cmocka_unit_test(test_engine_holds_jobs_outside_their_window),
    };
    return cmocka_run_group_tests(tests, NULL, NULL);
}

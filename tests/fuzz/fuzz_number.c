/*
 * fuzz_number.c - libFuzzer target for phone numbers as users type them
 * (outbox file names, draft files) and for the dial rules' text: a deny
 * file and a sending window. An accepted number must be digits with at
 * most a leading '+', and normalizing it again must not change it; with a
 * dial plan the canonical number is E.164 and canonical again as itself.
 */
#include <ctype.h>
#include <stdint.h>
#include <stdlib.h>
#include <string.h>

#include "queue/dialplan.h"
#include "queue/queue.h"

int LLVMFuzzerTestOneInput(const uint8_t *data, size_t size);

static void check_digits(const char *s, bool plus_required)
{
    if (plus_required && s[0] != '+')
        abort();
    for (size_t i = 0; s[i] != '\0'; i++)
        if (!(isdigit((unsigned char)s[i]) || (s[i] == '+' && i == 0)))
            abort();
}

static struct dialplan *uk_plan(void)
{
    static const struct {
        enum dialplan_option o;
        const char *v;
    } settings[] = {
        {DPO_COUNTRY, "44"}, {DPO_AREA, "20"}, {DPO_INTERNATIONAL_PREFIX, "00"}, {DPO_NATIONAL_PREFIX, "0"},
        {DPO_STRIP_PREFIX, "9"}, {DPO_LINE_DIAL_PREFIX, "pbx=9"}, {DPO_LINE_NUMBER_FORMAT, "pbx=local"},
        {DPO_DENY, "+4487*"},
    };
    struct dialplan *dp = dialplan_new();
    char why[256];
    if (!dp)
        abort();
    for (size_t i = 0; i < sizeof settings / sizeof settings[0]; i++)
        if (dialplan_set(dp, settings[i].o, settings[i].v, why, sizeof why) != 0)
            abort();
    return dp;
}

int LLVMFuzzerTestOneInput(const uint8_t *data, size_t size)
{
    static struct dialplan *uk;
    char in[512], out[JOB_NUMBER_MAX], again[JOB_NUMBER_MAX], why[256], rule[160], dialed[96];

    if (!uk)
        uk = uk_plan();
    if (size >= sizeof in)
        size = sizeof in - 1;
    memcpy(in, data, size);
    in[size] = '\0';

    /* The same bytes as a deny file and as a window: bounded, and either
     * accepted or refused with a sentence. */
    struct dialplan *dp = dialplan_new();
    if (!dp)
        abort();
    why[0] = '\0';
    if (dialplan_add_deny_text(dp, (const char *)data, size, "fuzz", why, sizeof why) != 0 && why[0] == '\0')
        abort();
    dialplan_free(dp);
    struct dialplan_window w;
    if (dialplan_parse_window(in, &w, why, sizeof why) == 0) {
        if (w.nranges < 1 || w.nranges > DIALPLAN_MAX_RANGES)
            abort();
        int64_t now = 1795000000, open = dialplan_window_next_open(&w, now);
        if (open < now || open > now + 9 * 86400)
            abort();
    }

    /* With a dial plan: E.164, stable, checked and formatted without
     * overflowing. */
    if (dialplan_canonical(uk, in, out, sizeof out, why, sizeof why) == 0) {
        check_digits(out, true);
        if (dialplan_canonical(uk, out, again, sizeof again, why, sizeof why) != 0 || strcmp(out, again) != 0)
            abort();
        (void)dialplan_check(uk, in, out, rule, sizeof rule);
        if (dialplan_format_for_line(uk, "pbx", out, dialed, sizeof dialed) != 0)
            abort();
        check_digits(dialed, false);
    }

    if (job_normalize_number(in, out, sizeof out, why, sizeof why) != 0)
        return 0;
    check_digits(out, false);
    if (job_normalize_number(out, again, sizeof again, why, sizeof why) != 0 || strcmp(out, again) != 0)
        abort();
    /* Without a plan the dial rules change nothing. */
    if (dialplan_canonical(NULL, in, again, sizeof again, why, sizeof why) != 0 || strcmp(out, again) != 0)
        abort();
    return 0;
}

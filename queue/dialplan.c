/*
 * dialplan.c - dial rules, destination controls and call modem settings
 * (see dialplan.h, docs/dialing.md). Pure functions over a plan that is
 * built once from the options and never changes afterwards.
 */
#include "queue/dialplan.h"
#include "queue/number_pattern.h"
#include "queue/queue.h"

#include <ctype.h>
#include <errno.h>
#include <fcntl.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <strings.h>
#include <time.h>
#include <unistd.h>

#define PREFIX_MAX 8   /* digits of a prefix, country or area code, NUL included */
#define RULE_SRC_MAX 96
#define REFUSE_MAX 160
#define LINE_NAME_MAX 32
#define MAX_DESTS 1000
#define MAX_LINES 64

struct rule {
    char pattern[NUMBER_PATTERN_MAX];
    char source[RULE_SRC_MAX]; /* "--dial-deny", "FILE:LINE" */
};

struct dest {
    char pattern[NUMBER_PATTERN_MAX];
    int max_calls, ecm, max_bit_rate, min_bit_rate, t38, max_pages, batch;
    bool has_window;
    struct dialplan_window window;
    char *refuse;
};

struct line {
    char name[LINE_NAME_MAX];
    char prefix[PREFIX_MAX];
    int format; /* -1 unset */
};

struct dialplan {
    char country[PREFIX_MAX], area[PREFIX_MAX], intl[PREFIX_MAX], natl[PREFIX_MAX], strip[PREFIX_MAX];
    struct rule *deny, *allow;
    size_t ndeny, nallow;
    struct dest *dests;
    size_t ndests;
    struct line *lines;
    size_t nlines;
    int ecm, max_bit_rate, min_bit_rate;
    bool any;
};

static const char *const option_names[DPO_COUNT] = {
    [DPO_COUNTRY] = "dial-country",
    [DPO_AREA] = "dial-area",
    [DPO_INTERNATIONAL_PREFIX] = "dial-international-prefix",
    [DPO_NATIONAL_PREFIX] = "dial-national-prefix",
    [DPO_STRIP_PREFIX] = "dial-strip-prefix",
    [DPO_DENY] = "dial-deny",
    [DPO_DENY_FILE] = "dial-deny-file",
    [DPO_ALLOW] = "dial-allow",
    [DPO_LINE_DIAL_PREFIX] = "line-dial-prefix",
    [DPO_LINE_NUMBER_FORMAT] = "line-number-format",
    [DPO_DEST_MAX_CALLS] = "destination-max-calls",
    [DPO_DEST_ECM] = "destination-ecm",
    [DPO_DEST_MAX_BIT_RATE] = "destination-max-bit-rate",
    [DPO_DEST_MIN_BIT_RATE] = "destination-min-bit-rate",
    [DPO_DEST_T38] = "destination-t38",
    [DPO_DEST_MAX_PAGES] = "destination-max-pages",
    [DPO_DEST_WINDOW] = "destination-window",
    [DPO_DEST_REFUSE] = "destination-refuse",
    [DPO_ECM] = "ecm",
    [DPO_MAX_BIT_RATE] = "max-bit-rate",
    [DPO_MIN_BIT_RATE] = "min-bit-rate",
    [DPO_DEST_BATCH] = "destination-batch",
};

const char *dialplan_option_name(enum dialplan_option o)
{
    return (unsigned)o < DPO_COUNT ? option_names[o] : "?";
}

struct dialplan *dialplan_new(void)
{
    struct dialplan *dp = calloc(1, sizeof *dp);
    if (dp)
        dp->ecm = -1;
    return dp;
}

void dialplan_free(struct dialplan *dp)
{
    if (!dp)
        return;
    for (size_t i = 0; i < dp->ndests; i++)
        free(dp->dests[i].refuse);
    free(dp->dests);
    free(dp->deny);
    free(dp->allow);
    free(dp->lines);
    free(dp);
}

bool dialplan_is_empty(const struct dialplan *dp)
{
    return dp == NULL || !dp->any;
}

bool dialplan_bit_rate_valid(int rate)
{
    return rate == 2400 || rate == 4800 || rate == 7200 || rate == 9600 || rate == 12000 || rate == 14400;
}

/* ---- parsing settings ---------------------------------------------- */

static bool all_digits(const char *s, size_t min, size_t max)
{
    size_t n = strlen(s);
    if (n < min || n > max)
        return false;
    for (size_t i = 0; i < n; i++)
        if (!isdigit((unsigned char)s[i]))
            return false;
    return true;
}

static int parse_yesno(const char *v, int *out)
{
    if (!strcmp(v, "yes") || !strcmp(v, "on") || !strcmp(v, "1")) {
        *out = 1;
        return 0;
    }
    if (!strcmp(v, "no") || !strcmp(v, "off") || !strcmp(v, "0")) {
        *out = 0;
        return 0;
    }
    return -EINVAL;
}

static int parse_int(const char *v, int lo, int hi, int *out)
{
    char *end;
    if (!all_digits(v, 1, 9))
        return -EINVAL;
    long n = strtol(v, &end, 10);
    if (*end || n < lo || n > hi)
        return -EINVAL;
    *out = (int)n;
    return 0;
}

static int add_rule(struct rule **v, size_t *n, const char *pattern, const char *source, char *why, size_t whylen)
{
    char reason[160];
    if (number_pattern_check(pattern, reason, sizeof reason) != 0) {
        snprintf(why, whylen, "%s", reason);
        return -EINVAL;
    }
    if (*n >= DIALPLAN_MAX_RULES) {
        snprintf(why, whylen, "more than %d dial rules; merge patterns with X and *", DIALPLAN_MAX_RULES);
        return -EINVAL;
    }
    struct rule *p = realloc(*v, (*n + 1) * sizeof **v);
    if (!p) {
        snprintf(why, whylen, "out of memory");
        return -ENOMEM;
    }
    *v = p;
    snprintf(p[*n].pattern, sizeof p[*n].pattern, "%s", pattern);
    snprintf(p[*n].source, sizeof p[*n].source, "%s", source);
    (*n)++;
    return 0;
}

int dialplan_add_deny_text(struct dialplan *dp, const char *text, size_t len, const char *source, char *why,
                           size_t whylen)
{
    size_t before = dp->ndeny;
    int lineno = 0;

    for (size_t i = 0; i < len;) {
        size_t e = i;
        while (e < len && text[e] != '\n')
            e++;
        lineno++;
        char line[NUMBER_PATTERN_MAX + 1];
        size_t a = i, b = e;
        for (size_t k = i; k < e; k++)
            if (text[k] == '#') {
                b = k;
                break;
            }
        while (a < b && isspace((unsigned char)text[a]))
            a++;
        while (b > a && isspace((unsigned char)text[b - 1]))
            b--;
        i = e + 1;
        if (a == b)
            continue;
        char where[RULE_SRC_MAX];
        snprintf(where, sizeof where, "%.70s:%d", source, lineno);
        bool bad = b - a >= sizeof line || memchr(text + a, '\0', b - a) != NULL;
        if (!bad) {
            memcpy(line, text + a, b - a);
            line[b - a] = '\0';
        }
        char reason[192];
        int r = bad ? -EINVAL : add_rule(&dp->deny, &dp->ndeny, line, where, reason, sizeof reason);
        if (r != 0) {
            snprintf(why, whylen, "%s: %s", where, bad ? "not a number pattern (too long)" : reason);
            dp->ndeny = before;
            return r;
        }
    }
    dp->any = true;
    return 0;
}

static int add_deny_file(struct dialplan *dp, const char *path, char *why, size_t whylen)
{
    int fd = open(path, O_RDONLY | O_CLOEXEC | O_NOCTTY | O_NONBLOCK);
    if (fd < 0) {
        int e = errno;
        snprintf(why, whylen, "cannot read %s: %s", path, strerror(e));
        return -e;
    }
    char *buf = malloc(DIALPLAN_MAX_DENY_FILE + 1);
    size_t len = 0;
    ssize_t n = 0;
    while (buf && len <= DIALPLAN_MAX_DENY_FILE &&
           (n = read(fd, buf + len, DIALPLAN_MAX_DENY_FILE + 1 - len)) > 0)
        len += (size_t)n;
    int e = errno;
    close(fd);
    if (!buf) {
        snprintf(why, whylen, "out of memory reading %s", path);
        return -ENOMEM;
    }
    int r;
    if (n < 0) {
        snprintf(why, whylen, "cannot read %s: %s", path, strerror(e));
        r = -e;
    } else if (len > DIALPLAN_MAX_DENY_FILE) {
        snprintf(why, whylen, "%s is larger than %u bytes; merge patterns with X and *", path,
                 DIALPLAN_MAX_DENY_FILE);
        r = -EFBIG;
    } else {
        r = dialplan_add_deny_text(dp, buf, len, path, why, whylen);
    }
    free(buf);
    return r;
}

/* NAME=VALUE: splits at the first '='. */
static int split_named(const char *value, char *name, size_t namelen, const char **rest, char *why, size_t whylen,
                       const char *what)
{
    const char *eq = strchr(value, '=');
    if (!eq || eq == value || (size_t)(eq - value) >= namelen) {
        snprintf(why, whylen, "give %s=VALUE, not '%.60s'", what, value);
        return -EINVAL;
    }
    memcpy(name, value, (size_t)(eq - value));
    name[eq - value] = '\0';
    *rest = eq + 1;
    return 0;
}

static struct dest *dest_for(struct dialplan *dp, const char *pattern, char *why, size_t whylen)
{
    char reason[160];
    for (size_t i = 0; i < dp->ndests; i++)
        if (!strcmp(dp->dests[i].pattern, pattern))
            return &dp->dests[i];
    if (number_pattern_check(pattern, reason, sizeof reason) != 0) {
        snprintf(why, whylen, "[destination %.60s]: %s", pattern, reason);
        return NULL;
    }
    if (dp->ndests >= MAX_DESTS) {
        snprintf(why, whylen, "more than %d destinations", MAX_DESTS);
        return NULL;
    }
    struct dest *p = realloc(dp->dests, (dp->ndests + 1) * sizeof *p);
    if (!p) {
        snprintf(why, whylen, "out of memory");
        return NULL;
    }
    dp->dests = p;
    struct dest *d = &p[dp->ndests++];
    memset(d, 0, sizeof *d);
    snprintf(d->pattern, sizeof d->pattern, "%s", pattern);
    d->max_calls = d->ecm = d->t38 = d->batch = -1;
    return d;
}

static struct line *line_for(struct dialplan *dp, const char *name, char *why, size_t whylen)
{
    for (size_t i = 0; i < dp->nlines; i++)
        if (!strcmp(dp->lines[i].name, name))
            return &dp->lines[i];
    for (const char *c = name; *c; c++)
        if (!isalnum((unsigned char)*c) && *c != '-' && *c != '_') {
            snprintf(why, whylen, "line name '%.40s': letters, digits, - and _ only", name);
            return NULL;
        }
    if (dp->nlines >= MAX_LINES) {
        snprintf(why, whylen, "more than %d lines", MAX_LINES);
        return NULL;
    }
    struct line *p = realloc(dp->lines, (dp->nlines + 1) * sizeof *p);
    if (!p) {
        snprintf(why, whylen, "out of memory");
        return NULL;
    }
    dp->lines = p;
    struct line *l = &p[dp->nlines++];
    memset(l, 0, sizeof *l);
    snprintf(l->name, sizeof l->name, "%s", name);
    l->format = -1;
    return l;
}

static const char *const format_names[] = {"e164", "international", "national", "local"};

static int set_prefix(char *dst, const char *v, size_t min, const char *what, char *why, size_t whylen)
{
    if (!all_digits(v, min, PREFIX_MAX - 1)) {
        snprintf(why, whylen, "%s: digits only, %zu to %d of them, not '%.40s'", what, min, PREFIX_MAX - 1, v);
        return -EINVAL;
    }
    snprintf(dst, PREFIX_MAX, "%s", v);
    return 0;
}

static int bit_rate_arg(const char *v, int *out, char *why, size_t whylen)
{
    int n;
    if (parse_int(v, 0, 100000, &n) != 0 || !dialplan_bit_rate_valid(n)) {
        snprintf(why, whylen, "bit rate '%.40s': use 2400, 4800, 7200, 9600, 12000 or 14400", v);
        return -EINVAL;
    }
    *out = n;
    return 0;
}

static int yesno_arg(const char *v, int *out, char *why, size_t whylen)
{
    if (parse_yesno(v, out) != 0) {
        snprintf(why, whylen, "use yes or no, not '%.40s'", v);
        return -EINVAL;
    }
    return 0;
}

static int set_dest(struct dialplan *dp, enum dialplan_option o, const char *value, char *why, size_t whylen)
{
    char pattern[NUMBER_PATTERN_MAX];
    const char *v;
    int r, n;

    if ((r = split_named(value, pattern, sizeof pattern, &v, why, whylen, "PATTERN")) != 0)
        return r;
    /* Check the value first: a refused value creates no section. */
    struct dialplan_window w;
    int iv = 0;
    switch (o) {
    case DPO_DEST_MAX_CALLS:
        if (parse_int(v, 0, 1024, &iv) != 0) {
            snprintf(why, whylen, "max-calls '%.40s': a number 0..1024 (0: no limit)", v);
            return -EINVAL;
        }
        break;
    case DPO_DEST_MAX_PAGES:
        if (parse_int(v, 1, 100000, &iv) != 0) {
            snprintf(why, whylen, "max-pages '%.40s': a number 1..100000", v);
            return -EINVAL;
        }
        break;
    case DPO_DEST_ECM:
    case DPO_DEST_T38:
    case DPO_DEST_BATCH:
        if ((r = yesno_arg(v, &iv, why, whylen)) != 0)
            return r;
        break;
    case DPO_DEST_MAX_BIT_RATE:
    case DPO_DEST_MIN_BIT_RATE:
        if ((r = bit_rate_arg(v, &iv, why, whylen)) != 0)
            return r;
        break;
    case DPO_DEST_WINDOW:
        if ((r = dialplan_parse_window(v, &w, why, whylen)) != 0)
            return r;
        break;
    case DPO_DEST_REFUSE:
        if (!*v || strlen(v) >= REFUSE_MAX) {
            snprintf(why, whylen, "refuse: a message of 1..%d characters", REFUSE_MAX - 1);
            return -EINVAL;
        }
        for (const char *c = v; *c; c++)
            if (iscntrl((unsigned char)*c)) {
                snprintf(why, whylen, "refuse: one line of printable text");
                return -EINVAL;
            }
        break;
    default:
        return -EINVAL;
    }
    struct dest *d = dest_for(dp, pattern, why, whylen);
    if (!d)
        return -EINVAL;
    n = iv;
    switch (o) {
    case DPO_DEST_MAX_CALLS: d->max_calls = n; break;
    case DPO_DEST_MAX_PAGES: d->max_pages = n; break;
    case DPO_DEST_ECM: d->ecm = n; break;
    case DPO_DEST_T38: d->t38 = n; break;
    case DPO_DEST_BATCH: d->batch = n; break;
    case DPO_DEST_MAX_BIT_RATE: d->max_bit_rate = n; break;
    case DPO_DEST_MIN_BIT_RATE: d->min_bit_rate = n; break;
    case DPO_DEST_WINDOW:
        d->window = w;
        d->has_window = true;
        break;
    case DPO_DEST_REFUSE: {
        char *m = strdup(v);
        if (!m) {
            snprintf(why, whylen, "out of memory");
            return -ENOMEM;
        }
        free(d->refuse);
        d->refuse = m;
        break;
    }
    default: break;
    }
    return 0;
}

int dialplan_set(struct dialplan *dp, enum dialplan_option o, const char *value, char *why, size_t whylen)
{
    char name[LINE_NAME_MAX], src[RULE_SRC_MAX];
    const char *v;
    int r = 0, n;

    if (whylen)
        why[0] = '\0';
    switch (o) {
    case DPO_COUNTRY: r = set_prefix(dp->country, value, 1, "country code", why, whylen); break;
    case DPO_AREA: r = set_prefix(dp->area, value, 1, "area code", why, whylen); break;
    case DPO_INTERNATIONAL_PREFIX: r = set_prefix(dp->intl, value, 1, "international prefix", why, whylen); break;
    case DPO_NATIONAL_PREFIX: r = set_prefix(dp->natl, value, 1, "national prefix", why, whylen); break;
    case DPO_STRIP_PREFIX: r = set_prefix(dp->strip, value, 1, "outside-line prefix", why, whylen); break;
    case DPO_DENY:
        snprintf(src, sizeof src, "--dial-deny %.60s", value);
        r = add_rule(&dp->deny, &dp->ndeny, value, src, why, whylen);
        break;
    case DPO_ALLOW:
        snprintf(src, sizeof src, "--dial-allow %.60s", value);
        r = add_rule(&dp->allow, &dp->nallow, value, src, why, whylen);
        break;
    case DPO_DENY_FILE: r = add_deny_file(dp, value, why, whylen); break;
    case DPO_LINE_DIAL_PREFIX:
    case DPO_LINE_NUMBER_FORMAT: {
        if ((r = split_named(value, name, sizeof name, &v, why, whylen, "NAME")) != 0)
            break;
        int fmt = -1;
        if (o == DPO_LINE_NUMBER_FORMAT) {
            for (int i = 0; i < 4; i++)
                if (!strcmp(v, format_names[i]))
                    fmt = i;
            if (fmt < 0) {
                snprintf(why, whylen, "number-format: use e164, international, national or local, not '%.40s'", v);
                r = -EINVAL;
                break;
            }
        } else if (*v && !all_digits(v, 1, PREFIX_MAX - 1)) {
            snprintf(why, whylen, "dial-prefix: up to %d digits, not '%.40s'", PREFIX_MAX - 1, v);
            r = -EINVAL;
            break;
        }
        struct line *l = line_for(dp, name, why, whylen);
        if (!l) {
            r = -EINVAL;
            break;
        }
        if (o == DPO_LINE_NUMBER_FORMAT)
            l->format = fmt;
        else
            snprintf(l->prefix, sizeof l->prefix, "%s", v);
        break;
    }
    case DPO_ECM:
        if ((r = yesno_arg(value, &n, why, whylen)) == 0)
            dp->ecm = n;
        break;
    case DPO_MAX_BIT_RATE: r = bit_rate_arg(value, &dp->max_bit_rate, why, whylen); break;
    case DPO_MIN_BIT_RATE: r = bit_rate_arg(value, &dp->min_bit_rate, why, whylen); break;
    default:
        if ((unsigned)o < DPO_COUNT)
            r = set_dest(dp, o, value, why, whylen);
        else
            r = -EINVAL;
        break;
    }
    if (r == 0)
        dp->any = true;
    return r;
}

/* ---- numbers --------------------------------------------------------- */

static bool starts(const char *s, const char *prefix)
{
    return *prefix && strncmp(s, prefix, strlen(prefix)) == 0;
}

/* The typed number without its outside-line prefix "by habit": the
 * prefix in front of a number that starts with the international prefix,
 * or with the national prefix and is long enough to be a national number
 * (never when the number itself starts with the international prefix:
 * where the outside prefix is 0, 0011... is an international number).
 * ("9,5551234", a pause after the prefix, is handled by clean_number.)
 * digits: normalized (digits, leading '+'). */
static const char *after_strip(const struct dialplan *dp, const char *digits)
{
    if (!dp || !dp->strip[0] || !starts(digits, dp->strip) || starts(digits, dp->intl))
        return digits;
    const char *rest = digits + strlen(dp->strip);
    if (starts(rest, dp->intl) && strlen(rest) > strlen(dp->intl) + 4)
        return rest;
    if (starts(rest, dp->natl) && strlen(rest) >= strlen(dp->natl) + 7)
        return rest;
    return digits;
}

/* Separators dropped; with a plan also pauses (',') and the outside-line
 * prefix typed with a pause after it ("9,5551234"). */
static int clean_number(const struct dialplan *dp, const char *typed, char *out, size_t outlen, char *why,
                        size_t whylen)
{
    char tmp[JOB_NUMBER_MAX * 2];
    size_t n = 0;

    if (dialplan_is_empty(dp))
        return job_normalize_number(typed, out, outlen, why, whylen);
    const char *t = typed;
    while (*t == ' ')
        t++;
    if (dp->strip[0] && strncmp(t, dp->strip, strlen(dp->strip)) == 0) {
        const char *p = t + strlen(dp->strip);
        while (*p == ' ')
            p++;
        if (*p == ',')
            t = p;
    }
    for (const char *c = t; *c; c++) {
        if (*c == ',')
            continue;
        if (n + 1 >= sizeof tmp) {
            snprintf(why, whylen, "recipient number \"%.40s\" is too long", typed);
            return -EINVAL;
        }
        tmp[n++] = *c;
    }
    tmp[n] = '\0';
    int r = job_normalize_number(tmp, out, outlen, why, whylen);
    if (r != 0 && n == 0)
        snprintf(why, whylen, "recipient number \"%.40s\" has no digits; give the number to dial", typed);
    return r;
}

int dialplan_canonical(const struct dialplan *dp, const char *typed, char *out, size_t outlen, char *why,
                       size_t whylen)
{
    char digits[JOB_NUMBER_MAX * 2];
    int r;

    if ((r = clean_number(dp, typed, digits, sizeof digits, why, whylen)) != 0)
        return r;
    const char *d = after_strip(dp, digits);
    char res[JOB_NUMBER_MAX * 2];
    if (!dp || !dp->country[0] || d[0] == '+')
        snprintf(res, sizeof res, "%s", d);
    else if (starts(d, dp->intl))
        snprintf(res, sizeof res, "+%s", d + strlen(dp->intl));
    else if (starts(d, dp->natl))
        snprintf(res, sizeof res, "+%s%s", dp->country, d + strlen(dp->natl));
    else if (!strcmp(dp->country, "1") && strlen(d) == 10)
        snprintf(res, sizeof res, "+1%s", d); /* NANP: ten digits are a national number */
    else
        snprintf(res, sizeof res, "+%s%s%s", dp->country, dp->area, d);
    if (!strcmp(res, "+") || strlen(res) >= outlen || strlen(res) >= JOB_NUMBER_MAX) {
        snprintf(why, whylen, "recipient number \"%.40s\" is %s", typed,
                 res[1] ? "too long" : "only a prefix; give the whole number");
        return -EINVAL;
    }
    snprintf(out, outlen, "%s", res);
    return 0;
}

/* Emergency services: never dialed by a fax machine (docs/dialing.md). */
static const char *const emergency[] = {"112", "911", "999", "000", "110", "119", "15", "17", "18"};

/* Premium-rate ranges of the configured country, as E.164 patterns. */
static const struct {
    const char *country;
    const char *pattern;
} premium[] = {
    {"1", "+1900*"},   {"1", "+1976*"},     {"44", "+449*"},    {"44", "+44871*"}, {"44", "+44872*"},
    {"44", "+44873*"}, {"49", "+49900*"},   {"49", "+49137*"},  {"33", "+3389*"},  {"81", "+81990*"},
    {"61", "+61190*"}, {"39", "+39899*"},   {"34", "+34803*"},  {"34", "+34806*"}, {"34", "+34807*"},
};

static bool allowed(const struct dialplan *dp, const char *const *cands, int ncands)
{
    for (size_t i = 0; dp && i < dp->nallow; i++)
        for (int k = 0; k < ncands; k++)
            if (number_pattern_matches(dp->allow[i].pattern, cands[k]))
                return true;
    return false;
}

int dialplan_check(const struct dialplan *dp, const char *typed, const char *canonical, char *rule, size_t rulelen)
{
    char digits[JOB_NUMBER_MAX * 2], why[160], local[JOB_NUMBER_MAX + PREFIX_MAX];
    const char *cands[4];
    int nc = 0;

    if (rulelen)
        rule[0] = '\0';
    cands[nc++] = canonical;
    if (clean_number(dp, typed, digits, sizeof digits, why, sizeof why) == 0) {
        const char *d = after_strip(dp, digits);
        cands[nc++] = d;
        /* Through a PBX, the outside prefix and an emergency number reach
         * the emergency services: test the digits after it too. */
        if (dp && starts(digits, dp->strip))
            cands[nc++] = digits + strlen(dp->strip);
        if (d != digits)
            cands[nc++] = digits;
    }
    for (size_t i = 0; dp && i < dp->ndeny; i++)
        for (int k = 0; k < nc; k++)
            if (number_pattern_matches(dp->deny[i].pattern, cands[k])) {
                if (strchr(dp->deny[i].source, ':') && strncmp(dp->deny[i].source, "--", 2))
                    snprintf(rule, rulelen, "%s: %s", dp->deny[i].source, dp->deny[i].pattern);
                else
                    snprintf(rule, rulelen, "%s", dp->deny[i].source);
                return -EACCES;
            }
    if (allowed(dp, cands, nc))
        return 0;
    for (size_t e = 0; e < sizeof emergency / sizeof emergency[0]; e++) {
        for (int k = 0; k < nc; k++) {
            bool hit = !strcmp(cands[k], emergency[e]);
            if (!hit && dp && dp->country[0]) {
                snprintf(local, sizeof local, "+%s%s", dp->country, emergency[e]);
                hit = !strcmp(cands[k], local);
                snprintf(local, sizeof local, "+%s%s%s", dp->country, dp->area, emergency[e]);
                hit = hit || !strcmp(cands[k], local);
            }
            if (hit) {
                snprintf(rule, rulelen, "built-in refusal of the emergency number %s", emergency[e]);
                return -EACCES;
            }
        }
    }
    for (size_t i = 0; dp && dp->country[0] && i < sizeof premium / sizeof premium[0]; i++)
        if (!strcmp(premium[i].country, dp->country) && number_pattern_matches(premium[i].pattern, canonical)) {
            snprintf(rule, rulelen, "built-in refusal of premium-rate numbers %s", premium[i].pattern);
            return -EACCES;
        }
    return 0;
}

static const struct line *find_line(const struct dialplan *dp, const char *name)
{
    for (size_t i = 0; dp && name && i < dp->nlines; i++)
        if (!strcmp(dp->lines[i].name, name))
            return &dp->lines[i];
    return NULL;
}

int dialplan_format_for_line(const struct dialplan *dp, const char *line, const char *canonical, char *out,
                             size_t outlen)
{
    const struct line *l = find_line(dp, line);
    char body[JOB_NUMBER_MAX + PREFIX_MAX];
    int fmt = l && l->format >= 0 ? l->format : DPF_E164;

    snprintf(body, sizeof body, "%s", canonical);
    if (canonical[0] == '+' && fmt != DPF_E164) {
        const char *c = canonical + 1;
        bool home = dp->country[0] && starts(c, dp->country);
        const char *national = home ? c + strlen(dp->country) : NULL;
        if (fmt == DPF_LOCAL && home && dp->area[0] && starts(national, dp->area))
            snprintf(body, sizeof body, "%s", national + strlen(dp->area));
        else if ((fmt == DPF_LOCAL || fmt == DPF_NATIONAL) && home)
            snprintf(body, sizeof body, "%s%s", dp->natl, national);
        else if (dp->intl[0])
            snprintf(body, sizeof body, "%s%s", dp->intl, c);
    }
    int n = snprintf(out, outlen, "%s%s", l ? l->prefix : "", body);
    return n < 0 || (size_t)n >= outlen ? -ENOSPC : 0;
}

/* ---- windows --------------------------------------------------------- */

static const char *const day_names[] = {"sun", "mon", "tue", "wed", "thu", "fri", "sat"};

static int parse_day(const char **s)
{
    for (int i = 0; i < 7; i++)
        if (strncasecmp(*s, day_names[i], 3) == 0) {
            *s += 3;
            return i;
        }
    return -1;
}

static int parse_hhmm(const char **s)
{
    const char *p = *s;
    if (!isdigit((unsigned char)p[0]) || !isdigit((unsigned char)p[1]) || p[2] != ':' ||
        !isdigit((unsigned char)p[3]) || !isdigit((unsigned char)p[4]))
        return -1;
    int h = (p[0] - '0') * 10 + (p[1] - '0'), m = (p[3] - '0') * 10 + (p[4] - '0');
    if (m > 59 || h > 24 || (h == 24 && m != 0))
        return -1;
    *s = p + 5;
    return h * 60 + m;
}

static void skip_blanks(const char **s)
{
    while (**s == ' ' || **s == '\t')
        (*s)++;
}

int dialplan_parse_window(const char *text, struct dialplan_window *w, char *why, size_t whylen)
{
    const char *s = text;
    memset(w, 0, sizeof *w);
    for (;;) {
        skip_blanks(&s);
        if (w->nranges >= DIALPLAN_MAX_RANGES)
            goto bad;
        unsigned days = 0x7f;
        if (isalpha((unsigned char)*s)) {
            int a = parse_day(&s), b = a;
            if (a < 0)
                goto bad;
            if (*s == '-') {
                s++;
                if ((b = parse_day(&s)) < 0)
                    goto bad;
            }
            days = 0;
            for (int d = a;; d = (d + 1) % 7) {
                days |= 1u << d;
                if (d == b)
                    break;
            }
            skip_blanks(&s);
        }
        int start = parse_hhmm(&s);
        if (start < 0 || start == 24 * 60 || *s++ != '-')
            goto bad;
        int end = parse_hhmm(&s);
        if (end < 0 || end == start)
            goto bad;
        w->r[w->nranges].days = days;
        w->r[w->nranges].start = start;
        w->r[w->nranges].end = end;
        w->nranges++;
        skip_blanks(&s);
        if (*s == '\0')
            return 0;
        if (*s++ != ',')
            goto bad;
    }
bad:
    snprintf(why, whylen,
             "window '%.60s': give ranges like 'Mon-Fri 08:00-18:00, Sat 09:00-12:00' (at most %d; a range "
             "may cross midnight, 22:00-06:00)",
             text, DIALPLAN_MAX_RANGES);
    return -EINVAL;
}

/* Local time day+offset at minute m: mktime normalizes both the date and a
 * time that falls in a DST gap. */
static int64_t local_at(const struct tm *day, int offset, int minute)
{
    struct tm t = *day;
    t.tm_mday += offset;
    t.tm_hour = minute / 60;
    t.tm_min = minute % 60;
    t.tm_sec = 0;
    t.tm_isdst = -1;
    return (int64_t)mktime(&t);
}

int64_t dialplan_window_next_open(const struct dialplan_window *w, int64_t now)
{
    time_t tnow = (time_t)now;
    struct tm today;
    int64_t best = -1;

    if (!w || w->nranges == 0 || !localtime_r(&tnow, &today))
        return now;
    for (int d = -1; d <= 8; d++) {
        struct tm t = today;
        t.tm_mday += d;
        t.tm_hour = 12; /* noon: never in a DST gap */
        t.tm_min = t.tm_sec = 0;
        t.tm_isdst = -1;
        if (mktime(&t) == (time_t)-1)
            continue;
        for (int i = 0; i < w->nranges; i++) {
            if (!(w->r[i].days & (1u << t.tm_wday)))
                continue;
            int64_t a = local_at(&today, d, w->r[i].start);
            int64_t b = local_at(&today, d + (w->r[i].end <= w->r[i].start), w->r[i].end);
            if (a <= now && now < b)
                return now;
            if (a > now && (best < 0 || a < best))
                best = a;
        }
    }
    return best < 0 ? now : best;
}

/* ---- destinations and modem settings ------------------------------- */

static const struct dest *find_dest(const struct dialplan *dp, const char *canonical)
{
    for (size_t i = 0; dp && i < dp->ndests; i++)
        if (number_pattern_matches(dp->dests[i].pattern, canonical))
            return &dp->dests[i];
    return NULL;
}

void dialplan_controls(const struct dialplan *dp, const char *canonical, struct dialplan_controls *out)
{
    const struct dest *d = find_dest(dp, canonical);
    *out = (struct dialplan_controls){.max_calls = -1, .t38 = -1, .batch = -1};
    if (!d)
        return;
    out->pattern = d->pattern;
    out->max_calls = d->max_calls;
    out->max_pages = d->max_pages;
    out->window = d->has_window ? &d->window : NULL;
    out->refuse = d->refuse;
    out->t38 = d->t38;
    out->batch = d->batch;
}

void dialplan_modem_settings(const struct dialplan *dp, const char *canonical, int job_ecm, int job_max_bit_rate,
                             int job_min_bit_rate, struct dialplan_modem *out)
{
    const struct dest *d = find_dest(dp, canonical);
    int g_ecm = dp ? dp->ecm : -1, g_max = dp ? dp->max_bit_rate : 0, g_min = dp ? dp->min_bit_rate : 0;

    out->ecm = d && d->ecm >= 0 ? d->ecm : job_ecm >= 0 ? job_ecm : g_ecm;
    out->max_bit_rate = d && d->max_bit_rate ? d->max_bit_rate : job_max_bit_rate > 0 ? job_max_bit_rate : g_max;
    out->min_bit_rate = d && d->min_bit_rate ? d->min_bit_rate : job_min_bit_rate > 0 ? job_min_bit_rate : g_min;
    out->t38 = d ? d->t38 : -1;
    /* A ceiling wins over a floor above it. */
    if (out->max_bit_rate && out->min_bit_rate > out->max_bit_rate)
        out->min_bit_rate = out->max_bit_rate;
}

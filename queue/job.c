/*
 * job.c - the vocabulary of the job model: status, type and operation names,
 * phone number normalization, priority and time parsing/formatting, and the
 * lifecycle table saying which operation is legal in which state.
 * Pure functions: no engine state, no I/O.
 */
#include "queue/queue.h"

#include <ctype.h>
#include <errno.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <time.h>

static const char *const status_names[JOB_STATUS_COUNT] = {
    [JOB_QUEUED] = "queued",   [JOB_SCHEDULED] = "scheduled", [JOB_ACTIVE] = "active",
    [JOB_RETRYING] = "retrying", [JOB_PAUSED] = "paused",     [JOB_DONE] = "done",
    [JOB_FAILED] = "failed",   [JOB_CANCELED] = "canceled",   [JOB_RECEIVING] = "receiving",
};

const char *job_status_name(enum job_status s)
{
    if ((unsigned)s >= JOB_STATUS_COUNT)
        return "unknown";
    return status_names[s];
}

int job_status_from_name(const char *name, enum job_status *out)
{
    for (int i = 0; i < JOB_STATUS_COUNT; i++) {
        if (strcmp(name, status_names[i]) == 0) {
            *out = (enum job_status)i;
            return 0;
        }
    }
    return -EINVAL;
}

bool job_status_is_final(enum job_status s)
{
    return s == JOB_DONE || s == JOB_FAILED || s == JOB_CANCELED;
}

const char *job_type_name(enum job_type t)
{
    return t == JOB_RECEIVE ? "receive" : "send";
}

void job_init(struct job *job)
{
    memset(job, 0, sizeof *job);
    job->priority = JOB_PRIORITY_NORMAL;
    job->bit_rate = -1;
    job->ecm = -1;
    job->call_duration = -1;
    job->resolution = JOB_RES_FINE;
    job->use_ecm = -1;
}

/* ---- document resolution and call outcomes ------------------------- */

static const char *const resolution_names[] = {
    [JOB_RES_STANDARD] = "standard", [JOB_RES_FINE] = "fine", [JOB_RES_SUPERFINE] = "superfine",
};

int job_parse_resolution(const char *in, int *out)
{
    for (int r = JOB_RES_STANDARD; r <= JOB_RES_SUPERFINE; r++) {
        if (strcmp(in, resolution_names[r]) == 0) {
            *out = r;
            return 0;
        }
    }
    return -EINVAL;
}

const char *job_resolution_name(int resolution)
{
    if (resolution < JOB_RES_STANDARD || resolution > JOB_RES_SUPERFINE)
        return "unknown";
    return resolution_names[resolution];
}

/* ---- receipts ---- */

static bool address_char_ok(unsigned char c)
{
    return c > ' ' && c < 0x7f && !strchr("\"<>()[]\\,;:", c);
}

int job_parse_notify(const char *in, char *out, size_t outlen, char *why, size_t whylen)
{
    size_t len = 0;
    int n = 0;

    if (outlen == 0)
        return -EINVAL;
    out[0] = '\0';
    for (const char *p = in;;) {
        while (*p == ' ' || *p == '\t')
            p++;
        const char *start = p;
        while (*p && *p != ',')
            p++;
        const char *end = p;
        while (end > start && (end[-1] == ' ' || end[-1] == '\t'))
            end--;
        size_t k = (size_t)(end - start);
        if (k > 0) {
            int ats = 0;
            for (size_t i = 0; i < k; i++) {
                if (!address_char_ok((unsigned char)start[i])) {
                    snprintf(why, whylen, "notify: address %d is not a plain mail address (local@domain, no "
                             "blanks, quotes or brackets)", n + 1);
                    return -EINVAL;
                }
                ats += start[i] == '@';
            }
            if (start[0] == '-' || start[0] == '@' || ats > 1 || start[k - 1] == '@') {
                snprintf(why, whylen, "notify: address %d is not a plain mail address (local@domain)", n + 1);
                return -EINVAL;
            }
            if (++n > JOB_NOTIFY_ADDRESSES_MAX) {
                snprintf(why, whylen, "notify: at most %d addresses", JOB_NOTIFY_ADDRESSES_MAX);
                return -EINVAL;
            }
            if (len + k + (len > 0) >= outlen) {
                snprintf(why, whylen, "notify: the addresses are longer than %zu bytes together", outlen - 1);
                return -EINVAL;
            }
            if (len > 0)
                out[len++] = ',';
            memcpy(out + len, start, k);
            len += k;
            out[len] = '\0';
        }
        if (*p == '\0')
            break;
        p++;
    }
    return 0;
}

static const char *const notify_when_names[JOB_NOTIFY_WHEN_COUNT] = {
    [JOB_NOTIFY_FINAL] = "final", [JOB_NOTIFY_DONE] = "done", [JOB_NOTIFY_FAILED] = "failed",
    [JOB_NOTIFY_EVERY_ATTEMPT] = "every-attempt",
};
static const char *const notify_attach_names[JOB_ATTACH_COUNT] = {
    [JOB_ATTACH_REPORT] = "report", [JOB_ATTACH_FAX] = "fax", [JOB_ATTACH_BOTH] = "both",
};

static int name_index(const char *in, const char *const *names, int n, int *out)
{
    for (int i = 0; i < n; i++)
        if (strcmp(in, names[i]) == 0) {
            *out = i;
            return 0;
        }
    return -EINVAL;
}

int job_parse_notify_when(const char *in, int *out)
{
    return name_index(in, notify_when_names, JOB_NOTIFY_WHEN_COUNT, out);
}

const char *job_notify_when_name(int when)
{
    return when >= 0 && when < JOB_NOTIFY_WHEN_COUNT ? notify_when_names[when] : "unknown";
}

int job_parse_notify_attach(const char *in, int *out)
{
    return name_index(in, notify_attach_names, JOB_ATTACH_COUNT, out);
}

const char *job_notify_attach_name(int attach)
{
    return attach >= 0 && attach < JOB_ATTACH_COUNT ? notify_attach_names[attach] : "unknown";
}

bool job_notify_due(const struct job *j)
{
    if (j->type != JOB_SEND || j->notify[0] == '\0')
        return false;
    bool done = j->status == JOB_DONE;
    bool failed = j->status == JOB_FAILED || (j->status == JOB_CANCELED && j->attempts > 0);
    switch (j->notify_when) {
    case JOB_NOTIFY_DONE: return done;
    case JOB_NOTIFY_FAILED: return failed;
    default: return done || failed;
    }
}

/* The slot a new attempt receipt goes to: a free one while fewer than
 * JOB_DELIVERIES_MAX - 1 attempt receipts are kept (the final receipt's
 * slot stays free), else the oldest attempt receipt that was sent or given
 * up on; -1 when every kept one is still to be mailed. */
static int attempt_slot(const struct job *j)
{
    int kept = 0, oldest = -1;
    for (int i = 0; i < j->ndeliveries; i++) {
        const struct job_delivery *d = &j->deliveries[i];
        if (strcmp(d->action, JOB_ATTEMPT_RECEIPT_ACTION) != 0)
            continue;
        kept++;
        if ((d->state == JD_DONE || d->state == JD_FAILED) &&
            (oldest < 0 || d->of_attempt < j->deliveries[oldest].of_attempt))
            oldest = i;
    }
    if (kept < JOB_DELIVERIES_MAX - 1 && j->ndeliveries < JOB_DELIVERIES_MAX)
        return j->ndeliveries;
    return oldest;
}

static bool has_receipt(const struct job *j, const char *action, int of_attempt)
{
    for (int i = 0; i < j->ndeliveries; i++)
        if (strcmp(j->deliveries[i].action, action) == 0 && j->deliveries[i].of_attempt == of_attempt)
            return true;
    return false;
}

static void receipt_init(struct job_delivery *d, const struct job *j, const char *action)
{
    memset(d, 0, sizeof *d);
    snprintf(d->action, sizeof d->action, "%s", action);
    snprintf(d->target, sizeof d->target, "%s", j->notify);
    d->state = JD_PENDING;
}

int job_add_receipts(struct job *j)
{
    if (j->type != JOB_SEND || j->notify[0] == '\0')
        return 0;
    if (job_notify_due(j)) {
        if (has_receipt(j, JOB_RECEIPT_ACTION, 0) || j->ndeliveries >= JOB_DELIVERIES_MAX)
            return 0;
        receipt_init(&j->deliveries[j->ndeliveries++], j, JOB_RECEIPT_ACTION);
        return 1;
    }
    /* A retry due at once leaves the job queued, not retrying. */
    bool retried = j->status == JOB_RETRYING || (j->status == JOB_QUEUED && j->next_attempt != 0);
    if (j->notify_when != JOB_NOTIFY_EVERY_ATTEMPT || !retried || j->attempts <= 0 ||
        has_receipt(j, JOB_ATTEMPT_RECEIPT_ACTION, j->attempts))
        return 0;
    int slot = attempt_slot(j);
    if (slot < 0)
        return 0;
    struct job_delivery *d = &j->deliveries[slot];
    receipt_init(d, j, JOB_ATTEMPT_RECEIPT_ACTION);
    d->of_attempt = j->attempts;
    d->retry_at = j->next_attempt;
    char reason[JOB_ERROR_CODE_MAX + JOB_ERROR_TEXT_MAX + 4]; /* cut to fit the record */
    snprintf(reason, sizeof reason, "%s%s%s", j->error_code, j->error_code[0] && j->error_text[0] ? ": " : "",
             j->error_text);
    size_t k = strnlen(reason, sizeof d->reason - 1);
    memcpy(d->reason, reason, k);
    d->reason[k] = '\0';
    /* One spool line holds the whole record: nothing here may be escaped
     * into more than one byte. */
    for (char *p = d->reason; *p; p++)
        if ((unsigned char)*p < 0x20 || *p == 0x7f)
            *p = ' ';
        else if (*p == '\\')
            *p = '/';
    if (slot == j->ndeliveries)
        j->ndeliveries++;
    return 1;
}

static const char *const failure_names[QF_COUNT] = {
    [QF_NONE] = "success",   [QF_BUSY] = "busy",       [QF_NO_ANSWER] = "no_answer", [QF_NO_LINE] = "no_line",
    [QF_NOT_FAX] = "not_fax", [QF_DROPPED] = "dropped", [QF_PERMANENT] = "permanent", [QF_ABORTED] = "aborted",
};

const char *queue_failure_name(enum queue_failure f)
{
    if ((unsigned)f >= QF_COUNT)
        return "unknown";
    return failure_names[f];
}

/* ---- operations and the lifecycle table ----------------------------- */

static const char *const op_names[] = {
    [QOP_PAUSE] = "pause", [QOP_RESUME] = "resume", [QOP_RESTART] = "restart", [QOP_CANCEL] = "cancel",
};
#define OP_COUNT ((int)(sizeof op_names / sizeof op_names[0]))

int queue_op_from_name(const char *name, enum queue_op *out)
{
    for (int i = 0; i < OP_COUNT; i++) {
        if (strcmp(name, op_names[i]) == 0) {
            *out = (enum queue_op)i;
            return 0;
        }
    }
    return -EINVAL;
}

const char *queue_op_name(enum queue_op op)
{
    if ((unsigned)op >= (unsigned)OP_COUNT)
        return "unknown";
    return op_names[op];
}

/*
 * Rows are states, columns operations. docs/lifecycle.md shows the same
 * table; change both together. Pause and cancel of an active job abort its
 * call; restart exists for jobs that ended without success. The table is
 * for send jobs; received faxes take none of these operations.
 */
static const bool op_table[JOB_STATUS_COUNT][4] = {
    /*                 pause  resume restart cancel */
    [JOB_QUEUED]    = {true,  false, false,  true},
    [JOB_SCHEDULED] = {true,  false, false,  true},
    [JOB_ACTIVE]    = {true,  false, false,  true},
    [JOB_RETRYING]  = {true,  false, false,  true},
    [JOB_PAUSED]    = {false, true,  false,  true},
    [JOB_DONE]      = {false, false, false,  false},
    [JOB_FAILED]    = {false, false, true,   false},
    [JOB_CANCELED]  = {false, false, true,   false},
    [JOB_RECEIVING] = {false, false, false,  false},
};

/* Changing a job's fields (queue_edit): while it waits or is paused,
 * never on a call (its fields are on the line) nor once finished. */
static const bool edit_table[JOB_STATUS_COUNT] = {
    [JOB_QUEUED] = true, [JOB_SCHEDULED] = true, [JOB_RETRYING] = true, [JOB_PAUSED] = true,
};

bool job_edit_allowed(enum job_type t, enum job_status s)
{
    return t == JOB_SEND && (unsigned)s < JOB_STATUS_COUNT && edit_table[s];
}

bool job_op_allowed(enum job_type t, enum job_status s, enum queue_op op)
{
    if (t != JOB_SEND || (unsigned)s >= JOB_STATUS_COUNT || (unsigned)op >= (unsigned)OP_COUNT)
        return false;
    return op_table[s][op];
}

/* ---- phone numbers -------------------------------------------------- */

static bool is_number_separator(char c)
{
    return c == ' ' || c == '-' || c == '.' || c == '(' || c == ')';
}

int job_normalize_number(const char *in, char *out, size_t outlen, char *why, size_t whylen)
{
    size_t n = 0;
    int digits = 0;

    if (outlen == 0)
        return -EINVAL;
    for (size_t i = 0; in[i] != '\0'; i++) {
        char c = in[i];
        if (is_number_separator(c))
            continue;
        if (!(isdigit((unsigned char)c) || (c == '+' && n == 0 && digits == 0))) {
            snprintf(why, whylen,
                     "recipient number \"%.40s\": only digits, spaces, dashes, dots, parentheses and "
                     "a leading + are allowed",
                     in);
            return -EINVAL;
        }
        if (n + 1 >= outlen) {
            snprintf(why, whylen, "recipient number \"%.40s\" is too long; at most %zu digits", in,
                     outlen - 2);
            return -EINVAL;
        }
        digits += isdigit((unsigned char)c) ? 1 : 0;
        out[n++] = c;
    }
    out[n] = '\0';
    if (digits == 0) {
        snprintf(why, whylen, "recipient number \"%.40s\" has no digits; give the number to dial", in);
        out[0] = '\0';
        return -EINVAL;
    }
    return 0;
}

/* ---- priorities ----------------------------------------------------- */

static const struct {
    const char *name;
    int value;
} priority_names[] = {
    {"low", JOB_PRIORITY_LOW},
    {"normal", JOB_PRIORITY_NORMAL},
    {"high", JOB_PRIORITY_HIGH},
};

/* Strict decimal: digits only, no sign, no spaces, bounded. */
static int parse_decimal(const char *s, long long max, long long *out)
{
    long long v = 0;

    if (*s == '\0')
        return -EINVAL;
    for (; *s != '\0'; s++) {
        if (!isdigit((unsigned char)*s))
            return -EINVAL;
        v = v * 10 + (*s - '0');
        if (v > max)
            return -ERANGE;
    }
    *out = v;
    return 0;
}

int job_parse_priority(const char *in, int *out)
{
    long long v;

    for (size_t i = 0; i < sizeof priority_names / sizeof priority_names[0]; i++) {
        if (strcasecmp(in, priority_names[i].name) == 0) {
            *out = priority_names[i].value;
            return 0;
        }
    }
    if (parse_decimal(in, 255, &v) != 0)
        return -EINVAL;
    *out = (int)v;
    return 0;
}

void job_format_priority(int priority, char *out, size_t outlen)
{
    for (size_t i = 0; i < sizeof priority_names / sizeof priority_names[0]; i++) {
        if (priority == priority_names[i].value) {
            snprintf(out, outlen, "%s", priority_names[i].name);
            return;
        }
    }
    snprintf(out, outlen, "%d", priority);
}

/* ---- times ---------------------------------------------------------- */

static int parse_relative(const char *s, int64_t now, int64_t *out)
{
    static const struct {
        char unit;
        int64_t seconds;
    } units[] = {{'s', 1}, {'m', 60}, {'h', 3600}, {'d', 86400}};
    char digits[16];
    size_t len = strlen(s);
    long long v;

    if (len < 2 || len - 1 >= sizeof digits)
        return -EINVAL;
    memcpy(digits, s, len - 1);
    digits[len - 1] = '\0';
    if (parse_decimal(digits, 3650LL * 86400, &v) != 0)
        return -EINVAL;
    for (size_t i = 0; i < sizeof units / sizeof units[0]; i++) {
        if (s[len - 1] == units[i].unit) {
            if (v > 3650LL * 86400 / units[i].seconds)
                return -ERANGE;
            *out = now + v * units[i].seconds;
            return 0;
        }
    }
    return -EINVAL;
}

/* Reads exactly n digits. */
static int take_digits(const char **p, int n, int *out)
{
    int v = 0;

    for (int i = 0; i < n; i++) {
        if (!isdigit((unsigned char)(*p)[i]))
            return -EINVAL;
        v = v * 10 + ((*p)[i] - '0');
    }
    *p += n;
    *out = v;
    return 0;
}

/* "Z", "+HH", "+HHMM", "+HH:MM"; *has is false when there is none. */
static int parse_offset(const char *p, bool *has, long *offset)
{
    int sign, hh, mm = 0;

    *has = false;
    if (*p == '\0')
        return 0;
    *has = true;
    if (strcmp(p, "Z") == 0) {
        *offset = 0;
        return 0;
    }
    if (*p != '+' && *p != '-')
        return -EINVAL;
    sign = *p == '-' ? -1 : 1;
    p++;
    if (take_digits(&p, 2, &hh) != 0)
        return -EINVAL;
    if (*p == ':')
        p++;
    if (*p != '\0' && take_digits(&p, 2, &mm) != 0)
        return -EINVAL;
    if (*p != '\0' || hh > 14 || mm > 59)
        return -EINVAL;
    *offset = sign * (hh * 3600L + mm * 60L);
    return 0;
}

static int parse_iso8601(const char *s, int64_t *out)
{
    struct tm tm = {0};
    const char *p = s;
    int y, mo, d, h, mi, sec = 0;
    bool has_offset;
    long offset = 0;

    if (take_digits(&p, 4, &y) || *p++ != '-' || take_digits(&p, 2, &mo) || *p++ != '-' ||
        take_digits(&p, 2, &d) || (*p != 'T' && *p != ' '))
        return -EINVAL;
    p++;
    if (take_digits(&p, 2, &h) || *p++ != ':' || take_digits(&p, 2, &mi))
        return -EINVAL;
    if (*p == ':') {
        p++;
        if (take_digits(&p, 2, &sec))
            return -EINVAL;
    }
    if (parse_offset(p, &has_offset, &offset) != 0)
        return -EINVAL;
    if (y < 1970 || mo < 1 || mo > 12 || d < 1 || d > 31 || h > 23 || mi > 59 || sec > 60)
        return -EINVAL;
    tm.tm_year = y - 1900;
    tm.tm_mon = mo - 1;
    tm.tm_mday = d;
    tm.tm_hour = h;
    tm.tm_min = mi;
    tm.tm_sec = sec;
    if (has_offset) {
        *out = (int64_t)timegm(&tm) - offset;
        return 0;
    }
    tm.tm_isdst = -1;
    time_t t = mktime(&tm);
    if (t == (time_t)-1)
        return -EINVAL;
    *out = t;
    return 0;
}

int job_parse_time(const char *in, int64_t now, int64_t *out)
{
    if (strcmp(in, "now") == 0) {
        *out = now;
        return 0;
    }
    if (in[0] == '+')
        return parse_relative(in + 1, now, out);
    return parse_iso8601(in, out);
}

void job_format_time(int64_t t, char *out, size_t outlen)
{
    struct tm tm;
    time_t tt = (time_t)t;
    char base[32];
    long off;

    if (outlen == 0)
        return;
    out[0] = '\0';
    if (t == 0 || localtime_r(&tt, &tm) == NULL)
        return;
    strftime(base, sizeof base, "%Y-%m-%dT%H:%M:%S", &tm);
    off = tm.tm_gmtoff;
    snprintf(out, outlen, "%s%c%02ld:%02ld", base, off < 0 ? '-' : '+', labs(off) / 3600,
             (labs(off) % 3600) / 60);
}

/* The states of a received fax's deliveries (docs/receiving.md). */
static const char *const delivery_state_names[] = {
    [JD_PENDING] = "pending", [JD_DONE] = "done", [JD_RETRYING] = "retrying", [JD_FAILED] = "failed",
};

const char *job_delivery_state_name(enum job_delivery_state s)
{
    return (unsigned)s < JD_STATE_COUNT ? delivery_state_names[s] : "pending";
}

int job_delivery_state_from_name(const char *name, enum job_delivery_state *out)
{
    for (int s = 0; s < JD_STATE_COUNT; s++)
        if (strcmp(name, delivery_state_names[s]) == 0) {
            *out = (enum job_delivery_state)s;
            return 0;
        }
    return -EINVAL;
}

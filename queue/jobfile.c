/*
 * jobfile.c - serializes a job to versioned `key: value` text and parses it
 * back, strictly: unknown or duplicate keys, bad numbers, overlong values,
 * a missing `end:` line or anything after it make the whole file invalid.
 * The parser is fed untrusted bytes (a damaged spool, the fuzzer).
 */
#include "queue/jobfile.h"

#include <errno.h>
#include <stdarg.h>
#include <stdbool.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

enum field_kind { F_U64, F_I64, F_INT, F_UID, F_GID, F_STR, F_STATUS, F_TYPE, F_DELIVERY };

struct field {
    const char *key;
    enum field_kind kind;
    size_t offset;
    size_t size;         /* F_STR: buffer size, NUL included */
    long long min, max;  /* numeric kinds */
    bool required;
};

#define NUM(k, kind, member, lo, hi, req) \
    {k, kind, offsetof(struct job, member), sizeof(((struct job *)0)->member), lo, hi, req}
#define STR(k, member) {k, F_STR, offsetof(struct job, member), sizeof(((struct job *)0)->member), 0, 0, false}
#define TIME_MAX 253402300799LL /* 9999-12-31T23:59:59Z */

/* The order here is the order written. */
static const struct field fields[] = {
    NUM("id", F_U64, id, 1, 0, true),
    NUM("type", F_TYPE, type, 0, 0, true),
    NUM("status", F_STATUS, status, 0, 0, true),
    NUM("owner_uid", F_UID, owner_uid, 0, 4294967295LL, true),
    NUM("owner_gid", F_GID, owner_gid, 0, 4294967295LL, false),
    STR("recipient_number", recipient_number),
    STR("recipient_name", recipient_name),
    STR("sender_name", sender_name),
    STR("sender_company", sender_company),
    STR("sender_department", sender_department),
    STR("billing_code", billing_code),
    STR("tsid", tsid),
    NUM("submitted", F_I64, submitted, 0, TIME_MAX, true),
    NUM("scheduled", F_I64, scheduled, 0, TIME_MAX, false),
    NUM("kill_time", F_I64, kill_time, 0, TIME_MAX, false),
    NUM("next_attempt", F_I64, next_attempt, 0, TIME_MAX, false),
    NUM("changed", F_I64, changed, 0, TIME_MAX, false),
    NUM("finished", F_I64, finished, 0, TIME_MAX, false),
    NUM("priority", F_INT, priority, 0, 255, false),
    NUM("page_count", F_INT, page_count, 0, 100000, true),
    NUM("pages_sent", F_INT, pages_sent, 0, 100000, false),
    NUM("size", F_U64, size, 0, 0, false),
    NUM("attempts", F_INT, attempts, 0, 1000000, false),
    NUM("max_attempts", F_INT, max_attempts, 0, 1000000, false),
    STR("device_status", device_status),
    STR("error_code", error_code),
    STR("error_text", error_text),
    STR("modem", modem),
    NUM("bit_rate", F_INT, bit_rate, -1, 1000000, false),
    NUM("ecm", F_INT, ecm, -1, 1, false),
    STR("compression", compression),
    STR("remote_id", remote_id),
    NUM("call_duration", F_INT, call_duration, -1, 100000000, false),
    STR("caller_id", caller_id),
    /* Added after the first release; optional, so older files still load. */
    NUM("resolution", F_INT, resolution, 1, 3, false),
    STR("transport", transport),
    STR("line", line),
    /* Routing of received faxes (docs/receiving.md); optional too. */
    STR("called_number", called_number),
    NUM("routed", F_I64, routed, 0, TIME_MAX, false),
    STR("route", route),
#define DELIVERY(i) {"delivery." #i, F_DELIVERY, offsetof(struct job, deliveries[i]), sizeof(struct job_delivery), i, 0, false}
    DELIVERY(0), DELIVERY(1), DELIVERY(2), DELIVERY(3), DELIVERY(4), DELIVERY(5), DELIVERY(6), DELIVERY(7),
#undef DELIVERY
    /* Dial rules and modem settings (docs/dialing.md); optional too. */
    STR("submitted_number", submitted_number),
    STR("dialed_number", dialed_number),
    NUM("use_ecm", F_INT, use_ecm, -1, 1, false),
    NUM("max_bit_rate", F_INT, max_bit_rate, 0, 14400, false),
    NUM("min_bit_rate", F_INT, min_bit_rate, 0, 14400, false),
    /* Receipts (docs/receipts.md); optional too. */
    STR("notify", notify),
    NUM("notify_when", F_INT, notify_when, 0, JOB_NOTIFY_WHEN_COUNT - 1, false),
    NUM("notify_attach", F_INT, notify_attach, 0, JOB_ATTACH_COUNT - 1, false),
    /* Broadcast group (0: none); optional. */
    NUM("group", F_U64, group, 0, 0, false),
};
_Static_assert(JOB_DELIVERIES_MAX == 8, "one delivery.N key per delivery slot");
#define NFIELDS (sizeof fields / sizeof fields[0])

/* ---- writing -------------------------------------------------------- */

struct outbuf {
    char *data;
    size_t len, cap;
    bool failed;
};

static void out_bytes(struct outbuf *o, const char *s, size_t n)
{
    if (o->failed)
        return;
    if (o->len + n + 1 > o->cap) {
        size_t cap = o->cap ? o->cap : 1024;
        while (o->len + n + 1 > cap)
            cap *= 2;
        char *p = realloc(o->data, cap);
        if (p == NULL) {
            o->failed = true;
            return;
        }
        o->data = p;
        o->cap = cap;
    }
    memcpy(o->data + o->len, s, n);
    o->len += n;
    o->data[o->len] = '\0';
}

static void out_printf(struct outbuf *o, const char *fmt, ...) __attribute__((format(printf, 2, 3)));
static void out_printf(struct outbuf *o, const char *fmt, ...)
{
    char tmp[128];
    va_list ap;

    va_start(ap, fmt);
    int n = vsnprintf(tmp, sizeof tmp, fmt, ap);
    va_end(ap);
    if (n > 0)
        out_bytes(o, tmp, (size_t)n < sizeof tmp ? (size_t)n : sizeof tmp - 1);
}

/* Values stay on one line: backslash, newline and other control bytes are
 * escaped. */
static void out_escaped(struct outbuf *o, const char *s)
{
    for (; *s != '\0'; s++) {
        unsigned char c = (unsigned char)*s;
        if (c == '\\')
            out_bytes(o, "\\\\", 2);
        else if (c == '\n')
            out_bytes(o, "\\n", 2);
        else if (c < 0x20 || c == 0x7f)
            out_printf(o, "\\x%02x", c);
        else
            out_bytes(o, (const char *)&c, 1);
    }
}

/* "ACTION STATE ATTEMPTS FIRST_TRY NEXT_TRY TARGET<TAB>ERROR", escaped as
 * one value: the action and state are single words, the target and the
 * error carry no control characters (the daemon cleans them). An attempt
 * receipt adds "<TAB>OF_ATTEMPT RETRY_AT REASON"; other records are
 * written as before it existed. */
static void out_delivery(struct outbuf *o, const struct field *f, const struct job_delivery *d)
{
    char raw[JOB_DELIVERY_ACTION_MAX + JOB_DELIVERY_TARGET_MAX + JOB_DELIVERY_ERROR_MAX + JOB_DELIVERY_REASON_MAX + 128];
    int k = snprintf(raw, sizeof raw, "%s %s %d %lld %lld %s\t%s", d->action, job_delivery_state_name(d->state),
                     d->attempts, (long long)d->first_try, (long long)d->next_try, d->target, d->error);
    if (d->of_attempt > 0 && k > 0 && (size_t)k < sizeof raw)
        snprintf(raw + k, sizeof raw - (size_t)k, "\t%d %lld %s", d->of_attempt, (long long)d->retry_at, d->reason);
    out_printf(o, "%s: ", f->key);
    out_escaped(o, raw);
    out_bytes(o, "\n", 1);
}

static void out_field(struct outbuf *o, const struct field *f, const struct job *job)
{
    const char *p = (const char *)job + f->offset;

    if (f->kind == F_DELIVERY) {
        if (f->min < job->ndeliveries)
            out_delivery(o, f, (const struct job_delivery *)p);
        return;
    }
    /* Written only when set, so older readers of receive-less spools are unaffected. */
    if ((f->offset == offsetof(struct job, called_number) || f->offset == offsetof(struct job, route)) && *p == '\0')
        return;
    if (f->offset == offsetof(struct job, routed) && job->routed == 0)
        return;

    out_printf(o, "%s: ", f->key);
    switch (f->kind) {
    case F_U64: out_printf(o, "%llu", (unsigned long long)*(const uint64_t *)p); break;
    case F_I64: out_printf(o, "%lld", (long long)*(const int64_t *)p); break;
    case F_INT: out_printf(o, "%d", *(const int *)p); break;
    case F_UID: out_printf(o, "%lu", (unsigned long)*(const uid_t *)p); break;
    case F_GID: out_printf(o, "%lu", (unsigned long)*(const gid_t *)p); break;
    case F_STR: out_escaped(o, p); break;
    case F_STATUS: out_printf(o, "%s", job_status_name(*(const enum job_status *)p)); break;
    case F_TYPE: out_printf(o, "%s", job_type_name(*(const enum job_type *)p)); break;
    case F_DELIVERY: break;
    }
    out_bytes(o, "\n", 1);
}

long jobfile_format(const struct job *job, char **out)
{
    struct outbuf o = {0};

    out_printf(&o, "version: %d\n", JOBFILE_VERSION);
    for (size_t i = 0; i < NFIELDS; i++)
        out_field(&o, &fields[i], job);
    out_printf(&o, "end: %llu\n", (unsigned long long)job->id);
    if (o.failed) {
        free(o.data);
        return -ENOMEM;
    }
    *out = o.data;
    return (long)o.len;
}

/* ---- parsing -------------------------------------------------------- */

struct parser {
    int lineno;
    char *why;
    size_t whylen;
};

static int reject(struct parser *ps, const char *fmt, ...) __attribute__((format(printf, 2, 3)));
static int reject(struct parser *ps, const char *fmt, ...)
{
    char msg[160];
    va_list ap;

    va_start(ap, fmt);
    vsnprintf(msg, sizeof msg, fmt, ap);
    va_end(ap);
    if (ps->lineno > 0)
        snprintf(ps->why, ps->whylen, "line %d: %s", ps->lineno, msg);
    else
        snprintf(ps->why, ps->whylen, "%s", msg);
    return -EINVAL;
}

/* Strict signed decimal: optional '-', digits, nothing else. */
static int parse_number(const char *s, long long min, unsigned long long max, bool is_unsigned,
                        unsigned long long *out)
{
    bool neg = false;
    unsigned long long v = 0;

    if (*s == '-') {
        neg = true;
        s++;
    }
    if (*s == '\0' || (s[0] == '0' && s[1] != '\0'))
        return -EINVAL;
    for (; *s != '\0'; s++) {
        if (*s < '0' || *s > '9')
            return -EINVAL;
        unsigned d = (unsigned)(*s - '0');
        if (v > (~0ULL - d) / 10)
            return -ERANGE;
        v = v * 10 + d;
    }
    if (neg) {
        if (is_unsigned || min >= 0 || v == 0 || v > (unsigned long long)(-(min + 1)) + 1)
            return -ERANGE;
        *out = (unsigned long long)(-(long long)(v - 1) - 1);
        return 0;
    }
    if (max != 0 && v > max)
        return -ERANGE;
    *out = v;
    return 0;
}

static int hexval(char c)
{
    if (c >= '0' && c <= '9')
        return c - '0';
    if (c >= 'a' && c <= 'f')
        return c - 'a' + 10;
    return -1;
}

static int unescape(struct parser *ps, const struct field *f, const char *s, char *dst)
{
    size_t n = 0;

    while (*s != '\0') {
        char c = *s++;
        if (c == '\\') {
            char e = *s++;
            if (e == '\\') {
                c = '\\';
            } else if (e == 'n') {
                c = '\n';
            } else if (e == 'x' && hexval(s[0]) >= 0 && hexval(s[1]) >= 0) {
                c = (char)(hexval(s[0]) * 16 + hexval(s[1]));
                s += 2;
                if (c == '\0')
                    return reject(ps, "\"%s\": escaped NUL byte", f->key);
            } else {
                return reject(ps, "\"%s\": bad escape sequence", f->key);
            }
        }
        if (n + 1 >= f->size)
            return reject(ps, "\"%s\": value longer than %zu bytes", f->key, f->size - 1);
        dst[n++] = c;
    }
    dst[n] = '\0';
    return 0;
}

static int set_numeric(struct parser *ps, const struct field *f, const char *val, char *dst)
{
    bool is_unsigned = f->kind == F_U64 || f->kind == F_UID || f->kind == F_GID;
    unsigned long long max = f->max < 0 ? 0 : (unsigned long long)f->max;
    unsigned long long v;

    if (f->kind == F_U64 && f->max == 0)
        max = 0; /* the full 64-bit range */
    if (parse_number(val, f->min, max, is_unsigned, &v) != 0)
        return reject(ps, "\"%s\": \"%.32s\" is not a valid number", f->key, val);
    if (!is_unsigned && (long long)v < f->min)
        return reject(ps, "\"%s\": %lld is below %lld", f->key, (long long)v, f->min);
    if (is_unsigned && v < (unsigned long long)f->min)
        return reject(ps, "\"%s\": %llu is below %lld", f->key, v, f->min);
    switch (f->kind) {
    case F_U64: *(uint64_t *)dst = v; break;
    case F_I64: *(int64_t *)dst = (int64_t)v; break;
    case F_INT: *(int *)dst = (int)(long long)v; break;
    case F_UID: *(uid_t *)dst = (uid_t)v; break;
    case F_GID: *(gid_t *)dst = (gid_t)v; break;
    default: break;
    }
    return 0;
}

static int set_delivery(struct parser *ps, const struct field *f, const char *val, struct job *job)
{
    struct field text = *f;
    char raw[JOBFILE_MAX_LINE];
    char action[JOB_DELIVERY_ACTION_MAX], state[16];
    long long first, next;
    int attempts, used = 0;
    struct job_delivery d = {0};

    text.size = sizeof raw;
    if (unescape(ps, &text, val, raw) != 0)
        return -EINVAL;
    if (sscanf(raw, "%11s %15s %d %lld %lld %n", action, state, &attempts, &first, &next, &used) != 5 || used == 0)
        return reject(ps, "\"%s\": expected ACTION STATE ATTEMPTS FIRST_TRY NEXT_TRY TARGET", f->key);
    if (job_delivery_state_from_name(state, &d.state) != 0)
        return reject(ps, "\"%s\": unknown state \"%.16s\"", f->key, state);
    if (attempts < 0 || attempts > 1000000 || first < 0 || first > TIME_MAX || next < 0 || next > TIME_MAX)
        return reject(ps, "\"%s\": a number out of range", f->key);
    const char *rest = raw + used, *tab = strchr(rest, '\t');
    if (tab == NULL)
        return reject(ps, "\"%s\": no tab between target and error", f->key);
    const char *err = tab + 1, *tab2 = strchr(err, '\t');
    size_t errlen = tab2 ? (size_t)(tab2 - err) : strlen(err);
    if ((size_t)(tab - rest) >= sizeof d.target || errlen >= sizeof d.error)
        return reject(ps, "\"%s\": target or error too long", f->key);
    if (tab2) {
        long long at;
        int of, n2 = 0;
        if (sscanf(tab2 + 1, "%d %lld %n", &of, &at, &n2) != 2 || n2 == 0 || of <= 0 || of > 1000000 || at < 0 ||
            at > TIME_MAX)
            return reject(ps, "\"%s\": expected OF_ATTEMPT RETRY_AT REASON after the error", f->key);
        if (strlen(tab2 + 1 + n2) >= sizeof d.reason)
            return reject(ps, "\"%s\": reason too long", f->key);
        d.of_attempt = of;
        d.retry_at = at;
        snprintf(d.reason, sizeof d.reason, "%s", tab2 + 1 + n2);
    }
    snprintf(d.action, sizeof d.action, "%s", action);
    memcpy(d.target, rest, (size_t)(tab - rest));
    memcpy(d.error, err, errlen);
    d.attempts = attempts;
    d.first_try = first;
    d.next_try = next;
    job->deliveries[f->min] = d;
    if (f->min + 1 > job->ndeliveries)
        job->ndeliveries = (int)f->min + 1;
    return 0;
}

static int set_field(struct parser *ps, const struct field *f, const char *val, struct job *job)
{
    char *dst = (char *)job + f->offset;

    if (f->kind == F_DELIVERY)
        return set_delivery(ps, f, val, job);

    switch (f->kind) {
    case F_STR:
        return unescape(ps, f, val, dst);
    case F_STATUS:
        if (job_status_from_name(val, (enum job_status *)dst) != 0)
            return reject(ps, "\"status\": unknown status \"%.32s\"", val);
        return 0;
    case F_TYPE:
        if (strcmp(val, "send") == 0)
            job->type = JOB_SEND;
        else if (strcmp(val, "receive") == 0)
            job->type = JOB_RECEIVE;
        else
            return reject(ps, "\"type\": unknown type \"%.32s\"", val);
        return 0;
    default:
        return set_numeric(ps, f, val, dst);
    }
}

/* The field named key, looked for from start on (wrapping): files are
 * written in the order of fields[], so the one after the previous key is
 * almost always the next one read. */
static const struct field *find_field(const char *key, size_t start, size_t *index)
{
    for (size_t k = 0; k < NFIELDS; k++) {
        size_t i = (start + k) % NFIELDS;
        if (strcmp(fields[i].key, key) == 0) {
            *index = i;
            return &fields[i];
        }
    }
    return NULL;
}

/* Copies the next line (without '\n') into line; 0 at the end of input. */
static int next_line(struct parser *ps, const char *buf, size_t len, size_t *pos, char *line)
{
    const char *start = buf + *pos;
    size_t left = len - *pos;
    const char *nl = memchr(start, '\n', left);

    if (left == 0)
        return 0;
    ps->lineno++;
    if (nl == NULL)
        return reject(ps, "truncated: the last line has no newline");
    size_t n = (size_t)(nl - start);
    if (n >= JOBFILE_MAX_LINE)
        return reject(ps, "line longer than %d bytes", JOBFILE_MAX_LINE - 1);
    for (size_t i = 0; i < n; i++) {
        unsigned char c = (unsigned char)start[i];
        if (c < 0x20 || c == 0x7f)
            return reject(ps, "control byte 0x%02x", c);
    }
    memcpy(line, start, n);
    line[n] = '\0';
    *pos += n + 1;
    return 1;
}

static int split_line(struct parser *ps, char *line, char **value)
{
    char *sep = strstr(line, ": ");

    if (sep == NULL || sep == line)
        return reject(ps, "expected \"key: value\"");
    *sep = '\0';
    *value = sep + 2;
    return 0;
}

static int check_consistency(struct parser *ps, const struct job *job)
{
    ps->lineno = 0;
    if (job->pages_sent > job->page_count)
        return reject(ps, "pages_sent %d exceeds page_count %d", job->pages_sent, job->page_count);
    if (job->type == JOB_SEND && job->page_count < 1)
        return reject(ps, "a send job without pages");
    if (job->type == JOB_SEND && job->recipient_number[0] == '\0')
        return reject(ps, "a send job without a recipient number");
    for (int i = 0; i < job->ndeliveries; i++)
        if (job->deliveries[i].action[0] == '\0')
            return reject(ps, "delivery.%d missing before delivery.%d", i, job->ndeliveries - 1);
    return 0;
}

static int parse_end(struct parser *ps, const char *val, const struct job *job, size_t pos, size_t len)
{
    unsigned long long id;

    if (parse_number(val, 1, 0, true, &id) != 0 || id != job->id)
        return reject(ps, "end line \"%.32s\" does not match id %llu", val, (unsigned long long)job->id);
    if (pos != len)
        return reject(ps, "data after the end line");
    return 1;
}

static int parse_body(struct parser *ps, const char *buf, size_t len, struct job *out)
{
    bool seen[NFIELDS] = {false};
    char line[JOBFILE_MAX_LINE];
    size_t pos = 0;
    char *key, *val = NULL;
    size_t next = 0; /* where the next key is looked for first */
    int r;

    if ((r = next_line(ps, buf, len, &pos, line)) <= 0)
        return r < 0 ? r : reject(ps, "empty file");
    if (strcmp(line, "version: 1") != 0)
        return reject(ps, "expected \"version: %d\" as the first line", JOBFILE_VERSION);
    while ((r = next_line(ps, buf, len, &pos, line)) > 0) {
        if (split_line(ps, line, &val) != 0)
            return -EINVAL;
        key = line;
        if (strcmp(key, "end") == 0) {
            for (size_t i = 0; i < NFIELDS; i++)
                if (fields[i].required && !seen[i])
                    return reject(ps, "required key \"%s\" missing", fields[i].key);
            return parse_end(ps, val, out, pos, len);
        }
        size_t idx;
        const struct field *f = find_field(key, next, &idx);
        if (f == NULL)
            return reject(ps, "unknown key \"%.40s\"", key);
        next = idx + 1;
        if (seen[idx])
            return reject(ps, "duplicate key \"%s\"", key);
        seen[idx] = true;
        if (set_field(ps, f, val, out) != 0)
            return -EINVAL;
    }
    if (r < 0)
        return r;
    ps->lineno = 0;
    return reject(ps, "truncated: no \"end:\" line");
}

int jobfile_parse(const char *buf, size_t len, struct job *out, char *why, size_t whylen)
{
    struct parser ps = {0, why, whylen};
    struct job job;

    if (whylen > 0)
        why[0] = '\0';
    job_init(&job);
    if (len > JOBFILE_MAX_BYTES)
        return reject(&ps, "job file larger than %d bytes", JOBFILE_MAX_BYTES);
    if (memchr(buf, '\0', len) != NULL)
        return reject(&ps, "NUL byte in job file");
    int r = parse_body(&ps, buf, len, &job);
    if (r < 0)
        return r;
    if (check_consistency(&ps, &job) != 0)
        return -EINVAL;
    *out = job;
    return 0;
}

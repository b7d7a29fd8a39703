/*
 * parse.c - parsers for text written into the view (ctl commands, draft
 * fields, outbox file names). They trust nothing: every input is bounded,
 * and a rejected input leaves the target untouched.
 */
#include "fs/parse.h"

#include <ctype.h>
#include <errno.h>
#include <inttypes.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

int fs_parse_command(const char *buf, size_t len, char *word, size_t wordlen)
{
    size_t start = 0, end = len;

    if (len > 0 && buf[len - 1] == '\n')
        end--;
    while (start < end && (buf[start] == ' ' || buf[start] == '\t'))
        start++;
    while (end > start && (buf[end - 1] == ' ' || buf[end - 1] == '\t' || buf[end - 1] == '\r'))
        end--;
    if (end == start || end - start >= wordlen)
        return -EINVAL;
    for (size_t i = start; i < end; i++)
        if (!isalpha((unsigned char)buf[i]))
            return -EINVAL;
    memcpy(word, buf + start, end - start);
    word[end - start] = '\0';
    return 0;
}

static int lookup_word(const char *buf, size_t len, const char *const *names, int count)
{
    char word[16];

    if (fs_parse_command(buf, len, word, sizeof word) < 0)
        return -EINVAL;
    for (int i = 0; i < count; i++)
        if (strcmp(word, names[i]) == 0)
            return i;
    return -EINVAL;
}

int fs_parse_job_ctl(const char *buf, size_t len, enum queue_op *out)
{
    static const char *const names[] = { "pause", "resume", "restart", "cancel" };
    static const enum queue_op ops[] = { QOP_PAUSE, QOP_RESUME, QOP_RESTART, QOP_CANCEL };
    int i = lookup_word(buf, len, names, 4);

    if (i < 0)
        return i;
    *out = ops[i];
    return 0;
}

bool fs_parse_job_ctl_redeliver(const char *buf, size_t len)
{
    static const char *const names[] = { "redeliver" };
    return lookup_word(buf, len, names, 1) == 0;
}

int fs_parse_server_ctl(const char *buf, size_t len, enum fs_server_cmd *out)
{
    static const char *const names[] = { "pause", "resume" };
    int i = lookup_word(buf, len, names, 2);

    if (i < 0)
        return i;
    *out = i == 0 ? FS_SERVER_PAUSE : FS_SERVER_RESUME;
    return 0;
}

int fs_parse_draft_ctl(const char *buf, size_t len)
{
    static const char *const names[] = { "submit" };

    return lookup_word(buf, len, names, 1) < 0 ? -EINVAL : 0;
}

/* ---- draft fields ---- */

enum field_kind { FK_NUMBER, FK_TEXT, FK_IDENT, FK_TIME, FK_PRIORITY, FK_COUNT, FK_RESOLUTION, FK_YESNO, FK_COMMENT,
                  FK_ECM, FK_BIT_RATE, FK_NOTIFY, FK_NOTIFY_WHEN, FK_NOTIFY_ATTACH };

struct draft_field {
    const char *name;
    enum field_kind kind;
    size_t offset; /* into struct queue_request */
    size_t size;   /* of a text member */
};

#define TEXT_FIELD(n, k) { #n, k, offsetof(struct queue_request, n), sizeof(((struct queue_request *)0)->n) }
#define OTHER_FIELD(n, k) { #n, k, offsetof(struct queue_request, n), 0 }
#define NAMED_FIELD(name, n, k, size) { name, k, offsetof(struct queue_request, n), size }

static const struct draft_field draft_fields[] = {
    { NULL, 0, 0, 0 },
    TEXT_FIELD(recipient_number, FK_NUMBER),
    TEXT_FIELD(recipient_name, FK_TEXT),
    TEXT_FIELD(sender_name, FK_TEXT),
    TEXT_FIELD(sender_company, FK_TEXT),
    TEXT_FIELD(sender_department, FK_TEXT),
    TEXT_FIELD(billing_code, FK_TEXT),
    TEXT_FIELD(tsid, FK_IDENT),
    OTHER_FIELD(scheduled, FK_TIME),
    OTHER_FIELD(kill_time, FK_TIME),
    OTHER_FIELD(priority, FK_PRIORITY),
    OTHER_FIELD(max_attempts, FK_COUNT),
    OTHER_FIELD(resolution, FK_RESOLUTION),
    NAMED_FIELD("cover", cover_page, FK_YESNO, 0),
    NAMED_FIELD("comment", cover_comment, FK_COMMENT, sizeof(((struct queue_request *)0)->cover_comment)),
    OTHER_FIELD(use_ecm, FK_ECM),
    OTHER_FIELD(max_bit_rate, FK_BIT_RATE),
    OTHER_FIELD(min_bit_rate, FK_BIT_RATE),
    TEXT_FIELD(notify, FK_NOTIFY),
    OTHER_FIELD(notify_when, FK_NOTIFY_WHEN),
    OTHER_FIELD(notify_attach, FK_NOTIFY_ATTACH),
};
#define NDRAFT ((int)(sizeof draft_fields / sizeof draft_fields[0]) - 1)

int fs_draft_field_count(void) { return NDRAFT; }

const char *fs_draft_field_name(int node)
{
    return node >= 1 && node <= NDRAFT ? draft_fields[node].name : NULL;
}

int fs_draft_node_by_name(const char *name)
{
    for (int node = 1; node <= NDRAFT; node++)
        if (strcmp(draft_fields[node].name, name) == 0)
            return node;
    return 0;
}

/* The text without its trailing newline and surrounding blanks; one line. */
static int field_text(const char *buf, size_t len, char *out, size_t outlen)
{
    while (len > 0 && isspace((unsigned char)buf[len - 1]))
        len--;
    while (len > 0 && (*buf == ' ' || *buf == '\t'))
        buf++, len--;
    if (len >= outlen)
        return -ENAMETOOLONG;
    for (size_t i = 0; i < len; i++)
        if (buf[i] == '\0' || iscntrl((unsigned char)buf[i]))
            return -EINVAL;
    memcpy(out, buf, len);
    out[len] = '\0';
    return 0;
}

/* The cover page comment: several lines, tabs allowed; trailing blank
 * lines dropped, carriage returns of CRLF text dropped. */
static int comment_text(const char *buf, size_t len, char *out, size_t outlen)
{
    size_t n = 0;

    while (len > 0 && isspace((unsigned char)buf[len - 1]))
        len--;
    for (size_t i = 0; i < len; i++) {
        unsigned char c = (unsigned char)buf[i];
        if (c == '\r')
            continue;
        if (c == '\0' || (iscntrl(c) && c != '\n' && c != '\t'))
            return -EINVAL;
        if (n + 1 >= outlen)
            return -ENAMETOOLONG;
        out[n++] = (char)c;
    }
    out[n] = '\0';
    return 0;
}

static int set_yesno(bool *target, const char *text, char *why, size_t whylen)
{
    if (strcmp(text, "yes") == 0 || strcmp(text, "no") == 0) {
        *target = text[0] == 'y';
        return 0;
    }
    snprintf(why, whylen, "cover: '%s' is neither yes nor no", text);
    return -EINVAL;
}

static int set_count(int *target, const char *text, char *why, size_t whylen)
{
    char *end;
    long v = strtol(text, &end, 10);

    if (*text == '\0' || *end != '\0' || v < 1 || v > 100) {
        snprintf(why, whylen, "max_attempts: '%s' is not a number from 1 to 100", text);
        return -EINVAL;
    }
    *target = (int)v;
    return 0;
}

static int set_bit_rate(int *target, const char *name, const char *text, char *why, size_t whylen)
{
    static const char *const rates[] = { "2400", "4800", "7200", "9600", "12000", "14400" };
    for (size_t i = 0; i < sizeof rates / sizeof rates[0]; i++)
        if (strcmp(text, rates[i]) == 0) {
            *target = (int)strtol(text, NULL, 10);
            return 0;
        }
    snprintf(why, whylen, "%s: '%s' is not 2400, 4800, 7200, 9600, 12000 or 14400", name, text);
    return -EINVAL;
}

int fs_draft_set(struct queue_request *req, int node, const char *buf, size_t len, int64_t now,
                 char *why, size_t whylen)
{
    char text[sizeof ((struct queue_request *)0)->cover_comment];
    char number[JOB_NUMBER_MAX];

    if (node < 1 || node > NDRAFT)
        return -ENOENT;
    const struct draft_field *f = &draft_fields[node];
    char *member = (char *)req + f->offset;
    size_t room = f->size ? f->size : sizeof text;
    int r = f->kind == FK_COMMENT ? comment_text(buf, len, text, room) : field_text(buf, len, text, room);
    if (r < 0) {
        snprintf(why, whylen, "%s: %s", f->name,
                 r == -ENAMETOOLONG ? "too long"
                 : f->kind == FK_COMMENT ? "printable text, please (lines and tabs are fine)"
                 : "one line of printable text, please");
        return -EINVAL;
    }
    if (text[0] == '\0') { /* empty: back to the default */
        if (f->size)
            memset(member, 0, f->size);
        else if (f->kind == FK_TIME)
            *(int64_t *)(void *)member = 0;
        else if (f->kind == FK_YESNO)
            *(bool *)(void *)member = false;
        else
            *(int *)(void *)member = 0;
        return 0;
    }
    switch (f->kind) {
    case FK_NUMBER: {
        /* Commas are pauses a dial plan understands ("9,5551234"); the
         * queue checks the number against its dial rules on submit. */
        char bare[sizeof text];
        size_t k = 0;
        for (const char *c = text; *c; c++)
            if (*c != ',')
                bare[k++] = *c;
        bare[k] = '\0';
        if (job_normalize_number(bare, number, sizeof number, why, whylen) < 0)
            return -EINVAL;
    }
        /* Keep what the user wrote; the queue normalizes again on submit. */
        snprintf(member, f->size, "%s", text);
        return 0;
    case FK_TEXT:
    case FK_IDENT:
        snprintf(member, f->size, "%s", text);
        return 0;
    case FK_TIME: {
        int64_t t;
        if (job_parse_time(text, now, &t) < 0) {
            snprintf(why, whylen, "%s: '%s' is not a time; use ISO 8601 (2026-11-24T10:00+01:00) or +30m",
                     f->name, text);
            return -EINVAL;
        }
        *(int64_t *)(void *)member = t;
        return 0;
    }
    case FK_PRIORITY: {
        int p;
        if (job_parse_priority(text, &p) < 0) {
            snprintf(why, whylen, "priority: '%s' is not low, normal, high or a number 0-255", text);
            return -EINVAL;
        }
        *(int *)(void *)member = p;
        return 0;
    }
    case FK_COUNT:
        return set_count((int *)(void *)member, text, why, whylen);
    case FK_RESOLUTION: {
        int res;
        if (job_parse_resolution(text, &res) < 0) {
            snprintf(why, whylen, "resolution: '%s' is not standard, fine or superfine", text);
            return -EINVAL;
        }
        *(int *)(void *)member = res;
        return 0;
    }
    case FK_YESNO:
        return set_yesno((bool *)(void *)member, text, why, whylen);
    case FK_COMMENT:
        snprintf(member, f->size, "%s", text);
        return 0;
    case FK_ECM:
        if (strcmp(text, "yes") && strcmp(text, "no")) {
            snprintf(why, whylen, "use_ecm: '%s' is neither yes nor no", text);
            return -EINVAL;
        }
        *(int *)(void *)member = text[0] == 'y' ? QUEUE_ECM_ON : QUEUE_ECM_OFF;
        return 0;
    case FK_BIT_RATE:
        return set_bit_rate((int *)(void *)member, f->name, text, why, whylen);
    case FK_NOTIFY: {
        char list[sizeof ((struct queue_request *)0)->notify];
        if (job_parse_notify(text, list, sizeof list, why, whylen) < 0)
            return -EINVAL;
        snprintf(member, f->size, "%s", list);
        return 0;
    }
    case FK_NOTIFY_WHEN:
        if (job_parse_notify_when(text, (int *)(void *)member) < 0) {
            snprintf(why, whylen, "notify_when: '%s' is not final, done, failed or every-attempt", text);
            return -EINVAL;
        }
        return 0;
    case FK_NOTIFY_ATTACH:
        if (job_parse_notify_attach(text, (int *)(void *)member) < 0) {
            snprintf(why, whylen, "notify_attach: '%s' is not report, fax or both", text);
            return -EINVAL;
        }
        return 0;
    }
    return -EINVAL;
}

int fs_draft_render(const struct queue_request *req, int node, char *out, size_t outlen)
{
    char value[sizeof ((struct queue_request *)0)->cover_comment] = "";

    if (node < 1 || node > NDRAFT)
        return -ENOENT;
    const struct draft_field *f = &draft_fields[node];
    const char *member = (const char *)req + f->offset;
    switch (f->kind) {
    case FK_NUMBER:
    case FK_TEXT:
    case FK_IDENT:
    case FK_COMMENT:
    case FK_NOTIFY:
        snprintf(value, sizeof value, "%s", member);
        break;
    case FK_NOTIFY_WHEN: /* the defaults (final, report) are shown empty */
        if (*(const int *)(const void *)member)
            snprintf(value, sizeof value, "%s", job_notify_when_name(*(const int *)(const void *)member));
        break;
    case FK_NOTIFY_ATTACH:
        if (*(const int *)(const void *)member)
            snprintf(value, sizeof value, "%s", job_notify_attach_name(*(const int *)(const void *)member));
        break;
    case FK_RESOLUTION:
        if (*(const int *)(const void *)member)
            snprintf(value, sizeof value, "%s", job_resolution_name(*(const int *)(const void *)member));
        break;
    case FK_ECM:
        if (*(const int *)(const void *)member)
            snprintf(value, sizeof value, "%s", *(const int *)(const void *)member == QUEUE_ECM_ON ? "yes" : "no");
        break;
    case FK_BIT_RATE:
        if (*(const int *)(const void *)member)
            snprintf(value, sizeof value, "%d", *(const int *)(const void *)member);
        break;
    case FK_YESNO: /* "no" is the default: shown empty like other defaults */
        if (*(const bool *)(const void *)member)
            snprintf(value, sizeof value, "yes");
        break;
    case FK_TIME:
        job_format_time(*(const int64_t *)(const void *)member, value, sizeof value);
        break;
    case FK_PRIORITY:
        if (*(const int *)(const void *)member)
            job_format_priority(*(const int *)(const void *)member, value, sizeof value);
        break;
    case FK_COUNT:
        if (*(const int *)(const void *)member)
            snprintf(value, sizeof value, "%d", *(const int *)(const void *)member);
        break;
    }
    if (value[0] == '\0') {
        out[0] = '\0';
        return 0;
    }
    int n = snprintf(out, outlen, "%s\n", value);
    return n < 0 || (size_t)n >= outlen ? -ENOSPC : n;
}

int fs_outbox_recipient(const char *name, char *number, size_t numlen, char *why, size_t whylen)
{
    char base[JOB_NUMBER_MAX];
    const char *dot = strrchr(name, '.');
    size_t len = dot && dot != name ? (size_t)(dot - name) : strlen(name);

    if (len == 0 || len >= sizeof base) {
        snprintf(why, whylen, "%s: name the file after the recipient's number, e.g. 5551234.tif", name);
        return -EINVAL;
    }
    memcpy(base, name, len);
    base[len] = '\0';
    if (job_normalize_number(base, number, numlen, why, whylen) < 0) {
        char sentence[192];
        snprintf(sentence, sizeof sentence, "%s", why);
        snprintf(why, whylen, "%s: %s; name the file after the recipient's number, e.g. 5551234.tif",
                 name, sentence);
        return -EINVAL;
    }
    return 0;
}

int fs_outbox_typed_number(const char *name, char *typed, size_t len, char *why, size_t whylen)
{
    const char *dot = strrchr(name, '.');
    size_t n = dot && dot != name ? (size_t)(dot - name) : strlen(name);

    if (n == 0 || n >= len) {
        snprintf(why, whylen, "%s: name the file after the recipient's number, e.g. 5551234.tif", name);
        return -EINVAL;
    }
    memcpy(typed, name, n);
    typed[n] = '\0';
    return 0;
}

/* ---- names in listings and logs ---- */

bool fs_name_printable(const char *name)
{
    for (const unsigned char *p = (const unsigned char *)name; *p; p++)
        if (*p < 0x20 || *p == 0x7f)
            return false;
    return true;
}

void fs_log_escape(const char *in, char *out, size_t outlen)
{
    size_t o = 0;

    if (outlen == 0)
        return;
    for (const unsigned char *p = (const unsigned char *)in; *p && o + 1 < outlen; p++) {
        if (*p < 0x20 || *p == 0x7f || *p == '\\') {
            if (o + 5 >= outlen)
                break;
            snprintf(out + o, 5, "\\x%02x", *p);
            o += 4;
        } else {
            out[o++] = (char)*p;
        }
    }
    out[o] = '\0';
}

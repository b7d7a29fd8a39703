/*
 * receive_route.c - inbound routes as data: the [receive NAME] keys are
 * checked one by one as they are read (so a bad one is refused with its
 * file and line), routes are matched in the order they were first named,
 * and a delivery's next try follows a small table of delays.
 */
#include "queue/receive_route.h"

#include <errno.h>
#include <fnmatch.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <time.h>

const char *const receive_route_keys[] = {
    "called", "caller", "csi", "owner", "group", "mail", "folder", "folder-name", "folder-format",
    "folder-owner", "folder-mode", "print", "command", NULL,
};

static struct receive_route *route_named(struct receive_routes *t, const char *name, char *why, size_t whylen)
{
    for (int i = 0; i < t->n; i++)
        if (strcmp(t->route[i].name, name) == 0)
            return &t->route[i];
    if (t->n == RECEIVE_ROUTES_MAX) {
        snprintf(why, whylen, "more than %d receive routes; merge some", RECEIVE_ROUTES_MAX);
        return NULL;
    }
    struct receive_route *r = &t->route[t->n++];
    memset(r, 0, sizeof *r);
    snprintf(r->name, sizeof r->name, "%s", name);
    r->folder_mode = -1;
    return r;
}

static bool has_control(const char *s)
{
    for (; *s; s++)
        if ((unsigned char)*s < 0x20 || *s == 0x7f)
            return true;
    return false;
}

static int copy_value(char *dst, size_t size, const char *value, const char *route, const char *key, char *why,
                      size_t whylen)
{
    if (strlen(value) >= size) {
        snprintf(why, whylen, "receive route \"%s\": %s is longer than %zu characters", route, key, size - 1);
        return -EINVAL;
    }
    snprintf(dst, size, "%s", value);
    return 0;
}

/* A user or group name, or a printer: letters, digits, '.', '_', '-', not leading '-'. */
static bool plain_name(const char *s)
{
    if (!*s || *s == '-')
        return false;
    for (; *s; s++)
        if (!(((*s | 0x20) >= 'a' && (*s | 0x20) <= 'z') || (*s >= '0' && *s <= '9') || *s == '.' || *s == '_' ||
              *s == '-'))
            return false;
    return true;
}

/* Mail addresses, comma separated: each local@domain or a local name,
 * printable, no spaces, quotes or angle brackets, not leading '-'. */
static bool mail_list_ok(const char *s)
{
    if (!*s)
        return false;
    while (*s) {
        size_t len = strcspn(s, ",");
        if (len == 0 || *s == '-')
            return false;
        for (size_t i = 0; i < len; i++)
            if ((unsigned char)s[i] <= 0x20 || s[i] == 0x7f || strchr("\"<>();\\", s[i]))
                return false;
        s += len + (s[len] == ',');
    }
    return true;
}

static bool template_ok(const char *s)
{
    if (!*s || strchr(s, '/') || strcmp(s, ".") == 0 || strcmp(s, "..") == 0)
        return false;
    for (; *s; s++)
        if (*s == '%' && (!s[1] || !strchr("YmdHMSicn%", *++s)))
            return false;
    return true;
}

static int set_match(struct receive_route *r, const char *key, const char *value, char *why, size_t whylen)
{
    char pwhy[160];
    if (strcmp(key, "csi") == 0)
        return copy_value(r->csi, sizeof r->csi, value, r->name, key, why, whylen);
    if (number_pattern_check(value, pwhy, sizeof pwhy) != 0) {
        snprintf(why, whylen, "receive route \"%s\": %s \"%s\": %s", r->name, key, value, pwhy);
        return -EINVAL;
    }
    char *dst = strcmp(key, "called") == 0 ? r->called : r->caller;
    return copy_value(dst, NUMBER_PATTERN_MAX, value, r->name, key, why, whylen);
}

static int set_folder_key(struct receive_route *r, const char *key, const char *value, char *why, size_t whylen)
{
    if (strcmp(key, "folder") == 0) {
        if (value[0] != '/') {
            snprintf(why, whylen, "receive route \"%s\": folder \"%s\" is not an absolute path; give it from /",
                     r->name, value);
            return -EINVAL;
        }
        return copy_value(r->folder, sizeof r->folder, value, r->name, key, why, whylen);
    }
    if (strcmp(key, "folder-name") == 0) {
        if (!template_ok(value)) {
            snprintf(why, whylen,
                     "receive route \"%s\": folder-name \"%s\": use a file name without '/' and only %%Y %%m %%d %%H %%M "
                     "%%S %%i %%c %%n %%%%", r->name, value);
            return -EINVAL;
        }
        return copy_value(r->folder_name, sizeof r->folder_name, value, r->name, key, why, whylen);
    }
    if (strcmp(key, "folder-format") == 0) {
        static const struct { const char *name; int bits; } formats[] = {
            {"pdf", ROUTE_FORMAT_PDF}, {"tiff", ROUTE_FORMAT_TIFF}, {"both", ROUTE_FORMAT_PDF | ROUTE_FORMAT_TIFF},
        };
        for (size_t i = 0; i < sizeof formats / sizeof formats[0]; i++)
            if (strcmp(value, formats[i].name) == 0) {
                r->folder_format = formats[i].bits;
                return 0;
            }
        snprintf(why, whylen, "receive route \"%s\": folder-format: use pdf, tiff or both, not \"%s\"", r->name, value);
        return -EINVAL;
    }
    if (strcmp(key, "folder-mode") == 0) {
        char *end;
        long m = strtol(value, &end, 8);
        if (!*value || *end || m < 0 || (m & ~0666L)) {
            snprintf(why, whylen, "receive route \"%s\": folder-mode \"%s\": give octal permissions without execute "
                     "or special bits, e.g. 0640", r->name, value);
            return -EINVAL;
        }
        r->folder_mode = (int)m;
        return 0;
    }
    /* folder-owner */
    if (!plain_name(value)) {
        snprintf(why, whylen, "receive route \"%s\": folder-owner \"%s\" is not a user name", r->name, value);
        return -EINVAL;
    }
    return copy_value(r->folder_owner, sizeof r->folder_owner, value, r->name, key, why, whylen);
}

int receive_route_set(struct receive_routes *t, const char *name, const char *key, const char *value, char *why,
                      size_t whylen)
{
    if (!plain_name(name) || strlen(name) >= JOB_ROUTE_MAX) {
        snprintf(why, whylen, "receive route name \"%s\": use up to %d letters, digits, '.', '_' or '-'", name,
                 JOB_ROUTE_MAX - 1);
        return -EINVAL;
    }
    if (has_control(value)) {
        snprintf(why, whylen, "receive route \"%s\": %s has control characters", name, key);
        return -EINVAL;
    }
    struct receive_route *r = route_named(t, name, why, whylen);
    if (!r)
        return -ENOSPC;
    if (!strcmp(key, "called") || !strcmp(key, "caller") || !strcmp(key, "csi"))
        return set_match(r, key, value, why, whylen);
    if (!strncmp(key, "folder", 6))
        return set_folder_key(r, key, value, why, whylen);
    if (!strcmp(key, "owner") || !strcmp(key, "group") || !strcmp(key, "print")) {
        if (!plain_name(value)) {
            snprintf(why, whylen, "receive route \"%s\": %s \"%s\": use a plain name (letters, digits, '.', '_', '-')",
                     name, key, value);
            return -EINVAL;
        }
        char *dst = !strcmp(key, "owner") ? r->owner : !strcmp(key, "group") ? r->group : r->print;
        return copy_value(dst, !strcmp(key, "print") ? sizeof r->print : sizeof r->owner, value, name, key, why,
                          whylen);
    }
    if (!strcmp(key, "mail")) {
        if (!mail_list_ok(value)) {
            snprintf(why, whylen, "receive route \"%s\": mail \"%s\": give addresses separated by commas, without "
                     "spaces, quotes or brackets", name, value);
            return -EINVAL;
        }
        return copy_value(r->mail, sizeof r->mail, value, name, key, why, whylen);
    }
    if (!strcmp(key, "command")) {
        if (!*value) {
            snprintf(why, whylen, "receive route \"%s\": command is empty", name);
            return -EINVAL;
        }
        return copy_value(r->command, sizeof r->command, value, name, key, why, whylen);
    }
    snprintf(why, whylen, "receive route \"%s\": unknown key \"%s\"", name, key);
    return -EINVAL;
}

int receive_routes_check(const struct receive_routes *t, char *why, size_t whylen)
{
    for (int i = 0; i < t->n; i++) {
        const struct receive_route *r = &t->route[i];
        if (!r->folder[0] && (r->folder_name[0] || r->folder_format || r->folder_owner[0] || r->folder_mode >= 0)) {
            snprintf(why, whylen, "receive route \"%s\": folder-* settings without folder; add folder = DIRECTORY",
                     r->name);
            return -EINVAL;
        }
        if (r->folder[0] && !r->folder_owner[0] && !r->owner[0]) {
            snprintf(why, whylen, "receive route \"%s\": a folder needs folder-owner (or owner): the user the file is "
                     "written as", r->name);
            return -EINVAL;
        }
    }
    return 0;
}

static bool number_key_matches(const char *pattern, const char *number)
{
    if (!pattern[0])
        return true;
    if (!number || !number[0])
        return strcmp(pattern, "*") == 0;
    return number_pattern_matches(pattern, number);
}

const struct receive_route *receive_route_match(const struct receive_routes *t, const char *called,
                                                const char *caller, const char *csi)
{
    for (int i = 0; i < t->n; i++) {
        const struct receive_route *r = &t->route[i];
        if (number_key_matches(r->called, called) && number_key_matches(r->caller, caller) &&
            (!r->csi[0] || fnmatch(r->csi, csi ? csi : "", 0) == 0))
            return r;
    }
    return NULL;
}

static void add_delivery(struct job_delivery *out, int max, int *n, const char *action, const char *target)
{
    if (*n >= max)
        return;
    struct job_delivery *d = &out[(*n)++];
    memset(d, 0, sizeof *d);
    snprintf(d->action, sizeof d->action, "%s", action);
    snprintf(d->target, sizeof d->target, "%s", target);
    d->state = JD_PENDING;
}

int receive_route_deliveries(const struct receive_route *r, struct job_delivery *out, int max)
{
    int n = 0;
    if (r->folder[0])
        add_delivery(out, max, &n, "folder", r->folder);
    if (r->print[0])
        add_delivery(out, max, &n, "print", r->print);
    if (r->command[0])
        add_delivery(out, max, &n, "command", r->name);
    if (r->mail[0])
        add_delivery(out, max, &n, "mail", r->mail);
    return n;
}

static void put_number(char *dst, size_t size, const char *number)
{
    size_t k = 0;
    for (const char *p = number; *p && k + 1 < size; p++)
        if ((*p >= '0' && *p <= '9') || *p == '+')
            dst[k++] = *p;
    dst[k] = '\0';
    if (k == 0)
        snprintf(dst, size, "unknown");
}

int receive_route_file_name(const char *tmpl, const struct job *j, const char *ext, char *out, size_t outlen)
{
    time_t when = (time_t)j->submitted;
    struct tm tm;
    size_t len = 0;
    char piece[JOB_NUMBER_MAX + 8];

    localtime_r(&when, &tm);
    if (!tmpl || !tmpl[0])
        tmpl = RECEIVE_ROUTE_DEFAULT_NAME;
    size_t tlen = strlen(tmpl);
    /* A template that names its own extension gets the format's instead. */
    if (tlen > 4 && (!strcmp(tmpl + tlen - 4, ".pdf") || !strcmp(tmpl + tlen - 4, ".tif")))
        tlen -= 4;
    for (size_t i = 0; i < tlen; i++) {
        if (tmpl[i] != '%' || i + 1 >= tlen) {
            piece[0] = tmpl[i];
            piece[1] = '\0';
        } else {
            char c = tmpl[++i];
            switch (c) {
            case 'Y': snprintf(piece, sizeof piece, "%04d", tm.tm_year + 1900); break;
            case 'm': snprintf(piece, sizeof piece, "%02d", tm.tm_mon + 1); break;
            case 'd': snprintf(piece, sizeof piece, "%02d", tm.tm_mday); break;
            case 'H': snprintf(piece, sizeof piece, "%02d", tm.tm_hour); break;
            case 'M': snprintf(piece, sizeof piece, "%02d", tm.tm_min); break;
            case 'S': snprintf(piece, sizeof piece, "%02d", tm.tm_sec); break;
            case 'i': snprintf(piece, sizeof piece, "%llu", (unsigned long long)j->id); break;
            case 'c': put_number(piece, sizeof piece, j->caller_id); break;
            case 'n': put_number(piece, sizeof piece, j->called_number); break;
            default: piece[0] = c == '%' ? '%' : '_'; piece[1] = '\0'; break;
            }
        }
        size_t pl = strlen(piece);
        if (len + pl + 1 > outlen)
            return -ENAMETOOLONG;
        memcpy(out + len, piece, pl + 1);
        len += pl;
    }
    size_t el = strlen(ext ? ext : "");
    if (len + el + 1 > outlen || len + el > 255)
        return -ENAMETOOLONG;
    memcpy(out + len, ext ? ext : "", el + 1);
    /* A name starting with '.' would hide or (".." alone) escape. */
    if (out[0] == '.')
        out[0] = '_';
    return 0;
}

int delivery_policy_parse_delays(struct delivery_policy *p, const char *list, char *why, size_t whylen)
{
    struct delivery_policy np = *p;
    np.ndelays = 0;
    const char *s = list;
    while (*s) {
        char *end;
        long v = strtol(s, &end, 10);
        if (end == s || v < 1 || v > 7 * 86400 || (*end && *end != ',') || np.ndelays == DELIVERY_DELAYS_MAX) {
            snprintf(why, whylen, "\"%s\": give up to %d delays in seconds (1 to 604800), separated by commas, e.g. %s",
                     list, DELIVERY_DELAYS_MAX, DELIVERY_DEFAULT_DELAYS);
            return -EINVAL;
        }
        np.delays[np.ndelays++] = (int)v;
        s = *end ? end + 1 : end;
    }
    if (np.ndelays == 0) {
        snprintf(why, whylen, "no delays given; e.g. %s", DELIVERY_DEFAULT_DELAYS);
        return -EINVAL;
    }
    *p = np;
    return 0;
}

void delivery_after_try(struct job_delivery *d, const struct delivery_policy *p, int64_t now, enum delivery_try outcome,
                        const char *error)
{
    if (d->first_try == 0)
        d->first_try = now;
    d->attempts++;
    snprintf(d->error, sizeof d->error, "%s", outcome == DELIVERY_TRY_OK || !error ? "" : error);
    if (outcome == DELIVERY_TRY_OK) {
        d->state = JD_DONE;
        d->next_try = 0;
        return;
    }
    int k = d->attempts - 1 < p->ndelays ? d->attempts - 1 : p->ndelays - 1;
    int64_t next = now + (p->ndelays > 0 ? p->delays[k < 0 ? 0 : k] : 60);
    if (outcome == DELIVERY_TRY_PERMANENT || next - d->first_try > p->give_up_s) {
        d->state = JD_FAILED;
        d->next_try = 0;
        return;
    }
    d->state = JD_RETRYING;
    d->next_try = next;
}

bool delivery_due(const struct job_delivery *d, int64_t now)
{
    return (d->state == JD_PENDING || d->state == JD_RETRYING) && d->next_try <= now;
}

/*
 * recipients.c - the recipients file of a broadcast draft: one number per
 * line, an optional tab and name, '#' comments and blank lines. Only the
 * form is judged here; the dial rules judge each number at submit.
 */
#include "queue/queue.h"

#include <errno.h>
#include <stdbool.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

static int refuse(int *bad_line, int line, char *why, size_t whylen, int err, const char *fmt, const char *detail)
{
    char text[200];

    snprintf(text, sizeof text, fmt, detail);
    *bad_line = line;
    if (line > 0)
        snprintf(why, whylen, "recipients line %d: %s", line, text);
    else
        snprintf(why, whylen, "recipients: %s", text);
    return err;
}

/* The form only: the dial rules decide at submit what a number means. */
static bool looks_like_number(const char *s)
{
    bool digit = false;

    for (size_t i = 0; s[i]; i++) {
        if (s[i] >= '0' && s[i] <= '9')
            digit = true;
        else if (!strchr(" -.(),", s[i]) && !(s[i] == '+' && !digit))
            return false;
    }
    return digit;
}

int queue_parse_recipients(const char *text, size_t len, size_t max, struct queue_recipient **out, size_t *n_out,
                           int *bad_line, char *why, size_t whylen)
{
    struct queue_recipient *v = NULL;
    size_t n = 0, cap = 0, pos = 0;
    int line = 0, r = 0;

    *out = NULL;
    *n_out = 0;
    *bad_line = 0;
    if (max == 0)
        max = QUEUE_DEFAULT_MAX_RECIPIENTS;
    while (pos < len) {
        const char *s = text + pos;
        const char *nl = memchr(s, '\n', len - pos);
        size_t l = nl ? (size_t)(nl - s) : len - pos;
        pos += l + (nl ? 1 : 0);
        line++;
        if (l > 0 && s[l - 1] == '\r')
            l--;
        size_t b = 0;
        while (b < l && (s[b] == ' ' || s[b] == '\t'))
            b++;
        if (b == l || s[b] == '#')
            continue;
        for (size_t i = 0; i < l; i++)
            if ((unsigned char)s[i] < 0x20 && s[i] != '\t') {
                r = refuse(bad_line, line, why, whylen, -EINVAL, "%s", "a control character; one number per line, "
                           "optionally a tab and a name");
                goto fail;
            }
        const char *tab = memchr(s + b, '\t', l - b);
        size_t numlen = tab ? (size_t)(tab - (s + b)) : l - b;
        while (numlen > 0 && s[b + numlen - 1] == ' ')
            numlen--;
        char typed[JOB_NUMBER_MAX];
        if (numlen >= sizeof typed) {
            r = refuse(bad_line, line, why, whylen, -EINVAL, "%s", "the number is too long; fix or remove the line");
            goto fail;
        }
        memcpy(typed, s + b, numlen);
        typed[numlen] = '\0';
        if (!looks_like_number(typed)) {
            r = refuse(bad_line, line, why, whylen, -EINVAL, "\"%.40s\" is not a number (digits, spaces, dashes, "
                       "dots, parentheses, ',' pauses and a leading +); fix or remove the line", typed);
            goto fail;
        }
        if (n == max) {
            char lim[32];
            snprintf(lim, sizeof lim, "%zu", max);
            r = refuse(bad_line, line, why, whylen, -E2BIG,
                       "more than %s recipients (--max-recipients); split the broadcast", lim);
            goto fail;
        }
        if (n == cap) {
            size_t nc = cap ? cap * 2 : 64;
            struct queue_recipient *p = realloc(v, nc * sizeof *p);
            if (p == NULL) {
                r = refuse(bad_line, 0, why, whylen, -ENOMEM, "%s", "out of memory; try again later");
                goto fail;
            }
            v = p;
            cap = nc;
        }
        struct queue_recipient *e = &v[n];
        memset(e, 0, sizeof *e);
        snprintf(e->number, sizeof e->number, "%s", typed);
        e->line = line;
        if (tab) {
            const char *nm = tab + 1;
            size_t nmlen = l - (size_t)(nm - s);
            while (nmlen > 0 && (*nm == ' ' || *nm == '\t'))
                nm++, nmlen--;
            while (nmlen > 0 && (nm[nmlen - 1] == ' ' || nm[nmlen - 1] == '\t'))
                nmlen--;
            if (nmlen >= sizeof e->name) {
                r = refuse(bad_line, line, why, whylen, -EINVAL, "the name is longer than %s bytes; shorten it", "127");
                goto fail;
            }
            memcpy(e->name, nm, nmlen);
            e->name[nmlen] = '\0';
        }
        n++;
    }
    if (n == 0) {
        r = refuse(bad_line, 0, why, whylen, -EINVAL, "%s",
                   "no number in the file; write one number per line, or remove the recipients file");
        goto fail;
    }
    *out = v;
    *n_out = n;
    return 0;
fail:
    free(v);
    return r;
}

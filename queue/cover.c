/*
 * cover.c - writes the PostScript program of a cover page. User text only
 * ever appears inside escaped string literals, and the program itself
 * uses nothing but fonts and drawing, so it renders the same under
 * Ghostscript's -dSAFER whatever the fields contain.
 */
#include "queue/cover.h"

#include <errno.h>
#include <stdarg.h>
#include <stdbool.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <time.h>

struct ps {
    char *data;
    size_t len, cap;
    bool failed;
};

static void ps_bytes(struct ps *p, const char *s, size_t n)
{
    if (p->failed)
        return;
    if (p->len + n + 1 > p->cap) {
        size_t cap = p->cap ? p->cap : 4096;
        while (p->len + n + 1 > cap)
            cap *= 2;
        char *d = realloc(p->data, cap);
        if (d == NULL) {
            p->failed = true;
            return;
        }
        p->data = d;
        p->cap = cap;
    }
    memcpy(p->data + p->len, s, n);
    p->len += n;
    p->data[p->len] = '\0';
}

#define PS_LITERAL(p, s) ps_bytes(p, s, sizeof s - 1)

static void ps_printf(struct ps *p, const char *fmt, ...) __attribute__((format(printf, 2, 3)));
static void ps_printf(struct ps *p, const char *fmt, ...)
{
    char tmp[256];
    va_list ap;

    va_start(ap, fmt);
    int n = vsnprintf(tmp, sizeof tmp, fmt, ap);
    va_end(ap);
    if (n > 0)
        ps_bytes(p, tmp, (size_t)n < sizeof tmp ? (size_t)n : sizeof tmp - 1);
}

/* Next character of UTF-8 text as Latin-1 ('?' outside it or when the
 * bytes are not UTF-8); advances *s. */
static unsigned char next_latin1(const char **s)
{
    const unsigned char *u = (const unsigned char *)*s;

    if (u[0] < 0x80) {
        *s += 1;
        return u[0];
    }
    int extra = (u[0] & 0xe0) == 0xc0 ? 1 : (u[0] & 0xf0) == 0xe0 ? 2 : (u[0] & 0xf8) == 0xf0 ? 3 : 0;
    unsigned cp = extra == 1 ? u[0] & 0x1fu : extra == 2 ? u[0] & 0x0fu : u[0] & 0x07u;
    int i = 1;
    for (; i <= extra && (u[i] & 0xc0) == 0x80; i++)
        cp = cp << 6 | (u[i] & 0x3fu);
    *s += i; /* a bad sequence is consumed up to the bad byte */
    return extra > 0 && i == extra + 1 && cp >= 0xa0 && cp <= 0xff ? (unsigned char)cp : '?';
}

/* A PostScript string literal of at most max characters of s. */
static void ps_string(struct ps *p, const char *s, size_t max)
{
    PS_LITERAL(p, "(");
    for (size_t n = 0; *s != '\0' && n < max; n++) {
        unsigned char c = next_latin1(&s);
        if (c == '(' || c == ')' || c == '\\')
            ps_printf(p, "\\%c", c);
        else if (c < 0x20 || c >= 0x7f)
            ps_printf(p, "\\%03o", c);
        else
            ps_bytes(p, (const char *)&c, 1);
    }
    PS_LITERAL(p, ")");
}

static const char prologue[] =
    "%!PS-Adobe-3.0\n"
    "%%Pages: 1\n"
    "%%EndComments\n"
    "/latin1 { findfont dup length dict begin { 1 index /FID ne { def } { pop pop } ifelse } forall\n"
    "  /Encoding ISOLatin1Encoding def currentdict end definefont pop } bind def\n"
    "/Body /Helvetica latin1\n"
    "/Bold /Helvetica-Bold latin1\n"
    "/field { /value exch def /label exch def /y y 22 sub def\n"
    "  /Bold findfont 12 scalefont setfont 72 y moveto label show\n"
    "  /Body findfont 12 scalefont setfont 190 y moveto value show } bind def\n"
    "/line { /y y 15 sub def 72 y moveto show } bind def\n"
    "<< /PageSize [595 842] >> setpagedevice\n";

/* Each page's own start, after the prologue. */
static const char page_head[] =
    "/Bold findfont 40 scalefont setfont 72 740 moveto (FAX) show\n"
    "4 setlinewidth 72 725 moveto 523 725 lineto stroke\n"
    "/y 700 def\n";

static void field(struct ps *p, const char *label, const char *value)
{
    if (value[0] == '\0')
        return;
    ps_string(p, label, 40);
    PS_LITERAL(p, " ");
    ps_string(p, value, COVER_LINE_CHARS - 10);
    PS_LITERAL(p, " field\n");
}

/* Length in bytes of the next line of at most COVER_LINE_CHARS characters
 * of text, broken at a space when there is one; *skip is what to drop
 * after it (the newline or space). */
static size_t wrap(const char *text, size_t *skip)
{
    const char *s = text, *last_space = NULL;
    size_t chars = 0;

    *skip = 0;
    while (*s != '\0' && *s != '\n' && chars < COVER_LINE_CHARS) {
        if (*s == ' ')
            last_space = s;
        next_latin1(&s);
        chars++;
    }
    if (*s == '\n' || *s == '\0') {
        *skip = *s == '\n';
        return (size_t)(s - text);
    }
    if (last_space != NULL && last_space > text) {
        *skip = 1;
        return (size_t)(last_space - text);
    }
    return (size_t)(s - text);
}

static void comment_lines(struct ps *p, const char *comment)
{
    char buf[COVER_LINE_CHARS * 4 + 1];
    int lines = 0;

    if (comment == NULL || comment[0] == '\0')
        return;
    PS_LITERAL(p, "/y y 20 sub def /Body findfont 11 scalefont setfont\n");
    while (*comment != '\0') {
        size_t skip, n = wrap(comment, &skip);
        if (++lines > COVER_COMMENT_LINES) {
            PS_LITERAL(p, "(...) line\n");
            return;
        }
        memcpy(buf, comment, n);
        buf[n] = '\0';
        ps_string(p, buf, COVER_LINE_CHARS);
        PS_LITERAL(p, " line\n");
        comment += n + skip;
    }
}

/* One job's page: its fields and the comment, then showpage. */
static void cover_page(struct ps *p, const struct job *job, int total_pages, const char *comment)
{
    char date[64] = "", pages[64];
    time_t t = (time_t)job->submitted;
    struct tm tm;

    if (localtime_r(&t, &tm) != NULL)
        strftime(date, sizeof date, "%Y-%m-%d %H:%M", &tm);
    snprintf(pages, sizeof pages, "%d, including this cover page", total_pages);
    ps_bytes(p, page_head, sizeof page_head - 1);
    field(p, "To:", job->recipient_name);
    field(p, "Fax number:", job->recipient_number);
    PS_LITERAL(p, "/y y 12 sub def\n");
    field(p, "From:", job->sender_name);
    field(p, "Company:", job->sender_company);
    field(p, "Department:", job->sender_department);
    PS_LITERAL(p, "/y y 12 sub def\n");
    field(p, "Date:", date);
    field(p, "Pages:", pages);
    comment_lines(p, comment);
    PS_LITERAL(p, "showpage\n");
}

static int ps_done(struct ps *p, char **out, size_t *len)
{
    if (p->failed) {
        free(p->data);
        return -ENOMEM;
    }
    *out = p->data;
    *len = p->len;
    return 0;
}

int cover_page_program(const struct job *job, int total_pages, const char *comment, char **out, size_t *len)
{
    struct ps p = {0};

    ps_bytes(&p, prologue, sizeof prologue - 1);
    cover_page(&p, job, total_pages, comment);
    PS_LITERAL(&p, "%%EOF\n");
    return ps_done(&p, out, len);
}

int cover_pages_program(const struct job *jobs, size_t n, int total_pages, const char *comment, char **out,
                        size_t *len)
{
    struct ps p = {0};

    ps_bytes(&p, prologue, sizeof prologue - 1);
    for (size_t i = 0; i < n; i++)
        cover_page(&p, &jobs[i], total_pages, comment);
    PS_LITERAL(&p, "%%EOF\n");
    return ps_done(&p, out, len);
}

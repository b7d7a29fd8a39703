/*
 * fuzz_report.c - libFuzzer target for pdf_write_report(): the bytes are
 * the report's title and values, NUL separated, as a job's outside fields
 * bring them (the remote's CSI, names, numbers, error texts). The PDF is
 * read back in-process: it starts with %PDF and ends with %%EOF, startxref
 * points at the xref table, every xref offset at "N 0 obj", every stream's
 * /Length matches its data, and every string literal holds only printable
 * ASCII and ends where the writer ended it (before " Tj" or the Info
 * dictionary's ">>"): no value escapes its literal.
 */
#include <stdint.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/mman.h>
#include <sys/stat.h>
#include <unistd.h>

#include "queue/pdf.h"

int LLVMFuzzerTestOneInput(const uint8_t *data, size_t size);

/* The labels engine_read.c gives a job's report; the values are the input's. */
static const char *const labels[] = {
    "Result", "Error", "Job", "Recipient", "Number", "Dialed", "Remote station", "Sender", "Submitted", "Finished",
    "Call length", "Pages", "Attempts", "Speed", "ECM", "Line", "Billing code", "Comment", "Extra 1", "Extra 2",
};

/* The xref table; the objects' offsets go to offs (at most max). */
static long check_xref(const char *pdf, size_t len, unsigned long long *offs, long max)
{
    const char *sx = NULL;
    for (const char *p = pdf; (p = memmem(p, len - (size_t)(p - pdf), "startxref\n", 10)) != NULL; p++)
        sx = p; /* the trailer's is the last: a value cannot hold a newline */
    if (sx == NULL)
        abort();
    unsigned long long xref = strtoull(sx + 10, NULL, 10);
    if (xref >= len || strncmp(pdf + xref, "xref\n0 ", 7) != 0)
        abort();
    char *end;
    long n = strtol(pdf + xref + 7, &end, 10);
    if (n < 2 || n - 1 > max || *end != '\n')
        abort();
    const char *e = end + 1 + 20; /* entry 0, the free list head */
    for (long i = 1; i < n; i++, e += 20) {
        if ((size_t)(e + 20 - pdf) > len || e[10] != ' ' || memcmp(e + 16, " n \n", 4) != 0)
            abort();
        unsigned long long off = strtoull(e, NULL, 10);
        char want[32];
        int k = snprintf(want, sizeof want, "%ld 0 obj\n", i);
        if (off + (size_t)k > len || memcmp(pdf + off, want, (size_t)k) != 0)
            abort();
        offs[i - 1] = off + (size_t)k;
    }
    return n - 1;
}

/* An object that is a stream: its /Length is the data up to endstream. */
static void check_stream(const char *pdf, size_t len, unsigned long long at)
{
    if (at + 11 > len || memcmp(pdf + at, "<< /Length ", 11) != 0)
        return;
    char *end;
    unsigned long long n = strtoull(pdf + at + 11, &end, 10);
    if (strncmp(end, " >>\nstream\n", 11) != 0)
        abort();
    const char *s = end + 11;
    size_t left = len - (size_t)(s - pdf);
    if (n > left || left - n < 17 || memcmp(s + n, "endstream\nendobj\n", 17) != 0)
        abort();
}

/* Every literal: printable ASCII only, escapes of ( ) \ and octal, and
 * followed by what the writer puts after one. Returns how many. */
static size_t check_literals(const char *pdf, size_t len)
{
    const char *p = memchr(pdf, '\n', len);
    p = p ? memchr(p + 1, '\n', len - (size_t)(p + 1 - pdf)) : NULL; /* past the binary comment */
    size_t count = 0;
    if (p == NULL)
        abort();
    for (; p < pdf + len; p++) {
        if (*p != '(')
            continue;
        p++;
        while (p < pdf + len && *p != ')') {
            unsigned char c = (unsigned char)*p;
            if (c < 0x20 || c > 0x7e)
                abort();
            if (c == '(')
                abort(); /* the writer escapes every parenthesis */
            if (c == '\\') {
                p++;
                if (p >= pdf + len)
                    abort();
                if (*p >= '0' && *p <= '7') {
                    if (p + 3 > pdf + len || p[1] < '0' || p[1] > '7' || p[2] < '0' || p[2] > '7')
                        abort();
                    p += 2;
                } else if (*p != '(' && *p != ')' && *p != '\\') {
                    abort();
                }
            }
            p++;
        }
        if (p >= pdf + len)
            abort();
        size_t rest = len - (size_t)(p + 1 - pdf);
        if (!(rest >= 7 && memcmp(p + 1, " Tj ET\n", 7) == 0) && !(rest >= 3 && memcmp(p + 1, " >>", 3) == 0) &&
            !(rest >= 15 && memcmp(p + 1, " /CreationDate ", 15) == 0))
            abort();
        count++;
    }
    return count;
}

int LLVMFuzzerTestOneInput(const uint8_t *data, size_t size)
{
    char *copy = malloc(size + 1), why[256] = "";
    struct pdf_report_line lines[PDF_REPORT_MAX_LINES];
    size_t nlines = 0;
    int out = memfd_create("report", MFD_CLOEXEC);
    struct stat st;
    char *pdf = NULL;

    if (copy == NULL || out < 0)
        goto done;
    memcpy(copy, data, size);
    copy[size] = '\0';
    const char *title = copy;
    for (char *p = copy + strlen(copy); p < copy + size && nlines < PDF_REPORT_MAX_LINES; p += strlen(p)) {
        p++;
        lines[nlines] = (struct pdf_report_line){labels[nlines], p};
        nlines++;
    }
    int r = pdf_write_report(title, lines, nlines, -1, out, why, sizeof why);
    if (r != 0) {
        if (why[0] == '\0')
            abort();
        goto done;
    }
    if (fstat(out, &st) != 0 || st.st_size < 16 || (pdf = malloc((size_t)st.st_size + 1)) == NULL ||
        pread(out, pdf, (size_t)st.st_size, 0) != st.st_size)
        abort();
    size_t len = (size_t)st.st_size;
    pdf[len] = '\0';
    if (memcmp(pdf, "%PDF-1.", 7) != 0 || memcmp(pdf + len - 6, "%%EOF\n", 6) != 0)
        abort();
    unsigned long long offs[16];
    long nobj = check_xref(pdf, len, offs, 16);
    for (long i = 0; i < nobj; i++)
        check_stream(pdf, len, offs[i]);
    if (check_literals(pdf, len) < 3) /* the title, the Info's producer and date */
        abort();
done:
    free(pdf);
    free(copy);
    if (out >= 0)
        close(out);
    return 0;
}

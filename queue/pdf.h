/*
 * pdf.h - a job's fax pages as one PDF (fax.pdf): each page one image
 * whose CCITT T.4/T.6 data is copied as stored, so the PDF is about the
 * size of the TIFF pages and looks exactly like them. Written in one pass
 * to an fd; only one strip's worth of bytes is held at a time.
 */
#ifndef FAXFS_QUEUE_PDF_H
#define FAXFS_QUEUE_PDF_H

#include <stddef.h>
#include <stdint.h>

/* Pages larger than this are refused (our stored pages are far smaller). */
#define PDF_MAX_COLUMNS 10000
#define PDF_MAX_ROWS 100000

/* What pdf_write_fax_counted() did. */
struct pdf_result {
    size_t pages;      /* pages written */
    size_t reencoded;  /* pages whose data could not be embedded as stored:
                          decoded and encoded again as G4 (e.g. a G4 page in
                          several strips, an uncompressed page) */
    uint64_t bytes;    /* of the whole PDF */
};

/* Writes a PDF of single-page fax TIFFs (page_fds[i] read from offset 0) to out_fd:
 * one page per TIFF, its CCITT data embedded as-is. 0 or -errno with a sentence. */
int pdf_write_fax(const int *page_fds, size_t npages, int out_fd, char *why, size_t whylen);

/* The same, telling what was done (res may be NULL). Errors: -EINVAL a
 * page that is not a readable 1-bit TIFF (why names the page), -ENOMEM,
 * or the -errno of writing out_fd. */
int pdf_write_fax_counted(const int *page_fds, size_t npages, int out_fd, struct pdf_result *res, char *why,
                          size_t whylen);

/* One line of a transmission report: a label and its value (UTF-8; what
 * Helvetica's WinAnsiEncoding lacks prints as '?'; long values wrap). */
struct pdf_report_line {
    const char *label;
    const char *value;
};
#define PDF_REPORT_MAX_LINES 20

/* Writes a one-page A4 report to out_fd: title, the lines, and, when
 * page_fd >= 0, that fax page drawn small below them (its CCITT data
 * embedded as in pdf_write_fax; a PDF viewer scales it). Text in the
 * standard Helvetica fonts, nothing embedded. 0 or -errno with a sentence:
 * -EINVAL a page that is not a 1-bit TIFF or too many lines, -ENOMEM, or
 * the -errno of writing out_fd. */
int pdf_write_report(const char *title, const struct pdf_report_line *lines, size_t nlines, int page_fd, int out_fd,
                     char *why, size_t whylen);
/* Pages handed over one at a time, so a job of a thousand pages holds one
 * page file open, not a thousand: open(ctx, index) returns a fd of page
 * index (0-based), which the writer closes after that page, or -errno. */
struct pdf_pages {
    size_t count;
    int (*open)(void *ctx, size_t index);
    void *ctx;
};
int pdf_write_fax_pages(const struct pdf_pages *pages, int out_fd, struct pdf_result *res, char *why,
                        size_t whylen);

#endif

/*
 * document.h - intake of a submitted document: fax TIFFs are checked and
 * each page rewritten as its own single-page CCITT G4 TIFF; PDF and
 * PostScript (rendered by Ghostscript), PNG, JPEG and other TIFFs are
 * converted to such pages first (docs/documents.md). Bad input is refused
 * with a sentence naming the page and the fix; the pages written so far
 * are the caller's to discard. document_split() parses the user's bytes
 * and runs only in the sandboxed converter; the daemon takes its pages
 * through document_accept_page().
 */
#ifndef FAXFS_QUEUE_DOCUMENT_H
#define FAXFS_QUEUE_DOCUMENT_H

#include <stddef.h>
#include <stdint.h>

#define DOCUMENT_MAX_ROWS 8000   /* per page: a long legal page at 391 dpi fits */
#define DOCUMENT_MAX_PAGES 999   /* per document */

/* Where pages go: page_fd returns a new writable fd for the page with
 * that index (0-based, counted over the whole job); document_split closes
 * it. */
struct document_sink {
    int (*page_fd)(void *ctx, int index);
    void *ctx;
};

enum document_type { DOC_UNKNOWN, DOC_TIFF, DOC_PDF, DOC_POSTSCRIPT, DOC_PNG, DOC_JPEG };

/* By its first bytes, never by a name. */
enum document_type document_sniff(int fd);

struct document_options {
    uint64_t max_bytes;      /* of the document, and of Ghostscript's output */
    int resolution;          /* JOB_RES_* of converted pages; 0: fine */
    const char *ghostscript; /* NULL: PDF and PostScript are refused */
    int render_seconds;      /* Ghostscript's time limit; 0: QUEUE_DEFAULT_RENDER_SECONDS */
    /* A read-write scratch file for rendered pages, or -errno; NULL: an
     * anonymous memory file. */
    int (*scratch_fd)(void *ctx);
    void *scratch_ctx;
};

struct document_result {
    int pages;      /* pages written */
    uint64_t bytes; /* bytes of page data written */
};

/*
 * Reads the whole document from fd (from offset 0; fd stays the caller's),
 * writing its pages from first_index on. Returns 0, or with a sentence in
 * why: -EINVAL (not an acceptable document), -EFBIG (over max_bytes, or
 * rendering to more), -ETIMEDOUT (rendering took too long), -ENOENT
 * (Ghostscript missing), -ENOMEM, -ENOSPC / -EIO (writing failed).
 */
int document_split(int fd, const struct document_options *opt, int first_index, const struct document_sink *sink,
                   struct document_result *res, char *why, size_t whylen);

/*
 * The daemon's check of one page made by the converter: fd must hold a
 * TIFF of exactly one fax page (1-bit, fax width and resolution), every
 * scanline of which decodes; it is written again as page index of sink.
 * No picture decoder runs. Returns 0 (bytes: what was written) or -EINVAL
 * with a sentence, or the sink's write error.
 */
int document_accept_page(int fd, int index, const struct document_sink *sink, uint64_t *bytes, char *why,
                         size_t whylen);

#endif

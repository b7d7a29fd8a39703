/*
 * document.h - intake of a submitted document: checks that it is a fax
 * TIFF the modems can send, and rewrites each page as its own single-page
 * CCITT G4 TIFF. Bad input is refused with a sentence naming the page and
 * the fix; the pages written so far are the caller's to discard.
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

struct document_result {
    int pages;      /* pages written */
    uint64_t bytes; /* bytes of page data written */
};

/*
 * Reads the whole document from fd (from offset 0; fd stays the caller's),
 * writing its pages from first_index on. Returns 0, or -EINVAL (not an
 * acceptable fax TIFF), -EFBIG (over max_bytes), -ENOSPC / -EIO (writing
 * failed), with a sentence in why.
 */
int document_split(int fd, uint64_t max_bytes, int first_index, const struct document_sink *sink,
                   struct document_result *res, char *why, size_t whylen);

#endif

/*
 * document_internal.h - what the fax TIFF intake (document.c) shares with
 * the converter's document_split (document_convert.c): one struct per
 * document being split, the sentence helpers, and the TIFF splitter that
 * hands pictures to a converter-supplied function (NULL in the daemon,
 * which accepts fax pages only).
 */
#ifndef FAXFS_QUEUE_DOCUMENT_INTERNAL_H
#define FAXFS_QUEUE_DOCUMENT_INTERNAL_H

#include "queue/document.h"

#include <stdbool.h>
#include <stdint.h>

struct split;

/* Converts the current TIFF directory (a page that is not a fax page) into
 * one fax page written to outfd, which it consumes. tif is a TIFF *. */
typedef int (*document_picture_fn)(struct split *sp, void *tif, int page, int outfd, uint64_t *bytes);

struct split {
    char *why;
    size_t whylen;
    char tiff_error[160]; /* libtiff's first complaint, for the daemon log */
    const struct document_options *opt;
    document_picture_fn picture; /* NULL: a page that is not a fax page is refused */
    int max_pages;               /* pages this TIFF may hold */
};

int document_refuse(struct split *sp, int err, const char *fmt, ...) __attribute__((format(printf, 3, 4)));
/* "page N could not be stored: ..." from errno. */
int document_write_error(struct split *sp, int page);
int document_split_tiff(struct split *sp, int fd, int first_index, const struct document_sink *sink,
                        struct document_result *res);

#endif

/*
 * cover.h - the cover page of a send job, written as a small PostScript
 * program that render.c turns into a fax page like any other document.
 */
#ifndef FAXFS_QUEUE_COVER_H
#define FAXFS_QUEUE_COVER_H

#include <stddef.h>

#include "queue/queue.h"

#define COVER_COMMENT_LINES 40 /* more comment is cut, marked with "..." */
#define COVER_LINE_CHARS 80

/* The program for job's cover page (recipient, sender, date of
 * submission, total_pages counting the cover, the comment), malloc'd into
 * *out. Every text is a PostScript string literal with (, ), \ and all
 * non-ASCII bytes escaped, so no field can run PostScript. UTF-8 text is
 * shown in Latin-1; other characters become '?'. 0 or -ENOMEM. */
int cover_page_program(const struct job *job, int total_pages, const char *comment, char **out, size_t *len);
/* The cover pages of n jobs (a broadcast's recipients) as one program of
 * n pages, page i job i's: the prologue (fonts, page size) once, so one
 * Ghostscript run renders them all at a few ms a page. */
int cover_pages_program(const struct job *jobs, size_t n, int total_pages, const char *comment, char **out,
                        size_t *len);

#endif

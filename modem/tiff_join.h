/*
 * tiff_join.h - one multi-page TIFF per call from the job's single-page
 * fax TIFFs (spandsp sends one file). Strips are copied raw: no decoding.
 */
#ifndef FAXFS_MODEM_TIFF_JOIN_H
#define FAXFS_MODEM_TIFF_JOIN_H

#include <stddef.h>

/* Writes pages[0..count-1] into a new file at out_path (created, never
 * overwritten in place). Returns 0 or -errno with a sentence in err
 * naming the page and the fix. */
int tiff_join_pages(const char *out_path, const char *const *pages, int count,
                    int first_page_number, char *err, size_t errlen);

#endif

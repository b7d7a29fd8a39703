/*
 * tiff_join.h - one multi-page TIFF per call from the job's single-page
 * fax TIFFs (spandsp sends one file), and the reverse for received
 * documents. Strips are copied raw: no decoding.
 */
#ifndef FAXFS_MODEM_TIFF_JOIN_H
#define FAXFS_MODEM_TIFF_JOIN_H

#include <stddef.h>

/* Writes pages[0..count-1] into a new file at out_path (created, never
 * overwritten in place). Returns 0 or -errno with a sentence in err
 * naming the page and the fix. */
int tiff_join_pages(const char *out_path, const char *const *pages, int count,
                    int first_page_number, char *err, size_t errlen);

/* Copies page index (0-based) of src into a new single-page file at
 * out_path, strips as they are. src may still be growing (another
 * handle appends pages to it): it is read without mapping it. Returns 0
 * or -errno with a sentence in err. */
int tiff_extract_page(const char *src, int index, const char *out_path, char *err, size_t errlen);

#endif

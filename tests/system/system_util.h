/*
 * system_util.h - helpers shared by the system tests: fax TIFF documents
 * made on the fly, page comparison by decoded pixels, temp-dir cleanup.
 */
#ifndef FAXFS_SYSTEM_UTIL_H
#define FAXFS_SYSTEM_UTIL_H

#include <stddef.h>

/* A fax TIFF of `pages` pages, 1728 x rows, 204x196 dpi, G4, with a
 * page-specific pattern so pages differ from each other. */
int system_write_fax_tiff(const char *path, int pages, int rows);
int system_tiff_pages(const char *path);
/* 1 when page pa of a and page pb of b decode to the same pixels. The
 * receiver may show extra header rows on top: b may be taller than a by
 * up to 64 rows, and then a is compared against b's bottom rows. */
int system_tiff_page_pixels_equal(const char *a, int pa, const char *b, int pb);
/* The newest TIFF the simulated receiver stored for number. */
int system_latest_sim_file(const char *dir, const char *number, char *out, size_t outlen);
void system_remove_tree(const char *dir);

#endif

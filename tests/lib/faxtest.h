/*
 * faxtest.h - fax files for the tests of every tier: fax TIFFs written on
 * the fly, pages decoded for comparison by pixels, the simulated network's
 * received files, temporary trees. One writer, so every tier sends the
 * same kind of page.
 */
#ifndef FAXFS_TESTS_FAXTEST_H
#define FAXFS_TESTS_FAXTEST_H

#include <stddef.h>
#include <stdint.h>
#include <tiffio.h>

#define FAXTEST_WIDTH 1728 /* dots across a fax page */

/* Tags of one fax page on the current directory: FAXTEST_WIDTH x rows,
 * 1 bit, G4, min-is-white, 204x196 dpi, one strip; with pages > 0 also
 * PageNumber page of pages. */
void faxtest_page_tags(TIFF *t, uint32_t rows, int page, int pages);
/* A fax TIFF of `pages` pages of `rows` rows, each page with a pattern of
 * its own so pages differ from each other. 0 or -1. */
int faxtest_write(const char *path, int pages, int rows);
/* Pages in a TIFF, or -1 when it cannot be read. */
int faxtest_page_count(const char *path);
/* Page `page` (0-based) decoded to rows of width/8 bytes, 1 = black, or
 * NULL. The caller frees it. */
uint8_t *faxtest_load_page(const char *path, int page, uint32_t *width, uint32_t *rows);
/* The newest page file the simulated network stored for a number under
 * SIM_DIR/NUMBER/ (files are named by a growing counter). 0 or -1. */
int faxtest_latest_sim_file(const char *sim_dir, const char *number, char *out, size_t outlen);
/* Removes a directory tree (best effort). */
void faxtest_rmtree(const char *dir);

#endif

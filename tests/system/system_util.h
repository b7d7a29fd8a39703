/*
 * system_util.h - what the system tests add to tests/lib/faxtest.h: page
 * comparison that allows for the header rows a receiver adds.
 */
#ifndef FAXFS_SYSTEM_UTIL_H
#define FAXFS_SYSTEM_UTIL_H

#include "tests/lib/faxtest.h"

/* 1 when page pa of a and page pb of b decode to the same pixels. The
 * receiver may show extra header rows on top: b may be taller than a by
 * up to 64 rows, and then a is compared against b's bottom rows. */
int system_tiff_page_pixels_equal(const char *a, int pa, const char *b, int pb);

#endif

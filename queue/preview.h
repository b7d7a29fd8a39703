/*
 * preview.h - renders a stored fax page as a PNG for previews
 * (queue_page_png() in the public API wraps this).
 */
#ifndef FAXFS_QUEUE_PREVIEW_H
#define FAXFS_QUEUE_PREVIEW_H

#include <stdbool.h>
#include <stddef.h>

/* Reads the single-page 1-bit TIFF in page_fd (from offset 0; the fd stays
 * the caller's) and returns a malloc'd 1-bit greyscale PNG with square
 * pixels: standard-resolution rows are doubled, superfine row pairs are
 * merged. -EINVAL for a page that is not a 1-bit TIFF within the size
 * limits, -ENOMEM. */
int preview_page_png(int page_fd, unsigned char **png, size_t *len);

#endif

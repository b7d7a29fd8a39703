/*
 * raster.h - turns a grey picture into one fax page: fitted to the page
 * (1728 pixels across at 204 dpi, at most an A4 length down), reduced to
 * 1 bit, written as a single-page CCITT G4 TIFF.
 */
#ifndef FAXFS_QUEUE_RASTER_H
#define FAXFS_QUEUE_RASTER_H

#include <stdint.h>

#include "queue/image.h"

#define RASTER_FAX_WIDTH 1728
#define RASTER_FAX_X_DPI 204.0f

/* Vertical dots per inch of a JOB_RES_* value (fine for anything else). */
float raster_y_dpi(int resolution);

/* Output size of img on a fax page at resolution (exposed for tests). */
void raster_fit(const struct grey_image *img, int resolution, uint32_t *width, uint32_t *rows);

/* Writes the page into outfd and closes it; adds the bytes written to
 * *bytes. Returns 0, -ENOMEM, or -EIO / -ENOSPC from writing (errno). */
int raster_write_fax_page(const struct grey_image *img, int resolution, int outfd, uint64_t *bytes);

#endif

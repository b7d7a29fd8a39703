/*
 * image.h - decoders of submitted pictures (PNG, JPEG, TIFF pages that are
 * not fax pages) into one 8-bit grey raster, the common input of
 * raster.c. Every decoder checks the declared size against
 * IMAGE_MAX_PIXELS before it allocates or decodes anything.
 */
#ifndef FAXFS_QUEUE_IMAGE_H
#define FAXFS_QUEUE_IMAGE_H

#include <stddef.h>
#include <stdint.h>

/* 40 Mpixel: an A4 or Letter page scanned at 600 dpi fits (35 Mpixel);
 * the grey raster of the largest image is 40 MiB. */
#define IMAGE_MAX_PIXELS (40u << 20)
#define IMAGE_MAX_SIDE 65000u

struct grey_image {
    uint32_t width, height;
    float x_dpi, y_dpi;     /* 0 when the file does not say */
    unsigned char *pixels;  /* width * height, row by row; 0 black, 255 white */
};

void grey_image_free(struct grey_image *img);

/* Each reads the whole picture from fd (from offset 0; fd stays the
 * caller's). Returns 0, -EINVAL (damaged, unsupported or too large, with a
 * sentence naming the fix in why) or -ENOMEM. */
int image_decode_png(int fd, struct grey_image *out, char *why, size_t whylen);
int image_decode_jpeg(int fd, struct grey_image *out, char *why, size_t whylen);

/* The current directory of an open TIFF (any bit depth, colour model,
 * tiling), as page number page for messages. tif is a TIFF *. */
int image_decode_tiff_page(void *tif, int page, struct grey_image *out, char *why, size_t whylen);

/* The sentence for a picture over the size limits. */
int image_refuse_size(uint32_t width, uint32_t height, const char *what, char *why, size_t whylen);

#endif

/*
 * tiff_join.c - builds the per-call multi-page TIFF that spandsp sends.
 * Each input page is a single-page 1-bit fax TIFF; its compressed strips
 * are copied as they are, with the tags a fax reader needs. The output is
 * always a fresh file, so a file being sent is never rewritten.
 */
#include "modem/tiff_join.h"

#include <errno.h>
#include <stdint.h>
#include <stdio.h>
#include <stdlib.h>
#include <unistd.h>

#include <tiffio.h>

/* Tags copied verbatim when present, by type. */
static const ttag_t copy_u32_tags[] = { TIFFTAG_IMAGEWIDTH, TIFFTAG_IMAGELENGTH, TIFFTAG_ROWSPERSTRIP,
                                        TIFFTAG_GROUP3OPTIONS, TIFFTAG_GROUP4OPTIONS };
static const ttag_t copy_u16_tags[] = { TIFFTAG_BITSPERSAMPLE, TIFFTAG_SAMPLESPERPIXEL, TIFFTAG_COMPRESSION,
                                        TIFFTAG_PHOTOMETRIC, TIFFTAG_FILLORDER, TIFFTAG_RESOLUTIONUNIT,
                                        TIFFTAG_PLANARCONFIG, TIFFTAG_ORIENTATION };
static const ttag_t copy_float_tags[] = { TIFFTAG_XRESOLUTION, TIFFTAG_YRESOLUTION };

#define N(a) (sizeof(a) / sizeof((a)[0]))

static int copy_tags(TIFF *in, TIFF *out)
{
    for (size_t i = 0; i < N(copy_u32_tags); i++) {
        uint32_t v;
        if (TIFFGetField(in, copy_u32_tags[i], &v) && !TIFFSetField(out, copy_u32_tags[i], v))
            return -EIO;
    }
    for (size_t i = 0; i < N(copy_u16_tags); i++) {
        uint16_t v;
        if (TIFFGetField(in, copy_u16_tags[i], &v) && !TIFFSetField(out, copy_u16_tags[i], v))
            return -EIO;
    }
    for (size_t i = 0; i < N(copy_float_tags); i++) {
        float v;
        if (TIFFGetField(in, copy_float_tags[i], &v) && !TIFFSetField(out, copy_float_tags[i], v))
            return -EIO;
    }
    return 0;
}

/* Copies one page's compressed strips; the buffer is reused across strips. */
static int copy_strips(TIFF *in, TIFF *out, uint8_t **buf, tmsize_t *cap)
{
    uint32_t strips = TIFFNumberOfStrips(in);
    for (uint32_t s = 0; s < strips; s++) {
        tmsize_t len = (tmsize_t)TIFFRawStripSize(in, s);
        if (len < 0)
            return -EIO;
        if (len > *cap) {
            uint8_t *n = realloc(*buf, (size_t)len);
            if (!n)
                return -ENOMEM;
            *buf = n;
            *cap = len;
        }
        if (TIFFReadRawStrip(in, s, *buf, len) != len || TIFFWriteRawStrip(out, s, *buf, len) != len)
            return -EIO;
    }
    return 0;
}

static int join_one(TIFF *out, const char *path, int index, int count, uint8_t **buf, tmsize_t *cap,
                    int page_number, char *err, size_t errlen)
{
    TIFF *in = TIFFOpen(path, "r");
    if (!in) {
        snprintf(err, errlen, "page %d: cannot open %s as TIFF; resubmit the page", page_number, path);
        return -EINVAL;
    }
    uint16_t bps = 0, spp = 1;
    TIFFGetFieldDefaulted(in, TIFFTAG_BITSPERSAMPLE, &bps);
    TIFFGetFieldDefaulted(in, TIFFTAG_SAMPLESPERPIXEL, &spp);
    int rc = 0;
    if (bps != 1 || spp != 1) {
        snprintf(err, errlen, "page %d: %u bits per sample, %u samples per pixel; fax pages must be 1-bit",
                 page_number, bps, spp);
        rc = -EINVAL;
        goto out;
    }
    if ((rc = copy_tags(in, out)) != 0 ||
        !TIFFSetField(out, TIFFTAG_SUBFILETYPE, FILETYPE_PAGE) ||
        !TIFFSetField(out, TIFFTAG_PAGENUMBER, (uint16_t)index, (uint16_t)count) ||
        (rc = copy_strips(in, out, buf, cap)) != 0 || !TIFFWriteDirectory(out)) {
        snprintf(err, errlen, "page %d: copying %s failed (%s)", page_number, path,
                 rc == -ENOMEM ? "out of memory" : "I/O error or damaged TIFF");
        rc = rc ? rc : -EIO;
    }
out:
    TIFFClose(in);
    return rc;
}

int tiff_join_pages(const char *out_path, const char *const *pages, int count,
                    int first_page_number, char *err, size_t errlen)
{
    if (count <= 0) {
        snprintf(err, errlen, "no pages to send");
        return -EINVAL;
    }
    TIFF *out = TIFFOpen(out_path, "w");
    if (!out) {
        snprintf(err, errlen, "cannot create %s; check the scratch directory", out_path);
        return -EIO;
    }
    uint8_t *buf = NULL;
    tmsize_t cap = 0;
    int rc = 0;
    for (int i = 0; i < count && rc == 0; i++)
        rc = join_one(out, pages[i], i, count, &buf, &cap, first_page_number + i, err, errlen);
    TIFFClose(out);
    free(buf);
    if (rc != 0)
        unlink(out_path);
    return rc;
}

int tiff_extract_page(const char *src, int index, const char *out_path, char *err, size_t errlen)
{
    TIFF *in = TIFFOpen(src, "rm"); /* "m": no mmap of a file that grows */
    if (!in) {
        snprintf(err, errlen, "cannot open %s as TIFF", src);
        return -EIO;
    }
    if (!TIFFSetDirectory(in, (tdir_t)index)) {
        snprintf(err, errlen, "%s has no page %d yet", src, index + 1);
        TIFFClose(in);
        return -ENOENT;
    }
    TIFF *out = TIFFOpen(out_path, "w");
    if (!out) {
        snprintf(err, errlen, "cannot create %s; check the scratch directory", out_path);
        TIFFClose(in);
        return -EIO;
    }
    uint8_t *buf = NULL;
    tmsize_t cap = 0;
    int rc = copy_tags(in, out);
    if (rc == 0 && (!TIFFSetField(out, TIFFTAG_SUBFILETYPE, FILETYPE_PAGE)
                    || !TIFFSetField(out, TIFFTAG_PAGENUMBER, (uint16_t)0, (uint16_t)1)))
        rc = -EIO;
    if (rc == 0)
        rc = copy_strips(in, out, &buf, &cap);
    if (rc == 0 && !TIFFWriteDirectory(out))
        rc = -EIO;
    TIFFClose(out);
    TIFFClose(in);
    free(buf);
    if (rc != 0) {
        snprintf(err, errlen, "copying page %d of %s failed (%s)", index + 1, src,
                 rc == -ENOMEM ? "out of memory" : "I/O error or damaged TIFF");
        unlink(out_path);
    }
    return rc;
}

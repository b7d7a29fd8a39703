/*
 * document_convert.c - one submitted document, any type, to fax pages:
 * fax TIFF pages are copied (document.c), other TIFF pages, PNG and JPEG
 * are converted by image.c and raster.c, PDF and PostScript are rendered
 * by Ghostscript (render.c) into fax TIFF pages that then take the first
 * path. This parses the user's bytes, so only the converter program
 * (daemon/convert_main.c), run in the sandbox, links it; the daemon never does.
 */
#include "queue/document.h"

#include "queue/document_internal.h"
#include "queue/image.h"
#include "queue/queue.h"
#include "queue/raster.h"
#include "queue/render.h"

#include <errno.h>
#include <stdio.h>
#include <string.h>
#include <sys/mman.h>
#include <sys/stat.h>
#include <tiffio.h>
#include <unistd.h>

/* A TIFF page that is not a fax page, fitted onto one. outfd is consumed. */
static int convert_page(struct split *sp, void *in, int page, int outfd, uint64_t *bytes)
{
    struct grey_image img;
    int r = image_decode_tiff_page(in, page, &img, sp->why, sp->whylen);

    if (r != 0) {
        close(outfd);
        return r;
    }
    r = raster_write_fax_page(&img, sp->opt->resolution, outfd, bytes);
    grey_image_free(&img);
    if (r != 0) {
        errno = -r;
        return document_write_error(sp, page);
    }
    return 0;
}

/* One PNG or JPEG picture becomes one page. */
static int split_picture(struct split *sp, int fd, enum document_type type, int first_index,
                         const struct document_sink *sink, struct document_result *res)
{
    struct grey_image img;
    int r = type == DOC_PNG ? image_decode_png(fd, &img, sp->why, sp->whylen)
                            : image_decode_jpeg(fd, &img, sp->why, sp->whylen);

    if (r != 0)
        return r == -ENOMEM ? document_refuse(sp, r, "the picture cannot be converted: out of memory; submit it again later")
                            : r;
    int outfd = sink->page_fd(sink->ctx, first_index);
    if (outfd < 0) {
        grey_image_free(&img);
        errno = -outfd;
        return document_write_error(sp, 1);
    }
    r = raster_write_fax_page(&img, sp->opt->resolution, outfd, &res->bytes);
    grey_image_free(&img);
    if (r != 0) {
        errno = -r;
        return document_write_error(sp, 1);
    }
    res->pages = 1;
    return 0;
}

/* PDF and PostScript: Ghostscript renders fax pages into a scratch file,
 * which is then split like a submitted fax TIFF. */
static int split_rendered(struct split *sp, int fd, enum document_type type, int first_index,
                          const struct document_sink *sink, struct document_result *res)
{
    const struct document_options *opt = sp->opt;
    const char *what = type == DOC_PDF ? "the PDF document" : "the PostScript document";
    struct render_options ro = {
        .ghostscript = opt->ghostscript,
        .seconds = opt->render_seconds > 0 ? opt->render_seconds : QUEUE_DEFAULT_RENDER_SECONDS,
        .max_output = opt->max_bytes,
        .resolution = opt->resolution,
        .max_pages = DOCUMENT_MAX_PAGES + 1, /* one too many is refused below */
    };
    int r;

    if (opt->ghostscript == NULL)
        return document_refuse(sp, -EINVAL, "%s cannot be rendered: PDF and PostScript are not enabled on this server; "
                      "submit TIFF, PNG or JPEG", what);
    int out = opt->scratch_fd ? opt->scratch_fd(opt->scratch_ctx) : memfd_create("rendered", MFD_CLOEXEC);
    if (out < 0) {
        r = opt->scratch_fd ? out : -errno;
        return document_refuse(sp, r, "%s cannot be rendered: no scratch space (%s); free space in the spool", what,
                      strerror(-r));
    }
    r = render_ghostscript(&ro, fd, out, what, sp->why, sp->whylen);
    if (r == 0)
        r = document_split_tiff(sp, out, first_index, sink, res);
    close(out);
    return r;
}

int document_split(int fd, const struct document_options *opt, int first_index, const struct document_sink *sink,
                   struct document_result *res, char *why, size_t whylen)
{
    struct split sp = {
        .why = why, .whylen = whylen, .opt = opt, .picture = convert_page, .max_pages = DOCUMENT_MAX_PAGES};
    struct stat st;

    res->pages = 0;
    res->bytes = 0;
    if (fstat(fd, &st) != 0)
        return document_refuse(&sp, -errno, "the document cannot be read: %s", strerror(errno));
    if (!S_ISREG(st.st_mode))
        return document_refuse(&sp, -EINVAL, "the document is not a regular file");
    if ((uint64_t)st.st_size > opt->max_bytes)
        return document_refuse(&sp, -EFBIG, "the document is %llu bytes; the limit is %llu bytes",
                      (unsigned long long)st.st_size, (unsigned long long)opt->max_bytes);
    enum document_type type = document_sniff(fd);
    switch (type) {
    case DOC_TIFF:
        return document_split_tiff(&sp, fd, first_index, sink, res);
    case DOC_PNG:
    case DOC_JPEG:
        return split_picture(&sp, fd, type, first_index, sink, res);
    case DOC_PDF:
    case DOC_POSTSCRIPT:
        return split_rendered(&sp, fd, type, first_index, sink, res);
    case DOC_UNKNOWN:
        break;
    }
    if (st.st_size == 0)
        return document_refuse(&sp, -EINVAL, "the document is empty; submit a PDF, PostScript, TIFF, PNG or JPEG file");
    return document_refuse(&sp, -EINVAL, "the document is not a PDF, PostScript, TIFF, PNG or JPEG file; "
                  "convert it to one of those (for example print it to PDF)");
}

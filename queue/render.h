/*
 * render.h - PDF and PostScript rendered to fax pages by Ghostscript, run
 * as a separate, confined process: -dSAFER, no shell, a run time limit
 * and a limit on the bytes it may write.
 */
#ifndef FAXFS_QUEUE_RENDER_H
#define FAXFS_QUEUE_RENDER_H

#include <stddef.h>
#include <stdint.h>

struct render_options {
    const char *ghostscript; /* absolute path of gs */
    int seconds;             /* killed after this long */
    uint64_t max_output;     /* bytes of TIFF it may write */
    int resolution;          /* JOB_RES_* */
    int max_pages;           /* pages after this are not rendered */
};

/*
 * Renders the document in in_fd (read by path /dev/fd, so it must be a
 * regular file or memfd) as a multi-page G4 fax TIFF into out_fd (the
 * same). what names the document in sentences ("the PDF document").
 * Returns 0, or with a sentence in why: -ETIMEDOUT (killed at the time
 * limit), -EFBIG (output limit), -EINVAL (Ghostscript refused the file),
 * -ENOENT (Ghostscript missing), -ENOMEM / -EAGAIN (no process).
 */
int render_ghostscript(const struct render_options *opt, int in_fd, int out_fd, const char *what, char *why,
                       size_t whylen);

#endif

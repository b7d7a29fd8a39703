/*
 * sandbox.h - every submitted document is converted by the converter
 * program (faxfs-convert) in a bubblewrap sandbox, as an unprivileged user
 * with no view of the machine's files; the daemon reads back fax pages in
 * a simple framed form and checks each one (docs/documents.md,
 * docs/security.md). This header is the contract of both sides.
 */
#ifndef FAXFS_QUEUE_SANDBOX_H
#define FAXFS_QUEUE_SANDBOX_H

#include "queue/document.h"

#include <stddef.h>
#include <stdint.h>
#include <sys/types.h>

/*
 * The converter's output on its stdout: records of an 8-byte header (four
 * ASCII tag bytes, then a little-endian 32-bit length) and that many bytes.
 *   PAGE  a TIFF holding one fax page
 *   FAIL  a little-endian 32-bit errno, then the sentence (ASCII)
 *   DONE  length 0: every page was written
 * The converter reads the document on stdin (a regular file, read-only)
 * and takes its settings as arguments:
 *   faxfs-convert RESOLUTION MAX_BYTES RENDER_SECONDS GHOSTSCRIPT|-
 */
#define SANDBOX_TAG_PAGE "PAGE"
#define SANDBOX_TAG_FAIL "FAIL"
#define SANDBOX_TAG_DONE "DONE"
#define SANDBOX_HEADER_BYTES 8
#define SANDBOX_SENTENCE_MAX 300

#define SANDBOX_DEFAULT_BWRAP "/usr/bin/bwrap"
#define SANDBOX_DEFAULT_USER "faxfs-convert"

struct sandbox_options {
    const char *converter; /* absolute path of faxfs-convert */
    const char *bwrap;     /* absolute path of bwrap */
    uid_t uid;             /* a daemon running as root runs the converter as uid:gid, never as root */
    gid_t gid;
};

/*
 * Converts the document in fd like document_split() (same options, result
 * and sentences), in the sandbox. Beyond document_split's errors:
 * -ENOENT "install bubblewrap" (bwrap missing), -EPERM (the sandbox cannot
 * be made: no user namespaces, or the conversion user is root), -EIO (the
 * converter broke its protocol or died).
 */
int sandbox_convert(const struct sandbox_options *sb, int fd, const struct document_options *opt, int first_index,
                    const struct document_sink *sink, struct document_result *res, char *why, size_t whylen);

/*
 * Starts the sandbox once with nothing to convert and returns 0 if it
 * runs; otherwise -errno with the reason in why. For a start-up check.
 */
int sandbox_probe(const struct sandbox_options *sb, char *why, size_t whylen);

/* A converter other than the sandbox: tests of the engine only (the
 * daemon always uses the sandbox). */
struct queue_converter {
    int (*convert)(void *ctx, int fd, const struct document_options *opt, int first_index,
                   const struct document_sink *sink, struct document_result *res, char *why, size_t whylen);
    void *ctx;
};

#endif

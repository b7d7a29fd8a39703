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

#include <errno.h>
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
#define SANDBOX_TAG_END "END."
#define SANDBOX_HEADER_BYTES 8
#define SANDBOX_SENTENCE_MAX 300

/*
 * Serve mode, for a sandbox that converts several documents of one
 * submitting user in turn: faxfs-convert --serve GHOSTSCRIPT|- reads
 * requests on stdin until its end, each a SANDBOX_REQUEST_BYTES header
 *   "CONV", LE32 document length, LE32 resolution, LE32 render seconds,
 *   LE64 maximum bytes
 * and then the document's bytes. It answers each with the records above
 * (PAGE... then DONE or FAIL) and then END. (length 0): ready for the
 * next request. A malformed request ends it.
 */
#define SANDBOX_TAG_REQUEST "CONV"
#define SANDBOX_REQUEST_BYTES 24
#define SANDBOX_MAX_RESOLUTION 3
#define SANDBOX_MAX_SECONDS 86400
#define SANDBOX_MAX_BYTES (1ull << 40)

struct sandbox_request {
    uint32_t length;        /* of the document that follows */
    uint32_t resolution;    /* enum job_resolution */
    uint32_t render_seconds;
    uint64_t max_bytes;
};

static inline uint32_t sandbox_le32(const unsigned char *p)
{
    return (uint32_t)p[0] | (uint32_t)p[1] << 8 | (uint32_t)p[2] << 16 | (uint32_t)p[3] << 24;
}

static inline void sandbox_put_le32(unsigned char *p, uint32_t v)
{
    for (int i = 0; i < 4; i++)
        p[i] = (unsigned char)(v >> (8 * i));
}

static inline void sandbox_request_encode(const struct sandbox_request *rq, unsigned char h[SANDBOX_REQUEST_BYTES])
{
    for (int i = 0; i < 4; i++)
        h[i] = (unsigned char)SANDBOX_TAG_REQUEST[i];
    sandbox_put_le32(h + 4, rq->length);
    sandbox_put_le32(h + 8, rq->resolution);
    sandbox_put_le32(h + 12, rq->render_seconds);
    sandbox_put_le32(h + 16, (uint32_t)rq->max_bytes);
    sandbox_put_le32(h + 20, (uint32_t)(rq->max_bytes >> 32));
}

/* 0, or -EINVAL for a header that is not a request within the bounds. */
static inline int sandbox_request_decode(const unsigned char h[SANDBOX_REQUEST_BYTES], struct sandbox_request *rq)
{
    for (int i = 0; i < 4; i++)
        if (h[i] != (unsigned char)SANDBOX_TAG_REQUEST[i])
            return -EINVAL;
    rq->length = sandbox_le32(h + 4);
    rq->resolution = sandbox_le32(h + 8);
    rq->render_seconds = sandbox_le32(h + 12);
    rq->max_bytes = (uint64_t)sandbox_le32(h + 16) | (uint64_t)sandbox_le32(h + 20) << 32;
    if (rq->resolution > SANDBOX_MAX_RESOLUTION || rq->render_seconds > SANDBOX_MAX_SECONDS ||
        rq->max_bytes > SANDBOX_MAX_BYTES || rq->length > rq->max_bytes)
        return -EINVAL;
    return 0;
}

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
 * Like sandbox_convert, in a sandbox kept running for documents of the
 * submitting user `user` only (serve mode): a sandbox that has converted
 * a document of one user is never given a document of another. At most
 * sandbox_pool_limits().alive sandboxes live, each for at most max_docs
 * documents and idle_ms without one; one that failed, overran its time,
 * answered anything malformed or refused a document is killed, never
 * reused. When no sandbox can be had, the document goes to a one-shot
 * sandbox (sandbox_convert).
 */
int sandbox_convert_user(const struct sandbox_options *sb, uid_t user, int fd, const struct document_options *opt,
                         int first_index, const struct document_sink *sink, struct document_result *res, char *why,
                         size_t whylen);

struct sandbox_pool_limits {
    int alive;    /* sandboxes kept at once; 0: every document in a one-shot sandbox */
    int max_docs; /* documents per sandbox life */
    int idle_ms;  /* a sandbox idle this long ends */
};

/* The limits in force; set them (before documents come, or in tests):
 * alive < 0, max_docs <= 0 or idle_ms <= 0 keeps that value; alive is
 * at most 4 (half of the sandboxes that may run at once). */
struct sandbox_pool_limits sandbox_pool_limits(void);
void sandbox_pool_set_limits(const struct sandbox_pool_limits *l);

/* Counters for tests and the log: sandboxes started in serve mode, alive now. */
struct sandbox_pool_stats {
    unsigned long starts;
    int alive, idle;
};
void sandbox_pool_stats(struct sandbox_pool_stats *st);

/* Ends every kept sandbox (at stop; tests). */
void sandbox_pool_close(void);

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

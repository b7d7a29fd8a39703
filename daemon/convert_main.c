/*
 * faxfs-convert - the document converter. The daemon runs it inside its
 * bubblewrap sandbox (queue/sandbox.c) as an unprivileged user, either
 * for one document (read on stdin) or, with --serve, for the documents of
 * one submitting user in turn (framed requests on stdin). It converts each with
 * document_split() (Ghostscript, libtiff, libpng, libjpeg: every parser of
 * user bytes) and writes each fax page as a framed record on stdout
 * (queue/sandbox.h). It trusts nothing it reads and is trusted by nobody:
 * the daemon checks every page it receives.
 */
#include "queue/document.h"
#include "queue/sandbox.h"

#include <errno.h>
#include <limits.h>
#include <signal.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/mman.h>
#include <sys/stat.h>
#include <unistd.h>

#define COPY_CHUNK 65536

/* Pages are kept in memory files; the one written last is sent when the
 * next one is asked for, or at the end. */
struct emitter {
    int pending; /* -1: none */
    int error;   /* first write error, as -errno */
};

static int write_all(int fd, const void *buf, size_t n)
{
    const char *p = buf;

    while (n > 0) {
        ssize_t k = write(fd, p, n);
        if (k < 0 && errno == EINTR)
            continue;
        if (k <= 0)
            return -EIO;
        p += k;
        n -= (size_t)k;
    }
    return 0;
}

static int write_header(const char *tag, uint32_t len)
{
    unsigned char h[SANDBOX_HEADER_BYTES];

    memcpy(h, tag, 4);
    for (int i = 0; i < 4; i++)
        h[4 + i] = (unsigned char)(len >> (8 * i));
    return write_all(1, h, sizeof h);
}

static int send_page(int fd)
{
    static char buf[COPY_CHUNK];
    struct stat st;

    if (fstat(fd, &st) != 0 || st.st_size > (off_t)UINT32_MAX)
        return -EIO;
    int r = write_header(SANDBOX_TAG_PAGE, (uint32_t)st.st_size);
    for (off_t off = 0; r == 0 && off < st.st_size;) {
        ssize_t n = pread(fd, buf, sizeof buf, off);
        if (n <= 0)
            return -EIO;
        r = write_all(1, buf, (size_t)n);
        off += n;
    }
    return r;
}

static int flush_pending(struct emitter *e)
{
    if (e->pending < 0)
        return 0;
    int r = send_page(e->pending);
    close(e->pending);
    e->pending = -1;
    return r;
}

static int page_fd(void *ctx, int index)
{
    struct emitter *e = ctx;
    int r;

    (void)index;
    if ((r = flush_pending(e)) != 0)
        return r;
    if ((e->pending = memfd_create("page", MFD_CLOEXEC)) < 0)
        return -errno;
    int fd = dup(e->pending);
    return fd < 0 ? -errno : fd;
}

static void send_failure(int err, const char *why)
{
    size_t n = strnlen(why, SANDBOX_SENTENCE_MAX);
    unsigned char code[4];

    for (int i = 0; i < 4; i++)
        code[i] = (unsigned char)((uint32_t)err >> (8 * i));
    if (write_header(SANDBOX_TAG_FAIL, (uint32_t)(4 + n)) == 0 && write_all(1, code, 4) == 0)
        write_all(1, why, n);
}

/* The document into a memory file of our own: Ghostscript reopens its
 * input by name (/dev/fd/0), which the daemon's file would not allow.
 * Up to the end of stdin, or exactly `exact` bytes when that is >= 0. */
static int copy_input(uint64_t max_bytes, long long exact, int *out)
{
    static char buf[COPY_CHUNK];
    uint64_t total = 0;
    int fd = memfd_create("document", MFD_CLOEXEC);

    if (fd < 0)
        return -errno;
    for (;;) {
        size_t want = sizeof buf;
        if (exact >= 0 && (uint64_t)exact - total < want)
            want = (size_t)((uint64_t)exact - total);
        if (exact >= 0 && want == 0)
            break;
        ssize_t n = read(0, buf, want);
        if (n < 0 && errno == EINTR)
            continue;
        if (n < 0) {
            close(fd);
            return -EIO;
        }
        if (n == 0 && exact >= 0) {
            close(fd);
            return -EPIPE; /* the request broke off */
        }
        if (n == 0)
            break;
        total += (uint64_t)n;
        if (total > max_bytes + 1 || write_all(fd, buf, (size_t)n) != 0) {
            close(fd);
            return total > max_bytes + 1 ? -EFBIG : -ENOMEM;
        }
    }
    *out = fd;
    return 0;
}

static int parse_number(const char *s, long long max, long long *out)
{
    char *end;

    errno = 0;
    long long v = strtoll(s, &end, 10);
    if (errno != 0 || end == s || *end != '\0' || v < 0 || v > max)
        return -1;
    *out = v;
    return 0;
}

/* One document through document_split to records; 0 or -errno. */
static int convert_one(int fd, const struct document_options *opt, int read_error)
{
    struct emitter e = {.pending = -1};
    struct document_sink sink = {page_fd, &e};
    struct document_result res;
    char why[SANDBOX_SENTENCE_MAX + 1] = "";
    int r = read_error;

    if (r != 0) {
        snprintf(why, sizeof why, "the document cannot be read: %s", strerror(-r));
    } else {
        r = document_split(fd, opt, 0, &sink, &res, why, sizeof why);
        if (r == 0 && (r = flush_pending(&e)) != 0)
            snprintf(why, sizeof why, "the converted pages cannot be handed over: %s", strerror(-r));
    }
    if (e.pending >= 0)
        close(e.pending);
    if (r != 0) {
        send_failure(-r, why);
        return 0;
    }
    return write_header(SANDBOX_TAG_DONE, 0);
}

/* Reads exactly n bytes of stdin: 0, 1 at its end before any, -1 otherwise. */
static int read_exact(void *buf, size_t n)
{
    size_t got = 0;

    while (got < n) {
        ssize_t k = read(0, (char *)buf + got, n - got);
        if (k < 0 && errno == EINTR)
            continue;
        if (k <= 0)
            return k == 0 && got == 0 ? 1 : -1;
        got += (size_t)k;
    }
    return 0;
}

/* Serve mode (queue/sandbox.h): requests until the end of stdin. */
static int serve(const char *ghostscript)
{
    for (;;) {
        unsigned char h[SANDBOX_REQUEST_BYTES];
        struct sandbox_request rq;
        int fd = -1, r = read_exact(h, sizeof h);

        if (r == 1)
            return 0;
        if (r != 0 || sandbox_request_decode(h, &rq) != 0) {
            fprintf(stderr, "faxfs-convert: malformed request\n");
            return 2;
        }
        struct document_options opt = {
            .max_bytes = rq.max_bytes,
            .resolution = (int)rq.resolution,
            .ghostscript = ghostscript,
            .render_seconds = (int)rq.render_seconds,
        };
        r = copy_input(opt.max_bytes, rq.length, &fd);
        if (r == -EPIPE) {
            fprintf(stderr, "faxfs-convert: the request broke off\n");
            return 2;
        }
        r = convert_one(fd, &opt, r);
        if (fd >= 0)
            close(fd);
        if (r != 0 || write_header(SANDBOX_TAG_END, 0) != 0)
            return 2;
    }
}

int main(int argc, char **argv)
{
    long long resolution, max_bytes, seconds;
    int fd = -1, r;

    /* Over a file size limit, a write fails with EFBIG instead of killing us. */
    signal(SIGXFSZ, SIG_IGN);
    if (argc == 3 && strcmp(argv[1], "--serve") == 0)
        return serve(strcmp(argv[2], "-") == 0 ? NULL : argv[2]);
    if (argc != 5 || parse_number(argv[1], 3, &resolution) != 0 || parse_number(argv[2], 1ll << 40, &max_bytes) != 0 ||
        parse_number(argv[3], 86400, &seconds) != 0) {
        fprintf(stderr, "usage: faxfs-convert RESOLUTION MAX_BYTES RENDER_SECONDS GHOSTSCRIPT|- <document\n"
                        "       faxfs-convert --serve GHOSTSCRIPT|- <requests\n");
        return 2;
    }
    struct document_options opt = {
        .max_bytes = (uint64_t)max_bytes,
        .resolution = (int)resolution,
        .ghostscript = strcmp(argv[4], "-") == 0 ? NULL : argv[4],
        .render_seconds = (int)seconds,
    };
    r = copy_input(opt.max_bytes, -1, &fd);
    convert_one(fd, &opt, r);
    if (fd >= 0)
        close(fd);
    return 0;
}

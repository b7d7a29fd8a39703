/*
 * fuzz_document.c - libFuzzer target for submission intake: the bytes are
 * a document someone copied into the outbox, validated and split into
 * pages exactly as queue_submit() does. Accepted documents must produce
 * at least one page; refusals must give a reason.
 */
#include <errno.h>
#include <stdint.h>
#include <stdlib.h>
#include <sys/mman.h>
#include <unistd.h>

#include "queue/document.h"
#include "queue/queue.h"

int LLVMFuzzerTestOneInput(const uint8_t *data, size_t size);

/* Pages go to anonymous memory files; document_split closes each. */
static int page_fd(void *ctx, int index)
{
    int fd = memfd_create("page", MFD_CLOEXEC);

    (void)ctx;
    (void)index;
    return fd < 0 ? -errno : fd;
}

int LLVMFuzzerTestOneInput(const uint8_t *data, size_t size)
{
    struct document_sink sink = {page_fd, NULL};
    struct document_result res;
    char why[256] = "";
    int fd = memfd_create("document", MFD_CLOEXEC);

    if (fd < 0)
        return 0;
    if (write(fd, data, size) != (ssize_t)size) {
        close(fd);
        return 0;
    }
    /* ghostscript NULL: PDF and PostScript are refused, no process runs */
    struct document_options opt = {.max_bytes = 1 << 20, .resolution = JOB_RES_FINE};
    int r = document_split(fd, &opt, 0, &sink, &res, why, sizeof why);
    if (r == 0 && res.pages < 1)
        abort();
    if (r != 0 && why[0] == '\0')
        abort();
    close(fd);
    return 0;
}

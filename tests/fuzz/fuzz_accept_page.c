/*
 * fuzz_accept_page.c - libFuzzer target for the daemon's check of a page
 * made by the sandboxed converter (document_accept_page): the bytes are
 * what a compromised converter could send as one PAGE record. Accepted
 * pages must have been written; refusals must give a reason.
 */
#include <errno.h>
#include <stdint.h>
#include <stdlib.h>
#include <sys/mman.h>
#include <unistd.h>

#include "queue/document.h"

int LLVMFuzzerTestOneInput(const uint8_t *data, size_t size);

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
    uint64_t bytes = 0;
    char why[256] = "";
    int fd = memfd_create("page", MFD_CLOEXEC);

    if (fd < 0)
        return 0;
    if (write(fd, data, size) != (ssize_t)size) {
        close(fd);
        return 0;
    }
    int r = document_accept_page(fd, 0, &sink, &bytes, why, sizeof why);
    if (r == 0 && bytes == 0)
        abort();
    if (r != 0 && why[0] == '\0')
        abort();
    close(fd);
    return 0;
}

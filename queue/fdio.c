/* Whole-file reads, writes and copies on descriptors (queue/fdio.h). */
#include "queue/fdio.h"

#include <errno.h>
#include <stdlib.h>
#include <sys/types.h>
#include <unistd.h>

int fdio_write_all(int fd, const void *buf, size_t len)
{
    const char *p = buf;

    while (len > 0) {
        ssize_t n = write(fd, p, len);
        if (n < 0) {
            if (errno == EINTR)
                continue;
            return -errno;
        }
        p += n;
        len -= (size_t)n;
    }
    return 0;
}

int fdio_read_all(int fd, uint64_t max, char **out, size_t *outlen)
{
    size_t cap = 4096, len = 0;
    char *buf = malloc(cap);

    if (buf == NULL)
        return -ENOMEM;
    for (;;) {
        if (len + 1 >= cap) {
            char *p = realloc(buf, cap * 2);
            if (p == NULL) {
                free(buf);
                return -ENOMEM;
            }
            buf = p;
            cap *= 2;
        }
        ssize_t n = pread(fd, buf + len, cap - len - 1, (off_t)len);
        if (n < 0 && errno == EINTR)
            continue;
        if (n < 0) {
            int r = -errno;
            free(buf);
            return r;
        }
        if (n == 0)
            break;
        len += (size_t)n;
        if (len > max) {
            free(buf);
            return -EFBIG;
        }
    }
    buf[len] = '\0';
    *out = buf;
    *outlen = len;
    return 0;
}

int fdio_copy(int dst, int src, uint64_t max, uint64_t *copied)
{
    char buf[65536];
    uint64_t off = 0;

    for (;;) {
        ssize_t n = pread(src, buf, sizeof buf, (off_t)off);
        if (n < 0 && errno == EINTR)
            continue;
        if (n < 0)
            return -errno;
        if (n == 0)
            break;
        if (off + (uint64_t)n > max)
            return -EFBIG;
        int r = fdio_write_all(dst, buf, (size_t)n);
        if (r != 0)
            return r;
        off += (uint64_t)n;
    }
    *copied = off;
    return 0;
}

/* Whole-file reads, writes and copies on descriptors, retried across
 * EINTR and short transfers: the one loop every store uses. */
#ifndef FAXFS_QUEUE_FDIO_H
#define FAXFS_QUEUE_FDIO_H

#include <stddef.h>
#include <stdint.h>

/* Writes all len bytes of buf; 0 or -errno. */
int fdio_write_all(int fd, const void *buf, size_t len);

/* Reads fd from offset 0 to its end into a new NUL-terminated buffer
 * (*out, to free; *outlen without the NUL). More than max bytes: -EFBIG
 * and nothing returned. 0 or -errno. */
int fdio_read_all(int fd, uint64_t max, char **out, size_t *outlen);

/* Copies src from offset 0 to its end onto dst's position. More than max
 * bytes: -EFBIG (dst then holds a prefix). *copied gets the byte count on
 * success. 0 or -errno. */
int fdio_copy(int dst, int src, uint64_t max, uint64_t *copied);

#endif

/*
 * draft_files.c - draft documents as files in a store's tmp directory
 * (draft_files.h).
 */
#include "queue/draft_files.h"

#include <errno.h>
#include <fcntl.h>
#include <stdatomic.h>
#include <stdbool.h>
#include <stdio.h>
#include <string.h>
#include <unistd.h>

static atomic_uint draft_seq;

static bool draft_token_ok(const char *token)
{
    if (strncmp(token, "draft.", 6) != 0)
        return false;
    for (const char *p = token + 6; *p; p++)
        if ((*p < '0' || *p > '9') && *p != '.')
            return false;
    return true;
}

int draft_file_create(int dirfd, char *token, size_t tokenlen)
{
    for (int tries = 0; tries < 100; tries++) {
        unsigned seq = atomic_fetch_add(&draft_seq, 1) + 1;
        if (snprintf(token, tokenlen, "draft.%ld.%u", (long)getpid(), seq) >= (int)tokenlen)
            return -ENAMETOOLONG;
        int fd = openat(dirfd, token, O_CREAT | O_EXCL | O_RDWR | O_CLOEXEC | O_NOFOLLOW, 0600);
        if (fd >= 0 || errno != EEXIST)
            return fd >= 0 ? fd : -errno;
    }
    return -EEXIST;
}

int draft_file_open(int dirfd, const char *token)
{
    if (!draft_token_ok(token))
        return -EINVAL;
    int fd = openat(dirfd, token, O_RDWR | O_CLOEXEC | O_NOFOLLOW);
    return fd >= 0 ? fd : -errno;
}

int draft_file_remove(int dirfd, const char *token)
{
    if (!draft_token_ok(token))
        return -EINVAL;
    return unlinkat(dirfd, token, 0) == 0 ? 0 : -errno;
}

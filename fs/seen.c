/*
 * seen.c - what the kernel was last told about each synthetic file, so
 * that open() can choose between the page cache and a fresh read. The
 * kernel clips reads to the size it last saw; if the snapshot rendered at
 * open has another length, the handle is opened direct_io so the reader
 * still gets the whole value. A lossy table: a forgotten inode is simply
 * treated as unknown, which costs a direct read, never a wrong one.
 */
#include "fs/internal.h"

#include <stdlib.h>

static uint64_t content_hash(const char *data, size_t len)
{
    uint64_t h = UINT64_C(1469598103934665603); /* FNV-1a */

    for (size_t i = 0; i < len; i++)
        h = (h ^ (unsigned char)data[i]) * UINT64_C(1099511628211);
    return h ? h : 1;
}

static struct fs_seen *slot(struct fs *fs, uint64_t ino)
{
    uint64_t h = ino * UINT64_C(0x9E3779B97F4A7C15);

    return &fs->seen[(h >> 32) % FS_SEEN_SLOTS];
}

void fs_seen_size(struct fs *fs, uint64_t ino, uint64_t size)
{
    pthread_mutex_lock(&fs->seen_lock);
    struct fs_seen *s = slot(fs, ino);
    if (s->ino != ino) {
        s->ino = ino;
        s->cached_hash = 0;
    }
    s->size = size;
    pthread_mutex_unlock(&fs->seen_lock);
}

enum fs_open_mode fs_seen_open(struct fs *fs, uint64_t ino, const char *data, size_t len)
{
    uint64_t h = content_hash(data, len);
    enum fs_open_mode mode;

    pthread_mutex_lock(&fs->seen_lock);
    struct fs_seen *s = slot(fs, ino);
    if (s->ino != ino || s->size != len) {
        mode = FS_OPEN_DIRECT;
        if (s->ino == ino)
            s->cached_hash = 0;
    } else if (s->cached_hash == h) {
        mode = FS_OPEN_KEEP_CACHE;
    } else {
        mode = FS_OPEN_PLAIN; /* the kernel drops its pages; ours fill it */
        s->cached_hash = h;
    }
    pthread_mutex_unlock(&fs->seen_lock);
    return mode;
}

void fs_seen_uncached(struct fs *fs, uint64_t ino)
{
    pthread_mutex_lock(&fs->seen_lock);
    struct fs_seen *s = slot(fs, ino);
    if (s->ino == ino)
        s->cached_hash = 0;
    pthread_mutex_unlock(&fs->seen_lock);
}

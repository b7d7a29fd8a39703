/*
 * seen.c - what the kernel was last told about each synthetic file. The
 * kernel clips cached reads to the size it last accepted, and it may ask
 * for that size again between a reader's open and its read. So the content
 * behind every size reported (the "published" value) is kept here, and
 * cached reads are served from it: the bytes a reader gets always belong to
 * the size the kernel holds. Job files keep theirs with the job's cached
 * snapshot (jobcache.c), other files in a lossy table: a forgotten inode is
 * opened direct_io from a fresh snapshot, which costs a round trip, never a
 * torn value.
 */
#include "fs/internal.h"

#include <errno.h>
#include <stdlib.h>
#include <string.h>

static uint64_t content_hash(const char *data, size_t len)
{
    uint64_t h = UINT64_C(1469598103934665603); /* FNV-1a */

    for (size_t i = 0; i < len; i++)
        h = (h ^ (unsigned char)data[i]) * UINT64_C(1099511628211);
    return h ? h : 1;
}

/* ---- operations on one value, wherever it is kept ---- */

struct publish_arg {
    char *copy; /* handed over to the value */
    size_t len;
};

static int v_publish(struct fs_seen_value *v, void *arg)
{
    struct publish_arg *a = arg;

    free(v->content);
    v->content = a->copy;
    v->len = (uint32_t)a->len;
    v->published = true;
    a->copy = NULL;
    return 0;
}

static int v_open(struct fs_seen_value *v, void *arg)
{
    (void)arg;
    if (!v->published)
        return FS_OPEN_DIRECT;
    uint64_t h = content_hash(v->content, v->len);
    /* The page cache may hold what an earlier open let into it; if that is
     * not the published value, this open makes the kernel drop it. */
    enum fs_open_mode mode = v->cached_hash == h ? FS_OPEN_KEEP_CACHE : FS_OPEN_PLAIN;
    v->cached_hash = h;
    return (int)mode;
}

struct read_arg {
    off_t off;
    size_t size;
    char *out;
    size_t n;
};

static int v_read(struct fs_seen_value *v, void *arg)
{
    struct read_arg *a = arg;

    if (!v->published)
        return -ENOENT;
    size_t len = v->len, off = (size_t)a->off;
    a->n = off >= len ? 0 : len - off < a->size ? len - off : a->size;
    if (a->n)
        memcpy(a->out, v->content + off, a->n);
    return 0;
}

static int v_unpublish(struct fs_seen_value *v, void *arg)
{
    (void)arg;
    free(v->content);
    *v = (struct fs_seen_value){ 0 };
    return 0;
}

static int v_uncached(struct fs_seen_value *v, void *arg)
{
    (void)arg;
    v->cached_hash = 0;
    return 0;
}

/* ---- routing: job files to the job cache, the rest to the table ---- */

static struct fs_seen *slot(struct fs *fs, uint64_t ino)
{
    uint64_t h = ino * UINT64_C(0x9E3779B97F4A7C15);

    return &fs->seen[(h >> 32) % FS_SEEN_SLOTS];
}

static int with_value(struct fs *fs, uint64_t ino, bool claim, int (*fn)(struct fs_seen_value *, void *), void *arg)
{
    struct fs_ino w;

    if (fs_ino_split(ino, &w) && (w.area == AREA_JOBS || w.area == AREA_HISTORY || w.area == AREA_RECEIVED) &&
        w.node < FS_JOB_NODES)
        return fs_jobs_with_seen(fs, w.area, w.id, w.node, claim, fn, arg);

    int r = -ENOENT;
    pthread_mutex_lock(&fs->seen_lock);
    struct fs_seen *s = slot(fs, ino);
    if (claim && s->ino != ino) {
        free(s->v.content);
        s->v = (struct fs_seen_value){ 0 };
        s->ino = ino;
    }
    if (s->ino == ino)
        r = fn(&s->v, arg);
    pthread_mutex_unlock(&fs->seen_lock);
    return r;
}

void fs_seen_publish(struct fs *fs, uint64_t ino, const char *data, size_t len)
{
    struct publish_arg a = { malloc(len ? len : 1), len };

    if (!a.copy) { /* the old value no longer fits the size: opens go direct */
        with_value(fs, ino, false, v_unpublish, NULL);
        return;
    }
    memcpy(a.copy, data, len);
    with_value(fs, ino, true, v_publish, &a);
    free(a.copy); /* only when it was not handed over */
}

enum fs_open_mode fs_seen_open(struct fs *fs, uint64_t ino)
{
    int r = with_value(fs, ino, false, v_open, NULL);

    return r < 0 ? FS_OPEN_DIRECT : (enum fs_open_mode)r;
}

int fs_seen_read(struct fs *fs, uint64_t ino, off_t off, size_t size, char *out, size_t *n)
{
    struct read_arg a = { off, size, out, 0 };
    int r = with_value(fs, ino, false, v_read, &a);

    *n = a.n;
    return r;
}

void fs_seen_uncached(struct fs *fs, uint64_t ino)
{
    with_value(fs, ino, false, v_uncached, NULL);
}

void fs_seen_free(struct fs *fs)
{
    if (fs->seen)
        for (size_t i = 0; i < FS_SEEN_SLOTS; i++)
            free(fs->seen[i].v.content);
}

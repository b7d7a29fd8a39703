/*
 * preview.h - pages/NNN.png: PNG renderings of fax pages, made on demand
 * by the queue and kept in a bounded cache. A page's bytes never change,
 * so an entry is valid until memory runs short, never stale.
 */
#ifndef FAXFS_FS_PREVIEW_H
#define FAXFS_FS_PREVIEW_H

#include <pthread.h>
#include <stdbool.h>
#include <stddef.h>
#include <stdint.h>

/* Rendered previews kept at most (least recently used go first). */
#define FS_PREVIEW_CACHE_BYTES (32u << 20)

struct fs_previews;

/* One rendered page, shared by the cache and the handles reading it: its
 * bytes stay valid until the last reference is released, even when the
 * cache dropped it meanwhile. */
struct fs_png {
    struct fs_previews *owner;
    uint64_t id;
    int page;
    unsigned char *bytes;
    size_t len;
    unsigned refs;              /* under owner->lock */
    bool cached;                /* on the LRU list; under owner->lock */
    struct fs_png *prev, *next; /* LRU list, most recent first */
    struct fs_png *hnext;       /* chain of its hash bucket */
};

/* Buckets of the index by (id, page): a full cache of small previews
 * holds thousands, and a lookup must not walk them all. */
#define FS_PREVIEW_BUCKETS 1024

/* Makes the PNG of page (0-based) of job id, malloc'd into *png. */
typedef int (*fs_png_renderer)(void *ctx, uint64_t id, int page, unsigned char **png, size_t *len);

struct fs_previews {
    /* Protects the list, `bytes` and every entry's refs, cached and links.
     * A leaf lock: rendering happens without it. */
    pthread_mutex_t lock;
    struct fs_png *head, *tail;
    struct fs_png *bucket[FS_PREVIEW_BUCKETS];
    size_t bytes; /* of the cached entries */
    size_t cap;
    uint64_t rendered; /* renders since start (MOUNT/metrics) */
    fs_png_renderer render;
    void *render_ctx;
};

void fs_previews_init(struct fs_previews *c, size_t cap, fs_png_renderer render, void *ctx);
/* Frees the cache; every reference must have been released before. */
void fs_previews_free(struct fs_previews *c);
/* The preview of (id, page), rendered now when not cached; the caller
 * holds a reference and releases it with fs_png_release. -errno from the
 * renderer (e.g. -ENOENT for a page that does not exist). */
int fs_preview_get(struct fs_previews *c, uint64_t id, int page, struct fs_png **out);
/* The size of a cached preview, without rendering: false when not cached. */
bool fs_preview_size_known(struct fs_previews *c, uint64_t id, int page, uint64_t *size);
void fs_png_release(struct fs_png *p);
/* Drops every cached preview of a job (deleted for good). */
void fs_preview_forget(struct fs_previews *c, uint64_t id);

#endif

/*
 * preview.c - the cache of page previews. Rendering a page to PNG decodes
 * its TIFF (tens of milliseconds for a fine A4 page), so each preview is
 * rendered once and kept, least recently used dropped first once the
 * cache holds more than its cap. Entries are reference counted: a reader
 * keeps its bytes even after eviction, and eviction never waits for it.
 */
#include "fs/preview.h"

#include <errno.h>
#include <stdlib.h>
#include <string.h>

void fs_previews_init(struct fs_previews *c, size_t cap, fs_png_renderer render, void *ctx)
{
    pthread_mutex_init(&c->lock, NULL);
    c->head = c->tail = NULL;
    memset(c->bucket, 0, sizeof c->bucket);
    c->bytes = 0;
    c->cap = cap;
    c->render = render;
    c->render_ctx = ctx;
}

static struct fs_png **bucket_of(struct fs_previews *c, uint64_t id, int page)
{
    uint64_t h = (id * UINT64_C(0x9E3779B97F4A7C15)) ^ (uint64_t)page * UINT64_C(0xBF58476D1CE4E5B9);

    return &c->bucket[(h >> 32) % FS_PREVIEW_BUCKETS];
}

static void png_free(struct fs_png *p)
{
    free(p->bytes);
    free(p);
}

static void detach_locked(struct fs_previews *c, struct fs_png *p)
{
    if (p->prev)
        p->prev->next = p->next;
    else
        c->head = p->next;
    if (p->next)
        p->next->prev = p->prev;
    else
        c->tail = p->prev;
    p->prev = p->next = NULL;
}

/* Takes p out of the cache; returns true when nobody holds it any more. */
static bool unlink_locked(struct fs_previews *c, struct fs_png *p)
{
    struct fs_png **link = bucket_of(c, p->id, p->page);

    while (*link != p)
        link = &(*link)->hnext;
    *link = p->hnext;
    p->hnext = NULL;
    detach_locked(c, p);
    p->cached = false;
    c->bytes -= p->len;
    return --p->refs == 0; /* the list's own reference */
}

static void push_front_locked(struct fs_previews *c, struct fs_png *p)
{
    p->prev = NULL;
    p->next = c->head;
    if (c->head)
        c->head->prev = p;
    else
        c->tail = p;
    c->head = p;
}

static struct fs_png *find_locked(struct fs_previews *c, uint64_t id, int page)
{
    for (struct fs_png *p = *bucket_of(c, id, page); p; p = p->hnext)
        if (p->id == id && p->page == page)
            return p;
    return NULL;
}

/* Unlinks entries from the cold end until the cache fits its cap; the
 * ones nobody holds are chained on *dead to be freed without the lock. */
static void shrink_locked(struct fs_previews *c, struct fs_png **dead)
{
    while (c->tail && c->bytes > c->cap) {
        struct fs_png *p = c->tail;
        if (unlink_locked(c, p)) {
            p->next = *dead;
            *dead = p;
        }
    }
}

static void free_chain(struct fs_png *p)
{
    while (p) {
        struct fs_png *next = p->next;
        png_free(p);
        p = next;
    }
}

void fs_previews_free(struct fs_previews *c)
{
    struct fs_png *dead = NULL;

    pthread_mutex_lock(&c->lock);
    c->cap = 0;
    shrink_locked(c, &dead);
    pthread_mutex_unlock(&c->lock);
    free_chain(dead);
    pthread_mutex_destroy(&c->lock);
}

int fs_preview_get(struct fs_previews *c, uint64_t id, int page, struct fs_png **out)
{
    struct fs_png *p, *dead = NULL;

    pthread_mutex_lock(&c->lock);
    if ((p = find_locked(c, id, page))) {
        detach_locked(c, p); /* most recently used first */
        push_front_locked(c, p);
        p->refs++;
        pthread_mutex_unlock(&c->lock);
        *out = p;
        return 0;
    }
    pthread_mutex_unlock(&c->lock);

    /* Rendered without the lock: two first readers of one page may both
     * render; the bytes are the same and the second copy is dropped. */
    struct fs_png *fresh = calloc(1, sizeof *fresh);
    if (!fresh)
        return -ENOMEM;
    int r = c->render(c->render_ctx, id, page, &fresh->bytes, &fresh->len);
    if (r < 0) {
        free(fresh);
        return r;
    }
    fresh->owner = c;
    fresh->id = id;
    fresh->page = page;

    pthread_mutex_lock(&c->lock);
    c->rendered++;
    if ((p = find_locked(c, id, page))) {
        p->refs++;
        pthread_mutex_unlock(&c->lock);
        png_free(fresh);
        *out = p;
        return 0;
    }
    fresh->refs = 1; /* the caller's */
    if (fresh->len <= c->cap) {
        fresh->refs++; /* the list's */
        fresh->cached = true;
        c->bytes += fresh->len;
        push_front_locked(c, fresh);
        struct fs_png **b = bucket_of(c, id, page);
        fresh->hnext = *b;
        *b = fresh;
        shrink_locked(c, &dead);
    }
    pthread_mutex_unlock(&c->lock);
    free_chain(dead);
    *out = fresh;
    return 0;
}

bool fs_preview_size_known(struct fs_previews *c, uint64_t id, int page, uint64_t *size)
{
    pthread_mutex_lock(&c->lock);
    struct fs_png *p = find_locked(c, id, page);
    if (p)
        *size = p->len;
    pthread_mutex_unlock(&c->lock);
    return p != NULL;
}

void fs_png_release(struct fs_png *p)
{
    if (!p)
        return;
    struct fs_previews *c = p->owner;
    pthread_mutex_lock(&c->lock);
    bool last = --p->refs == 0;
    pthread_mutex_unlock(&c->lock);
    if (last)
        png_free(p);
}

void fs_preview_forget(struct fs_previews *c, uint64_t id)
{
    struct fs_png *dead = NULL;

    pthread_mutex_lock(&c->lock);
    for (struct fs_png *p = c->head, *next; p; p = next) {
        next = p->next;
        if (p->id == id && unlink_locked(c, p)) {
            p->next = dead;
            dead = p;
        }
    }
    pthread_mutex_unlock(&c->lock);
    free_chain(dead);
}

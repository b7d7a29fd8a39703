/*
 * jobcache.c - the view's memory of job snapshots and page sizes. Serving a
 * stat or a read is far cheaper than copying the job out of the engine under
 * its lock each time, so a snapshot is kept until the queue says the job
 * changed (the listener calls fs_jobs_forget before the notifier tells the
 * kernel). Page sizes are kept even then: page bytes never change.
 *
 * Direct-mapped on the job id: ids are consecutive, so the live jobs of a
 * queue rarely collide, and a collision only costs a fresh snapshot.
 */
#include "fs/internal.h"
#include "fs/render.h"

#include <errno.h>
#include <stdlib.h>
#include <string.h>
#include <sys/stat.h>
#include <unistd.h>

_Static_assert(FS_JOB_NODES > NODE_CTL, "every job file node needs a seen value");

/* The slot of id, or NULL when its chunk is not there yet and create is
 * false (an empty slot: nothing known, nothing changed), or cannot be
 * allocated. Called with the lock held. */
static struct fs_cached_job *slot_of(struct fs_jobcache *c, uint64_t id, bool create)
{
    size_t i = (size_t)(id % FS_JOBCACHE_SLOTS);
    struct fs_cached_job **chunk = &c->chunks[i / FS_JOBCACHE_CHUNK];

    if (*chunk == NULL && create)
        *chunk = calloc(FS_JOBCACHE_CHUNK, sizeof **chunk);
    return *chunk ? &(*chunk)[i % FS_JOBCACHE_CHUNK] : NULL;
}

int fs_jobcache_init(struct fs_jobcache *c)
{
    pthread_mutex_init(&c->lock, NULL);
    memset(c->chunks, 0, sizeof c->chunks);
    memset(c->claimed, 0, sizeof c->claimed);
    return 0;
}

void fs_jobcache_free(struct fs_jobcache *c)
{
    /* Only claimed slots own memory. */
    for (size_t w = 0; w < FS_JOBCACHE_SLOTS / 64; w++)
        for (uint64_t bits = c->claimed[w]; bits != 0; bits &= bits - 1) {
            size_t i = w * 64 + (size_t)__builtin_ctzll(bits);
            struct fs_cached_job *s = &c->chunks[i / FS_JOBCACHE_CHUNK][i % FS_JOBCACHE_CHUNK];
            free(s->page_size);
            for (int n = 0; n < FS_JOB_NODES; n++)
                free(s->seen[n].content);
        }
    memset(c->claimed, 0, sizeof c->claimed);
    for (size_t k = 0; k < FS_JOBCACHE_SLOTS / FS_JOBCACHE_CHUNK; k++) {
        free(c->chunks[k]);
        c->chunks[k] = NULL;
    }
    pthread_mutex_destroy(&c->lock);
}

/* Makes the slot belong to id, dropping what it knew of another job. */
static void claim(struct fs_jobcache *c, struct fs_cached_job *s, uint64_t id)
{
    if (s->id == id)
        return;
    size_t i = (size_t)(id % FS_JOBCACHE_SLOTS);
    c->claimed[i / 64] |= UINT64_C(1) << (i % 64);
    s->id = id;
    s->valid = false;
    free(s->page_size);
    s->page_size = NULL;
    s->npages = 0;
    for (int n = 0; n < FS_JOB_NODES; n++) {
        free(s->seen[n].content);
        s->seen[n] = (struct fs_seen_value){ 0 };
    }
}

int fs_jobs_with_seen(struct fs *fs, enum fs_area area, uint64_t id, uint32_t node, bool claim_slot,
                      int (*fn)(struct fs_seen_value *v, void *arg), void *arg)
{
    struct fs_jobcache *c = &fs->jobs;
    int r = -ENOENT;

    if (node >= FS_JOB_NODES)
        return -ENOENT;
    pthread_mutex_lock(&c->lock);
    struct fs_cached_job *s = slot_of(c, id, claim_slot);
    if (s == NULL) {
        pthread_mutex_unlock(&c->lock);
        return claim_slot ? -ENOMEM : -ENOENT;
    }
    if (claim_slot && s->id != id) {
        claim(c, s, id);
        s->seq++; /* a snapshot being fetched for the old owner must not land */
    }
    struct fs_seen_value *v = &s->seen[node];
    /* jobs/1/status and history/1/status share the value: a reader that
     * opened the old name must not get bytes published for the new one. */
    if (s->id == id && (claim_slot || !v->published || v->area == (uint8_t)area)) {
        if (v->area != (uint8_t)area)
            v->cached_hash = 0; /* another inode: its page cache is its own */
        v->area = (uint8_t)area;
        r = fn(v, arg);
    }
    pthread_mutex_unlock(&c->lock);
    return r;
}

int fs_jobs_get(struct fs *fs, uint64_t id, struct job *out)
{
    struct fs_jobcache *c = &fs->jobs;

    pthread_mutex_lock(&c->lock);
    /* Made here if missing, so that a change announced while the snapshot
     * is copied (fs_jobs_forget) lands on the slot read below. Without it
     * (no memory) the snapshot is served, not kept. */
    struct fs_cached_job *s = slot_of(c, id, true);
    if (s && s->id == id && s->valid) {
        *out = s->job;
        pthread_mutex_unlock(&c->lock);
        return 0;
    }
    uint32_t seq = s ? s->seq : 0;
    pthread_mutex_unlock(&c->lock);

    int r = queue_snapshot(fs->q, id, out);

    /* Keep it only if no change was announced while we copied: otherwise
     * an old snapshot could outlive the notification meant to end it. */
    pthread_mutex_lock(&c->lock);
    if (r == 0 && s && s->seq == seq) {
        claim(c, s, id);
        s->job = *out;
        s->valid = true;
    }
    pthread_mutex_unlock(&c->lock);
    return r;
}

void fs_jobs_forget(struct fs *fs, uint64_t id)
{
    struct fs_jobcache *c = &fs->jobs;

    int64_t now = fs_monotonic_ms();

    pthread_mutex_lock(&c->lock);
    /* A missing chunk holds no snapshot and no reader's sequence number
     * (fs_jobs_get makes it first), but the change's time still counts. */
    struct fs_cached_job *s = slot_of(c, id, true);
    if (s) {
        s->seq++;
        s->changed_ms = now;
        if (s->id == id)
            s->valid = false;
    }
    pthread_mutex_unlock(&c->lock);
}

uint32_t fs_jobs_seq(struct fs *fs, uint64_t id)
{
    struct fs_jobcache *c = &fs->jobs;

    pthread_mutex_lock(&c->lock);
    struct fs_cached_job *s = slot_of(c, id, false);
    uint32_t seq = s ? s->seq : 0;
    pthread_mutex_unlock(&c->lock);
    return seq;
}

bool fs_jobs_settled(struct fs *fs, uint64_t id)
{
    struct fs_jobcache *c = &fs->jobs;
    int64_t now = fs_monotonic_ms();

    pthread_mutex_lock(&c->lock);
    struct fs_cached_job *s = slot_of(c, id, false);
    bool settled = !s || s->changed_ms == 0 || now - s->changed_ms >= FS_SETTLE_MS;
    pthread_mutex_unlock(&c->lock);
    return settled;
}

int fs_spool_file_size(int fd, uint64_t *size)
{
    struct stat st;

    if (fd < 0)
        return fd;
    int r = fstat(fd, &st) < 0 ? -errno : 0;
    close(fd);
    if (r == 0)
        *size = (uint64_t)st.st_size;
    return r;
}

bool fs_jobs_page_size_known(struct fs *fs, uint64_t id, int page, uint64_t *size)
{
    struct fs_jobcache *c = &fs->jobs;

    if (page < 0)
        return false;
    pthread_mutex_lock(&c->lock);
    struct fs_cached_job *s = slot_of(c, id, false);
    bool hit = s && s->id == id && page < s->npages && s->page_size[page] != 0;
    if (hit)
        *size = s->page_size[page];
    pthread_mutex_unlock(&c->lock);
    return hit;
}

int fs_jobs_page_size(struct fs *fs, uint64_t id, int page, uint64_t *size)
{
    struct fs_jobcache *c = &fs->jobs;

    if (page < 0)
        return -ENOENT;
    if (fs_jobs_page_size_known(fs, id, page, size))
        return 0;

    int r = fs_spool_file_size(queue_open_page(fs->q, id, page), size);
    if (r < 0 || *size == 0)
        return r;
    pthread_mutex_lock(&c->lock);
    struct fs_cached_job *s = slot_of(c, id, true);
    if (s == NULL) { /* no memory to remember it: the size is still right */
        pthread_mutex_unlock(&c->lock);
        return 0;
    }
    claim(c, s, id);
    if (page >= s->npages) { /* received faxes grow: make room */
        int n = page + 8;
        uint64_t *v = realloc(s->page_size, (size_t)n * sizeof *v);
        if (v) {
            memset(v + s->npages, 0, (size_t)(n - s->npages) * sizeof *v);
            s->page_size = v;
            s->npages = n;
        }
    }
    if (page < s->npages)
        s->page_size[page] = *size;
    pthread_mutex_unlock(&c->lock);
    return 0;
}

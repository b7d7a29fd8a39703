/*
 * handle.c - the life of an open-file handle: made at open or create,
 * counted against its opener and its outbox entry, and freed only some
 * time after its release.
 */
#include "fs/handle.h"

#include <stdio.h>
#include <stdlib.h>
#include <unistd.h>

#include "fs/names.h"
#include "fs/preview.h"

struct fs_handle *fs_handle_new(enum fs_handle_kind kind, const struct fs_ino *w)
{
    struct fs_handle *h = calloc(1, sizeof *h);

    if (h) {
        h->kind = kind;
        h->where = *w;
        h->fd = -1;
        pthread_mutex_init(&h->io_lock, NULL);
    }
    return h;
}

void fs_handle_free(struct fs_handle *h)
{
    if (!h)
        return;
    if (h->fd >= 0)
        close(h->fd);
    fs_png_release(h->png);
    pthread_mutex_destroy(&h->io_lock);
    free(h->data);
    free(h);
}

/* This kernel can deliver a READ for a handle after its RELEASE (seen
 * with page-cache readahead), so a released handle is freed only once it
 * has been retired for FS_RETIRE_MS: its buffer and its spool fd (which
 * could otherwise be reused for another file) stay valid for late reads. */
void fs_handle_retire(struct fs *fs, struct fs_handle *h)
{
    int64_t now = fs_monotonic_ms();
    struct fs_handle *old = NULL, **tail = &old;

    h->retired_ms = now;
    h->retired_next = NULL;
    pthread_mutex_lock(&fs->retired_lock);
    /* Oldest first: take the expired ones from the front, add at the back. */
    while (fs->retired && now - fs->retired->retired_ms >= FS_RETIRE_MS) {
        *tail = fs->retired;
        tail = &fs->retired->retired_next;
        fs->retired = fs->retired->retired_next;
    }
    *tail = NULL;
    if (fs->retired)
        fs->retired_last->retired_next = h;
    else
        fs->retired = h;
    fs->retired_last = h;
    pthread_mutex_unlock(&fs->retired_lock);
    while (old) {
        struct fs_handle *next = old->retired_next;
        fs_handle_free(old);
        old = next;
    }
}

void fs_handle_free_retired(struct fs *fs)
{
    while (fs->retired) {
        struct fs_handle *next = fs->retired->retired_next;
        fs_handle_free(fs->retired);
        fs->retired = next;
    }
}

/* Counts an open handle against its opener (it holds a descriptor in the
 * daemon) and against its outbox entry (a draft in use never expires). */
int fs_handle_count(struct fs *fs, struct fs_handle *h, uid_t uid, bool fd, struct outbox_entry *e)
{
    if (fd) {
        int r = fs_outbox_handle_get(&fs->outbox, uid);
        if (r < 0) {
            char name[64];
            fs_user_name(uid, name, sizeof name);
            fprintf(stderr, "faxfs: %s (uid %lld) has %d files open (uploads, draft documents, pages, previews, "
                            "logs): refused with EMFILE; close some (limit: --max-open-files-per-user)\n",
                    name, (long long)uid, fs->outbox.limits.handles_per_user);
            return r;
        }
        h->counted = true;
    }
    h->uid = uid;
    if (e) {
        e->handles++;
        h->holds_entry = true;
    }
    return 0;
}

void fs_handle_uncount(struct fs *fs, struct fs_handle *h)
{
    if (!h->counted && !h->holds_entry)
        return;
    pthread_mutex_lock(&fs->outbox.lock);
    if (h->counted)
        fs_outbox_handle_put(&fs->outbox, h->uid);
    struct outbox_entry *e = h->holds_entry ? fs_outbox_get(&fs->outbox, h->where.id) : NULL;
    if (e && e->handles > 0)
        e->handles--;
    h->counted = h->holds_entry = false;
    pthread_mutex_unlock(&fs->outbox.lock);
}

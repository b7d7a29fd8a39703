/*
 * notify.c - keeps the kernel's caches fresh. The queue's listener and the
 * outbox only append events to a list; one notifier thread takes the list,
 * drops duplicates and tells the kernel which inodes and names are stale.
 * Notify calls are never made from a request handler nor under a lock a
 * handler may take, which is how other FUSE servers have deadlocked. The
 * kernel answers -ENOENT for inodes it does not hold: that is normal.
 */
#include "fs/group.h"
#include "fs/internal.h"
#include "fs/wait.h"

#include <errno.h>
#include <inttypes.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include "fs/parse.h"
#include "fs/render.h"

static void post(struct fs *fs, enum queue_event ev, uint64_t id, const char *name)
{
    struct fs_notifier *n = &fs->notifier;

    pthread_mutex_lock(&n->lock);
    if (n->npending == n->cap) {
        size_t cap = n->cap ? n->cap * 2 : 256;
        struct fs_event *v = realloc(n->pending, cap * sizeof *v);
        if (!v) { /* lose this one: the attr timeout bounds the staleness */
            pthread_mutex_unlock(&n->lock);
            return;
        }
        n->pending = v;
        n->cap = cap;
    }
    n->pending[n->npending++] = (struct fs_event){ ev, id, name ? strdup(name) : NULL };
    pthread_cond_signal(&n->wake);
    pthread_mutex_unlock(&n->lock);
}

void fs_notify_post(struct fs *fs, enum queue_event ev, uint64_t id) { post(fs, ev, id, NULL); }

void fs_notify_outbox(struct fs *fs, enum queue_event ev, uint64_t serial, const char *name)
{
    post(fs, ev, serial, name);
}

/* Runs on engine threads: only marks caches stale and queues the event. */
static void listener_forward(void *ctx, enum queue_event ev, uint64_t id)
{
    struct fs *fs = ctx;

    /* A log line changes only the log files: nothing to tell (and no
     * notifier to wake, once per line of a call's transcript) unless the
     * kernel holds one of them. A lookup after this sees the line. */
    if (ev == QE_LOG && id != 0 && !fs_known_has(fs, fs_ino_make(AREA_JOBS, id, NODE_LOG))
        && !fs_known_has(fs, fs_ino_make(AREA_HISTORY, id, NODE_LOG))
        && !fs_known_has(fs, fs_ino_make(AREA_RECEIVED, id, NODE_LOG)))
        return;
    if (id != 0 && ev != QE_LOG)
        fs_jobs_forget(fs, id); /* before the kernel hears of it */
    if (id != 0 && ev == QE_REMOVED)
        fs_preview_forget(&fs->previews, id); /* deleted for good: no reader will ask again */
    if (ev != QE_LOG) /* job counts in `server` change too */
        fs->server_changed_ms = fs_monotonic_ms();
    post(fs, ev, id, NULL);
}

int fs_listener_attach(struct fs *fs)
{
    return queue_subscribe(fs->q, listener_forward, fs);
}

void fs_listener_detach(struct fs *fs)
{
    queue_unsubscribe(fs->q, listener_forward, fs);
}

/* Only inodes the kernel may hold (known.c): the others would cost a
 * write to /dev/fuse each, answered ENOENT. */
static void inval(struct fs *fs, uint64_t ino)
{
    if (ino && fs_known_has(fs, ino))
        fuse_lowlevel_notify_inval_inode(fs->se, ino, 0, 0);
}

static void inval_server(struct fs *fs)
{
    inval(fs, fs_ino_top(TOP_SERVER));
    inval(fs, fs_ino_top(TOP_METRICS));
    for (int i = 0; i < queue_modem_count(fs->q); i++)
        for (int node = 1; node <= fs_modem_file_count(); node++)
            inval(fs, fs_ino_make(AREA_MODEMS, (uint64_t)i, (uint32_t)node));
    for (int i = 0; i < queue_line_count(fs->q); i++)
        for (int node = 1; node <= fs_line_file_count(); node++)
            inval(fs, fs_ino_make(AREA_LINES, (uint64_t)i, (uint32_t)node));
}

static void inval_job_files(struct fs *fs, enum fs_area a, uint64_t id)
{
    static const uint32_t extra[] = { NODE_SELF, NODE_INFO, NODE_LOG, NODE_PAGES };

    for (int node = 1; node <= fs_job_field_count(); node++)
        inval(fs, fs_ino_make(a, id, (uint32_t)node));
    for (size_t i = 0; i < sizeof extra / sizeof extra[0]; i++)
        inval(fs, fs_ino_make(a, id, extra[i]));
}

/* A job is visible in at most one area; wherever it is not, its directory
 * must vanish from the kernel's dentry cache. */
static void job_event(struct fs *fs, enum queue_event ev, uint64_t id)
{
    static const struct { enum fs_area area; enum fs_top_node dir; } places[] = {
        { AREA_JOBS, TOP_JOBS }, { AREA_HISTORY, TOP_HISTORY }, { AREA_RECEIVED, TOP_RECEIVED },
    };
    char name[24];
    struct job job;
    bool exists = ev != QE_REMOVED && queue_snapshot(fs->q, id, &job) == 0;

    snprintf(name, sizeof name, "%" PRIu64, id);
    for (size_t i = 0; i < sizeof places / sizeof places[0]; i++) {
        /* The job's name in an area is cached only if its directory's
         * inode was given to the kernel there (known.c). */
        bool known = fs_known_has(fs, fs_ino_make(places[i].area, id, NODE_SELF));
        bool here = exists && fs_job_in_area(&job, places[i].area);
        /* Inodes of the area a send job left still serve it (open logs,
         * working directories: fs_job_behind), so they are refreshed too. */
        bool behind = exists && fs_job_served_in(&job, places[i].area);

        if (ev == QE_LOG) {
            if (behind)
                inval(fs, fs_ino_make(places[i].area, id, NODE_LOG));
            continue;
        }
        if (behind)
            inval_job_files(fs, places[i].area, id);
        if (here) {
            inval(fs, fs_ino_top(places[i].dir));
        } else if (known) {
            /* inval_entry, not notify_delete: the kernel refuses to delete a
             * directory whose children it still caches (ENOTEMPTY), while an
             * invalidated entry is looked up again and then misses. */
            if (fuse_lowlevel_notify_inval_entry(fs->se, fs_ino_top(places[i].dir), name, strlen(name)) == 0)
                inval(fs, fs_ino_top(places[i].dir));
        }
    }
    if (ev != QE_LOG) {
        inval(fs, fs_ino_top(TOP_SERVER));
        inval(fs, fs_ino_top(TOP_METRICS));
        inval(fs, fs_ino_top(TOP_GROUPS));
    }
    /* A broadcast's group files change with every job of the group. */
    if (ev != QE_LOG && exists && job.group != 0) {
        for (uint32_t node = 0; node <= (uint32_t)fs_group_file_count(); node++)
            inval(fs, fs_ino_make(AREA_GROUPS, job.group, node));
    }
    if (ev == QE_REMOVED) /* gone for good: its names answer ENOENT from now on */
        for (size_t i = 0; i < sizeof places / sizeof places[0]; i++)
            fs_known_drop(fs, places[i].area, id);
}

static void outbox_event(struct fs *fs, const struct fs_event *e)
{
    uint64_t ino = fs_ino_make(AREA_OUTBOX, e->id, NODE_SELF);

    /* A name that went away, or came back as a new entry. */
    if (e->name)
        fuse_lowlevel_notify_inval_entry(fs->se, fs_ino_top(TOP_OUTBOX), e->name, strlen(e->name));
    inval(fs, ino);
    inval(fs, fs_ino_top(TOP_OUTBOX));
    for (int node = 1; node <= fs_draft_field_count(); node++)
        inval(fs, fs_ino_make(AREA_OUTBOX, e->id, (uint32_t)node));
    inval(fs, fs_ino_make(AREA_OUTBOX, e->id, NODE_ERROR));
}

static int event_cmp(const void *a, const void *b)
{
    const struct fs_event *x = a, *y = b;

    if (x->id != y->id)
        return x->id < y->id ? -1 : 1;
    return (int)x->ev - (int)y->ev;
}

static void deliver(struct fs *fs, struct fs_event *v, size_t n)
{
    bool server = false;

    /* Outbox events keep their order (a name may go and come back). */
    for (size_t i = 0; i < n; i++)
        if (v[i].ev == FS_EV_OUTBOX || v[i].ev == FS_EV_OUTBOX_GONE)
            outbox_event(fs, &v[i]);
    qsort(v, n, sizeof *v, event_cmp);
    for (size_t i = 0; i < n; i++) {
        if (v[i].ev == FS_EV_OUTBOX || v[i].ev == FS_EV_OUTBOX_GONE)
            continue;
        if (i > 0 && v[i].id == v[i - 1].id && v[i].ev == v[i - 1].ev)
            continue;
        if (v[i].ev == QE_SERVER || v[i].id == 0)
            server = true;
        else
            job_event(fs, v[i].ev, v[i].id);
        if (v[i].ev != QE_SERVER && v[i].ev != QE_LOG && v[i].id != 0)
            fs_waits_job_changed(fs, v[i].id); /* after the kernel was told */
    }
    if (server)
        inval_server(fs);
}

static void *notifier_main(void *arg)
{
    struct fs *fs = arg;
    struct fs_notifier *n = &fs->notifier;

    for (;;) {
        pthread_mutex_lock(&n->lock);
        while (!n->stop && n->npending == 0)
            pthread_cond_wait(&n->wake, &n->lock);
        if (n->stop) {
            pthread_mutex_unlock(&n->lock);
            return NULL;
        }
        struct fs_event *v = n->pending;
        size_t count = n->npending;
        n->pending = NULL;
        n->npending = n->cap = 0;
        pthread_mutex_unlock(&n->lock);

        deliver(fs, v, count);
        for (size_t i = 0; i < count; i++)
            free(v[i].name);
        free(v);
    }
}

int fs_notifier_start(struct fs *fs)
{
    struct fs_notifier *n = &fs->notifier;
    int r = pthread_create(&n->thread, NULL, notifier_main, fs);

    if (r != 0)
        return -r;
    n->started = true;
    return 0;
}

void fs_notifier_stop(struct fs *fs)
{
    struct fs_notifier *n = &fs->notifier;

    if (n->started) {
        pthread_mutex_lock(&n->lock);
        n->stop = true;
        pthread_cond_signal(&n->wake);
        pthread_mutex_unlock(&n->lock);
        pthread_join(n->thread, NULL);
        n->started = false;
    }
    for (size_t i = 0; i < n->npending; i++)
        free(n->pending[i].name);
    free(n->pending);
    n->pending = NULL;
    n->npending = n->cap = 0;
}

/*
 * wait.c - reads that wait for a job, and poll() on job files.
 *
 * `cat jobs/ID/wait` answers when the job is final (done, failed,
 * canceled). The read is not answered by the worker thread that took it:
 * the request is parked here and answered from the notifier thread when
 * the job's change is announced, so a thousand waiting readers hold no
 * FUSE worker and everyone else's ls and cat go on. An interrupted reader
 * (Ctrl-C, kill) is answered EINTR at once by libfuse's interrupt
 * callback, so nothing of it stays behind.
 *
 * poll() on a job's files (status, pages_sent, ...) reports POLLPRI
 * once the job changed after the file was opened (reopen to read the new
 * value): a poll before that keeps its handle here and fires it at the
 * job's next announced change. "Changed" is the job cache's change count
 * of the job's slot, so a change of a job 16384 ids away may wake a
 * poller too: it reads the same value again, nothing is missed.
 *
 * Locking: waits.lock protects the tables and each entry's claimed flag.
 * libfuse calls the interrupt callback with the request's own lock held
 * and the callback takes waits.lock; so waits.lock is never held while
 * calling into libfuse (fuse_req_interrupt_func, replies, notify_poll).
 */
#include "fs/internal.h"

#include <errno.h>
#include <poll.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include "fs/wait.h"

struct fs_waiter {
    fuse_req_t req;
    uint64_t id;
    uid_t uid;
    size_t size; /* the read's size */
    bool claimed; /* answered or being answered: whoever sets it answers and frees */
    bool linked;  /* in its bucket (the interrupt callback frees only a linked one) */
    struct fs_waiter *prev, *next;
};

struct fs_poller {
    struct fuse_pollhandle *ph;
    uint64_t id;
    const void *owner; /* the open file it watches, to drop it at release */
    struct fs_poller *next;
};

static unsigned bucket_of(uint64_t id) { return (unsigned)(id % FS_WAIT_BUCKETS); }

int fs_waits_init(struct fs_waits *w)
{
    memset(w, 0, sizeof *w);
    return -pthread_mutex_init(&w->lock, NULL);
}

/* The slot of uid in the table of waiting users, -1 when it has none
 * (add: makes one, -1 when the table is full). */
static int user_slot(struct fs_waits *w, uid_t uid, bool add)
{
    for (int i = 0; i < w->nusers; i++)
        if (w->users[i].uid == uid)
            return i;
    if (!add || w->nusers == FS_WAIT_USERS)
        return -1;
    w->users[w->nusers] = (struct fs_wait_user){.uid = uid};
    return w->nusers++;
}

static void unlink_waiter(struct fs_waits *w, struct fs_waiter *x)
{
    if (x->prev)
        x->prev->next = x->next;
    else
        w->buckets[bucket_of(x->id)] = x->next;
    if (x->next)
        x->next->prev = x->prev;
    x->linked = false;
    w->count--;
    int i = user_slot(w, x->uid, false);
    if (i >= 0 && --w->users[i].count == 0) /* keep the table short */
        w->users[i] = w->users[--w->nusers];
}

/* libfuse, on an interrupt of a parked read (its request lock held). */
static void on_interrupt(fuse_req_t req, void *data)
{
    struct fs_waiter *x = data;
    struct fs_waits *w = &((struct fs *)fuse_req_userdata(req))->waits;

    pthread_mutex_lock(&w->lock);
    if (x->claimed) {
        pthread_mutex_unlock(&w->lock);
        return;
    }
    x->claimed = true;
    bool linked = x->linked;
    if (linked)
        unlink_waiter(w, x);
    pthread_mutex_unlock(&w->lock);
    fuse_reply_err(req, EINTR);
    if (linked)
        free(x); /* not linked: fs_wait_read is still setting it up and frees it */
}

/* "done\n", "failed\n" or "canceled\n" cut to size. */
static void reply_final(fuse_req_t req, const struct job *job, size_t size)
{
    char buf[32];
    int n = snprintf(buf, sizeof buf, "%s\n", job_status_name(job->status));
    fuse_reply_buf(req, buf, (size_t)n < size ? (size_t)n : size);
}

/* Answers req from the job's state now; false when it is not final yet. */
static bool answer_if_final(struct fs *fs, fuse_req_t req, uint64_t id, size_t size)
{
    struct job job;
    if (queue_snapshot(fs->q, id, &job) < 0) {
        fuse_reply_err(req, ENOENT); /* deleted while waited for */
        return true;
    }
    if (!job_status_is_final(job.status) || job.unsaved) /* told once stored */
        return false;
    reply_final(req, &job, size);
    return true;
}

void fs_wait_read(struct fs *fs, fuse_req_t req, uint64_t id, size_t size)
{
    struct fs_waits *w = &fs->waits;
    const struct fuse_ctx *ctx = fuse_req_ctx(req);

    if (answer_if_final(fs, req, id, size))
        return;
    struct fs_waiter *x = calloc(1, sizeof *x);
    if (!x)
        return (void)fuse_reply_err(req, ENOMEM);
    *x = (struct fs_waiter){.req = req, .id = id, .uid = ctx->uid};
    /* Registered before anyone else can see x: an interrupt that came
     * already is answered now, and x is ours to free. */
    fuse_req_interrupt_func(req, on_interrupt, x);
    pthread_mutex_lock(&w->lock);
    if (x->claimed) {
        pthread_mutex_unlock(&w->lock);
        free(x);
        return;
    }
    int u = user_slot(w, x->uid, true);
    const char *full = w->count >= FS_WAITERS_TOTAL                                          ? "the mount has"
                       : u < 0 || (x->uid != 0 && w->users[u].count >= FS_WAITERS_PER_USER) ? "this user has"
                                                                                             : NULL;
    if (full) {
        x->claimed = true;
        if (u >= 0 && w->users[u].count == 0)
            w->users[u] = w->users[--w->nusers];
        pthread_mutex_unlock(&w->lock);
        fprintf(stderr,
                "faxfs: job %llu: wait refused with EAGAIN: %s too many readers waiting (%d per user, %d in all); "
                "let some finish, or poll status instead\n",
                (unsigned long long)id, full, FS_WAITERS_PER_USER, FS_WAITERS_TOTAL);
        fuse_req_interrupt_func(req, NULL, NULL);
        fuse_reply_err(req, EAGAIN);
        free(x);
        return;
    }
    w->users[u].count++;
    x->size = size;
    unsigned b = bucket_of(id);
    x->next = w->buckets[b];
    if (x->next)
        x->next->prev = x;
    w->buckets[b] = x;
    x->linked = true;
    w->count++;
    pthread_mutex_unlock(&w->lock);
    /* The job may have finished between the first look and now, its
     * announcement gone by before x was in the table: look again, through
     * the table, since x is no longer only ours. */
    fs_waits_job_changed(fs, id);
}

/* Takes every waiter of id out of the table, onto *out; returns how many. */
static size_t claim_all(struct fs_waits *w, uint64_t id, struct fs_waiter **out)
{
    size_t n = 0;
    pthread_mutex_lock(&w->lock);
    struct fs_waiter *x = w->buckets[bucket_of(id)];
    while (x) {
        struct fs_waiter *next = x->next;
        if (x->id == id && !x->claimed) {
            x->claimed = true;
            unlink_waiter(w, x);
            x->next = *out;
            *out = x;
            n++;
        }
        x = next;
    }
    pthread_mutex_unlock(&w->lock);
    return n;
}

static void fire_pollers(struct fs *fs, uint64_t id)
{
    struct fs_waits *w = &fs->waits;
    struct fs_poller *fired = NULL;

    pthread_mutex_lock(&w->lock);
    for (struct fs_poller **p = &w->pollers; *p;) {
        if ((*p)->id == id) {
            struct fs_poller *f = *p;
            *p = f->next;
            f->next = fired;
            fired = f;
            w->npollers--;
        } else {
            p = &(*p)->next;
        }
    }
    pthread_mutex_unlock(&w->lock);
    while (fired) {
        struct fs_poller *f = fired;
        fired = f->next;
        fuse_lowlevel_notify_poll(f->ph);
        fuse_pollhandle_destroy(f->ph);
        free(f);
    }
}

void fs_waits_job_changed(struct fs *fs, uint64_t id)
{
    struct job job;
    bool gone = queue_snapshot(fs->q, id, &job) < 0;

    fire_pollers(fs, id);
    if (!gone && (!job_status_is_final(job.status) || job.unsaved))
        return;
    struct fs_waiter *list = NULL;
    if (claim_all(&fs->waits, id, &list) == 0)
        return;
    while (list) {
        struct fs_waiter *x = list;
        list = x->next;
        /* Waits out an interrupt callback already running for x: it sees
         * x claimed and leaves it to us. */
        fuse_req_interrupt_func(x->req, NULL, NULL);
        if (gone)
            fuse_reply_err(x->req, ENOENT);
        else
            reply_final(x->req, &job, x->size);
        free(x);
    }
}

int fs_poll_job(struct fs *fs, uint64_t id, const void *owner, uint32_t opened_seq, struct fuse_pollhandle *ph,
                unsigned *revents)
{
    struct fs_waits *w = &fs->waits;

    *revents = POLLIN | POLLRDNORM;
    if (fs_jobs_seq(fs, id) != opened_seq) {
        /* Changed since the open: say so now. */
        *revents |= POLLPRI;
        if (ph)
            fuse_pollhandle_destroy(ph);
        return 0;
    }
    if (!ph)
        return 0;
    struct fs_poller *f = malloc(sizeof *f);
    if (!f) {
        fuse_pollhandle_destroy(ph);
        return -ENOMEM;
    }
    *f = (struct fs_poller){.ph = ph, .id = id, .owner = owner};
    pthread_mutex_lock(&w->lock);
    /* One pending handle per open file: a new poll replaces the old. */
    struct fs_poller *old = NULL;
    for (struct fs_poller **p = &w->pollers; *p; p = &(*p)->next)
        if ((*p)->owner == owner) {
            old = *p;
            *p = old->next;
            w->npollers--;
            break;
        }
    bool full = w->npollers >= FS_POLLERS_TOTAL;
    if (!full) {
        f->next = w->pollers;
        w->pollers = f;
        w->npollers++;
    }
    pthread_mutex_unlock(&w->lock);
    if (old) {
        fuse_pollhandle_destroy(old->ph);
        free(old);
    }
    if (full) {
        fprintf(stderr, "faxfs: job %llu: poll refused with EAGAIN: %d poll handles pending in all\n",
                (unsigned long long)id, FS_POLLERS_TOTAL);
        fuse_pollhandle_destroy(ph);
        free(f);
        return -EAGAIN;
    }
    /* A change announced between the first look and now fired nobody. */
    if (fs_jobs_seq(fs, id) != opened_seq)
        fire_pollers(fs, id);
    return 0;
}

void fs_poll_forget(struct fs *fs, const void *owner)
{
    struct fs_waits *w = &fs->waits;
    struct fs_poller *old = NULL;

    pthread_mutex_lock(&w->lock);
    for (struct fs_poller **p = &w->pollers; *p; p = &(*p)->next)
        if ((*p)->owner == owner) {
            old = *p;
            *p = old->next;
            w->npollers--;
            break;
        }
    pthread_mutex_unlock(&w->lock);
    if (old) {
        fuse_pollhandle_destroy(old->ph);
        free(old);
    }
}

void fs_waits_stop(struct fs *fs)
{
    struct fs_waits *w = &fs->waits;
    struct fs_waiter *list = NULL;

    pthread_mutex_lock(&w->lock);
    for (unsigned b = 0; b < FS_WAIT_BUCKETS; b++)
        while (w->buckets[b]) {
            struct fs_waiter *x = w->buckets[b];
            x->claimed = true;
            unlink_waiter(w, x);
            x->next = list;
            list = x;
        }
    struct fs_poller *pollers = w->pollers;
    w->pollers = NULL;
    w->npollers = 0;
    pthread_mutex_unlock(&w->lock);
    while (list) {
        struct fs_waiter *x = list;
        list = x->next;
        fuse_req_interrupt_func(x->req, NULL, NULL);
        fuse_reply_err(x->req, ENOTCONN);
        free(x);
    }
    while (pollers) {
        struct fs_poller *f = pollers;
        pollers = f->next;
        fuse_pollhandle_destroy(f->ph);
        free(f);
    }
}

void fs_waits_free(struct fs_waits *w)
{
    pthread_mutex_destroy(&w->lock);
}

int fs_waits_count(struct fs *fs)
{
    pthread_mutex_lock(&fs->waits.lock);
    int n = fs->waits.count;
    pthread_mutex_unlock(&fs->waits.lock);
    return n;
}

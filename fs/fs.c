/*
 * fs.c - the FUSE front end: the session, the one table of low-level
 * handlers, and the open-file handles. Handlers answer from the namespace
 * (node.c), the outbox (outbox.c, submit.c) and the queue's public API;
 * they never block on a modem and never send kernel notifications.
 */
#include "fs/internal.h"

#include <errno.h>
#include <grp.h>
#include <inttypes.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <unistd.h>

#include "fs/metrics.h"
#include "fs/names.h"
#include "fs/parse.h"
#include "fs/render.h"
#include "fs/submit.h"

enum handle_kind {
    H_TEXT,        /* a snapshot rendered at open */
    H_FD,          /* a page or the log: read-only spool fd */
    H_PNG,         /* a page preview: shared bytes from the preview cache */
    H_JOB_CTL,
    H_SERVER_CTL,
    H_UPLOAD,      /* outbox/NUMBER.tif being written */
    H_DRAFT_FIELD,
    H_DRAFT_CTL,
    H_DRAFT_DOC,
};

struct fs_handle {
    struct fs_handle *retired_next; /* on fs->retired after release */
    int64_t retired_ms;
    enum handle_kind kind;
    struct fs_ino where;
    char *data; /* H_TEXT: the snapshot; H_DRAFT_FIELD: what was written */
    size_t len, cap;
    int fd;     /* H_FD, H_UPLOAD, H_DRAFT_DOC: owned */
    struct fs_png *png; /* H_PNG: a reference, released with the handle */
    bool published; /* H_TEXT: reads serve the published value, not data */
    bool counted;   /* counted in the opener's open handles (fs_outbox_handle_get) */
    /* H_UPLOAD, H_DRAFT_DOC: held around every use of fd, which release
     * closes at once (a retired handle keeps no outbox file open). */
    pthread_mutex_t io_lock;
    bool holds_entry; /* counted in the outbox entry's handles (no expiry) */
    uid_t uid;      /* the opener */
};

#define FS_MAX_THREADS 16

static struct fs *fs_of(fuse_req_t req) { return fuse_req_userdata(req); }
static struct fs_handle *handle_of(struct fuse_file_info *fi) { return (struct fs_handle *)(uintptr_t)fi->fh; }

void fs_caller_of(fuse_req_t req, struct fs_caller *out)
{
    const struct fuse_ctx *ctx = fuse_req_ctx(req);
    int n = fuse_req_getgroups(req, FS_CALLER_GROUPS, out->groups);

    out->uid = ctx->uid;
    out->gid = ctx->gid;
    out->ngroups = n < 0 ? 0 : n > FS_CALLER_GROUPS ? FS_CALLER_GROUPS : n;
}

void fs_caller_to_queue(const struct fs_caller *c, struct queue_caller *out)
{
    out->uid = c->uid;
    out->gid = c->gid;
    out->groups = c->groups;
    out->ngroups = c->ngroups;
}

static struct fs_handle *handle_new(enum handle_kind kind, const struct fs_ino *w)
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

static void handle_free(struct fs_handle *h)
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
static void handle_retire(struct fs *fs, struct fs_handle *h)
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
        handle_free(old);
        old = next;
    }
}

static void retired_free_all(struct fs *fs)
{
    while (fs->retired) {
        struct fs_handle *next = fs->retired->retired_next;
        handle_free(fs->retired);
        fs->retired = next;
    }
}

/* Counts an open handle against its opener (it holds a descriptor in the
 * daemon) and against its outbox entry (a draft in use never expires). */
static int handle_count(struct fs *fs, struct fs_handle *h, uid_t uid, bool fd, struct outbox_entry *e)
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

static void handle_uncount(struct fs *fs, struct fs_handle *h)
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

static bool wants_write(int flags) { return (flags & O_ACCMODE) != O_RDONLY || (flags & O_TRUNC); }

/* ---- lookup and attributes ---- */

static uint64_t *outbox_file_size(struct fs *fs, const struct fs_ino *w, struct outbox_entry **ep, int64_t **mtime);
static int outbox_file_reserve(struct fs *fs, const struct fs_ino *w, uint64_t new_size, bool only_grow, uint64_t *before);
static void outbox_file_settle(struct fs *fs, const struct fs_ino *w, int fd);

static int fill_entry(fuse_req_t req, struct fs *fs, uint64_t ino, struct fuse_entry_param *e)
{
    double timeout;

    memset(e, 0, sizeof *e);
    int r = fs_stat(fs, ino, &e->attr, &timeout, req);
    if (r < 0)
        return r;
    e->ino = ino;
    e->attr_timeout = e->entry_timeout = timeout;
    return 0;
}

static void fs_lookup(fuse_req_t req, fuse_ino_t parent, const char *name)
{
    struct fs *fs = fs_of(req);
    struct fuse_entry_param e;
    uint64_t ino;
    int r = fs_resolve(fs, parent, name, &ino);

    /* Misses are errors, never cached: a job may appear the next moment. */
    if (r == 0)
        r = fill_entry(req, fs, ino, &e);
    if (r < 0)
        return (void)fuse_reply_err(req, -r);
    fuse_reply_entry(req, &e);
}

static void fs_getattr(fuse_req_t req, fuse_ino_t ino, struct fuse_file_info *fi)
{
    struct stat st;
    double timeout;

    (void)fi;
    int r = fs_stat(fs_of(req), ino, &st, &timeout, req);
    if (r < 0)
        return (void)fuse_reply_err(req, -r);
    fuse_reply_attr(req, &st, timeout);
}

static bool is_ctl(const struct fs_ino *w)
{
    return (w->area == AREA_TOP && w->node == TOP_CTL) || (w->area != AREA_TOP && w->area != AREA_MODEMS && w->node == NODE_CTL);
}

/* Attribute changes the view cannot make are refused with EPERM, never
 * answered with a silent success:
 * - uploads and draft documents take a size (accounted against the owner's
 *   limits) and times (shown as their mtime); chmod and chown are accepted
 *   only when they ask for what is shown, except that chmod may ask for
 *   group and other bits, which outbox content never gets (so `cp -p`
 *   works; docs/security.md);
 * - a draft's value file may be truncated to empty (the field's default);
 * - ctl files are truncated by `echo cmd > ctl` only through open(O_TRUNC),
 *   unless the kernel cannot send O_TRUNC with the open;
 * - everything else refuses every change. */
static int setattr_outbox_file(fuse_req_t req, struct fs *fs, const struct fs_ino *w, struct stat *attr, int to_set,
                               struct fuse_file_info *fi)
{
    struct fs_caller who;
    struct stat cur;
    double timeout;
    uint64_t before = 0;
    int r;

    fs_caller_of(req, &who);
    pthread_mutex_lock(&fs->outbox.lock);
    struct outbox_entry *ent = fs_outbox_get(&fs->outbox, w->id);
    r = !ent ? -ENOENT : w->node == NODE_SELF && ent->kind != OB_UPLOAD ? -EPERM : 0;
    pthread_mutex_unlock(&fs->outbox.lock);
    if (r < 0 || (r = fs_stat(fs, fs_ino_make(w->area, w->id, w->node), &cur, &timeout, req)) < 0)
        return r;
    if (who.uid != 0 && who.uid != cur.st_uid)
        return -EPERM;
    if ((to_set & FUSE_SET_ATTR_UID) && attr->st_uid != cur.st_uid)
        return -EPERM;
    if ((to_set & FUSE_SET_ATTR_GID) && attr->st_gid != cur.st_gid)
        return -EPERM;
    if ((to_set & FUSE_SET_ATTR_MODE) && (attr->st_mode & 07700) != (cur.st_mode & 07700))
        return -EPERM;
    if (to_set & FUSE_SET_ATTR_SIZE) {
        int fd = -1;
        if (fi && (handle_of(fi)->kind == H_UPLOAD || handle_of(fi)->kind == H_DRAFT_DOC)) {
            pthread_mutex_lock(&handle_of(fi)->io_lock);
            fd = handle_of(fi)->fd >= 0 ? dup(handle_of(fi)->fd) : -1;
            pthread_mutex_unlock(&handle_of(fi)->io_lock);
        }
        if (fd < 0 && w->node >= NODE_FIRST_PAGE) {
            pthread_mutex_lock(&fs->outbox.lock);
            struct outbox_entry *e = fs_outbox_get(&fs->outbox, w->id);
            struct draft_doc *d = e ? fs_draft_doc_get(e, w->node - NODE_FIRST_PAGE) : NULL;
            char token[QUEUE_DRAFT_TOKEN_MAX] = "";
            if (d && d->token[0])
                snprintf(token, sizeof token, "%s", d->token);
            else if (d)
                fd = dup(d->fd);
            pthread_mutex_unlock(&fs->outbox.lock);
            if (token[0])
                fd = queue_draft_file_open(fs->q, token);
        }
        if (fd < 0)
            return -EPERM; /* an upload is only ever changed through its open handle */
        r = outbox_file_reserve(fs, w, (uint64_t)attr->st_size, false, &before);
        if (r == 0 && ftruncate(fd, attr->st_size) < 0) {
            r = -errno;
            outbox_file_settle(fs, w, fd);
        }
        close(fd);
        if (r < 0)
            return r;
    }
    if (to_set & (FUSE_SET_ATTR_MTIME | FUSE_SET_ATTR_MTIME_NOW)) {
        int64_t t = (to_set & FUSE_SET_ATTR_MTIME_NOW) ? fs_now() : (int64_t)attr->st_mtim.tv_sec;
        pthread_mutex_lock(&fs->outbox.lock);
        struct outbox_entry *e;
        int64_t *mtime;
        if (outbox_file_size(fs, w, &e, &mtime))
            *mtime = t;
        pthread_mutex_unlock(&fs->outbox.lock);
    }
    return 0;
}

static int setattr_draft_field(fuse_req_t req, struct fs *fs, const struct fs_ino *w, struct stat *attr, int to_set)
{
    struct fs_caller who;
    char why[8];
    int r = 0;

    if (to_set != FUSE_SET_ATTR_SIZE || attr->st_size != 0)
        return -EPERM;
    fs_caller_of(req, &who);
    pthread_mutex_lock(&fs->outbox.lock);
    struct outbox_entry *e = fs_outbox_get(&fs->outbox, w->id);
    if (!e || e->kind != OB_DRAFT)
        r = -ENOENT;
    else if (who.uid != 0 && who.uid != e->uid)
        r = -EPERM;
    else if (e->busy)
        r = -EBUSY;
    else {
        fs_draft_set(&e->req, (int)w->node, "", 0, 0, why, sizeof why);
        e->mtime = fs_now();
    }
    pthread_mutex_unlock(&fs->outbox.lock);
    if (r == 0)
        fs_notify_outbox(fs, FS_EV_OUTBOX, w->id, NULL);
    return r;
}

static void log_setattr_refused(fuse_req_t req, const struct fs_ino *w, int to_set)
{
    static const char *const area[AREA_COUNT] = { "top", "jobs", "history", "received", "modems", "outbox" };
    char user[64], what[64] = "";
    uid_t uid = fuse_req_ctx(req)->uid;

    fs_user_name(uid, user, sizeof user);
    snprintf(what, sizeof what, "%s%s%s%s", to_set & FUSE_SET_ATTR_MODE ? "chmod," : "",
             to_set & (FUSE_SET_ATTR_UID | FUSE_SET_ATTR_GID) ? "chown," : "", to_set & FUSE_SET_ATTR_SIZE ? "truncate," : "",
             to_set & (FUSE_SET_ATTR_MTIME | FUSE_SET_ATTR_MTIME_NOW | FUSE_SET_ATTR_ATIME | FUSE_SET_ATTR_ATIME_NOW)
                 ? "utimens,"
                 : "");
    if (what[0])
        what[strlen(what) - 1] = '\0';
    fprintf(stderr, "faxfs: %s of %s object %llu node %u by %s (uid %lld) refused with EPERM: the view does not make "
                    "this change (docs/security.md, \"Changes the view cannot make\")\n",
            what[0] ? what : "setattr", area[w->area], (unsigned long long)w->id, (unsigned)w->node, user, (long long)uid);
}

static void fs_setattr(fuse_req_t req, fuse_ino_t ino, struct stat *attr, int to_set, struct fuse_file_info *fi)
{
    struct fs *fs = fs_of(req);
    struct fs_ino w;
    int r;

    if (!fs_ino_split(ino, &w))
        return (void)fuse_reply_err(req, ENOENT);
    /* Only the attributes that can change a file count; ctime and atime
     * updates that come along are no change of ours. */
    to_set &= FUSE_SET_ATTR_MODE | FUSE_SET_ATTR_UID | FUSE_SET_ATTR_GID | FUSE_SET_ATTR_SIZE | FUSE_SET_ATTR_MTIME
            | FUSE_SET_ATTR_MTIME_NOW | FUSE_SET_ATTR_ATIME | FUSE_SET_ATTR_ATIME_NOW;
    bool outbox_file = w.area == AREA_OUTBOX && (w.node >= NODE_FIRST_PAGE || w.node == NODE_SELF);
    if (is_ctl(&w))
        r = to_set == FUSE_SET_ATTR_SIZE && attr->st_size == 0 && !fs->atomic_trunc ? 0 : -EPERM;
    else if (outbox_file)
        r = setattr_outbox_file(req, fs, &w, attr, to_set, fi);
    else if (w.area == AREA_OUTBOX && w.node >= 1 && w.node <= (uint32_t)fs_draft_field_count())
        r = setattr_draft_field(req, fs, &w, attr, to_set);
    else
        r = -EPERM;
    if (r == -EPERM)
        log_setattr_refused(req, &w, to_set);
    if (r < 0)
        return (void)fuse_reply_err(req, -r);
    fs_getattr(req, ino, NULL);
}

/* ---- directories ---- */

/* Listings need no per-open state: offsets are stable (ids, node numbers)
 * and each readdir lists what follows its offset. When the kernel allows
 * it, opendir is refused with ENOSYS once, and from then on the kernel
 * lists directories without OPENDIR/RELEASEDIR round trips and keeps the
 * listings cached; the notifier invalidates a directory when its entries
 * change. */
static void fs_opendir(fuse_req_t req, fuse_ino_t ino, struct fuse_file_info *fi)
{
    struct fs *fs = fs_of(req);
    struct fs_ino w;

    if (!fs_ino_split(ino, &w))
        return (void)fuse_reply_err(req, ENOENT);
    if (fs->no_opendir)
        return (void)fuse_reply_err(req, ENOSYS);
    fi->cache_readdir = 1;
    fi->keep_cache = 1;
    fi->fh = 0;
    fuse_reply_open(req, fi);
}

static void readdir_common(fuse_req_t req, fuse_ino_t ino, size_t size, off_t off, bool plus)
{
    struct fs *fs = fs_of(req);
    struct fs_dirent *ents = NULL;
    size_t n = 0, used = 0;
    char *buf = malloc(size);

    if (!buf)
        return (void)fuse_reply_err(req, ENOMEM);
    for (int dot = (int)off; dot < 2; dot++) {
        struct fuse_entry_param e = { .ino = dot == 0 ? ino : FUSE_ROOT_ID };
        e.attr.st_ino = e.ino;
        e.attr.st_mode = S_IFDIR;
        const char *name = dot == 0 ? "." : "..";
        size_t need = plus ? fuse_add_direntry_plus(req, buf + used, size - used, name, &e, dot + 1)
                           : fuse_add_direntry(req, buf + used, size - used, name, &e.attr, dot + 1);
        if (need > size - used)
            goto done;
        used += need;
    }
    /* An entry takes at least 24 bytes of the reply: never list more. */
    int r = fs_list(fs, ino, off, size / 24 + 1, &ents, &n);
    if (r < 0 && off < 2) {
        free(buf);
        return (void)fuse_reply_err(req, -r);
    }
    for (size_t i = 0; i < n; i++) {
        const struct fs_dirent *d = &ents[i];
        struct fuse_entry_param e = { .ino = d->ino };
        size_t need;

        if (plus && fs_stat_needs_spool(fs, d->ino)) {
            /* Name and type only (ino 0: no lookup done): `find` and `ls`
             * need no more, and a cold spool costs a disk read per file. */
            e.ino = 0;
            e.attr.st_ino = d->ino;
            e.attr.st_mode = d->type;
            need = fuse_add_direntry_plus(req, buf + used, size - used, d->name, &e, d->off);
        } else if (plus) {
            if (fill_entry(req, fs, d->ino, &e) < 0)
                continue; /* vanished since the listing: skip, do not stop */
            need = fuse_add_direntry_plus(req, buf + used, size - used, d->name, &e, d->off);
        } else {
            e.attr.st_ino = d->ino;
            e.attr.st_mode = d->type;
            need = fuse_add_direntry(req, buf + used, size - used, d->name, &e.attr, d->off);
        }
        if (need > size - used)
            break;
        used += need;
    }
done:
    fuse_reply_buf(req, buf, used);
    free(ents);
    free(buf);
}

static void fs_readdir(fuse_req_t req, fuse_ino_t ino, size_t size, off_t off, struct fuse_file_info *fi)
{
    (void)fi;
    readdir_common(req, ino, size, off, false);
}

static void fs_readdirplus(fuse_req_t req, fuse_ino_t ino, size_t size, off_t off, struct fuse_file_info *fi)
{
    (void)fi;
    readdir_common(req, ino, size, off, true);
}

static void fs_releasedir(fuse_req_t req, fuse_ino_t ino, struct fuse_file_info *fi)
{
    (void)ino, (void)fi;
    fuse_reply_err(req, 0);
}

/* ---- open ---- */

/* Could the kernel still hold a size rendered before the latest change?
 * Then this open reads directly, so the reader gets the whole value. */
static bool recently_changed(struct fs *fs, const struct fs_ino *w)
{
    switch (w->area) {
    case AREA_JOBS:
    case AREA_HISTORY:
    case AREA_RECEIVED:
        return !fs_jobs_settled(fs, w->id);
    case AREA_TOP:
    case AREA_MODEMS:
        return fs_monotonic_ms() - fs->server_changed_ms < FS_SETTLE_MS;
    default:
        return false; /* outbox: sizes are checked by fs_seen_open */
    }
}

/* A read-only value file. Cached opens read the published value (the one
 * behind the size the kernel holds, see seen.c) and render nothing here;
 * direct opens read a snapshot taken now. */
static int open_text(struct fs *fs, fuse_ino_t ino, struct fs_handle *h, struct fuse_file_info *fi)
{
    char buf[FS_RENDER_MAX];
    enum fs_open_mode mode = FS_OPEN_DIRECT;

    fi->noflush = (fi->flags & O_ACCMODE) == O_RDONLY; /* nothing to do at close */
    if (recently_changed(fs, &h->where))
        fs_seen_uncached(fs, ino);
    else
        mode = fs_seen_open(fs, ino);
    if (mode != FS_OPEN_DIRECT) {
        h->published = true;
        fi->keep_cache = mode == FS_OPEN_KEEP_CACHE;
        return 0;
    }
    int len = fs_render_node(fs, &h->where, buf, sizeof buf);
    if (len < 0)
        return len;
    if (!(h->data = malloc((size_t)len + 1)))
        return -ENOMEM;
    memcpy(h->data, buf, (size_t)len);
    h->len = (size_t)len;
    fi->direct_io = 1;
    return 0;
}

/* MOUNT/metrics: a snapshot taken at open, read direct_io (the kernel's
 * size may be that of an older rendering), so a scraper gets one
 * consistent set of counters. */
static int open_metrics(struct fs *fs, struct fs_handle *h, struct fuse_file_info *fi)
{
    if (!(h->data = malloc(FS_METRICS_MAX)))
        return -ENOMEM;
    int len = fs_render_metrics_now(fs, h->data, FS_METRICS_MAX);
    if (len < 0)
        return len;
    h->len = (size_t)len;
    fi->direct_io = 1;
    fi->noflush = 1;
    return 0;
}

static bool in_group(const struct fs_caller *who, gid_t gid)
{
    if (who->gid == gid)
        return true;
    for (int i = 0; i < who->ngroups; i++)
        if (who->groups[i] == gid)
            return true;
    return false;
}

/* Pages and log: the owner and administrators (the queue decides); a
 * received fax also to its group, as its 0640 mode says. */
bool fs_may_read_private(struct fs *fs, fuse_req_t req, const struct job *job)
{
    const struct fuse_ctx *ctx = fuse_req_ctx(req);
    struct queue_caller qc = { .uid = ctx->uid, .gid = ctx->gid };
    struct fs_caller who;

    /* The owner and root need no group list, which costs a read of
     * /proc for every request that asks for it. */
    if (queue_caller_owns(fs->q, &qc, job))
        return true;
    fs_caller_of(req, &who);
    fs_caller_to_queue(&who, &qc);
    if (queue_caller_owns(fs->q, &qc, job))
        return true;
    return job->type == JOB_RECEIVE && in_group(&who, job->owner_gid);
}

static int open_job_node(fuse_req_t req, struct fs *fs, fuse_ino_t ino, struct fs_handle *h,
                         struct fuse_file_info *fi)
{
    struct job job;
    const struct fs_ino *w = &h->where;

    if (fs_job_behind(fs, w, &job) < 0)
        return -ENOENT;
    if (w->node == NODE_SELF || w->node == NODE_PAGES)
        return -EISDIR;
    /* A received fax is private as a whole (mode 0640), even on a mount
     * without default_permissions. */
    if (job.type == JOB_RECEIVE && !fs_may_read_private(fs, req, &job))
        return -EACCES;
    if (w->node == NODE_CTL) {
        if ((fi->flags & O_ACCMODE) == O_RDONLY) /* reads empty: grep -r stays quiet */
            return open_text(fs, ino, h, fi);
        h->kind = H_JOB_CTL;
        fi->direct_io = 1;
        return 0;
    }
    if (wants_write(fi->flags))
        return -EPERM;
    if (w->node == NODE_LOG || w->node >= NODE_FIRST_PAGE) {
        if (!fs_may_read_private(fs, req, &job))
            return -EACCES;
        if (w->node >= NODE_FIRST_PAGE && fs_node_page(w->node) >= job.page_count)
            return -ENOENT;
        /* Each open page, preview or log holds a descriptor or preview
         * bytes in the daemon: counted against the opener. */
        pthread_mutex_lock(&fs->outbox.lock);
        int r = handle_count(fs, h, fuse_req_ctx(req)->uid, true, NULL);
        pthread_mutex_unlock(&fs->outbox.lock);
        if (r < 0)
            return r;
        if (fs_node_is_png(w->node)) {
            /* Usually cached by the lookup that reported its size. */
            h->kind = H_PNG;
            fi->keep_cache = 1; /* the same page always renders the same bytes */
            fi->noflush = 1;
            return fs_preview_get(&fs->previews, w->id, fs_node_page(w->node), &h->png);
        }
        /* The spool file is opened by the first read that reaches us: an
         * open served from the page cache never needs it. */
        h->kind = H_FD;
        fi->keep_cache = w->node != NODE_LOG; /* page bytes never change */
        fi->noflush = 1;
        return 0;
    }
    return open_text(fs, ino, h, fi);
}

/* Outbox content (uploads, drafts and everything in them, .error reasons)
 * is its creator's: others may not even read it (admin group and root may). */
static bool may_read_outbox(struct fs *fs, const struct fs_caller *who, const struct outbox_entry *e)
{
    struct queue_caller qc;

    if (who->uid == 0 || who->uid == e->uid)
        return true;
    fs_caller_to_queue(who, &qc);
    return queue_caller_is_admin(fs->q, &qc);
}

/* A draft document's file, opened for this handle only. */
static int open_draft_doc(struct fs *fs, struct outbox_entry *e, struct draft_doc *d, struct fs_handle *h, int flags)
{
    h->fd = d->token[0] ? queue_draft_file_open(fs->q, d->token) : dup(d->fd);
    if (h->fd < 0)
        return d->token[0] ? h->fd : -errno;
    if ((flags & O_TRUNC) && d->size > 0) {
        if (ftruncate(h->fd, 0) < 0)
            return -errno;
        fs_outbox_resize(&fs->outbox, e->uid, d->size, 0);
        d->size = 0;
        d->mtime = e->mtime = fs_now();
    }
    return 0;
}

static int open_outbox_node(fuse_req_t req, struct fs *fs, fuse_ino_t ino, struct fs_handle *h,
                            struct fuse_file_info *fi)
{
    const struct fs_ino *w = &h->where;
    bool write = wants_write(fi->flags);
    struct fs_caller who;
    int r = 0;

    fs_caller_of(req, &who);
    pthread_mutex_lock(&fs->outbox.lock);
    struct outbox_entry *e = fs_outbox_get(&fs->outbox, w->id);
    if (!e)
        r = -ENOENT;
    else if (write && who.uid != 0 && who.uid != e->uid)
        r = -EACCES;
    else if (!may_read_outbox(fs, &who, e))
        r = -EACCES;
    else if (w->node == NODE_SELF)
        r = e->kind == OB_DRAFT ? -EISDIR : e->kind == OB_UPLOAD ? -EBUSY : write ? -EPERM : 1;
    else if (e->kind != OB_DRAFT)
        r = -ENOTDIR;
    else if (w->node >= NODE_FIRST_PAGE) {
        struct draft_doc *d = fs_draft_doc_get(e, w->node - NODE_FIRST_PAGE);
        h->kind = H_DRAFT_DOC;
        if (!d)
            r = -ENOENT;
        else if (write && e->busy)
            r = -EBUSY;
        else if ((r = handle_count(fs, h, who.uid, true, e)) == 0)
            r = open_draft_doc(fs, e, d, h, fi->flags);
    } else if (w->node == NODE_CTL) {
        r = write ? 0 : 1;
        h->kind = H_DRAFT_CTL;
    } else if (w->node == NODE_ERROR) {
        r = write ? -EPERM : 1;
    } else {
        r = write ? 0 : 1;
        h->kind = H_DRAFT_FIELD;
    }
    if (r >= 0 && e && e->kind == OB_DRAFT && !h->holds_entry)
        handle_count(fs, h, who.uid, false, e);
    pthread_mutex_unlock(&fs->outbox.lock);
    if (r < 0)
        handle_uncount(fs, h);
    if (r == 1) {
        h->kind = H_TEXT;
        return open_text(fs, ino, h, fi);
    }
    if (r == 0 && h->kind != H_DRAFT_DOC)
        fi->direct_io = 1;
    return r;
}

static void fs_open(fuse_req_t req, fuse_ino_t ino, struct fuse_file_info *fi)
{
    struct fs *fs = fs_of(req);
    struct fs_ino w;
    struct fs_handle *h;
    int r;

    if (!fs_ino_split(ino, &w))
        return (void)fuse_reply_err(req, ENOENT);
    if (!(h = handle_new(H_TEXT, &w)))
        return (void)fuse_reply_err(req, ENOMEM);
    switch (w.area) {
    case AREA_TOP:
        if (w.node == TOP_CTL && (fi->flags & O_ACCMODE) == O_RDONLY) {
            r = open_text(fs, ino, h, fi);
        } else if (w.node == TOP_CTL) {
            h->kind = H_SERVER_CTL;
            fi->direct_io = 1;
            r = 0;
        } else if (w.node == TOP_SERVER) {
            r = wants_write(fi->flags) ? -EPERM : open_text(fs, ino, h, fi);
        } else if (w.node == TOP_METRICS) {
            r = wants_write(fi->flags) ? -EPERM : open_metrics(fs, h, fi);
        } else {
            r = -EISDIR;
        }
        break;
    case AREA_JOBS:
    case AREA_HISTORY:
    case AREA_RECEIVED:
        r = open_job_node(req, fs, ino, h, fi);
        break;
    case AREA_MODEMS:
        r = w.node == NODE_SELF ? -EISDIR : wants_write(fi->flags) ? -EPERM : open_text(fs, ino, h, fi);
        break;
    case AREA_OUTBOX:
        r = open_outbox_node(req, fs, ino, h, fi);
        break;
    default:
        r = -ENOENT;
    }
    if (r < 0) {
        handle_uncount(fs, h);
        handle_free(h);
        return (void)fuse_reply_err(req, -r);
    }
    fi->fh = (uintptr_t)h;
    if (fuse_reply_open(req, fi) == -ENOENT) { /* the opener was interrupted */
        handle_uncount(fs, h);
        handle_free(h);
    }
}

/* ---- read and write ---- */

/* The page or log behind an H_FD handle, opened once; concurrent first
 * reads of one handle may both open, and the loser closes its fd. */
static int spool_fd(struct fs *fs, struct fs_handle *h)
{
    int fd = __atomic_load_n(&h->fd, __ATOMIC_ACQUIRE), none = -1;

    if (fd >= 0 || h->kind != H_FD)
        return fd >= 0 ? fd : -EBADF;
    const struct fs_ino *w = &h->where;
    fd = w->node == NODE_LOG ? queue_open_log(fs->q, w->id)
                             : queue_open_page(fs->q, w->id, fs_node_page(w->node));
    if (fd < 0)
        return fd;
    if (!__atomic_compare_exchange_n(&h->fd, &none, fd, false, __ATOMIC_ACQ_REL, __ATOMIC_ACQUIRE)) {
        close(fd);
        return none;
    }
    return fd;
}

static void fs_read(fuse_req_t req, fuse_ino_t ino, size_t size, off_t off, struct fuse_file_info *fi)
{
    struct fs_handle *h = handle_of(fi);

    if (h->kind == H_TEXT && h->published) {
        char buf[FS_RENDER_MAX];
        size_t n = 0;
        if (fs_seen_read(fs_of(req), ino, off, size < sizeof buf ? size : sizeof buf, buf, &n) < 0) {
            /* Forgotten since the open (another inode took its slot): the
             * current value is the best answer left. */
            int len = fs_render_node(fs_of(req), &h->where, buf, sizeof buf);
            if (len < 0)
                return (void)fuse_reply_err(req, -len);
            n = (size_t)off >= (size_t)len ? 0 : (size_t)len - (size_t)off < size ? (size_t)len - (size_t)off : size;
            memmove(buf, buf + ((size_t)off < (size_t)len ? (size_t)off : 0), n);
        }
        return (void)fuse_reply_buf(req, buf, n);
    }
    if (h->kind == H_PNG) {
        size_t len = h->png->len;
        if ((size_t)off >= len)
            return (void)fuse_reply_buf(req, NULL, 0);
        return (void)fuse_reply_buf(req, (const char *)h->png->bytes + off, len - (size_t)off < size ? len - (size_t)off : size);
    }
    if (h->kind == H_TEXT) {
        if ((size_t)off >= h->len)
            return (void)fuse_reply_buf(req, NULL, 0);
        size_t n = h->len - (size_t)off < size ? h->len - (size_t)off : size;
        return (void)fuse_reply_buf(req, h->data + off, n);
    }
    bool outbox = h->kind == H_UPLOAD || h->kind == H_DRAFT_DOC;
    if (outbox)
        pthread_mutex_lock(&h->io_lock);
    int fd = outbox ? (h->fd >= 0 ? h->fd : -EBADF) : spool_fd(fs_of(req), h);
    if (fd < 0) {
        fuse_reply_err(req, -fd);
    } else {
        struct fuse_bufvec bv = FUSE_BUFVEC_INIT(size);
        bv.buf[0].flags = FUSE_BUF_IS_FD | FUSE_BUF_FD_SEEK;
        bv.buf[0].fd = fd;
        bv.buf[0].pos = off;
        fuse_reply_data(req, &bv, FUSE_BUF_SPLICE_MOVE);
    }
    if (outbox)
        pthread_mutex_unlock(&h->io_lock);
}

static int write_job_ctl(fuse_req_t req, struct fs *fs, struct fs_handle *h, const char *buf, size_t size)
{
    enum queue_op op;
    struct fs_caller who;
    struct queue_caller qc;
    char why[256] = "";

    if (fs_parse_job_ctl(buf, size, &op) < 0)
        return -EINVAL;
    fs_caller_of(req, &who);
    fs_caller_to_queue(&who, &qc);
    int r = queue_control(fs->q, &qc, h->where.id, op, why, sizeof why);
    if (r < 0)
        fprintf(stderr, "faxfs: job %" PRIu64 ": %s refused: %s\n", h->where.id, queue_op_name(op),
                why[0] ? why : strerror(-r));
    return r;
}

static int write_server_ctl(fuse_req_t req, struct fs *fs, const char *buf, size_t size)
{
    enum fs_server_cmd cmd;
    struct fs_caller who;
    struct queue_caller qc;

    if (fs_parse_server_ctl(buf, size, &cmd) < 0)
        return -EINVAL;
    fs_caller_of(req, &who);
    fs_caller_to_queue(&who, &qc);
    if (!queue_caller_is_admin(fs->q, &qc))
        return -EPERM;
    return queue_set_paused(fs->q, cmd == FS_SERVER_PAUSE);
}

/* Each write is parsed together with what this handle wrote before, so
 * `echo value > field` sets the field in one go and a bad value fails the
 * write that brought it. */
static int write_draft_field(struct fs *fs, struct fs_handle *h, const char *buf, size_t size)
{
    char why[256] = "";

    if (h->len + size > 1024)
        return -EFBIG;
    if (h->len + size + 1 > h->cap) {
        char *d = realloc(h->data, h->len + size + 1);
        if (!d)
            return -ENOMEM;
        h->data = d;
        h->cap = h->len + size + 1;
    }
    memcpy(h->data + h->len, buf, size);
    pthread_mutex_lock(&fs->outbox.lock);
    struct outbox_entry *e = fs_outbox_get(&fs->outbox, h->where.id);
    int r = !e ? -ENOENT : e->busy ? -EBUSY
          : fs_draft_set(&e->req, (int)h->where.node, h->data, h->len + size, fs_now(), why, sizeof why);
    if (r == 0)
        e->mtime = fs_now();
    pthread_mutex_unlock(&fs->outbox.lock);
    if (r < 0) {
        char esc[sizeof why * 4];
        fs_log_escape(why, esc, sizeof esc);
        if (why[0])
            fprintf(stderr, "faxfs: outbox draft: %s\n", esc);
        return r;
    }
    h->len += size;
    fs_notify_outbox(fs, FS_EV_OUTBOX, h->where.id, NULL);
    return 0;
}

/* The size an upload or draft document is accounted at, and where it is
 * kept; NULL when the entry or document is gone. Under outbox.lock. */
static uint64_t *outbox_file_size(struct fs *fs, const struct fs_ino *w, struct outbox_entry **ep, int64_t **mtime)
{
    struct outbox_entry *e = fs_outbox_get(&fs->outbox, w->id);

    *ep = e;
    if (!e || e->busy)
        return NULL;
    if (e->kind == OB_UPLOAD && w->node == NODE_SELF) {
        *mtime = &e->mtime;
        return &e->size;
    }
    struct draft_doc *d = e->kind == OB_DRAFT && w->node >= NODE_FIRST_PAGE ? fs_draft_doc_get(e, w->node - NODE_FIRST_PAGE) : NULL;
    if (!d)
        return NULL;
    *mtime = &d->mtime;
    return &d->size;
}

static void log_limit(struct fs *fs, uid_t uid, const char *what, int r)
{
    char name[64], esc[NAME_MAX * 4 + 1];

    fs_user_name(uid, name, sizeof name);
    fs_log_escape(what, esc, sizeof esc);
    if (r == -EFBIG)
        fprintf(stderr, "faxfs: outbox/%s: %s (uid %lld): file over %llu bytes, refused with EFBIG; split the document\n",
                esc, name, (long long)uid, (unsigned long long)fs->outbox.limits.bytes_per_file);
    else
        fprintf(stderr,
                "faxfs: outbox/%s: %s (uid %lld): uploads and drafts over %llu bytes, refused with EDQUOT; "
                "submit or remove drafts (limit: --max-outbox-bytes-per-user)\n",
                esc, name, (long long)uid, (unsigned long long)fs->outbox.limits.bytes_per_user);
}

/* Grows (or shrinks) an outbox file to new_size under the owner's limits:
 * the bytes are accounted before they are written, so a refusal comes at
 * write() or truncate() time and nothing is written. */
static int outbox_file_reserve(struct fs *fs, const struct fs_ino *w, uint64_t new_size, bool only_grow, uint64_t *before)
{
    struct outbox_entry *e;
    int64_t *mtime;
    char what[NAME_MAX + 1] = "";
    uid_t uid = 0;
    int r = 0;

    pthread_mutex_lock(&fs->outbox.lock);
    uint64_t *size = outbox_file_size(fs, w, &e, &mtime);
    if (!size) {
        r = e && e->busy ? -EBUSY : -ENOENT;
    } else {
        *before = *size;
        if (!only_grow || new_size > *size) {
            r = fs_outbox_resize(&fs->outbox, e->uid, *size, new_size);
            if (r == 0)
                *size = new_size;
        }
        if (r == 0)
            *mtime = e->mtime = fs_now();
        uid = e->uid;
        snprintf(what, sizeof what, "%s", e->name);
    }
    pthread_mutex_unlock(&fs->outbox.lock);
    if (r == -EDQUOT || r == -EFBIG)
        log_limit(fs, uid, what, r);
    return r;
}

/* After the write: the file's real size is what counts. */
static void outbox_file_settle(struct fs *fs, const struct fs_ino *w, int fd)
{
    struct outbox_entry *e;
    struct stat st;
    int64_t *mtime;

    if (fstat(fd, &st) < 0)
        return;
    pthread_mutex_lock(&fs->outbox.lock);
    uint64_t *size = outbox_file_size(fs, w, &e, &mtime);
    if (size && *size != (uint64_t)st.st_size && fs_outbox_resize(&fs->outbox, e->uid, *size, (uint64_t)st.st_size) == 0)
        *size = (uint64_t)st.st_size;
    pthread_mutex_unlock(&fs->outbox.lock);
}

static int outbox_file_write(struct fs *fs, struct fs_handle *h, const char *buf, size_t size, off_t off, ssize_t *n)
{
    uint64_t before;
    int r = outbox_file_reserve(fs, &h->where, (uint64_t)off + size, true, &before);

    if (r < 0)
        return r;
    pthread_mutex_lock(&h->io_lock);
    *n = h->fd >= 0 ? pwrite(h->fd, buf, size, off) : (errno = EBADF, -1);
    r = *n < 0 ? -errno : 0;
    if (h->fd >= 0 && (*n < 0 || (size_t)*n < size))
        outbox_file_settle(fs, &h->where, h->fd);
    pthread_mutex_unlock(&h->io_lock);
    return r;
}

static void fs_write(fuse_req_t req, fuse_ino_t ino, const char *buf, size_t size, off_t off,
                     struct fuse_file_info *fi)
{
    struct fs *fs = fs_of(req);
    struct fs_handle *h = handle_of(fi);
    struct fs_caller who;
    uint64_t id;
    int r;

    (void)ino;
    switch (h->kind) {
    case H_JOB_CTL: r = write_job_ctl(req, fs, h, buf, size); break;
    case H_SERVER_CTL: r = write_server_ctl(req, fs, buf, size); break;
    case H_DRAFT_FIELD: r = write_draft_field(fs, h, buf, size); break;
    case H_DRAFT_CTL:
        fs_caller_of(req, &who);
        r = fs_parse_draft_ctl(buf, size) < 0 ? -EINVAL : fs_submit_draft(fs, h->where.id, &who, &id);
        break;
    case H_UPLOAD:
    case H_DRAFT_DOC: {
        ssize_t n = 0;
        if ((r = outbox_file_write(fs, h, buf, size, off, &n)) < 0)
            return (void)fuse_reply_err(req, -r);
        return (void)fuse_reply_write(req, (size_t)n);
    }
    default: r = -EBADF;
    }
    if (r < 0)
        return (void)fuse_reply_err(req, -r);
    fuse_reply_write(req, size);
}

/* close() returns flush's error, so an upload becomes a job here: when
 * close() succeeds, the job exists. */
static void fs_flush(fuse_req_t req, fuse_ino_t ino, struct fuse_file_info *fi)
{
    struct fs_handle *h = handle_of(fi);
    uint64_t id;
    int r = 0;

    (void)ino;
    if (h->kind == H_UPLOAD && h->fd >= 0)
        r = fs_submit_upload(fs_of(req), h->where.id, false, &id);
    fuse_reply_err(req, -r);
}

static void fs_release(fuse_req_t req, fuse_ino_t ino, struct fuse_file_info *fi)
{
    struct fs_handle *h = handle_of(fi);
    uint64_t id;

    (void)ino;
    /* An upload that never got bytes: submit now so it is refused with a
     * readable reason instead of lingering (a no-op if already submitted). */
    if (h->kind == H_UPLOAD)
        fs_submit_upload(fs_of(req), h->where.id, true, &id);
    handle_uncount(fs_of(req), h);
    if (h->kind == H_UPLOAD || h->kind == H_DRAFT_DOC) {
        pthread_mutex_lock(&h->io_lock);
        if (h->fd >= 0)
            close(h->fd);
        h->fd = -1;
        pthread_mutex_unlock(&h->io_lock);
    }
    handle_retire(fs_of(req), h);
    fuse_reply_err(req, 0);
}

/* ---- creating ---- */

/* Refuses an outbox name with control characters: it would reach
 * listings and log lines. */
static int check_outbox_name(struct fs *fs, fuse_req_t req, const char *name)
{
    char esc[NAME_MAX * 4 + 1], user[64];

    if (fs_name_printable(name))
        return 0;
    fs_log_escape(name, esc, sizeof esc);
    fs_user_name(fuse_req_ctx(req)->uid, user, sizeof user);
    fprintf(stderr, "faxfs: outbox/%s: %s (uid %lld): name with control characters refused with EINVAL; "
                    "use printable characters\n", esc, user, (long long)fuse_req_ctx(req)->uid);
    (void)fs;
    return -EINVAL;
}

/* Unfinished jobs of uid: at the per-user limit, new submissions are
 * refused at create() or submit with EDQUOT. Root is exempt. */
int fs_check_jobs_limit(struct fs *fs, uid_t uid, const char *what, char *why, size_t whylen)
{
    int max = fs->outbox.limits.jobs_per_user;
    char user[64], esc[NAME_MAX * 4 + 1];

    if (uid == 0 || max <= 0 || queue_count_unfinished(fs->q, uid) < max)
        return 0;
    fs_user_name(uid, user, sizeof user);
    fs_log_escape(what, esc, sizeof esc);
    if (why)
        snprintf(why, whylen, "%s has %d unfinished jobs, the most allowed: wait for some to finish or cancel some", user,
                 max);
    fprintf(stderr, "faxfs: outbox/%s: %s (uid %lld) has %d unfinished jobs: refused with EDQUOT; "
                    "wait or cancel (limit: --max-jobs-per-user)\n", esc, user, (long long)uid, max);
    return -EDQUOT;
}

/* The file behind a new draft document or upload; an upload's file (and a
 * draft document's, when the spool names it) is given to the submitter, so
 * it counts in their disk quota while it waits. */
static int outbox_new_file(struct fs *fs, bool draft, const struct fs_caller *who, char *token, size_t tokenlen)
{
    int fd = -ENOSYS;

    token[0] = '\0';
    if (draft && (fd = queue_draft_file_create(fs->q, token, tokenlen)) == -ENOSYS)
        token[0] = '\0';
    if (fd == -ENOSYS)
        fd = queue_upload_open(fs->q);
    if (fd >= 0 && fs->uid == 0 && who->uid != 0 && fchown(fd, who->uid, who->gid) < 0) {
        /* Best effort: the per-user limit holds either way. */
    }
    return fd;
}

static void log_draft_limit(struct fs *fs, uid_t uid, const char *what)
{
    char user[64], esc[NAME_MAX * 4 + 1];

    fs_user_name(uid, user, sizeof user);
    fs_log_escape(what, esc, sizeof esc);
    fprintf(stderr, "faxfs: outbox/%s: %s (uid %lld) has %d drafts: refused with EDQUOT; "
                    "submit or remove one (limit: --max-drafts-per-user)\n", esc, user, (long long)uid,
            fs->outbox.limits.drafts_per_user);
}

static void fs_create_file(fuse_req_t req, fuse_ino_t parent, const char *name, mode_t mode, struct fuse_file_info *fi)
{
    struct fs *fs = fs_of(req);
    struct fs_ino p;
    struct fs_handle *h = NULL;
    struct fs_caller who;
    struct fuse_entry_param e;
    char number[JOB_NUMBER_MAX], why[256] = "", token[QUEUE_DRAFT_TOKEN_MAX];
    uint64_t ino = 0;
    int r = 0;

    (void)mode;
    bool in_outbox = fs_ino_split(parent, &p) && ((p.area == AREA_TOP && p.node == TOP_OUTBOX) ||
                                                   (p.area == AREA_OUTBOX && p.node == NODE_SELF));
    if (!in_outbox)
        return (void)fuse_reply_err(req, EPERM);
    if ((r = check_outbox_name(fs, req, name)) < 0)
        return (void)fuse_reply_err(req, -r);
    fs_caller_of(req, &who);
    if (p.area == AREA_TOP) {
        if (fs_outbox_recipient(name, number, sizeof number, why, sizeof why) < 0) {
            fs_refuse_upload_name(fs, name, why, who.uid);
            return (void)fuse_reply_err(req, EINVAL);
        }
        if ((r = fs_check_jobs_limit(fs, who.uid, name, NULL, 0)) < 0)
            return (void)fuse_reply_err(req, -r);
    }
    int fd = outbox_new_file(fs, p.area != AREA_TOP, &who, token, sizeof token);
    if (fd < 0)
        return (void)fuse_reply_err(req, -fd);
    pthread_mutex_lock(&fs->outbox.lock);
    if (p.area == AREA_TOP) {
        struct outbox_entry *old = fs_outbox_find(&fs->outbox, name, fs_now());
        struct outbox_entry *ent = NULL;
        if (old)
            r = old->kind == OB_DRAFT ? -EISDIR : -EBUSY;
        else if (!(h = handle_new(H_UPLOAD, &(struct fs_ino){ AREA_OUTBOX, 0, NODE_SELF })))
            r = -ENOMEM;
        else if ((r = handle_count(fs, h, who.uid, true, NULL)) < 0)
            ;
        else if (!(ent = fs_outbox_add(&fs->outbox, OB_UPLOAD, name, who.uid)))
            r = -ENOMEM;
        if (r == 0) {
            ent->fd = fd;
            ent->gid = who.gid;
            ent->caller = who;
            ino = fs_ino_make(AREA_OUTBOX, ent->serial, NODE_SELF);
            h->where.id = ent->serial;
        }
    } else {
        struct outbox_entry *draft = fs_outbox_get(&fs->outbox, p.id);
        struct draft_doc *d = NULL;
        if (!draft || draft->kind != OB_DRAFT)
            r = -ENOENT;
        else if (who.uid != 0 && who.uid != draft->uid)
            r = -EACCES;
        else if (draft->busy)
            r = -EBUSY;
        else if (fs_draft_node_by_name(name) || !strcmp(name, "ctl") || !strcmp(name, "error"))
            r = -EPERM;
        else if (fs_draft_doc_find(draft, name))
            r = -EEXIST;
        else if (draft->ndocs >= FS_MAX_DRAFT_DOCS && who.uid != 0)
            r = -EDQUOT;
        else if (!(h = handle_new(H_DRAFT_DOC, &(struct fs_ino){ AREA_OUTBOX, p.id, 0 })))
            r = -ENOMEM;
        else if ((r = handle_count(fs, h, who.uid, true, draft)) < 0)
            ;
        else if ((r = fs_draft_doc_add(draft, name, token[0] ? -1 : fd, token, &d)) == 0) {
            ino = fs_ino_make(AREA_OUTBOX, p.id, NODE_FIRST_PAGE + d->serial);
            h->where.node = NODE_FIRST_PAGE + d->serial;
            draft->mtime = fs_now();
        }
    }
    pthread_mutex_unlock(&fs->outbox.lock);
    if (r == -EDQUOT) {
        char user[64], esc[NAME_MAX * 4 + 1];
        fs_user_name(who.uid, user, sizeof user);
        fs_log_escape(name, esc, sizeof esc);
        fprintf(stderr, "faxfs: outbox draft document %s: %s (uid %lld): the draft has %d documents, refused with "
                        "EDQUOT; submit it and start another draft\n", esc, user, (long long)who.uid, FS_MAX_DRAFT_DOCS);
    }
    if (r < 0) {
        if (h)
            handle_uncount(fs, h);
        handle_free(h);
        close(fd);
        if (token[0])
            queue_draft_file_remove(fs->q, token);
        return (void)fuse_reply_err(req, -r);
    }
    /* The handle's own descriptor: a named draft file's is the one just
     * made (the draft keeps none); others share the entry's. */
    if ((h->fd = token[0] ? fd : dup(fd)) < 0) {
        handle_uncount(fs, h);
        handle_free(h);
        return (void)fuse_reply_err(req, ENOMEM);
    }
    if (p.area == AREA_TOP)
        fs_forget_error(fs, name);
    fs_notify_outbox(fs, FS_EV_OUTBOX, p.area == AREA_TOP ? h->where.id : p.id, p.area == AREA_TOP ? name : NULL);
    if ((r = fill_entry(req, fs, ino, &e)) < 0) {
        handle_uncount(fs, h);
        handle_free(h);
        return (void)fuse_reply_err(req, -r);
    }
    /* An upload is never listed as the job it becomes: no cache to keep. */
    e.attr_timeout = e.entry_timeout = 0;
    fi->fh = (uintptr_t)h;
    if (fuse_reply_create(req, &e, fi) == -ENOENT) {
        handle_uncount(fs, h);
        handle_free(h);
    }
}

static void fs_mkdir(fuse_req_t req, fuse_ino_t parent, const char *name, mode_t mode)
{
    struct fs *fs = fs_of(req);
    struct fs_caller who;
    struct fuse_entry_param e;
    uint64_t ino = 0, serial = 0;
    int r = 0;

    (void)mode;
    if (parent != fs_ino_top(TOP_OUTBOX))
        return (void)fuse_reply_err(req, EPERM);
    if ((r = check_outbox_name(fs, req, name)) < 0)
        return (void)fuse_reply_err(req, -r);
    fs_caller_of(req, &who);
    pthread_mutex_lock(&fs->outbox.lock);
    struct outbox_entry *ent = NULL;
    if (fs_outbox_find(&fs->outbox, name, fs_now()))
        r = -EEXIST;
    else if ((r = fs_outbox_may_add_draft(&fs->outbox, who.uid)) < 0 && fs_outbox_sweep(&fs->outbox, fs_now()) > 0)
        r = fs_outbox_may_add_draft(&fs->outbox, who.uid); /* stale drafts made room */
    if (r == 0 && !(ent = fs_outbox_add(&fs->outbox, OB_DRAFT, name, who.uid)))
        r = -ENOMEM;
    if (r == 0) {
        ent->gid = who.gid;
        ent->caller = who;
        serial = ent->serial;
        ino = fs_ino_make(AREA_OUTBOX, serial, NODE_SELF);
    }
    pthread_mutex_unlock(&fs->outbox.lock);
    if (r == -EDQUOT)
        log_draft_limit(fs, who.uid, name);
    if (r == 0)
        r = fill_entry(req, fs, ino, &e);
    if (r < 0)
        return (void)fuse_reply_err(req, -r);
    fs_notify_outbox(fs, FS_EV_OUTBOX, serial, name);
    fuse_reply_entry(req, &e);
}

/* ---- removing: rm -r of a job directory cancels (jobs/) or deletes
 * (history/, received/) the job. rm unlinks every file first: those
 * unlinks succeed and change nothing, so rm -r reports no error. ---- */

static int unlink_outbox(struct fs *fs, const struct fs_ino *p, const char *name, const struct fs_caller *who)
{
    uint64_t serial = 0;
    bool gone = false;
    int r = 0;

    pthread_mutex_lock(&fs->outbox.lock);
    if (p->area == AREA_TOP) {
        struct outbox_entry *e = fs_outbox_find(&fs->outbox, name, fs_now());
        if (!e)
            r = -ENOENT;
        else if (e->kind == OB_DRAFT)
            r = -EISDIR;
        else if (who->uid != 0 && who->uid != e->uid && e->kind != OB_ERROR)
            r = -EACCES;
        else if (e->busy)
            r = -EBUSY;
        else {
            serial = e->serial;
            gone = true;
            fs_outbox_remove(&fs->outbox, e);
        }
    } else {
        struct outbox_entry *e = fs_outbox_get(&fs->outbox, p->id);
        int node = e ? fs_draft_node_by_name(name) : 0;
        struct draft_doc *d = e ? fs_draft_doc_find(e, name) : NULL;
        serial = p->id;
        if (!e || e->kind != OB_DRAFT)
            r = -ENOENT;
        else if (who->uid != 0 && who->uid != e->uid)
            r = -EACCES;
        else if (e->busy)
            r = -EBUSY;
        else if (node) {
            char why[8];
            fs_draft_set(&e->req, node, "", 0, 0, why, sizeof why);
        } else if (strcmp(name, "error") == 0 && e->text) {
            free(e->text);
            e->text = NULL;
        } else if (d) {
            fs_draft_doc_remove(&fs->outbox, e, d);
            e->mtime = fs_now();
        } else if (strcmp(name, "ctl") != 0) {
            r = -ENOENT;
        }
    }
    pthread_mutex_unlock(&fs->outbox.lock);
    if (r == 0)
        fs_notify_outbox(fs, gone ? FS_EV_OUTBOX_GONE : FS_EV_OUTBOX, serial, gone ? name : NULL);
    return r;
}

static void fs_unlink(fuse_req_t req, fuse_ino_t parent, const char *name)
{
    struct fs *fs = fs_of(req);
    struct fs_ino p;
    struct fs_caller who;
    uint64_t ino;
    int r;

    if (!fs_ino_split(parent, &p))
        return (void)fuse_reply_err(req, ENOENT);
    switch (p.area) {
    case AREA_JOBS:
    case AREA_HISTORY:
    case AREA_RECEIVED:
        r = fs_resolve(fs, parent, name, &ino); /* a no-op on an existing file */
        break;
    case AREA_OUTBOX:
    case AREA_TOP:
        if (p.area == AREA_TOP && p.node != TOP_OUTBOX) {
            r = fs_resolve(fs, parent, name, &ino) < 0 ? -ENOENT : -EPERM;
            break;
        }
        fs_caller_of(req, &who);
        r = unlink_outbox(fs, &p, name, &who);
        break;
    default:
        r = -EPERM;
    }
    fuse_reply_err(req, -r);
}

static void fs_rmdir(fuse_req_t req, fuse_ino_t parent, const char *name)
{
    struct fs *fs = fs_of(req);
    struct fs_ino p, c;
    struct fs_caller who;
    struct queue_caller qc;
    char why[256] = "";
    uint64_t ino;
    int r = fs_resolve(fs, parent, name, &ino);

    if (r < 0 || !fs_ino_split(parent, &p) || !fs_ino_split(ino, &c))
        return (void)fuse_reply_err(req, r < 0 ? -r : ENOENT);
    fs_caller_of(req, &who);
    fs_caller_to_queue(&who, &qc);
    if (c.area == AREA_JOBS && c.node == NODE_SELF)
        r = queue_control(fs->q, &qc, c.id, QOP_CANCEL, why, sizeof why);
    else if ((c.area == AREA_HISTORY || c.area == AREA_RECEIVED) && c.node == NODE_SELF)
        r = queue_delete(fs->q, &qc, c.id, why, sizeof why);
    else if (c.node == NODE_PAGES)
        r = 0; /* rm -r walks through pages/ before the job directory */
    else if (c.area == AREA_OUTBOX && c.node == NODE_SELF) {
        pthread_mutex_lock(&fs->outbox.lock);
        struct outbox_entry *e = fs_outbox_get(&fs->outbox, c.id);
        if (!e || e->kind != OB_DRAFT)
            r = -ENOTDIR;
        else if (who.uid != 0 && who.uid != e->uid)
            r = -EACCES;
        else if (e->busy)
            r = -EBUSY;
        else
            fs_outbox_remove(&fs->outbox, e);
        pthread_mutex_unlock(&fs->outbox.lock);
        if (r == 0)
            fs_notify_outbox(fs, FS_EV_OUTBOX_GONE, c.id, name);
    } else
        r = -EPERM;
    if (r < 0 && why[0])
    {
        char esc[NAME_MAX * 4 + 1], why_esc[sizeof why * 4];
        fs_log_escape(name, esc, sizeof esc);
        fs_log_escape(why, why_esc, sizeof why_esc);
        fprintf(stderr, "faxfs: %s: %s\n", esc, why_esc);
    }
    fuse_reply_err(req, -r);
}

/* mv outbox/DRAFT jobs/ submits the draft; no other rename exists. */
static void fs_rename(fuse_req_t req, fuse_ino_t parent, const char *name, fuse_ino_t newparent,
                      const char *newname, unsigned int flags)
{
    struct fs *fs = fs_of(req);
    struct fs_caller who;
    struct fs_ino c;
    uint64_t ino, id;
    int r;

    (void)newname;
    /* mv asks for RENAME_NOREPLACE; jobs/NAME never exists, so that holds. */
    if (parent != fs_ino_top(TOP_OUTBOX) || newparent != fs_ino_top(TOP_JOBS) || (flags & ~RENAME_NOREPLACE) != 0)
        return (void)fuse_reply_err(req, EPERM);
    if ((r = fs_resolve(fs, parent, name, &ino)) < 0 || !fs_ino_split(ino, &c))
        return (void)fuse_reply_err(req, r < 0 ? -r : ENOENT);
    fs_caller_of(req, &who);
    r = fs_submit_draft(fs, c.id, &who, &id);
    fuse_reply_err(req, -r);
}

static void fs_refuse(fuse_req_t req) { fuse_reply_err(req, EPERM); }

static void fs_symlink(fuse_req_t req, const char *link, fuse_ino_t parent, const char *name)
{
    (void)link, (void)parent, (void)name;
    fs_refuse(req);
}

static void fs_link(fuse_req_t req, fuse_ino_t ino, fuse_ino_t newparent, const char *newname)
{
    (void)ino, (void)newparent, (void)newname;
    fs_refuse(req);
}

static void fs_mknod(fuse_req_t req, fuse_ino_t parent, const char *name, mode_t mode, dev_t rdev)
{
    (void)parent, (void)name, (void)mode, (void)rdev;
    fs_refuse(req);
}

static void fs_init(void *userdata, struct fuse_conn_info *conn)
{
    struct fs *fs = userdata;

    fs->no_opendir = (conn->capable & FUSE_CAP_NO_OPENDIR_SUPPORT) != 0;
    /* O_TRUNC arrives with open, so `echo x > ctl` needs no setattr. */
    if (conn->capable & FUSE_CAP_ATOMIC_O_TRUNC) {
        conn->want |= FUSE_CAP_ATOMIC_O_TRUNC;
        fs->atomic_trunc = true;
    }
    conn->want &= ~(unsigned)FUSE_CAP_WRITEBACK_CACHE;
    /* Page reads are answered from the spool file by splice, without
     * copying the bytes through the daemon: cold reads of large pages
     * go from 1.2 to 2 GB/s (docs/performance.md). */
    if (conn->capable & FUSE_CAP_SPLICE_WRITE)
        conn->want |= FUSE_CAP_SPLICE_WRITE;
}

static const struct fuse_lowlevel_ops fs_ops = {
    .init = fs_init,
    .lookup = fs_lookup,
    .getattr = fs_getattr,
    .setattr = fs_setattr,
    .opendir = fs_opendir,
    .readdir = fs_readdir,
    .readdirplus = fs_readdirplus,
    .releasedir = fs_releasedir,
    .open = fs_open,
    .read = fs_read,
    .write = fs_write,
    .flush = fs_flush,
    .release = fs_release,
    .create = fs_create_file,
    .mkdir = fs_mkdir,
    .unlink = fs_unlink,
    .rmdir = fs_rmdir,
    .rename = fs_rename,
    .symlink = fs_symlink,
    .link = fs_link,
    .mknod = fs_mknod,
};

/* ---- page previews ---- */

static int render_preview(void *ctx, uint64_t id, int page, unsigned char **png, size_t *len)
{
    struct fs *fs = ctx;

    return queue_page_png(fs->q, id, page, png, len);
}

/* A preview's size is known only by rendering it: the first stat or lookup
 * of pages/NNN.png pays the render (tens of milliseconds), later ones and
 * the reads that follow are served from the cache. */
int fs_preview_size(struct fs *fs, uint64_t id, int page, uint64_t *size)
{
    struct fs_png *p;
    int r = fs_preview_get(&fs->previews, id, page, &p);

    if (r < 0)
        return r;
    *size = p->len;
    fs_png_release(p);
    return 0;
}

/* ---- the session ---- */

static void drop_draft_file(void *ctx, const char *token)
{
    struct fs *fs = ctx;

    queue_draft_file_remove(fs->q, token);
}

int fs_create(struct fs **out, struct queue *q, const struct fs_options *opt, char *err, size_t errlen)
{
    struct fs *fs = calloc(1, sizeof *fs);
    char opts[1024];
    int r;

    if (!fs || !(fs->seen = calloc(FS_SEEN_SLOTS, sizeof *fs->seen)) || !(fs->mountpoint = strdup(opt->mountpoint))) {
        if (fs)
            free(fs->seen);
        free(fs);
        snprintf(err, errlen, "out of memory");
        return -ENOMEM;
    }
    fs->q = q;
    fs->uid = getuid();
    fs->gid = getgid();
    fs->started = fs_now();
    fs->has_admin_gid = opt->admin_gid != (gid_t)-1;
    fs->admin_gid = opt->admin_gid;
    if (fs_jobcache_init(&fs->jobs) < 0) {
        snprintf(err, errlen, "out of memory");
        fs_jobcache_free(&fs->jobs);
        free(fs->seen);
        free(fs->mountpoint);
        free(fs);
        return -ENOMEM;
    }
    struct fs_limits limits = {
        .drafts_per_user = opt->max_drafts_per_user,
        .bytes_per_user = opt->max_outbox_bytes,
        .bytes_per_file = QUEUE_DEFAULT_MAX_DOCUMENT_BYTES,
        .jobs_per_user = opt->max_jobs_per_user,
        .handles_per_user = opt->max_open_files_per_user,
        .draft_expire_seconds = (int64_t)opt->draft_expire_days * 86400,
    };
    if (fs_outbox_init(&fs->outbox, &limits) < 0) {
        snprintf(err, errlen, "out of memory");
        fs_outbox_free(&fs->outbox);
        fs_jobcache_free(&fs->jobs);
        free(fs->seen);
        free(fs->mountpoint);
        free(fs);
        return -ENOMEM;
    }
    fs->outbox.drop_file = drop_draft_file;
    fs->outbox.drop_ctx = fs;
    fs_previews_init(&fs->previews, FS_PREVIEW_CACHE_BYTES, render_preview, fs);
    pthread_mutex_init(&fs->seen_lock, NULL);
    pthread_mutex_init(&fs->retired_lock, NULL);
    pthread_mutex_init(&fs->notifier.lock, NULL);
    pthread_cond_init(&fs->notifier.wake, NULL);

    snprintf(opts, sizeof opts, "fsname=faxfs,subtype=faxfs%s%s", opt->mount_opts && *opt->mount_opts ? "," : "",
             opt->mount_opts ? opt->mount_opts : "");
    char *argv[] = { "faxfs", "-o", opts, opt->debug ? "-d" : NULL, NULL };
    struct fuse_args args = FUSE_ARGS_INIT(opt->debug ? 4 : 3, argv);
    fs->se = fuse_session_new(&args, &fs_ops, sizeof fs_ops, fs);
    fuse_opt_free_args(&args);
    if (!fs->se) {
        snprintf(err, errlen, "cannot start FUSE with options '%s': check the -o mount options", opts);
        fs_destroy(fs);
        return -EINVAL;
    }
    if (fuse_session_mount(fs->se, fs->mountpoint) != 0) {
        snprintf(err, errlen,
                 "cannot mount on %s: it must be an existing empty directory, with /dev/fuse and fusermount3 available",
                 fs->mountpoint);
        fs_destroy(fs);
        return -EIO;
    }
    fs->mounted = true;
    if ((r = fs_listener_attach(fs)) < 0 || (r = fs_notifier_start(fs)) < 0) {
        snprintf(err, errlen, "cannot follow queue changes: %s", strerror(-r));
        fs_destroy(fs);
        return r;
    }
    *out = fs;
    return 0;
}

int fs_run(struct fs *fs)
{
    struct fuse_loop_config *cfg = fuse_loop_cfg_create();
    int r;

    if (!cfg)
        return -ENOMEM;
    /* Handlers never wait on a modem, but queue_submit syncs the spool:
     * enough threads that readers are not stuck behind submissions. */
    fuse_loop_cfg_set_max_threads(cfg, FS_MAX_THREADS);
    /* Idle workers stay: this libfuse otherwise ends a worker after each
     * request and starts a new one for the next, a thread per request. */
    fuse_loop_cfg_set_idle_threads(cfg, FS_MAX_THREADS);
    fuse_loop_cfg_set_clone_fd(cfg, 0);
    if (fuse_set_signal_handlers(fs->se) == 0)
        fs->signals_set = true;
    r = fuse_session_loop_mt(fs->se, cfg);
    if (fs->signals_set) {
        fuse_remove_signal_handlers(fs->se);
        fs->signals_set = false;
    }
    fuse_loop_cfg_destroy(cfg);
    /* A signal ends the loop with its number; that is a clean end too. */
    return r < 0 ? r : 0;
}

void fs_destroy(struct fs *fs)
{
    if (!fs)
        return;
    fs_listener_detach(fs);
    fs_notifier_stop(fs);
    if (fs->se) {
        if (fs->mounted)
            fuse_session_unmount(fs->se);
        fuse_session_destroy(fs->se);
    }
    fs_outbox_free(&fs->outbox);
    fs_jobcache_free(&fs->jobs);
    retired_free_all(fs);
    fs_previews_free(&fs->previews); /* after the handles holding previews */
    pthread_mutex_destroy(&fs->retired_lock);
    pthread_mutex_destroy(&fs->seen_lock);
    pthread_mutex_destroy(&fs->notifier.lock);
    pthread_cond_destroy(&fs->notifier.wake);
    fs_seen_free(fs);
    free(fs->seen);
    free(fs->mountpoint);
    free(fs);
}

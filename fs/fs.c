/*
 * fs.c - the FUSE front end: the session and the one table of low-level
 * handlers. Handlers answer from the namespace (node.c), the open-file
 * handles (handle.c), the outbox (outbox_change.c, submit.c) and the
 * queue's public API; they never block on a modem and never send kernel
 * notifications.
 */
#include "fs/group.h"
#include "fs/internal.h"

#include <errno.h>
#include <inttypes.h>
#include <poll.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <unistd.h>

#include "fs/handle.h"
#include "fs/metrics.h"
#include "fs/names.h"
#include "fs/outbox_change.h"
#include "fs/parse.h"
#include "fs/render.h"
#include "fs/submit.h"
#include "fs/wait.h"

#define FS_MAX_THREADS 16

static struct fs *fs_of(fuse_req_t req) { return fuse_req_userdata(req); }
static struct fs_handle *handle_of(struct fuse_file_info *fi) { return (struct fs_handle *)(uintptr_t)fi->fh; }

/* ---- lookup and attributes ---- */

static int fill_entry(fuse_req_t req, struct fs *fs, uint64_t ino, struct fuse_entry_param *e)
{
    double timeout;

    memset(e, 0, sizeof *e);
    fs_known_note(fs, ino); /* before the content: the notifier may tell of a change after this */
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
    return (w->area == AREA_TOP && w->node == TOP_CTL) || (w->area != AREA_TOP && w->area != AREA_MODEMS && w->area != AREA_LINES && w->node == NODE_CTL);
}

/* A value file of jobs/ID/ that queue_edit changes (scheduled, priority, ...). */
static bool is_job_edit(const struct fs_ino *w)
{
    const char *name = w->area == AREA_JOBS && w->node >= 1 && w->node < NODE_INFO ? fs_job_field_name((int)w->node) : NULL;
    return name && queue_edit_field_known(name);
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
static void fs_setattr(fuse_req_t req, fuse_ino_t ino, struct stat *attr, int to_set, struct fuse_file_info *fi)
{
    struct fs *fs = fs_of(req);
    struct fs_caller who;
    struct fs_ino w;
    int r;

    if (!fs_ino_split(ino, &w))
        return (void)fuse_reply_err(req, ENOENT);
    /* Only the attributes that can change a file count; ctime and atime
     * updates that come along are no change of ours. */
    to_set &= FUSE_SET_ATTR_MODE | FUSE_SET_ATTR_UID | FUSE_SET_ATTR_GID | FUSE_SET_ATTR_SIZE | FUSE_SET_ATTR_MTIME
            | FUSE_SET_ATTR_MTIME_NOW | FUSE_SET_ATTR_ATIME | FUSE_SET_ATTR_ATIME_NOW;
    bool outbox_file = w.area == AREA_OUTBOX && (w.node >= NODE_FIRST_PAGE || w.node == NODE_SELF);
    bool draft_field = w.area == AREA_OUTBOX && w.node >= 1 && w.node <= (uint32_t)fs_draft_field_count();
    if (outbox_file || draft_field)
        fs_caller_of(req, &who);
    if (is_ctl(&w) || is_job_edit(&w))
        r = to_set == FUSE_SET_ATTR_SIZE && attr->st_size == 0 && !fs->atomic_trunc ? 0 : -EPERM;
    else if (outbox_file)
        r = fs_outbox_setattr_file(fs, req, &who, &w, attr, to_set, fi ? handle_of(fi) : NULL);
    else if (draft_field)
        r = fs_outbox_clear_field(fs, &who, &w, attr, to_set);
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
    case AREA_LINES:
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

/* groups/ID/ files: a snapshot of the whole group taken at open, read
 * direct_io (it may be larger than a value file). */
static int open_group(struct fs *fs, struct fs_handle *h, struct fuse_file_info *fi)
{
    int r = fs_group_render(fs, h->where.id, (int)h->where.node, &h->data, &h->len);

    if (r != 0)
        return r;
    h->cap = h->len;
    fi->direct_io = 1;
    fi->noflush = 1;
    return 0;
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
    h->job_seq = fs_jobs_seq(fs, w->id); /* before any read: poll() compares with it */
    if (w->node == NODE_WAIT) {
        if (fs_open_wants_write(fi->flags))
            return -EPERM;
        h->kind = H_WAIT;
        fi->direct_io = 1;
        fi->nonseekable = 1;
        fi->noflush = 1;
        return 0;
    }
    if (w->node == NODE_CTL) {
        if ((fi->flags & O_ACCMODE) == O_RDONLY) /* reads empty: grep -r stays quiet */
            return open_text(fs, ino, h, fi);
        h->kind = H_JOB_CTL;
        fi->direct_io = 1;
        return 0;
    }
    if (fs_open_wants_write(fi->flags) && is_job_edit(w) && job.type == JOB_SEND) {
        /* faxalter: `echo high > jobs/ID/priority` (write_job_field). */
        if (!fs_may_read_private(fs, req, &job))
            return -EPERM;
        h->kind = H_JOB_FIELD;
        fi->direct_io = 1;
        return 0;
    }
    if (fs_open_wants_write(fi->flags))
        return -EPERM;
    if (w->node == NODE_LOG || w->node == NODE_PDF || w->node == NODE_REPORT || w->node >= NODE_FIRST_PAGE) {
        if (!fs_may_read_private(fs, req, &job))
            return -EACCES;
        if (w->node == NODE_PDF && !fs_job_has_pdf(&job))
            return -ENOENT;
        if (w->node == NODE_REPORT && !queue_job_has_report(&job))
            return -ENOENT;
        if (w->node >= NODE_FIRST_PAGE && fs_node_page(w->node) >= job.page_count)
            return -ENOENT;
        /* Each open page, preview or log holds a descriptor or preview
         * bytes in the daemon: counted against the opener. */
        pthread_mutex_lock(&fs->outbox.lock);
        int r = fs_handle_count(fs, h, fuse_req_ctx(req)->uid, true, NULL);
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
        if (w->node == NODE_PDF || w->node == NODE_REPORT) {
            /* Opened (made, the first time) now: a page that cannot be
             * made into a PDF fails the open with EIO, logged by the queue. */
            int fd = w->node == NODE_PDF ? queue_open_pdf(fs->q, w->id) : queue_open_report(fs->q, w->id);
            if (fd < 0)
                return fd == -ENODATA ? -ENOENT : fd;
            h->fd = fd;
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

static int open_outbox_node(fuse_req_t req, struct fs *fs, fuse_ino_t ino, struct fs_handle *h,
                            struct fuse_file_info *fi)
{
    struct fs_caller who;

    fs_caller_of(req, &who);
    int r = fs_outbox_open(fs, &who, h, fi->flags);
    if (r == 1)
        return open_text(fs, ino, h, fi);
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
    if (!(h = fs_handle_new(H_TEXT, &w)))
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
            r = fs_open_wants_write(fi->flags) ? -EPERM : open_text(fs, ino, h, fi);
        } else if (w.node == TOP_METRICS) {
            r = fs_open_wants_write(fi->flags) ? -EPERM : open_metrics(fs, h, fi);
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
    case AREA_LINES:
        r = w.node == NODE_SELF ? -EISDIR : fs_open_wants_write(fi->flags) ? -EPERM : open_text(fs, ino, h, fi);
        break;
    case AREA_OUTBOX:
        r = open_outbox_node(req, fs, ino, h, fi);
        break;
    case AREA_GROUPS:
        r = w.node == NODE_SELF ? -EISDIR : fs_open_wants_write(fi->flags) ? -EPERM : open_group(fs, h, fi);
        break;
    default:
        r = -ENOENT;
    }
    if (r < 0) {
        fs_handle_uncount(fs, h);
        fs_handle_free(h);
        return (void)fuse_reply_err(req, -r);
    }
    fi->fh = (uintptr_t)h;
    if (fuse_reply_open(req, fi) == -ENOENT) { /* the opener was interrupted */
        fs_handle_uncount(fs, h);
        fs_handle_free(h);
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
         : w->node == NODE_PDF ? queue_open_pdf(fs->q, w->id)
         : w->node == NODE_REPORT ? queue_open_report(fs->q, w->id)
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

    if (h->kind == H_WAIT) {
        /* The answer is one read; the next read of the handle is its end. */
        if (__atomic_exchange_n(&h->published, true, __ATOMIC_ACQ_REL))
            return (void)fuse_reply_buf(req, NULL, 0);
        return fs_wait_read(fs_of(req), req, h->where.id, size);
    }

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

    if (fs_parse_job_ctl_redeliver(buf, size)) {
        fs_caller_of(req, &who);
        fs_caller_to_queue(&who, &qc);
        int r = queue_redeliver(fs->q, &qc, h->where.id, why, sizeof why);
        if (r < 0)
            fprintf(stderr, "faxfs: job %" PRIu64 ": redeliver refused: %s\n", h->where.id, why[0] ? why : strerror(-r));
        return r;
    }
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

/* A write to a job's changeable value file: what the handle got so far
 * is the new value (one trailing newline and surrounding blanks dropped),
 * applied and persisted before the write returns, so `echo high >
 * priority` has changed the job when echo ends. */
static int write_job_field(fuse_req_t req, struct fs *fs, struct fs_handle *h, const char *buf, size_t size)
{
    struct fs_caller who;
    struct queue_caller qc;
    char why[256] = "", value[1025];

    if (h->len + size >= sizeof value)
        return -EFBIG;
    if (h->len + size + 1 > h->cap) {
        char *d = realloc(h->data, h->len + size + 1);
        if (!d)
            return -ENOMEM;
        h->data = d;
        h->cap = h->len + size + 1;
    }
    memcpy(h->data + h->len, buf, size);
    size_t n = h->len + size, start = 0;
    while (n > 0 && (h->data[n - 1] == '\n' || h->data[n - 1] == ' ' || h->data[n - 1] == '\t'))
        n--;
    while (start < n && (h->data[start] == ' ' || h->data[start] == '\t'))
        start++;
    memcpy(value, h->data + start, n - start);
    value[n - start] = '\0';
    if (memchr(value, '\0', n - start) || strchr(value, '\n'))
        return -EINVAL;
    fs_caller_of(req, &who);
    fs_caller_to_queue(&who, &qc);
    const char *field = fs_job_field_name((int)h->where.node);
    int r = queue_edit(fs->q, &qc, h->where.id, field, value, why, sizeof why);
    if (r < 0) {
        char esc[sizeof why * 4];
        fs_log_escape(why[0] ? why : strerror(-r), esc, sizeof esc);
        fprintf(stderr, "faxfs: job %" PRIu64 ": change of %s by uid %lld refused with %s: %s\n", h->where.id, field,
                (long long)who.uid,
                r == -EINVAL ? "EINVAL" : r == -EPERM ? "EPERM" : r == -EBUSY ? "EBUSY"
                : r == -EACCES ? "EACCES" : r == -EFBIG ? "EFBIG" : "an error",
                esc);
        return r;
    }
    h->len += size;
    return 0;
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
    case H_JOB_FIELD: r = write_job_field(req, fs, h, buf, size); break;
    case H_SERVER_CTL: r = write_server_ctl(req, fs, buf, size); break;
    case H_DRAFT_FIELD: r = fs_outbox_write_field(fs, h, buf, size); break;
    case H_DRAFT_CTL:
        fs_caller_of(req, &who);
        r = fs_parse_draft_ctl(buf, size) < 0 ? -EINVAL : fs_submit_draft(fs, h->where.id, &who, &id);
        break;
    case H_UPLOAD:
    case H_DRAFT_DOC: {
        ssize_t n = 0;
        if ((r = fs_outbox_write_file(fs, h, buf, size, off, &n)) < 0)
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
    fs_handle_uncount(fs_of(req), h);
    fs_poll_forget(fs_of(req), h);
    if (h->kind == H_UPLOAD || h->kind == H_DRAFT_DOC) {
        pthread_mutex_lock(&h->io_lock);
        if (h->fd >= 0)
            close(h->fd);
        h->fd = -1;
        pthread_mutex_unlock(&h->io_lock);
    }
    fs_handle_retire(fs_of(req), h);
    fuse_reply_err(req, 0);
}

/* ---- creating (outbox_change.c makes the outbox entries) ---- */

static void fs_create_file(fuse_req_t req, fuse_ino_t parent, const char *name, mode_t mode, struct fuse_file_info *fi)
{
    struct fs *fs = fs_of(req);
    struct fs_ino p;
    struct fs_handle *h = NULL;
    struct fs_caller who;
    struct fuse_entry_param e;
    uint64_t ino = 0;
    int r;

    (void)mode;
    bool in_outbox = fs_ino_split(parent, &p) && ((p.area == AREA_TOP && p.node == TOP_OUTBOX) ||
                                                   (p.area == AREA_OUTBOX && p.node == NODE_SELF));
    if (!in_outbox)
        return (void)fuse_reply_err(req, EPERM);
    fs_caller_of(req, &who);
    if ((r = fs_outbox_create(fs, &who, &p, name, &h, &ino)) < 0)
        return (void)fuse_reply_err(req, -r);
    if ((r = fill_entry(req, fs, ino, &e)) < 0) {
        fs_handle_uncount(fs, h);
        fs_handle_free(h);
        return (void)fuse_reply_err(req, -r);
    }
    /* An upload is never listed as the job it becomes: no cache to keep. */
    e.attr_timeout = e.entry_timeout = 0;
    fi->fh = (uintptr_t)h;
    if (fuse_reply_create(req, &e, fi) == -ENOENT) {
        fs_handle_uncount(fs, h);
        fs_handle_free(h);
    }
}

static void fs_mkdir(fuse_req_t req, fuse_ino_t parent, const char *name, mode_t mode)
{
    struct fs *fs = fs_of(req);
    struct fs_caller who;
    struct fuse_entry_param e;
    uint64_t ino;
    int r;

    (void)mode;
    if (parent != fs_ino_top(TOP_OUTBOX))
        return (void)fuse_reply_err(req, EPERM);
    fs_caller_of(req, &who);
    if ((r = fs_outbox_mkdir(fs, &who, name, &ino)) == 0)
        r = fill_entry(req, fs, ino, &e);
    if (r < 0)
        return (void)fuse_reply_err(req, -r);
    fuse_reply_entry(req, &e);
}

/* ---- removing: rm -r of a job directory cancels (jobs/) or deletes
 * (history/, received/) the job. rm unlinks every file first: those
 * unlinks succeed and change nothing, so rm -r reports no error. ---- */

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
    case AREA_GROUPS:
        r = fs_resolve(fs, parent, name, &ino); /* a no-op on an existing file */
        break;
    case AREA_OUTBOX:
    case AREA_TOP:
        if (p.area == AREA_TOP && p.node != TOP_OUTBOX) {
            r = fs_resolve(fs, parent, name, &ino) < 0 ? -ENOENT : -EPERM;
            break;
        }
        fs_caller_of(req, &who);
        r = fs_outbox_unlink(fs, &p, name, &who);
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
    else if (c.area == AREA_OUTBOX && c.node == NODE_SELF)
        r = fs_outbox_rmdir(fs, c.id, name, &who);
    else if (c.area == AREA_GROUPS && c.node == NODE_SELF)
        r = fs_group_cancel(fs, c.id, &qc, why, sizeof why);
    else
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

/* poll() on a job's files: POLLPRI once the job changed after the open
 * (wait.c). Other files are always ready and never change under poll. */
static void fs_poll(fuse_req_t req, fuse_ino_t ino, struct fuse_file_info *fi, struct fuse_pollhandle *ph)
{
    struct fs_handle *h = handle_of(fi);
    struct fs_ino w;
    unsigned revents = POLLIN | POLLRDNORM;

    bool job_file = fs_ino_split(ino, &w) && (w.area == AREA_JOBS || w.area == AREA_HISTORY || w.area == AREA_RECEIVED)
                    && w.node != NODE_SELF && w.node != NODE_PAGES;
    if (job_file && h->kind != H_WAIT) {
        int r = fs_poll_job(fs_of(req), w.id, h, h->job_seq, ph, &revents);
        if (r < 0)
            return (void)fuse_reply_err(req, -r);
        return (void)fuse_reply_poll(req, revents);
    }
    if (job_file && h->kind == H_WAIT) {
        /* wait is readable once the job is final; until then the poll
         * handle is kept and fired by the job's next change, and the
         * kernel asks again. */
        for (;;) {
            struct job job;
            if (__atomic_load_n(&h->published, __ATOMIC_ACQUIRE) || queue_snapshot(fs_of(req)->q, w.id, &job) < 0
                || job_status_is_final(job.status))
                break;
            unsigned now;
            int r = fs_poll_job(fs_of(req), w.id, h, fs_jobs_seq(fs_of(req), w.id), ph, &now);
            if (r < 0)
                return (void)fuse_reply_err(req, -r);
            if (!(now & POLLPRI))
                return (void)fuse_reply_poll(req, 0); /* ph kept */
            ph = NULL; /* changed meanwhile: fs_poll_job let it go; look again */
        }
    }
    if (ph)
        fuse_pollhandle_destroy(ph);
    fuse_reply_poll(req, revents);
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
    .poll = fs_poll,
};

/* ---- page previews ---- */

static int render_preview(void *ctx, uint64_t id, int page, unsigned char **png, size_t *len)
{
    struct fs *fs = ctx;

    return queue_page_png(fs->q, id, page, png, len);
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
        .max_recipients = opt->max_recipients,
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
    fs_known_init(&fs->known);
    fs_waits_init(&fs->waits);
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
    fs_waits_stop(fs); /* no announcements any more: answer who still waits */
    if (fs->se) {
        if (fs->mounted)
            fuse_session_unmount(fs->se);
        fuse_session_destroy(fs->se);
    }
    fs_outbox_free(&fs->outbox);
    fs_jobcache_free(&fs->jobs);
    fs_known_free(&fs->known);
    fs_handle_free_retired(fs);
    fs_previews_free(&fs->previews); /* after the handles holding previews */
    pthread_mutex_destroy(&fs->retired_lock);
    pthread_mutex_destroy(&fs->seen_lock);
    fs_waits_free(&fs->waits);
    pthread_mutex_destroy(&fs->notifier.lock);
    pthread_cond_destroy(&fs->notifier.wake);
    fs_seen_free(fs);
    free(fs->seen);
    free(fs->mountpoint);
    free(fs);
}

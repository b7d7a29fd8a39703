/*
 * outbox_change.c - what callers change in outbox/: new uploads, drafts and
 * draft documents, opens, writes and truncation of their files (bytes are
 * accounted against the owner's limits before they are written), draft
 * fields, and removal. Only root or an entry's creator changes an entry
 * (fs_outbox_may_change); each change is notified once outbox.lock is free.
 */
#include "fs/outbox_change.h"

#include <errno.h>
#include <fcntl.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <unistd.h>

#include "fs/names.h"
#include "fs/parse.h"
#include "fs/render.h"
#include "fs/submit.h"

/* ---- file sizes, accounted before the bytes are written ---- */

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

/* Under outbox.lock: the draft with this serial, if the caller may change
 * it now; otherwise -ENOENT (no such draft), -EACCES (the caller is neither
 * root nor its creator) or -EBUSY (it is being submitted). */
static int draft_to_change(struct fs *fs, uint64_t serial, const struct fs_caller *who, struct outbox_entry **out)
{
    struct outbox_entry *e = fs_outbox_get(&fs->outbox, serial);

    *out = e;
    if (!e || e->kind != OB_DRAFT)
        return -ENOENT;
    if (!fs_outbox_may_change(e->uid, who->uid))
        return -EACCES;
    return e->busy ? -EBUSY : 0;
}

/* ---- attributes ---- */

int fs_outbox_setattr_file(struct fs *fs, fuse_req_t req, const struct fs_caller *who, const struct fs_ino *w,
                           const struct stat *attr, int to_set, struct fs_handle *h)
{
    struct stat cur;
    double timeout;
    uint64_t before = 0;
    int r;

    pthread_mutex_lock(&fs->outbox.lock);
    struct outbox_entry *ent = fs_outbox_get(&fs->outbox, w->id);
    r = !ent ? -ENOENT : w->node == NODE_SELF && ent->kind != OB_UPLOAD ? -EPERM : 0;
    pthread_mutex_unlock(&fs->outbox.lock);
    if (r < 0 || (r = fs_stat(fs, fs_ino_make(w->area, w->id, w->node), &cur, &timeout, req)) < 0)
        return r;
    if (!fs_outbox_may_change(cur.st_uid, who->uid))
        return -EPERM;
    if ((to_set & FUSE_SET_ATTR_UID) && attr->st_uid != cur.st_uid)
        return -EPERM;
    if ((to_set & FUSE_SET_ATTR_GID) && attr->st_gid != cur.st_gid)
        return -EPERM;
    if ((to_set & FUSE_SET_ATTR_MODE) && (attr->st_mode & 07700) != (cur.st_mode & 07700))
        return -EPERM;
    if (to_set & FUSE_SET_ATTR_SIZE) {
        int fd = -1;
        if (h && (h->kind == H_UPLOAD || h->kind == H_DRAFT_DOC)) {
            pthread_mutex_lock(&h->io_lock);
            fd = h->fd >= 0 ? dup(h->fd) : -1;
            pthread_mutex_unlock(&h->io_lock);
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

int fs_outbox_clear_field(struct fs *fs, const struct fs_caller *who, const struct fs_ino *w, const struct stat *attr,
                          int to_set)
{
    struct outbox_entry *e;
    char why[8];

    if (to_set != FUSE_SET_ATTR_SIZE || attr->st_size != 0)
        return -EPERM;
    pthread_mutex_lock(&fs->outbox.lock);
    int r = draft_to_change(fs, w->id, who, &e);
    if (r == -EACCES)
        r = -EPERM; /* setattr refusals are EPERM (and logged as such) */
    else if (r == 0) {
        fs_draft_set(&e->req, (int)w->node, "", 0, 0, why, sizeof why);
        e->mtime = fs_now();
    }
    pthread_mutex_unlock(&fs->outbox.lock);
    if (r == 0)
        fs_notify_outbox(fs, FS_EV_OUTBOX, w->id, NULL);
    return r;
}

/* ---- opening ---- */

/* Outbox content (uploads, drafts and everything in them, .error reasons)
 * is its creator's: others may not even read it (admin group and root may). */
static bool may_read_outbox(struct fs *fs, const struct fs_caller *who, const struct outbox_entry *e)
{
    struct queue_caller qc;

    if (fs_outbox_may_change(e->uid, who->uid))
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

int fs_outbox_open(struct fs *fs, const struct fs_caller *who, struct fs_handle *h, int flags)
{
    const struct fs_ino *w = &h->where;
    bool write = fs_open_wants_write(flags);
    int r = 0;

    pthread_mutex_lock(&fs->outbox.lock);
    struct outbox_entry *e = fs_outbox_get(&fs->outbox, w->id);
    if (!e)
        r = -ENOENT;
    else if (write && !fs_outbox_may_change(e->uid, who->uid))
        r = -EACCES;
    else if (!may_read_outbox(fs, who, e))
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
        else if ((r = fs_handle_count(fs, h, who->uid, true, e)) == 0)
            r = open_draft_doc(fs, e, d, h, flags);
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
        fs_handle_count(fs, h, who->uid, false, e);
    pthread_mutex_unlock(&fs->outbox.lock);
    if (r < 0)
        fs_handle_uncount(fs, h);
    if (r == 1)
        h->kind = H_TEXT;
    return r;
}

/* ---- writing ---- */

/* Each write is parsed together with what this handle wrote before, so
 * `echo value > field` sets the field in one go and a bad value fails the
 * write that brought it. */
int fs_outbox_write_field(struct fs *fs, struct fs_handle *h, const char *buf, size_t size)
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

int fs_outbox_write_file(struct fs *fs, struct fs_handle *h, const char *buf, size_t size, off_t off, ssize_t *n)
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

/* ---- creating ---- */

/* Refuses an outbox name with control characters: it would reach
 * listings and log lines. */
static int check_name(uid_t uid, const char *name)
{
    char esc[NAME_MAX * 4 + 1], user[64];

    if (fs_name_printable(name))
        return 0;
    fs_log_escape(name, esc, sizeof esc);
    fs_user_name(uid, user, sizeof user);
    fprintf(stderr, "faxfs: outbox/%s: %s (uid %lld): name with control characters refused with EINVAL; "
                    "use printable characters\n", esc, user, (long long)uid);
    return -EINVAL;
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

/* Under outbox.lock: a new upload NAME in outbox/ and its handle. */
static int add_upload(struct fs *fs, const struct fs_caller *who, const char *name, int fd, struct fs_handle **hp,
                      uint64_t *ino)
{
    struct outbox_entry *old = fs_outbox_find(&fs->outbox, name, fs_now());
    struct outbox_entry *ent = NULL;
    struct fs_handle *h = NULL;
    int r = 0;

    if (old)
        r = old->kind == OB_DRAFT ? -EISDIR : -EBUSY;
    else if (!(h = fs_handle_new(H_UPLOAD, &(struct fs_ino){ AREA_OUTBOX, 0, NODE_SELF })))
        r = -ENOMEM;
    else if ((r = fs_handle_count(fs, h, who->uid, true, NULL)) < 0)
        ;
    else if (!(ent = fs_outbox_add(&fs->outbox, OB_UPLOAD, name, who->uid)))
        r = -ENOMEM;
    if (r == 0) {
        ent->fd = fd;
        ent->gid = who->gid;
        ent->caller = *who;
        *ino = fs_ino_make(AREA_OUTBOX, ent->serial, NODE_SELF);
        h->where.id = ent->serial;
    }
    *hp = h;
    return r;
}

/* Under outbox.lock: a new document NAME in the draft with this serial,
 * and its handle. */
static int add_draft_doc(struct fs *fs, const struct fs_caller *who, uint64_t serial, const char *name, int fd,
                         const char *token, struct fs_handle **hp, uint64_t *ino)
{
    struct outbox_entry *draft;
    struct draft_doc *d = NULL;
    struct fs_handle *h = NULL;
    int r = draft_to_change(fs, serial, who, &draft);

    if (r < 0)
        ;
    else if (fs_draft_node_by_name(name) || !strcmp(name, "ctl") || !strcmp(name, "error"))
        r = -EPERM;
    else if (fs_draft_doc_find(draft, name))
        r = -EEXIST;
    else if (draft->ndocs >= FS_MAX_DRAFT_DOCS && who->uid != 0)
        r = -EDQUOT;
    else if (!(h = fs_handle_new(H_DRAFT_DOC, &(struct fs_ino){ AREA_OUTBOX, serial, 0 })))
        r = -ENOMEM;
    else if ((r = fs_handle_count(fs, h, who->uid, true, draft)) < 0)
        ;
    else if ((r = fs_draft_doc_add(draft, name, token[0] ? -1 : fd, token, &d)) == 0) {
        *ino = fs_ino_make(AREA_OUTBOX, serial, NODE_FIRST_PAGE + d->serial);
        h->where.node = NODE_FIRST_PAGE + d->serial;
        draft->mtime = fs_now();
    }
    *hp = h;
    return r;
}

int fs_outbox_create(struct fs *fs, const struct fs_caller *who, const struct fs_ino *p, const char *name,
                     struct fs_handle **out, uint64_t *ino)
{
    struct fs_handle *h = NULL;
    char number[JOB_NUMBER_MAX], why[256] = "", token[QUEUE_DRAFT_TOKEN_MAX];
    int r;

    *ino = 0;
    if ((r = check_name(who->uid, name)) < 0)
        return r;
    if (p->area == AREA_TOP) {
        char typed[JOB_NUMBER_MAX], sentence[192];
        if (fs_outbox_typed_number(name, typed, sizeof typed, why, sizeof why) < 0) {
            fs_refuse_upload_name(fs, name, why, who->uid);
            return -EINVAL;
        }
        /* The dial rules decide before any byte is stored: a refused
         * number fails the create itself (EACCES). */
        if ((r = queue_check_number(fs->q, typed, number, sizeof number, sentence, sizeof sentence)) < 0) {
            if (r == -EINVAL)
                snprintf(why, sizeof why, "%s: %s; name the file after the recipient's number, e.g. 5551234.tif",
                         name, sentence);
            else
                snprintf(why, sizeof why, "%s", sentence);
            fs_refuse_upload_name(fs, name, why, who->uid);
            return r == -EACCES ? -EACCES : -EINVAL;
        }
        if ((r = fs_check_jobs_limit(fs, who->uid, name, NULL, 0)) < 0)
            return r;
    }
    int fd = outbox_new_file(fs, p->area != AREA_TOP, who, token, sizeof token);
    if (fd < 0)
        return fd;
    pthread_mutex_lock(&fs->outbox.lock);
    if (p->area == AREA_TOP)
        r = add_upload(fs, who, name, fd, &h, ino);
    else
        r = add_draft_doc(fs, who, p->id, name, fd, token, &h, ino);
    pthread_mutex_unlock(&fs->outbox.lock);
    if (r == -EDQUOT) {
        char user[64], esc[NAME_MAX * 4 + 1];
        fs_user_name(who->uid, user, sizeof user);
        fs_log_escape(name, esc, sizeof esc);
        fprintf(stderr, "faxfs: outbox draft document %s: %s (uid %lld): the draft has %d documents, refused with "
                        "EDQUOT; submit it and start another draft\n", esc, user, (long long)who->uid, FS_MAX_DRAFT_DOCS);
    }
    if (r < 0) {
        if (h)
            fs_handle_uncount(fs, h);
        fs_handle_free(h);
        close(fd);
        if (token[0])
            queue_draft_file_remove(fs->q, token);
        return r;
    }
    /* The handle's own descriptor: a named draft file's is the one just
     * made (the draft keeps none); others share the entry's. */
    if ((h->fd = token[0] ? fd : dup(fd)) < 0) {
        fs_handle_uncount(fs, h);
        fs_handle_free(h);
        return -ENOMEM;
    }
    if (p->area == AREA_TOP)
        fs_forget_error(fs, name);
    fs_notify_outbox(fs, FS_EV_OUTBOX, p->area == AREA_TOP ? h->where.id : p->id, p->area == AREA_TOP ? name : NULL);
    *out = h;
    return 0;
}

int fs_outbox_mkdir(struct fs *fs, const struct fs_caller *who, const char *name, uint64_t *ino)
{
    uint64_t serial = 0;
    int r;

    *ino = 0;
    if ((r = check_name(who->uid, name)) < 0)
        return r;
    pthread_mutex_lock(&fs->outbox.lock);
    struct outbox_entry *ent = NULL;
    if (fs_outbox_find(&fs->outbox, name, fs_now()))
        r = -EEXIST;
    else if ((r = fs_outbox_may_add_draft(&fs->outbox, who->uid)) < 0 && fs_outbox_sweep(&fs->outbox, fs_now()) > 0)
        r = fs_outbox_may_add_draft(&fs->outbox, who->uid); /* stale drafts made room */
    if (r == 0 && !(ent = fs_outbox_add(&fs->outbox, OB_DRAFT, name, who->uid)))
        r = -ENOMEM;
    if (r == 0) {
        ent->gid = who->gid;
        ent->caller = *who;
        serial = ent->serial;
        *ino = fs_ino_make(AREA_OUTBOX, serial, NODE_SELF);
    }
    pthread_mutex_unlock(&fs->outbox.lock);
    if (r == -EDQUOT)
        log_draft_limit(fs, who->uid, name);
    if (r == 0)
        fs_notify_outbox(fs, FS_EV_OUTBOX, serial, name);
    return r;
}

/* ---- removing ---- */

int fs_outbox_unlink(struct fs *fs, const struct fs_ino *p, const char *name, const struct fs_caller *who)
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
        else if (e->kind != OB_ERROR && !fs_outbox_may_change(e->uid, who->uid))
            r = -EACCES;
        else if (e->busy)
            r = -EBUSY;
        else {
            serial = e->serial;
            gone = true;
            fs_outbox_remove(&fs->outbox, e);
        }
    } else {
        struct outbox_entry *e;
        r = draft_to_change(fs, p->id, who, &e);
        int node = r == 0 ? fs_draft_node_by_name(name) : 0;
        struct draft_doc *d = r == 0 ? fs_draft_doc_find(e, name) : NULL;
        serial = p->id;
        if (r < 0)
            ;
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

int fs_outbox_rmdir(struct fs *fs, uint64_t serial, const char *name, const struct fs_caller *who)
{
    struct outbox_entry *e;

    pthread_mutex_lock(&fs->outbox.lock);
    int r = draft_to_change(fs, serial, who, &e);
    if (r == -ENOENT)
        r = -ENOTDIR; /* an upload or .error file, not a draft */
    else if (r == 0)
        fs_outbox_remove(&fs->outbox, e);
    pthread_mutex_unlock(&fs->outbox.lock);
    if (r == 0)
        fs_notify_outbox(fs, FS_EV_OUTBOX_GONE, serial, name);
    return r;
}

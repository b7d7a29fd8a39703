/*
 * node.c - the namespace of the view: which names exist under which
 * directory, what each inode's attributes are, and what a synthetic file
 * contains right now. Job nodes are checked against a fresh snapshot every
 * time, so a job that moved to history/ stops resolving under jobs/.
 */
#include "fs/internal.h"

#include <errno.h>
#include <inttypes.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <unistd.h>

#include "fs/group.h"
#include "fs/metrics.h"
#include "fs/parse.h"
#include "fs/render.h"

static const char *const top_names[TOP_COUNT] = {
    [TOP_JOBS] = "jobs", [TOP_HISTORY] = "history", [TOP_OUTBOX] = "outbox", [TOP_MODEMS] = "modems",
    [TOP_SERVER] = "server", [TOP_CTL] = "ctl", [TOP_RECEIVED] = "received", [TOP_METRICS] = "metrics",
    [TOP_LINES] = "lines", [TOP_GROUPS] = "groups",
};

/* The directory of each job area, and the queue filter listing it. */
static const struct {
    enum fs_top_node dir;
    unsigned filter;
} areas[AREA_COUNT] = {
    [AREA_JOBS] = { TOP_JOBS, QL_UNFINISHED },
    [AREA_HISTORY] = { TOP_HISTORY, QL_HISTORY },
    [AREA_RECEIVED] = { TOP_RECEIVED, QL_RECEIVED },
};

static bool is_job_area(enum fs_area a) { return a == AREA_JOBS || a == AREA_HISTORY || a == AREA_RECEIVED; }

bool fs_job_in_area(const struct job *j, enum fs_area a)
{
    switch (a) {
    case AREA_JOBS: return j->type == JOB_SEND && !job_status_is_final(j->status);
    case AREA_HISTORY: return j->type == JOB_SEND && job_status_is_final(j->status);
    case AREA_RECEIVED: return j->type == JOB_RECEIVE;
    default: return false;
    }
}

bool fs_job_served_in(const struct job *j, enum fs_area a)
{
    return is_job_area(a) && (j->type == JOB_RECEIVE) == (a == AREA_RECEIVED);
}

int fs_job_for(struct fs *fs, const struct fs_ino *where, struct job *job)
{
    if (!is_job_area(where->area) || where->id == 0)
        return -ENOENT;
    if (fs_jobs_get(fs, where->id, job) < 0 || !fs_job_in_area(job, where->area))
        return -ENOENT;
    return 0;
}

int fs_job_behind(struct fs *fs, const struct fs_ino *where, struct job *job)
{
    if (!is_job_area(where->area) || where->id == 0 || fs_jobs_get(fs, where->id, job) < 0)
        return -ENOENT;
    return fs_job_served_in(job, where->area) ? 0 : -ENOENT;
}

/* Strict decimal: what the listing shows, nothing else ("007", "+7" miss). */
static bool parse_id(const char *s, uint64_t *out)
{
    uint64_t v = 0;

    if (*s < '1' || *s > '9')
        return false;
    for (; *s; s++) {
        if (*s < '0' || *s > '9' || v > (INO_ID_MAX - 9) / 10)
            return false;
        v = v * 10 + (uint64_t)(*s - '0');
    }
    *out = v;
    return true;
}

/* pages/ holds NNN.tif (the page) and NNN.png (its preview) per page. */
static void page_name(int page, bool png, char *out, size_t outlen)
{
    snprintf(out, outlen, "%03d.%s", page + 1, png ? "png" : "tif");
}

/* The node of pages/NAME, or 0 when there is no such page. */
static uint32_t parse_page_name(const char *name, int page_count)
{
    char expect[32];
    int n = atoi(name) - 1;

    if (n < 0 || n >= page_count)
        return 0;
    for (int png = 0; png < 2; png++) {
        page_name(n, png, expect, sizeof expect);
        if (strcmp(expect, name) == 0)
            return (png ? NODE_FIRST_PNG : NODE_FIRST_PAGE) + (uint32_t)n;
    }
    return 0;
}

bool fs_node_is_png(uint32_t node) { return node >= NODE_FIRST_PNG; }
bool fs_node_is_page(uint32_t node) { return node >= NODE_FIRST_PAGE && node < NODE_FIRST_PNG; }
int fs_node_page(uint32_t node) { return (int)(node - (node >= NODE_FIRST_PNG ? NODE_FIRST_PNG : NODE_FIRST_PAGE)); }

bool fs_job_has_pdf(const struct job *j)
{
    return j->page_count > 0 && j->status != JOB_RECEIVING;
}

static int resolve_job_child(struct fs *fs, const struct fs_ino *p, const char *name, uint64_t *ino)
{
    struct job job;
    int node;

    if (fs_job_behind(fs, p, &job) < 0)
        return -ENOENT;
    if (p->node == NODE_SELF) {
        if (strcmp(name, "pages") == 0)
            node = NODE_PAGES;
        else if (strcmp(name, FS_PDF_NAME) == 0 && fs_job_has_pdf(&job))
            node = NODE_PDF;
        else if (strcmp(name, FS_REPORT_NAME) == 0 && queue_job_has_report(&job))
            node = NODE_REPORT;
        else if ((node = fs_job_node_by_name(name)) == 0 || !fs_job_field_shown(node, job.type))
            return -ENOENT;
    } else if (p->node == NODE_PAGES) {
        if ((node = (int)parse_page_name(name, job.page_count)) == 0)
            return -ENOENT;
    } else {
        return -ENOTDIR;
    }
    *ino = fs_ino_make(p->area, p->id, (uint32_t)node);
    return 0;
}

static int resolve_draft_child(struct fs *fs, const struct fs_ino *p, const char *name, uint64_t *ino)
{
    int r = -ENOENT;
    uint32_t node = 0;

    pthread_mutex_lock(&fs->outbox.lock);
    struct outbox_entry *e = fs_outbox_get(&fs->outbox, p->id);
    if (!e) {
        r = -ENOENT;
    } else if (e->kind != OB_DRAFT) {
        r = -ENOTDIR;
    } else if ((node = (uint32_t)fs_draft_node_by_name(name)) != 0 || strcmp(name, "ctl") == 0) {
        node = node ? node : NODE_CTL;
        r = 0;
    } else if (strcmp(name, "error") == 0 && e->text) {
        node = NODE_ERROR;
        r = 0;
    } else {
        struct draft_doc *d = fs_draft_doc_find(e, name);
        if (d) {
            node = NODE_FIRST_PAGE + d->serial;
            r = 0;
        }
    }
    pthread_mutex_unlock(&fs->outbox.lock);
    if (r == 0)
        *ino = fs_ino_make(AREA_OUTBOX, p->id, node);
    return r;
}

static int resolve_top(struct fs *fs, const struct fs_ino *p, const char *name, uint64_t *ino)
{
    uint64_t id;

    switch (p->node) {
    case TOP_ROOT:
        for (int n = TOP_JOBS; n < TOP_COUNT; n++)
            if (strcmp(top_names[n], name) == 0) {
                *ino = fs_ino_top((enum fs_top_node)n);
                return 0;
            }
        return -ENOENT;
    case TOP_JOBS:
    case TOP_HISTORY:
    case TOP_RECEIVED: {
        enum fs_area a = p->node == TOP_JOBS ? AREA_JOBS : p->node == TOP_HISTORY ? AREA_HISTORY : AREA_RECEIVED;
        struct fs_ino where = { a, 0, NODE_SELF };
        struct job job;
        if (!parse_id(name, &id))
            return -ENOENT;
        where.id = id;
        if (fs_job_for(fs, &where, &job) < 0)
            return -ENOENT;
        *ino = fs_ino_make(a, id, NODE_SELF);
        return 0;
    }
    case TOP_MODEMS:
        for (int i = 0; i < queue_modem_count(fs->q); i++) {
            struct queue_modem_info m;
            if (queue_modem_info(fs->q, i, &m) == 0 && strcmp(m.name, name) == 0) {
                *ino = fs_ino_make(AREA_MODEMS, (uint64_t)i, NODE_SELF);
                return 0;
            }
        }
        return -ENOENT;
    case TOP_LINES:
        for (int i = 0; i < queue_line_count(fs->q); i++) {
            struct queue_line_info l;
            if (queue_line_info(fs->q, i, &l) == 0 && strcmp(l.name, name) == 0) {
                *ino = fs_ino_make(AREA_LINES, (uint64_t)i, NODE_SELF);
                return 0;
            }
        }
        return -ENOENT;
    case TOP_GROUPS: {
        uid_t owner;
        if (!parse_id(name, &id) || fs_group_owner(fs, id, &owner) != 0)
            return -ENOENT;
        *ino = fs_ino_make(AREA_GROUPS, id, NODE_SELF);
        return 0;
    }
    case TOP_OUTBOX: {
        int r = -ENOENT;
        pthread_mutex_lock(&fs->outbox.lock);
        struct outbox_entry *e = fs_outbox_find(&fs->outbox, name, fs_now());
        if (e) {
            *ino = fs_ino_make(AREA_OUTBOX, e->serial, NODE_SELF);
            r = 0;
        }
        pthread_mutex_unlock(&fs->outbox.lock);
        return r;
    }
    default:
        return -ENOTDIR;
    }
}

int fs_resolve(struct fs *fs, uint64_t parent, const char *name, uint64_t *ino)
{
    struct fs_ino p;

    if (!fs_ino_split(parent, &p))
        return -ENOENT;
    switch (p.area) {
    case AREA_TOP:
        return resolve_top(fs, &p, name, ino);
    case AREA_JOBS:
    case AREA_HISTORY:
    case AREA_RECEIVED:
        return resolve_job_child(fs, &p, name, ino);
    case AREA_MODEMS: {
        int node;
        if (p.node != NODE_SELF)
            return -ENOTDIR;
        if ((int)p.id >= queue_modem_count(fs->q) || (node = fs_modem_node_by_name(name)) == 0)
            return -ENOENT;
        *ino = fs_ino_make(AREA_MODEMS, p.id, (uint32_t)node);
        return 0;
    }
    case AREA_LINES: {
        int node;
        if (p.node != NODE_SELF)
            return -ENOTDIR;
        if ((int)p.id >= queue_line_count(fs->q) || (node = fs_line_node_by_name(name)) == 0)
            return -ENOENT;
        *ino = fs_ino_make(AREA_LINES, p.id, (uint32_t)node);
        return 0;
    }
    case AREA_GROUPS: {
        int node;
        uid_t owner;
        if (p.node != NODE_SELF)
            return -ENOTDIR;
        if ((node = fs_group_node_by_name(name)) == 0 || fs_group_owner(fs, p.id, &owner) != 0)
            return -ENOENT;
        *ino = fs_ino_make(AREA_GROUPS, p.id, (uint32_t)node);
        return 0;
    }
    case AREA_OUTBOX:
        if (p.node != NODE_SELF)
            return -ENOTDIR;
        return resolve_draft_child(fs, &p, name, ino);
    default:
        return -ENOENT;
    }
}

/* ---- content ---- */

static int render_outbox(struct fs *fs, const struct fs_ino *w, char *out, size_t outlen)
{
    int r = -ENOENT;

    pthread_mutex_lock(&fs->outbox.lock);
    struct outbox_entry *e = fs_outbox_get(&fs->outbox, w->id);
    if (e && e->kind == OB_ERROR && w->node == NODE_SELF)
        r = snprintf(out, outlen, "%s\n", e->text);
    else if (e && e->kind == OB_DRAFT && w->node == NODE_ERROR && e->text)
        r = snprintf(out, outlen, "%s\n", e->text);
    else if (e && e->kind == OB_DRAFT && w->node >= 1 && w->node <= (uint32_t)fs_draft_field_count())
        r = fs_draft_render(&e->req, (int)w->node, out, outlen);
    else if (e && e->kind == OB_DRAFT && w->node == NODE_CTL)
        r = 0;
    pthread_mutex_unlock(&fs->outbox.lock);
    if (r > 0 && (size_t)r >= outlen)
        r = (int)outlen - 1;
    return r;
}

int fs_render_node(struct fs *fs, const struct fs_ino *w, char *out, size_t outlen)
{
    switch (w->area) {
    case AREA_TOP:
        if (w->node == TOP_SERVER) {
            struct queue_summary sum;
            queue_summarize(fs->q, &sum);
            return fs_render_server(&sum, out, outlen);
        }
        if (w->node == TOP_CTL)
            return 0;
        if (w->node == TOP_METRICS)
            return -EFBIG; /* outgrows FS_RENDER_MAX: fs_render_metrics_now */
        return -EISDIR;
    case AREA_JOBS:
    case AREA_HISTORY:
    case AREA_RECEIVED: {
        struct job job;
        if (fs_job_behind(fs, w, &job) < 0)
            return -ENOENT;
        if (w->node == NODE_INFO)
            return fs_render_job_info(&job, out, outlen);
        if (w->node == NODE_CTL)
            return 0;
        return fs_render_job_field(&job, (int)w->node, out, outlen);
    }
    case AREA_MODEMS: {
        struct queue_modem_info m;
        if (queue_modem_info(fs->q, (int)w->id, &m) < 0)
            return -ENOENT;
        return fs_render_modem_file(&m, (int)w->node, out, outlen);
    }
    case AREA_LINES: {
        struct queue_line_info l;
        if (queue_line_info(fs->q, (int)w->id, &l) < 0)
            return -ENOENT;
        return fs_render_line_file(&l, (int)w->node, out, outlen);
    }
    case AREA_OUTBOX:
        return render_outbox(fs, w, out, outlen);
    case AREA_GROUPS:
        return w->node == NODE_SELF ? -EISDIR : -EFBIG; /* rendered whole at open: fs_group_render */
    default:
        return -ENOENT;
    }
}

/* ---- attributes ---- */

static void stat_base(struct stat *st, uint64_t ino, mode_t mode, uid_t uid, gid_t gid, int64_t mtime)
{
    memset(st, 0, sizeof *st);
    st->st_ino = ino;
    st->st_mode = mode;
    st->st_nlink = S_ISDIR(mode) ? 2 : 1;
    st->st_uid = uid;
    st->st_gid = gid;
    st->st_blksize = 4096;
    st->st_mtim.tv_sec = st->st_ctim.tv_sec = st->st_atim.tv_sec = mtime;
}

static void set_size(struct stat *st, uint64_t size)
{
    st->st_size = (off_t)size;
    st->st_blocks = (blkcnt_t)((size + 511) / 512);
}

static int stat_rendered(struct fs *fs, uint64_t ino, const struct fs_ino *w, struct stat *st)
{
    char buf[FS_RENDER_MAX];
    int len = fs_render_node(fs, w, buf, sizeof buf);

    if (len < 0)
        return len;
    set_size(st, (uint64_t)len);
    fs_seen_publish(fs, ino, buf, (size_t)len);
    return 0;
}

static int stat_top(struct fs *fs, uint64_t ino, const struct fs_ino *w, struct stat *st)
{
    /* outbox/ is sticky and open to all: with default_permissions the
     * kernel lets only an entry's owner remove it. jobs/, history/ and
     * received/ are open to all but not sticky, because the admin group may
     * remove other users' jobs: the rmdir handler asks the queue who may. */
    static const mode_t modes[TOP_COUNT] = {
        [TOP_ROOT] = S_IFDIR | 0755, [TOP_JOBS] = S_IFDIR | 0777, [TOP_HISTORY] = S_IFDIR | 0777,
        [TOP_OUTBOX] = S_IFDIR | 01777, [TOP_MODEMS] = S_IFDIR | 0755, [TOP_SERVER] = S_IFREG | 0444,
        [TOP_CTL] = S_IFREG | 0644, [TOP_RECEIVED] = S_IFDIR | 0777, [TOP_METRICS] = S_IFREG | 0444,
        [TOP_LINES] = S_IFDIR | 0755, [TOP_GROUPS] = S_IFDIR | 0777,
    };
    stat_base(st, ino, modes[w->node], fs->uid, fs->gid, fs->started);
    if (w->node == TOP_SERVER)
        return stat_rendered(fs, ino, w, st);
    if (w->node == TOP_METRICS) {
        /* Counters move all the time: the size is that of a rendering now,
         * and reads (direct_io) return a snapshot taken at open. */
        char *buf = malloc(FS_METRICS_MAX);
        int len = buf ? fs_render_metrics_now(fs, buf, FS_METRICS_MAX) : -ENOMEM;
        free(buf);
        if (len < 0)
            return len;
        set_size(st, (uint64_t)len);
        st->st_mtim.tv_sec = st->st_ctim.tv_sec = fs_now();
    }
    return 0;
}

/* The queue's rules as modes, so that with default_permissions the kernel
 * allows what the handlers allow (docs/security.md). Send jobs: everyone
 * reads the values, only the owner (and the admin group, shown as the
 * group) reads pages and log or writes ctl. Received faxes: the configured
 * owner and group only. Files are writable to whoever may remove the job,
 * so `rm -r` never asks; writes other than ctl are refused anyway. */
static void job_access(struct fs *fs, const struct job *j, uint32_t node, mode_t *mode, gid_t *gid)
{
    bool dir = node == NODE_SELF || node == NODE_PAGES;
    bool private = node == NODE_LOG || node == NODE_PDF || node == NODE_REPORT || node >= NODE_FIRST_PAGE;

    if (j->type == JOB_RECEIVE) {
        *gid = j->owner_gid;
        *mode = dir ? S_IFDIR | 0750 : S_IFREG | 0640;
        return;
    }
    bool admin = fs->has_admin_gid;
    *gid = admin ? fs->admin_gid : j->owner_gid;
    if (dir)
        *mode = S_IFDIR | (admin ? 0775 : 0755);
    else if (private)
        *mode = S_IFREG | (admin ? 0660 : 0600);
    else
        *mode = S_IFREG | (admin ? 0664 : 0644);
}

static int stat_job(struct fs *fs, uint64_t ino, const struct fs_ino *w, struct stat *st, double *timeout, fuse_req_t req)
{
    struct job job;
    uint64_t size = 0;
    mode_t mode;
    gid_t gid;
    int r;

    if (fs_job_behind(fs, w, &job) < 0)
        return -ENOENT;
    *timeout = job_status_is_final(job.status) ? FS_TIMEOUT_FINISHED : FS_TIMEOUT_JOB;
    job_access(fs, &job, w->node, &mode, &gid);
    if (w->node == NODE_SELF || w->node == NODE_PAGES) {
        stat_base(st, ino, mode, job.owner_uid, gid, job.changed);
        if (w->node == NODE_SELF)
            st->st_nlink = 3;
        return 0;
    }
    if (w->node >= NODE_FIRST_PAGE) {
        int page = fs_node_page(w->node);
        if (page >= job.page_count)
            return -ENOENT;
        bool png = fs_node_is_png(w->node);
        /* A preview is rendered for those who may read it, never for a
         * look from anyone else: they get size 0, kept by nobody. */
        if (png && !fs_preview_size_known(&fs->previews, w->id, page, &size) && req
            && !fs_may_read_private(fs, req, &job)) {
            stat_base(st, ino, mode, job.owner_uid, gid, job.submitted);
            *timeout = 0;
            return 0;
        }
        r = png ? fs_preview_size(fs, w->id, page, &size) : fs_jobs_page_size(fs, w->id, page, &size);
        if (r < 0)
            return r;
        stat_base(st, ino, mode, job.owner_uid, gid, job.submitted);
        set_size(st, size);
        *timeout = FS_TIMEOUT_PAGES;
        return 0;
    }
    if (w->node == NODE_PDF) {
        if (!fs_job_has_pdf(&job))
            return -ENOENT;
        /* The pages' time: a send job's from submission, a fax's from
         * the end of its call. */
        int64_t made = job.type == JOB_RECEIVE && job.finished ? job.finished : job.submitted;
        stat_base(st, ino, mode, job.owner_uid, gid, made);
        /* Made only for those who may read it, as previews are rendered;
         * anyone else is told size 0 with a zero timeout. */
        if (req && !fs_may_read_private(fs, req, &job)) {
            *timeout = 0;
            return 0;
        }
        if ((r = fs_pdf_size(fs, w->id, &size)) < 0)
            return r;
        set_size(st, size);
        *timeout = FS_TIMEOUT_PAGES;
        return 0;
    }
    if (w->node == NODE_REPORT) {
        if (!queue_job_has_report(&job))
            return -ENOENT;
        stat_base(st, ino, mode, job.owner_uid, gid, job.finished);
        /* Made only for those who may read it, as fax.pdf. */
        if (req && !fs_may_read_private(fs, req, &job)) {
            *timeout = 0;
            return 0;
        }
        if ((r = fs_report_size(fs, w->id, &size)) < 0)
            return r;
        set_size(st, size);
        *timeout = FS_TIMEOUT_PAGES;
        return 0;
    }
    if (w->node == NODE_LOG) {
        stat_base(st, ino, mode, job.owner_uid, gid, job.changed);
        if (fs_spool_file_size(queue_open_log(fs->q, w->id), &size) == 0)
            set_size(st, size);
        return 0;
    }
    stat_base(st, ino, mode, job.owner_uid, gid, job.changed);
    if (w->node == NODE_CTL || w->node == NODE_WAIT)
        return 0; /* read direct: the answer's size is not known before it */
    if (!fs_job_field_name((int)w->node) || !fs_job_field_shown((int)w->node, job.type))
        return -ENOENT;
    return stat_rendered(fs, ino, w, st);
}

/* Outbox content is its creator's (docs/security.md): drafts 0700, their
 * files and uploads 0600, .error reasons 0400; with an admin group, that
 * group reads them too. */
static int stat_outbox(struct fs *fs, uint64_t ino, const struct fs_ino *w, struct stat *st)
{
    uint64_t size = 0;
    mode_t mode = 0, g = fs->has_admin_gid ? 0040 : 0;
    int r = 0;
    bool rendered = false;

    pthread_mutex_lock(&fs->outbox.lock);
    struct outbox_entry *e = fs_outbox_get(&fs->outbox, w->id);
    if (!e) {
        pthread_mutex_unlock(&fs->outbox.lock);
        return -ENOENT;
    }
    if (w->node == NODE_SELF) {
        mode = e->kind == OB_DRAFT ? S_IFDIR | 0700 | g | (g >> 2) : e->kind == OB_ERROR ? S_IFREG | 0400 | g
                                                                                         : S_IFREG | 0600 | g;
        size = e->size;
        rendered = e->kind == OB_ERROR;
    } else if (e->kind != OB_DRAFT) {
        r = -ENOENT;
    } else if (w->node >= NODE_FIRST_PAGE) {
        struct draft_doc *d = fs_draft_doc_get(e, w->node - NODE_FIRST_PAGE);
        mode = S_IFREG | 0600 | g;
        if (d)
            size = d->size;
        else
            r = -ENOENT;
    } else {
        mode = w->node == NODE_ERROR ? S_IFREG | 0400 | g : S_IFREG | 0600 | g;
        rendered = true;
    }
    if (r == 0) {
        struct draft_doc *d = w->node >= NODE_FIRST_PAGE ? fs_draft_doc_get(e, w->node - NODE_FIRST_PAGE) : NULL;
        stat_base(st, ino, mode, e->uid, fs->has_admin_gid ? fs->admin_gid : e->gid, d ? d->mtime : e->mtime);
        set_size(st, size);
    }
    pthread_mutex_unlock(&fs->outbox.lock);
    if (r < 0)
        return r;
    if (rendered)
        return stat_rendered(fs, ino, w, st);
    return 0;
}

bool fs_stat_needs_spool(struct fs *fs, uint64_t ino)
{
    struct fs_ino w;
    uint64_t size;

    if (!fs_ino_split(ino, &w) || (w.area != AREA_JOBS && w.area != AREA_HISTORY && w.area != AREA_RECEIVED))
        return false;
    if (w.node == NODE_LOG || w.node == NODE_PDF || w.node == NODE_REPORT)
        return true;
    if (fs_node_is_png(w.node))
        return !fs_preview_size_known(&fs->previews, w.id, fs_node_page(w.node), &size);
    return fs_node_is_page(w.node) && !fs_jobs_page_size_known(fs, w.id, fs_node_page(w.node), &size);
}

int fs_stat(struct fs *fs, uint64_t ino, struct stat *st, double *timeout, fuse_req_t req)
{
    struct fs_ino w;

    *timeout = FS_TIMEOUT_LIVE;
    if (!fs_ino_split(ino, &w))
        return -ENOENT;
    switch (w.area) {
    case AREA_TOP:
        return stat_top(fs, ino, &w, st);
    case AREA_JOBS:
    case AREA_HISTORY:
    case AREA_RECEIVED:
        return stat_job(fs, ino, &w, st, timeout, req);
    case AREA_MODEMS:
    case AREA_LINES:
        if ((int)w.id >= (w.area == AREA_MODEMS ? queue_modem_count(fs->q) : queue_line_count(fs->q)))
            return -ENOENT;
        if (w.node == NODE_SELF) {
            stat_base(st, ino, S_IFDIR | 0755, fs->uid, fs->gid, fs->started);
            return 0;
        }
        stat_base(st, ino, S_IFREG | 0444, fs->uid, fs->gid, fs->started);
        st->st_mtim.tv_sec = st->st_ctim.tv_sec = fs_now();
        return stat_rendered(fs, ino, &w, st);
    case AREA_OUTBOX:
        return stat_outbox(fs, ino, &w, st);
    case AREA_GROUPS: {
        /* Not cached: a group vanishes with the deletion of its last job,
         * which names no group when it is reported. */
        *timeout = 0;
        /* Writable by the owner (and the admin group) so that rm -r may
         * walk it; the rmdir handler decides who may cancel. */
        uid_t owner;
        if (fs_group_owner(fs, w.id, &owner) != 0)
            return -ENOENT;
        bool admin = fs->has_admin_gid;
        gid_t gid = admin ? fs->admin_gid : fs->gid;
        if (w.node == NODE_SELF) {
            stat_base(st, ino, S_IFDIR | (admin ? 0775 : 0755), owner, gid, fs->started);
            st->st_mtim.tv_sec = st->st_ctim.tv_sec = fs_now();
            return 0;
        }
        char *buf;
        size_t len;
        int r = fs_group_render(fs, w.id, (int)w.node, &buf, &len);
        if (r != 0)
            return r;
        free(buf);
        stat_base(st, ino, S_IFREG | (admin ? 0664 : 0644), owner, gid, fs->started);
        st->st_mtim.tv_sec = st->st_ctim.tv_sec = fs_now();
        set_size(st, len);
        return 0;
    }
    default:
        return -ENOENT;
    }
}

/* ---- listings ---- */

struct dirbuf {
    struct fs_dirent *v;
    size_t n, cap;
};

static int add(struct dirbuf *b, const char *name, uint64_t ino, mode_t type, off_t off)
{
    if (b->n == b->cap) {
        size_t cap = b->cap ? b->cap * 2 : 32;
        struct fs_dirent *v = realloc(b->v, cap * sizeof *v);
        if (!v)
            return -ENOMEM;
        b->v = v;
        b->cap = cap;
    }
    struct fs_dirent *d = &b->v[b->n++];
    snprintf(d->name, sizeof d->name, "%s", name);
    d->ino = ino;
    d->type = type;
    d->off = off;
    return 0;
}

/* Job listings use the id as the offset: ascending, and a job that
 * vanishes between two readdir calls shifts nothing. Only the ids after
 * the reader's offset are turned into entries, so reading a directory of
 * many jobs in small pieces stays linear. */
static int list_jobs(struct fs *fs, enum fs_area a, struct dirbuf *b, off_t after, size_t max)
{
    uint64_t *ids = NULL;
    size_t n = 0, lo = 0, hi;
    int r = queue_list(fs->q, areas[a].filter, &ids, &n);

    if (r < 0)
        return r;
    for (hi = n; lo < hi;) {
        size_t mid = lo + (hi - lo) / 2;
        if ((off_t)(ids[mid] + 2) <= after)
            lo = mid + 1;
        else
            hi = mid;
    }
    for (size_t i = lo; r >= 0 && i < n && b->n < max; i++) {
        char name[24];
        uint64_t ino = fs_ino_make(a, ids[i], NODE_SELF);
        if (!ino)
            continue;
        snprintf(name, sizeof name, "%" PRIu64, ids[i]);
        r = add(b, name, ino, S_IFDIR, (off_t)(ids[i] + 2));
    }
    free(ids);
    return r < 0 ? r : 0;
}

static int list_job_dir(struct fs *fs, const struct fs_ino *w, struct dirbuf *b)
{
    struct job job;
    int r = 0, off = 3;

    if (fs_job_behind(fs, w, &job) < 0)
        return -ENOENT;
    if (w->node == NODE_PAGES) {
        /* Offsets 3+2n and 4+2n: stable while a received fax grows. */
        for (int p = 0; r == 0 && p < job.page_count; p++)
            for (int png = 0; r == 0 && png < 2; png++) {
                char name[32];
                page_name(p, png, name, sizeof name);
                r = add(b, name, fs_ino_make(w->area, w->id, (png ? NODE_FIRST_PNG : NODE_FIRST_PAGE) + (uint32_t)p),
                        S_IFREG, off++);
            }
        return r;
    }
    for (int node = 1; r == 0 && node <= fs_job_field_count(); node++)
        if (fs_job_field_shown(node, job.type))
            r = add(b, fs_job_field_name(node), fs_ino_make(w->area, w->id, (uint32_t)node), S_IFREG, off + node);
    off += fs_job_field_count() + 1;
    static const int extra[] = { NODE_INFO, NODE_LOG, NODE_CTL, NODE_WAIT };
    for (size_t i = 0; r == 0 && i < sizeof extra / sizeof extra[0]; i++)
        r = add(b, fs_job_field_name(extra[i]), fs_ino_make(w->area, w->id, (uint32_t)extra[i]), S_IFREG, off++);
    if (r == 0)
        r = add(b, "pages", fs_ino_make(w->area, w->id, NODE_PAGES), S_IFDIR, off++);
    if (r == 0 && fs_job_has_pdf(&job))
        r = add(b, FS_PDF_NAME, fs_ino_make(w->area, w->id, NODE_PDF), S_IFREG, off);
    off++;
    if (r == 0 && queue_job_has_report(&job))
        r = add(b, FS_REPORT_NAME, fs_ino_make(w->area, w->id, NODE_REPORT), S_IFREG, off);
    return r;
}

static int list_outbox(struct fs *fs, struct dirbuf *b)
{
    int r = 0;
    int64_t now = fs_now();

    pthread_mutex_lock(&fs->outbox.lock);
    fs_outbox_sweep(&fs->outbox, now); /* drops expired .error entries and stale drafts */
    for (struct outbox_entry *e = fs->outbox.head; r == 0 && e; e = e->next)
        r = add(b, e->name, fs_ino_make(AREA_OUTBOX, e->serial, NODE_SELF),
                e->kind == OB_DRAFT ? S_IFDIR : S_IFREG, (off_t)(e->serial + 2));
    pthread_mutex_unlock(&fs->outbox.lock);
    return r;
}

static int by_offset(const void *a, const void *b)
{
    off_t x = ((const struct fs_dirent *)a)->off, y = ((const struct fs_dirent *)b)->off;

    return x < y ? -1 : x > y;
}

static int list_draft(struct fs *fs, const struct fs_ino *w, struct dirbuf *b)
{
    int r = 0;

    pthread_mutex_lock(&fs->outbox.lock);
    struct outbox_entry *e = fs_outbox_get(&fs->outbox, w->id);
    if (!e || e->kind != OB_DRAFT) {
        pthread_mutex_unlock(&fs->outbox.lock);
        return e ? -ENOTDIR : -ENOENT;
    }
    for (int node = 1; r == 0 && node <= fs_draft_field_count(); node++)
        r = add(b, fs_draft_field_name(node), fs_ino_make(AREA_OUTBOX, w->id, (uint32_t)node), S_IFREG, node + 2);
    if (r == 0)
        r = add(b, "ctl", fs_ino_make(AREA_OUTBOX, w->id, NODE_CTL), S_IFREG, NODE_CTL + 2);
    if (r == 0 && e->text)
        r = add(b, "error", fs_ino_make(AREA_OUTBOX, w->id, NODE_ERROR), S_IFREG, NODE_ERROR + 2);
    size_t first_doc = b->n;
    for (size_t i = 0; r == 0 && i < e->ndocs; i++)
        r = add(b, e->docs[i].name, fs_ino_make(AREA_OUTBOX, w->id, NODE_FIRST_PAGE + e->docs[i].serial),
                S_IFREG, (off_t)(NODE_FIRST_PAGE + e->docs[i].serial + 2));
    pthread_mutex_unlock(&fs->outbox.lock);
    /* Documents are kept in name order, offsets follow creation: listed in
     * offset order, so a listing read in pieces misses none. */
    if (r == 0)
        qsort(b->v + first_doc, b->n - first_doc, sizeof *b->v, by_offset);
    return r;
}

static int list_top(struct fs *fs, const struct fs_ino *w, struct dirbuf *b, off_t after, size_t max)
{
    int r = 0;

    switch (w->node) {
    case TOP_ROOT:
        for (int n = TOP_JOBS; r == 0 && n < TOP_COUNT; n++)
            r = add(b, top_names[n], fs_ino_top((enum fs_top_node)n),
                    n == TOP_SERVER || n == TOP_CTL || n == TOP_METRICS ? S_IFREG : S_IFDIR, n + 2);
        return r;
    case TOP_JOBS: return list_jobs(fs, AREA_JOBS, b, after, max);
    case TOP_HISTORY: return list_jobs(fs, AREA_HISTORY, b, after, max);
    case TOP_RECEIVED: return list_jobs(fs, AREA_RECEIVED, b, after, max);
    case TOP_OUTBOX: return list_outbox(fs, b);
    case TOP_GROUPS: {
        uint64_t *ids;
        size_t n;
        char name[24];
        if ((r = queue_list_groups(fs->q, &ids, &n)) != 0)
            return r;
        for (size_t i = 0; r == 0 && i < n; i++) {
            snprintf(name, sizeof name, "%" PRIu64, ids[i]);
            r = add(b, name, fs_ino_make(AREA_GROUPS, ids[i], NODE_SELF), S_IFDIR, (off_t)i + 3);
        }
        free(ids);
        return r;
    }
    case TOP_MODEMS:
        for (int i = 0; r == 0 && i < queue_modem_count(fs->q); i++) {
            struct queue_modem_info m;
            if (queue_modem_info(fs->q, i, &m) == 0)
                r = add(b, m.name, fs_ino_make(AREA_MODEMS, (uint64_t)i, NODE_SELF), S_IFDIR, i + 3);
        }
        return r;
    case TOP_LINES:
        for (int i = 0; r == 0 && i < queue_line_count(fs->q); i++) {
            struct queue_line_info l;
            if (queue_line_info(fs->q, i, &l) == 0)
                r = add(b, l.name, fs_ino_make(AREA_LINES, (uint64_t)i, NODE_SELF), S_IFDIR, i + 3);
        }
        return r;
    default:
        return -ENOTDIR;
    }
}

int fs_list(struct fs *fs, uint64_t ino, off_t after, size_t max, struct fs_dirent **out, size_t *n)
{
    struct fs_ino w;
    struct dirbuf b = { 0 };
    int r;

    if (!fs_ino_split(ino, &w))
        return -ENOENT;
    switch (w.area) {
    case AREA_TOP: r = list_top(fs, &w, &b, after, max); break;
    case AREA_JOBS:
    case AREA_HISTORY:
    case AREA_RECEIVED:
        r = w.node == NODE_SELF || w.node == NODE_PAGES ? list_job_dir(fs, &w, &b) : -ENOTDIR;
        break;
    case AREA_MODEMS:
        r = w.node == NODE_SELF ? 0 : -ENOTDIR;
        for (int node = 1; r == 0 && node <= fs_modem_file_count(); node++)
            r = add(&b, fs_modem_file_name(node), fs_ino_make(AREA_MODEMS, w.id, (uint32_t)node), S_IFREG, node + 2);
        break;
    case AREA_LINES:
        r = w.node == NODE_SELF ? 0 : -ENOTDIR;
        for (int node = 1; r == 0 && node <= fs_line_file_count(); node++)
            r = add(&b, fs_line_file_name(node), fs_ino_make(AREA_LINES, w.id, (uint32_t)node), S_IFREG, node + 2);
        break;
    case AREA_OUTBOX: r = w.node == NODE_SELF ? list_draft(fs, &w, &b) : -ENOTDIR; break;
    case AREA_GROUPS: {
        uid_t owner;
        r = w.node != NODE_SELF ? -ENOTDIR : fs_group_owner(fs, w.id, &owner);
        for (int node = 1; r == 0 && node <= fs_group_file_count(); node++)
            r = add(&b, fs_group_file_name(node), fs_ino_make(AREA_GROUPS, w.id, (uint32_t)node), S_IFREG, node + 2);
        break;
    }
    default: r = -ENOENT;
    }
    if (r < 0) {
        free(b.v);
        return r;
    }
    /* Small listings are built whole; keep what follows the offset. */
    size_t keep = 0;
    for (size_t i = 0; i < b.n; i++)
        if (b.v[i].off > after && keep < max)
            b.v[keep++] = b.v[i];
    *out = b.v;
    *n = keep;
    return 0;
}

/* fax.pdf is made by the queue on first use and kept in the spool, so
 * its size is that of the kept file: the first stat of a job's fax.pdf
 * makes it (milliseconds per page), later ones open and fstat it. */
int fs_pdf_size(struct fs *fs, uint64_t id, uint64_t *size)
{
    int fd = queue_open_pdf(fs->q, id);

    return fs_spool_file_size(fd == -ENODATA ? -ENOENT : fd, size);
}

/* report.pdf, the same way (made on the first stat by a reader). */
int fs_report_size(struct fs *fs, uint64_t id, uint64_t *size)
{
    int fd = queue_open_report(fs->q, id);

    return fs_spool_file_size(fd == -ENODATA ? -ENOENT : fd, size);
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

int fs_render_metrics_now(struct fs *fs, char *out, size_t outlen)
{
    struct queue_metrics m;

    queue_metrics(fs->q, &m);
    int len = fs_render_metrics(&m, out, outlen);
    if (len < 0)
        return len;
    /* The view's own counter: previews are rendered by the daemon on
     * demand, for those who may read them (docs/security.md). */
    pthread_mutex_lock(&fs->previews.lock);
    uint64_t rendered = fs->previews.rendered;
    pthread_mutex_unlock(&fs->previews.lock);
    int n = snprintf(out + len, outlen - (size_t)len,
                     "# HELP faxfs_previews_rendered_total Page previews (PNG) rendered since the daemon started.\n"
                     "# TYPE faxfs_previews_rendered_total counter\n"
                     "faxfs_previews_rendered_total %llu\n", (unsigned long long)rendered);
    return n < 0 || (size_t)n >= outlen - (size_t)len ? -ENOSPC : len + n;
}

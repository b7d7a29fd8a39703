/*
 * internal.h - state shared by the files of fs/: the mounted view, its
 * outbox (uploads, .error files and drafts, kept in memory), the notifier
 * that keeps kernel caches fresh, and the open-file handles.
 */
#ifndef FAXFS_FS_INTERNAL_H
#define FAXFS_FS_INTERNAL_H

/* 3.12 or later: with an older API version, fuse_session_loop_mt() reads
 * the loop configuration as the old two-field struct, turns clone_fd on and
 * ends every worker after one request (a thread and a /dev/fuse clone per
 * request). */
#ifndef FUSE_USE_VERSION
#define FUSE_USE_VERSION 312
#endif
#include <fuse_lowlevel.h>

#include <limits.h>
#include <pthread.h>
#include <stdbool.h>
#include <stdint.h>
#include <sys/stat.h>

#include "fs/fs.h"
#include "fs/inode.h"
#include "fs/parse.h"
#include "fs/preview.h"
#include "queue/queue.h"

/* How long the kernel may trust what it was told. Changes are pushed with
 * notify calls, so these only bound the damage of a missed notification. */
#define FS_TIMEOUT_LIVE 5.0       /* server, modem and outbox files */
#define FS_TIMEOUT_JOB 30.0       /* unfinished jobs: every change is notified */
#define FS_TIMEOUT_FINISHED 3600.0 /* finished jobs change only when deleted */
#define FS_TIMEOUT_PAGES 3600.0   /* page bytes never change */
#define FS_ERROR_KEEP_SECONDS 3600 /* outbox/NAME.error lives this long */
#define FS_RECIPIENTS_FILE "recipients" /* in a draft: the numbers of a broadcast, not a document */
#define FS_CALLER_GROUPS 64
/* A changed file is opened direct_io this long after the change: by then
 * the notifier has invalidated the kernel's attributes, and any size the
 * kernel was told before the change has been replaced. */
#define FS_SETTLE_MS 1000
/* A released file handle is freed this much later (see handle.c). */
#define FS_RETIRE_MS 2000

struct fs_handle;

struct fs_caller {
    uid_t uid;
    gid_t gid;
    int ngroups;
    gid_t groups[FS_CALLER_GROUPS];
};
/* caller.c */
void fs_caller_of(fuse_req_t req, struct fs_caller *out);
void fs_caller_to_queue(const struct fs_caller *c, struct queue_caller *out);
/* May the caller read a job's pages, previews and log? */
bool fs_may_read_private(struct fs *fs, fuse_req_t req, const struct job *job);

/* clock.c */
int64_t fs_now(void);
int64_t fs_monotonic_ms(void);

/* ---- outbox: in-memory entries ---- */

enum outbox_kind { OB_UPLOAD, OB_ERROR, OB_DRAFT };

/* A draft document's bytes live in a spool file opened only while a handle
 * is open (queue_draft_file_*), so idle drafts hold no descriptor. A backend
 * without named draft files leaves fd open instead (token empty). */
struct draft_doc {
    uint32_t serial; /* node NODE_FIRST_PAGE + serial */
    char name[NAME_MAX + 1];
    char token[QUEUE_DRAFT_TOKEN_MAX];
    int fd;          /* -1 when the file is named by token */
    uint64_t size;   /* bytes, as accounted to the draft's owner */
    int64_t mtime;
};

struct outbox_entry {
    uint64_t serial;
    enum outbox_kind kind;
    char name[NAME_MAX + 1];
    uid_t uid;               /* shown owner; whose limits the entry counts against */
    gid_t gid;
    int64_t mtime;
    bool busy;               /* being submitted: no writes, no removal */
    int handles;             /* open handles on the entry or its files: never expired */
    int fd;                  /* OB_UPLOAD: the document */
    uint64_t size;           /* OB_UPLOAD: bytes accounted */
    struct fs_caller caller; /* OB_UPLOAD/OB_DRAFT: who submits */
    char *text;              /* OB_ERROR: the reason; OB_DRAFT: last submit error or NULL */
    int64_t expires;         /* OB_ERROR */
    struct queue_request req;/* OB_DRAFT */
    struct draft_doc *docs;
    size_t ndocs;
    uint32_t next_doc;
    struct outbox_entry *prev, *next; /* creation (= serial = offset) order */
    struct outbox_entry *name_next, *serial_next; /* hash chains */
};

/* What one user holds in the outbox (outbox.c). */
struct fs_outbox_user {
    uid_t uid;
    int drafts;
    int errors;
    int handles;    /* open handles that hold a descriptor in the daemon */
    int submitting; /* submissions in progress (each holds a FUSE worker) */
    uint64_t bytes; /* uploads and draft documents */
    struct fs_outbox_user *next;
};

/* Per-user limits; 0 means none. */
struct fs_limits {
    int drafts_per_user;
    uint64_t bytes_per_user;
    uint64_t bytes_per_file;
    int jobs_per_user;
    int max_recipients;
    int64_t draft_expire_seconds;
    int errors_per_user;
    int errors_total;
    int handles_per_user;
};

#define FS_OUTBOX_USER_SLOTS 64
#define FS_DEFAULT_ERRORS_PER_USER 16
#define FS_DEFAULT_ERRORS_TOTAL 1024
/* Submissions in progress: each holds a FUSE worker for as long as the
 * queue validates and converts (up to a minute for a PDF), so one user may
 * not take the workers everyone's requests need (FS_MAX_THREADS is 16). */
#define FS_SUBMITS_PER_USER 2
#define FS_SUBMITS_TOTAL 8
/* Documents in one draft: a listing and a submission stay a bounded size. */
#define FS_MAX_DRAFT_DOCS 1000

struct fs_outbox {
    pthread_mutex_t lock; /* protects every entry, the lists, the tables and users; never held across queue calls */
    struct outbox_entry *head, *tail;
    struct outbox_entry **by_name, **by_serial; /* nbuckets chains each */
    size_t nbuckets, count, nerrors;
    int submitting; /* submissions in progress, every user */
    uint64_t next_serial;
    struct fs_outbox_user *users[FS_OUTBOX_USER_SLOTS];
    struct fs_limits limits;
    /* Called for a draft file dropped with its entry (removes the spool file). */
    void (*drop_file)(void *ctx, const char *token);
    void *drop_ctx;
};

/* ---- notifier ---- */

struct fs_event {
    enum queue_event ev;
    uint64_t id;
    char *name; /* outbox events: the entry's name (owned) */
};

struct fs_notifier {
    pthread_mutex_t lock; /* protects pending, npending, stop; the listener takes only this */
    pthread_cond_t wake;
    struct fs_event *pending;
    size_t npending, cap;
    bool stop;
    bool started;
    pthread_t thread;
};

/* Outbox changes are notified like queue changes, as id = entry serial. */
#define FS_EV_OUTBOX ((enum queue_event)100)
#define FS_EV_OUTBOX_GONE ((enum queue_event)101)

/* ---- per-inode memory of what the kernel was told ---- */

/* What the kernel was last told about one synthetic file (seen.c). */
struct fs_seen_value {
    char *content;        /* the value behind the last size reported (owned) */
    uint32_t len;
    bool published;
    uint8_t area;         /* job files: jobs/, history/ or received/ */
    uint64_t cached_hash; /* content the page cache may hold; 0 none */
};
#define FS_JOB_NODES 52   /* a job's value files, info, log, ctl (render.h numbers them) */

struct fs_seen {
    uint64_t ino;
    struct fs_seen_value v;
};
#define FS_SEEN_SLOTS 4096 /* server, modem and outbox files only */

/* ---- job snapshots and page sizes (jobcache.c) ---- */


struct fs_cached_job {
    uint64_t id;          /* 0: empty */
    uint32_t seq;         /* bumped by every change announced for this slot */
    int64_t changed_ms;   /* monotonic time of the last change announced for this slot */
    bool valid;           /* job is the engine's current state */
    struct job job;
    int npages;           /* entries in page_size */
    uint64_t *page_size;  /* bytes per page, 0 = not known yet */
    struct fs_seen_value seen[FS_JOB_NODES]; /* per value file, see seen.c */
};
#define FS_JOBCACHE_SLOTS 16384
#define FS_JOBCACHE_CHUNK 64 /* slots allocated together, on first use */

/* ---- waiting readers and poll handles (wait.c) ---- */

#define FS_WAIT_BUCKETS 256
#define FS_WAIT_USERS 256 /* distinct users waiting at once */
struct fs_waiter;
struct fs_poller;
struct fs_wait_user {
    uid_t uid;
    int count;
};
struct fs_waits {
    pthread_mutex_t lock; /* see wait.c: never held across a call into libfuse */
    struct fs_waiter *buckets[FS_WAIT_BUCKETS]; /* by job id */
    int count;
    struct fs_wait_user users[FS_WAIT_USERS];
    int nusers;
    struct fs_poller *pollers;
    int npollers;
};

/* ---- inodes the kernel may hold (known.c) ---- */

struct fs_known_slot {
    uint64_t id;    /* (area + 1) << INO_ID_BITS | object id; 0: empty */
    uint64_t nodes; /* bit n: node n noted (n < 63); bit 63: any node >= 63 */
};
struct fs_known {
    pthread_mutex_t lock; /* a leaf lock */
    struct fs_known_slot *slots; /* open addressing, linear probing */
    size_t cap, n;
    bool all; /* the table could not grow: every inode counts as known */
};

struct fs_jobcache {
    pthread_mutex_t lock; /* protects chunks[] and their slots; a leaf lock: nothing is called while held */
    /* The slots in chunks of FS_JOBCACHE_CHUNK, each allocated when a slot
     * in it is first needed: all 16384 at once would be 130 MB, mostly never
     * touched (and costly to allocate under a memory checker). */
    struct fs_cached_job *chunks[FS_JOBCACHE_SLOTS / FS_JOBCACHE_CHUNK];
    /* Slots ever claimed (the only ones that can own memory): freeing walks these. */
    uint64_t claimed[FS_JOBCACHE_SLOTS / 64];
};

struct fs {
    struct queue *q;
    struct fuse_session *se;
    char *mountpoint;
    bool mounted;
    bool signals_set;
    uid_t uid; /* the daemon's: owner of the fixed nodes */
    gid_t gid;
    int64_t started;
    struct fs_outbox outbox;
    struct fs_notifier notifier;
    pthread_mutex_t seen_lock; /* protects seen[] */
    struct fs_seen *seen;
    struct fs_jobcache jobs;
    struct fs_known known;       /* inodes the kernel may hold (known.c) */
    struct fs_previews previews; /* pages/NNN.png (preview.c) */
    struct fs_waits waits;       /* jobs/ID/wait readers, poll handles (wait.c) */
    bool has_admin_gid; /* --admin-group given: job files show it as their group */
    gid_t admin_gid;
    bool no_opendir;    /* the kernel lists directories without opening them */
    bool atomic_trunc;  /* the kernel sends O_TRUNC with open, never as a setattr */
    _Atomic int64_t server_changed_ms; /* last change of server-wide files (monotonic) */
    pthread_mutex_t retired_lock; /* protects retired, retired_last */
    struct fs_handle *retired;    /* released handles, oldest first (handle.c) */
    struct fs_handle *retired_last; /* the newest of them: where the next goes */
};

/* node.c: the namespace. */
int fs_resolve(struct fs *fs, uint64_t parent, const char *name, uint64_t *ino);
/* req is the asking request (NULL: the daemon itself). A preview not
 * rendered yet is rendered only for a caller who may read it; others are
 * told size 0 with a zero timeout, so the kernel keeps nothing of it. */
int fs_stat(struct fs *fs, uint64_t ino, struct stat *st, double *timeout, fuse_req_t req);
/* Would fs_stat have to touch the spool (log size, an unknown page size)
 * or render a preview that is not cached? */
bool fs_stat_needs_spool(struct fs *fs, uint64_t ino);
/* The job a name in jobs/, history/ or received/ shows: only where the job
 * is now. Name lookups and listings use it, so an old path is gone at once. */
int fs_job_for(struct fs *fs, const struct fs_ino *where, struct job *job);
/* The job behind an inode the kernel already holds, wherever the job is
 * now (jobs/ and history/ alike): like a renamed file, an open log
 * (`tail -f`) or a shell's working directory goes on working after the
 * job finishes. */
int fs_job_behind(struct fs *fs, const struct fs_ino *where, struct job *job);
/* The two rules behind them, for a job already in hand: the area whose
 * names show it, and the areas whose inodes still serve it. */
bool fs_job_in_area(const struct job *j, enum fs_area a);
bool fs_job_served_in(const struct job *j, enum fs_area a);
/* Job nodes under pages/: a page TIFF, a PNG preview, and which page. */
bool fs_node_is_page(uint32_t node);
bool fs_node_is_png(uint32_t node);
int fs_node_page(uint32_t node);
/* Does the job show fax.pdf? Once it has pages and they no longer grow. */
bool fs_job_has_pdf(const struct job *j);
/* Size of the job's fax.pdf, making it when it was never made. */
int fs_pdf_size(struct fs *fs, uint64_t id, uint64_t *size);
/* Size of the job's report.pdf, making it when it was never made. */
int fs_report_size(struct fs *fs, uint64_t id, uint64_t *size);
/* Size of a page's preview, rendering it when it is not cached. */
int fs_preview_size(struct fs *fs, uint64_t id, int page, uint64_t *size);
int fs_render_node(struct fs *fs, const struct fs_ino *where, char *out, size_t outlen);
/* MOUNT/metrics as of now (fs/metrics.h); out holds FS_METRICS_MAX. */
int fs_render_metrics_now(struct fs *fs, char *out, size_t outlen);

struct fs_dirent {
    char name[NAME_MAX + 1];
    uint64_t ino;
    mode_t type;
    off_t off; /* offset of the entry after this one; stable while others vanish */
};
/* The entries after offset `after` (at most max), in offset order. */
int fs_list(struct fs *fs, uint64_t ino, off_t after, size_t max, struct fs_dirent **out, size_t *n);

/* outbox.c */
int fs_outbox_init(struct fs_outbox *ob, const struct fs_limits *limits);
void fs_outbox_free(struct fs_outbox *ob);
/* Finds an entry by name; an expired .error entry is dropped on the way. */
struct outbox_entry *fs_outbox_find(struct fs_outbox *ob, const char *name, int64_t now);
struct outbox_entry *fs_outbox_get(struct fs_outbox *ob, uint64_t serial);
/* Adds an entry owned by uid (counted against its limits by the caller's
 * checks: fs_outbox_may_*). .error entries beyond the per-user or total
 * bound push out that user's (or everyone's) oldest first. */
struct outbox_entry *fs_outbox_add(struct fs_outbox *ob, enum outbox_kind kind, const char *name, uid_t uid);
void fs_outbox_remove(struct fs_outbox *ob, struct outbox_entry *e);
/* Drops expired .error entries and drafts untouched for the expiry time
 * (none busy or open); returns how many drafts were dropped. */
int fs_outbox_sweep(struct fs_outbox *ob, int64_t now);
struct draft_doc *fs_draft_doc_find(struct outbox_entry *e, const char *name);
struct draft_doc *fs_draft_doc_get(struct outbox_entry *e, uint32_t serial);
int fs_draft_doc_add(struct outbox_entry *e, const char *name, int fd, const char *token, struct draft_doc **out);
void fs_draft_doc_remove(struct fs_outbox *ob, struct outbox_entry *e, struct draft_doc *d);

/* Root or the creator (owner) of an entry: the only callers who change it
 * or anything in it. */
bool fs_outbox_may_change(uid_t owner, uid_t caller);

/* Per-user accounting. */
struct fs_outbox_user *fs_outbox_user(struct fs_outbox *ob, uid_t uid, bool create);
/* 0, or -EDQUOT when uid may not hold one more draft (root is exempt). */
int fs_outbox_may_add_draft(struct fs_outbox *ob, uid_t uid);
/* Accounts a change of a file's size from old to new bytes: 0, -EFBIG when
 * the file would pass the per-file limit, -EDQUOT when the user would pass
 * the per-user limit. Shrinking always succeeds. */
int fs_outbox_resize(struct fs_outbox *ob, uid_t uid, uint64_t old, uint64_t new);
/* An open handle holding a daemon descriptor: -EMFILE over the limit. */
int fs_outbox_handle_get(struct fs_outbox *ob, uid_t uid);
void fs_outbox_handle_put(struct fs_outbox *ob, uid_t uid);
/* A submission starts: -EAGAIN when uid already has FS_SUBMITS_PER_USER in
 * progress or everyone FS_SUBMITS_TOTAL (root is never refused). */
int fs_outbox_submit_begin(struct fs_outbox *ob, uid_t uid);
void fs_outbox_submit_end(struct fs_outbox *ob, uid_t uid);

/* notify.c */
int fs_notifier_start(struct fs *fs);
void fs_notifier_stop(struct fs *fs);
void fs_notify_post(struct fs *fs, enum queue_event ev, uint64_t id);
/* An outbox entry (or a draft's file) changed or went away. */
void fs_notify_outbox(struct fs *fs, enum queue_event ev, uint64_t serial, const char *name);
/* Subscribes to the queue; detach before the view is freed. */
int fs_listener_attach(struct fs *fs);
void fs_listener_detach(struct fs *fs);

/* known.c: fs_known_note before an entry reply is built; the notifier asks
 * fs_known_has before invalidating an inode (true for untracked areas). */
void fs_known_init(struct fs_known *k);
void fs_known_free(struct fs_known *k);
void fs_known_note(struct fs *fs, uint64_t ino);
bool fs_known_has(struct fs *fs, uint64_t ino);
void fs_known_drop(struct fs *fs, enum fs_area area, uint64_t id);

/* jobcache.c */
int fs_jobcache_init(struct fs_jobcache *c);
void fs_jobcache_free(struct fs_jobcache *c);
/* The job as the engine last announced it: a cached copy or a fresh one. */
int fs_jobs_get(struct fs *fs, uint64_t id, struct job *out);
/* The engine changed (or removed) the job: the next get asks it again. */
void fs_jobs_forget(struct fs *fs, uint64_t id);
/* True when no change of the job was announced for FS_SETTLE_MS: every
 * size the kernel may still hold was then rendered from the current state. */
bool fs_jobs_settled(struct fs *fs, uint64_t id);
/* The change count of the job's cache slot: moves with every change
 * announced for the job (and, rarely, for a job sharing its slot). */
uint32_t fs_jobs_seq(struct fs *fs, uint64_t id);
/* Runs fn on what the kernel was told of a job's value file, under the
 * cache's lock; claims the slot (and the value, for this area) when claim
 * is set. Returns fn's result, or -ENOENT when the slot holds another job
 * or the value was published for the job's file in another area. */
int fs_jobs_with_seen(struct fs *fs, enum fs_area area, uint64_t id, uint32_t node, bool claim,
                      int (*fn)(struct fs_seen_value *v, void *arg), void *arg);
/* Size of page (0-based) of a job that has it; remembered for good. */
int fs_jobs_page_size(struct fs *fs, uint64_t id, int page, uint64_t *size);
/* Size of a spool file the queue has just opened (fd < 0: its error);
 * closes fd. */
int fs_spool_file_size(int fd, uint64_t *size);
/* The remembered size only: false when it would take a look at the spool. */
bool fs_jobs_page_size_known(struct fs *fs, uint64_t id, int page, uint64_t *size);

/* seen.c */
enum fs_open_mode { FS_OPEN_KEEP_CACHE, FS_OPEN_PLAIN, FS_OPEN_DIRECT };
/* A size is about to be reported for ino: data is the value it belongs to. */
void fs_seen_publish(struct fs *fs, uint64_t ino, const char *data, size_t len);
/* How to open ino for cached reads: DIRECT when nothing is published. */
enum fs_open_mode fs_seen_open(struct fs *fs, uint64_t ino);
/* Copies published bytes at off; -ENOENT when ino is no longer published. */
int fs_seen_read(struct fs *fs, uint64_t ino, off_t off, size_t size, char *out, size_t *n);
void fs_seen_free(struct fs *fs);
/* An open bypassed the page cache: nothing known about what it holds. */
void fs_seen_uncached(struct fs *fs, uint64_t ino);

#endif

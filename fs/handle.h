/*
 * handle.h - the view's open-file handles: what each open file reads or
 * writes, what it is counted against (its opener's open files, its outbox
 * entry), and the retirement that keeps a released handle valid for reads
 * the kernel sends late.
 */
#ifndef FAXFS_FS_HANDLE_H
#define FAXFS_FS_HANDLE_H

#include "fs/internal.h"

#include <fcntl.h>

enum fs_handle_kind {
    H_TEXT,        /* a snapshot rendered at open */
    H_FD,          /* a page or the log: read-only spool fd */
    H_PNG,         /* a page preview: shared bytes from the preview cache */
    H_JOB_CTL,
    H_SERVER_CTL,
    H_UPLOAD,      /* outbox/NUMBER.tif being written */
    H_DRAFT_FIELD,
    H_DRAFT_CTL,
    H_DRAFT_DOC,
    H_WAIT,        /* jobs/ID/wait: a read waits for the job to be final */
    H_JOB_FIELD,   /* jobs/ID/priority etc. being changed (queue_edit) */
};

struct fs_handle {
    struct fs_handle *retired_next; /* on fs->retired after release */
    int64_t retired_ms;
    enum fs_handle_kind kind;
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
    uint32_t job_seq; /* job files: the job's change count at open (poll) */
};

/* Does an open with these flags change the file? */
static inline bool fs_open_wants_write(int flags) { return (flags & O_ACCMODE) != O_RDONLY || (flags & O_TRUNC); }

/* A handle on the node w, its fd closed; NULL when out of memory. */
struct fs_handle *fs_handle_new(enum fs_handle_kind kind, const struct fs_ino *w);
void fs_handle_free(struct fs_handle *h);
/* Frees h FS_RETIRE_MS after its release, and the handles retired before
 * it whose time is up. */
void fs_handle_retire(struct fs *fs, struct fs_handle *h);
/* At the end of the session: frees every retired handle. */
void fs_handle_free_retired(struct fs *fs);
/* Counts h against its opener uid when it holds a descriptor in the daemon
 * (fd: -EMFILE, logged, over --max-open-files-per-user) and against the
 * outbox entry e when given (an entry in use never expires). Under
 * outbox.lock. */
int fs_handle_count(struct fs *fs, struct fs_handle *h, uid_t uid, bool fd, struct outbox_entry *e);
/* Undoes fs_handle_count; takes outbox.lock. */
void fs_handle_uncount(struct fs *fs, struct fs_handle *h);

#endif

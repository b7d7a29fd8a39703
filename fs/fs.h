/*
 * fs.h - the filesystem view of the fax queue (libfuse3 low-level API).
 * It reaches the engine only through queue/queue.h.
 */
#ifndef FAXFS_FS_H
#define FAXFS_FS_H

#include <stdbool.h>
#include <stddef.h>
#include <sys/types.h>

struct queue;
struct fs;

struct fs_options {
    const char *mountpoint;
    const char *mount_opts; /* comma-separated -o options, may be NULL */
    bool debug;             /* FUSE request tracing to stderr */
    /* The queue's administrator group (--admin-group), or (gid_t)-1. Job
     * files show it as their group with group access, so that with
     * default_permissions the kernel lets its members do what the queue
     * allows them. */
    gid_t admin_gid;
    /* What one user may hold (docs/security.md, "Local resources"); 0 means
     * no limit. Root is exempt. */
    int max_drafts_per_user;              /* drafts in outbox/ */
    unsigned long long max_outbox_bytes;  /* bytes in uploads and drafts */
    int max_jobs_per_user;                /* unfinished jobs */
    int max_recipients;                   /* numbers in one broadcast; 0: the default */
    int max_open_files_per_user;          /* open uploads, draft documents, pages, previews, logs */
    int draft_expire_days;                /* drafts untouched this long are removed */
};

/* Creates the FUSE session and mounts it. Returns 0 or -errno with a
 * sentence in err. */
int fs_create(struct fs **out, struct queue *q, const struct fs_options *opt, char *err, size_t errlen);
/* Serves requests until unmounted (fusermount3 -u) or SIGINT/SIGTERM/SIGHUP;
 * returns 0 on a clean end. */
int fs_run(struct fs *fs);
/* Unmounts (if still mounted) and frees. */
void fs_destroy(struct fs *fs);

#endif

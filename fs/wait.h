/*
 * wait.h - jobs/ID/wait (a read answered when the job is final) and
 * poll() on job files, without holding a FUSE worker per waiter.
 */
#ifndef FAXFS_FS_WAIT_H
#define FAXFS_FS_WAIT_H

#include <stddef.h>
#include <stdint.h>

struct fs;
struct fs_waits;
struct fuse_pollhandle;

/* Bounds: waiting readers hold a little memory each and nothing else. */
#define FS_WAITERS_PER_USER 2048
#define FS_WAITERS_TOTAL 16384
#define FS_POLLERS_TOTAL 16384

int fs_waits_init(struct fs_waits *w);
void fs_waits_free(struct fs_waits *w);

/* A read at offset 0 of jobs/ID/wait: answered now when the job is final,
 * else parked until it is (or the reader is interrupted: EINTR). */
void fs_wait_read(struct fs *fs, fuse_req_t req, uint64_t id, size_t size);
/* Every announced change of a job (the notifier thread): answers the
 * job's waiters when it is final or gone, and fires its poll handles. */
void fs_waits_job_changed(struct fs *fs, uint64_t id);
/* At the end of the session: answers every waiter ENOTCONN. */
void fs_waits_stop(struct fs *fs);
/* Readers waiting now (tests, metrics). */
int fs_waits_count(struct fs *fs);

/* poll() on a file of job id that owner (an open file) opened when the
 * job's change count was opened_seq (fs_jobs_seq): revents now, and ph
 * (may be NULL) kept to be fired at the job's next change. */
int fs_poll_job(struct fs *fs, uint64_t id, const void *owner, uint32_t opened_seq, struct fuse_pollhandle *ph,
                unsigned *revents);
/* The open file is released: its pending poll handle goes. */
void fs_poll_forget(struct fs *fs, const void *owner);

#endif

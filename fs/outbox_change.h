/*
 * outbox_change.h - the changes callers make in outbox/ (outbox_change.c),
 * apart from submission (submit.h). Each takes the caller, checks the
 * outbox rules and limits, logs a refusal once, and notifies a change.
 */
#ifndef FAXFS_FS_OUTBOX_CHANGE_H
#define FAXFS_FS_OUTBOX_CHANGE_H

#include "fs/handle.h"
#include "fs/internal.h"

/* create() in outbox/ (p is outbox/: an upload, named after its recipient)
 * or in a draft (p is the draft: a document). On success *out is an open
 * handle for the new file, counted against the caller, and *ino its node. */
int fs_outbox_create(struct fs *fs, const struct fs_caller *who, const struct fs_ino *p, const char *name,
                     struct fs_handle **out, uint64_t *ino);
/* mkdir() in outbox/: a new draft, within the caller's draft limit. */
int fs_outbox_mkdir(struct fs *fs, const struct fs_caller *who, const char *name, uint64_t *ino);
/* unlink() in outbox/ (p is outbox/) or in a draft (p is the draft):
 * removes an upload or .error file, a document, or a field's value. */
int fs_outbox_unlink(struct fs *fs, const struct fs_ino *p, const char *name, const struct fs_caller *who);
/* rmdir() of the draft with this serial (name: its name, for the notice). */
int fs_outbox_rmdir(struct fs *fs, uint64_t serial, const char *name, const struct fs_caller *who);

/* open() of an outbox node for handle h (its where set): sets h's kind and
 * counts it; returns 1 when h is to read a rendered value (H_TEXT). */
int fs_outbox_open(struct fs *fs, const struct fs_caller *who, struct fs_handle *h, int flags);
/* setattr() of an upload or a draft document (h: the handle it came
 * through, or NULL): size, times, and chmod/chown that change nothing. */
int fs_outbox_setattr_file(struct fs *fs, fuse_req_t req, const struct fs_caller *who, const struct fs_ino *w,
                           const struct stat *attr, int to_set, struct fs_handle *h);
/* setattr() of a draft's value file: only truncation to empty. */
int fs_outbox_clear_field(struct fs *fs, const struct fs_caller *who, const struct fs_ino *w, const struct stat *attr,
                          int to_set);
/* write() to a draft's value file through h. */
int fs_outbox_write_field(struct fs *fs, struct fs_handle *h, const char *buf, size_t size);
/* write() to an upload or a draft document through h: *n bytes written. */
int fs_outbox_write_file(struct fs *fs, struct fs_handle *h, const char *buf, size_t size, off_t off, ssize_t *n);

#endif

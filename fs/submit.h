/*
 * submit.h - submission of outbox uploads and drafts to the queue.
 */
#ifndef FAXFS_FS_SUBMIT_H
#define FAXFS_FS_SUBMIT_H

#include "fs/internal.h"

/* Submits the upload with this serial. Without even_empty an upload with
 * no bytes yet is left alone (returns 0). The entry is gone afterwards;
 * on failure NAME.error holds the reason. */
int fs_submit_upload(struct fs *fs, uint64_t serial, bool even_empty, uint64_t *id_out);
/* Submits a draft; the draft is gone on success, keeps `error` on failure. */
int fs_submit_draft(struct fs *fs, uint64_t serial, const struct fs_caller *who, uint64_t *id_out);
/* A new upload of NAME replaces an old NAME.error. */
void fs_forget_error(struct fs *fs, const char *name);
/* Leaves NAME.error, owned by uid, for a name that cannot be a recipient. */
void fs_refuse_upload_name(struct fs *fs, const char *name, const char *why, uid_t uid);
/* -EDQUOT (logged, reason in why when given) when uid has the most
 * unfinished jobs allowed (--max-jobs-per-user). */
int fs_check_jobs_limit(struct fs *fs, uid_t uid, const char *what, char *why, size_t whylen);

#endif

/*
 * draft_files.h - draft documents (queue.h, queue_draft_*) kept as files in
 * a store's private temporary directory, named draft.<pid>.<n>, mode 0600.
 * The file spool and the PostgreSQL store both keep them this way; the
 * directory is emptied at start with the rest of the store's tmp files.
 */
#ifndef FAXFS_QUEUE_DRAFT_FILES_H
#define FAXFS_QUEUE_DRAFT_FILES_H

#include <stddef.h>

/* A new draft file in dirfd: its name into token, an fd open read-write. */
int draft_file_create(int dirfd, char *token, size_t tokenlen);
/* Tokens are only ever names draft_file_create made: anything else is
 * -EINVAL, so a token can never reach outside dirfd. */
int draft_file_open(int dirfd, const char *token);
int draft_file_remove(int dirfd, const char *token);

#endif

/*
 * store_copy.h - copies a whole queue from one storage backend into
 * another (faxfs --copy-store: a file spool into PostgreSQL and back).
 */
#ifndef FAXFS_QUEUE_STORE_COPY_H
#define FAXFS_QUEUE_STORE_COPY_H

#include <stdio.h>

#include "queue/backend.h"

/* Opens both stores (each with its own lock: no daemon may be running on
 * either), refuses a target that holds any job (-EEXIST), then copies every
 * job with its id, pages (byte for byte) and log, the pause flag, and the
 * id counter (the target hands out no id the source already handed out).
 * Each job is committed on its own, so an interrupted copy leaves whole
 * jobs; run it again into an emptied target. Progress and a summary go to
 * out, the stores' own log lines to stderr. Returns 0 or -errno with why. */
int queue_store_copy(const struct queue_backend *from, const char *from_dir, const struct queue_backend *to,
                     const char *to_dir, FILE *out, char *why, size_t whylen);

#endif

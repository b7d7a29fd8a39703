/*
 * jobfile.h - the on-disk text form of one job: versioned `key: value`
 * lines ending in `end: <id>` so a truncated file is detected. Shared by
 * every storage backend; docs/spool-format.md describes the format.
 */
#ifndef FAXFS_QUEUE_JOBFILE_H
#define FAXFS_QUEUE_JOBFILE_H

#include <stddef.h>

#include "queue/queue.h"

#define JOBFILE_VERSION 1
#define JOBFILE_MAX_BYTES 65536 /* larger files are rejected unread */
#define JOBFILE_MAX_LINE 1024   /* one key: value line, escapes included */

/* Renders job into a malloc'd NUL-terminated buffer. Returns its length,
 * or -ENOMEM. */
long jobfile_format(const struct job *job, char **out);

/* Parses len bytes (need not be NUL-terminated). Returns 0, or -EINVAL
 * with a reason naming the line ("line 4: duplicate key \"status\"").
 * Never reads outside buf. */
int jobfile_parse(const char *buf, size_t len, struct job *out, char *why, size_t whylen);

#endif

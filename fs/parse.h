/*
 * parse.h - what users write into the view: commands for the ctl files and
 * the fields of a draft, the names it accepts and how user text reaches a
 * log line. Pure functions; the handlers only call them.
 */
#ifndef FAXFS_FS_PARSE_H
#define FAXFS_FS_PARSE_H

#include <stdbool.h>
#include <stddef.h>
#include <stdint.h>

#include "queue/queue.h"

/* One command word per write: surrounding blanks and one trailing newline
 * are allowed, nothing else. Returns 0 or -EINVAL. */
int fs_parse_command(const char *buf, size_t len, char *word, size_t wordlen);

/* jobs/<id>/ctl: pause, resume, restart, cancel. -EINVAL otherwise. */
int fs_parse_job_ctl(const char *buf, size_t len, enum queue_op *out);
/* Whether buf is "redeliver" (a received fax's deliveries, once more). */
bool fs_parse_job_ctl_redeliver(const char *buf, size_t len);

/* MOUNT/ctl: pause or resume the whole queue. */
enum fs_server_cmd { FS_SERVER_PAUSE, FS_SERVER_RESUME };
int fs_parse_server_ctl(const char *buf, size_t len, enum fs_server_cmd *out);

/* outbox/NAME/ctl: submit. */
int fs_parse_draft_ctl(const char *buf, size_t len);

/* The fields a draft accepts, nodes 1..fs_draft_field_count(). */
int fs_draft_field_count(void);
const char *fs_draft_field_name(int node);
int fs_draft_node_by_name(const char *name);

/* Parses text written to a draft field and stores it into req. An empty
 * text clears the field back to its default. Returns 0, or -EINVAL with a
 * sentence in why; on error req is unchanged. */
int fs_draft_set(struct queue_request *req, int node, const char *text, size_t len, int64_t now,
                 char *why, size_t whylen);
/* What reading the field shows: the stored value and a newline, or "". */
int fs_draft_render(const struct queue_request *req, int node, char *out, size_t outlen);

/* The recipient of a plain outbox upload: the name up to its last '.',
 * normalized. Returns 0 or -EINVAL with a sentence in why. */
int fs_outbox_recipient(const char *name, char *number, size_t numlen, char *why, size_t whylen);
/* The same name up to its last '.' as typed (the queue's dial rules make
 * it canonical). Returns 0 or -EINVAL with a sentence in why. */
int fs_outbox_typed_number(const char *name, char *typed, size_t len, char *why, size_t whylen);

/* Outbox names: printable characters only (no control characters, which
 * would reach listings and log lines). */
bool fs_name_printable(const char *name);
/* Copies text for a log line with control characters and backslashes as
 * \xNN escapes; always terminated. */
void fs_log_escape(const char *in, char *out, size_t outlen);

#endif

/*
 * render.h - what the files of the view contain: the one-value files and
 * `info` of a job, the `server` summary and the per-modem files. Pure
 * functions of a snapshot, so the unit tests check them without a mount.
 */
#ifndef FAXFS_FS_RENDER_H
#define FAXFS_FS_RENDER_H

#include <stdbool.h>
#include <stddef.h>

#include "queue/queue.h"

/* Fixed nodes of a job directory besides its value files (see inode.h). */
enum { NODE_INFO = 48, NODE_LOG = 49, NODE_CTL = 50, NODE_ERROR = 51, NODE_WAIT = 55 };
/* fax.pdf: the job's pages as one PDF (not a value file: no seen slot). */
enum { NODE_PDF = 52 };
#define FS_PDF_NAME "fax.pdf"
/* report.pdf: the transmission report of a finished send job. */
enum { NODE_REPORT = 58 };
#define FS_REPORT_NAME "report.pdf"

/* Largest rendered file; info of a job with every text field full fits. */
#define FS_RENDER_MAX 4096

/* The one-value files of a job directory, nodes 1..fs_job_field_count(). */
int fs_job_field_count(void);
const char *fs_job_field_name(int node);
/* Does a job of this type have the value file (or info/log/ctl) node? */
bool fs_job_field_shown(int node, enum job_type type);
/* The node of a value file, info, log or ctl named name; 0 if none. */
int fs_job_node_by_name(const char *name);

/* A value file: the value and a newline, or nothing when the value is
 * unknown. Returns the length written (always < outlen) or -ENOENT. */
int fs_render_job_field(const struct job *job, int node, char *out, size_t outlen);
/* info: every property as "key: value" lines, unknown values empty. */
int fs_render_job_info(const struct job *job, char *out, size_t outlen);
/* last_error: "code: sentence", or "" when the job has no error. */
void fs_format_last_error(const struct job *job, char *out, size_t outlen);

/* server: "key: value" lines: paused, modems, jobs per state. */
int fs_render_server(const struct queue_summary *sum, char *out, size_t outlen);

/* modems/<name>/ files, nodes 1..fs_modem_file_count(). */
int fs_modem_file_count(void);
const char *fs_modem_file_name(int node);
int fs_modem_node_by_name(const char *name);
int fs_render_modem_file(const struct queue_modem_info *m, int node, char *out, size_t outlen);

/* lines/<name>/ files, nodes 1..fs_line_file_count(). */
int fs_line_file_count(void);
const char *fs_line_file_name(int node);
int fs_line_node_by_name(const char *name);
int fs_render_line_file(const struct queue_line_info *l, int node, char *out, size_t outlen);

#endif

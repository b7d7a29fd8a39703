/*
 * backend_pg.h - the PostgreSQL storage backend (docs/postgresql.md): jobs,
 * pages, logs and the queue's state in one database, ids from a sequence,
 * every change one transaction. Pages are read through a local cache of
 * files (SPOOL/pg-cache) since modems and readers want paths and fds;
 * uploads, drafts and stages are local files there too.
 *
 * Several nodes may share a database, each under its own name: a running
 * store holds a session advisory lock on its node name, so a second faxfs
 * under the same name is refused; each sees the others' changes through
 * the backend's changes and wait_changes members.
 */
#ifndef FAXFS_QUEUE_BACKEND_PG_H
#define FAXFS_QUEUE_BACKEND_PG_H

#include <stdbool.h>
#include <stdio.h>

#include "queue/backend.h"

/* True when a --store value names PostgreSQL: a postgresql:// or
 * postgres:// URL, or a key=value connection string. */
bool backend_pg_is_conninfo(const char *store);
/* 0 when conninfo parses and carries no password (a password is taken
 * only from PGPASSWORD or a passfile); else -EINVAL and why says why. */
int backend_pg_conninfo_check(const char *conninfo, char *why, size_t whylen);

/* A backend on conninfo, calling itself node (stored on the jobs it
 * calls). Connects and migrates at queue_open(); the spool directory given
 * to queue_open() holds the local cache. NULL when out of memory. */
struct queue_backend *backend_pg_create(const char *conninfo, const char *node);
void backend_pg_destroy(struct queue_backend *b);

/* Connects and applies the missing migrations; prints what it did on out.
 * Returns 0 or -errno (why filled). */
int backend_pg_migrate(const char *conninfo, FILE *out, char *why, size_t whylen);
/* Read-only check of a database store, in the manner of
 * queue_check_spool(): problems and notes on report, then a summary line.
 * Returns the number of problems, or -errno when it cannot be read. */
int backend_pg_check(const char *conninfo, FILE *report);

#endif

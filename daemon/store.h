/*
 * store.h - where the queue is kept (--store, docs/postgresql.md): the file
 * spool or PostgreSQL, and the command-line actions on stores
 * (--check-spool on a database, --store-migrate, --copy-store).
 */
#ifndef FAXFS_DAEMON_STORE_H
#define FAXFS_DAEMON_STORE_H

#include <stddef.h>

#include "daemon/options.h"
#include "queue/backend.h"

/* The backend --store names for the daemon: *be NULL for the file spool,
 * else a PostgreSQL backend (free with store_backend_free) for --node or
 * the host name. Returns 0 or -errno with why. */
int store_backend(const struct daemon_options *opt, struct queue_backend **be, char *why, size_t whylen);
void store_backend_free(struct queue_backend *be);
/* This server's name: --node, else the short host name. */
void store_node_name(const struct daemon_options *opt, char *out, size_t outlen);
/* "spool DIR" or "PostgreSQL database DB on HOST", for log lines. */
void store_describe(const struct daemon_options *opt, char *out, size_t outlen);

/* Runs --check-spool CONNINFO, --store-migrate or --copy-store when the
 * options ask for one, and returns its exit status; -1 when they ask for
 * none of them. */
int store_action(const struct daemon_options *opt);

#endif

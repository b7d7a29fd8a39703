/*
 * pg_migrate.h - the PostgreSQL store's schema, in numbered migrations
 * (docs/postgresql.md). Each migration is applied once, in its own
 * transaction, and recorded in the schema_version table.
 */
#ifndef FAXFS_QUEUE_PG_MIGRATE_H
#define FAXFS_QUEUE_PG_MIGRATE_H

#include <libpq-fe.h>
#include <stddef.h>

/* The schema version this build writes and reads. */
int pg_schema_latest(void);
/* How many migrations this build has (versions may leave gaps). */
int pg_schema_count(void);
/* Brings the database's schema up to pg_schema_latest(): every missing
 * migration in order, one transaction each, serialized against other
 * migrators by a transaction-level advisory lock. *applied gets how many
 * ran. A database newer than this build is refused (-EPROTO). On error
 * why says what failed. Returns 0 or -errno. */
int pg_migrate(PGconn *conn, int *applied, char *why, size_t whylen);
/* The database's schema version (0: none yet), or -errno. */
int pg_schema_version(PGconn *conn, char *why, size_t whylen);

#endif

/*
 * pg_migrate.c - the PostgreSQL store's schema as numbered migrations.
 * Never edit a migration that was released: add the next one.
 */
#include "queue/pg_migrate.h"
#include "queue/queue.h"

#include <errno.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

/* Taken by every migrator for the length of one migration's transaction. */
#define PG_MIGRATE_LOCK "SELECT pg_advisory_xact_lock(7378428469352052001)"

struct migration {
    int version;
    const char *what;
    const char *sql;
};

#define STR2(x) #x
#define STR(x) STR2(x)

static const struct migration migrations[] = {
    {1, "jobs, pages, logs, cached files, queue state, the id sequence",
     /* Ids are handed out by the sequence and never reused; the first is
      * the same as a new file spool's. */
     "CREATE SEQUENCE job_ids AS bigint MINVALUE 1 START WITH " STR(QUEUE_FIRST_JOB_ID) ";"
     /* One row a job. job_text is the job file (docs/spool-format.md), the
      * truth; the other columns repeat what is queried, kept in step with
      * it by every update. node is the node calling the job, lease_until
      * is for dispatch across nodes (not used yet). set_aside holds why a
      * job that could not be loaded was put aside (NULL: a live job). */
     "CREATE TABLE jobs ("
     " id bigint PRIMARY KEY,"
     " type text NOT NULL,"
     " status text NOT NULL,"
     " owner bigint NOT NULL,"
     " recipient_number text NOT NULL DEFAULT '',"
     " submitted timestamptz,"
     " scheduled timestamptz,"
     " next_attempt timestamptz,"
     " priority integer NOT NULL DEFAULT 0,"
     " page_count integer NOT NULL DEFAULT 0,"
     " node text,"
     " lease_until timestamptz,"
     " set_aside text,"
     " updated timestamptz NOT NULL DEFAULT now(),"
     " job_text text NOT NULL);"
     "CREATE INDEX jobs_status ON jobs (status);"
     "CREATE INDEX jobs_owner ON jobs (owner);"
     "CREATE INDEX jobs_node ON jobs (node) WHERE node IS NOT NULL;"
     /* Pages, 0-based, as the TIFF bytes the spool keeps in pages/NNN.tif. */
     "CREATE TABLE pages ("
     " job_id bigint NOT NULL REFERENCES jobs (id) ON DELETE CASCADE,"
     " idx integer NOT NULL CHECK (idx >= 0),"
     " data bytea NOT NULL CHECK (length(data) > 0),"
     " PRIMARY KEY (job_id, idx));"
     "ALTER TABLE pages ALTER COLUMN data SET STORAGE EXTERNAL;"
     /* The job's log, a line a row (newline included), in order. */
     "CREATE TABLE job_log ("
     " job_id bigint NOT NULL REFERENCES jobs (id) ON DELETE CASCADE,"
     " seq bigserial,"
     " line text NOT NULL,"
     " PRIMARY KEY (job_id, seq));"
     /* fax.pdf and report.pdf: copies made from the pages, kept. */
     "CREATE TABLE job_files ("
     " job_id bigint NOT NULL REFERENCES jobs (id) ON DELETE CASCADE,"
     " name text NOT NULL,"
     " data bytea NOT NULL,"
     " PRIMARY KEY (job_id, name));"
     /* The queue's own state: paused, the last id handed out. */
     "CREATE TABLE queue_state ("
     " key text PRIMARY KEY,"
     " value text NOT NULL);"},
    {2, "several nodes: who changed a job and when, deletions, notifications, stop requests",
     /* Every write of a job row records the writing transaction's id and
      * the writing node (the session setting faxfs.node), and every
      * deletion leaves a row in job_deletions; both notify faxfs_jobs
      * with the job's id at commit. A node catches up on the rows written
      * by transactions not yet finished at its previous look (ids from
      * the snapshot's xmin on): unlike a counter, this misses no write
      * that committed out of order. stop_request is a pause or cancel
      * asked for on a node other than the one calling the job. */
     "ALTER TABLE jobs ADD COLUMN changed_xid xid8, ADD COLUMN changed_by text, ADD COLUMN stop_request text;"
     "CREATE INDEX jobs_changed ON jobs (changed_xid);"
     "CREATE TABLE job_deletions ("
     " id bigint NOT NULL,"
     " xid xid8 NOT NULL,"
     " deleted_by text,"
     " at timestamptz NOT NULL DEFAULT now());"
     "CREATE INDEX job_deletions_xid ON job_deletions (xid);"
     "CREATE FUNCTION faxfs_job_changed() RETURNS trigger LANGUAGE plpgsql AS $f$ "
     "BEGIN "
     " IF TG_OP = 'DELETE' THEN"
     "  INSERT INTO job_deletions (id, xid, deleted_by)"
     "   VALUES (OLD.id, pg_current_xact_id(), current_setting('faxfs.node', true));"
     "  PERFORM pg_notify('faxfs_jobs', OLD.id::text);"
     "  RETURN OLD;"
     " END IF;"
     " NEW.changed_xid := pg_current_xact_id();"
     " NEW.changed_by := current_setting('faxfs.node', true);"
     " PERFORM pg_notify('faxfs_jobs', NEW.id::text);"
     " RETURN NEW; "
     "END $f$;"
     "CREATE TRIGGER jobs_changed BEFORE INSERT OR UPDATE ON jobs"
     " FOR EACH ROW EXECUTE FUNCTION faxfs_job_changed();"
     "CREATE TRIGGER jobs_deleted AFTER DELETE ON jobs"
     " FOR EACH ROW EXECUTE FUNCTION faxfs_job_changed();"
     "UPDATE jobs SET changed_xid = pg_current_xact_id();"},
    {3, "claims of several jobs in one statement, per-destination call limits across nodes",
     /* A lease names the destination of its call (dest_key: the engine's
      * per-destination key, a [destination] pattern or the number) and
      * the call (call_id: the lead job of a batched call, else the job
      * itself), so the live calls to a destination on all nodes are the
      * distinct call ids of its live leases. faxfs_claim claims a dispatch
      * round's jobs, in their order: it takes a transaction advisory lock
      * per limited destination (sorted: no deadlock between claimers),
      * then locks the rows it can without waiting (SKIP LOCKED), then per
      * job counts and takes. The function is volatile, so each statement
      * in it sees what other claimers committed before its locks were
      * granted. Per job: taken (with the stored text), locked (another
      * session holds its row now), held (another node's lease, a stop
      * request, or no longer waiting; with holder and status), full (its
      * destination's limit is reached; holder: the live calls), gone. */
     "ALTER TABLE jobs ADD COLUMN dest_key text, ADD COLUMN call_id bigint;"
     "CREATE INDEX jobs_dest_live ON jobs (dest_key) WHERE lease_until IS NOT NULL;"
     "CREATE FUNCTION faxfs_claim(p_node text, p_secs integer, p_ids bigint[], p_calls bigint[], p_keys text[],"
     " p_limits integer[])"
     " RETURNS TABLE (job_id bigint, outcome text, holder text, job_status text, job_text text)"
     " LANGUAGE plpgsql VOLATILE AS $f$ "
     "#variable_conflict use_column\n"
     "DECLARE"
     " k text; i integer; r record; locked bigint[]; live integer; counted boolean; "
     "BEGIN"
     " FOR k IN SELECT DISTINCT u.key FROM unnest(p_keys, p_limits) AS u(key, lim) WHERE u.lim > 0 ORDER BY 1 LOOP"
     "  PERFORM pg_advisory_xact_lock(hashtextextended('faxfs destination ' || k, 7378428469352050538));"
     " END LOOP;"
     " SELECT coalesce(array_agg(l.id), '{}') INTO locked FROM"
     "  (SELECT j.id FROM jobs j WHERE j.id = ANY (p_ids) ORDER BY j.id FOR UPDATE SKIP LOCKED) l;"
     " FOR i IN 1 .. coalesce(array_length(p_ids, 1), 0) LOOP"
     "  job_id := p_ids[i]; holder := NULL; job_status := NULL; job_text := NULL;"
     "  SELECT j.node, j.status, j.set_aside, j.stop_request, j.lease_until INTO r FROM jobs j WHERE j.id = p_ids[i];"
     "  IF NOT FOUND OR r.set_aside IS NOT NULL THEN outcome := 'gone'; RETURN NEXT; CONTINUE; END IF;"
     "  holder := coalesce(r.node, ''); job_status := r.status;"
     "  IF NOT (p_ids[i] = ANY (locked)) THEN outcome := 'locked'; RETURN NEXT; CONTINUE; END IF;"
     "  IF r.stop_request IS NOT NULL OR r.status NOT IN ('queued', 'scheduled', 'retrying', 'active')"
     "   OR NOT (r.lease_until IS NULL OR r.lease_until <= now() OR r.node IS NULL OR r.node = p_node) THEN"
     "   outcome := 'held'; RETURN NEXT; CONTINUE;"
     "  END IF;"
     "  IF p_limits[i] > 0 THEN"
     "   SELECT count(DISTINCT coalesce(j.call_id, j.id)),"
     "    coalesce(bool_or(coalesce(j.call_id, j.id) = p_calls[i]), false) INTO live, counted"
     "    FROM jobs j WHERE j.dest_key = p_keys[i] AND j.lease_until > now() AND j.node IS NOT NULL"
     "    AND j.id <> p_ids[i];"
     "   IF NOT counted AND live >= p_limits[i] THEN"
     "    outcome := 'full'; holder := live::text; RETURN NEXT; CONTINUE;"
     "   END IF;"
     "  END IF;"
     "  UPDATE jobs j SET node = p_node, lease_until = now() + make_interval(secs => p_secs),"
     "   dest_key = p_keys[i], call_id = p_calls[i] WHERE j.id = p_ids[i] RETURNING j.job_text INTO job_text;"
     "  outcome := 'taken'; RETURN NEXT;"
     " END LOOP; "
     "END $f$;"},
    {4, "several nodes: the queue-wide pause notifies the other nodes",
     /* A write of the pause flag sends NOTIFY faxfs_jobs, 'paused' at
      * commit; every node then reads the flag, so pausing or resuming the
      * queue on one node does so on all of them. */
     "CREATE FUNCTION faxfs_queue_paused_changed() RETURNS trigger LANGUAGE plpgsql AS $f$ "
     "BEGIN"
     " PERFORM pg_notify('faxfs_jobs', 'paused');"
     " RETURN NULL; "
     "END $f$;"
     "CREATE TRIGGER queue_paused_changed AFTER INSERT OR UPDATE ON queue_state"
     " FOR EACH ROW WHEN (NEW.key = 'paused') EXECUTE FUNCTION faxfs_queue_paused_changed();"},
};

int pg_schema_latest(void)
{
    return migrations[sizeof migrations / sizeof migrations[0] - 1].version;
}

int pg_schema_count(void)
{
    return (int)(sizeof migrations / sizeof migrations[0]);
}

static int run(PGconn *conn, const char *sql, char *why, size_t whylen)
{
    PGresult *res = PQexec(conn, sql);
    ExecStatusType st = PQresultStatus(res);
    int r = 0;

    if (st != PGRES_COMMAND_OK && st != PGRES_TUPLES_OK) {
        snprintf(why, whylen, "%s", PQresultErrorMessage(res));
        size_t n = strlen(why);
        while (n > 0 && (why[n - 1] == '\n' || why[n - 1] == ' '))
            why[--n] = '\0';
        r = -EIO;
    }
    PQclear(res);
    return r;
}

static int read_version(PGconn *conn, char *why, size_t whylen)
{
    PGresult *res = PQexec(conn, "SELECT coalesce(max(version), 0) FROM schema_version");
    int v;

    if (PQresultStatus(res) != PGRES_TUPLES_OK || PQntuples(res) != 1) {
        snprintf(why, whylen, "cannot read schema_version: %s", PQresultErrorMessage(res));
        v = -EIO;
    } else {
        v = atoi(PQgetvalue(res, 0, 0));
    }
    PQclear(res);
    return v;
}

int pg_schema_version(PGconn *conn, char *why, size_t whylen)
{
    PGresult *res = PQexec(conn, "SELECT to_regclass('schema_version') IS NOT NULL");
    bool exists = PQresultStatus(res) == PGRES_TUPLES_OK && PQntuples(res) == 1 && PQgetvalue(res, 0, 0)[0] == 't';
    int bad = PQresultStatus(res) != PGRES_TUPLES_OK;

    if (bad)
        snprintf(why, whylen, "%s", PQresultErrorMessage(res));
    PQclear(res);
    if (bad)
        return -EIO;
    return exists ? read_version(conn, why, whylen) : 0;
}

int pg_migrate(PGconn *conn, int *applied, char *why, size_t whylen)
{
    int latest = pg_schema_latest();

    *applied = 0;
    for (size_t i = 0; i < sizeof migrations / sizeof migrations[0]; i++) {
        const struct migration *m = &migrations[i];
        int r = run(conn, "BEGIN", why, whylen);
        if (r == 0)
            r = run(conn, PG_MIGRATE_LOCK, why, whylen);
        if (r == 0)
            r = run(conn,
                    "CREATE TABLE IF NOT EXISTS schema_version ("
                    " version integer PRIMARY KEY,"
                    " applied timestamptz NOT NULL DEFAULT now(),"
                    " what text NOT NULL)",
                    why, whylen);
        int have = r == 0 ? read_version(conn, why, whylen) : r;
        if (have < 0) {
            run(conn, "ROLLBACK", why + strlen(why), 0);
            return have;
        }
        if (have > latest) {
            run(conn, "ROLLBACK", why + strlen(why), 0);
            snprintf(why, whylen,
                     "the database's schema is version %d, newer than this faxfs knows (%d); "
                     "run a newer faxfs on it",
                     have, latest);
            return -EPROTO;
        }
        if (have >= m->version) {
            if ((r = run(conn, "COMMIT", why, whylen)) != 0)
                return r;
            continue;
        }
        char record[256];
        snprintf(record, sizeof record, "INSERT INTO schema_version (version, what) VALUES (%d, '%s')", m->version,
                 m->what);
        char step[200] = "";
        r = run(conn, m->sql, step, sizeof step);
        if (r == 0)
            r = run(conn, record, step, sizeof step);
        if (r == 0)
            r = run(conn, "COMMIT", step, sizeof step);
        if (r != 0) {
            run(conn, "ROLLBACK", why + strlen(why), 0);
            snprintf(why, whylen, "migration %d (%s) failed: %s", m->version, m->what, step);
            return r;
        }
        (*applied)++;
    }
    return 0;
}

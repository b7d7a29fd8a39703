#!/bin/bash
# --store-migrate and --copy-store (docs/postgresql.md) on a private
# PostgreSQL: a spool copied into a database, into a spool again, into a
# second database and into a spool once more keeps every id, job file, log
# and page byte for byte, and the copies go on counting ids where the
# original stopped.
source "$(dirname "$0")/lib.sh"
source "$(dirname "$0")/../lib/postgres.sh"
pg_start || { rc=$?; [ $rc -eq 77 ] && skip "PostgreSQL is not installed"; fail "PostgreSQL did not start"; }
DB=$PG_CONNINFO

# The original: a spool with a sent job and a scheduled one.
faxfs_start --modems 1
make_fax "$WORK/doc.tif" 2
cp "$WORK/doc.tif" "$MNT/outbox/5551234.tif"
sent=$(job_id 1) later=$(job_id 2)
wait_for "$MNT/history/$sent/status" done
mkdir "$MNT/outbox/later"
echo 5559999 >"$MNT/outbox/later/recipient_number"
echo +2h >"$MNT/outbox/later/scheduled"
cp "$WORK/doc.tif" "$MNT/outbox/later/doc.tif"
echo submit >"$MNT/outbox/later/ctl"
wait_exists "$MNT/jobs/$later"
faxfs_stop

"$FAXFS" --copy-store "$SPOOL" "$DB" >"$WORK/copy0.out" || fail "copy into the database failed"
grep -q "copied 2 jobs, 4 pages" "$WORK/copy0.out" || fail "copy 0: $(cat "$WORK/copy0.out")"
"$FAXFS" --check-spool "$DB" >"$WORK/check.out" || fail "--check-spool on the database: $(cat "$WORK/check.out")"

# --store-migrate alone: a new database gets the schema, a second run
# has nothing to do.
pg_sql "CREATE DATABASE faxfs3" >/dev/null
DB3="host=$PG_SOCK user=postgres dbname=faxfs3"
"$FAXFS" --store-migrate --store "$DB3" >"$WORK/migrate.out" || fail "--store-migrate: $(cat "$WORK/migrate.out")"
grep -Eq "\([1-9][0-9]* migrations? applied\)" "$WORK/migrate.out" || fail "migrate: $(cat "$WORK/migrate.out")"
"$FAXFS" --store-migrate --store "$DB3" >"$WORK/migrate.out" || fail "--store-migrate again failed"
grep -q "already current (0 migrations applied)" "$WORK/migrate.out" || fail "migrate again: $(cat "$WORK/migrate.out")"
expect_eq "tables made" "$(psql -X -A -t "$DB3" -c "SELECT string_agg(tablename, ' ' ORDER BY tablename) FROM pg_tables WHERE schemaname = 'public'")" \
    "job_deletions job_files job_log jobs pages queue_state schema_version"

# A role with a password: taken from a passfile (or PGPASSWORD), never
# from the connection string.
pg_sql "CREATE ROLE faxfs_t_copy LOGIN PASSWORD 'pw-from-passfile'" >/dev/null
pg_sql "CREATE DATABASE faxfs4 OWNER faxfs_t_copy" >/dev/null
sed -i '1i local all faxfs_t_copy scram-sha-256' "$PG_DIR/data/pg_hba.conf"
pg_as_user "$PG_BIN/pg_ctl" -D "$PG_DIR/data" reload >/dev/null
DB4="host=$PG_SOCK user=faxfs_t_copy dbname=faxfs4"
printf '*:*:faxfs4:faxfs_t_copy:pw-from-passfile\n' >"$WORK/pgpass"
chmod 600 "$WORK/pgpass"
expect_fail_with "password" env PGPASSFILE=/nonexistent "$FAXFS" --store-migrate --store "$DB4"
PGPASSFILE=$WORK/pgpass "$FAXFS" --store-migrate --store "$DB4" >/dev/null || fail "the passfile's password was not used"
PGPASSFILE=/nonexistent PGPASSWORD=pw-from-passfile "$FAXFS" --check-spool "$DB4" >/dev/null ||
    fail "PGPASSWORD was not used"

# Database -> spool -> another database -> spool: ids, job files, logs and
# pages byte for byte.
"$FAXFS" --copy-store "$DB" "$WORK/s1" >"$WORK/copy1.out" || fail "copy into a spool failed"
grep -q "copied 2 jobs, 4 pages" "$WORK/copy1.out" || fail "copy 1: $(cat "$WORK/copy1.out")"
"$FAXFS" --check-spool "$WORK/s1" >/dev/null || fail "the copied spool does not check clean"
pg_sql "CREATE DATABASE faxfs2" >/dev/null
DB2="host=$PG_SOCK user=postgres dbname=faxfs2"
"$FAXFS" --copy-store "$WORK/s1" "$DB2" >"$WORK/copy2.out" || fail "copy into a database failed"
expect_fail_with "holds 2 jobs" "$FAXFS" --copy-store "$WORK/s1" "$DB2"
"$FAXFS" --copy-store "$DB2" "$WORK/s2" >"$WORK/copy3.out" || fail "copy back into a spool failed"
expect_eq "job ids kept" "$(ls "$WORK/s2/jobs")" "$(printf '%s\n%s' "$sent" "$later")"
for id in $sent $later; do
    for f in job log pages/001.tif pages/002.tif; do
        cmp "$SPOOL/jobs/$id/$f" "$WORK/s1/jobs/$id/$f" || fail "job $id: $f differs after the first round trip"
        cmp "$WORK/s1/jobs/$id/$f" "$WORK/s2/jobs/$id/$f" || fail "job $id: $f differs after the second round trip"
    done
done
# The copy keeps counting where the database stopped.
faxfs_start --modems 1 -s "$WORK/s2"
cp "$WORK/doc.tif" "$MNT/outbox/5551234.tif"
wait_exists "$MNT/history/$(job_id 3)"
echo PASS

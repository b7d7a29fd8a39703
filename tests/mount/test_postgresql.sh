#!/bin/bash
# The queue kept in PostgreSQL (--store, docs/postgresql.md) on a private
# server: a copied document is sent, the job and its log survive a
# restart, a second daemon under the same node name is refused, a connection
# string with a password is refused. test_postgresql_copy.sh: copies.
source "$(dirname "$0")/lib.sh"
source "$(dirname "$0")/../lib/postgres.sh"
pg_start || { rc=$?; [ $rc -eq 77 ] && skip "PostgreSQL is not installed"; fail "PostgreSQL did not start"; }
DB=$PG_CONNINFO

# A password in the connection string: refused before anything starts.
expect_fail_with "PGPASSWORD" "$FAXFS" -f -s "$SPOOL" --line sim \
    --store "postgresql://fax:secret@localhost/faxfs" "$MNT"
mountpoint -q "$MNT" && fail "mounted with a refused --store"

faxfs_start --modems 1 --store "$DB" --node test-a
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
expect_eq "rows in jobs" "$(pg_sql "SELECT string_agg(id || ' ' || status, ',' ORDER BY id) FROM jobs")" \
    "$sent done,$later scheduled"
expect_eq "pages in the database" "$(pg_sql "SELECT count(*) FROM pages")" 4
# The spool directory holds only the local cache.
[ -z "$(ls -A "$SPOOL/jobs" 2>/dev/null)" ] || fail "jobs stored in the spool directory: $(ls "$SPOOL/jobs")"
before_log=$(cat "$MNT/history/$sent/log")
before_info=$(cat "$MNT/jobs/$later/info")
grep -q "submitted by uid" <<<"$before_log" || fail "no submission line in the log: $before_log"

# A second daemon under the same node name is refused, and says why
# (several nodes under their own names: test_postgresql_nodes.sh).
mkdir -p "$WORK/spool2" "$WORK/mnt2"
if timeout 60 "$FAXFS" -f -s "$WORK/spool2" --line sim --store "$DB" --node test-a "$WORK/mnt2" \
    >"$WORK/second.log" 2>&1; then
    fusermount3 -u -z "$WORK/mnt2" 2>/dev/null || true
    fail "a second daemon under the same node name started"
fi
grep -q "another faxfs runs as node 'test-a'" "$WORK/second.log" || fail "second daemon: $(cat "$WORK/second.log")"
grep -q -- "--node" "$WORK/second.log" || fail "second daemon: the fix is not named: $(cat "$WORK/second.log")"
mountpoint -q "$WORK/mnt2" && fail "the second daemon mounted"

# Restart: the same jobs, the same log.
faxfs_stop
faxfs_start --modems 1 --store "$DB" --node test-a
expect_eq "jobs after restart" "$(ls "$MNT/jobs")" "$later"
expect_eq "history after restart" "$(ls "$MNT/history")" "$sent"
expect_eq "log after restart" "$(cat "$MNT/history/$sent/log")" "$before_log"
expect_eq "scheduled job after restart" "$(cat "$MNT/jobs/$later/info")" "$before_info"
cmp -s <(cat "$MNT/history/$sent/fax.pdf" | head -c 5) <(printf '%%PDF-') || fail "fax.pdf does not read as a PDF"
faxfs_stop

"$FAXFS" --check-spool "$DB" >"$WORK/check.out" || fail "--check-spool on the database: $(cat "$WORK/check.out")"
grep -q "2 jobs, 0 set aside, 0 problems" "$WORK/check.out" || fail "check: $(cat "$WORK/check.out")"
echo PASS

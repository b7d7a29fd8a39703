#!/bin/bash
# The database away under load (docs/postgresql.md "Failures"): 8 jobs are
# accepted and calling when PostgreSQL stops for 10 s. Meanwhile a new
# submission fails at close() with EIO and a log line, and the view still
# answers from what the daemon knows. When the server is back, every
# accepted job ends done in the database (results of calls that ended
# during the outage are written then), and none is lost.
source "$(dirname "$0")/lib.sh"
source "$(dirname "$0")/../lib/postgres.sh"
pg_start || { rc=$?; [ $rc -eq 77 ] && skip "PostgreSQL is not installed"; fail "PostgreSQL did not start"; }

# Real-time pace: a call lasts seconds, so the outage can come in the middle.
faxfs_start --modems 4 --store "$PG_CONNINFO" --node outage-a --sim-pace realtime --sim-setup-time 2
make_fax "$WORK/doc.tif" 2
for i in $(seq 1 8); do
    cp "$WORK/doc.tif" "$MNT/outbox/555$((3000 + i)).tif" || fail "submission $i before the outage failed"
done
expect_eq "jobs accepted" "$(pg_sql "SELECT count(*) FROM jobs")" 8
# The outage comes when a call has confirmed its first page: its second
# page and its end fall in the outage; four jobs wait for a line.
confirmed=no
for _ in $(seq 1200); do
    cat "$MNT"/jobs/*/pages_sent 2>/dev/null | grep -q '^1$' && { confirmed=yes; break; }
    sleep 0.05
done
[ $confirmed = yes ] || fail "no call confirmed a page"
pg_down
down_at=$(date +%s)
# A submission now fails at close(), says why, and leaves nothing.
expect_fail_with "Input/output error" cp "$WORK/doc.tif" "$MNT/outbox/5559999.tif"
grep -q "outbox/5559999.tif\|database" "$DAEMON_LOG" || fail "no log line for the refused submission"
# The view answers from memory: every accepted job is listed, its status readable.
listed=$(ls "$MNT/jobs" "$MNT/history" | grep -c '^[0-9]')
expect_eq "jobs listed during the outage" "$listed" 8
for id in $(ls "$MNT/jobs" | grep '^[0-9]' | head -n 3); do
    st=$(job_file "$id" status) || fail "status of $id unreadable during the outage"
    [ -n "$st" ] || fail "empty status of $id during the outage"
done
sleep $((10 - ($(date +%s) - down_at)))
pg_up || fail "PostgreSQL did not start again"

# Every accepted job ends done in the database, none twice, none lost.
for _ in $(seq 600); do
    [ "$(pg_sql "SELECT count(*) FROM jobs WHERE status = 'done'")" = 8 ] && break
    sleep 0.2
done
expect_eq "done in the database" "$(pg_sql "SELECT count(*) FROM jobs WHERE status = 'done'")" 8
expect_eq "jobs in the database" "$(pg_sql "SELECT count(*) FROM jobs")" 8
expect_eq "attempts in the database" "$(pg_sql "SELECT count(*) FROM jobs WHERE job_text LIKE '%attempts: 1%'")" 8
expect_eq "leases left" "$(pg_sql "SELECT count(*) FROM jobs WHERE node IS NOT NULL OR lease_until IS NOT NULL")" 0
for _ in $(seq 100); do
    [ "$(ls "$MNT/history" | grep -c '^[0-9]')" = 8 ] && break
    sleep 0.1
done
expect_eq "done in the view" "$(cat "$MNT"/history/*/status | grep -c '^done$')" 8
# The call that ended in the outage: its result refused, then written.
grep -q "cannot write its state" "$DAEMON_LOG" || fail "no result fell in the outage"
grep -q "stored now" "$DAEMON_LOG" || fail "the refused results were not written afterwards"
echo "what the daemon logged:"
grep -E "database store|wait for the store|stored now|cannot write its state" "$DAEMON_LOG" | sed 's/^/  /' | head -n 20
# After a restart the database still says the same.
faxfs_stop
faxfs_start --modems 4 --store "$PG_CONNINFO" --node outage-a
expect_eq "history after restart" "$(ls "$MNT/history" | grep -c '^[0-9]')" 8
expect_eq "queued after restart" "$(ls "$MNT/jobs" | grep -c '^[0-9]' || true)" 0
echo PASS

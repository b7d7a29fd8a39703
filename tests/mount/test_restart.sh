#!/bin/bash
# Unmounting stops the daemon cleanly; the next start shows the same jobs.
source "$(dirname "$0")/lib.sh"
faxfs_start --modems 1
make_fax "$WORK/doc.tif" 1
cp "$WORK/doc.tif" "$MNT/outbox/5551234.tif"
sent=$(job_id 1) later=$(job_id 2)
wait_for "$MNT/history/$sent/status" done
mkdir "$MNT/outbox/later"
echo 5559999 >"$MNT/outbox/later/recipient_number"
echo +2h >"$MNT/outbox/later/scheduled"
cp "$WORK/doc.tif" "$MNT/outbox/later/doc.tif"
echo submit >"$MNT/outbox/later/ctl"
mkdir "$MNT/outbox/draft"
before_jobs=$(cat "$MNT/jobs/$later/info")
before_hist=$(cat "$MNT/history/$sent/info")

fusermount3 -u "$MNT"
for _ in $(seq 100); do kill -0 "$DAEMON_PID" 2>/dev/null || break; sleep 0.1; done
kill -0 "$DAEMON_PID" 2>/dev/null && fail "daemon still running after unmount"
wait "$DAEMON_PID" || fail "daemon exit status $? after unmount"
DAEMON_PID=

faxfs_start --modems 1
expect_eq "jobs after restart" "$(ls -U "$MNT/jobs")" "$later"
expect_eq "history after restart" "$(ls -U "$MNT/history")" "$sent"
expect_eq "scheduled job" "$(cat "$MNT/jobs/$later/info")" "$before_jobs"
expect_eq "finished job" "$(cat "$MNT/history/$sent/info")" "$before_hist"
# Drafts live in memory only.
expect_eq "outbox after restart" "$(ls -A "$MNT/outbox")" ""

# SIGTERM also ends it cleanly.
kill -TERM "$DAEMON_PID"
for _ in $(seq 100); do kill -0 "$DAEMON_PID" 2>/dev/null || break; sleep 0.1; done
kill -0 "$DAEMON_PID" 2>/dev/null && fail "daemon still running after SIGTERM"
wait "$DAEMON_PID" || fail "daemon exit status $? after SIGTERM"
DAEMON_PID=
mountpoint -q "$MNT" && fail "still mounted after SIGTERM"
echo PASS

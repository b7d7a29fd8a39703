#!/bin/bash
# Bad uploads fail at close with a readable .error and create no job;
# writes into jobs/ are refused with EPERM and change nothing.
source "$(dirname "$0")/lib.sh"
faxfs_start --modems 1
ctl() { printf '%s\n' "$1" >"$2"; }

# Not a TIFF: cp fails, no job, nothing left but the reason.
echo "hello" >"$WORK/note.txt"
expect_fail_with "cp: " cp "$WORK/note.txt" "$MNT/outbox/5551234.tif"
expect_eq "jobs after bad upload" "$(ls "$MNT/jobs" "$MNT/history" | grep -c '^[0-9]')" 0
expect_eq "outbox after bad upload" "$(ls "$MNT/outbox")" "5551234.tif.error"
[ -s "$MNT/outbox/5551234.tif.error" ] || fail ".error is empty"
grep -qi 'tiff' "$MNT/outbox/5551234.tif.error" || fail ".error does not name the problem: $(cat "$MNT/outbox/5551234.tif.error")"
rm "$MNT/outbox/5551234.tif.error"
expect_eq "outbox after rm .error" "$(ls -A "$MNT/outbox")" ""

# A name that is no number is refused at create.
make_fax "$WORK/doc.tif" 1
expect_fail_with "Invalid argument" cp "$WORK/doc.tif" "$MNT/outbox/report.tif"
[ -s "$MNT/outbox/report.tif.error" ] || fail "report.tif.error missing"

# A held job to poke at: the whole queue is paused, so it stays queued.
ctl pause "$MNT/ctl"
cp "$WORK/doc.tif" "$MNT/outbox/5551234.tif"
j="$MNT/jobs/$(job_id 1)"
wait_for "$j/status" queued
before=$(cat "$j/info")

expect_fail_with "Operation not permitted" touch "$MNT/jobs/newfile"
expect_fail_with "Operation not permitted" mkdir "$MNT/jobs/$(job_id 99)"
expect_fail_with "Operation not permitted" touch "$j/newfile"
expect_fail_with "Operation not permitted" mv "$j" "$MNT/jobs/$(job_id 2)"
expect_fail_with "Operation not permitted" mv "$j/status" "$j/status2"
expect_fail_with "Operation not permitted" truncate -s 0 "$j/status"
expect_fail_with "Operation not permitted" bash -c "echo done > '$j/status'"
expect_fail_with "Operation not permitted" bash -c "echo x >> '$j/remote_id'"
expect_fail_with "Operation not permitted" ln -s x "$MNT/jobs/link"
expect_fail_with "Operation not permitted" mkdir "$MNT/history/$(job_id 5)"
expect_fail_with "Operation not permitted" bash -c "echo 1 > '$MNT/server'"
expect_eq "job unchanged" "$(cat "$j/info")" "$before"
expect_eq "status unchanged" "$(cat "$j/status")" queued

# ctl: unknown command EINVAL, not allowed in state EBUSY; nothing changes.
expect_fail_with "Invalid argument" bash -c "echo frobnicate > '$j/ctl'"
expect_fail_with "Invalid argument" bash -c "echo 'pause resume' > '$j/ctl'"
expect_fail_with "Invalid argument" bash -c "echo bogus > '$MNT/ctl'"
expect_fail_with "Device or resource busy" bash -c "echo restart > '$j/ctl'"
expect_fail_with "Device or resource busy" bash -c "echo resume > '$j/ctl'"
expect_eq "status after refusals" "$(cat "$j/status")" queued
expect_eq "ctl reads empty" "$(cat "$j/ctl")" ""
echo PASS

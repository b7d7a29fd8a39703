#!/bin/bash
# Drafts: fields, documents, submit by ctl and by mv; job ctl pause/resume
# on a job scheduled in the future; whole-queue pause and resume.
source "$(dirname "$0")/lib.sh"
faxfs_start --modems 1
make_fax "$WORK/a.tif" 1
make_fax "$WORK/b.tif" 2

d="$MNT/outbox/letter"
mkdir "$d"
echo 555-0000 >"$d/recipient_number"
echo "Ada Lovelace" >"$d/recipient_name"
echo "Charles" >"$d/sender_name"
echo +1h >"$d/scheduled"
echo high >"$d/priority"
echo 3 >"$d/max_attempts"
expect_fail_with "Invalid argument" bash -c "echo soonish > '$d/scheduled'"
expect_fail_with "Invalid argument" bash -c "echo 0 > '$d/max_attempts'"
expect_eq "priority reads back" "$(cat "$d/priority")" high
cp "$WORK/a.tif" "$d/1-cover.tif"
cp "$WORK/b.tif" "$d/2-body.tif"
echo submit >"$d/ctl"
[ ! -e "$d" ] || fail "draft still there after submit"
j="$MNT/jobs/$(job_id 1)"
expect_eq "status" "$(cat "$j/status")" scheduled
expect_eq "page_count" "$(cat "$j/page_count")" 3
expect_eq "recipient_name" "$(cat "$j/recipient_name")" "Ada Lovelace"
expect_eq "priority" "$(cat "$j/priority")" high
expect_eq "max_attempts" "$(cat "$j/max_attempts")" 3
[ -n "$(cat "$j/scheduled")" ] || fail "scheduled empty"

echo pause >"$j/ctl"
expect_eq "paused" "$(cat "$j/status")" paused
expect_fail_with "Device or resource busy" bash -c "echo pause > '$j/ctl'"
echo resume >"$j/ctl"
expect_eq "resumed" "$(cat "$j/status")" scheduled

# A draft without documents is refused with a reason; mv submits.
mkdir "$MNT/outbox/empty"
echo 5551234 >"$MNT/outbox/empty/recipient_number"
expect_fail_with "Invalid argument" bash -c "echo submit > '$MNT/outbox/empty/ctl'"
grep -q 'no documents' "$MNT/outbox/empty/error" || fail "draft error missing"
cp "$WORK/a.tif" "$MNT/outbox/empty/doc.tif"
mv "$MNT/outbox/empty" "$MNT/jobs/"
[ ! -e "$MNT/outbox/empty" ] || fail "draft still there after mv"

# rm -r discards a draft.
mkdir "$MNT/outbox/scrap"
cp "$WORK/a.tif" "$MNT/outbox/scrap/x.tif"
echo 5551234 >"$MNT/outbox/scrap/recipient_number"
rm -r "$MNT/outbox/scrap"
expect_eq "outbox empty" "$(ls -A "$MNT/outbox")" ""

# Whole-queue pause holds new jobs; resume lets them go.
wait_for "$MNT/history/$(job_id 2)/status" done
echo pause >"$MNT/ctl"
grep -q '^queue_paused: yes$' "$MNT/server" || fail "server not paused"
cp "$WORK/a.tif" "$MNT/outbox/5554321.tif"
last=$(ls "$MNT/jobs" | tail -1)
sleep 0.5
expect_eq "held while paused" "$(cat "$MNT/jobs/$last/status")" queued
echo resume >"$MNT/ctl"
wait_for "$MNT/history/$last/status" done
echo PASS

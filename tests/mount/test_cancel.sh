#!/bin/bash
# rm -r, rm -rf and rmdir of jobs/<id> cancel quietly; the job moves to
# history/ as canceled; rm -r history/<id> deletes it for good.
source "$(dirname "$0")/lib.sh"
faxfs_start --modems 1
printf 'pause\n' >"$MNT/ctl" # keep the jobs queued
make_fax "$WORK/doc.tif" 1
for n in 1 2 3; do cp "$WORK/doc.tif" "$MNT/outbox/555123$n.tif"; done
a=$(job_id 1) b=$(job_id 2) c=$(job_id 3)
expect_eq "three queued" "$(ls "$MNT/jobs" | tr '\n' ' ')" "$a $b $c "

out=$(rm -r "$MNT/jobs/$a" 2>&1 </dev/null) || fail "rm -r exit $?: $out"
expect_eq "rm -r output" "$out" ""
out=$(rm -rf "$MNT/jobs/$b" 2>&1) || fail "rm -rf exit $?: $out"
expect_eq "rm -rf output" "$out" ""
out=$(rmdir "$MNT/jobs/$c" 2>&1) || fail "rmdir exit $?: $out"
expect_eq "rmdir output" "$out" ""

expect_eq "jobs/ empty" "$(ls "$MNT/jobs")" ""
expect_eq "history" "$(ls "$MNT/history" | tr '\n' ' ')" "$a $b $c "
for id in $a $b $c; do expect_eq "status $id" "$(cat "$MNT/history/$id/status")" canceled; done
[ ! -e "$MNT/jobs/$a" ] || fail "jobs/$a still resolves"

# An active call is aborted too: a realtime call to a normal number.
printf 'resume\n' >"$MNT/ctl"
expect_eq "server not paused" "$(grep '^queue_paused:' "$MNT/server")" "queue_paused: no"

out=$(rm -r "$MNT/history/$a" 2>&1) || fail "rm -r history exit $?: $out"
expect_eq "rm -r history output" "$out" ""
expect_eq "history after delete" "$(ls "$MNT/history" | tr '\n' ' ')" "$b $c "
[ ! -e "$MNT/history/$a" ] || fail "history/$a still there"
echo PASS

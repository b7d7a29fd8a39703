#!/bin/bash
# Disk full and I/O errors while submitting through the mount (injected at
# the spool's write points): cp fails with the errno at close, no job and
# no half-created job appears, the job accepted before is untouched, the
# queue keeps running and the next submission works.
source "$(dirname "$0")/../mount/lib.sh"

make_fax "$WORK/doc.tif" 2
# The 2nd staged page of the 2nd submission fails with ENOSPC, then the
# staging of the 3rd (its 2nd to get that far) with EIO; every other write
# succeeds.
FAXFS_FAULT="spool.page.create:enospc:4,spool.create.staged:eio:2" faxfs_start --modems 1

# The id of the job a submission just made: the one neither listing showed
# before it (polled: a cached listing may lag by the notifier's delay).
all_ids() { ls "$MNT/jobs" "$MNT/history" | grep '^[0-9]' | sort; }
new_job() {
    local before=$1 id
    for _ in $(seq 40); do
        id=$(comm -13 <(printf '%s\n' "$before") <(all_ids))
        [ -n "$id" ] && { printf '%s\n' "$id"; return 0; }
        sleep 0.05
    done
    fail "no new job appeared in jobs/ or history/"
}

cp "$WORK/doc.tif" "$MNT/outbox/5551001.tif" || fail "the first submission failed"
first=$(new_job "")
wait_for "$MNT/history/$first/status" done

expect_fail_with "No space left on device" cp "$WORK/doc.tif" "$MNT/outbox/5551002.tif"
grep -qi "space" "$MNT/outbox/5551002.tif.error" || fail ".error does not explain: $(cat "$MNT/outbox/5551002.tif.error")"
expect_fail_with "Input/output error" cp "$WORK/doc.tif" "$MNT/outbox/5551003.tif"

expect_eq "jobs after the failures" "$(ls "$MNT/jobs" "$MNT/history" | grep -c '^[0-9]')" 1
expect_eq "nothing staged" "$(ls -A "$SPOOL/tmp")" ""
expect_eq "first job untouched" "$(cat "$MNT/history/$first/status") $(cat "$MNT/history/$first/pages_sent")" "done 2"

before=$(all_ids)
cp "$WORK/doc.tif" "$MNT/outbox/5551004.tif" || fail "the queue did not recover: the next submission failed"
id=$(new_job "$before")
wait_for "$MNT/history/$id/status" done
grep -q "5551002\|5551003" "$DAEMON_LOG" || fail "the refusals were not logged"
report=$("$FAXFS" --check-spool "$SPOOL" 2>&1) || fail "spool check: $report"
echo PASS

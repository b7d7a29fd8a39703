#!/bin/bash
# cp into outbox/ submits a job that reaches history/ as done; the view
# reads with ls, stat, cat, wc, grep -r, find and tiffinfo.
source "$(dirname "$0")/lib.sh"
faxfs_start --modems 2

make_fax "$WORK/doc.tif" 2
cp "$WORK/doc.tif" "$MNT/outbox/555-1234.tif"
# The job exists as soon as cp returned, and the upload is gone.
expect_eq "outbox after cp" "$(ls -A "$MNT/outbox")" ""
# The job itself resolves at once; a cached listing may lag the change by
# the notifier's delay (within 100 ms), so the listing is polled briefly.
first=$(job_id 1)
[ -d "$MNT/jobs/$first" ] || [ -d "$MNT/history/$first" ] || fail "job $first does not exist after cp returned"
id=
for _ in $(seq 20); do
    id=$( (ls "$MNT/jobs" "$MNT/history" || true) | grep -E '^[0-9]+$' | sort -u || true)
    [ -n "$id" ] && break
    sleep 0.01
done
expect_eq "new job id" "$id" "$first"
dir="$MNT/history/$id"
wait_for "$dir/status" done
expect_eq "jobs/ after done" "$(ls "$MNT/jobs")" ""
expect_eq "recipient_number" "$(cat "$dir/recipient_number")" 5551234
expect_eq "page_count" "$(cat "$dir/page_count")" 2
expect_eq "pages_sent" "$(cat "$dir/pages_sent")" 2
expect_eq "owner" "$(cat "$dir/owner")" "$(id -un)"
expect_eq "last_error is empty" "$(wc -c <"$dir/last_error")" 0
grep -q '^submitted: [0-9-]*T[0-9:]*[+-][0-9][0-9]:[0-9][0-9]$' "$dir/info" || fail "info: no ISO 8601 submitted"
expect_eq "info status line" "$(grep '^status: ' "$dir/info")" "status: done"

# Real sizes: stat and wc agree with what cat reads.
for f in status info recipient_number submitted log; do
    expect_eq "size of $f" "$(stat -c %s "$dir/$f")" "$(cat "$dir/$f" | wc -c)"
done
expect_eq "ls -l owner" "$(stat -c %U "$dir")" "$(id -un)"

# Pages: tiffinfo reads them, bytes are the same on every read.
tiffinfo "$dir/pages/001.tif" | grep -q 'Image Width: 1728' || fail "tiffinfo page 1"
expect_eq "pages listing" "$(ls "$dir/pages" | tr '\n' ' ')" "001.png 001.tif 002.png 002.tif "
a=$(md5sum <"$dir/pages/002.tif")
b=$(md5sum <"$dir/pages/002.tif")
expect_eq "page bytes stable" "$a" "$b"
expect_eq "size counts page bytes" "$(cat "$dir/size")" \
    "$(( $(stat -c %s "$dir/pages/001.tif") + $(stat -c %s "$dir/pages/002.tif") ))"

# grep -r and find see whole content.
expect_eq "grep -r status" "$(grep -r '^done$' "$MNT/history" | sort | head -1)" "$dir/status:done"
nfiles=$(find "$MNT/history" -type f | wc -l)
[ "$nfiles" -ge 25 ] || fail "find: only $nfiles files"

# The log grew with the call.
grep -q 'submitted by uid' "$dir/log" || fail "log lacks submission line"

# Missing names are ENOENT, never cached: a job that appears is visible.
second=$(job_id 2)
expect_fail_with "No such file" stat "$MNT/jobs/$second"
cp "$WORK/doc.tif" "$MNT/outbox/5557777.tif"
[ -d "$MNT/jobs/$second" ] || [ -d "$MNT/history/$second" ] || fail "job $second hidden by a cached miss"

# The view lists ids in numeric order (plain ls: tests/mount/test_order.sh).
for n in 3 4 5 6 7 8 9 10 11; do cp "$WORK/doc.tif" "$MNT/outbox/555000$n.tif"; done
wait_for "$MNT/history/$(job_id 11)/status" done
expect_eq "numeric order" "$(ls -U "$MNT/history" | tr '\n' ' ')" "$(seq "$first" "$(job_id 11)" | tr '\n' ' ')"
echo PASS

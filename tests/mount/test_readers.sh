#!/bin/bash
# Readers running cat in a loop while jobs change state see only whole,
# valid values, and see each change.
source "$(dirname "$0")/lib.sh"
faxfs_start --modems 2 --retry-delay 1 --max-attempts 3
make_fax "$WORK/doc.tif" 2
valid='^(queued|scheduled|active|retrying|paused|done|failed|canceled)$'

# Busy number: the job cycles queued/active/retrying until it fails.
cp "$WORK/doc.tif" "$MNT/outbox/5550101.tif"
cp "$WORK/doc.tif" "$MNT/outbox/5550105.tif"
seen="$WORK/seen"
busy=$(job_id 1) busy_twice=$(job_id 2)
readers=()
for id in $busy $busy_twice; do
    (
        end=$((SECONDS + 20))
        while [ $SECONDS -lt $end ]; do
            for area in jobs history; do
                v=$(cat "$MNT/$area/$id/status" 2>/dev/null) || continue
                printf '%s\n' "$v" >>"$seen.$id"
                n=$(cat "$MNT/$area/$id/attempts" 2>/dev/null) || continue
                [[ "$n" =~ ^[0-9]+$ ]] || echo "BAD attempts '$n'" >>"$seen.$id"
                grep -c '' "$MNT/$area/$id/info" >>"$seen.lines.$id" 2>/dev/null || true
            done
            [ -e "$MNT/history/$id" ] && break
        done
    ) &
    readers+=($!)
done
wait_for "$MNT/history/$busy/status" failed 30
wait_for "$MNT/history/$busy_twice/status" done 30
wait "${readers[@]}"
for id in $busy $busy_twice; do
    bad=$(grep -Ev "$valid" "$seen.$id" || true)
    expect_eq "torn or invalid status reads of job $id" "$bad" ""
    expect_eq "info line counts of job $id" "$(sort -u "$seen.lines.$id" | wc -l)" 1
done
grep -qx retrying "$seen.$busy" || grep -qx queued "$seen.$busy" || fail "reader never saw job $busy wait"
expect_eq "attempts of the busy job" "$(cat "$MNT/history/$busy/attempts")" 3
grep -qi 'busy' "$MNT/history/$busy/last_error" || fail "last_error: $(cat "$MNT/history/$busy/last_error")"
expect_eq "attempts of busy-twice job" "$(cat "$MNT/history/$busy_twice/attempts")" 3
echo PASS

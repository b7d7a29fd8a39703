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
readers=()
for id in 1 2; do
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
wait_for "$MNT/history/1/status" failed 30
wait_for "$MNT/history/2/status" done 30
wait "${readers[@]}"
for id in 1 2; do
    bad=$(grep -Ev "$valid" "$seen.$id" || true)
    expect_eq "torn or invalid status reads of job $id" "$bad" ""
    expect_eq "info line counts of job $id" "$(sort -u "$seen.lines.$id" | wc -l)" 1
done
grep -qx retrying "$seen.1" || grep -qx queued "$seen.1" || fail "reader never saw job 1 wait"
expect_eq "attempts of the busy job" "$(cat "$MNT/history/1/attempts")" 3
grep -qi 'busy' "$MNT/history/1/last_error" || fail "last_error: $(cat "$MNT/history/1/last_error")"
expect_eq "attempts of busy-twice job" "$(cat "$MNT/history/2/attempts")" 3
echo PASS

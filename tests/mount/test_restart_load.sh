#!/bin/bash
# A restart on a spool of 1500 jobs: the mount serves at once while
# the jobs load behind it. The last job's status reads right after the mount
# is up (loaded on demand), a job submitted meanwhile gets a fresh id, and
# `ls jobs` converges to every job.
source "$(dirname "$0")/lib.sh"
N=1500
faxfs_start --modems 1
echo pause >"$MNT/ctl" # durable: nothing is dialed after the restart either
make_fax "$WORK/doc.tif" 1
cp "$WORK/doc.tif" "$MNT/outbox/5551234.tif"
first=$(only_job "$MNT/jobs")
faxfs_stop
python3 "$(dirname "$0")/../lib/spool_clone.py" "$SPOOL" "$N"
last=$((first + N - 1))

faxfs_start --modems 1
# No waiting: the job is loaded when it is asked for.
expect_eq "status of the last job right after the mount" "$(cat "$MNT/jobs/$last/status")" queued
expect_eq "its number" "$(cat "$MNT/jobs/$last/recipient_number")" "$(cat "$MNT/jobs/$first/recipient_number")"
cp "$WORK/doc.tif" "$MNT/outbox/5559876.tif"
new=$((first + N))
wait_exists "$MNT/jobs/$new/status"
grep -q 5559876 "$MNT/jobs/$new/recipient_number" || fail "job $new is not the one just submitted"

want=$((N + 1))
for _ in $(seq 600); do
    have=$(ls "$MNT/jobs" | wc -l)
    [ "$have" = "$want" ] && break
    sleep 0.1
done
expect_eq "jobs listed once loading ended" "$(ls "$MNT/jobs" | wc -l)" "$want"
expect_eq "distinct ids" "$(ls "$MNT/jobs" | sort -u | wc -l)" "$want"
expect_eq "first and last listed" "$(ls "$MNT/jobs" | sed -n '1p;$p' | tr '\n' ' ')" "$first $new "
for _ in $(seq 100); do grep -q '^loading:' "$MNT/server" || break; sleep 0.1; done
grep -q '^loading:' "$MNT/server" && fail "server still says loading: $(grep '^loading:' "$MNT/server")"
expect_eq "server job count" "$(sed -n 's/^jobs: //p' "$MNT/server")" "$want"
grep -q "loaded $N stored jobs" "$DAEMON_LOG" || fail "no 'loaded $N stored jobs' line in the daemon log"
echo PASS

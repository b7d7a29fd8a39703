#!/bin/bash
# Persist, then tell: a call's end the spool refuses (injected EIO on every
# job update after the call began) is kept unsaved and written again; until
# it is stored no `wait` answers with it and the notify command does not
# run. A stop before it is stored leaves the job active on disk: the next
# start sends it again and only then is it told.
source "$(dirname "$0")/../mount/lib.sh"

make_fax "$WORK/doc.tif" 1
hook="echo \"\$FAXFS_EVENT \$FAXFS_JOB_ID\" >> '$WORK/hook.out'"
# Job update 1 (the call begins) is stored; every later one fails.
FAXFS_FAULT="spool.update.tmp_written:eio:2+" faxfs_start --modems 1 --notify-cmd "$hook"

cp "$WORK/doc.tif" "$MNT/outbox/5551001.tif" || fail "the submission failed"
for _ in $(seq 100); do
    grep -q "cannot write its state to the store" "$DAEMON_LOG" && break
    sleep 0.1
done
grep -q "cannot write its state to the store" "$DAEMON_LOG" || fail "the refused write was not logged"
id=$(ls "$MNT/jobs" "$MNT/history" | grep '^[0-9]' | head -1)
[ -n "$id" ] || fail "no job"
grep -q '^status: active$' "$SPOOL/jobs/$id/job" || fail "the job file is not active: $(grep status: "$SPOOL/jobs/$id/job")"

# Not told: a reader of wait blocks although the daemon's memory has the end
# (the view already lists it under history/: a new read shows memory).
dir=$MNT/history/$id
[ -d "$dir" ] || dir=$MNT/jobs/$id
rc=0
out=$(timeout 2 cat "$dir/wait" 2>&1) || rc=$?
[ "$rc" = 124 ] || fail "wait answered '$out' (exit $rc) before the job's end was stored"
[ ! -e "$WORK/hook.out" ] || fail "the notify command ran before the job's end was stored: $(cat "$WORK/hook.out")"

# Stopped before the store took it: the disk still says active. (Paused, so
# the next start dials it only once its notify command is listening.)
printf 'pause\n' >"$MNT/ctl"
faxfs_stop
grep -q '^status: active$' "$SPOOL/jobs/$id/job" || fail "the job file changed after a refused write"
[ ! -e "$WORK/hook.out" ] || fail "the notify command ran for an end never stored: $(cat "$WORK/hook.out")"

# The next start calls it again; its end is stored, then told.
faxfs_start --modems 1 --notify-cmd "$hook"
printf 'resume\n' >"$MNT/ctl"
wait_for "$MNT/history/$id/status" done
grep -q '^status: done$' "$SPOOL/jobs/$id/job" || fail "the job file does not say done"
expect_eq "wait after the end was stored" "$(timeout 5 cat "$MNT/history/$id/wait")" done
for _ in $(seq 100); do [ -s "$WORK/hook.out" ] && break; sleep 0.1; done
expect_eq "notify command" "$(cat "$WORK/hook.out")" "done $id"
echo PASS

#!/bin/bash
# valgrind memcheck over a whole simulated session of the daemon in the
# foreground: submit, send, retry (busy number), cancel, read the view,
# unmount. Any memory error or definite/indirect leak fails the test.
source "$(dirname "$0")/../mount/lib.sh"

command -v valgrind >/dev/null || skip "valgrind is not installed (apt-get install valgrind)"
VG_LOG="$WORK/valgrind.log"

# As faxfs_start, under valgrind (same pid: valgrind runs the program in
# its own process), with a longer bound for the slow start.
"$(command -v valgrind)" --leak-check=full --error-exitcode=1 --errors-for-leak-kinds=definite,indirect \
    --show-leak-kinds=definite,indirect --num-callers=30 --log-file="$VG_LOG" \
    "$FAXFS" -f -s "$SPOOL" --line sim --sim-pace fast --modems 2 --retry-delay 1 --max-attempts 2 \
    "$MNT" >>"$DAEMON_LOG" 2>&1 &
DAEMON_PID=$!
for _ in $(seq 600); do
    mountpoint -q "$MNT" && break
    kill -0 "$DAEMON_PID" 2>/dev/null || fail "faxfs exited before mounting: $(cat "$VG_LOG")"
    sleep 0.1
done
mountpoint -q "$MNT" || fail "faxfs under valgrind did not mount within 60 s"

make_fax "$WORK/doc.tif" 2
# Sent: a normal number.
cp "$WORK/doc.tif" "$MNT/outbox/5551234.tif" || fail "submitting to 5551234 failed"
sent=$(job_id 1) busy=$(job_id 2) canceled=$(job_id 3)
wait_for "$MNT/history/$sent/status" done 120
# Retried: busy every time, fails after its 2 attempts.
cp "$WORK/doc.tif" "$MNT/outbox/5550101.tif" || fail "submitting to 5550101 failed"
wait_for "$MNT/history/$busy/status" failed 120
expect_eq "attempts of the busy job" "$(cat "$MNT/history/$busy/attempts")" 2
# Canceled: held queued by the whole-queue pause, then removed.
printf 'pause\n' >"$MNT/ctl"
cp "$WORK/doc.tif" "$MNT/outbox/5552345.tif" || fail "submitting to 5552345 failed"
rm -r "$MNT/jobs/$canceled" || fail "canceling job $canceled failed"
expect_eq "status of the canceled job" "$(cat "$MNT/history/$canceled/status")" canceled
printf 'resume\n' >"$MNT/ctl"
# Read the view: listings, properties, the log, pages and their previews.
ls -lR "$MNT" >/dev/null
cat "$MNT/server" "$MNT/metrics" "$MNT"/history/*/info "$MNT"/history/*/log >/dev/null
cat "$MNT/history/$sent"/pages/* >/dev/null
rm -r "$MNT/history/$sent" || fail "deleting history/$sent failed"

# Unmount: the daemon ends by itself and valgrind reports at its exit.
fusermount3 -u "$MNT" || fail "unmounting failed"
rc=0
for _ in $(seq 600); do
    kill -0 "$DAEMON_PID" 2>/dev/null || break
    sleep 0.1
done
kill -0 "$DAEMON_PID" 2>/dev/null && fail "faxfs under valgrind did not end within 60 s of the unmount"
wait "$DAEMON_PID" || rc=$?
DAEMON_PID=
cat "$VG_LOG"
if [ $rc -ne 0 ]; then
    cat "$VG_LOG" >&2
    fail "faxfs under valgrind exited $rc (valgrind errors or leaks above)"
fi
echo PASS

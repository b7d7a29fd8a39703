#!/bin/bash
# A start that fails at any part (identities, modems, spool, mount) says
# why, exits non-zero, tears down what it had built (a call already
# started is aborted as at a normal stop; sanitizer builds see no report)
# and leaves no daemon; the spool it leaves serves the next start.
source "$(dirname "$0")/../mount/lib.sh"

# expect_start_fails STATUS ERRTEXT faxfs-arguments...: runs the daemon in
# the foreground; its output goes to the daemon log for the sanitizer check.
expect_start_fails() {
    local want_rc=$1 want=$2 rc=0
    shift 2
    "$FAXFS" "$@" >"$WORK/start.out" 2>&1 || rc=$?
    cat "$WORK/start.out" >>"$DAEMON_LOG"
    [ "$rc" = "$want_rc" ] || fail "faxfs $*: exit status $rc, wanted $want_rc: $(cat "$WORK/start.out")"
    grep -qF -- "$want" "$WORK/start.out" || fail "faxfs $*: said '$(cat "$WORK/start.out")', wanted '$want'"
}

# Users and groups are resolved before anything is created.
expect_start_fails 2 "faxfs: --admin-group: no group named 'faxfs-t-start-nogroup'" \
    -f -s "$WORK/spool-group" --admin-group faxfs-t-start-nogroup "$MNT"
[ ! -e "$WORK/spool-group" ] || fail "a refused --admin-group created the spool"

# The modem pool fails: nothing else was built.
expect_start_fails 1 "faxfs: modems: cannot listen for AudioSocket on 256.1.1.1:4573" \
    -f -s "$SPOOL" --listen audiosocket:256.1.1.1:4573 "$MNT"

# The queue fails after the modem pool was built: the pool is torn down.
mkdir -p "$WORK/spool-bad"
touch "$WORK/spool-bad/jobs"
expect_start_fails 1 "faxfs: cannot open the spool $WORK/spool-bad: Not a directory" \
    -f -s "$WORK/spool-bad" "$MNT"

# The mount fails after modems and queue were built, with a job due in the
# spool (a number that rings unanswered): the teardown aborts its call as
# at a normal stop (an interrupted attempt, not counted), rather than
# leaving the call to the crash recovery of the next start.
make_fax "$WORK/doc.tif" 1
faxfs_start --sim-pace realtime
cp "$WORK/doc.tif" "$MNT/outbox/5550102.tif"
id=$(job_id 1)
wait_for "$MNT/jobs/$id/status" active
faxfs_stop
expect_start_fails 1 "faxfs: cannot mount $WORK/no-such-dir:" -f -s "$SPOOL" --sim-pace realtime "$WORK/no-such-dir"

# Detached, the parent reports the failure and no daemon stays behind.
expect_start_fails 1 "faxfs: cannot mount $WORK/no-such-dir:" -s "$SPOOL" --sim-pace realtime "$WORK/no-such-dir"
for _ in $(seq 100); do
    pgrep -f "faxfs -s $SPOOL" >/dev/null || break
    sleep 0.05
done
! pgrep -f "faxfs -s $SPOOL" >/dev/null || fail "a daemon stayed behind after a failed detached start"

# The spool the failed starts left serves the next start: the job is
# there, and no call of theirs was left unreported.
faxfs_start --sim-pace realtime
grep -q "^recipient_number: 5550102$" "$MNT/jobs/$id/info" || fail "the job is gone: $(cat "$MNT/jobs/$id/info")"
! grep -q "was active when the server stopped" "$DAEMON_LOG" || fail "a failed start left a call unreported"
! grep -q "the server stopped during attempt" "$MNT/jobs/$id/log" || fail "a failed start left a call unreported"
grep -q "interrupted (the server is stopping); not counted" "$MNT/jobs/$id/log" || fail "no interrupted attempt"
echo cancel >"$MNT/jobs/$id/ctl"
faxfs_stop
echo PASS

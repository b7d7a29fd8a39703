#!/bin/bash
# Several named lines: lines/NAME/ shows each; a line whose bridge has no
# dial tone fails the call over to the next line within the same attempt;
# a route sends a pattern only to its lines; bad line settings are refused
# at start naming the file and line.
source "$(dirname "$0")/lib.sh"

# Like faxfs_start, with the lines given here instead of --line sim.
start_lines() {
    "$FAXFS" -f -s "$SPOOL" --sim-pace fast "$@" "$MNT" >>"$DAEMON_LOG" 2>&1 &
    DAEMON_PID=$!
    for _ in $(seq 100); do
        mountpoint -q "$MNT" && return 0
        kill -0 "$DAEMON_PID" 2>/dev/null || fail "faxfs exited before mounting"
        sleep 0.1
    done
    fail "faxfs did not mount within 10 s"
}

# Line a's bridge exits at once with status 4: no dial tone.
printf '#!/bin/sh\nexit 4\n' >"$WORK/noline.sh"
chmod +x "$WORK/noline.sh"
make_fax "$WORK/doc.tif" 2

start_lines --line "a=exec:$WORK/noline.sh" --line b=sim --line-channels b=2
expect_eq "lines" "$(ls "$MNT/lines" | tr '\n' ' ')" "a b "
expect_eq "channels" "$(cat "$MNT"/lines/*/channels | tr '\n' ' ')" "1 2 "
expect_eq "a spec" "$(cat "$MNT/lines/a/spec")" "exec:$WORK/noline.sh"
expect_eq "a registration" "$(cat "$MNT/lines/a/registration")" "none"
expect_eq "a usable" "$(cat "$MNT/lines/a/usable")" "yes"
expect_eq "b free" "$(cat "$MNT/lines/b/free")" "2"
expect_eq "modems" "$(ls "$MNT/modems" | tr '\n' ' ')" "modem0 modem1 modem2 "
expect_eq "modem lines" "$(cat "$MNT"/modems/*/line | tr '\n' ' ')" "a b b "
expect_eq "a last_error before" "$(cat "$MNT/lines/a/last_error")" ""

cp "$WORK/doc.tif" "$MNT/outbox/5551234.tif"
id=$(job_id 1)
wait_exists "$MNT/history/$id"
expect_eq "status" "$(cat "$MNT/history/$id/status")" done
expect_eq "line used" "$(cat "$MNT/history/$id/line")" b
expect_eq "attempts" "$(cat "$MNT/history/$id/attempts")" 1
grep -q "attempt 1 on line a failed: no_line" "$MNT/history/$id/log" || fail "no failover line in the log"
grep -q "^line: b$" "$MNT/history/$id/info" || fail "info has no line"
case "$(cat "$MNT/lines/a/last_error")" in
no_line:*) ;;
*) fail "lines/a/last_error: $(cat "$MNT/lines/a/last_error")" ;;
esac
expect_eq "a failures" "$(cat "$MNT/lines/a/failures")" 1
expect_eq "b calls" "$(cat "$MNT/lines/b/calls")" 1
expect_eq "b pages" "$(cat "$MNT/lines/b/pages_sent")" 2
! (echo x >"$MNT/lines/a/spec") 2>/dev/null || fail "lines/a/spec is writable"
grep -q "^line: b$" "$SPOOL/jobs/$id/job" || grep -rq "^line: b$" "$SPOOL" || fail "the line is not in the job file"
faxfs_stop

# A configuration file with [line] sections and a route: 555XXXX only on b.
cat >"$WORK/faxfs.conf" <<CONF
route = 555XXXX b

[line a]
spec = exec:$WORK/noline.sh

[line b]
spec = sim
tsid = +1 555 0100
CONF
start_lines --config "$WORK/faxfs.conf"
cp "$WORK/doc.tif" "$MNT/outbox/5557777.tif"
id=$(job_id 2)
wait_exists "$MNT/history/$id"
expect_eq "routed status" "$(cat "$MNT/history/$id/status")" done
expect_eq "routed line" "$(cat "$MNT/history/$id/line")" b
expect_eq "a untouched" "$(cat "$MNT/lines/a/calls")" 0
! grep -q "line a" "$MNT/history/$id/log" || fail "the routed job touched line a"
faxfs_stop

# Refusals at start, naming the file and line and what to do.
printf 'modems = 1\nroute = 555* a,nowhere\n[line a]\nspec = sim\n' >"$WORK/bad.conf"
expect_fail_with "no line named 'nowhere'" "$FAXFS" -f -s "$SPOOL" --config "$WORK/bad.conf" "$MNT"
expect_fail_with "bad.conf:2" "$FAXFS" -f -s "$SPOOL" --config "$WORK/bad.conf" "$MNT"
printf '[line a]\nchannels = 2\n' >"$WORK/nospec.conf"
expect_fail_with "nospec.conf:2" "$FAXFS" -f -s "$SPOOL" --config "$WORK/nospec.conf" "$MNT"
expect_fail_with "not taken from the command line" "$FAXFS" -f -s "$SPOOL" --line a=sim \
    --line-password a=hunter2 "$MNT"
expect_fail_with "defined twice" "$FAXFS" -f -s "$SPOOL" --line a=sim --line a=sim "$MNT"
mountpoint -q "$MNT" && fail "a refused configuration mounted"
echo PASS

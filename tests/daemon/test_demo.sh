#!/bin/bash
# The README's first command on this checkout: scripts/run.sh sets up,
# builds, and mounts a live server in the foreground. It must mount, take a
# fax, and stop cleanly on Ctrl-C (SIGINT). The first run builds build/.
source "$(dirname "$0")/../mount/lib.sh"
top=$(cd "$(dirname "$0")/../.." && pwd)
demo="$WORK/demo"

# A background job of a script starts with SIGINT ignored; a terminal's
# Ctrl-C reaches a foreground one, so give the demo SIGINT back.
env --default-signal=INT FAXFS_DEMO_DIR="$demo" "$top/scripts/run.sh" "$MNT" >"$DAEMON_LOG" 2>&1 &
DAEMON_PID=$! # run.sh execs the daemon: this is its pid once it runs
for _ in $(seq 1200); do # setup and a first build can take minutes
    mountpoint -q "$MNT" && break
    kill -0 "$DAEMON_PID" 2>/dev/null || fail "scripts/run.sh ended before mounting"
    sleep 0.5
done
mountpoint -q "$MNT" || fail "scripts/run.sh did not mount $MNT"

expect_eq "ls of the demo mount" "$(ls "$MNT" | tr '\n' ' ')" "ctl groups history jobs lines metrics modems outbox received server "
cp "$demo/sample.tif" "$MNT/outbox/5551234.tif" || fail "the demo did not take the sample fax"
id=$(only_job "$MNT/jobs")
expect_eq "the sample's page count" "$(cat "$MNT/jobs/$id/page_count")" 2
grep -q "In another terminal, try:" "$DAEMON_LOG" || fail "run.sh did not print what to try"

kill -INT "$DAEMON_PID"
wait_gone "$DAEMON_PID" 10 || fail "the demo did not stop on SIGINT"
wait "$DAEMON_PID" || true
DAEMON_PID=
mountpoint -q "$MNT" && fail "the demo left $MNT mounted"
echo PASS

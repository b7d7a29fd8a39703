#!/bin/bash
# A job's files stay readable through what is already open, as a renamed
# file's do: `tail -f` on a job's log follows it to its last line after the
# job moves from jobs/ to history/, and a shell working inside jobs/<id>/
# goes on reading it there. The old path itself is gone at once.
source "$(dirname "$0")/lib.sh"
faxfs_start --modems 1 --retry-delay 1 --max-attempts 3
make_fax "$WORK/doc.tif" 1

cp "$WORK/doc.tif" "$MNT/outbox/5550101.tif" # busy: three attempts, then failed
id=$(only_job "$MNT/jobs")
timeout 60 tail -n +1 -f "$MNT/jobs/$id/log" >"$WORK/tail.out" 2>"$WORK/tail.err" &
tail_pid=$!
on_exit "kill $tail_pid 2>/dev/null"

cd "$MNT/jobs/$id"
wait_for "$MNT/history/$id/status" failed 30
expect_eq "status read in the finished job's old directory" "$(cat status)" failed
expect_eq "info read there" "$(grep '^status:' info)" "status: failed"
expect_eq "ls there" "$(ls | grep -c .)" "$(ls "$MNT/history/$id" | grep -c .)"
cd "$WORK"
[ ! -e "$MNT/jobs/$id" ] || fail "jobs/$id still resolves after the job finished"

# tail -f polls about once a second: wait for the log's last line.
last=$(tail -n 1 "$MNT/history/$id/log")
grep -q 'attempts exhausted' <<<"$last" || fail "last log line: $last"
for _ in $(seq 100); do
    grep -qxF "$last" "$WORK/tail.out" && break
    sleep 0.1
done
expect_eq "what tail -f printed" "$(cat "$WORK/tail.out")" "$(cat "$MNT/history/$id/log")"
expect_eq "tail -f errors" "$(cat "$WORK/tail.err")" ""
# Closed before the daemon stops, so every handle it opened is released.
kill "$tail_pid"
wait "$tail_pid" 2>/dev/null || true
echo PASS

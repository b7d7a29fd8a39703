#!/bin/bash
# jobs/ID/wait: `cat` returns when the job is final (done, canceled),
# Ctrl-C and kill end a waiting reader at once, and 500 waiting readers
# hold no worker the rest of the mount needs. poll() on status reports a
# change with POLLPRI.
source "$(dirname "$0")/lib.sh"
faxfs_start --modems 1
printf 'pause\n' >"$MNT/ctl" # jobs stay queued until the test resumes
make_fax "$WORK/doc.tif" 1

# A job that completes: the reader blocks while it is queued, then reads done.
cp "$WORK/doc.tif" "$MNT/outbox/5551201.tif"
a=$(job_id 1)
cat "$MNT/jobs/$a/wait" >"$WORK/wait_a" &
reader=$!
sleep 0.5
kill -0 "$reader" 2>/dev/null || fail "cat wait returned while the job was queued: '$(cat "$WORK/wait_a")'"
printf 'resume\n' >"$MNT/ctl"
wait_gone "$reader" 20 || fail "cat wait still blocked after the job was sent"
wait "$reader" || fail "cat wait failed"
expect_eq "wait of a sent job" "$(cat "$WORK/wait_a")" done
expect_eq "history status" "$(cat "$MNT/history/$a/status")" done
# A final job answers at once, through its old name and its new one.
expect_eq "wait of a finished job" "$(timeout 5 cat "$MNT/history/$a/wait")" done

printf 'pause\n' >"$MNT/ctl"
# A job removed by another process: the waiting reader reads canceled.
cp "$WORK/doc.tif" "$MNT/outbox/5551202.tif"
b=$(job_id 2)
cat "$MNT/jobs/$b/wait" >"$WORK/wait_b" &
reader=$!
sleep 0.3
rm -r "$MNT/jobs/$b"
wait_gone "$reader" 10 || fail "cat wait still blocked after rm -r"
expect_eq "wait of a canceled job" "$(cat "$WORK/wait_b")" canceled

# Ctrl-C (SIGINT) and kill -9 end a waiting reader at once.
cp "$WORK/doc.tif" "$MNT/outbox/5551203.tif"
c=$(job_id 3)
start=$(date +%s)
rc=0
timeout -s INT 1 cat "$MNT/jobs/$c/wait" || rc=$?
[ "$rc" = 124 ] || fail "cat wait under SIGINT exit $rc, wanted 124 (timed out and interrupted)"
[ $(($(date +%s) - start)) -lt 5 ] || fail "SIGINT did not end the waiting reader promptly"
cat "$MNT/jobs/$c/wait" >/dev/null &
reader=$!
sleep 0.3
kill -KILL "$reader"
wait_gone "$reader" 5 || fail "kill -9 did not end the waiting reader"
status=$(cat "$MNT/jobs/$c/status")
[ "$status" = queued ] || fail "job $c is '$status' after its readers went, wanted queued"

# 500 waiting readers: ls, cat and cp keep working meanwhile.
pids=()
for i in $(seq 500); do
    cat "$MNT/jobs/$c/wait" >"$WORK/w$i" 2>"$WORK/w$i.err" &
    pids+=($!)
done
sleep 1
for p in "${pids[0]}" "${pids[499]}"; do kill -0 "$p" 2>/dev/null || fail "a waiting reader ended early"; done
timeout 10 ls "$MNT/jobs" >/dev/null || fail "ls blocked or failed with 500 waiting readers"
expect_eq "cat status with 500 waiters" "$(timeout 10 cat "$MNT/jobs/$c/status")" queued
timeout 20 cp "$WORK/doc.tif" "$MNT/outbox/5551204.tif" || fail "cp blocked or failed with 500 waiting readers"
wait_exists "$MNT/jobs/$(job_id 4)" 10
rm -r "$MNT/jobs/$c"
# Readers not answered within 30 s are killed, and then miss from the count.
(sleep 30 && kill -KILL "${pids[@]}" 2>/dev/null) &
watchdog=$!
wait "${pids[@]}" 2>/dev/null || true
kill "$watchdog" 2>/dev/null || true
answered=$(cat "$WORK"/w[0-9]* | grep -c '^canceled$' || true)
expect_eq "waiting readers answered canceled" "$answered" 500

# poll(): nothing while the job stands still, POLLPRI once it changed.
d=$(job_id 4)
python3 - "$MNT/jobs/$d/status" "$MNT/jobs/$d/ctl" <<'PY' || fail "poll on status"
import os, select, sys, threading, time
status, ctl = sys.argv[1], sys.argv[2]
fd = os.open(status, os.O_RDONLY)
p = select.poll()
p.register(fd, select.POLLPRI)
quiet = p.poll(300)
if quiet:
    sys.exit(f"poll reported {quiet} while the job stood still")
def change():
    time.sleep(0.3)
    with open(ctl, "w") as f:
        f.write("pause\n")
threading.Thread(target=change).start()
t = time.monotonic()
events = p.poll(10000)
if not events or not events[0][1] & select.POLLPRI:
    sys.exit(f"poll after a change gave {events}, wanted POLLPRI")
with open(status) as f:
    now = f.read().strip()
if now != "paused":
    sys.exit(f"status after the change is {now}, wanted paused")
print(f"POLLPRI after {time.monotonic() - t:.2f} s")
PY
echo PASS

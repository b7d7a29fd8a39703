# bigspool.sh - sourced by restart.sh and memory.sh: a daemon on a big
# spool, started and stopped as both measure it. The caller sets MNT (the
# mount point) and TOP (the checkout); PID is the running daemon's.
PID=

# bench_start FAXFS SPOOL LOG: the daemon in the foreground of a
# background job, simulated line, one modem.
bench_start() {
    "$1" -f -s "$2" --line sim --modems 1 "$MNT" >"$3" 2>&1 &
    PID=$!
}

bench_stop() {
    if mountpoint -q "$MNT"; then fusermount3 -u -z "$MNT" || true; fi
    if [ -n "$PID" ]; then wait "$PID" 2>/dev/null || true; fi
    PID=
}

# bench_wait_loaded LOG: until the daemon logs that every stored job is in.
bench_wait_loaded() {
    until grep -q "loaded [0-9]* stored jobs" "$1"; do
        kill -0 "$PID" 2>/dev/null || { echo "faxfs exited" >&2; cat "$1" >&2; exit 1; }
        sleep 0.01
    done
}

# bench_vm KEY: the running daemon's /proc status field KEY (VmHWM, VmRSS) in kB.
bench_vm() {
    awk -v k="$1:" '$1 == k {print $2}' "/proc/$PID/status"
}

# bench_fill FAXFS SPOOL PAGE COUNT LOG: a spool of COUNT queued jobs: one
# job made through the daemon (the queue paused, so nothing is dialed),
# then copied under new ids by tests/lib/spool_clone.py (pages hard-linked).
bench_fill() {
    mkdir -p "$2"
    bench_start "$1" "$2" "$5"
    until mountpoint -q "$MNT"; do sleep 0.01; done
    echo pause >"$MNT/ctl"
    cp "$3" "$MNT/outbox/5551234.tif"
    bench_stop
    python3 "$TOP/tests/lib/spool_clone.py" "$2" "$4"
}

#!/bin/bash
# Load: LOAD_READERS (default 100) reader loops of ls, cat and find over the
# mount while 50 simulated channels send, a submitter submits and a canceller
# cancels at random, for LOAD_SECONDS (default 60). Then: every reader loop
# ends, the mount answers, the daemon lives, every job reaches a final state,
# memory returns to its baseline and the daemon log has no sanitizer report.
source "$(dirname "$0")/../mount/lib.sh"

SECS=${LOAD_SECONDS:-60}
NREADERS=${LOAD_READERS:-100}
# Bounds past the load: a reader loop checks its deadline between commands,
# so one command (on a loaded 2-core machine, in a sanitizer build) must end
# within this; jobs need at most 2 attempts 1 s apart once the load stops.
DRAIN_SECS=${LOAD_DRAIN_SECONDS:-90}
SETTLE_SECS=5

# Sanitizer builds cannot judge memory by RSS: ASan keeps freed blocks in a
# quarantine (up to 256 MiB) and TSan keeps shadow memory; their own leak
# checks report at exit instead.
sanitized=no
if grep -qaE '__(asan|tsan)_init' "$FAXFS"; then
    sanitized=yes
fi

rss_kib() { awk '/^VmRSS:/ { print $2 }' "/proc/$DAEMON_PID/status"; }

# The mount must answer within 10 s; a deadlock leaves ls hanging.
mount_answers() {
    timeout 10 ls "$MNT/jobs" >/dev/null || fail "the mount did not answer ls within 10 s ($1)"
}

make_fax "$WORK/doc.tif" 1
faxfs_start --modems 50 --retry-delay 1 --max-attempts 2 --history-days 0

# Warm up: one job of each kind through the whole path, so what the daemon
# allocates once (thread stacks, caches, libtiff state) is in the baseline.
for n in 5551000 5550101 5550105; do
    cp "$WORK/doc.tif" "$MNT/outbox/$n.tif" || fail "warm-up submission to $n failed"
done
for _ in $(seq 600); do
    [ -z "$(ls -A "$MNT/jobs")" ] && break
    sleep 0.1
done
expect_eq "warm-up jobs left unfinished" "$(ls -A "$MNT/jobs")" ""
sleep 1
RSS_BEFORE=$(rss_kib)

STOP_AT=$((SECONDS + SECS))
ACCEPTED="$WORK/accepted"   # one line per submission whose cp returned 0
CANCELED="$WORK/canceled"   # one line per rm -r jobs/<id> that returned 0
: >"$ACCEPTED"
: >"$CANCELED"
: >"$WORK/rounds"

# Each reader loop runs its own mix so that directory listings, attribute
# lookups and file reads all hit the daemon at the same time; errors are
# expected (a job moves from jobs/ to history/ under the reader) and ignored,
# so the loop (a subshell) turns off lib.sh's errexit. A loop that reaches
# its end records how many rounds it ran.
reader() {
    local k=$1 id rounds=0
    set +e +o pipefail
    while [ $SECONDS -lt $STOP_AT ]; do
        case $((k % 4)) in
        0) ls -l "$MNT" "$MNT/jobs" "$MNT/modems" >/dev/null 2>&1 ;;
        1) cat "$MNT"/jobs/*/status "$MNT"/jobs/*/device_status >/dev/null 2>&1 ;;
        2) find "$MNT/jobs" "$MNT/modems" -maxdepth 2 >/dev/null 2>&1 ;;
        3)
            id=$(ls -t "$MNT/history" 2>/dev/null | head -n 1)
            cat "$MNT/server" "$MNT/metrics" "$MNT/history/$id/info" >/dev/null 2>&1
            ;;
        esac
        k=$((k + 1))
        rounds=$((rounds + 1))
    done
    echo "$rounds" >>"$WORK/rounds"
}

# Normal numbers succeed; 5550101 is busy until --max-attempts fails it;
# 5550105 is busy twice, so with 2 attempts it may fail or succeed.
submitter() {
    set +e +o pipefail
    local num
    local nums=(5551234 5552345 5553456 5550101 5550105 5554567)
    while [ $SECONDS -lt $STOP_AT ]; do
        num=${nums[$((RANDOM % ${#nums[@]}))]}
        if cp "$WORK/doc.tif" "$MNT/outbox/$num.tif" 2>/dev/null; then
            echo "$num" >>"$ACCEPTED"
        fi
        # About 20 jobs a second: enough to keep 50 channels busy, few
        # enough that history/ stays a few thousand jobs in a minute.
        sleep 0.0$((RANDOM % 10))
    done
}

canceller() {
    set +e +o pipefail
    local ids id
    while [ $SECONDS -lt $STOP_AT ]; do
        mapfile -t ids < <(ls "$MNT/jobs" 2>/dev/null)
        if [ ${#ids[@]} -gt 0 ]; then
            id=${ids[$((RANDOM % ${#ids[@]}))]}
            # The job may have finished meanwhile: then rm fails, harmlessly.
            if rm -r "$MNT/jobs/$id" 2>/dev/null; then
                echo "$id" >>"$CANCELED"
            fi
        fi
        sleep 0.$((RANDOM % 3))
    done
}

LOAD_PIDS=()
stop_load() {
    local pid
    for pid in "${LOAD_PIDS[@]}"; do
        kill "$pid" 2>/dev/null || true
    done
    LOAD_PIDS=()
}
on_exit stop_load

# The reader loops run at a lower CPU priority than the submitter and the
# canceller: a hundred shell loops forking ls, cat and find otherwise leave
# one submitting loop a hundredth of two cores for its own forks (cp), and
# in a sanitizer build no cp got through in 20 s. The daemon gets the
# readers' requests all the same (about as many commands ran either way).
for ((r = 0; r < NREADERS; r++)); do
    # The loop lowers its own priority: renicing it from here fails when a
    # loaded machine forks the loops so slowly that one has already ended.
    (renice -n 10 -p "$BASHPID" >/dev/null && reader "$r") &
    LOAD_PIDS+=($!)
done
submitter &
LOAD_PIDS+=($!)
canceller &
LOAD_PIDS+=($!)

# While the load runs, the mount must keep answering.
while [ $SECONDS -lt $STOP_AT ]; do
    sleep 5
    kill -0 "$DAEMON_PID" 2>/dev/null || fail "faxfs died under load"
    mount_answers "under load"
done

# Every loop must end by itself: one still running is stuck in the mount.
DEADLINE=$((SECONDS + DRAIN_SECS))
for pid in "${LOAD_PIDS[@]}"; do
    while kill -0 "$pid" 2>/dev/null; do
        [ $SECONDS -lt $DEADLINE ] || fail "a load loop (pid $pid) did not end $DRAIN_SECS s after the load: deadlock"
        sleep 0.2
    done
done
LOAD_PIDS=()
expect_eq "reader loops that ran to their end" "$(grep -c . "$WORK/rounds" || true)" "$NREADERS"
kill -0 "$DAEMON_PID" 2>/dev/null || fail "faxfs died under load"
mount_answers "after the load"

# Every job reaches a final state: jobs/ empties, and history/ holds every
# accepted submission (plus the 3 warm-up jobs), each done, failed or canceled.
for _ in $(seq $((DRAIN_SECS * 10))); do
    [ -z "$(ls -A "$MNT/jobs")" ] && break
    sleep 0.1
done
expect_eq "jobs left unfinished" "$(ls -A "$MNT/jobs" | tr '\n' ' ')" ""
accepted=$(wc -l <"$ACCEPTED")
canceled=$(wc -l <"$CANCELED")
[ "$accepted" -gt 0 ] || fail "no submission was accepted under load"
expect_eq "jobs in history" "$(ls "$MNT/history" | wc -l)" $((accepted + 3))
# One read of all statuses: a glob over history/ expands once.
bad=$(cat "$MNT"/history/*/status | grep -cvxE 'done|failed|canceled' || true)
expect_eq "history jobs not in a final state" "$bad" 0
# A cancel that returned success leaves the job canceled, or done when its
# call had in fact completed every page before the abort took effect
# (docs/lifecycle.md); and no job is canceled that nobody canceled.
ncanceled=0
while read -r id; do
    st=$(cat "$MNT/history/$id/status")
    case "$st" in
    canceled) ncanceled=$((ncanceled + 1)) ;;
    done) ;;
    *) fail "job $id: rm -r jobs/$id succeeded but the job ended $st: $(cat "$MNT/history/$id/log")" ;;
    esac
done <"$CANCELED"
expect_eq "canceled jobs in history" "$(cat "$MNT"/history/*/status | grep -cx canceled || true)" "$ncanceled"

# Memory: delete the finished jobs (their metadata is legitimately held in
# memory while they are in history/), let the daemon settle, and RSS must
# be back near the baseline. Some growth is legitimate and bounded: glibc
# keeps freed pages in its per-thread malloc arenas (up to 8 per core, each
# holding what its threads once used at their peak) instead of returning
# them to the system. A leak under this load (hundreds of thousands of
# commands, hundreds of jobs) grows far past that tolerance.
for d in "$MNT"/history/*; do
    rm -r "$d" || fail "deleting $d from history failed"
done
expect_eq "history after deleting it" "$(ls -A "$MNT/history")" ""
sleep "$SETTLE_SECS"
RSS_AFTER=$(rss_kib)
RSS_LIMIT=$((RSS_BEFORE * 3 / 2 + 20 * 1024))
rounds=$(awk '{ n += $1 } END { print n + 0 }' "$WORK/rounds")
echo "load: ${SECS} s, $NREADERS reader loops ($rounds commands), $accepted jobs accepted, $canceled canceled," \
    "RSS ${RSS_BEFORE} KiB before, ${RSS_AFTER} KiB after (limit ${RSS_LIMIT} KiB, sanitized: $sanitized)"
if [ "$sanitized" = no ] && [ "$RSS_AFTER" -gt "$RSS_LIMIT" ]; then
    fail "daemon memory did not return to its baseline: ${RSS_BEFORE} KiB before, ${RSS_AFTER} KiB after"
fi

# Stop here rather than at exit, so reports the sanitizers print at exit
# (leaks, TSan's summary) are in the log when it is checked.
faxfs_stop
if grep -qE 'WARNING: ThreadSanitizer|ERROR: (Address|Leak)Sanitizer|runtime error:' "$DAEMON_LOG"; then
    fail "sanitizer report in the daemon log: $(grep -m 5 -E 'Sanitizer|runtime error:' "$DAEMON_LOG")"
fi
echo PASS

#!/bin/bash
# batch.sh - benchmark of batching (not a test).
# usage: scripts/bench/batch.sh BUILD_DIR [JOBS] [SETUP_SECONDS]
#        (defaults: 3 one-page jobs, 4 s from dialing to answer)
#
# JOBS one-page faxes of one user to one simulated number, sent twice in
# the same run on one modem channel: batched (the default --batch-max, one
# call) and with --batch-max 1 (a call per job, the baseline). The
# simulated network answers after SETUP_SECONDS (--sim-setup-time), as a
# PSTN call does, and calls run at real-time pace unless PACE=fast (line
# time is counted in samples, so it is the same at either pace; fast only
# makes the run shorter). Line time is the sum of the jobs' call_duration
# (a batched call's time is shared out: each job carries the line time of
# its own document). Prints both, the calls each made (lines/default/calls)
# and the ratio batched/separate.
set -euo pipefail

BUILD=${1:?usage: batch.sh BUILD_DIR [JOBS] [SETUP_SECONDS]}
JOBS=${2:-3}
SETUP=${3:-4}
PACE=${PACE:-realtime}
FAXFS=$BUILD/daemon/faxfs
MKFAX=$BUILD/tests/mkfax
[ -x "$FAXFS" ] && [ -x "$MKFAX" ] || { echo "batch.sh: build faxfs and mkfax in $BUILD first" >&2; exit 2; }

WORK=$(mktemp -d /tmp/faxfs-bench-batch.XXXXXX)
MNT=$WORK/mnt
PID=
stop() {
    if mountpoint -q "$MNT"; then fusermount3 -u -z "$MNT" 2>/dev/null || true; fi
    if [ -n "$PID" ]; then wait "$PID" 2>/dev/null || true; fi
    PID=
}
trap 'stop; rm -rf "$WORK"' EXIT
"$MKFAX" "$WORK/page.tif" 1

# run BATCH_MAX: prints "LINE_SECONDS CALLS" for JOBS jobs sent with it.
run() {
    local spool=$WORK/spool-$1 total=0
    mkdir -p "$spool" "$MNT"
    "$FAXFS" -f -s "$spool" --line sim --sim-pace "$PACE" --sim-setup-time "$SETUP" --modems 1 \
        --batch-max "$1" "$MNT" >>"$WORK/daemon.log" 2>&1 &
    PID=$!
    for _ in $(seq 200); do mountpoint -q "$MNT" && break; sleep 0.05; done
    mountpoint -q "$MNT" || { echo "faxfs did not mount" >&2; cat "$WORK/daemon.log" >&2; exit 1; }
    echo pause >"$MNT/ctl" # every job due at the same moment
    for _ in $(seq "$JOBS"); do cp "$WORK/page.tif" "$MNT/outbox/5551234.tif"; done
    echo resume >"$MNT/ctl"
    local ids
    ids=$(seq 100000 $((100000 + JOBS - 1)))
    for id in $ids; do
        for _ in $(seq 6000); do
            [ "$(cat "$MNT/history/$id/status" 2>/dev/null || true)" = done ] && break
            sleep 0.1
        done
        [ "$(cat "$MNT/history/$id/status" 2>/dev/null || true)" = done ] || { echo "job $id not done" >&2; exit 1; }
        total=$((total + $(sed -n 's/^call_duration: //p' "$MNT/history/$id/info")))
    done
    echo "$total $(cat "$MNT/lines/default/calls")"
    stop
}

read -r batched batched_calls < <(run 10)
read -r separate separate_calls < <(run 1)
echo "jobs: $JOBS one-page faxes to one number, set-up ${SETUP} s, pace $PACE"
echo "batched (--batch-max 10): line time ${batched} s in ${batched_calls} call(s)"
echo "separate (--batch-max 1): line time ${separate} s in ${separate_calls} call(s)"
awk -v b="$batched" -v s="$separate" 'BEGIN { printf "ratio batched/separate: %.2f\n", b / s }'

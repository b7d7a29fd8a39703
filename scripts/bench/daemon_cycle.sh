#!/usr/bin/env bash
# daemon_cycle.sh - CPU and wall time of one daemon start, mount and stop,
# what every mounted test pays at least once (crash_kill9 about 60 times).
# usage: scripts/bench/daemon_cycle.sh [FAXFS [ROUNDS]]
#        (default: build/test/daemon/faxfs, 10 rounds)
# Each round starts the daemon on a fresh spool with a simulated line (as
# tests/mount/lib.sh does), waits for the mount, unmounts it and waits for
# the daemon to end; it prints the daemon's CPU (user+sys of it and its
# children, /usr/bin/time), the time to mount and the time to stop, then the
# mean. Run it with two binaries one after the other to compare them.
set -euo pipefail
top=$(cd "$(dirname "$0")/../.." && pwd)
faxfs=${1:-$top/build/test/daemon/faxfs}
rounds=${2:-10}
[ -x "$faxfs" ] || { echo "no faxfs at $faxfs" >&2; exit 1; }
work=$(mktemp -d /tmp/faxfs-cycle.XXXXXX)
pid=
cleanup() {
    if mountpoint -q "$work/mnt" 2>/dev/null; then fusermount3 -u -z "$work/mnt" || true; fi
    if [ -n "$pid" ]; then kill -KILL "$pid" 2>/dev/null || true; wait "$pid" 2>/dev/null || true; fi
    rm -rf "$work"
}
trap cleanup EXIT
ms() { echo $(($(date +%s%N) / 1000000)); }
out="$work/rounds"
: >"$out"
for r in $(seq "$rounds"); do
    rm -rf "${work:?}/spool" "${work:?}/mnt"
    mkdir -p "$work/spool" "$work/mnt"
    t0=$(ms)
    /usr/bin/time -o "$work/time" -f '%U %S' "$faxfs" -f -s "$work/spool" --line sim --sim-pace fast \
        "$work/mnt" >>"$work/log" 2>&1 &
    pid=$!
    for _ in $(seq 500); do
        mountpoint -q "$work/mnt" && break
        kill -0 "$pid" 2>/dev/null || { cat "$work/log" >&2; echo "faxfs exited before mounting" >&2; exit 1; }
        sleep 0.01
    done
    t1=$(ms)
    fusermount3 -u -z "$work/mnt"
    wait "$pid"
    pid=
    t2=$(ms)
    read -r u s <"$work/time"
    awk -v r="$r" -v u="$u" -v s="$s" -v m=$((t1 - t0)) -v st=$((t2 - t1)) \
        'BEGIN { printf "round %d: cpu %.2f s (user %.2f, sys %.2f), mount %d ms, stop %d ms\n", r, u + s, u, s, m, st }' |
        tee -a "$out"
done
awk -v f="$faxfs" -v l="$(cut -d' ' -f1-3 /proc/loadavg)" '
    { cpu += $4; mnt += $(NF - 4); st += $(NF - 1); n++ }
    END { printf "mean of %d: cpu %.3f s, mount %d ms, stop %d ms (%s; load average %s)\n", n, cpu / n, mnt / n, st / n, f, l }' "$out"

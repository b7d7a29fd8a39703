#!/bin/bash
# call_cpu.sh - CPU of the whole daemon per simulated call (not a test).
# usage: scripts/bench/call_cpu.sh BUILD_DIR [JOBS] [MODEMS]
#        (defaults: 40 one-page jobs, 8 modem channels)
#
# Starts faxfs with simulated lines at fast pace, submits JOBS one-page
# faxes (each to its own number, so none are batched) through the mount,
# waits until every job is done and reads the daemon's CPU (utime+stime of
# /proc/PID/stat) before the first submission and after the last job is
# done (its own CPU, and apart from it its children's: the sandboxed
# document converters run at submission). In the same run, bench_modem --bare sends the same page JOBS times
# through a bare two-ended spandsp loop (DSP only). Prints both per call
# and their ratio daemon/bare, per call and per line-second (the daemon's
# calls include dialing and the answerer's set-up). FAXFS=path runs another
# daemon binary (an older build, for before/after). PERF=1 records a perf profile of the daemon
# while the jobs run (perf.data in the current directory).
set -euo pipefail

BUILD=${1:?usage: call_cpu.sh BUILD_DIR [JOBS] [MODEMS]}
JOBS=${2:-40}
MODEMS=${3:-8}
FAXFS=${FAXFS:-$BUILD/daemon/faxfs}
MKFAX=$BUILD/tests/mkfax
BENCH=$BUILD/scripts/bench/bench_modem
for b in "$FAXFS" "$MKFAX" "$BENCH"; do
    [ -x "$b" ] || { echo "call_cpu.sh: build faxfs, mkfax and bench_modem in $BUILD first" >&2; exit 2; }
done

WORK=$(mktemp -d /tmp/faxfs-bench-callcpu.XXXXXX)
MNT=$WORK/mnt
PID=
PERFPID=
stop() {
    if [ -n "$PERFPID" ]; then kill -INT "$PERFPID" 2>/dev/null || true; wait "$PERFPID" 2>/dev/null || true; fi
    PERFPID=
    if mountpoint -q "$MNT"; then fusermount3 -u -z "$MNT" 2>/dev/null || true; fi
    if [ -n "$PID" ]; then wait "$PID" 2>/dev/null || true; fi
    PID=
}
trap 'stop; rm -rf "$WORK"' EXIT
"$MKFAX" "$WORK/page.tif" 1

# CPU seconds of process $1 so far: "OWN CHILDREN", own is utime+stime
# (fields 14 and 15 of /proc/PID/stat), children cutime+cstime (16, 17:
# the document converters the daemon has waited for).
cpu_of() {
    local tck
    tck=$(getconf CLK_TCK)
    sed 's/^.*) //' "/proc/$1/stat" | awk -v t="$tck" '{ printf "%.3f %.3f\n", ($12 + $13) / t, ($14 + $15) / t }'
}

mkdir -p "$WORK/spool" "$MNT"
"$FAXFS" -f -s "$WORK/spool" --line sim --sim-pace fast --modems "$MODEMS" "$MNT" \
    >>"$WORK/daemon.log" 2>&1 &
PID=$!
for _ in $(seq 200); do mountpoint -q "$MNT" && break; sleep 0.05; done
mountpoint -q "$MNT" || { echo "faxfs did not mount" >&2; cat "$WORK/daemon.log" >&2; exit 1; }
# Let start-up work (loading, first scans) settle before counting.
sleep 1
if [ "${PERF:-0}" = 1 ]; then
    perf record -g -o perf.data -p "$PID" >/dev/null 2>&1 &
    PERFPID=$!
    sleep 0.5
fi
read -r cpu0 kids0 < <(cpu_of "$PID")
start=$(date +%s.%N)
for i in $(seq "$JOBS"); do
    cp "$WORK/page.tif" "$MNT/outbox/555$(printf %04d "$i").tif"
done
# A fresh spool hands out ids from 100000 (docs/filesystem.md).
for id in $(seq 100000 $((100000 + JOBS - 1))); do
    for _ in $(seq 6000); do
        st=$(cat "$MNT/history/$id/status" 2>/dev/null || true)
        case $st in done|failed) break ;; esac
        sleep 0.05
    done
    case $st in done) ;; *) echo "job $id: status '$st'" >&2; exit 1 ;; esac
done
line=0
for id in $(seq 100000 $((100000 + JOBS - 1))); do
    line=$((line + $(sed -n 's/^call_duration: //p' "$MNT/history/$id/info")))
done
read -r cpu1 kids1 < <(cpu_of "$PID")
end=$(date +%s.%N)
stop

read -r bare bare_line < <("$BENCH" --bare "$JOBS" "$WORK/page.tif" | awk '{ print $4, $6 }')
echo "jobs: $JOBS one-page faxes, $MODEMS channels, fast pace; load average $(cut -d' ' -f1-3 /proc/loadavg)"
awk -v a="$cpu0" -v b="$cpu1" -v k0="$kids0" -v k1="$kids1" -v w0="$start" -v w1="$end" -v n="$JOBS" -v bare="$bare" -v line="$line" -v bline="$bare_line" 'BEGIN {
    d = b - a
    printf "daemon: %.3f cpu-s (%.1f ms per call), %.1f s wall, %d line-s (call_duration)\n", d, d * 1000 / n, w1 - w0, line
    printf "document converters (children): %.3f cpu-s (%.1f ms per call)\n", k1 - k0, (k1 - k0) * 1000 / n
    printf "bare spandsp loop: %.3f cpu-s (%.1f ms per call), %.1f line-s\n", bare, bare * 1000 / n, bline
    printf "ratio daemon/bare per call: %.2f\n", d / bare
    # The calls of the daemon are longer on the line (dialing, ringing,
    # the set-up of the simulated answerer): CPU per line-second compares
    # the DSP work itself.
    if (line > 0 && bline > 0)
        printf "ratio daemon/bare per line-second: %.2f\n", (d / line) / (bare / bline)
}'

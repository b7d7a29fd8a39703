#!/bin/bash
# call_cpu.sh - CPU of the whole daemon per simulated call (not a test).
# usage: scripts/bench/call_cpu.sh BUILD_DIR [JOBS] [MODEMS]
#        (defaults: 40 one-page jobs, 8 modem channels)
#
# Starts faxfs with simulated lines at fast pace, submits JOBS one-page
# faxes (each to its own number, so none are batched) through the mount,
# waits until every job is done and reads the CPU before the first
# submission and after the last job is done: of the whole daemon (every
# process of its own cgroup: its threads and the kept converter
# sandboxes, which are long-lived children never waited for) and of the
# daemon process alone (utime+stime of /proc/PID/stat); the difference is
# the sandboxes'. Needs root for the cgroup (cgroup v2, or v1 cpuacct);
# without one it prints the daemon process alone and says so.
# The queue is paused while the jobs are submitted: the submissions' CPU
# and the calls' are printed apart. It waits on each job's `wait` file (a
# parked read, no polling) and reads call_duration only after the second
# CPU reading.
# In the same run, bench_modem --bare sends the same page JOBS times
# through a bare two-ended spandsp loop (DSP only, the same T.30 idents as
# the daemon's call). Prints both per call and their ratio daemon/bare,
# per call and per line-second (the daemon's calls include 2 s of ringing,
# --sim-setup-time, in which no DSP runs). FAXFS=path runs another daemon
# binary (an older build, for before/after). PERF=1 records a perf profile
# of the daemon while the jobs run (perf.data in the current directory).
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
CG=
# The daemon's own cgroup: cpu.stat usage_usec (v2) or cpuacct.usage in
# ns (v1) counts every process in it, waited for or not.
CGV2=$(awk '$3 == "cgroup2" { print $2; exit }' /proc/mounts)
CGV1=$(awk '$3 == "cgroup" && $4 ~ /(^|,)cpuacct(,|$)/ { print $2; exit }' /proc/mounts)
if [ -n "$CGV2" ] && mkdir "$CGV2/faxfs-bench-$$" 2>/dev/null; then
    CG=$CGV2/faxfs-bench-$$
elif [ -n "$CGV1" ] && mkdir "$CGV1/faxfs-bench-$$" 2>/dev/null; then
    CG=$CGV1/faxfs-bench-$$
fi
# Whole-cgroup CPU seconds so far.
cg_cpu() {
    if [ -f "$CG/cpu.stat" ]; then
        awk '$1 == "usage_usec" { printf "%.3f\n", $2 / 1e6 }' "$CG/cpu.stat"
    else
        awk '{ printf "%.3f\n", $1 / 1e9 }' "$CG/cpuacct.usage"
    fi
}
stop() {
    if [ -n "$PERFPID" ]; then kill -INT "$PERFPID" 2>/dev/null || true; wait "$PERFPID" 2>/dev/null || true; fi
    PERFPID=
    if mountpoint -q "$MNT"; then fusermount3 -u -z "$MNT" 2>/dev/null || true; fi
    if [ -n "$PID" ]; then wait "$PID" 2>/dev/null || true; fi
    PID=
    if [ -n "$CG" ]; then
        # Sandboxes end with the daemon; give them a moment, then remove the group.
        for _ in $(seq 50); do [ -z "$(cat "$CG/cgroup.procs" 2>/dev/null)" ] && break; sleep 0.1; done
        for p in $(cat "$CG/cgroup.procs" 2>/dev/null); do kill "$p" 2>/dev/null || true; done
        rmdir "$CG" 2>/dev/null || true
        CG=
    fi
}
trap 'stop; rm -rf "$WORK"' EXIT
"$MKFAX" "$WORK/page.tif" 1

# CPU seconds of process $1 so far, utime+stime (fields 14 and 15 of
# /proc/PID/stat): every thread of the daemon process, no child.
cpu_of() {
    local tck
    tck=$(getconf CLK_TCK)
    sed 's/^.*) //' "/proc/$1/stat" | awk -v t="$tck" '{ printf "%.3f\n", ($12 + $13) / t }'
}

mkdir -p "$WORK/spool" "$MNT"
# The daemon enters its cgroup before exec; the converters it starts
# inherit it. The shell, cp and cat stay outside.
CGPROCS=${CG:+$CG/cgroup.procs}
sh -c 'if [ -n "$1" ]; then echo $$ > "$1"; fi; shift; exec "$@"' sh "$CGPROCS" \
    "$FAXFS" -f -s "$WORK/spool" --line sim --sim-pace fast --modems "$MODEMS" "$MNT" \
    >>"$WORK/daemon.log" 2>&1 &
PID=$!
for _ in $(seq 200); do mountpoint -q "$MNT" && break; sleep 0.05; done
mountpoint -q "$MNT" || { echo "faxfs did not mount" >&2; cat "$WORK/daemon.log" >&2; exit 1; }
# Let start-up work (loading, first scans, the kept sandboxes) settle before counting.
sleep 1
if [ "${PERF:-0}" = 1 ]; then
    perf record -g -o perf.data -p "$PID" >/dev/null 2>&1 &
    PERFPID=$!
    sleep 0.5
fi
cpu0=$(cpu_of "$PID")
all0=$( [ -n "$CG" ] && cg_cpu || echo 0)
start=$(date +%s.%N)
# The queue is paused while the jobs are submitted, so the CPU of the
# submissions (FUSE writes, checks, staging, flushes) and of the calls are
# read apart.
echo pause > "$MNT/ctl"
for i in $(seq "$JOBS"); do
    cp "$WORK/page.tif" "$MNT/outbox/555$(printf %04d "$i").tif"
done
cpum=$(cpu_of "$PID")
allm=$( [ -n "$CG" ] && cg_cpu || echo 0)
echo resume > "$MNT/ctl"
# A fresh spool hands out ids from 100000 (docs/filesystem.md). Reading
# jobs/ID/wait parks until the job is final (one lookup, open and read per
# job); a job already final is under history/.
for id in $(seq 100000 $((100000 + JOBS - 1))); do
    st=
    for _ in $(seq 100); do
        st=$(cat "$MNT/jobs/$id/wait" 2>/dev/null || cat "$MNT/history/$id/wait" 2>/dev/null || true)
        [ -n "$st" ] && break
        sleep 0.2 # between jobs/ and history/ at that moment
    done
    case $st in done) ;; *) echo "job $id: status '$st'" >&2; exit 1 ;; esac
done
cpu1=$(cpu_of "$PID")
all1=$( [ -n "$CG" ] && cg_cpu || echo 0)
end=$(date +%s.%N)
line=0
for id in $(seq 100000 $((100000 + JOBS - 1))); do
    line=$((line + $(sed -n 's/^call_duration: //p' "$MNT/history/$id/info")))
done
havecg=$([ -n "$CG" ] && echo 1 || echo 0)
stop

read -r bare bare_line < <("$BENCH" --bare "$JOBS" "$WORK/page.tif" | awk '{ print $4, $6 }')
echo "jobs: $JOBS one-page faxes, $MODEMS channels, fast pace; load average $(cut -d' ' -f1-3 /proc/loadavg)"
awk -v a="$cpu0" -v b="$cpu1" -v m="$cpum" -v gm="$allm" -v g0="$all0" -v g1="$all1" -v cg="$havecg" -v w0="$start" -v w1="$end" -v n="$JOBS" -v bare="$bare" -v line="$line" -v bline="$bare_line" 'BEGIN {
    p = b - a
    d = cg ? g1 - g0 : p
    if (cg)
        printf "whole daemon (its cgroup): %.3f cpu-s (%.1f ms per call), %.1f s wall, %d line-s (call_duration)\n", d, d * 1000 / n, w1 - w0, line
    else
        printf "whole daemon: NOT MEASURED (no cgroup: run as root); daemon process only below, %.1f s wall, %d line-s\n", w1 - w0, line
    printf "  daemon process (its threads): %.3f cpu-s (%.1f ms per call)\n", p, p * 1000 / n
    if (cg)
        printf "  converter sandboxes (the rest of the cgroup): %.3f cpu-s (%.1f ms per call)\n", d - p, (d - p) * 1000 / n
    sm = cg ? gm - g0 : m - a
    printf "  submitting (queue paused): %.3f cpu-s (%.1f ms per job); the calls: %.3f cpu-s (%.1f ms per call)\n", sm, sm * 1000 / n, d - sm, (d - sm) * 1000 / n
    printf "bare spandsp loop: %.3f cpu-s (%.1f ms per call), %.1f line-s\n", bare, bare * 1000 / n, bline
    printf "ratio daemon/bare per call: %.2f\n", d / bare
    # The daemon'"'"'s calls are longer on the line by the ringing
    # (--sim-setup-time, 2 s, no DSP): CPU per line-second compares the
    # DSP work itself.
    if (line > 0 && bline > 0)
        printf "ratio daemon/bare per line-second: %.2f\n", (d / line) / (bare / bline)
}'

#!/bin/bash
# restart.sh - benchmark of a restart on a big spool (not a test).
# usage: scripts/bench/restart.sh BUILD_DIR [COUNT...]   (default: 10000 100000; root)
#
# For each COUNT: one queued job is made through the daemon (the queue
# paused, so nothing is dialed), the daemon stopped, and the spool grown to
# COUNT jobs by tests/lib/spool_clone.py (copies of that job under new ids,
# pages hard-linked). Then the daemon is started on it, warm (the spool in
# the page cache) and, with COLD=1, once more after dropping the caches,
# and the run prints (the warm start follows the cloning, which rewrote
# next_id, so it lists jobs/ before the mount; the cold one follows a clean
# stop and lists after; cold_nm is a cold start with the clean-stop mark
# removed, as after a crash: docs/spool-format.md "Ids"):
#   mounted   start to the mount serving (mountpoint answers)
#   first     start to `cat jobs/LAST/status` of the last id answered
#   loaded    start to the daemon's "loaded N stored jobs" log line
#   rss       VmHWM and VmRSS of the daemon once loaded (MB)
#   ls -l     `ls -l jobs/` on the mount and on a copy of the spool's
#             jobs/ tree in a tmpfs (same names, same count), and the ratio
#   read      baseline: reading every job file of the spool with cat (the
#             bytes the load must read at least), and loaded/read
set -euo pipefail

BUILD=${1:?usage: restart.sh BUILD_DIR [COUNT...]}
shift
COUNTS=("$@")
[ ${#COUNTS[@]} -gt 0 ] || COUNTS=(10000 100000)
[ "$(id -u)" = 0 ] || { echo "restart.sh: run as root (tmpfs mount)" >&2; exit 2; }
TOP=$(cd "$(dirname "$0")/../.." && pwd)
FAXFS=$BUILD/daemon/faxfs
MKFAX=$BUILD/tests/mkfax
[ -x "$FAXFS" ] && [ -x "$MKFAX" ] || { echo "restart.sh: build faxfs and mkfax in $BUILD first" >&2; exit 2; }

WORK=$(mktemp -d /tmp/faxfs-bench-restart.XXXXXX)
MNT=$WORK/mnt TMPFS=$WORK/tmpfs
mkdir -p "$MNT" "$TMPFS"
. "$TOP/scripts/bench/bigspool.sh"
cleanup() {
    bench_stop
    mountpoint -q "$TMPFS" && umount "$TMPFS"
    rm -rf "$WORK"
}
trap cleanup EXIT
mount -t tmpfs -o size=2g tmpfs "$TMPFS"
"$MKFAX" "$WORK/page.tif" 1

now() { date +%s.%N; }
since() { echo "$(now) - $1" | bc -l; }

# run SPOOL COUNT LABEL: one start, measured.
run() {
    local spool=$1 count=$2 label=$3 log=$WORK/daemon.$3.log t0 mounted first loaded last
    last=$(ls "$spool/jobs" | sort -n | tail -1)
    t0=$(now)
    bench_start "$FAXFS" "$spool" "$log"
    until mountpoint -q "$MNT"; do
        kill -0 "$PID" 2>/dev/null || { echo "faxfs exited" >&2; cat "$log" >&2; exit 1; }
        sleep 0.005
    done
    mounted=$(since "$t0")
    [ "$(cat "$MNT/jobs/$last/status")" = queued ] || { echo "job $last is not queued" >&2; exit 1; }
    first=$(since "$t0")
    bench_wait_loaded "$log"
    loaded=$(since "$t0")
    local hwm rss
    hwm=$(bench_vm VmHWM)
    rss=$(bench_vm VmRSS)
    local n
    n=$(ls "$MNT/jobs" | wc -l)
    [ "$n" = "$count" ] || { echo "restart.sh: $n jobs listed, wanted $count" >&2; exit 1; }
    local l0 lsm lst
    l0=$(now); ls -l "$MNT/jobs" >/dev/null; lsm=$(since "$l0")
    l0=$(now); ls -l "$TMPFS/jobs" >/dev/null; lst=$(since "$l0")
    printf '%-7s %7s %8.3f %8.3f %8.3f %6.1f %6.1f %8.3f %8.3f %7.1f %8.1f\n' "$label" "$count" "$mounted" "$first" \
        "$loaded" "$(echo "$hwm / 1024" | bc -l)" "$(echo "$rss / 1024" | bc -l)" "$lsm" "$lst" \
        "$(echo "$lsm / $lst" | bc -l)" "$(echo "$loaded / $READ" | bc -l)"
    bench_stop
}

printf '%-7s %7s %8s %8s %8s %6s %6s %8s %8s %7s %8s\n' "" jobs "mounted" "first" "loaded" "hwm_MB" "rss_MB" \
    "ls_mount" "ls_tmpfs" "x_tmpfs" "x_read"
for count in "${COUNTS[@]}"; do
    spool=$WORK/spool.$count
    bench_fill "$FAXFS" "$spool" "$WORK/page.tif" "$count" "$WORK/make.log"
    # The baseline and the tmpfs copy (same tree: job directories with
    # their job, log and pages/).
    rm -rf "${TMPFS:?}/jobs"
    cp -a "$spool/jobs" "$TMPFS/jobs"
    find "$spool/jobs" -name job -exec cat {} + >/dev/null # into the page cache
    r0=$(now)
    find "$spool/jobs" -name job -exec cat {} + >/dev/null
    READ=$(since "$r0")
    run "$spool" "$count" warm
    if [ "${COLD:-0}" = 1 ]; then
        sync
        echo 3 >/proc/sys/vm/drop_caches
        run "$spool" "$count" cold
        # The same cold start without the clean-stop mark, as after a
        # crash: jobs/ is listed before the mount.
        sync
        echo 3 >/proc/sys/vm/drop_caches
        rm -f "$spool/clean"
        run "$spool" "$count" cold_nm
    fi
    printf '%-7s %7s read every job file (find | cat): %.3f s\n' "" "$count" "$READ"
    rm -rf "$spool" "${TMPFS:?}/jobs"
done

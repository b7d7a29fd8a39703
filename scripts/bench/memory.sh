#!/bin/bash
# memory.sh - the daemon's memory with a big queue (a benchmark, not a test).
# usage: scripts/bench/memory.sh COUNT BUILD_DIR [BUILD_DIR...]   (root)
#
# Makes one spool of COUNT queued jobs as restart.sh does (one job made
# through the daemon of the first BUILD_DIR, the queue paused, then copies
# under new ids by tests/lib/spool_clone.py), then starts the faxfs of
# each BUILD_DIR on that same spool in turn, as restart.sh starts it, and
# prints, once the daemon logs "loaded N stored jobs": VmHWM and VmRSS
# (MB), the load time, and the bytes per job (VmRSS / COUNT). Give an
# older build as a second BUILD_DIR for a before/after in one run.
set -euo pipefail

COUNT=${1:?usage: memory.sh COUNT BUILD_DIR [BUILD_DIR...]}
shift
[ $# -ge 1 ] || { echo "usage: memory.sh COUNT BUILD_DIR [BUILD_DIR...]" >&2; exit 2; }
[ "$(id -u)" = 0 ] || { echo "memory.sh: run as root (as restart.sh)" >&2; exit 2; }
TOP=$(cd "$(dirname "$0")/../.." && pwd)
for b in "$@"; do
    [ -x "$b/daemon/faxfs" ] || { echo "memory.sh: no $b/daemon/faxfs" >&2; exit 2; }
done
[ -x "$1/tests/mkfax" ] || { echo "memory.sh: build mkfax in $1 first" >&2; exit 2; }

WORK=$(mktemp -d /tmp/faxfs-bench-memory.XXXXXX)
MNT=$WORK/mnt SPOOL=$WORK/spool
mkdir -p "$MNT" "$SPOOL"
. "$TOP/scripts/bench/bigspool.sh"
cleanup() {
    bench_stop
    rm -rf "$WORK"
}
trap cleanup EXIT

"$1/tests/mkfax" "$WORK/page.tif" 1
bench_fill "$1/daemon/faxfs" "$SPOOL" "$WORK/page.tif" "$COUNT" "$WORK/make.log"

printf '%-40s %8s %8s %8s %8s %10s\n' build jobs hwm_MB rss_MB loaded_s rss_B/job
for b in "$@"; do
    log=$WORK/daemon.log
    t0=$(date +%s.%N)
    bench_start "$b/daemon/faxfs" "$SPOOL" "$log"
    bench_wait_loaded "$log"
    t1=$(date +%s.%N)
    hwm=$(bench_vm VmHWM)
    rss=$(bench_vm VmRSS)
    n=$(ls "$MNT/jobs" | wc -l)
    [ "$n" = "$COUNT" ] || { echo "memory.sh: $n jobs listed, wanted $COUNT" >&2; exit 1; }
    printf '%-40s %8s %8.1f %8.1f %8.1f %10.0f\n' "$b" "$COUNT" "$(echo "$hwm / 1024" | bc -l)" \
        "$(echo "$rss / 1024" | bc -l)" "$(echo "$t1 - $t0" | bc -l)" "$(echo "$rss * 1024 / $COUNT" | bc -l)"
    bench_stop
done

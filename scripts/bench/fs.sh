#!/bin/bash
# fs.sh - benchmark of the filesystem view (not a test).
# usage: scripts/bench/fs.sh BUILD_DIR [JOBS...]   (default: 1000 10000; root)
#
# Starts the daemon with the queue paused and submits JOBS one-page jobs
# through the mount (cp into outbox/, so they stay queued). The same tree is
# copied to tmpfs, and served from memory by bench_memfs, the thinnest FUSE
# filesystem (same libfuse loop and cache settings as faxfs, no queue).
# Each operation is timed on all three in the same run:
#   ls -l jobs, cat jobs/*/info, find -type f | wc -l, every page, every
#   page preview (PNG, rendered by faxfs on first use).
# Ratios: faxfs/tmpfs (what the issue's goals are stated in) and
# faxfs/memfs (what the view costs above any FUSE filesystem).
# Passes: cold (fresh mounts, caches dropped), warm (the next pass: the
# first read of a file marks its access time stale, so the kernel asks for
# its attributes once more), hot (the best of three further passes).
# Then the throughput of large pages: 32 jobs of four 1 MB pages, in MB/s.
#
# The spool is on tmpfs like the baseline, so "cold" is the cost of the view
# and the kernel's empty caches, not of a disk against RAM. SPOOL_ON=disk
# puts it under /tmp instead.
set -euo pipefail

BUILD=${1:?usage: fs.sh BUILD_DIR [JOBS...]}
shift
COUNTS=("$@")
[ $# -eq 0 ] && COUNTS=(1000 10000)
[ "$(id -u)" = 0 ] || { echo "fs.sh: run as root (tmpfs mounts, drop_caches)" >&2; exit 2; }
FAXFS=$BUILD/daemon/faxfs
MEMFS=$BUILD/scripts/bench/bench_memfs
MKFAX=$BUILD/tests/mkfax
[ -x "$MKFAX" ] || MKFAX=$(find "$BUILD" -name mkfax -type f -perm -u+x | head -1)
[ -x "$MEMFS" ] || cmake --build "$BUILD" --target bench_memfs >/dev/null

WORK=$(mktemp -d /tmp/faxfs-bench.XXXXXX)
RAM=$WORK/ram
MNT=$WORK/faxfs
MEM=$WORK/memfs
PID= MPID=
mkdir -p "$RAM" "$MNT" "$MEM"
cleanup() {
    for m in "$MNT" "$MEM"; do mountpoint -q "$m" && fusermount3 -u -z "$m"; done
    for p in $PID $MPID; do kill "$p" 2>/dev/null || true; wait "$p" 2>/dev/null || true; done
    mountpoint -q "$RAM" && umount "$RAM"
    rm -rf "$WORK"
}
trap cleanup EXIT
mount -t tmpfs -o size=8g tmpfs "$RAM"
TREE=$RAM/tree
SPOOL=$RAM/spool
[ "${SPOOL_ON:-tmpfs}" = disk ] && SPOOL=$WORK/spool

wait_mount() {
    for _ in $(seq 300); do mountpoint -q "$1" && return; sleep 0.1; done
    echo "fs.sh: $1 did not mount" >&2
    exit 1
}
start() {
    "$FAXFS" -f -s "$SPOOL" --modems 1 "$MNT" >>"$WORK/daemon.log" 2>&1 &
    PID=$!
    wait_mount "$MNT"
}
stop() { fusermount3 -u "$MNT"; wait "$PID" || true; PID=; }
start_memfs() {
    "$MEMFS" "$TREE" "$MEM" 2>>"$WORK/memfs.log" &
    MPID=$!
    wait_mount "$MEM"
}
stop_memfs() { fusermount3 -u "$MEM"; wait "$MPID" || true; MPID=; }
drop() { sync; echo 3 >/proc/sys/vm/drop_caches; }

timeit() { # prints seconds for "$@"
    local t0 t1
    t0=$(date +%s.%N)
    "$@" >/dev/null 2>&1
    t1=$(date +%s.%N)
    echo "$t1 - $t0" | bc
}
best3() { # the fastest of three runs
    local best= t
    for _ in 1 2 3; do
        t=$(timeit "$@")
        if [ -z "$best" ] || [ "$(echo "$t < $best" | bc)" = 1 ]; then best=$t; fi
    done
    echo "$best"
}

op_ls() { ls -l "$1/jobs"; }
op_cat() { cat "$1"/jobs/*/info; }
op_find() { find "$1" -type f | wc -l; }
op_pages() { cat "$1"/jobs/*/pages/*.tif; }
op_previews() { cat "$1"/jobs/*/pages/*.png; }

# Fills the queue to $1 jobs from document $2 and mirrors it into $TREE.
fill() {
    local n=$1 doc=$2 have
    have=$(find "$MNT/jobs" -mindepth 1 -maxdepth 1 | wc -l)
    while [ "$have" -lt "$n" ]; do
        cp "$doc" "$MNT/outbox/555$((1000000 + have)).tif"
        have=$((have + 1))
    done
    rm -rf "$TREE"
    mkdir -p "$TREE"
    cp -r "$MNT/jobs" "$TREE/jobs"
}

ratio() { echo "$1 / $2" | bc -l; }

"$MKFAX" "$WORK/doc.tif" 1
start
echo pause >"$MNT/ctl"
printf '%-6s %-8s %-5s %9s %9s %9s %8s %8s\n' jobs op pass faxfs_s memfs_s tmpfs_s x_tmpfs x_memfs
for n in "${COUNTS[@]}"; do
    fill "$n" "$WORK/doc.tif"
    for op in ls cat find pages previews; do
        stop
        drop
        start
        start_memfs
        drop
        f=$(timeit "op_$op" "$MNT")
        m=$(timeit "op_$op" "$MEM")
        t=$(timeit "op_$op" "$TREE")
        printf '%-6s %-8s %-5s %9.3f %9.3f %9.3f %8.2f %8.2f\n' "$n" "$op" cold "$f" "$m" "$t" "$(ratio "$f" "$t")" "$(ratio "$f" "$m")"
        f=$(timeit "op_$op" "$MNT")
        m=$(timeit "op_$op" "$MEM")
        t=$(timeit "op_$op" "$TREE")
        printf '%-6s %-8s %-5s %9.3f %9.3f %9.3f %8.2f %8.2f\n' "$n" "$op" warm "$f" "$m" "$t" "$(ratio "$f" "$t")" "$(ratio "$f" "$m")"
        f=$(best3 "op_$op" "$MNT")
        m=$(best3 "op_$op" "$MEM")
        t=$(best3 "op_$op" "$TREE")
        printf '%-6s %-8s %-5s %9.3f %9.3f %9.3f %8.2f %8.2f\n' "$n" "$op" hot "$f" "$m" "$t" "$(ratio "$f" "$t")" "$(ratio "$f" "$m")"
        stop_memfs
    done
done
stop

# Large pages: dense random dots, the worst case for fax compression, so
# each page is about 1 MB and reading them measures bandwidth, not opens.
cat >"$WORK/big.ps" <<'EOF'
%!PS
/row 216 string def
4 { gsave 612 792 scale
    1728 2292 true [1728 0 0 -2292 0 2292]
    { 0 1 215 { row exch rand -7 bitshift 255 and put } for row } imagemask
    grestore showpage } repeat
EOF
gs -q -dSAFER -dBATCH -dNOPAUSE -sDEVICE=tiffg4 -r204x196 -g1728x2292 -sOutputFile="$WORK/big.tif" "$WORK/big.ps"
rm -rf "$SPOOL"
start
echo pause >"$MNT/ctl"
fill 32 "$WORK/big.tif"
mb=$(du -sm --apparent-size "$TREE"/jobs/*/pages/*.tif | awk '{s += $1} END {print s}')
printf '\n%-13s %-5s %9s %9s %9s %8s %8s\n' "large pages" pass faxfs_MBs memfs_MBs tmpfs_MBs x_tmpfs x_memfs
for pass in cold warm hot; do
    if [ $pass = cold ]; then
        stop
        drop
        start
        start_memfs
        drop
    fi
    if [ $pass = hot ]; then
        f=$(best3 op_pages "$MNT") m=$(best3 op_pages "$MEM") t=$(best3 op_pages "$TREE")
    else
        f=$(timeit op_pages "$MNT") m=$(timeit op_pages "$MEM") t=$(timeit op_pages "$TREE")
    fi
    printf '%-13s %-5s %9.0f %9.0f %9.0f %8.2f %8.2f\n' "32x4 pages" $pass "$(ratio "$mb" "$f")" "$(ratio "$mb" "$m")" \
        "$(ratio "$mb" "$t")" "$(ratio "$t" "$f")" "$(ratio "$m" "$f")"
done
echo "($mb MB of pages; throughput ratios are faxfs/baseline, higher is better)"

#!/bin/bash
# fs.sh - benchmark of the filesystem view against tmpfs (not a test).
# usage: scripts/bench/fs.sh BUILD_DIR [JOBS...]   (default: 1000 10000)
# Starts the daemon with the queue paused, submits JOBS one-page jobs through
# the mount (cp into outbox/, so they stay queued), copies the same tree to
# tmpfs, and times on both: ls -l jobs, cat jobs/*/info, find -type f | wc -l,
# reading every page, and every page preview (PNG). Cold: a fresh mount after
# echo 3 > /proc/sys/vm/drop_caches (root only). Warm: the second run over
# the same files. Hot: the third run: the first read of a file into the page
# cache marks its access time stale in the kernel, so the second run still
# asks the daemon for attributes once per file; the third asks nothing but
# the open.
set -euo pipefail

BUILD=${1:?usage: fs.sh BUILD_DIR [JOBS...]}
shift
COUNTS=("${@:-1000}")
[ $# -eq 0 ] && COUNTS=(1000 10000)
FAXFS=$BUILD/daemon/faxfs
MKFAX=$BUILD/tests/mkfax
[ -x "$MKFAX" ] || MKFAX=$(find "$BUILD" -name mkfax -type f -perm -u+x | head -1)

WORK=$(mktemp -d /tmp/faxfs-bench.XXXXXX)
TMPFS=$WORK/tmpfs
MNT=$WORK/mnt
PID=
mkdir -p "$MNT" "$TMPFS"
cleanup() {
    mountpoint -q "$MNT" && fusermount3 -u -z "$MNT"
    [ -n "$PID" ] && { kill "$PID" 2>/dev/null || true; wait "$PID" 2>/dev/null || true; }
    mountpoint -q "$TMPFS" && umount "$TMPFS"
    rm -rf "$WORK"
}
trap cleanup EXIT
mount -t tmpfs -o size=2g tmpfs "$TMPFS" 2>/dev/null || echo "note: no tmpfs mount (not root); using $TMPFS as is"

start() {
    "$FAXFS" -f -s "$WORK/spool" --modems 1 "$MNT" >>"$WORK/daemon.log" 2>&1 &
    PID=$!
    for _ in $(seq 100); do mountpoint -q "$MNT" && return; sleep 0.1; done
    echo "faxfs did not mount" >&2
    exit 1
}
stop() { fusermount3 -u "$MNT"; wait "$PID" || true; PID=; }

timeit() { # prints seconds for "$@"
    local t0 t1
    t0=$(date +%s.%N)
    "$@" >/dev/null 2>&1
    t1=$(date +%s.%N)
    echo "$t1 - $t0" | bc
}
drop() { sync; echo 3 >/proc/sys/vm/drop_caches 2>/dev/null; }

op_ls() { ls -l "$1/jobs"; }
op_cat() { cat "$1"/jobs/*/info; }
op_find() { find "$1" -type f | wc -l; }
op_pages() { cat "$1"/jobs/*/pages/*.tif; }
op_previews() { cat "$1"/jobs/*/pages/*.png; } # cold: every preview rendered

"$MKFAX" "$WORK/doc.tif" 1
start
echo pause >"$MNT/ctl"
have=0
printf '%-7s %-8s %-6s %10s %10s %7s\n' jobs op cache faxfs_s tmpfs_s ratio
for n in "${COUNTS[@]}"; do
    while [ $have -lt "$n" ]; do
        cp "$WORK/doc.tif" "$MNT/outbox/555$((1000000 + have)).tif"
        have=$((have + 1))
    done
    rm -rf "${TMPFS:?}"/*
    cp -r "$MNT/jobs" "$TMPFS/jobs"
    for op in ls cat find pages previews; do
        for cache in cold warm hot; do
            if [ $cache = cold ]; then
                stop; drop; start # a fresh mount has no kernel caches
                drop
            elif [ $cache = warm ]; then
                "op_$op" "$MNT" >/dev/null 2>&1; "op_$op" "$TMPFS" >/dev/null 2>&1
            fi
            f=$(timeit "op_$op" "$MNT")
            [ $cache = cold ] && drop
            t=$(timeit "op_$op" "$TMPFS")
            printf '%-7s %-8s %-6s %10.3f %10.3f %7.2f\n' "$n" "$op" "$cache" "$f" "$t" "$(echo "$f / $t" | bc -l)"
        done
    done
done

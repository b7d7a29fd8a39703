#!/bin/bash
# submit.sh - benchmark of submission (not a test).
# usage: scripts/bench/submit.sh BUILD_DIR [FILES] [RECIPIENTS]
#        (defaults: 200 one-page faxes, a 10000-number broadcast; root)
#
# Single jobs: FILES one-page fax TIFFs copied into outbox/ by 1 and by 8
# parallel cp writers (each close() returns once the job is durable in the
# spool), against the same cp runs writing the same files into a tmpfs
# directory, in the same run. Prints jobs/s for each and the ratio
# faxfs/tmpfs (in time: how many times slower than a plain copy).
# Broadcast: one draft whose recipients file holds RECIPIENTS numbers,
# submitted with `echo submit > ctl`; prints the time until the write
# returned (every job durable) and jobs/s; then the same with a cover page
# per recipient, as a ratio to the one without.
# The spool is on disk (under /tmp) unless SPOOL_ON=tmpfs: durability costs
# what the disk's fsync costs.
# STORE=postgresql keeps the queue in a private PostgreSQL server instead
# (tests/lib/postgres.sh, its data under /tmp, fsync on): the same runs,
# against the same tmpfs baseline.
set -euo pipefail

BUILD=${1:?usage: submit.sh BUILD_DIR [FILES] [RECIPIENTS]}
FILES=${2:-200}
RECIPIENTS=${3:-10000}
[ "$(id -u)" = 0 ] || { echo "submit.sh: run as root (tmpfs mount)" >&2; exit 2; }
FAXFS=$BUILD/daemon/faxfs
MKFAX=$BUILD/tests/mkfax
[ -x "$FAXFS" ] && [ -x "$MKFAX" ] || { echo "submit.sh: build faxfs and mkfax in $BUILD first" >&2; exit 2; }

WORK=$(mktemp -d /tmp/faxfs-bench-submit.XXXXXX)
MNT=$WORK/mnt SPOOL=$WORK/spool TMPFS=$WORK/tmpfs SRC=$WORK/src
mkdir -p "$MNT" "$SPOOL" "$TMPFS" "$SRC"
PID=
cleanup() {
    if mountpoint -q "$MNT"; then fusermount3 -u -z "$MNT" || true; fi
    [ -n "$PID" ] && wait "$PID" 2>/dev/null || true
    mountpoint -q "$TMPFS" && umount "$TMPFS"
    mountpoint -q "$SPOOL" && umount "$SPOOL"
    rm -rf "$WORK"
}
trap cleanup EXIT
mount -t tmpfs -o size=512m tmpfs "$TMPFS"
[ "${SPOOL_ON:-disk}" = tmpfs ] && mount -t tmpfs -o size=2g tmpfs "$SPOOL"

STORE_OPT=()
if [ "${STORE:-file}" = postgresql ]; then
    # shellcheck source=../../tests/lib/postgres.sh
    source "$(dirname "$0")/../../tests/lib/postgres.sh"
    PG_FSYNC=on pg_start || { echo "submit.sh: PostgreSQL did not start" >&2; exit 1; }
    STORE_OPT=(--store "$PG_CONNINFO")
fi
"$FAXFS" -f -s "$SPOOL" --line sim --modems 1 --max-jobs-per-user 0 "${STORE_OPT[@]}" "$MNT" >"$WORK/daemon.log" 2>&1 &
PID=$!
for _ in $(seq 200); do mountpoint -q "$MNT" && break; sleep 0.05; done
mountpoint -q "$MNT" || { echo "faxfs did not mount" >&2; cat "$WORK/daemon.log" >&2; exit 1; }
echo pause >"$MNT/ctl" # keep every job queued: only submission is measured

"$MKFAX" "$SRC/page.tif" 1
now() { date +%s.%N; }

# copy_all DIR WRITERS TAG: FILES copies of the page into DIR, WRITERS cp
# processes in parallel, file names NUMBER.tif (a fax to that number).
copy_all() {
    local dir=$1 writers=$2 tag=$3 pids=()
    for w in $(seq 0 $((writers - 1))); do
        (
            for i in $(seq "$w" "$writers" $((FILES - 1))); do
                cp "$SRC/page.tif" "$dir/55${tag}$(printf '%05d' "$i").tif"
            done
        ) &
        pids+=($!)
    done
    wait "${pids[@]}" # not the daemon
}

printf '%-28s %10s %10s %8s\n' "single jobs" "faxfs/s" "tmpfs/s" "x_tmpfs"
tag=10
for writers in 1 8; do
    t0=$(now); copy_all "$MNT/outbox" "$writers" "$tag"; t1=$(now)
    copy_all "$TMPFS" "$writers" "$tag"; t2=$(now)
    tag=$((tag + 1))
    f=$(echo "$t1 - $t0" | bc -l) t=$(echo "$t2 - $t1" | bc -l)
    printf '%-28s %10.1f %10.1f %8.1f\n' "$FILES files, $writers cp writer(s)" "$(echo "$FILES / $f" | bc -l)" \
        "$(echo "$FILES / $t" | bc -l)" "$(echo "$f / $t" | bc -l)"
done
queued=$(ls "$MNT/jobs" | wc -l)
[ "$queued" = $((FILES * 2)) ] || { echo "submit.sh: $queued jobs queued, wanted $((FILES * 2))" >&2; exit 1; }

mkdir "$MNT/outbox/broadcast"
seq -f '556%07g' 1 "$RECIPIENTS" >"$WORK/recipients"
cp "$WORK/recipients" "$MNT/outbox/broadcast/recipients"
cp "$SRC/page.tif" "$MNT/outbox/broadcast/"
t0=$(now); echo submit >"$MNT/outbox/broadcast/ctl"; t1=$(now)
b=$(echo "$t1 - $t0" | bc -l)
queued=$(ls "$MNT/jobs" | wc -l)
[ "$queued" = $((FILES * 2 + RECIPIENTS)) ] || { echo "submit.sh: broadcast left $queued jobs" >&2; exit 1; }
printf 'broadcast of %d numbers: accepted in %.2f s (%.0f jobs/s)\n' "$RECIPIENTS" "$b" "$(echo "$RECIPIENTS / $b" | bc -l)"

# The same broadcast with a cover page per recipient (each rendered with
# its recipient's number and name), against the one without just above.
mkdir "$MNT/outbox/covers"
seq -f '557%07g' 1 "$RECIPIENTS" | sed 's/$/\tRecipient/' >"$WORK/recipients-named"
cp "$WORK/recipients-named" "$MNT/outbox/covers/recipients"
echo yes >"$MNT/outbox/covers/cover"
echo "Our new prices." >"$MNT/outbox/covers/comment"
cp "$SRC/page.tif" "$MNT/outbox/covers/"
t0=$(now); echo submit >"$MNT/outbox/covers/ctl"; t1=$(now)
c=$(echo "$t1 - $t0" | bc -l)
queued=$(ls "$MNT/jobs" | wc -l)
[ "$queued" = $((FILES * 2 + RECIPIENTS * 2)) ] || { echo "submit.sh: the covered broadcast left $queued jobs" >&2; exit 1; }
printf 'broadcast of %d numbers, a cover each: accepted in %.2f s (%.0f jobs/s), %.1f x the time without covers\n' \
    "$RECIPIENTS" "$c" "$(echo "$RECIPIENTS / $c" | bc -l)" "$(echo "$c / $b" | bc -l)"

#!/bin/bash
# submit.sh - benchmark of submission (not a test).
# usage: scripts/bench/submit.sh BUILD_DIR [FILES] [RECIPIENTS]
#        (defaults: 400 two-page faxes, a 10000-number broadcast; root)
#
# Single jobs: FILES two-page fax TIFFs copied into outbox/ by 1 and by 8
# parallel writers (each close() returns once the job is durable in the
# spool), against, in the same run, the same copies by the same number of
# writers (baselines):
#   disk+fsync  into a directory on the spool's filesystem, each file
#               fsynced (dd conv=fsync): the fair baseline for durable writes
#   tmpfs+fsync into a tmpfs directory, each file fsynced (dd conv=fsync)
#   tmpfs       plain cp into a tmpfs directory
# Prints jobs/s for each and faxfs time / baseline time (x_...: how many
# times slower than that copy; below 1: faster). Then the same rows with
# one writer process of 1 and of 8 threads (bench_writer: open, write,
# close per file, every close() checked) instead of a cp process per file,
# which costs more than the submission on small machines. CP=0 leaves the
# cp rows out. Also, in the same run, the
# same copies into a second mount whose daemon converts every document in
# a sandbox of its own (--convert-sandboxes 0, "one-shot"), against the
# first with its kept sandboxes (the default).
# Broadcast: one draft whose recipients file holds RECIPIENTS numbers,
# submitted with `echo submit > ctl`; prints the time until the write
# returned (every job durable) and jobs/s; then the same with a cover page
# per recipient, as a ratio to the one without (COVERS=0 leaves it out).
# The spool is on the disk of /var/tmp (the root filesystem on most hosts,
# as a deployment has it) unless SPOOL_ON=tmpfs; durability costs what that
# disk's fsync costs.
# STORE=postgresql keeps the queue in a private PostgreSQL server instead
# (tests/lib/postgres.sh, its data under /tmp, fsync on): the same runs,
# against the same baselines.
set -euo pipefail

BUILD=${1:?usage: submit.sh BUILD_DIR [FILES] [RECIPIENTS]}
FILES=${2:-400}
RECIPIENTS=${3:-10000}
[ "$(id -u)" = 0 ] || { echo "submit.sh: run as root (tmpfs mount)" >&2; exit 2; }
# FAXFS=PATH: another daemon binary (e.g. an older build, for before/after in one run).
FAXFS=${FAXFS:-$BUILD/daemon/faxfs}
MKFAX=$BUILD/tests/mkfax
[ -x "$FAXFS" ] && [ -x "$MKFAX" ] || { echo "submit.sh: build faxfs and mkfax in $BUILD first" >&2; exit 2; }

WORK=$(mktemp -d /var/tmp/faxfs-bench-submit.XXXXXX)
MNT=$WORK/mnt SPOOL=$WORK/spool TMPFS=$WORK/tmpfs SRC=$WORK/src DISK=$WORK/disk
MNT0=$WORK/mnt0 SPOOL0=$WORK/spool0
mkdir -p "$MNT" "$SPOOL" "$TMPFS" "$SRC" "$DISK" "$MNT0" "$SPOOL0"
PID= PID0=
cleanup() {
    local rc=$?
    # A failed run shows what the daemons refused and why.
    if [ "$rc" != 0 ]; then
        grep -hE "refused|sandbox|cannot" "$WORK/daemon.log" "$WORK/daemon0.log" 2>/dev/null | tail -n 20 >&2 || true
    fi
    if mountpoint -q "$MNT"; then fusermount3 -u -z "$MNT" || true; fi
    if mountpoint -q "$MNT0"; then fusermount3 -u -z "$MNT0" || true; fi
    [ -n "$PID" ] && wait "$PID" 2>/dev/null || true
    [ -n "$PID0" ] && wait "$PID0" 2>/dev/null || true
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
"$FAXFS" -f -s "$SPOOL0" --line sim --modems 1 --max-jobs-per-user 0 --convert-sandboxes 0 "$MNT0" \
    >"$WORK/daemon0.log" 2>&1 &
PID0=$!
for _ in $(seq 200); do mountpoint -q "$MNT0" && break; sleep 0.05; done
mountpoint -q "$MNT0" || { echo "faxfs did not mount" >&2; cat "$WORK/daemon0.log" >&2; exit 1; }
echo pause >"$MNT0/ctl"

"$MKFAX" "$SRC/page.tif" 2
echo "spool on $(df --output=source,fstype "$SPOOL" | tail -n 1 | tr -s ' ') ($SPOOL)"
now() { date +%s.%N; }

# copy_all DIR WRITERS TAG [fsync]: FILES copies of the page into DIR,
# WRITERS processes in parallel, file names NUMBER.tif (a fax to that
# number); with fsync, each file is fsynced before the next is written.
copy_all() {
    local dir=$1 writers=$2 tag=$3 sync=${4:-} pids=()
    for w in $(seq 0 $((writers - 1))); do
        (
            for i in $(seq "$w" "$writers" $((FILES - 1))); do
                f="$dir/55${tag}$(printf '%05d' "$i").tif"
                if [ -n "$sync" ]; then
                    dd if="$SRC/page.tif" of="$f" conv=fsync status=none
                else
                    cp "$SRC/page.tif" "$f"
                fi
            done
        ) &
        pids+=($!)
    done
    wait "${pids[@]}" # not the daemon
}

# timed DIR WRITERS TAG [fsync]: seconds copy_all takes.
timed() {
    local t0 t1
    t0=$(now)
    copy_all "$@"
    t1=$(now)
    echo "$t1 - $t0" | bc -l
}

rate() { case $1 in failed) echo failed ;; *) printf '%.1f' "$(echo "$FILES / $1" | bc -l)" ;; esac; }
ratio() { case $1$2 in *failed*) echo - ;; *) printf '%.2f' "$(echo "$1 / $2" | bc -l)" ;; esac; }

printf '%-26s %8s %9s %9s %8s %10s %11s %8s %10s %10s %11s\n' "single jobs" "faxfs/s" "disk+fs/s" "tmpfs+fs/s" \
    "tmpfs/s" "x_disk+fs" "x_tmpfs+fs" "x_tmpfs" "one-shot/s" "x_tmpfs,1s" "1s/kept"
tag=10
# CP=0 leaves the cp rows out (quicker; the threads rows stay).
[ "${CP:-1}" = 0 ] && CP_WRITERS="" || CP_WRITERS="1 8"
for writers in $CP_WRITERS; do
    f=$(timed "$MNT/outbox" "$writers" "$tag")
    o=$(timed "$MNT0/outbox" "$writers" "$tag")
    d=$(timed "$DISK" "$writers" "$tag" fsync)
    s=$(timed "$TMPFS" "$writers" "$tag" fsync)
    rm -f "$TMPFS"/*
    t=$(timed "$TMPFS" "$writers" "$tag")
    rm -f "$TMPFS"/* "$DISK"/*
    printf '%-26s %8s %9s %9s %8s %10s %11s %8s %10s %10s %11s\n' "$FILES files, $writers writer(s)" "$(rate "$f")" \
        "$(rate "$d")" "$(rate "$s")" "$(rate "$t")" "$(ratio "$f" "$d")" "$(ratio "$f" "$s")" "$(ratio "$f" "$t")" \
        "$(rate "$o")" "$(ratio "$o" "$t")" "$(ratio "$o" "$f")"
    tag=$((tag + 1))
done
tag=12

# The same with one writer process of 1 and of 8 threads (bench_writer:
# open, write, close per file, every close() checked): no process start
# per file, as a mail gateway, a file server or a script writes.
WRITER=$BUILD/scripts/bench/bench_writer
[ -x "$WRITER" ] || { echo "submit.sh: build bench_writer in $BUILD first" >&2; exit 2; }
# wtimed DIR THREADS TAG [fsync]: seconds bench_writer takes (it fails the run on any error).
wtimed() { "$WRITER" "$SRC/page.tif" "$1" "$FILES" "$2" "55$3" ${4:+"$4"}; }
printf '%-26s %8s %9s %9s %8s %10s %11s %8s %10s %10s %11s\n' "one process, threads" "faxfs/s" "disk+fs/s" \
    "tmpfs+fs/s" "tmpfs/s" "x_disk+fs" "x_tmpfs+fs" "x_tmpfs" "one-shot/s" "x_tmpfs,1s" "1s/kept"
for writers in 1 8; do
    f=$(wtimed "$MNT/outbox" "$writers" "$tag")
    # One-shot sandboxes may be refused for a while (EAGAIN) when the
    # conversion user's processes run out (docs/performance.md): the row
    # then says "failed" and the kept mount's figures still count.
    o=$(wtimed "$MNT0/outbox" "$writers" "$tag") || { o=failed; oneshot_failed=1; }
    d=$(wtimed "$DISK" "$writers" "$tag" fsync)
    s=$(wtimed "$TMPFS" "$writers" "$tag" fsync)
    rm -f "$TMPFS"/*
    t=$(wtimed "$TMPFS" "$writers" "$tag")
    rm -f "$TMPFS"/* "$DISK"/*
    tag=$((tag + 1))
    printf '%-26s %8s %9s %9s %8s %10s %11s %8s %10s %10s %11s\n' "$FILES files, $writers thread(s)" "$(rate "$f")" \
        "$(rate "$d")" "$(rate "$s")" "$(rate "$t")" "$(ratio "$f" "$d")" "$(ratio "$f" "$s")" "$(ratio "$f" "$t")" \
        "$(rate "$o")" "$(ratio "$o" "$t")" "$(ratio "$o" "$f")"
done
SINGLE=$((FILES * (${#CP_WRITERS} > 0 ? 4 : 2)))
queued=$(ls "$MNT/jobs" | wc -l)
[ "$queued" = "$SINGLE" ] || { echo "submit.sh: $queued jobs queued, wanted $SINGLE" >&2; exit 1; }
queued=$(ls "$MNT0/jobs" | wc -l)
[ -n "${oneshot_failed:-}" ] || [ "$queued" = "$SINGLE" ] || { echo "submit.sh: $queued jobs queued in the one-shot mount, wanted $SINGLE" >&2; exit 1; }

# The same below the filesystem: the engine and the spool alone (documents
# converted in process, no sandbox), against fsynced files on the same disk;
# then with the spool on tmpfs (the CPU's ceiling, no disk waits).
BENCH=$BUILD/tests/bench_queue_submit
if [ -x "$BENCH" ]; then
    echo "queue_submit() without the filesystem and the sandbox:"
    for threads in 1 8; do
        mkdir "$WORK/q$threads"
        "$BENCH" "$WORK/q$threads" "$FILES" "$threads" | sed 's/^/  spool on disk:  /'
        rm -rf "$WORK/q$threads"
    done
    mkdir "$TMPFS/q8"
    "$BENCH" "$TMPFS/q8" "$FILES" 8 | sed 's/^/  spool on tmpfs: /'
    rm -rf "$TMPFS/q8"
fi

mkdir "$MNT/outbox/broadcast"
seq -f '556%07g' 1 "$RECIPIENTS" >"$WORK/recipients"
cp "$WORK/recipients" "$MNT/outbox/broadcast/recipients"
cp "$SRC/page.tif" "$MNT/outbox/broadcast/"
t0=$(now); echo submit >"$MNT/outbox/broadcast/ctl"; t1=$(now)
b=$(echo "$t1 - $t0" | bc -l)
queued=$(ls "$MNT/jobs" | wc -l)
[ "$queued" = $((SINGLE + RECIPIENTS)) ] || { echo "submit.sh: broadcast left $queued jobs" >&2; exit 1; }
printf 'broadcast of %d numbers: accepted in %.2f s (%.0f jobs/s)\n' "$RECIPIENTS" "$b" "$(echo "$RECIPIENTS / $b" | bc -l)"

# The same broadcast with a cover page per recipient (each rendered with
# its recipient's number and name), against the one without just above.
[ "${COVERS:-1}" = 0 ] && exit 0
mkdir "$MNT/outbox/covers"
seq -f '557%07g' 1 "$RECIPIENTS" | sed 's/$/\tRecipient/' >"$WORK/recipients-named"
cp "$WORK/recipients-named" "$MNT/outbox/covers/recipients"
echo yes >"$MNT/outbox/covers/cover"
echo "Our new prices." >"$MNT/outbox/covers/comment"
cp "$SRC/page.tif" "$MNT/outbox/covers/"
t0=$(now); echo submit >"$MNT/outbox/covers/ctl"; t1=$(now)
c=$(echo "$t1 - $t0" | bc -l)
queued=$(ls "$MNT/jobs" | wc -l)
[ "$queued" = $((SINGLE + RECIPIENTS * 2)) ] || { echo "submit.sh: the covered broadcast left $queued jobs" >&2; exit 1; }
printf 'broadcast of %d numbers, a cover each: accepted in %.2f s (%.0f jobs/s), %.1f x the time without covers\n' \
    "$RECIPIENTS" "$c" "$(echo "$RECIPIENTS / $c" | bc -l)" "$(echo "$c / $b" | bc -l)"

# lib.sh - shared helpers of the mounted tests: start the real daemon on a
# temporary spool and mount point, wait for the mount, and always unmount
# and stop the daemon on exit, even when a check fails.
# Usage: FAXFS=path/to/faxfs MKFAX=path/to/mkfax; source lib.sh

set -euo pipefail

: "${FAXFS:?FAXFS must name the faxfs binary}"
: "${MKFAX:?MKFAX must name the mkfax helper}"

WORK=$(mktemp -d /tmp/faxfs-test.XXXXXX)
SPOOL="$WORK/spool"
MNT="$WORK/mnt"
DAEMON_LOG="$WORK/daemon.log"
DAEMON_PID=
mkdir -p "$SPOOL" "$MNT"

fail() {
    echo "FAIL: $*" >&2
    exit 1
}

# wait_gone PID SECONDS: until process PID has ended (bounded); fails
# (status 1) if it is still there.
wait_gone() {
    local pid=$1 secs=$2
    for _ in $(seq $((secs * 20))); do
        kill -0 "$pid" 2>/dev/null || return 0
        sleep 0.05
    done
    ! kill -0 "$pid" 2>/dev/null
}

# Stops the daemon: unmount (lazy, so a busy shell cannot keep it), then
# wait for it; kill it if it does not end by itself.
faxfs_stop() {
    if mountpoint -q "$MNT" 2>/dev/null; then
        fusermount3 -u -z "$MNT" 2>/dev/null || true
    fi
    if [ -n "$DAEMON_PID" ]; then
        if ! wait_gone "$DAEMON_PID" 5; then
            kill -TERM "$DAEMON_PID" 2>/dev/null || true
            sleep 0.5
            kill -KILL "$DAEMON_PID" 2>/dev/null || true
        fi
        wait "$DAEMON_PID" 2>/dev/null || true
        DAEMON_PID=
    fi
}

# Commands run at exit after the daemon stopped (e.g. removing test users).
EXIT_HOOKS=()
on_exit() { EXIT_HOOKS+=("$*"); }

cleanup() {
    local rc=$?
    faxfs_stop
    for hook in "${EXIT_HOOKS[@]}"; do
        eval "$hook" || true
    done
    # Sanitizer builds: a report in the daemon's output fails the test.
    if grep -qE 'ERROR: (Address|Leak)Sanitizer|runtime error:' "$DAEMON_LOG" 2>/dev/null; then
        echo "FAIL: sanitizer report in the daemon log" >&2
        rc=1
    fi
    if [ $rc -ne 0 ]; then
        echo "---- daemon log ----" >&2
        tail -n 50 "$DAEMON_LOG" >&2 2>/dev/null || true
    fi
    rm -rf "$WORK"
    exit $rc
}
trap cleanup EXIT
trap 'exit 1' INT TERM

# faxfs_start [extra daemon options...]: defaults give fast simulated calls.
faxfs_start() {
    "$FAXFS" -f -s "$SPOOL" --line sim --sim-pace fast "$@" "$MNT" >>"$DAEMON_LOG" 2>&1 &
    DAEMON_PID=$!
    for _ in $(seq 100); do
        mountpoint -q "$MNT" && return 0
        kill -0 "$DAEMON_PID" 2>/dev/null || fail "faxfs exited before mounting"
        sleep 0.1
    done
    fail "faxfs did not mount within 10 s"
}

# wait_for FILE VALUE [SECONDS]: until FILE reads VALUE (bounded).
wait_for() {
    local file=$1 want=$2 secs=${3:-20}
    for _ in $(seq $((secs * 20))); do
        [ "$(cat "$file" 2>/dev/null || true)" = "$want" ] && return 0
        sleep 0.05
    done
    fail "$file: wanted '$want', have '$(cat "$file" 2>/dev/null || echo '<missing>')'"
}

# wait_exists PATH [SECONDS]
wait_exists() {
    local path=$1 secs=${2:-20}
    for _ in $(seq $((secs * 20))); do
        [ -e "$path" ] && return 0
        sleep 0.05
    done
    fail "$path did not appear"
}

# expect_eq WHAT GOT WANT
expect_eq() {
    [ "$2" = "$3" ] || fail "$1: got '$2', wanted '$3'"
}

# expect_fail_with ERRTEXT CMD...: CMD must fail and say ERRTEXT on stderr.
expect_fail_with() {
    local want=$1 err
    shift
    if err=$("$@" 2>&1 >/dev/null); then
        fail "'$*' succeeded, wanted failure with '$want'"
    fi
    case "$err" in
    *"$want"*) ;;
    *) fail "'$*' failed with '$err', wanted '$want'" ;;
    esac
}

# The only job id in a directory (fails if there is not exactly one).
only_job() {
    local ids
    ids=$(ls "$1")
    [ "$(printf '%s\n' "$ids" | grep -c .)" = 1 ] || fail "$1: wanted one job, have: $ids"
    printf '%s\n' "$ids"
}

make_fax() { "$MKFAX" "$1" "${2:-1}"; }

# Job ids: a fresh spool hands out QUEUE_FIRST_JOB_ID (queue/queue.h) first
# and counts up from it; received faxes share the counter. Tests that must
# know an id before they can list it use job_id N, the Nth id handed out.
FIRST_ID=100000
grep -q "^#define QUEUE_FIRST_JOB_ID $FIRST_ID\$" "$(dirname "${BASH_SOURCE[0]}")/../../queue/queue.h" ||
    fail "FIRST_ID in tests/mount/lib.sh differs from QUEUE_FIRST_JOB_ID in queue/queue.h; make them agree"
job_id() { echo $((FIRST_ID + $1 - 1)); }
# A file of job ID, read from jobs/ or history/: a job may move from one to
# the other between two reads, so the choice is made at each read.
job_file() { cat "$MNT/jobs/$1/$2" 2>/dev/null || cat "$MNT/history/$1/$2"; }
# The highest job id in jobs/ and history/ (after a kill -9 ids skip to the
# next reserved block, docs/spool-format.md, so count from there).
newest_job() { ls "$MNT/jobs" "$MNT/history" | grep -E '^[0-9]+$' | sort -n | tail -n 1; }

# Tests that create users: useradd and groupadd lock /etc/passwd and
# /etc/group, and tests running in parallel may hold the lock for a
# moment, so retry CMD... runs CMD until it succeeds (bounded, then fails
# the test) and try_hard CMD... the same without failing (for cleanup).
retry() {
    for _ in $(seq 50); do
        "$@" 2>/dev/null && return 0
        sleep 0.1
    done
    fail "'$*' kept failing"
}
try_hard() { for _ in $(seq 50); do "$@" 2>/dev/null && return 0; sleep 0.1; done; return 0; }

# skip REASON: ctest counts exit 77 as skipped (SKIP_RETURN_CODE).
skip() {
    echo "SKIP: $*"
    exit 77
}

# daemons.sh - shared by the system tests that run several mounted daemons
# (source it): a temporary WORK directory, start_daemon NAME [options...]
# mounting $WORK/NAME/mnt with its log in $WORK/NAME.log, wait_for, fail and
# skip, and a cleanup that unmounts and stops every daemon even when a check
# fails (and fails the test on a sanitizer report in a daemon log).
# Usage: FAXFS=path/to/faxfs MKFAX=path/to/mkfax; source daemons.sh
set -euo pipefail

: "${FAXFS:?FAXFS must name the faxfs binary}"
: "${MKFAX:?MKFAX must name the mkfax helper}"

WORK=$(mktemp -d /tmp/faxfs-daemons-test.XXXXXX)
PIDS=()
MNTS=()

fail() {
    echo "FAIL: $*" >&2
    exit 1
}

skip() {
    echo "SKIP: $*"
    exit 77
}

# Unmounts every daemon's mount point, then waits for (or ends) each daemon.
cleanup() {
    local rc=$?
    for m in "${MNTS[@]}"; do
        mountpoint -q "$m" 2>/dev/null && { fusermount3 -u -z "$m" 2>/dev/null || true; }
    done
    for p in "${PIDS[@]}"; do
        for _ in $(seq 50); do
            kill -0 "$p" 2>/dev/null || break
            sleep 0.1
        done
        kill -0 "$p" 2>/dev/null && { kill -TERM "$p" 2>/dev/null || true; sleep 0.5; kill -KILL "$p" 2>/dev/null || true; }
        wait "$p" 2>/dev/null || true
    done
    if grep -qE 'ERROR: (Address|Leak)Sanitizer|runtime error:' "$WORK"/*.log 2>/dev/null; then
        echo "FAIL: sanitizer report in a daemon log" >&2
        rc=1
    fi
    if [ $rc -ne 0 ] && [ $rc -ne 77 ]; then
        for l in "$WORK"/*.log; do
            echo "---- $l ----" >&2
            tail -n 40 "$l" >&2 || true
        done
    fi
    rm -rf "$WORK"
    exit $rc
}
trap cleanup EXIT
trap 'exit 1' INT TERM

[ -e /dev/fuse ] && command -v fusermount3 >/dev/null || skip "no FUSE here"
help=$("$FAXFS" --help 2>&1) # not piped into grep -q: pipefail would see SIGPIPE
case "$help" in *--sip-t38*) ;; *) skip "faxfs has no SIP lines" ;; esac

# start_daemon NAME [options...]: mounts $WORK/NAME/mnt, logs to $WORK/NAME.log.
start_daemon() {
    local name=$1
    shift
    mkdir -p "$WORK/$name/spool" "$WORK/$name/mnt"
    "$FAXFS" -f -s "$WORK/$name/spool" "$@" "$WORK/$name/mnt" >>"$WORK/$name.log" 2>&1 &
    PIDS+=($!)
    MNTS+=("$WORK/$name/mnt")
    for _ in $(seq 100); do
        mountpoint -q "$WORK/$name/mnt" && return 0
        kill -0 "${PIDS[-1]}" 2>/dev/null || fail "faxfs $name exited before mounting"
        sleep 0.1
    done
    fail "faxfs $name did not mount within 10 s"
}

# wait_for FILE VALUE SECONDS: until FILE reads VALUE (bounded).
wait_for() {
    for _ in $(seq $(($3 * 10))); do
        [ "$(cat "$1" 2>/dev/null || true)" = "$2" ] && return 0
        sleep 0.1
    done
    fail "$1: wanted '$2', have '$(cat "$1" 2>/dev/null || echo '<missing>')'"
}

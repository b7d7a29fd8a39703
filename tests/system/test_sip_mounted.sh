#!/bin/bash
# Two mounted daemons faxing over SIP on loopback: B answers on
# --listen sip:127.0.0.1:0 (the port it picked is in its log), A sends with
# --line sip:127.0.0.1:PORT. A fax copied into A's outbox shows up under
# B's received/, over T.38 (both ends have it on), with A's SIP user as
# the caller id and the transport in both job logs. Real-time calls.
# With the argument default-local, A runs without --sip-local: its SIP
# and media then use the address that routes to B, any port.
# Usage: FAXFS=path/to/faxfs MKFAX=path/to/mkfax bash test_sip_mounted.sh [default-local]
set -euo pipefail

: "${FAXFS:?FAXFS must name the faxfs binary}"
: "${MKFAX:?MKFAX must name the mkfax helper}"

WORK=$(mktemp -d /tmp/faxfs-sip-test.XXXXXX)
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

start_daemon b --line sim --listen sip:127.0.0.1:0 --tsid "FAXFS B"
port=$(sed -n 's/.*answering SIP calls on UDP port \([0-9]*\).*/\1/p' "$WORK/b.log" | head -n1)
[ -n "$port" ] || fail "daemon B did not say which SIP port it answers on"
local_opt=(--sip-local 127.0.0.1)
[ "${1:-}" = default-local ] && local_opt=()
start_daemon a --line "sip:127.0.0.1:$port" "${local_opt[@]}" --sip-user 5559876 --tsid "FAXFS A"

"$MKFAX" "$WORK/doc.tif" 2
cp "$WORK/doc.tif" "$WORK/a/mnt/outbox/5551000.tif"
# A's only job, whichever id the spool gave it (the listing may lag the cp
# by the notifier's delay).
sent=
for _ in $(seq 50); do
    sent=$( (ls "$WORK/a/mnt/jobs" "$WORK/a/mnt/history" || true) | grep -E '^[0-9]+$' | head -n1 || true)
    [ -n "$sent" ] && break
    sleep 0.1
done
[ -n "$sent" ] || fail "A's job does not show in jobs/ or history/"
wait_for "$WORK/a/mnt/history/$sent/status" done 180
grep -q 'transport: t38' "$WORK/a/mnt/history/$sent/log" || fail "A's job log does not say t38"
[ "$(cat "$WORK/a/mnt/history/$sent/pages_sent")" = 2 ] || fail "A sent $(cat "$WORK/a/mnt/history/$sent/pages_sent") pages"

rx="$WORK/b/mnt/received"
for _ in $(seq 300); do
    [ -n "$(ls -A "$rx")" ] && break
    sleep 0.1
done
id=$(ls "$rx" | head -n1)
[ -n "$id" ] || fail "nothing under B's received/"
wait_for "$rx/$id/status" done 30
[ "$(cat "$rx/$id/page_count")" = 2 ] || fail "B received $(cat "$rx/$id/page_count") pages"
[ "$(cat "$rx/$id/remote_id")" = "FAXFS A" ] || fail "remote_id: $(cat "$rx/$id/remote_id")"
[ "$(cat "$rx/$id/caller_id")" = 5559876 ] || fail "caller_id: $(cat "$rx/$id/caller_id")"
grep -q 'transport: t38' "$rx/$id/log" || fail "B's job log does not say t38"
for p in "$rx/$id"/pages/*.tif; do
    tiffinfo "$p" >/dev/null 2>&1 || fail "$p is not a readable TIFF"
done
echo PASS

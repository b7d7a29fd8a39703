#!/bin/bash
# Two mounted daemons faxing over SIP on loopback: B answers on
# --listen sip:127.0.0.1:0 (the port it picked is in its log), A sends with
# --line sip:127.0.0.1:PORT. A fax copied into A's outbox shows up under
# B's received/, over T.38 (both ends have it on), with A's SIP user as
# the caller id and the transport in both job logs. Real-time calls.
# Usage: FAXFS=path/to/faxfs MKFAX=path/to/mkfax bash test_sip_routing.sh
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

chmod 755 "$WORK"
cat >"$WORK/b.conf" <<CONF
[receive sales]
called = 5551000
command = echo "\$FAXFS_ROUTE \$FAXFS_CALLED_NUMBER \$FAXFS_JOB_ID" > $WORK/ran-sales

[receive support]
called = 5552000
command = echo "\$FAXFS_ROUTE \$FAXFS_CALLED_NUMBER \$FAXFS_JOB_ID" > $WORK/ran-support
CONF
start_daemon b --config "$WORK/b.conf" --line sim --listen sip:127.0.0.1:0 --tsid "FAXFS B" --sip-t38 off
port=$(sed -n 's/.*answering SIP calls on UDP port \([0-9]*\).*/\1/p' "$WORK/b.log" | head -n1)
[ -n "$port" ] || fail "daemon B did not say which SIP port it answers on"
start_daemon a --line "sip:127.0.0.1:$port" --sip-local 127.0.0.1 --sip-user 5559876 --tsid "FAXFS A" --sip-t38 off

"$MKFAX" "$WORK/doc.tif" 1
cp "$WORK/doc.tif" "$WORK/a/mnt/outbox/5552000.tif"
rx="$WORK/b/mnt/received"
id=
for _ in $(seq 1800); do
    id=$(ls "$rx" 2>/dev/null | head -n1 || true)
    [ -n "$id" ] && break
    sleep 0.1
done
[ -n "$id" ] || fail "nothing under B's received/"
wait_for "$rx/$id/status" done 180
[ "$(cat "$rx/$id/called_number")" = 5552000 ] || fail "called_number: $(cat "$rx/$id/called_number")"
[ "$(cat "$rx/$id/caller_number")" = 5559876 ] || fail "caller_number: $(cat "$rx/$id/caller_number")"
wait_for "$rx/$id/route" support 20
for _ in $(seq 200); do [ -s "$WORK/ran-support" ] && break; sleep 0.1; done
[ "$(cat "$WORK/ran-support" 2>/dev/null)" = "support 5552000 $id" ] ||
    fail "the support route's command: '$(cat "$WORK/ran-support" 2>/dev/null)'"
[ ! -e "$WORK/ran-sales" ] || fail "the sales route ran for a call to 5552000"
grep -q "^command	support	done	1	" "$rx/$id/deliveries" || fail "deliveries: $(cat "$rx/$id/deliveries")"
echo PASS

#!/bin/bash
# SIP lines that register with a real registrar: Kamailio (Debian
# kamailio) on loopback, with tests/system/kamailio.cfg (in-memory
# registrations, digest with one fixed password, record-routing proxy).
# Two mounted daemons register with it as 5551001 (B) and 5551002 (A); A
# sends to B's address-of-record through Kamailio. One case per run:
#   t38           both register, A faxes B over T.38; pages compared
#   g711          the same with T.38 off at A (B's own re-INVITE is refused)
#   wrong_password  A's registration is refused: its log says so once, the
#                 line status says failed, the job waits retrying with
#                 line_unregistered and the registration error
#   expired       B registers for 30 s and is killed; once Kamailio lets the
#                 registration run out, A's job retries with Kamailio's 404;
#                 B starts again, registers, and the job completes
# Usage: FAXFS=... MKFAX=... FAX_PAGES=... bash test_sip_registrar.sh CASE
set -euo pipefail

: "${FAXFS:?FAXFS must name the faxfs binary}"
: "${MKFAX:?MKFAX must name the mkfax helper}"
: "${FAX_PAGES:?FAX_PAGES must name the fax_pages test program}"
CASE=${1:?usage: test_sip_registrar.sh t38|g711|wrong_password|expired}
CFG="$(cd "$(dirname "${BASH_SOURCE[0]}")" && pwd)/kamailio.cfg"
PASSWORD=faxfs-test-secret # the one in kamailio.cfg

WORK=$(mktemp -d /tmp/faxfs-sipreg-test.XXXXXX)
chmod 755 "$WORK" # Kamailio drops to nobody and keeps its runtime files here
declare -A PID MNT
KPID=

fail() {
    echo "FAIL: $*" >&2
    exit 1
}

skip() {
    echo "SKIP: $*"
    exit 77
}

# stop_daemon NAME: unmount, then wait for (or end) the daemon.
stop_daemon() {
    local m=${MNT[$1]:-} p=${PID[$1]:-}
    [ -n "$m" ] && mountpoint -q "$m" 2>/dev/null && { fusermount3 -u -z "$m" 2>/dev/null || true; }
    if [ -n "$p" ]; then
        for _ in $(seq 50); do
            kill -0 "$p" 2>/dev/null || break
            sleep 0.1
        done
        kill -0 "$p" 2>/dev/null && { kill -TERM "$p" 2>/dev/null || true; sleep 0.5; kill -KILL "$p" 2>/dev/null || true; }
        wait "$p" 2>/dev/null || true
    fi
    PID[$1]=
}

cleanup() {
    local rc=$?
    for n in "${!PID[@]}"; do
        stop_daemon "$n"
    done
    if [ -n "$KPID" ]; then
        kill -TERM "$KPID" 2>/dev/null || true
        for _ in $(seq 30); do
            kill -0 "$KPID" 2>/dev/null || break
            sleep 0.1
        done
        kill -KILL "$KPID" 2>/dev/null || true
        wait "$KPID" 2>/dev/null || true
    fi
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
    [ -n "${KEEP_WORK:-}" ] || rm -rf "$WORK"
    exit $rc
}
trap cleanup EXIT
trap 'exit 1' INT TERM

[ -e /dev/fuse ] && command -v fusermount3 >/dev/null || skip "no FUSE here"
command -v kamailio >/dev/null || skip "no kamailio (Debian package kamailio)"
help=$("$FAXFS" --help 2>&1)
case "$help" in *--sip-registrar*) ;; *) skip "faxfs has no SIP registration" ;; esac

# Kamailio on a free loopback port, as nobody when we are root.
KPORT=$(python3 -c 'import socket; s = socket.socket(socket.AF_INET, socket.SOCK_DGRAM); s.bind(("127.0.0.1", 0)); print(s.getsockname()[1])')
mkdir -p "$WORK/kamailio"
chmod 777 "$WORK/kamailio"
kargs=(-f "$CFG" -DD -E -Y "$WORK/kamailio" -w "$WORK/kamailio" -l "udp:127.0.0.1:$KPORT" -m 32 -M 4 -n 2)
[ "$(id -u)" = 0 ] && kargs+=(-u nobody)
kamailio "${kargs[@]}" >"$WORK/kamailio.log" 2>&1 &
KPID=$!
for _ in $(seq 100); do
    ss -Hlun "sport = :$KPORT" 2>/dev/null | grep -q . && break
    kill -0 "$KPID" 2>/dev/null || fail "kamailio exited at start"
    sleep 0.1
done
ss -Hlun "sport = :$KPORT" | grep -q . || fail "kamailio does not listen on $KPORT"
REG="sip:127.0.0.1:$KPORT"

# start_daemon NAME [options...]: a daemon on a SIP line registering with
# Kamailio; mounts $WORK/NAME/mnt, logs to $WORK/NAME.log. The password
# comes from the environment (FAXFS_SIP_PASSWORD, or $PW when set); no
# --sip-local: the daemon binds the address that routes to the registrar.
start_daemon() {
    local name=$1
    shift
    mkdir -p "$WORK/$name/spool" "$WORK/$name/mnt"
    MNT[$name]="$WORK/$name/mnt"
    FAXFS_SIP_PASSWORD=${PW:-$PASSWORD} "$FAXFS" -f -s "$WORK/$name/spool" --line "sip:127.0.0.1:$KPORT" \
        --sip-registrar "$REG" --retry-delay 3 "$@" "$WORK/$name/mnt" \
        >>"$WORK/$name.log" 2>&1 &
    PID[$name]=$!
    for _ in $(seq 100); do
        mountpoint -q "$WORK/$name/mnt" && return 0
        kill -0 "${PID[$name]}" 2>/dev/null || fail "faxfs $name exited before mounting"
        sleep 0.1
    done
    fail "faxfs $name did not mount within 10 s"
}

# wait_log NAME TEXT SECONDS: until the daemon's log has TEXT (bounded).
wait_log() {
    for _ in $(seq $(($3 * 10))); do
        grep -qF -- "$2" "$WORK/$1.log" && return 0
        sleep 0.1
    done
    fail "$1's log does not say '$2' after $3 s"
}

# wait_for FILE VALUE SECONDS: until FILE reads VALUE (bounded).
wait_for() {
    for _ in $(seq $(($3 * 10))); do
        [ "$(cat "$1" 2>/dev/null || true)" = "$2" ] && return 0
        sleep 0.1
    done
    fail "$1: wanted '$2', have '$(cat "$1" 2>/dev/null || echo '<missing>')'"
}

# submit NAME NUMBER: copies a 2-page fax into NAME's outbox; prints the job id.
submit() {
    "$MKFAX" "$WORK/doc.tif" 2
    cp "$WORK/doc.tif" "$WORK/$1/mnt/outbox/$2.tif"
    local id=
    for _ in $(seq 50); do
        id=$( (ls "$WORK/$1/mnt/jobs" "$WORK/$1/mnt/history" || true) | grep -E '^[0-9]+$' | head -n1 || true)
        [ -n "$id" ] && break
        sleep 0.1
    done
    [ -n "$id" ] || fail "$1's job does not show in jobs/ or history/"
    echo "$id"
}

# received_ok NAME TRANSPORT: NAME received the 2 pages of doc.tif over TRANSPORT.
received_ok() {
    local rx="$WORK/$1/mnt/received" id
    for _ in $(seq 300); do
        [ -n "$(ls -A "$rx")" ] && break
        sleep 0.1
    done
    id=$(ls "$rx" | head -n1)
    [ -n "$id" ] || fail "nothing under $1's received/"
    wait_for "$rx/$id/status" done 30
    [ "$(cat "$rx/$id/page_count")" = 2 ] || fail "$1 received $(cat "$rx/$id/page_count") pages"
    [ "$(cat "$rx/$id/caller_id")" = 5551002 ] || fail "caller_id: $(cat "$rx/$id/caller_id")"
    grep -q "transport: $2" "$rx/$id/log" || fail "$1's receive log does not say $2"
    local p=0
    for f in $(ls "$rx/$id/pages/"*.tif | sort); do
        p=$((p + 1))
        out=$("$FAX_PAGES" compare "$WORK/doc.tif" "$p" "$f" 1 2>&1) || fail "page $p differs: $out"
        echo "  page $p: $out"
    done
    [ $p = 2 ] || fail "$p page files"
}

case "$CASE" in
t38 | g711)
    start_daemon b --sip-user 5551001 --sip-expires 60 --tsid "FAXFS B"
    wait_log b "line default: registered as sip:5551001@127.0.0.1:$KPORT" 10
    t38=on
    [ "$CASE" = g711 ] && t38=off
    start_daemon a --sip-user 5551002 --sip-outbound-proxy "$REG" --sip-keepalive 2 --sip-t38 $t38 --tsid "FAXFS A"
    wait_log a "line default: registered as sip:5551002@127.0.0.1:$KPORT" 10
    [ "$(cat "$WORK/a/mnt/lines/default/usable")" = yes ] || fail "A's line is not usable"
    grep -q "^registered as sip:5551002@127.0.0.1:$KPORT, expires in" "$WORK/a/mnt/lines/default/registration" ||
        fail "A's line registration: $(cat "$WORK/a/mnt/lines/default/registration")"
    id=$(submit a 5551001)
    wait_for "$WORK/a/mnt/history/$id/status" done 180
    [ "$(cat "$WORK/a/mnt/history/$id/pages_sent")" = 2 ] || fail "A sent $(cat "$WORK/a/mnt/history/$id/pages_sent") pages"
    grep -q "transport: $CASE" "$WORK/a/mnt/history/$id/log" || fail "A's job log does not say $CASE"
    received_ok b "$CASE"
    # Every request of A went through the outbound proxy, keep-alives too.
    grep -q "OPTIONS sip:127.0.0.1:$KPORT from 127.0.0.1" "$WORK/kamailio.log" || fail "no keep-alive reached Kamailio"
    ;;
wrong_password)
    PW=not-the-password start_daemon a --sip-user 5551002 --sip-auth-user 5551002
    wait_log a "line default: registration failed: 401 Unauthorized; check the line's user and password" 10
    id=$(submit a 5551001)
    wait_for "$WORK/a/mnt/jobs/$id/status" retrying 20
    err=$(cat "$WORK/a/mnt/jobs/$id/last_error")
    case "$err" in
    *line_unregistered*"registration failed: 401 Unauthorized"*) ;;
    *) fail "A's job error: '$err'" ;;
    esac
    [ "$(cat "$WORK/a/mnt/lines/default/usable")" = no ] || fail "A's line is usable without a registration"
    grep -q "^registration failed: 401 Unauthorized.*(next try in [0-9]* s)" "$WORK/a/mnt/lines/default/registration" ||
        fail "A's line registration: $(cat "$WORK/a/mnt/lines/default/registration")"
    grep -rq "$PASSWORD\|not-the-password" "$WORK/a/mnt/server" "$WORK/a/mnt/lines" "$WORK/a.log" && fail "a password shows"
    # The registration is tried again after its back-off (30 s, +-20 %):
    # each try is a REGISTER and its digest retry at Kamailio.
    for _ in $(seq 450); do
        [ "$(grep -c 'REGISTER sip:127.0.0.1' "$WORK/kamailio.log")" -ge 4 ] && break
        sleep 0.1
    done
    n=$(grep -c 'REGISTER sip:127.0.0.1' "$WORK/kamailio.log")
    [ "$n" -ge 4 ] || fail "$n REGISTERs reached Kamailio in 45 s; wanted a second try"
    # Meanwhile the job was tried again every 3 s (--retry-delay), far
    # more often than max_attempts (4) allows, and is still kept, retrying,
    # for the same reason: tries on an unregistered line are not counted.
    # The refusal was logged once.
    tries=$(grep -c "not counted as an attempt" "$WORK/a/mnt/jobs/$id/log" || true)
    [ "$tries" -ge 5 ] || fail "$tries uncounted tries in the job log, wanted 5 or more"
    wait_for "$WORK/a/mnt/jobs/$id/status" retrying 10
    case "$(cat "$WORK/a/mnt/jobs/$id/last_error")" in
    *line_unregistered*"401 Unauthorized"*) ;;
    *) fail "A's job error now: $(cat "$WORK/a/mnt/jobs/$id/last_error")" ;;
    esac
    [ "$(cat "$WORK/a/mnt/jobs/$id/page_count")" = 2 ] || fail "the job lost its pages"
    n=$(grep -c "registration failed" "$WORK/a.log")
    [ "$n" = 1 ] || fail "the refusal was logged $n times, not once"
    ;;
expired)
    start_daemon b --sip-user 5551001 --sip-expires 20 --tsid "FAXFS B"
    wait_log b "line default: registered as sip:5551001@127.0.0.1:$KPORT" 10
    # 404s count as attempts: enough of them to outlast the wait for B.
    start_daemon a --sip-user 5551002 --max-attempts 30 --tsid "FAXFS A"
    wait_log a "line default: registered as sip:5551002@127.0.0.1:$KPORT" 10
    # B dies without un-registering; its registration runs out at Kamailio.
    kill -KILL "${PID[b]}"
    wait "${PID[b]}" 2>/dev/null || true
    fusermount3 -u -z "${MNT[b]}" 2>/dev/null || true
    PID[b]=
    id=$(submit a 5551001)
    # Calls to B's stale contact go unanswered until the 20 s run out;
    # then Kamailio answers 404 and the job, retried every 3 s, says so.
    err=
    for _ in $(seq 600); do
        err=$(cat "$WORK/a/mnt/jobs/$id/last_error" 2>/dev/null || true)
        case "$err" in *404*) break ;; esac
        sleep 0.1
    done
    case "$err" in
    *404*) ;;
    *) fail "A's job error: '$err' (wanted Kamailio's 404 within 60 s)" ;;
    esac
    wait_for "$WORK/a/mnt/jobs/$id/status" retrying 30
    start_daemon b --sip-user 5551001 --sip-expires 20 --tsid "FAXFS B"
    wait_log b "line default: registered as sip:5551001@127.0.0.1:$KPORT" 10
    wait_for "$WORK/a/mnt/history/$id/status" done 180
    received_ok b t38
    ;;
*)
    fail "unknown case $CASE"
    ;;
esac
echo PASS

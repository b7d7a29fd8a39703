#!/bin/bash
# Two mounted daemons faxing over SIP on loopback: B answers on
# --listen sip:127.0.0.1:0 (the port it picked is in its log), A sends with
# --line sip:127.0.0.1:PORT. A fax copied into A's outbox shows up under
# B's received/, over T.38 (both ends have it on), with A's SIP user as
# the caller id and the transport in both job logs. Real-time calls.
# With the argument default-local, A runs without --sip-local: its SIP
# and media then use the address that routes to B, any port.
# Usage: FAXFS=path/to/faxfs MKFAX=path/to/mkfax bash test_sip_mounted.sh [default-local]
source "$(dirname "$0")/daemons.sh"

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

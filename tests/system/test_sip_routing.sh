#!/bin/bash
# Inbound routing over SIP: B answers on --listen sip:127.0.0.1:0 with two
# routes keyed on the called number; A calls B's number 5552000 (the
# Request-URI's user). B records called_number and caller_number, picks the
# support route and runs its command, not the sales route's. Real time.
# Usage: FAXFS=path/to/faxfs MKFAX=path/to/mkfax bash test_sip_routing.sh
source "$(dirname "$0")/daemons.sh"

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

#!/bin/bash
# Received faxes: dialing the server's own station number on the simulated
# network loops back, and the fax shows up under received/<id>/ with its
# status, pages (readable TIFFs), the sender's station id, and rm -r
# deleting it.
source "$(dirname "$0")/lib.sh"
help=$("$FAXFS" --help 2>&1)
case "$help" in *--station-number*) ;; *) fail "faxfs --help has no --station-number (the loopback to receive from)" ;; esac

faxfs_start --modems 2 --station-number 5550100 --tsid "FAXFS TEST"
make_fax "$WORK/doc.tif" 2
cp "$WORK/doc.tif" "$MNT/outbox/5550100.tif"
wait_for "$MNT/history/$(job_id 1)/status" done 60

for _ in $(seq 600); do
    [ -n "$(ls -A "$MNT/received")" ] && break
    sleep 0.05
done
r="$MNT/received/$(only_job "$MNT/received")"
wait_for "$r/status" done 30
expect_eq "page_count" "$(cat "$r/page_count")" 2
expect_eq "remote_id" "$(cat "$r/remote_id")" "FAXFS TEST"
[ -n "$(cat "$r/received")" ] || fail "received time empty"
[ -n "$(cat "$r/bit_rate")" ] || fail "bit_rate empty"
expect_eq "last_error" "$(cat "$r/last_error")" ""
grep -q '^status: done$' "$r/info" || fail "info: $(cat "$r/info")"
expect_eq "pages" "$(ls "$r/pages" | tr '\n' ' ')" "001.png 001.tif 002.png 002.tif "
for p in "$r"/pages/*.tif; do
    tiffinfo "$p" >/dev/null 2>&1 || fail "$p is not a readable TIFF"
done
expect_eq "page mode" "$(stat -c %a "$r/pages/001.tif")" 640
expect_eq "preview mode" "$(stat -c %a "$r/pages/001.png")" 640
expect_eq "preview signature" "$(head -c 8 "$r/pages/001.png" | od -A n -t x1 | tr -d ' ')" 89504e470d0a1a0a
[ -s "$r/log" ] || fail "log empty"
# Send-only files do not exist in a received fax.
[ ! -e "$r/recipient_number" ] || fail "recipient_number in a received fax"

rm -r "$r"
[ ! -e "$r" ] || fail "rm -r left $r"
expect_eq "received/ after rm" "$(ls -A "$MNT/received")" ""
echo PASS

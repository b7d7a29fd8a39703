#!/bin/bash
# efax sends, faxfs receives: the bridge places a call to faxfs's AudioSocket
# listener the way Asterisk would, efax -t sends 2 pages (Class 1, T.4 1D, no
# ECM), and received/<id>/ shows done, 2 pages, efax's station id as remote_id
# and pages with the same pixels (below the header rows efax adds).
help=$("${FAXFS:?FAXFS must name the faxfs binary}" --help 2>&1)
case "$help" in
*--listen*) ;;
*) echo "FAIL: faxfs --help does not offer --listen (the AudioSocket listener)" >&2; exit 1 ;;
esac
source "$(dirname "$0")/lib.sh"

# A free loopback port: the listener must not collide with anything else.
port=
for _ in $(seq 50); do
    p=$((20000 + RANDOM % 20000))
    if [ -z "$(ss -ltnH "sport = :$p" 2>/dev/null)" ]; then port=$p; break; fi
done
[ -n "$port" ] || fail "no free TCP port on 127.0.0.1"

EFAX_ID="+1 555 0142"
faxfs_start --modems 1 --listen "audiosocket:127.0.0.1:$port"
for _ in $(seq 100); do
    [ -n "$(ss -ltnH "sport = :$port" 2>/dev/null)" ] && break
    sleep 0.1
done
[ -n "$(ss -ltnH "sport = :$port" 2>/dev/null)" ] || fail "faxfs does not listen on 127.0.0.1:$port"

make_fax "$WORK/doc.tif" 2
"$FAX_PAGES" split "$WORK/doc.tif" "$WORK/page" || fail "cannot split the test document"
echo "efax sends 2 pages to 127.0.0.1:$port in real time (about 50 s)"
rc=0
timeout -k 5 200 "$EFAX_BRIDGE" --pid-file "$PIDS" -e -l -e "$EFAX_ID" \
    dial "127.0.0.1:$port" 5550100 "$WORK/page.001" "$WORK/page.002" 2>>"$EFAX_LOG" || rc=$?
expect_eq "efax exit status" "$rc" 0

id=$(only_job "$MNT/received")
dir="$MNT/received/$id"
wait_for "$dir/status" "done" 30
expect_eq "page_count" "$(cat "$dir/page_count")" 2
expect_eq "remote_id (efax's -l)" "$(cat "$dir/remote_id")" "$EFAX_ID"
expect_eq "ecm (efax has none)" "$(cat "$dir/ecm")" no
expect_eq "pages listing" "$(ls "$dir/pages" | tr '\n' ' ')" "001.png 001.tif 002.png 002.tif "
# efax puts about 20 blank rows above each page for its header line, whose
# 24-row font reaches a few rows into the image: skip the top 8 image rows.
for p in 1 2; do
    compare_page "$WORK/page.00$p" 1 "$dir/pages/00$p.tif" 1 8
done
echo PASS

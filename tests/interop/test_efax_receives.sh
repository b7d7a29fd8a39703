#!/bin/bash
# faxfs sends, efax receives: a 2-page job submitted through the mount goes
# out on an exec line to efax -r (Class 1, through the bridge's T.31 modem),
# ends done with 2 pages sent, and efax's pages decode to the same pixels.
source "$(dirname "$0")/lib.sh"

EFAX_ID="+1 555 0199"
mkdir -p "$WORK/rx"
faxfs_start --modems 1 --line "exec:$EFAX_BRIDGE --pid-file $WORK/bridge.pids \
--status-file $WORK/efax.status --number-file $WORK/number -e -l -e '$EFAX_ID' \
answer $WORK/rx/fax 2>>$EFAX_LOG"

make_fax "$WORK/doc.tif" 2
cp "$WORK/doc.tif" "$MNT/outbox/555-1234.tif"
id=$(only_job "$MNT/jobs")
echo "job $id submitted; efax receives in real time (about 40 s)"
wait_for "$MNT/history/$id/status" "done" 150
dir="$MNT/history/$id"

expect_eq "pages_sent" "$(cat "$dir/pages_sent")" 2
expect_eq "number the line dialed" "$(cat "$WORK/number")" 5551234
expect_eq "remote_id (efax's -l)" "$(cat "$dir/remote_id")" "$EFAX_ID"
expect_eq "ecm (efax has none)" "$(cat "$dir/ecm")" no
wait_exists "$WORK/efax.status" 10
expect_eq "efax exit status" "$(cat "$WORK/efax.status")" 0
expect_eq "efax's files" "$(cd "$WORK/rx" && ls | tr '\n' ' ')" "fax.001 fax.002 "

for p in 1 2; do
    compare_page "$WORK/doc.tif" "$p" "$WORK/rx/fax.00$p" 1
    compare_page "$dir/pages/00$p.tif" 1 "$WORK/rx/fax.00$p" 1
done
echo PASS

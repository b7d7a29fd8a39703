#!/bin/bash
# fax.pdf beside pages/ in every job directory: for a sent job of two pages
# (in jobs/ while queued, then in history/) and for a received fax (the
# simulated network loops a call to our own number back to us), qpdf
# --check passes, pdfinfo shows one page per TIFF page at the page's size,
# and pdftoppm renders each page to the TIFF page's pixels
# (tests/mount/pdf_pages.py). Also: stat's size is the bytes cat reads,
# cp copies it, the same bytes on every read, the pages' mode, only who may
# read the pages reads it, it is kept in the spool, and a page that cannot
# be made into a PDF is an EIO with a log line naming the job.
source "$(dirname "$0")/lib.sh"
for tool in qpdf pdfinfo pdftoppm tiffcp python3; do
    command -v $tool >/dev/null || skip "needs $tool (scripts/setup.sh installs it)"
done
[ "$(id -u)" = 0 ] || skip "needs root to create a user"
command -v setpriv >/dev/null && command -v useradd >/dev/null || skip "needs setpriv and useradd"

STRANGER=faxfs-t-pdf-a
remove_user() { userdel "$STRANGER" 2>/dev/null || true; }
try_hard remove_user
on_exit try_hard remove_user
retry useradd -M -N -s /usr/sbin/nologin $STRANGER
as_stranger() { setpriv --reuid=$STRANGER --regid="$(id -g $STRANGER)" --init-groups "$@"; }

# check_pdf DIR: DIR/fax.pdf against DIR/pages/*.tif.
check_pdf() {
    local d=$1 f=$1/fax.pdf
    qpdf --check "$f" >"$WORK/qpdf.out" 2>&1 || fail "qpdf --check $f: $(cat "$WORK/qpdf.out")"
    grep -q "No syntax or stream encoding errors found" "$WORK/qpdf.out" ||
        fail "qpdf --check $f: $(cat "$WORK/qpdf.out")"
    grep -q '^Producer:  *faxfs$' <(pdfinfo "$f") || fail "pdfinfo $f: no Producer faxfs"
    python3 "$(dirname "$0")/pdf_pages.py" "$f" "$d"/pages/*.tif || fail "$f does not show its pages"
    expect_eq "$f size" "$(stat -c %s "$f")" "$(wc -c <"$f")"
    expect_eq "$f stable" "$(md5sum <"$f")" "$(md5sum <"$f")"
    expect_eq "$f mode" "$(stat -c %a "$f")" "$(stat -c %a "$d/pages/001.tif")"
    expect_eq "$f owner" "$(stat -c %U:%G "$f")" "$(stat -c %U:%G "$d/pages/001.tif")"
    cp "$f" "$WORK/copy.pdf"
    cmp -s "$f" "$WORK/copy.pdf" || fail "cp $f made a different file"
    local tiff pdf
    tiff=$(cat "$d"/pages/*.tif | wc -c)
    pdf=$(stat -c %s "$f")
    echo "$f: $pdf bytes for $tiff bytes of TIFF pages"
    [ "$pdf" -lt $((tiff + 2048)) ] || fail "$f is $pdf bytes for $tiff bytes of pages"
}

chmod 755 "$WORK" # the mount point must be reachable for the stranger
faxfs_start -o allow_other,default_permissions --modems 2 --station-number 5550100 --tsid "FAXFS TEST"
make_fax "$WORK/doc.tif" 2

# A queued job has its PDF already, listed beside pages/.
echo pause >"$MNT/ctl"
cp "$WORK/doc.tif" "$MNT/outbox/5550100.tif"
id=$(job_id 1)
j="$MNT/jobs/$id"
ls "$j" | grep -qx fax.pdf || fail "ls $j has no fax.pdf: $(ls "$j" | tr '\n' ' ')"
check_pdf "$j"
queued_md5=$(md5sum <"$j/fax.pdf")
[ -s "$SPOOL/jobs/$id/fax.pdf" ] || fail "fax.pdf is not kept in the spool"

# Only who may read the pages reads the PDF; a look makes nothing.
expect_fail_with "Permission denied" as_stranger cat "$j/fax.pdf"
expect_fail_with "Permission denied" as_stranger cat "$j/pages/001.tif"
expect_fail_with "Operation not permitted" sh -c "echo x > '$j/fax.pdf'"

echo resume >"$MNT/ctl"
wait_for "$MNT/history/$id/status" done 60
check_pdf "$MNT/history/$id"
expect_eq "the same PDF in jobs/ and history/" "$(md5sum <"$MNT/history/$id/fax.pdf")" "$queued_md5"

# The call looped back: the received fax has its PDF once the call ended.
for _ in $(seq 600); do
    [ -n "$(ls -A "$MNT/received")" ] && break
    sleep 0.05
done
r="$MNT/received/$(only_job "$MNT/received")"
wait_for "$r/status" done 30
expect_eq "received pages" "$(cat "$r/page_count")" 2
echo "received page 1: $(tiffinfo "$r/pages/001.tif" 2>/dev/null | grep -E 'Compression Scheme|FillOrder|Group 3 Options|Rows/Strip' | tr -s ' ' | tr '\n' ';')"
ls "$r" | grep -qx fax.pdf || fail "ls $r has no fax.pdf: $(ls "$r" | tr '\n' ' ')"
check_pdf "$r"
expect_eq "received fax.pdf mode" "$(stat -c %a "$r/fax.pdf")" 640

# A page the PDF cannot be made of (damaged in the spool): EIO, and the
# daemon's log names the job and what to do.
rid=$(basename "$r")
rm -f "$SPOOL/jobs/$rid/fax.pdf"
printf 'damaged' >"$SPOOL/jobs/$rid/pages/002.tif"
expect_fail_with "Input/output error" cat "$r/fax.pdf"
grep -q "job $rid: fax.pdf cannot be made: page 2 .*--check-spool" "$DAEMON_LOG" ||
    fail "no log line naming job $rid and the fix: $(tail -n 5 "$DAEMON_LOG")"

# A standard-resolution page (98 lines per inch) keeps its true height.
# A stranger's look makes nothing and shows size 0; the owner's makes it.
echo pause >"$MNT/ctl"
make_fax "$WORK/std.tif" 1
tiffset -s 283 98 "$WORK/std.tif"
cp "$WORK/std.tif" "$MNT/outbox/5551234.tif"
sid=$(ls "$MNT/jobs" | sort -n | tail -n 1)
s="$MNT/jobs/$sid"
expect_eq "stranger's size" "$(as_stranger stat -c %s "$s/fax.pdf")" 0
[ ! -e "$SPOOL/jobs/$sid/fax.pdf" ] || fail "a stranger's stat made the PDF"
check_pdf "$s"
[ -s "$SPOOL/jobs/$sid/fax.pdf" ] || fail "the owner's read did not keep the PDF"
pdfinfo "$s/fax.pdf" | grep -Eq '^Page size: +609\.88[0-9]* x 293\.8[78][0-9]* pts' ||
    fail "standard page size: $(pdfinfo "$s/fax.pdf" | grep '^Page size')"

# rm -r removes a finished job with its PDF.
rm -r "$MNT/history/$id"
[ ! -e "$MNT/history/$id" ] || fail "rm -r left history/$id"
[ ! -e "$SPOOL/jobs/$id" ] || fail "the spool kept job $id"
echo PASS

#!/bin/bash
# Documents other than fax TIFFs: cp of a PDF, PostScript, PNG or JPEG into
# outbox/NUMBER.ext becomes a job whose pages are fax TIFFs; a draft takes
# resolution, cover and comment, and its cover page counts as a page.
source "$(dirname "$0")/lib.sh"
command -v gs >/dev/null || skip "ghostscript (gs) is needed to make the test documents"
faxfs_start --modems 2

cat >"$WORK/two.ps" <<'PS'
%!PS
/Helvetica findfont 36 scalefont setfont
72 700 moveto (Page one) show showpage
72 700 moveto (Page two) show showpage
PS
gs -q -dSAFER -dBATCH -sDEVICE=pdfwrite -o "$WORK/two.pdf" "$WORK/two.ps"
gs -q -dSAFER -dBATCH -sDEVICE=pnggray -r100 -dLastPage=1 -o "$WORK/one.png" "$WORK/two.ps"
gs -q -dSAFER -dBATCH -sDEVICE=jpeggray -r100 -dLastPage=1 -o "$WORK/one.jpg" "$WORK/two.ps"
make_fax "$WORK/fax.tif" 1

# fax_page FILE: a 1728-pixel-wide, 1-bit fax page.
fax_page() {
    local info
    info=$(tiffinfo "$1" 2>/dev/null) || fail "$1 is not a readable TIFF"
    grep -q 'Image Width: 1728' <<<"$info" || fail "$1: not 1728 wide: $info"
    grep -q 'Bits/Sample: 1' <<<"$info" || fail "$1: not 1-bit: $info"
}

# check_job NAME PAGES: the next job, from outbox/NAME, sent PAGES fax pages.
n=0
check_job() {
    local name=$1 pages=$2 dir
    n=$((n + 1))
    dir="$MNT/history/$(job_id "$n")"
    wait_for "$dir/status" done 60
    expect_eq "$name recipient" "$(cat "$dir/recipient_number")" "${name%%.*}"
    expect_eq "$name page_count" "$(cat "$dir/page_count")" "$pages"
    expect_eq "$name pages_sent" "$(cat "$dir/pages_sent")" "$pages"
    for p in "$dir"/pages/*.tif; do fax_page "$p"; done
}

# submit SOURCE NAME PAGES: cp succeeds and the job sends PAGES pages.
submit() {
    cp "$1" "$MNT/outbox/$2" || fail "cp $2: $(cat "$MNT/outbox/$2.error" 2>/dev/null)"
    check_job "$2" "$3"
}

submit "$WORK/two.pdf" 5550001.pdf 2
submit "$WORK/two.ps" 5550002.ps 2
submit "$WORK/one.png" 5550003.png 1
submit "$WORK/one.jpg" 5550004.jpg 1
submit "$WORK/one.jpg" 5550005.jpeg 1
submit "$WORK/fax.tif" 5550006.tiff 1
expect_eq "fine by default" "$(cat "$MNT/history/$(job_id 1)/resolution")" fine

# A draft with a cover page at superfine resolution.
d="$MNT/outbox/letter"
mkdir "$d"
echo 555-0007 >"$d/recipient_number"
echo "Ada Lovelace" >"$d/recipient_name"
echo superfine >"$d/resolution"
echo yes >"$d/cover"
printf 'Dear Ada,\n\tthe notes on the engine.\n' >"$d/comment"
expect_eq "comment reads back" "$(cat "$d/comment")" "$(printf 'Dear Ada,\n\tthe notes on the engine.')"
expect_eq "cover reads back" "$(cat "$d/cover")" yes
expect_fail_with "Invalid argument" bash -c "echo ultrafine > '$d/resolution'"
expect_eq "resolution kept" "$(cat "$d/resolution")" superfine
cp "$WORK/two.pdf" "$d/"
echo submit >"$d/ctl"
n=$((n + 1))
job="$MNT/history/$(job_id "$n")"
wait_for "$job/status" done 60
expect_eq "cover page counts" "$(cat "$job/page_count")" 3
expect_eq "resolution" "$(cat "$job/resolution")" superfine
expect_eq "pages" "$(ls "$job/pages" | grep -c '\.tif$')" 3
for p in "$job"/pages/*.tif; do fax_page "$p"; done
tiffinfo "$job/pages/002.tif" | grep -Eq 'Resolution: 204, 39[01]' ||
    fail "superfine page: $(tiffinfo "$job/pages/002.tif" | grep Resolution)"
echo PASS

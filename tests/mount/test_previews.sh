#!/bin/bash
# pages/NNN.png next to every pages/NNN.tif: a valid PNG of the page, 1728
# pixels wide, the same bytes on every read, the TIFF's permissions, and
# its real size in ls -l; for queued jobs as well as for history.
source "$(dirname "$0")/lib.sh"
faxfs_start --modems 1

# png_width FILE: the IHDR width, from the first 24 bytes.
png_width() {
    local b
    b=$(head -c 24 "$1" | od -A n -t u1 -j 16 -N 4 | tr -s ' ')
    set -- $b
    echo $(( ($1 << 24) | ($2 << 16) | ($3 << 8) | $4 ))
}

check_png() {
    local f=$1
    expect_eq "$f signature" "$(head -c 8 "$f" | od -A n -t x1 | tr -d ' ')" 89504e470d0a1a0a
    expect_eq "$f width" "$(png_width "$f")" 1728
    expect_eq "$f size" "$(stat -c %s "$f")" "$(wc -c <"$f")"
    if command -v python3 >/dev/null; then
        python3 "$(dirname "$0")/png_check.py" "$f" >/dev/null || fail "$f is not a valid PNG"
    fi
}

make_fax "$WORK/doc.tif" 2

# A queued job (the queue is paused) already has its previews.
echo pause >"$MNT/ctl"
cp "$WORK/doc.tif" "$MNT/outbox/5551234.tif"
id=$(job_id 1)
expect_eq "jobs/$id/pages" "$(ls "$MNT/jobs/$id/pages" | tr '\n' ' ')" "001.png 001.tif 002.png 002.tif "
check_png "$MNT/jobs/$id/pages/001.png"
queued_md5=$(md5sum <"$MNT/jobs/$id/pages/001.png")
echo resume >"$MNT/ctl"
wait_for "$MNT/history/$id/status" done

dir="$MNT/history/$id/pages"
for p in 001 002; do
    check_png "$dir/$p.png"
    expect_eq "$p.png mode" "$(stat -c %a "$dir/$p.png")" "$(stat -c %a "$dir/$p.tif")"
    expect_eq "$p.png owner" "$(stat -c %U "$dir/$p.png")" "$(stat -c %U "$dir/$p.tif")"
done
# Pages differ, so their previews do; each preview reads the same twice.
[ "$(md5sum <"$dir/001.png")" != "$(md5sum <"$dir/002.png")" ] || fail "pages 1 and 2 render alike"
expect_eq "stable bytes" "$(md5sum <"$dir/002.png")" "$(md5sum <"$dir/002.png")"
# The preview under jobs/ was the same page: the same bytes in history/.
expect_eq "same preview in jobs/ and history/" "$(md5sum <"$dir/001.png")" "$queued_md5"
expect_eq "ls -l shows both" "$(ls -l "$dir" | awk 'NR > 1 { print $NF }' | tr '\n' ' ')" "001.png 001.tif 002.png 002.tif "
ls -l "$dir" | awk 'NR > 1 && $5 == 0 { exit 1 }' || fail "ls -l shows an empty file: $(ls -l "$dir")"

# Previews are read-only, and there is no preview of a page that does not exist.
expect_fail_with "" sh -c "echo x > '$dir/001.png'"
expect_fail_with "No such file" stat "$dir/003.png"
expect_fail_with "No such file" stat "$dir/01.png"
echo PASS

#!/bin/bash
# report.pdf, the transmission report of a finished send job: one job that
# is done (a call to our own number) and one that fails (5550101 is busy,
# one attempt). Each history/ID/ lists report.pdf; qpdf --check passes;
# pdftotext shows the number, the result, the error and the pages; the
# first page's thumbnail has ink where it is drawn (pdftoppm); stat's size
# is what cat reads; it is kept in the spool; a queued job has none; only
# who may read the pages reads it.
source "$(dirname "$0")/lib.sh"
for tool in qpdf pdftotext pdftoppm python3; do
    command -v $tool >/dev/null || skip "needs $tool (scripts/setup.sh installs it)"
done
[ "$(id -u)" = 0 ] || skip "needs root to create a user"
command -v setpriv >/dev/null && command -v useradd >/dev/null || skip "needs setpriv and useradd"

STRANGER=faxfs-t-report-a
remove_user() { userdel "$STRANGER" 2>/dev/null || true; }
try_hard remove_user
on_exit try_hard remove_user
retry useradd -M -N -s /usr/sbin/nologin $STRANGER
as_stranger() { setpriv --reuid=$STRANGER --regid="$(id -g $STRANGER)" --init-groups "$@"; }

chmod 755 "$WORK"
faxfs_start -o allow_other,default_permissions --modems 2 --station-number 5550100 --tsid "FAXFS TEST" \
    --max-attempts 1
make_fax "$WORK/doc.tif" 2

echo pause >"$MNT/ctl"
cp "$WORK/doc.tif" "$MNT/outbox/5550100.tif"
cp "$WORK/doc.tif" "$MNT/outbox/5550101.tif"
ok=$(job_id 1)
busy=$(job_id 2)
ls "$MNT/jobs/$ok" | grep -qx report.pdf && fail "a queued job lists report.pdf"
[ -e "$MNT/jobs/$ok/report.pdf" ] && fail "a queued job has report.pdf"
echo resume >"$MNT/ctl"
wait_for "$MNT/history/$ok/status" done 60
wait_for "$MNT/history/$busy/status" failed 60

# check_report ID RESULT WORDS...: the report of job ID.
check_report() {
    local id=$1 result=$2 f=$MNT/history/$1/report.pdf
    shift 2
    ls "$MNT/history/$id" | grep -qx report.pdf || fail "ls history/$id has no report.pdf"
    qpdf --check "$f" >"$WORK/qpdf.out" 2>&1 || fail "qpdf --check $f: $(cat "$WORK/qpdf.out")"
    grep -q "No syntax or stream encoding errors found" "$WORK/qpdf.out" ||
        fail "qpdf --check $f: $(cat "$WORK/qpdf.out")"
    expect_eq "$f size" "$(stat -c %s "$f")" "$(wc -c <"$f")"
    expect_eq "$f mode" "$(stat -c %a "$f")" "$(stat -c %a "$MNT/history/$id/pages/001.tif")"
    pdftotext -layout "$f" "$WORK/report.txt" || fail "pdftotext $f"
    echo "--- report of job $id:"
    cat "$WORK/report.txt"
    grep -Eq "^ *Result +$result\$" "$WORK/report.txt" || fail "report of $id: no result $result"
    grep -Eq "^ *Pages +$(cat "$MNT/history/$id/pages_sent") of 2 sent" "$WORK/report.txt" ||
        fail "report of $id: no page count"
    grep -Eq "^ *Number +$(cat "$MNT/history/$id/recipient_number")\$" "$WORK/report.txt" || fail "report of $id: no number"
    for w in "$@"; do
        grep -q -- "$w" "$WORK/report.txt" || fail "report of $id: no '$w'"
    done
    [ -s "$SPOOL/jobs/$id/report.pdf" ] || fail "report.pdf of $id is not kept in the spool"
    cmp -s "$f" "$SPOOL/jobs/$id/report.pdf" || fail "report.pdf of $id differs from the kept one"
    # The thumbnail sits below the text and its caption, 240 points wide
    # from the left margin (points from the top left: x 56..296, y below
    # 362): nothing else is drawn there, so ink there is the page's.
    pdftoppm -mono -r 72 -singlefile "$f" "$WORK/report" || fail "pdftoppm $f"
    local ink
    ink=$(python3 "$(dirname "$0")/report_ink.py" "$WORK/report.pbm" 72 56 362 296 842)
    echo "report of $id: $ink black pixels in the thumbnail"
    [ "$ink" -gt 100 ] || fail "report of $id: the first page's thumbnail is blank ($ink black pixels)"
}

check_report "$ok" done "5550100" "FAXFS TEST"
check_report "$busy" failed "5550101" "busy"

expect_fail_with "Permission denied" as_stranger cat "$MNT/history/$ok/report.pdf"
expect_fail_with "Operation not permitted" sh -c "echo x > '$MNT/history/$ok/report.pdf'"
echo PASS

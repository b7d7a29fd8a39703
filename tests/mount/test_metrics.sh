#!/bin/bash
# MOUNT/metrics: after one fax sent and one refused, the Prometheus text
# counts them; the file is read-only, its size matches its content, and a
# strict reader of the exposition format accepts it.
source "$(dirname "$0")/lib.sh"
faxfs_start --modems 2

# metric NAME_WITH_LABELS: the value on that sample line.
metric() {
    local v
    v=$(grep -F "$1 " "$MNT/metrics" | grep -v '^#' | awk -v k="$1" '$1 == k { print $2 }')
    [ -n "$v" ] || fail "metrics: no sample $1"
    printf '%s\n' "$v"
}

expect_eq "fresh: calls" "$(metric 'faxfs_calls_total{outcome="success"}')" 0
expect_eq "fresh: submissions" "$(metric 'faxfs_submissions_total{result="accepted"}')" 0

make_fax "$WORK/doc.tif" 2
cp "$WORK/doc.tif" "$MNT/outbox/5551234.tif"
wait_for "$MNT/history/$(job_id 1)/status" done
echo "not a fax" >"$WORK/bad.tif"
cp "$WORK/bad.tif" "$MNT/outbox/5559999.tif" 2>/dev/null && fail "a text file was accepted"

expect_eq "jobs done" "$(metric 'faxfs_jobs{state="done"}')" 1
expect_eq "jobs queued" "$(metric 'faxfs_jobs{state="queued"}')" 0
expect_eq "calls success" "$(metric 'faxfs_calls_total{outcome="success"}')" 1
expect_eq "calls busy" "$(metric 'faxfs_calls_total{outcome="busy"}')" 0
expect_eq "pages sent" "$(metric faxfs_pages_sent_total)" 2
expect_eq "accepted" "$(metric 'faxfs_submissions_total{result="accepted"}')" 1
expect_eq "refused" "$(metric 'faxfs_submissions_total{result="refused"}')" 1
expect_eq "modems" "$(( $(metric 'faxfs_modems{state="busy"}') + $(metric 'faxfs_modems{state="idle"}') ))" \
    "$(grep '^modems: ' "$MNT/server" | cut -d' ' -f2)"
expect_eq "call histogram count" "$(metric faxfs_call_duration_seconds_count)" 1
expect_eq "call histogram +Inf" "$(metric 'faxfs_call_duration_seconds_bucket{le="+Inf"}')" 1
grep -q '^# TYPE faxfs_call_duration_seconds histogram$' "$MNT/metrics" || fail "no histogram TYPE line"
grep -q '^# TYPE faxfs_calls_total counter$' "$MNT/metrics" || fail "no counter TYPE line"

# Nothing moves now: stat, wc and cat agree on the size.
expect_eq "size" "$(stat -c %s "$MNT/metrics")" "$(wc -c <"$MNT/metrics")"
expect_eq "mode" "$(stat -c %a "$MNT/metrics")" 444
expect_fail_with "" sh -c "echo 0 > '$MNT/metrics'"

# The whole text passes a strict reader of the format, when python3 is here.
if command -v python3 >/dev/null; then
    cat "$MNT/metrics" >"$WORK/metrics.txt"
    python3 "$(dirname "$0")/prom_check.py" "$WORK/metrics.txt" >"$WORK/parsed.txt" ||
        fail "metrics rejected by the format check"
    grep -qx 'faxfs_pages_sent_total 2.0' "$WORK/parsed.txt" || fail "parsed: $(cat "$WORK/parsed.txt")"
else
    echo "note: python3 missing, format check skipped"
fi
echo PASS

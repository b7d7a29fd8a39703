#!/bin/bash
# Dial rules and destination controls through the real daemon and plain
# tools (docs/dialing.md): a refused number fails cp with EACCES and one
# log line, nothing queued; a destination forced to ECM off and 9600 bps
# sends that way; a job outside its sending window waits as scheduled
# until the window opens; a call below min-bit-rate ends; max-calls 1
# holds for a pattern; draft fields use_ecm/max_bit_rate refuse bad values.
source "$(dirname "$0")/lib.sh"
export TZ=UTC
make_fax "$WORK/doc.tif" 1
printf '# numbers nobody may fax\n5558888\n\n555777X   # a whole block\n' >"$WORK/deny.txt"

# The window opens two hours from now (whole hours, every day).
h=$(date +%H)
open_h=$(( (10#$h + 2) % 24 ))
close_h=$(( (10#$h + 3) % 24 ))
window=$(printf '%02d:00-%02d:00' "$open_h" "$close_h")
day=today
[ "$open_h" -lt "$((10#$h))" ] && day=tomorrow
want_open=$(date -d "$day $(printf '%02d' "$open_h"):00" +%Y-%m-%dT%H:%M:%S%:z)

faxfs_start --modems 3 --per-destination 0 \
    --dial-deny '5559*' --dial-deny-file "$WORK/deny.txt" \
    --destination-ecm 5551234=no --destination-max-bit-rate 5551234=9600 \
    --destination-window "5552000=$window" \
    --destination-max-calls 555300X=1 \
    --destination-min-bit-rate 5550106=14400 --max-attempts 1

# 1. Refusals: cp fails at create with EACCES, the log names the rule and
# the user, and nothing reaches the queue.
expect_fail_with "Permission denied" cp "$WORK/doc.tif" "$MNT/outbox/5559123.tif"
expect_fail_with "Permission denied" cp "$WORK/doc.tif" "$MNT/outbox/555-8888.tif"
expect_fail_with "Permission denied" cp "$WORK/doc.tif" "$MNT/outbox/5557771.tif"
expect_fail_with "Permission denied" cp "$WORK/doc.tif" "$MNT/outbox/911.tif"
grep -q "outbox/5559123.tif (uid $(id -u)) refused: the number 5559123 is refused by --dial-deny 5559\*; fax another number" "$DAEMON_LOG" ||
    fail "no log line for 5559123: $(grep 5559123 "$DAEMON_LOG" || true)"
grep -q "number 555-8888 (5558888) is refused by $WORK/deny.txt:2: 5558888;" "$DAEMON_LOG" || fail "no log line naming deny.txt:2"
grep -q "refused by $WORK/deny.txt:4: 555777X;" "$DAEMON_LOG" || fail "no log line naming deny.txt:4"
grep -q "911 is refused by built-in refusal of the emergency number 911; .*(--dial-allow lifts it)" "$DAEMON_LOG" ||
    fail "no log line for 911"
expect_eq "nothing queued" "$(ls "$MNT/jobs" "$MNT/history" | grep -c '^[0-9]' || true)" 0
expect_eq "nothing in the spool" "$(ls "$SPOOL/jobs" 2>/dev/null | grep -c . || true)" 0

# 2. ECM off and 9600 bps forced for one destination; the job's own
# settings lose against it, and a job to another number keeps the defaults.
d="$MNT/outbox/forced"
mkdir "$d"
echo 5551234 >"$d/recipient_number"
echo yes >"$d/use_ecm"
echo 14400 >"$d/max_bit_rate"
expect_fail_with "Invalid argument" bash -c "echo maybe > '$d/use_ecm'"
expect_fail_with "Invalid argument" bash -c "echo 9000 > '$d/max_bit_rate'"
expect_fail_with "Invalid argument" bash -c "echo fast > '$d/min_bit_rate'"
expect_eq "use_ecm kept" "$(cat "$d/use_ecm")" yes
expect_eq "max_bit_rate kept" "$(cat "$d/max_bit_rate")" 14400
cp "$WORK/doc.tif" "$d/"
echo submit >"$d/ctl"
forced="$MNT/history/$(job_id 1)"
wait_for "$forced/status" done 60
expect_eq "ecm used" "$(cat "$forced/ecm")" no
expect_eq "bit rate used" "$(cat "$forced/bit_rate")" 9600
grep -qx "use_ecm: yes" "$forced/info" || fail "info lacks use_ecm: $(cat "$forced/info")"
cp "$WORK/doc.tif" "$MNT/outbox/555 1235.tif"
free="$MNT/history/$(job_id 2)"
wait_for "$free/status" done 60
expect_eq "ecm by default" "$(cat "$free/ecm")" yes
expect_eq "bit rate by default" "$(cat "$free/bit_rate")" 14400
expect_eq "submitted_number as typed" "$(cat "$free/submitted_number")" "555 1235"
expect_eq "recipient_number canonical" "$(cat "$free/recipient_number")" 5551235
expect_eq "dialed_number" "$(cat "$free/dialed_number")" 5551235

# 3. Outside its window: scheduled, for when the window opens.
cp "$WORK/doc.tif" "$MNT/outbox/5552000.tif"
held="$MNT/jobs/$(job_id 3)"
wait_for "$held/status" scheduled 10
expect_eq "scheduled at the window's opening" "$(cat "$held/scheduled")" "$want_open"
echo cancel >"$held/ctl"

# 4. A floor: the noisy line (5550106) trains below 14400 bps, so the call
# ends with bit_rate_too_low.
cp "$WORK/doc.tif" "$MNT/outbox/5550106.tif"
slow="$MNT/history/$(job_id 4)"
wait_for "$slow/status" failed 60
grep -q "call ended: bit_rate_too_low (The line trained at [0-9]* bps, below the minimum of 14400 bps" "$slow/log" ||
    fail "no bit_rate_too_low in the log: $(tail -5 "$slow/log")"


# 5. max-calls 1 for 555300X: with real-time calls and three free
# channels, two jobs to two numbers of the section never run together,
# while a job to a number outside it runs beside them.
faxfs_stop
faxfs_start --modems 3 --per-destination 0 --sim-pace realtime --destination-max-calls 555300X=1
echo pause >"$MNT/ctl"
cp "$WORK/doc.tif" "$MNT/outbox/5553001.tif"
cp "$WORK/doc.tif" "$MNT/outbox/5553002.tif"
cp "$WORK/doc.tif" "$MNT/outbox/5554001.tif"
a=$(job_id 5) b=$(job_id 6) c=$(job_id 7)
wait_exists "$MNT/jobs/$c/status"
echo resume >"$MNT/ctl"
wait_for "$MNT/jobs/$c/status" active 20
seen=0
for _ in $(seq 40); do
    sa=$(cat "$MNT/jobs/$a/status" 2>/dev/null || echo gone)
    sb=$(cat "$MNT/jobs/$b/status" 2>/dev/null || echo gone)
    [ "$sa" = active ] && [ "$sb" = active ] && fail "both calls of 555300X are active"
    if [ "$sa" = active ] || [ "$sb" = active ]; then seen=$((seen + 1)); fi
    sleep 0.1
done
[ "$seen" -gt 0 ] || fail "no call of 555300X went active"
for j in $a $b $c; do echo cancel >"$MNT/jobs/$j/ctl" 2>/dev/null || true; done
echo PASS

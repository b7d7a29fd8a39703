#!/bin/bash
# tour.sh - keeps the README's tour (docs/tour.md) honest: runs the same
# commands against a real daemon on the simulated network, at fast pace,
# and checks that their output has the shape the transcript shows. When
# this test fails, the tour has gone stale: fix the text or the code.
source "$(dirname "$0")/../mount/lib.sh"
# The system's MTA, as the tour's receipt step meets it: a stand-in that
# keeps the message (the tour itself uses /usr/sbin/sendmail).
cat >"$WORK/sendmail" <<SH
#!/bin/sh
cat >"$WORK/receipt.eml"
SH
chmod 755 "$WORK/sendmail"
faxfs_start --sendmail "$WORK/sendmail"
cd "$MNT"

# words CMD...: the command's output as one line of words, like ls in a terminal.
words() { "$@" | tr -s ' \n' '  ' | sed 's/ $//'; }
one_of() {
    local what=$1 got=$2
    shift 2
    for want in "$@"; do [ "$got" = "$want" ] && return 0; done
    fail "$what: got '$got', wanted one of: $*"
}

make_fax "$WORK/sample.tif" 2

# $ ls
expect_eq "ls" "$(words ls)" "ctl groups history jobs lines metrics modems outbox received server"

# The tour's ids: the first two a fresh spool hands out (100000, 100001).
a=$(job_id 1) b=$(job_id 2)

# $ cp sample.tif outbox/5551234.tif ; ls jobs/ ; cat jobs/100000/status jobs/100000/device_status
# (At fast pace the call could end before ls runs: the queue is held, out
# of the tour's sight, until the job has been looked at.)
echo pause >ctl
cp "$WORK/sample.tif" outbox/5551234.tif
expect_eq "ls jobs/" "$(words ls jobs/)" "$a"
one_of "jobs/$a/status" "$(cat "jobs/$a/status")" queued active
[ "$(wc -l <"jobs/$a/device_status")" -le 1 ] || fail "device_status: more than one line"
echo resume >ctl

# $ cp sample.tif outbox/5550102.tif ; cat jobs/100001/status jobs/100001/last_error
cp "$WORK/sample.tif" outbox/5550102.tif
wait_for "jobs/$b/status" retrying
grep -Eq '^no_answer: .+' "jobs/$b/last_error" || fail "last_error: $(cat "jobs/$b/last_error")"

# $ rm -r jobs/100001 ; cat history/100001/status
expect_eq "rm -r says nothing" "$(rm -r "jobs/$b" 2>&1)" ""
expect_eq "history/$b/status" "$(cat "history/$b/status")" canceled

# $ cat jobs/100000/wait (at fast pace the job may be in history/ already)
w=$(timeout 60 cat "jobs/$a/wait" 2>/dev/null || timeout 60 cat "history/$a/wait")
expect_eq "wait" "$w" done

# $ ls history/ ; cat history/100000/status history/100000/pages_sent
wait_for "history/$a/status" done
expect_eq "ls history/" "$(words ls history/)" "$a $b"
expect_eq "history/$a/pages_sent" "$(cat "history/$a/pages_sent")" 2

# $ grep -E '^(status|pages_sent|attempts|bit_rate|call_duration):' history/100000/info
info=$(grep -E '^(status|pages_sent|attempts|bit_rate|call_duration):' "history/$a/info")
expect_eq "info keys" "$(cut -d: -f1 <<<"$info" | tr '\n' ' ')" "status pages_sent attempts bit_rate call_duration "
grep -qx 'status: done' <<<"$info" || fail "info: $info"
grep -qx 'pages_sent: 2' <<<"$info" || fail "info: $info"
grep -qx 'attempts: 1' <<<"$info" || fail "info: $info"
grep -Eqx 'bit_rate: [0-9]+' <<<"$info" || fail "info: $info"
grep -Eqx 'call_duration: [0-9]+' <<<"$info" || fail "info: $info"

# $ ls history/100000/pages/
expect_eq "ls pages/" "$(words ls "history/$a/pages/")" "001.png 001.tif 002.png 002.tif"

# $ grep '^faxfs_calls_total' metrics
calls=$(grep '^faxfs_calls_total' metrics)
grep -qx 'faxfs_calls_total{outcome="success"} 1' <<<"$calls" || fail "metrics: $calls"
grep -Eqx 'faxfs_calls_total\{outcome="no_answer"\} [1-9][0-9]*' <<<"$calls" || fail "metrics: $calls"

# $ mkdir outbox/letter ; echo 5551234 > .../recipient_number ; echo $(id -un)@localhost > .../notify
# $ cp ../sample.tif outbox/letter/ && echo submit > outbox/letter/ctl ; cat jobs/100002/wait
c=$(job_id 3)
me=$(id -un)
mkdir outbox/letter
echo 5551234 >outbox/letter/recipient_number
echo "$me@localhost" >outbox/letter/notify
cp "$WORK/sample.tif" outbox/letter/ && echo submit >outbox/letter/ctl
w=$(timeout 60 cat "jobs/$c/wait" 2>/dev/null || timeout 60 cat "history/$c/wait")
expect_eq "wait of the draft's job" "$w" done

# $ cut -f1-3 history/100002/deliveries
for _ in $(seq 300); do grep -q "	done	" "history/$c/deliveries" 2>/dev/null && break; sleep 0.1; done
expect_eq "deliveries" "$(cut -f1-3 "history/$c/deliveries")" "receipt	$me@localhost	done"
grep -q "^Subject: Fax $c to 5551234: done" "$WORK/receipt.eml" || fail "the receipt: $(head -c 2000 "$WORK/receipt.eml")"

# $ cd / ; fusermount3 -u MOUNT
cd /
fusermount3 -u "$MNT" || fail "fusermount3 -u failed"
for _ in $(seq 50); do kill -0 "$DAEMON_PID" 2>/dev/null || break; sleep 0.1; done
kill -0 "$DAEMON_PID" 2>/dev/null && fail "the daemon did not stop after fusermount3 -u"
mountpoint -q "$MNT" && fail "still mounted"
echo PASS

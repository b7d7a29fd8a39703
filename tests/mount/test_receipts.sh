#!/bin/bash
# Receipts by mail, end to end through a private Postfix instance
# (tests/lib/postfix.sh): a draft with `notify` gets, when its job ends,
# a mail with the transmission report attached. One job is done (a call to
# our own number), one fails (5550101 is busy, one attempt); each mail
# arrives in its Maildir with the job's Message-ID, report-ID.pdf passes
# qpdf --check and pdftotext shows the result ("done", "failed", "busy");
# `deliveries` shows the receipt done. A third receipt whose sendmail
# fails for now is stored, the daemon is killed with -9, and after the
# restart the mail still goes out. Bad addresses are refused at the draft.
# A user's default receipt (--receipt-notify) covers a job without fields.
# notify_when every-attempt: a busy number with max_attempts 3 gives two
# attempt receipts and the final one, each exactly once, also after a
# restart.
source "$(dirname "$0")/lib.sh"
[ "$(id -u)" -eq 0 ] || skip "Postfix's master needs root"
command -v postfix >/dev/null || skip "postfix is not installed (scripts/setup.sh)"
for tool in qpdf pdftotext python3; do
    command -v $tool >/dev/null || skip "needs $tool (scripts/setup.sh installs it)"
done
source "$(dirname "$0")/../lib/postfix.sh"
postfix_start alice bob carol dave erin || fail "the Postfix instance did not start"

# sendmail as faxfs runs it: the instance's, except while $WORK/hold
# exists, when it fails as a busy MTA does (EX_TEMPFAIL).
cat >"$WORK/sendmail" <<SH
#!/bin/sh
[ -e "$WORK/hold" ] && { echo "held by the test" >&2; exit 75; }
exec "$PF_SENDMAIL" "\$@"
SH
chmod 755 "$WORK/sendmail"
START=(--modems 2 --station-number 5550100 --max-attempts 1 --retry-delay 2 --sendmail "$WORK/sendmail" --delivery-retry 1
    --receipt-notify root=dave@fax.localhost --receipt-notify-when root=failed)
faxfs_start "${START[@]}"
make_fax "$WORK/doc.tif" 2

# draft NAME NUMBER FIELD=VALUE...: a draft of doc.tif, submitted.
draft() {
    local d="$MNT/outbox/$1" kv
    mkdir "$d"
    echo "$2" >"$d/recipient_number"
    shift 2
    for kv in "$@"; do echo "${kv#*=}" >"$d/${kv%%=*}"; done
    cp "$WORK/doc.tif" "$d/"
    echo submit >"$d/ctl"
}

# Addresses are checked when written.
mkdir "$MNT/outbox/bad"
expect_fail_with "Invalid argument" bash -c "echo 'alice@fax.localhost, -oQ/tmp/x' >'$MNT/outbox/bad/notify'"
expect_fail_with "Invalid argument" bash -c "echo '<alice@fax.localhost>' >'$MNT/outbox/bad/notify'"
expect_fail_with "Invalid argument" bash -c "echo sometimes >'$MNT/outbox/bad/notify_when'"
expect_fail_with "Invalid argument" bash -c "echo everything >'$MNT/outbox/bad/notify_attach'"
echo " alice@fax.localhost ,bob@fax.localhost" >"$MNT/outbox/bad/notify"
expect_eq "notify reads back normalized" "$(cat "$MNT/outbox/bad/notify")" "alice@fax.localhost,bob@fax.localhost"
rmdir "$MNT/outbox/bad" 2>/dev/null || rm -r "$MNT/outbox/bad"

echo pause >"$MNT/ctl"
draft ok 5550100 notify=alice@fax.localhost
draft busy 5550101 notify=bob@fax.localhost notify_when=failed
OK=$(job_id 1) BUSY=$(job_id 2)
echo resume >"$MNT/ctl"
wait_for "$MNT/history/$OK/status" done 60
wait_for "$MNT/history/$BUSY/status" failed 60

# check_mail USER JOB NUMBER RESULT WORDS...: USER's receipt of JOB.
check_mail() {
    local user=$1 job=$2 number=$3 result=$4 mail w
    shift 4
    mail=$(postfix_wait_mail "$user" 60) || fail "no receipt for $user (job $job)"
    python3 "$(dirname "$0")/receipt_check.py" "$mail" "$job" "$number" "$result" "$WORK/$job.pdf" ||
        fail "the receipt of job $job"
    qpdf --check "$WORK/$job.pdf" >"$WORK/qpdf.out" 2>&1 || fail "qpdf --check: $(cat "$WORK/qpdf.out")"
    pdftotext -layout "$WORK/$job.pdf" "$WORK/$job.txt" || fail "pdftotext of the receipt of $job"
    grep -Eq "^ *Result +$result\$" "$WORK/$job.txt" || fail "receipt of $job: no result $result: $(cat "$WORK/$job.txt")"
    grep -Eq "^ *Number +$number\$" "$WORK/$job.txt" || fail "receipt of $job: no number $number"
    for w in "$@"; do grep -q -- "$w" "$WORK/$job.txt" || fail "receipt of $job: no '$w'"; done
    cmp -s "$WORK/$job.pdf" "$MNT/history/$job/report.pdf" || fail "the attached report differs from report.pdf"
    for _ in $(seq 100); do grep -q "	done	" "$MNT/history/$job/deliveries" && break; sleep 0.1; done
    grep -Eq "^receipt	$user@fax.localhost	done	[0-9]+	" "$MNT/history/$job/deliveries" ||
        fail "deliveries of $job: $(cat "$MNT/history/$job/deliveries")"
    echo "receipt of job $job for $user: $(grep -c . "$WORK/$job.txt") lines of report"
}
check_mail alice "$OK" 5550100 done "2 of 2 sent"
check_mail bob "$BUSY" 5550101 failed busy "0 of 2 sent"
expect_eq "notify_when in info" "$(grep '^notify_when:' "$MNT/history/$BUSY/info")" "notify_when: failed"

# A receipt stored but not yet mailed survives a kill -9.
touch "$WORK/hold"
draft later 5550100 notify=carol@fax.localhost
LATER=$(job_id 4) # job 3 was the fax our own number received from job 1
wait_for "$MNT/history/$LATER/status" done 60
for _ in $(seq 200); do grep -q "	retrying	" "$MNT/history/$LATER/deliveries" 2>/dev/null && break; sleep 0.05; done
grep -q "^receipt	carol@fax.localhost	retrying	" "$MNT/history/$LATER/deliveries" ||
    fail "the held receipt: $(cat "$MNT/history/$LATER/deliveries")"
kill -9 "$DAEMON_PID"
wait "$DAEMON_PID" 2>/dev/null || true
DAEMON_PID=
fusermount3 -u -z "$MNT" 2>/dev/null || true
[ -z "$(ls -A "$PF_MAILDIRS/carol/new" 2>/dev/null)" ] || fail "carol got mail while sendmail was held"
rm -f "$WORK/hold"
faxfs_start "${START[@]}"
check_mail carol "$LATER" 5550100 done

# root's default receipt ([receipt root]): a plain cp to the busy number,
# no fields, still gets one when it fails.
# The daemon was killed: ids resume at the next reserved block, so the new
# jobs are found as the newest, not by counting.
cp "$WORK/doc.tif" "$MNT/outbox/5550101.tif"
PLAIN=$(newest_job)
wait_for "$MNT/history/$PLAIN/status" failed 60
check_mail dave "$PLAIN" 5550101 failed busy

# every-attempt: attempts 1 and 2 are retried (a receipt each, naming the
# attempt, the error and the next try), attempt 3 ends the job (the final
# receipt with the report).
draft tries 5550101 notify=erin@fax.localhost notify_when=every-attempt max_attempts=3
TRIES=$(newest_job)
expect_eq "notify_when every-attempt in info" "$(grep '^notify_when:' "$MNT/jobs/$TRIES/info")" \
    "notify_when: every-attempt"
wait_for "$MNT/history/$TRIES/status" failed 90
# count_erin: how many mails erin has; waits (bounded) for at least $1.
count_erin() {
    local n=0
    for _ in $(seq 600); do
        n=$(find "$PF_MAILDIRS/erin/new" -type f 2>/dev/null | wc -l)
        [ "$n" -ge "$1" ] && break
        sleep 0.1
    done
    echo "$n"
}
expect_eq "erin's mails" "$(count_erin 3)" 3
for _ in $(seq 200); do [ "$(grep -c '	done	' "$MNT/history/$TRIES/deliveries")" -eq 3 ] && break; sleep 0.1; done
expect_eq "three receipts done" "$(cut -f1,3 "$MNT/history/$TRIES/deliveries" | tr '\t\n' ' ;')" \
    "attempt done;attempt done;receipt done;"
# check_tries: the three mails: subjects, Message-IDs, the final's report.
check_tries() {
    python3 - "$PF_MAILDIRS/erin/new" "$TRIES" <<'PY' || fail "erin's receipts"
import email, email.policy, os, re, sys
d, job = sys.argv[1], sys.argv[2]
msgs = [email.message_from_bytes(open(os.path.join(d, f), 'rb').read(), policy=email.policy.default)
        for f in os.listdir(d)]
subjects = sorted(str(m['Subject']) for m in msgs)
ids = sorted(str(m['Message-ID']) for m in msgs)
print('\n'.join(subjects))
for n in (1, 2):
    want = r'^Fax %s to 5550101: attempt %d of 3 failed, busy: .+; next try \d{4}-\d\d-\d\dT\d\d:\d\d:\d\d' % (job, n)
    if len([s for s in subjects if re.match(want, s)]) != 1:
        sys.exit('FAIL: no single subject like %r in %r' % (want, subjects))
final = [m for m in msgs if re.match(r'^Fax %s to 5550101: failed, retries_exceeded \(0 of 2 pages sent\)' % job, str(m['Subject']))]
if len(final) != 1 or not any(p.get_filename() == 'report-%s.pdf' % job for p in final[0].iter_attachments()):
    sys.exit('FAIL: the final receipt with its report: %r' % subjects)
if len(set(ids)) != 3 or not all(i.startswith('<faxfs.%s.' % job) for i in ids):
    sys.exit('FAIL: Message-IDs %r' % ids)
PY
}
check_tries
# A restart sends none of them again.
faxfs_stop
faxfs_start "${START[@]}"
wait_exists "$MNT/history/$TRIES/deliveries" 30
sleep 3 # the delivery runner's first pass is immediate; give it time to (wrongly) send
expect_eq "erin's mails after a restart" "$(find "$PF_MAILDIRS/erin/new" -type f | wc -l)" 3
check_tries

# and a bad default is refused at start, naming the section.
"$FAXFS" -f -s "$WORK/spool2" --line sim --receipt-notify "root=-oQ/tmp/x" "$WORK" >"$WORK/bad.out" 2>&1 &&
    fail "a bad default address was accepted"
grep -q "receipt-notify" "$WORK/bad.out" || fail "the refusal does not name the option: $(cat "$WORK/bad.out")"
echo PASS

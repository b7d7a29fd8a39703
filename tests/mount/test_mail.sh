#!/bin/bash
# The owner's notification mail, end to end: a mounted daemon with
# --notify-mail=all and --sendmail pointing at a private Postfix instance
# (tests/lib/postfix.sh) sends a fax; root's mail arrives in a Maildir as
# a MIME message naming the job, and sendmail got root as an argument.
source "$(dirname "$0")/lib.sh"
[ "$(id -u)" -eq 0 ] || skip "Postfix's master needs root"
command -v postfix >/dev/null || skip "postfix is not installed (scripts/setup.sh)"
source "$(dirname "$0")/../lib/postfix.sh"
postfix_start root || fail "the Postfix instance did not start"

faxfs_start --modems 1 --notify-mail=all --sendmail "$PF_SENDMAIL"
make_fax "$WORK/doc.tif" 1
cp "$WORK/doc.tif" "$MNT/outbox/5551234.tif"
id=$(job_id 1)
wait_for "$MNT/history/$id/status" "done" 60

mail=$(postfix_wait_mail root 60) || fail "no notification mail for root"
python3 - "$mail" "$id" <<'PY'
import email, email.policy, sys
path, job = sys.argv[1], sys.argv[2]
msg = email.message_from_bytes(open(path, "rb").read(), policy=email.policy.default)
def want(cond, what):
    if not cond:
        sys.exit(f"FAIL: {what}\n{open(path, errors='replace').read()[:2000]}")
want(str(msg["Subject"]) == f"fax {job} to 5551234: done", f"subject {msg['Subject']!r}")
want(msg["Delivered-To"] == "root@fax.localhost", f"delivered to {msg['Delivered-To']!r}")
want(msg["Auto-Submitted"] == "auto-generated", "Auto-Submitted")
want(msg["MIME-Version"] == "1.0", "not a MIME message")
want(f"history/{job}/" in msg.get_content(), "the text does not name the job's directory")
PY
grep -q "uid=0 from=<root>" "$PF_DIR/maillog" || fail "sendmail was not run by root as expected: $(grep pickup "$PF_DIR/maillog")"
echo PASS

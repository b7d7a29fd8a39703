#!/bin/bash
# Received faxes by mail through a real MTA: three faxes to three numbers of
# ours on the simulated network, routed by called number to three
# mailboxes of a private Postfix instance (tests/lib/postfix.sh). Each
# mailbox gets one MIME mail with the fax as a PDF attachment whose pages
# show the received pages' pixels (tests/mount/pdf_pages.py), with the
# called number in the text and a Message-ID naming the job.
source "$(dirname "$0")/lib.sh"
[ "$(id -u)" -eq 0 ] || skip "Postfix's master needs root"
command -v postfix >/dev/null || skip "postfix is not installed (scripts/setup.sh)"
command -v pdftoppm >/dev/null || skip "poppler-utils is not installed (scripts/setup.sh)"
source "$(dirname "$0")/../lib/postfix.sh"
postfix_start alice bob carol || fail "the Postfix instance did not start"

cat >"$WORK/faxfs.conf" <<CONF
[receive sales]
called = 5550101
mail = alice@$PF_DOMAIN

[receive support]
called = 5550102
mail = bob@$PF_DOMAIN

[receive billing]
called = 5550103
mail = carol@$PF_DOMAIN
CONF
faxfs_start --config "$WORK/faxfs.conf" --modems 3 --station-number 5550101 --station-number 5550102 \
    --station-number 5550103 --sendmail "$PF_SENDMAIL" --delivery-retry 1

# Three different faxes (1, 2 and 3 pages), one at a time so ids are known.
i=1
for n in 5550101 5550102 5550103; do
    make_fax "$WORK/doc$n.tif" $i
    cp "$WORK/doc$n.tif" "$MNT/outbox/$n.tif"
    i=$((i + 1))
done
for user in alice bob carol; do
    postfix_wait_mail $user 120 >/dev/null || fail "no mail reached $user"
done

check() { # USER CALLED PAGES
    local user=$1 called=$2 pages=$3 rx mail
    rx=$(grep -lx "$called" "$MNT"/received/*/called_number | head -1)
    [ -n "$rx" ] || fail "no received fax for $called"
    rx=$(dirname "$rx")
    mail=$(postfix_wait_mail "$user" 10)
    python3 - "$mail" "$called" "$(basename "$rx")" "$WORK/$user.pdf" <<'PY' || fail "$user's mail"
import email, email.policy, sys
path, called, job, out = sys.argv[1:5]
msg = email.message_from_bytes(open(path, "rb").read(), policy=email.policy.default)
def want(cond, what):
    if not cond:
        sys.exit(f"FAIL: {what}\n{open(path, errors='replace').read()[:1500]}")
want(msg.get_content_type() == "multipart/mixed", f"content type {msg.get_content_type()}")
want(f"<faxfs.{job}." in str(msg["Message-ID"]), f"Message-ID {msg['Message-ID']!r} does not name job {job}")
want(msg["Date"] is not None, "no Date")
pdfs = [p for p in msg.iter_attachments() if p.get_content_type() == "application/pdf"]
want(len(pdfs) == 1, f"{len(pdfs)} PDF attachments")
text = msg.get_body(preferencelist=("plain",)).get_content()
want(called in text, f"the text does not name the called number {called}")
open(out, "wb").write(pdfs[0].get_content())
PY
    qpdf --check "$WORK/$user.pdf" >/dev/null || fail "$user's PDF fails qpdf --check"
    python3 "$(dirname "$0")/pdf_pages.py" "$WORK/$user.pdf" "$rx"/pages/*.tif >/dev/null ||
        fail "$user's PDF does not show the received pages"
    expect_eq "$user's page count" "$(cat "$rx/page_count")" "$pages"
    grep -q "^mail"$'\t'"$user@$PF_DOMAIN"$'\t'"done" "$rx/deliveries" ||
        fail "$user's delivery record: $(cat "$rx/deliveries")"
}
check alice 5550101 1
check bob 5550102 2
check carol 5550103 3
echo PASS

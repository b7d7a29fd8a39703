#!/bin/bash
# faxfs's mail through a real MTA: mail_message_write() and sendmail.c hand
# a message with a PDF and a binary attachment to a private Postfix
# instance (tests/lib/postfix.sh), which delivers it into two Maildirs.
# Python's email package reads the delivered files back: subject and file
# names decoded, Message-ID as derived from the job, the attachments' bytes
# identical to the files, and a CR/LF in an outside value added no header.
# A second Postfix instance runs at the same time in another directory and
# delivers its own mail. Nothing listens on the network.
# Usage: MAIL_SEND=path/to/mail_send bash test_mail_postfix.sh (root; exit 77 = skipped)
set -euo pipefail

: "${MAIL_SEND:?MAIL_SEND must name the mail_send test program}"
HERE=$(cd "$(dirname "$0")" && pwd)

fail() {
    echo "FAIL: $*" >&2
    exit 1
}
skip() {
    echo "SKIP: $*"
    exit 77
}

[[ $(id -u) -eq 0 ]] || skip "Postfix's master needs root"
command -v postfix >/dev/null || skip "postfix is not installed (scripts/setup.sh)"
command -v python3 >/dev/null || skip "python3 is not installed"

WORK=$(mktemp -d /tmp/faxfs-mail-test.XXXXXX)
OTHER_PID=""
cleanup() {
    [[ -n $OTHER_PID ]] && { kill "$OTHER_PID" 2>/dev/null || true; wait "$OTHER_PID" 2>/dev/null || true; }
    rm -rf "$WORK"
}
trap cleanup EXIT

# shellcheck source=../lib/postfix.sh
source "$HERE/../lib/postfix.sh"
postfix_start alice bob || fail "the Postfix instance did not start"

# No listener of this instance on the network.
master=$(tr -d ' \n' < "$PF_DIR/queue/pid/master.pid")
if command -v ss >/dev/null && ss -ltnpH | grep -q "pid=$master,"; then
    fail "the test instance listens on the network: $(ss -ltnpH | grep "pid=$master,")"
fi

# The attachments: a real PDF (ghostscript, if present) and 64 KiB of
# random bytes, every byte value possible.
if command -v gs >/dev/null; then
    gs -q -dBATCH -dNOPAUSE -dSAFER -sDEVICE=pdfwrite -sOutputFile="$WORK/fax.pdf" \
        -c "/Helvetica findfont 24 scalefont setfont 72 700 moveto (faxfs mail test) show showpage" \
        || fail "ghostscript made no PDF"
else
    printf '%%PDF-1.4\n%%\xe2\xe3\xcf\xd3\n1 0 obj<</Type/Catalog/Pages 2 0 R>>endobj\n2 0 obj<</Type/Pages/Kids[]/Count 0>>endobj\ntrailer<</Root 1 0 R>>\n%%%%EOF\n' > "$WORK/fax.pdf"
fi
head -c 65536 /dev/urandom > "$WORK/page.bin"

# A second instance at the same time, in a directory of its own.
(
    trap - EXIT # the parent's cleanup is not this instance's
    PF_DIR=""
    source "$HERE/../lib/postfix.sh"
    postfix_start carol || exit 1
    "$MAIL_SEND" --sendmail "$PF_SENDMAIL" --from fax@fax.localhost --to carol@fax.localhost \
        --subject "second instance" --text "from the other instance" >/dev/null || exit 2
    f=$(postfix_wait_mail carol 60) || exit 3
    grep -q "^Subject: second instance" "$f" || exit 4
    grep -o 'faxfs-pf-[A-Za-z0-9]*/qmgr' "$PF_DIR/maillog" | head -1 > "$WORK/other.name"
    exit 0
) &
OTHER_PID=$!

caller=$'ACME \xe2\x80\x93 Zentrale\r\nBcc: evil@example.com\r\nX-Injected: yes'
out=$("$MAIL_SEND" --sendmail "$PF_SENDMAIL" --timeout 60 \
    --from fax@fax.localhost --from-name "Faxserver Zürich" \
    --to alice@fax.localhost --to bob@fax.localhost \
    --subject "Fax von Müller – 2 Seiten" \
    --job-id 42 --index 1 --host mail.fax.localhost \
    --header "X-Faxfs-Job: 42" --header "X-Faxfs-Caller: $caller" \
    --text $'Ein Fax ist angekommen.\nGrüße\n' \
    --attach "application/pdf:Fax 42 – Müller.pdf:$WORK/fax.pdf" \
    --attach "application/octet-stream:page.bin:$WORK/page.bin") || fail "mail_send: $out"
echo "$out"
[[ $out == ok:* ]] || fail "sendmail did not take the message: $out"

alice=$(postfix_wait_mail alice 60) || fail "nothing delivered to alice"
bob=$(postfix_wait_mail bob 60) || fail "nothing delivered to bob"

python3 - "$alice" "$bob" "$WORK/fax.pdf" "$WORK/page.bin" <<'EOF'
import email, email.policy, sys
alice, bob, pdf_path, bin_path = sys.argv[1:]
pdf = open(pdf_path, "rb").read()
blob = open(bin_path, "rb").read()

def check(path, who):
    raw = open(path, "rb").read()
    msg = email.message_from_bytes(raw, policy=email.policy.default)
    def want(cond, what):
        if not cond:
            sys.exit(f"{who}: {what}\n--- delivered message head ---\n{raw[:1500].decode(errors='replace')}")
    want(msg["Delivered-To"] == f"{who}@fax.localhost", "delivered to someone else")
    want(str(msg["Subject"]) == "Fax von Müller – 2 Seiten", f"subject {msg['Subject']!r}")
    want(msg["Message-ID"] == "<faxfs.42.1@mail.fax.localhost>", f"message-id {msg['Message-ID']!r}")
    want(msg["X-Faxfs-Job"] == "42", "X-Faxfs-Job")
    want(msg["From"].addresses[0].display_name == "Faxserver Zürich", f"from {msg['From']!r}")
    want(msg["From"].addresses[0].addr_spec == "fax@fax.localhost", "from address")
    want(msg.get_all("Bcc") is None and msg.get_all("X-Injected") is None, "an outside value added a header")
    callers = msg.get_all("X-Faxfs-Caller")
    want(callers and len(callers) == 1 and "Bcc: evil@example.com" in str(callers[0]), f"caller {callers!r}")
    to = [a.addr_spec for a in msg["To"].addresses]
    want(to == ["alice@fax.localhost", "bob@fax.localhost"], f"to {to!r}")
    want(msg.get_content_type() == "multipart/mixed", msg.get_content_type())
    parts = list(msg.iter_parts())
    want(len(parts) == 3, f"{len(parts)} parts")
    want(parts[0].get_content_type() == "text/plain" and parts[0].get_content() == "Ein Fax ist angekommen.\nGrüße\n",
         f"text {parts[0].get_content()!r}")
    want(parts[1].get_content_type() == "application/pdf", parts[1].get_content_type())
    want(parts[1].get_filename() == "Fax 42 – Müller.pdf", f"filename {parts[1].get_filename()!r}")
    want(parts[1].get_payload(decode=True) == pdf, "the PDF's bytes differ")
    want(parts[2].get_filename() == "page.bin", "second filename")
    want(parts[2].get_payload(decode=True) == blob, "the binary attachment's bytes differ")
    for line in raw.split(b"\n"):
        want(len(line) <= 998, "a line longer than 998 octets")

check(alice, "alice")
check(bob, "bob")
print(f"delivered and identical: PDF {len(pdf)} bytes, binary {len(blob)} bytes, to alice and bob")
EOF

wait "$OTHER_PID" || fail "the second, parallel instance failed (status $?)"
OTHER_PID=""
this=$(grep -o 'faxfs-pf-[A-Za-z0-9]*/qmgr' "$PF_DIR/maillog" | head -1)
other=$(cat "$WORK/other.name")
[[ -n $this && -n $other && $this != "$other" ]] || fail "the two instances log under the same name ($this, $other)"
echo "two instances side by side: $this and $other"
echo "PASS"

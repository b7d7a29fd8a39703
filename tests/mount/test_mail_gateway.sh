#!/bin/bash
# Mail to fax through a real MTA: a private Postfix instance
# (tests/lib/postfix.sh) routes NUMBER@faxgw.localhost to a pipe transport
# that runs faxfs-mail as an unprivileged gateway user through sudo, as
# docs/mail.md sets it up. A mail from a mapped sender with a PDF and a PNG
# attached becomes a job owned by the mapped user, with a cover page from
# the body, sent over the simulated network, whose document pages are the
# same bytes as those of the same documents submitted by the user's own
# cp. An unknown sender and a mail without attachment bounce, each with
# its reason in the bounce in the sender's Maildir, and make no job; so
# does a number the dial rules refuse, with the daemon's reason. A mail to
# two numbers in one call is one broadcast group of two jobs of the mapped
# user; with a refused number among them, none.
source "$(dirname "$0")/lib.sh"
: "${FAXFS_MAIL:?FAXFS_MAIL must name the faxfs-mail binary}"
[ "$(id -u)" -eq 0 ] || skip "Postfix's master needs root"
command -v postfix >/dev/null || skip "postfix is not installed (scripts/setup.sh)"
command -v sudo >/dev/null || skip "sudo is not installed (scripts/setup.sh)"
command -v gs >/dev/null || skip "ghostscript (gs) is needed to make the test documents"
command -v useradd >/dev/null && command -v setpriv >/dev/null || skip "needs useradd and setpriv"

U=faxfs-t-mailgw-u GW=faxfs-t-mailgw-gw
SUDOERS=/etc/sudoers.d/faxfs-t-mailgw-$$
remove_users() {
    rm -f "$SUDOERS"
    try_hard userdel $U
    try_hard userdel $GW
}
remove_users
on_exit remove_users
retry useradd -M -N -s /usr/sbin/nologin $U
retry useradd -M -N -s /usr/sbin/nologin $GW
as() {
    local u=$1
    shift
    setpriv --reuid="$u" --regid="$(id -g "$u")" --init-groups "$@"
}

# The sudoers rule of docs/mail.md: the gateway user may run faxfs-mail as
# root with this mount and map only. faxfs-mail must be reachable by root
# through sudo (the build tree may be under a directory others cannot
# enter): a root-owned copy.
cp "$FAXFS_MAIL" "$WORK/faxfs-mail"
chmod 755 "$WORK" "$WORK/faxfs-mail"
printf '%s ALL=(root) NOPASSWD: %s --mount %s --map %s --sender *\n' "$GW" "$WORK/faxfs-mail" "$MNT" "$WORK/senders" > "$SUDOERS.tmp"
chmod 440 "$SUDOERS.tmp"
visudo -cqf "$SUDOERS.tmp" || fail "the sudoers rule does not parse"
mv "$SUDOERS.tmp" "$SUDOERS"

# The gateway user cannot point faxfs-mail at another map: sudo refuses
# the command line, and a second --map appended to the pinned one is
# refused by faxfs-mail (64) before it reads anything.
if as $GW sudo -n "$WORK/faxfs-mail" --mount /tmp --map /etc/shadow --sender a@b -- 1@x </dev/null 2>/dev/null; then
    fail "sudo ran faxfs-mail with another map"
fi
rc=0
as $GW sudo -n "$WORK/faxfs-mail" --mount "$MNT" --map "$WORK/senders" --sender a@b --map /etc/shadow -- 1@x \
    </dev/null 2>/dev/null || rc=$?
expect_eq "exit of a second --map" $rc 64

# The sender map: root's, writable by root only.
printf '# test map\nada@fax.localhost %s\nbob@fax.localhost %s\n@other.localhost %s\n' $U $U $U > "$WORK/senders"
chmod 644 "$WORK/senders"

faxfs_start -o allow_other,default_permissions --modems 1 --dial-deny '5559*'
chmod 755 "$SPOOL" 2>/dev/null || true

PF_EXTRA_MAIN="transport_maps = texthash:$WORK/transport
faxmail_destination_recipient_limit = 1"
PF_EXTRA_MASTER="faxmail   unix  -       n       n       -       -       pipe
  user=$GW argv=/usr/bin/sudo -n $WORK/faxfs-mail --mount $MNT --map $WORK/senders --sender \${sender} -- \${recipient}"
source "$(dirname "$0")/../lib/postfix.sh"
echo "faxgw.localhost faxmail:" > "$WORK/transport"
# postfix_start chains to the EXIT trap of lib.sh.
postfix_start ada eve bob || fail "the Postfix instance did not start"

cat >"$WORK/two.ps" <<'PS'
%!PS
/Helvetica findfont 36 scalefont setfont
72 700 moveto (Mail page one) show showpage
72 700 moveto (Mail page two) show showpage
PS
gs -q -dSAFER -dBATCH -sDEVICE=pdfwrite -o "$WORK/two.pdf" "$WORK/two.ps"
gs -q -dSAFER -dBATCH -sDEVICE=pnggray -r100 -dLastPage=1 -o "$WORK/one.png" "$WORK/two.ps"

# mail FROM TO EML [ATTACH...]: a MIME message written with Python's email
# package: a text body, the attachments as application/octet-stream for the
# PNG (the magic bytes decide) and application/pdf for the PDF.
make_eml() {
    python3 - "$@" <<'PY'
import sys
from email.message import EmailMessage
frm, to, out, *files = sys.argv[1:]
m = EmailMessage()
m["From"], m["To"], m["Subject"] = frm, to, "Müller & Söhne"
m.set_content("Dear Ada,\nthe notes you asked for.\n")
for f in files:
    data = open(f, "rb").read()
    if f.endswith(".pdf"):
        m.add_attachment(data, maintype="application", subtype="pdf", filename=f.rsplit("/", 1)[-1])
    else:
        m.add_attachment(data, maintype="application", subtype="octet-stream", filename=f.rsplit("/", 1)[-1])
open(out, "wb").write(bytes(m))
PY
}
mail() {
    local from=$1 to=$2 eml=$3
    make_eml "$@"
    "$PF_SENDMAIL" -i -f "$from" -- "$to" < "$eml" || fail "sendmail did not take the mail from $from"
}

# 1. A mapped sender, a PDF and a PNG: a job of U with a cover and 3 pages.
mail ada@fax.localhost 555-1234@faxgw.localhost "$WORK/ok.eml" "$WORK/two.pdf" "$WORK/one.png"
id=$(job_id 1)
for _ in $(seq 600); do
    [ -e "$MNT/history/$id" ] || [ -e "$MNT/jobs/$id" ] && break
    grep -q "status=bounced\|status=deferred" "$PF_DIR/maillog" && {
        grep "faxmail" "$PF_DIR/maillog" >&2
        fail "Postfix did not deliver to faxfs-mail"
    }
    sleep 0.1
done
wait_for "$MNT/history/$id/status" done 90
d=$MNT/history/$id
expect_eq "owner" "$(cat "$d/owner")" $U
expect_eq "number (as the daemon stores it)" "$(cat "$d/recipient_number")" 5551234
expect_eq "recipient_name" "$(cat "$d/recipient_name")" "Müller & Söhne"
expect_eq "page_count (cover, 2 PDF pages, the PNG)" "$(cat "$d/page_count")" 4
expect_eq "pages_sent" "$(cat "$d/pages_sent")" 4
grep -q "status=sent" "$PF_DIR/maillog" || fail "Postfix logged no delivery: $(grep faxmail "$PF_DIR/maillog")"

# The same documents by the user's own draft and cp: the same pages.
as $U mkdir "$MNT/outbox/bycp"
as $U sh -c "echo 5551234 > '$MNT/outbox/bycp/recipient_number'"
as $U cp "$WORK/two.pdf" "$MNT/outbox/bycp/01.pdf"
as $U cp "$WORK/one.png" "$MNT/outbox/bycp/02.png"
as $U sh -c "echo submit > '$MNT/outbox/bycp/ctl'"
id2=$(job_id 2)
wait_for "$MNT/history/$id2/status" done 90
expect_eq "cp page_count" "$(cat "$MNT/history/$id2/page_count")" 3
for p in 1 2 3; do
    a=$(printf '%s/pages/%03d.tif' "$d" $((p + 1)))
    b=$(printf '%s/pages/%03d.tif' "$MNT/history/$id2" $p)
    cmp -s "$a" "$b" || fail "page $((p + 1)) of the mailed job differs from page $p of the copied one"
done
echo "mailed job $id: owner $U, 4 pages sent; its 3 document pages equal those of job $id2 (cp)"

# 2. An unknown sender bounces with the reason; no job.
mail eve@fax.localhost 5551234@faxgw.localhost "$WORK/eve.eml" "$WORK/two.pdf"
b=$(postfix_wait_mail eve 90) || fail "no bounce for the unknown sender"
grep -q "not in the sender map" "$b" || fail "the bounce does not give the reason: $(head -c 3000 "$b")"

# 3. No attachment bounces with the reason; no job.
mail ada@fax.localhost 5551234@faxgw.localhost "$WORK/none.eml"
b=$(postfix_wait_mail ada 90) || fail "no bounce for the mail without attachment"
grep -q "no attachment of a type faxfs can send" "$b" || fail "the bounce does not give the reason: $(head -c 3000 "$b")"
[ ! -e "$MNT/history/$(job_id 3)" ] && [ ! -e "$MNT/jobs/$(job_id 3)" ] || fail "a refused mail made a job"

# 4. A number the dial rules refuse: EACCES at submit, bounced (77) with
# the daemon's reason; no job, no draft left behind.
mail bob@fax.localhost 5559123@faxgw.localhost "$WORK/deny.eml" "$WORK/two.pdf"
b=$(postfix_wait_mail bob 90) || fail "no bounce for the refused number"
grep -q "refused by --dial-deny 5559" "$b" || fail "the bounce does not give the dial rule: $(head -c 3000 "$b")"
[ ! -e "$MNT/history/$(job_id 3)" ] && [ ! -e "$MNT/jobs/$(job_id 3)" ] || fail "a refused number made a job"
expect_eq "drafts left in the outbox" "$(ls "$MNT/outbox" | grep -c '^mail-' || true)" 0
grep -o "dsn=5[^ ]*, status=bounced (.*)" "$PF_DIR/maillog" | head -3

# 5. Two numbers in one call (a pipe transport with a recipient limit
# above 1 makes such calls; here the call is made as the transport would):
# one broadcast group of two jobs, both the mapped user's, each with its
# cover; with a refused number among them the mail is refused (77) whole.
make_eml ada@fax.localhost "5552001@faxgw.localhost, 5552002@faxgw.localhost" "$WORK/two.eml" "$WORK/two.pdf"
gw() { as $GW sudo -n "$WORK/faxfs-mail" --mount "$MNT" --map "$WORK/senders" --sender "$@"; }
groups_before=$(ls "$MNT/groups" | wc -l)
rc=0
gw ada@fax.localhost -- 5552001@faxgw.localhost 5552002@faxgw.localhost <"$WORK/two.eml" 2>"$WORK/two.err" || rc=$?
expect_eq "exit of a mail to two numbers" "$rc" 0
g=$(ls "$MNT/groups" | sort -n | tail -1)
expect_eq "groups after it" "$(ls "$MNT/groups" | wc -l)" $((groups_before + 1))
expect_eq "the group's numbers" "$(cut -f2 "$MNT/groups/$g/jobs" | tr '\n' ' ')" "5552001 5552002 "
# Each file is read from wherever the job is at that moment (job_file).
for gid in $(cut -f1 "$MNT/groups/$g/jobs"); do
    expect_eq "owner of $gid" "$(job_file "$gid" owner)" $U
    expect_eq "group of $gid" "$(job_file "$gid" group)" "$g"
    expect_eq "page_count of $gid (its cover and 2 PDF pages)" "$(job_file "$gid" page_count)" 3
done
jobs_before=$(ls "$MNT/jobs" "$MNT/history" | grep -c '^[0-9]')
rc=0
gw ada@fax.localhost -- 5552003@faxgw.localhost 5559004@faxgw.localhost <"$WORK/two.eml" 2>"$WORK/deny2.err" || rc=$?
expect_eq "exit of a mail with a refused number among two" "$rc" 77
grep -q "recipients line 2: .*5559" "$WORK/deny2.err" || fail "the refusal does not name the line: $(cat "$WORK/deny2.err")"
expect_eq "no job of the refused mail" "$(ls "$MNT/jobs" "$MNT/history" | grep -c '^[0-9]')" "$jobs_before"
expect_eq "drafts left in the outbox" "$(ls "$MNT/outbox" | grep -c '^mail-' || true)" 0
echo PASS

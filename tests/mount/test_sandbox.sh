#!/bin/bash
# Hostile PostScript on a shared mount cannot reach the machine: documents
# are converted in the sandbox, as the conversion user, with a private
# /tmp. User A submits three attacks with cp; each is first run the way
# Ghostscript ran before the sandbox (root, -dSAFER, TMPDIR=/tmp), where it
# succeeds, which shows that the PostScript works and the checks can fail.
#  1. writing through a symlink A planted in /tmp to a root-only path;
#  2. writing into the spool, which lives under /tmp here like the demo's;
#  3. drawing user B's 0600 file from /tmp on its own page.
source "$(dirname "$0")/lib.sh"
[ "$(id -u)" = 0 ] || skip "needs root to create users"
command -v setpriv >/dev/null && command -v useradd >/dev/null || skip "needs setpriv and useradd"
command -v bwrap >/dev/null || fail "bwrap is missing: install bubblewrap (scripts/setup.sh)"
command -v gs >/dev/null || fail "gs is missing: install ghostscript (scripts/setup.sh)"
INK="$(dirname "$0")/png_ink.py"

A=faxfs-t-sandbox-a B=faxfs-t-sandbox-b
remove_users() { for u in $A $B; do userdel "$u" 2>/dev/null || true; done; }
remove_users
on_exit remove_users
retry useradd -M -N -s /usr/sbin/nologin $A
retry useradd -M -N -s /usr/sbin/nologin $B
as() {
    local u=$1
    shift
    setpriv --reuid="$u" --regid="$(id -g "$u")" --init-groups "$@"
}

tag=faxfs-t-sandbox-$$
LINK=/tmp/$tag-link SECRET=/tmp/$tag-secret
on_exit rm -f "$LINK" "$SECRET"
ROOTONLY="$WORK/rootonly"
mkdir -m 700 "$ROOTONLY"
TARGET="$ROOTONLY/planted"
as $A ln -s "$TARGET" "$LINK"
as $B bash -c "umask 077; echo SECRETWORD > '$SECRET'"
expect_eq "B's secret is private" "$(stat -c %a "$SECRET")" 600

ps() { # ps FILE BODY: a one-page PostScript document
    printf '%%!PS\n%s\n/Helvetica-Bold findfont 90 scalefont setfont\nshowpage\n' "$2" >"$1"
    chmod 644 "$1"
}
ps "$WORK/symlink.ps" "/f ($LINK) (w) file def f (* * * * * root cron job\\n) writestring f closefile"
ps "$WORK/spool.ps" "/f ($SPOOL/planted) (w) file def f (junk) writestring f closefile"
draw="/Helvetica-Bold findfont 90 scalefont setfont 40 400 moveto"
ps "$WORK/secret.ps" "{ /s ($SECRET) (r) file def s 100 string readline pop $draw show } stopped pop"
ps "$WORK/shown.ps" "$draw (SECRETWORD) show"

# Ghostscript the way faxfs ran it before the sandbox.
old_gs() {
    env -i PATH=/usr/bin:/bin LC_ALL=C TMPDIR=/tmp gs -q -dSAFER -dBATCH -dNOPAUSE -dNOPROMPT \
        -sDEVICE=pngmono -r204x196 -g1728x2291 -sOutputFile="$2" -f "$1" >/dev/null 2>&1
}
mkdir -p "$SPOOL"
old_gs "$WORK/symlink.ps" "$WORK/old1.png"
[ -e "$TARGET" ] || fail "control: the old way did not write through the symlink; the attack is broken"
old_gs "$WORK/spool.ps" "$WORK/old2.png"
[ -e "$SPOOL/planted" ] || fail "control: the old way did not write into the spool; the attack is broken"
old_gs "$WORK/secret.ps" "$WORK/old3.png"
old_ink=$(python3 "$INK" "$WORK/old3.png")
[ "$old_ink" -gt 1000 ] || fail "control: the old way did not draw the secret ($old_ink black pixels)"
rm -f "$TARGET" "$SPOOL/planted"

# The conversion user must exist and must not be root: refused at start.
expect_fail_with "documents are never converted as root" "$FAXFS" -f --convert-user root -s "$SPOOL" "$MNT"
expect_fail_with "no user named '$tag-nobody'" "$FAXFS" -f --convert-user "$tag-nobody" -s "$SPOOL" "$MNT"
mountpoint -q "$MNT" && fail "faxfs mounted with a refused --convert-user"

chmod 755 "$WORK" # the mount point must be reachable for the test users
faxfs_start -o allow_other,default_permissions
echo pause >"$MNT/ctl" # jobs stay in jobs/ while we look at them
grep -q "documents will be refused" "$DAEMON_LOG" && fail "the sandbox does not run here: $(cat "$DAEMON_LOG")"

# submit NAME: A copies the PostScript; prints the job id, or the reason
# (outbox/NAME.error) when cp was refused.
submit() {
    if as $A cp "$WORK/$1.ps" "$MNT/outbox/5551234.ps" 2>/dev/null; then
        echo "job $(ls "$MNT/jobs" | sort -n | tail -n 1)"
    else
        echo "refused: $(as $A cat "$MNT/outbox/5551234.ps.error")"
    fi
}

# 1. Through the symlink: the write lands in the sandbox's own /tmp.
r1=$(submit symlink)
echo "symlink attack: $r1"
[ ! -e "$TARGET" ] || fail "the PostScript wrote through A's symlink: $(cat "$TARGET")"
[ -z "$(ls -A "$ROOTONLY")" ] || fail "something appeared in the root-only directory: $(ls -A "$ROOTONLY")"

# 2. Into the spool: the sandbox has no spool to write to.
r2=$(submit spool)
echo "spool attack: $r2"
[ ! -e "$SPOOL/planted" ] || fail "the PostScript wrote into the spool"
[ -z "$(find "$SPOOL" -name 'planted*')" ] || fail "the PostScript wrote into the spool: $(find "$SPOOL" -name 'planted*')"
case "$r2" in
"refused: "*"PostScript document cannot be rendered"*) ;;
*) fail "the spool attack should end with a clear error, got: $r2" ;;
esac

# 3. B's secret: A's page comes out blank, while the same text drawn
# directly shows (so the ink count can tell).
r3=$(submit secret)
echo "secret attack: $r3"
case "$r3" in job*) ;; *) fail "the secret attack should give a (blank) page, got: $r3" ;; esac
ink=$(as $A cat "$MNT/jobs/${r3#job }/pages/001.png" >"$WORK/secret-page.png" && python3 "$INK" "$WORK/secret-page.png")
r4=$(submit shown)
shown_ink=$(as $A cat "$MNT/jobs/${r4#job }/pages/001.png" >"$WORK/shown-page.png" && python3 "$INK" "$WORK/shown-page.png")
echo "black pixels: secret page $ink, the secret drawn directly $shown_ink"
[ "$shown_ink" -gt 1000 ] || fail "the directly drawn secret shows no ink ($shown_ink): the check cannot tell"
expect_eq "black pixels on the page of the secret attack" "$ink" 0

grep -q "refused: .*PostScript" "$DAEMON_LOG" || fail "the daemon log does not name the refusal"
echo "PASS"

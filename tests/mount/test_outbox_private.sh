#!/bin/bash
# Drafts, uploads and previews on a shared mount: another user may not read
# a user's draft fields or documents (modes 0600/0700 under
# default_permissions, and the handlers refuse too without it), looking at
# another user's pages/ renders no preview, attribute changes the view
# cannot make fail with EPERM, and draft names with control characters are
# refused. Real users are created here and removed at exit.
source "$(dirname "$0")/lib.sh"
[ "$(id -u)" = 0 ] || skip "needs root to create users"
command -v setpriv >/dev/null && command -v useradd >/dev/null || skip "needs setpriv and useradd"

A=faxfs-t-priv-a B=faxfs-t-priv-b C=faxfs-t-priv-c ADM=faxfs-t-priv-adm
remove_users() {
    for u in $A $B $C; do ! id "$u" >/dev/null 2>&1 || try_hard userdel "$u"; done
    ! getent group $ADM >/dev/null || try_hard groupdel $ADM
}
remove_users
on_exit remove_users
retry groupadd $ADM
retry useradd -M -N -s /usr/sbin/nologin $A
retry useradd -M -N -s /usr/sbin/nologin $B
retry useradd -M -N -s /usr/sbin/nologin -G $ADM $C

as() {
    local u=$1
    shift
    setpriv --reuid="$u" --regid="$(id -g "$u")" --init-groups "$@"
}
metric() { grep "^$1 " "$MNT/metrics" | awk '{print $2}'; }

chmod 755 "$WORK"
make_fax "$WORK/doc.tif" 2
chmod 644 "$WORK/doc.tif"
faxfs_start -o allow_other,default_permissions --admin-group $ADM
echo pause >"$MNT/ctl"

# ---- A's draft is A's: B reads nothing in it ----
d="$MNT/outbox/letter"
as $A mkdir "$d"
as $A bash -c "echo 5550000 > '$d/recipient_number'"
as $A bash -c "echo 'Dear Ada' > '$d/comment'"
as $A cp "$WORK/doc.tif" "$d/doc.tif"
expect_eq "draft mode" "$(stat -c %a "$d")" 750
expect_eq "draft field mode" "$(stat -c %a "$d/comment")" 640
expect_eq "draft document mode" "$(stat -c %a "$d/doc.tif")" 640
expect_eq "draft document owner" "$(stat -c %U "$d/doc.tif")" $A
expect_fail_with "Permission denied" as $B cat "$d/comment"
expect_fail_with "Permission denied" as $B cat "$d/recipient_number"
expect_fail_with "Permission denied" as $B cat "$d/doc.tif"
expect_fail_with "Permission denied" as $B ls "$d"
expect_eq "A reads its field" "$(as $A cat "$d/comment")" "Dear Ada"
as $A cmp -s "$WORK/doc.tif" "$d/doc.tif" || fail "A cannot read its draft document"
cmp -s "$WORK/doc.tif" "$d/doc.tif" || fail "root cannot read the draft document"
as $C cmp -s "$WORK/doc.tif" "$d/doc.tif" || fail "the admin group cannot read the draft document"

# ---- attribute changes that cannot be made: EPERM, nothing changes ----
as $A cp "$WORK/doc.tif" "$MNT/outbox/5551234.tif"
j="$MNT/jobs/$(job_id 1)"
wait_exists "$j"
expect_fail_with "Operation not permitted" as $A chmod 666 "$j/ctl"
expect_fail_with "Operation not permitted" as $A truncate -s 0 "$j/ctl"
expect_fail_with "Operation not permitted" as $A touch "$j/ctl"
expect_fail_with "Operation not permitted" chmod 600 "$MNT/ctl"
expect_fail_with "Operation not permitted" truncate -s 0 "$MNT/ctl"
expect_fail_with "Operation not permitted" as $A chmod 600 "$d/ctl"
expect_fail_with "Operation not permitted" as $A chmod 700 "$d"
expect_fail_with "Operation not permitted" as $A truncate -s 5 "$d/comment"
expect_fail_with "Operation not permitted" as $A chmod 400 "$d/doc.tif"
expect_eq "ctl mode unchanged" "$(stat -c %a "$j/ctl")" 664
grep -q "chmod of jobs object $(job_id 1) node [0-9]* by $A (uid [0-9]*) refused with EPERM" "$DAEMON_LOG" || fail "no log line for a refused chmod"
expect_eq "server ctl mode unchanged" "$(stat -c %a "$MNT/ctl")" 644
expect_eq "draft field unchanged" "$(as $A cat "$d/comment")" "Dear Ada"
# What real tools need keeps working: cp -p (times, a mode with group and
# other bits), truncate of a draft document, echo > ctl, rm -r.
as $A cp -p "$WORK/doc.tif" "$d/copy.tif" || fail "cp -p into a draft failed"
expect_eq "cp -p kept the time" "$(stat -c %Y "$d/copy.tif")" "$(stat -c %Y "$WORK/doc.tif")"
as $A truncate -s 0 "$d/copy.tif"
expect_eq "truncated draft document" "$(stat -c %s "$d/copy.tif")" 0
as $A rm "$d/copy.tif"
as $A cp -p "$WORK/doc.tif" "$MNT/outbox/5551235.tif" || fail "cp -p into outbox/ failed"
wait_exists "$MNT/jobs/$(job_id 2)"
as $A bash -c "echo pause > '$j/ctl'"
expect_eq "echo > ctl works" "$(cat "$j/status")" paused

# ---- previews: B looking at A's pages/ renders nothing ----
before=$(metric faxfs_previews_rendered_total)
[ -n "$before" ] || fail "metrics has no faxfs_previews_rendered_total"
as $B ls -l "$j/pages/" >/dev/null
as $B stat "$j/pages/001.png" "$j/pages/002.png" >/dev/null
as $B find "$j/pages" -name '*.png' -size +0 >/dev/null
expect_eq "B's ls -l rendered no preview" "$(metric faxfs_previews_rendered_total)" "$before"
expect_eq "B is told no size" "$(as $B stat -c %s "$j/pages/001.png")" 0
expect_fail_with "Permission denied" as $B cat "$j/pages/001.png"
# The owner reads the whole preview right after B's look.
size=$(as $A cat "$j/pages/001.png" | wc -c)
[ "$size" -gt 100 ] || fail "A read $size bytes of its preview"
expect_eq "A's stat agrees with the bytes" "$(as $A stat -c %s "$j/pages/001.png")" "$size"
[ "$(metric faxfs_previews_rendered_total)" -gt "$before" ] || fail "A's read rendered no preview"

# ---- names with control characters are refused ----
expect_fail_with "Invalid argument" as $B mkdir "$MNT/outbox/bad
name"
expect_fail_with "Invalid argument" as $B cp "$WORK/doc.tif" "$MNT/outbox/555$(printf '\t')1234.tif"
grep -q 'outbox/bad\\x0aname' "$DAEMON_LOG" || fail "the refused name is not in the log, escaped"
if grep -q '^name' "$DAEMON_LOG"; then fail "a user's newline reached the log"; fi

as $A rm -r "$d"
[ ! -e "$d" ] || fail "rm -r left the draft"

# ---- without default_permissions the handlers refuse all the same ----
faxfs_stop
faxfs_start -o allow_other
as $A mkdir "$d"
as $A bash -c "echo 'Dear Ada' > '$d/comment'"
as $A cp "$WORK/doc.tif" "$d/doc.tif"
expect_fail_with "Permission denied" as $B cat "$d/comment"
expect_fail_with "Permission denied" as $B cat "$d/doc.tif"
expect_fail_with "Permission denied" as $B bash -c "echo 1 > '$d/comment'"
expect_eq "A reads its field" "$(as $A cat "$d/comment")" "Dear Ada"
echo "PASS"

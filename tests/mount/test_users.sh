#!/bin/bash
# Many users on one mount (-o allow_other,default_permissions): everyone
# submits and reads statuses; only the owner, the admin group and root read
# pages and log, control or remove a job; others are refused and nothing
# changes. Real users are created here and removed at exit.
source "$(dirname "$0")/lib.sh"
[ "$(id -u)" = 0 ] || skip "needs root to create users"
command -v setpriv >/dev/null && command -v useradd >/dev/null || skip "needs setpriv and useradd"

A=faxfs-test-a B=faxfs-test-b C=faxfs-test-c ADM=faxfs-test-adm
remove_users() {
    for u in $A $B $C; do userdel "$u" 2>/dev/null || true; done
    groupdel $ADM 2>/dev/null || true
}
remove_users
on_exit remove_users
retry groupadd $ADM
retry useradd -M -N -s /usr/sbin/nologin $A
retry useradd -M -N -s /usr/sbin/nologin $B
retry useradd -M -N -s /usr/sbin/nologin -G $ADM $C

# as USER CMD...: run with the user's uid, primary group and groups.
as() {
    local u=$1
    shift
    setpriv --reuid="$u" --regid="$(id -g "$u")" --init-groups "$@"
}

chmod 755 "$WORK" # the mount point must be reachable for the test users
faxfs_start -o allow_other,default_permissions --admin-group $ADM
make_fax "$WORK/doc.tif" 2
chmod 644 "$WORK/doc.tif"
echo pause >"$MNT/ctl" # jobs stay in jobs/ while we look at them

# Anyone submits; the job belongs to them.
as $A cp "$WORK/doc.tif" "$MNT/outbox/5551234.tif"
first=$(job_id 1) second=$(job_id 2)
j="$MNT/jobs/$first"
expect_eq "owner file" "$(cat "$j/owner")" $A
expect_eq "job directory owner" "$(stat -c %U "$j")" $A
expect_eq "page owner" "$(stat -c %U "$j/pages/001.tif")" $A

# Another user lists and reads statuses...
expect_eq "B lists jobs" "$(as $B ls "$MNT/jobs")" "$first"
expect_eq "B reads status" "$(as $B cat "$j/status")" queued
as $B grep -q '^recipient_number: 5551234$' "$j/info" || fail "B cannot read info"
# ...but not pages or log, and cannot control or remove the job.
expect_fail_with "Permission denied" as $B cat "$j/pages/001.tif"
expect_fail_with "Permission denied" as $B cat "$j/pages/001.png"
expect_fail_with "Permission denied" as $B cat "$j/log"
expect_fail_with "Permission denied" as $B bash -c "echo pause > '$j/ctl'"
expect_fail_with "Permission denied" as $B rm -r "$j"
expect_fail_with "Operation not permitted" as $B rmdir "$j"
expect_fail_with "Permission denied" as $B bash -c "echo pause > '$MNT/ctl'"
expect_eq "status after B's attempts" "$(cat "$j/status")" queued
[ -d "$j" ] || fail "B removed A's job"

# A user's draft is theirs alone.
as $A mkdir "$MNT/outbox/letter"
as $A bash -c "echo 5550000 > '$MNT/outbox/letter/recipient_number'"
expect_fail_with "Permission denied" as $B bash -c "echo 5559999 > '$MNT/outbox/letter/recipient_number'"
expect_fail_with "Permission denied" as $B cp "$WORK/doc.tif" "$MNT/outbox/letter/doc.tif"
# (B may not even look into the draft: the sticky outbox/ refuses the removal)
expect_fail_with "Operation not permitted" as $B rm -r "$MNT/outbox/letter"
expect_eq "draft field after B" "$(cat "$MNT/outbox/letter/recipient_number")" 5550000
as $A rm -r "$MNT/outbox/letter"

# The owner reads pages and log and controls the job.
as $A tiffinfo "$j/pages/001.tif" >/dev/null 2>&1 || fail "A cannot read its page"
as $A cat "$j/pages/001.png" >/dev/null || fail "A cannot read its page preview"
as $A cat "$j/log" >/dev/null
as $A bash -c "echo pause > '$j/ctl'"
expect_eq "paused by its owner" "$(cat "$j/status")" paused
as $A bash -c "echo resume > '$j/ctl'"
expect_eq "resumed by its owner" "$(cat "$j/status")" queued

# A member of the admin group may do what the owner may.
expect_eq "job files' group" "$(stat -c %G "$j/pages/001.tif")" "$ADM"
as $C cat "$j/pages/001.tif" >/dev/null
as $C cat "$j/pages/001.png" >/dev/null
as $C cat "$j/log" >/dev/null
as $C bash -c "echo pause > '$j/ctl'"
expect_eq "paused by an administrator" "$(cat "$j/status")" paused
as $C bash -c "echo resume > '$j/ctl'"

# A second job of A's, canceled by root with rm -r.
as $A cp "$WORK/doc.tif" "$MNT/outbox/5554321.tif"
cat "$MNT/jobs/$second/pages/002.tif" >/dev/null
rm -r "$MNT/jobs/$second"
expect_eq "canceled by root" "$(cat "$MNT/history/$second/status")" canceled

# Finished jobs: only the owner (or an administrator) deletes them.
expect_fail_with "Operation not permitted" as $B rmdir "$MNT/history/$second"
[ -d "$MNT/history/$second" ] || fail "B deleted A's finished job"
as $A rm -r "$MNT/history/$second"
[ ! -e "$MNT/history/$second" ] || fail "A could not delete its finished job"

# The owner cancels with rm -r, without prompts or messages.
out=$(as $A rm -r "$j" 2>&1) || fail "A's rm -r failed: $out"
expect_eq "rm -r output" "$out" ""
expect_eq "canceled by its owner" "$(cat "$MNT/history/$first/status")" canceled

# An administrator cancels and deletes another user's job with rm -r.
as $A cp "$WORK/doc.tif" "$MNT/outbox/5557777.tif"
id=$(only_job "$MNT/jobs")
out=$(as $C rm -r "$MNT/jobs/$id" 2>&1) || fail "administrator's rm -r failed: $out"
expect_eq "canceled by an administrator" "$(cat "$MNT/history/$id/status")" canceled
as $C rm -r "$MNT/history/$id"
[ ! -e "$MNT/history/$id" ] || fail "administrator could not delete a finished job"
echo PASS

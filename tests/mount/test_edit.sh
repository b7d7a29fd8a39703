#!/bin/bash
# Changing a queued job (faxalter): each writable field of jobs/ID/ takes a
# new value while the job waits, persisted when echo returns (it survives
# a restart); refused with EBUSY while the job is on a call, EINVAL for a
# bad value, EPERM for another user and for a priority above normal
# outside --priority-group; each refusal is one log line.
source "$(dirname "$0")/lib.sh"
[ "$(id -u)" = 0 ] || skip "needs root for a second user"
user=faxfs-t-edit-a
group=faxfs-t-edit-p
try_hard userdel "$user"
try_hard groupdel "$group"
retry groupadd "$group"
retry useradd -M -N -g "$group" -s /usr/sbin/nologin "$user"
on_exit try_hard userdel "$user"
on_exit try_hard groupdel "$group"
faxfs_start --modems 1 --sim-pace realtime -o allow_other,default_permissions --priority-group root
printf 'pause\n' >"$MNT/ctl"
make_fax "$WORK/doc.tif" 2
cp "$WORK/doc.tif" "$MNT/outbox/5551301.tif"
a=$(job_id 1)
j="$MNT/jobs/$a"

echo "+2h" >"$j/scheduled"
expect_eq "status after scheduling" "$(cat "$j/status")" scheduled
echo now >"$j/scheduled"
expect_eq "status after scheduling now" "$(cat "$j/status")" queued
echo "+1d" >"$j/kill_time"
[ -n "$(cat "$j/kill_time")" ] || fail "kill_time empty"
echo high >"$j/priority"
expect_eq priority "$(cat "$j/priority")" high
echo 7 >"$j/max_attempts"
expect_eq max_attempts "$(cat "$j/max_attempts")" 7
echo "555 13-02" >"$j/recipient_number"
expect_eq recipient_number "$(cat "$j/recipient_number")" 5551302
echo "Dr. Jane Roe" >"$j/recipient_name"
expect_eq recipient_name "$(cat "$j/recipient_name")" "Dr. Jane Roe"
grep -q "priority changed from normal to high by uid 0" "$j/log" || fail "the log does not record the change"

# Bad values change nothing.
expect_fail_with "Invalid argument" bash -c "echo soon >'$j/scheduled'"
expect_fail_with "Invalid argument" bash -c "echo 0 >'$j/max_attempts'"
expect_fail_with "Invalid argument" bash -c "echo 555-CALL-ME >'$j/recipient_number'"
expect_eq "number after a bad value" "$(cat "$j/recipient_number")" 5551302
grep -q "job $a: change of recipient_number by uid 0 refused with EINVAL" "$DAEMON_LOG" || fail "no log line for EINVAL"
# Fields that are not changeable stay read-only.
expect_fail_with "Operation not permitted" bash -c "echo 3 >'$j/pages_sent'"

# Persisted: a restart shows the changed fields.
faxfs_stop
faxfs_start --modems 1 --sim-pace realtime -o allow_other,default_permissions --priority-group root
printf 'pause\n' >"$MNT/ctl"
expect_eq "priority after restart" "$(cat "$j/priority")" high
expect_eq "number after restart" "$(cat "$j/recipient_number")" 5551302
expect_eq "name after restart" "$(cat "$j/recipient_name")" "Dr. Jane Roe"

# Another user's job: EPERM (the view refuses the open).
expect_fail_with "Permission denied" setpriv --reuid "$user" --regid "$group" --init-groups bash -c "echo low >'$j/priority'"
# The user's own job: normal priority yes, above normal no (not in root's group).
chmod 0777 "$WORK"
cp "$WORK/doc.tif" "$WORK/mine.tif" && chmod 0644 "$WORK/mine.tif"
setpriv --reuid "$user" --regid "$group" --init-groups cp "$WORK/mine.tif" "$MNT/outbox/5551303.tif"
b=$(job_id 2)
setpriv --reuid "$user" --regid "$group" --init-groups bash -c "echo low >'$MNT/jobs/$b/priority'"
expect_eq "own priority lowered" "$(cat "$MNT/jobs/$b/priority")" low
expect_fail_with "Operation not permitted" setpriv --reuid "$user" --regid "$group" --init-groups \
    bash -c "echo high >'$MNT/jobs/$b/priority'"
grep -q "job $b: change of priority by uid $(id -u "$user") refused with EPERM" "$DAEMON_LOG" ||
    fail "no log line for the priority refusal"

# On a call: EBUSY. A realtime call of two pages lasts long enough to try.
rm -r "$MNT/jobs/$b"
printf 'resume\n' >"$MNT/ctl"
wait_for "$j/status" active 20
expect_fail_with "Device or resource busy" bash -c "echo low >'$j/priority'"
grep -q "job $a: change of priority by uid 0 refused with EBUSY" "$DAEMON_LOG" || fail "no log line for EBUSY"
expect_eq "priority unchanged on a call" "$(cat "$j/priority")" high
rm -r "$j"
expect_eq "wait" "$(cat "$MNT/history/$a/wait")" canceled
expect_fail_with "Operation not permitted" bash -c "echo low >'$MNT/history/$a/priority'"
echo PASS

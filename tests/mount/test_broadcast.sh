#!/bin/bash
# Broadcast: a draft's recipients file makes one job per number in one
# group (docs/filesystem.md "Broadcast"). groups/ID/summary converges to
# the outcome of every call; rm -r groups/ID cancels what is left (owner
# only); a refused number refuses the whole draft naming its line; with
# cover, each job's page 1 is its own cover (different per recipient, not
# blank) and the document pages are the same; a 10,000-number broadcast is
# accepted (its time printed, not asserted).
source "$(dirname "$0")/lib.sh"
command -v setpriv >/dev/null && command -v useradd >/dev/null || skip "needs setpriv and useradd"
A=faxfs-t-bcast-a B=faxfs-t-bcast-b
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
chmod 755 "$WORK"
# The spool on tmpfs: removing 10,000 job directories from a busy disk at
# the end would take longer than the test. The durability path (syncfs,
# commit record) runs all the same; scripts/bench/submit.sh times it on disk.
if mount -t tmpfs -o size=1g,mode=0700 tmpfs "$SPOOL" 2>/dev/null; then
    on_exit "umount -l '$SPOOL'"
fi
faxfs_start -o allow_other,default_permissions --modems 8 --max-attempts 1 --max-jobs-per-user 0
make_fax "$WORK/doc.tif" 1
chmod 644 "$WORK/doc.tif"

# 1. 50 numbers: 48 answered, one busy (5550101), one no answer (5550102).
{
    echo "# customers"
    for i in $(seq 1 24); do printf '555%04d\tCustomer %d\n' $((2000 + i)) "$i"; done
    echo
    echo 5550101
    printf '5550102\tNobody\n'
    for i in $(seq 25 48); do printf '555-%04d\n' $((2000 + i)); done
} >"$WORK/rcpt50"
as $A mkdir "$MNT/outbox/b50"
as $A cp "$WORK/rcpt50" "$MNT/outbox/b50/recipients"
as $A cp "$WORK/doc.tif" "$MNT/outbox/b50/"
as $A bash -c "echo submit > '$MNT/outbox/b50/ctl'" || fail "submit of the 50-number broadcast failed"
g1=$(ls "$MNT/groups")
expect_eq "one group" "$(printf '%s\n' "$g1" | grep -c .)" 1
expect_eq "jobs of the group" "$(wc -l <"$MNT/groups/$g1/jobs")" 50
expect_eq "recipients" "$(wc -l <"$MNT/groups/$g1/recipients")" 50
grep -q "^5550102	Nobody\$" "$MNT/groups/$g1/recipients" || fail "recipient name missing"
# Every job names its group.
for id in $(cut -f1 "$MNT/groups/$g1/jobs"); do
    expect_eq "group of $id" "$(job_file "$id" group)" "$g1"
done
wait_for "$MNT/groups/$g1/summary" "$(printf 'done: 48\nfailed: 2\ntotal: 50')" 60
grep -q "^[0-9]*	5550101	failed\$" "$MNT/groups/$g1/jobs" || fail "busy number not failed"
grep -q "^[0-9]*	5550102	failed\$" "$MNT/groups/$g1/jobs" || fail "unanswered number not failed"

# 2. A paused broadcast: another user may not cancel it; its owner may.
printf 'pause\n' >"$MNT/ctl"
printf '5553001\n5553002\n5553003\n' >"$WORK/rcpt3"
as $A mkdir "$MNT/outbox/b3"
as $A cp "$WORK/rcpt3" "$MNT/outbox/b3/recipients"
as $A cp "$WORK/doc.tif" "$MNT/outbox/b3/"
as $A bash -c "echo submit > '$MNT/outbox/b3/ctl'" || fail "submit of the paused broadcast failed"
g2=$(ls "$MNT/groups" | grep -vx "$g1")
wait_for "$MNT/groups/$g2/summary" "$(printf 'queued: 3\ntotal: 3')"
expect_fail_with "Permission denied" as $B rm -r "$MNT/groups/$g2"
expect_eq "still queued" "$(cat "$MNT/groups/$g2/summary")" "$(printf 'queued: 3\ntotal: 3')"
out=$(as $A rm -r "$MNT/groups/$g2" 2>&1) || fail "rm -r groups/$g2: $out"
wait_for "$MNT/groups/$g2/summary" "$(printf 'canceled: 3\ntotal: 3')"
expect_eq "nothing left in jobs/" "$(ls "$MNT/jobs")" ""
# The group goes when its last job is deleted from history.
for id in $(cut -f1 "$MNT/groups/$g2/jobs"); do as $A rm -r "$MNT/history/$id"; done
[ ! -e "$MNT/groups/$g2" ] || fail "groups/$g2 still there after its jobs were deleted"
printf 'resume\n' >"$MNT/ctl"

# 3. A refused number on line 7 refuses the whole draft, nothing stored.
before=$(ls "$MNT/history" | wc -l)
printf '# list\n5554001\n5554002\n\n5554003\n5554004\n911\n5554005\n' >"$WORK/rcpt911"
as $A mkdir "$MNT/outbox/b911"
as $A cp "$WORK/rcpt911" "$MNT/outbox/b911/recipients"
as $A cp "$WORK/doc.tif" "$MNT/outbox/b911/"
expect_fail_with "Permission denied" as $A bash -c "echo submit > '$MNT/outbox/b911/ctl'"
grep -q "^recipients line 7: the number 911 is refused" "$MNT/outbox/b911/error" ||
    fail "draft error: $(cat "$MNT/outbox/b911/error")"
grep -q "recipients line 7: the number 911" "$DAEMON_LOG" || fail "no log line naming line 7"
expect_eq "no new job" "$(ls "$MNT/jobs" | wc -l) $(ls "$MNT/history" | wc -l)" "0 $before"
# A line that is not a number is refused at submit too, naming its line.
printf '5554001\nfax me\n' >"$WORK/rcptbad"
as $A cp "$WORK/rcptbad" "$MNT/outbox/b911/recipients"
expect_fail_with "Invalid argument" as $A bash -c "echo submit > '$MNT/outbox/b911/ctl'"
grep -q "^recipients line 2: " "$MNT/outbox/b911/error" || fail "draft error: $(cat "$MNT/outbox/b911/error")"

# 3b. A cover page per recipient: three jobs whose page 1 differs, each
# with ink on it, and whose page 2 (the document) is the same.
printf 'pause\n' >"$MNT/ctl"
printf '5555001\tAda Lovelace\n5555002\tGrace Hopper\n5555003\n' >"$WORK/rcptcover"
as $A mkdir "$MNT/outbox/bcover"
as $A cp "$WORK/rcptcover" "$MNT/outbox/bcover/recipients"
as $A bash -c "echo yes > '$MNT/outbox/bcover/cover'; echo 'New prices from May.' > '$MNT/outbox/bcover/comment'"
as $A cp "$WORK/doc.tif" "$MNT/outbox/bcover/"
as $A bash -c "echo submit > '$MNT/outbox/bcover/ctl'" ||
    fail "submit of the broadcast with a cover failed: $(cat "$MNT/outbox/bcover/error" 2>/dev/null)"
gc=$(ls "$MNT/groups" | sort -n | tail -1)
mapfile -t cj < <(cut -f1 "$MNT/groups/$gc/jobs")
expect_eq "jobs of the cover group" "${#cj[@]}" 3
for id in "${cj[@]}"; do
    expect_eq "page_count of $id" "$(cat "$MNT/jobs/$id/page_count")" 2
    ink=$(python3 "$(dirname "$0")/png_ink.py" "$MNT/jobs/$id/pages/001.png") || fail "cover preview of $id"
    [ "$ink" -gt 1000 ] || fail "the cover of $id is blank ($ink black pixels)"
    echo "job $id: cover with $ink black pixels, $(stat -c %s "$MNT/jobs/$id/pages/001.tif") bytes"
done
for k in 1 2; do
    a=$MNT/jobs/${cj[0]}/pages b=$MNT/jobs/${cj[$k]}/pages
    cmp -s "$a/001.tif" "$b/001.tif" && fail "jobs ${cj[0]} and ${cj[$k]} have the same cover"
    cmp -s "$a/002.tif" "$b/002.tif" || fail "jobs ${cj[0]} and ${cj[$k]} differ in the document page"
done
out=$(as $A rm -r "$MNT/groups/$gc" 2>&1) || fail "rm -r groups/$gc: $out"
wait_for "$MNT/groups/$gc/summary" "$(printf 'canceled: 3\ntotal: 3')"
for id in "${cj[@]}"; do as $A rm -r "$MNT/history/$id"; done
printf 'resume\n' >"$MNT/ctl"

# 4. 10,000 numbers, accepted as one group (root has no jobs limit).
printf 'pause\n' >"$MNT/ctl"
seq -f '555%07g' 1 10000 >"$WORK/rcpt10k"
mkdir "$MNT/outbox/b10k"
cp "$WORK/rcpt10k" "$MNT/outbox/b10k/recipients"
cp "$WORK/doc.tif" "$MNT/outbox/b10k/"
start=$(date +%s.%N)
echo submit >"$MNT/outbox/b10k/ctl" || fail "submit of 10,000 numbers failed"
end=$(date +%s.%N)
echo "10000-recipient broadcast accepted in $(echo "$end - $start" | bc) s"
expect_eq "jobs queued" "$(ls "$MNT/jobs" | wc -l)" 10000
g3=$(ls "$MNT/groups" | tail -1)
expect_eq "10k summary" "$(cat "$MNT/groups/$g3/summary")" "$(printf 'queued: 10000\ntotal: 10000')"
echo PASS

#!/bin/bash
# One local user cannot exhaust the daemon for everyone: thousands of draft
# documents keep no descriptors open in the daemon, a large write into a
# draft is refused at write() once over the user's outbox limit, drafts and
# unfinished jobs over their limits are refused at mkdir/create, remembered
# .error reasons are bounded, and meanwhile another user still submits.
# Real users are created here and removed at exit.
source "$(dirname "$0")/lib.sh"
[ "$(id -u)" = 0 ] || skip "needs root to create users"
command -v setpriv >/dev/null && command -v useradd >/dev/null || skip "needs setpriv and useradd"

A=faxfs-t-lim-a B=faxfs-t-lim-b
remove_users() { for u in $A $B; do ! id "$u" >/dev/null 2>&1 || try_hard userdel "$u"; done; }
remove_users
on_exit remove_users
retry useradd -M -N -s /usr/sbin/nologin $A
retry useradd -M -N -s /usr/sbin/nologin $B

as() {
    local u=$1
    shift
    setpriv --reuid="$u" --regid="$(id -g "$u")" --init-groups "$@"
}
fds() { ls "/proc/$DAEMON_PID/fd" | wc -l; }

chmod 755 "$WORK"
make_fax "$WORK/doc.tif" 1
chmod 644 "$WORK/doc.tif"
faxfs_start -o allow_other,default_permissions --max-drafts-per-user 3 --max-outbox-mb-per-user 4 \
    --max-jobs-per-user 3 --max-open-files-per-user 8
echo pause >"$MNT/ctl" # jobs stay unfinished
# The daemon took its hard open-file limit as its soft one, and said so.
grep -q "open file limit: $(ulimit -Hn)\$" "$DAEMON_LOG" || fail "no 'open file limit: $(ulimit -Hn)' in the log"

# ---- 2,000 empty documents in B's drafts hold no descriptor ----
as $B mkdir "$MNT/outbox/d1" "$MNT/outbox/d2"
before=$(fds)
as $B bash -c "for i in \$(seq 1000); do : > '$MNT/outbox/d1/f'\$i; : > '$MNT/outbox/d2/f'\$i; done"
after=$(fds)
expect_eq "documents in d1" "$(as $B ls "$MNT/outbox/d1" | grep -c '^f')" 1000
echo "daemon descriptors: $before before, $after after 2000 draft documents"
[ $((after - before)) -lt 20 ] || fail "daemon descriptors grew from $before to $after for 2000 draft documents"
# A draft takes at most 1000 documents.
expect_fail_with "Disk quota exceeded" as $B bash -c ": > '$MNT/outbox/d1/one-more'"
# A still submits.
as $A cp "$WORK/doc.tif" "$MNT/outbox/5551234.tif"
wait_exists "$MNT/jobs/$(job_id 1)"

# ---- B's big write is refused at write() over 4 MiB; A still submits ----
as $B mkdir "$MNT/outbox/d3"
if as $B dd if=/dev/zero of="$MNT/outbox/d3/big" bs=64k count=160 2>"$WORK/dd.err"; then
    fail "10 MiB into a draft succeeded over a 4 MiB limit"
fi
grep -q "Disk quota exceeded" "$WORK/dd.err" || fail "dd failed with: $(cat "$WORK/dd.err")"
size=$(stat -c %s "$MNT/outbox/d3/big")
[ "$size" -le $((4 << 20)) ] || fail "the draft document grew to $size bytes"
grep -q "faxfs-t-lim-b (uid [0-9]*): uploads and drafts over 4194304 bytes, refused with EDQUOT" "$DAEMON_LOG" ||
    fail "no log line names the user and the limit"
# Removing it gives the room back.
as $B rm "$MNT/outbox/d3/big"
as $B dd if=/dev/zero of="$MNT/outbox/d3/small" bs=64k count=16 2>/dev/null || fail "1 MiB refused after rm"
as $A cp "$WORK/doc.tif" "$MNT/outbox/5551235.tif"
wait_exists "$MNT/jobs/$(job_id 2)"

# ---- drafts over the limit (3): refused at mkdir ----
expect_fail_with "Disk quota exceeded" as $B mkdir "$MNT/outbox/d4"
[ ! -e "$MNT/outbox/d4" ] || fail "the refused draft exists"
as $A mkdir "$MNT/outbox/a1" || fail "A's draft refused because of B's"
as $B rm -r "$MNT/outbox/d1" "$MNT/outbox/d2"
as $B mkdir "$MNT/outbox/d4" || fail "a draft refused after B removed two"

# ---- unfinished jobs over the limit: refused at create ----
as $A cp "$WORK/doc.tif" "$MNT/outbox/5551236.tif"
expect_fail_with "Disk quota exceeded" as $A cp "$WORK/doc.tif" "$MNT/outbox/5551237.tif"
expect_eq "A's jobs" "$(ls "$MNT/jobs" | wc -l)" 3
as $B cp "$WORK/doc.tif" "$MNT/outbox/5551238.tif" || fail "B refused for A's jobs"

# ---- remembered refusals are bounded ----
for i in $(seq 40); do
    as $B cp "$WORK/doc.tif" "$MNT/outbox/report$i.tif" 2>/dev/null && fail "report$i.tif accepted"
done
n=$(ls "$MNT/outbox" | grep -c '\.error$')
[ "$n" -le 16 ] || fail "$n .error entries kept for one user"
[ "$n" -ge 1 ] || fail "no .error entry kept"
[ -e "$MNT/outbox/report40.tif.error" ] || fail "the newest .error was dropped"

# ---- open files per user (8 here): one more open fails with EMFILE ----
jb=
for j in "$MNT"/jobs/*; do [ "$(cat "$j/owner")" = $B ] && jb=$j; done
[ -n "$jb" ] || fail "B's job not found"
if err=$(as $B bash -c 'for fd in 3 4 5 6 7 8 9 10; do eval "exec $fd<\"\$1\"" || { echo "refused at $fd" >&2; exit 2; }; done
                      exec 11<"$1"' _ "$jb/pages/001.tif" 2>&1); then
    fail "a ninth open file was allowed"
fi
case "$err" in
*"refused at"*) fail "refused before the limit: $err" ;;
*"Too many open files"*) ;;
*) fail "the ninth open failed with: $err" ;;
esac
grep -q "faxfs-t-lim-b (uid [0-9]*) has 8 files open" "$DAEMON_LOG" || fail "no log line for the open files limit"
as $B cmp -s "$jb/pages/001.tif" "$jb/pages/001.tif" || fail "B's files stay counted after closing"
echo "PASS"

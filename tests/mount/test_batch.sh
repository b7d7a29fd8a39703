#!/bin/bash
# Batching: due jobs of one owner to one number go out in one call, each
# job done with its own pages; jobs of two owners to the same number make
# two calls; a call dropped mid-batch fails the job on the line and sends
# the later one again without counting an attempt; --batch-max 1 and
# [destination] batch = no turn it off.
source "$(dirname "$0")/lib.sh"

calls() { cat "$MNT/lines/default/calls"; }
faxes_at() { find "$SPOOL/sim/$1" -name '*.tif' 2>/dev/null | grep -c . || true; }
pages_of() { tiffinfo "$1" 2>/dev/null | grep -c "^TIFF Directory"; }

make_fax "$WORK/one.tif" 1
make_fax "$WORK/two.tif" 2
chmod 755 "$WORK"
chmod 644 "$WORK/one.tif" "$WORK/two.tif"

cat >"$WORK/faxfs.conf" <<CONF
[destination 5559XXX]
batch = no
CONF
opts=(--config "$WORK/faxfs.conf")
[ "$(id -u)" = 0 ] && opts+=(-o allow_other,default_permissions)
faxfs_start "${opts[@]}"

# Three jobs of one owner to one number: one call.
echo pause >"$MNT/ctl"
cp "$WORK/one.tif" "$MNT/outbox/5551234.tif"
cp "$WORK/two.tif" "$MNT/outbox/555-1234.tif"
cp "$WORK/one.tif" "$MNT/outbox/5551234.tif"
a=$(job_id 1) b=$(job_id 2) c=$(job_id 3)
expect_eq "calls before" "$(calls)" 0
echo resume >"$MNT/ctl"
for id in $a $b $c; do wait_for "$MNT/history/$id/status" done 60; done
expect_eq "one call for three jobs" "$(calls)" 1
expect_eq "a pages" "$(cat "$MNT/history/$a/pages_sent")" 1
expect_eq "b pages" "$(cat "$MNT/history/$b/pages_sent")" 2
expect_eq "c pages" "$(cat "$MNT/history/$c/pages_sent")" 1
for id in $a $b $c; do expect_eq "$id attempts" "$(cat "$MNT/history/$id/attempts")" 1; done
grep -q "go in this call" "$MNT/history/$a/log" || fail "the first job's log does not name the batch"
grep -q "sent in the call of job $a" "$MNT/history/$b/log" || fail "b's log does not name the call it rode in"
expect_eq "faxes received" "$(faxes_at 5551234)" 1
expect_eq "pages received in the one call" "$(pages_of "$(find "$SPOOL/sim/5551234" -name '*.tif')")" 4

# [destination 5559XXX] batch = no: one call per job.
echo pause >"$MNT/ctl"
cp "$WORK/one.tif" "$MNT/outbox/5559876.tif"
cp "$WORK/one.tif" "$MNT/outbox/5559876.tif"
d=$(job_id 4) e=$(job_id 5)
echo resume >"$MNT/ctl"
for id in $d $e; do wait_for "$MNT/history/$id/status" done 60; done
expect_eq "two calls where batching is off" "$(calls)" 3

# A call that drops after the first page: the first job is done, the job
# on the line is retried with its attempt counted, the last one was never
# on the line and goes again at once, uncounted.
echo pause >"$MNT/ctl"
for _ in 1 2 3; do cp "$WORK/one.tif" "$MNT/outbox/5550104.tif"; done
f=$(job_id 6) g=$(job_id 7) h=$(job_id 8)
echo resume >"$MNT/ctl"
wait_for "$MNT/history/$f/status" done 60
wait_for "$MNT/jobs/$g/status" retrying 60
wait_for "$MNT/history/$h/status" done 60
expect_eq "g attempts" "$(cat "$MNT/jobs/$g/attempts")" 1
expect_eq "g pages" "$(cat "$MNT/jobs/$g/pages_sent")" 0
expect_eq "h attempts (the dropped call not counted)" "$(cat "$MNT/history/$h/attempts")" 1
grep -q "not counted as an attempt" "$MNT/history/$h/log" || fail "h's log does not say the call was not counted"
expect_eq "calls after the drop" "$(calls)" 5

# Two owners, one number: two calls (the remote sees one sender per call).
if [ "$(id -u)" = 0 ] && command -v setpriv >/dev/null && command -v useradd >/dev/null; then
    U1=faxfs-t-batch-a U2=faxfs-t-batch-b
    remove_users() { for u in $U1 $U2; do ! id -u "$u" >/dev/null 2>&1 || try_hard userdel "$u"; done; }
    remove_users
    on_exit remove_users
    retry useradd -M -N -s /usr/sbin/nologin $U1
    retry useradd -M -N -s /usr/sbin/nologin $U2
    as() {
        local u=$1
        shift
        setpriv --reuid="$u" --regid="$(id -g "$u")" --init-groups "$@"
    }
    echo pause >"$MNT/ctl"
    as $U1 cp "$WORK/one.tif" "$MNT/outbox/5552222.tif"
    as $U2 cp "$WORK/one.tif" "$MNT/outbox/5552222.tif"
    i=$(job_id 9) k=$(job_id 10)
    echo resume >"$MNT/ctl"
    for id in $i $k; do wait_for "$MNT/history/$id/status" done 60; done
    expect_eq "two owners, two calls" "$(calls)" 7
    expect_eq "two faxes at the remote" "$(faxes_at 5552222)" 2
fi
faxfs_stop

# --batch-max 1: no batching at all.
rm -rf "$SPOOL"/*
faxfs_start --batch-max 1
echo pause >"$MNT/ctl"
cp "$WORK/one.tif" "$MNT/outbox/5553333.tif"
cp "$WORK/one.tif" "$MNT/outbox/5553333.tif"
echo resume >"$MNT/ctl"
for n in 1 2; do wait_for "$MNT/history/$(job_id $n)/status" done 60; done
expect_eq "--batch-max 1: a call each" "$(calls)" 2
echo PASS

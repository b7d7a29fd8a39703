#!/bin/bash
# Administration: the configuration file (command line overrides it, bad
# settings are refused with file and line), SIGHUP reloading the
# notification hook, the hook's environment, and the fstab form that
# mount.fuse3 uses (faxfs SPOOL MOUNTPOINT -o name=value,...).
source "$(dirname "$0")/../mount/lib.sh"

make_fax "$WORK/doc.tif" 2
conf="$WORK/faxfs.conf"
cat >"$conf" <<CONF
# faxfs settings for this test
modems = 3
retry-delay = 5
notify-cmd = echo "\$FAXFS_EVENT \$FAXFS_JOB_ID \$FAXFS_STATUS \$FAXFS_PAGES_SENT/\$FAXFS_PAGE_COUNT \$FAXFS_RECIPIENT_NUMBER" >> $WORK/hook1
CONF

# A mistake in the file: refused before anything starts, naming the line.
echo "modemz = 2" >"$WORK/bad.conf"
err=$("$FAXFS" --config "$WORK/bad.conf" "$MNT" 2>&1) && fail "a bad configuration was accepted"
expect_eq "bad config message" "$err" "faxfs: $WORK/bad.conf:1: unknown setting 'modemz'; the settings are the long options of faxfs --help"
err=$("$FAXFS" --config "$WORK/missing.conf" "$MNT" 2>&1) && fail "a missing --config file was accepted"
case "$err" in *"missing.conf: No such file or directory"*) ;; *) fail "missing config: $err" ;; esac

# The file's settings apply; the command line overrides them.
faxfs_start --config "$conf" --modems 2
expect_eq "modems from the command line" "$(grep '^modems:' "$MNT/server")" "modems: 2"
cp "$WORK/doc.tif" "$MNT/outbox/555-0001.tif"
wait_exists "$WORK/hook1"
wait_for "$WORK/hook1" "done $(job_id 1) done 2/2 5550001"

# SIGHUP re-reads the file: the next job's hook is the new one.
sed -i "s|$WORK/hook1|$WORK/hook2|" "$conf"
kill -HUP "$DAEMON_PID"
for _ in $(seq 100); do
    grep -q "SIGHUP: notification settings reloaded" "$DAEMON_LOG" && break
    sleep 0.05
done
grep -q "SIGHUP: notification settings reloaded" "$DAEMON_LOG" || fail "no reload logged"
mountpoint -q "$MNT" || fail "SIGHUP unmounted the view"
cp "$WORK/doc.tif" "$MNT/outbox/5550002.tif"
wait_exists "$WORK/hook2"
wait_for "$WORK/hook2" "done $(job_id 2) done 2/2 5550002"
expect_eq "old hook not run again" "$(wc -l <"$WORK/hook1")" 1
faxfs_stop

# The fstab form: SOURCE (the spool) MOUNTPOINT -o with our settings mixed
# into FUSE's, as mount.fuse3 passes them; it detaches once mounted.
"$FAXFS" "$WORK/spool-fstab" "$MNT" -o modems=1,sim-pace=fast,default_permissions,history-days=7 \
    2>>"$DAEMON_LOG" || fail "fstab-form mount failed"
mountpoint -q "$MNT" || fail "fstab-form mount is not mounted"
expect_eq "modems from -o" "$(grep '^modems:' "$MNT/server")" "modems: 1"
[ -d "$WORK/spool-fstab/jobs" ] || fail "the source was not used as the spool"
grep -q default_permissions /proc/mounts || fail "FUSE options were not passed on"
pid=$(pgrep -f "faxfs $WORK/spool-fstab" | head -n 1)
fusermount3 -u "$MNT"
wait_gone "$pid" 5 || fail "the detached daemon did not stop at unmount"
err=$("$FAXFS" "$WORK/spool-fstab" "$MNT" -o modems=many 2>&1) && fail "a bad -o setting was accepted"
case "$err" in *"--modems: 'many' is not a number"*) ;; *) fail "bad -o setting: $err" ;; esac
echo PASS

#!/usr/bin/env bash
# The demo: sets up, builds, and mounts a live fax server on the simulated
# phone network (real-time pace, so jobs can be watched) in the foreground.
# Ctrl-C unmounts. Usage: scripts/run.sh [MOUNTPOINT]
set -euo pipefail
top=$(cd "$(dirname "$0")/.." && pwd)
"$top/scripts/setup.sh"
# Only the daemon (and its converter, built with it): not the tests.
FAXFS_BUILD_TARGETS=faxfs "$top/scripts/build.sh" "$top/build"

demo=${FAXFS_DEMO_DIR:-/tmp/faxfs-demo}
mnt=${1:-$demo/mnt}
mkdir -p "$demo/spool" "$mnt"
"$top/scripts/make-sample.sh" "$demo/sample.tif" 2

if mountpoint -q "$mnt"; then
    fusermount3 -u -z "$mnt" || true
fi

cat <<MSG
faxfs is mounted at $mnt (spool: $demo/spool). In another terminal, try:

  ls $mnt                                      # jobs/ history/ outbox/ modems/ server ctl
  cp $demo/sample.tif $mnt/outbox/5551234.tif  # send a 2-page fax
  ls -l $mnt/jobs/                             # the job, owned by you
  cat $mnt/jobs/*/status $mnt/jobs/*/device_status
  tail -f $mnt/jobs/*/log                      # the call as it happens
  cp $demo/sample.tif $mnt/outbox/5550101.tif  # a busy number: watch it retry
  rm -r $mnt/jobs/<id>                         # cancel a job
  ls $mnt/history/ && cat $mnt/history/*/info  # finished jobs
  tiffinfo $mnt/history/*/pages/001.tif        # the pages as TIFF
  cat $mnt/server

Reserved test numbers: faxfs --help. Press Ctrl-C here to unmount.
MSG

exec "$top/build/daemon/faxfs" -f --sim-pace realtime --retry-delay 20 -s "$demo/spool" "$mnt"

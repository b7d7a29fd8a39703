# shellcheck shell=bash
# lib.sh - shared helpers of the interop tests: the mounted-test helpers
# (../mount/lib.sh: temporary spool, mount, daemon stopped on exit) plus
# stopping every bridge and efax process a test started, even on failure.
# Usage: FAXFS=... MKFAX=... EFAX_BRIDGE=... FAX_PAGES=...; source lib.sh

: "${EFAX_BRIDGE:?EFAX_BRIDGE must name the efax_bridge test program}"
: "${FAX_PAGES:?FAX_PAGES must name the fax_pages test program}"
command -v efax >/dev/null || { echo "SKIP: efax is not installed (apt-get install efax)"; exit 77; }

source "$(dirname "${BASH_SOURCE[0]}")/../mount/lib.sh"

# efax talks to its modem through a pty in real time, and a late answer
# breaks T.30 (a missed CFR after TCF, an RTN for a page). On a machine
# whose cores the suite's other tests and fuzzers keep busy, this test,
# the daemon and the bridge (started below, so they inherit it) ask for a
# little more of the CPU than those: nice -5, where allowed (root); as is
# otherwise.
renice -n -5 -p $$ >/dev/null 2>&1 || true

# Every bridge appends "BRIDGE_PID EFAX_PID" here (--pid-file).
PIDS="$WORK/bridge.pids"
EFAX_LOG="$WORK/efax.log"

# Kills a process only while it still runs the program we started, so a
# recycled pid is never hit.
stop_if_ours() {
    local pid=$1 name=$2
    [ -r "/proc/$pid/cmdline" ] || return 0
    tr '\0' ' ' <"/proc/$pid/cmdline" | grep -q "$name" || return 0
    kill -TERM "$pid" 2>/dev/null || true
    for _ in $(seq 20); do kill -0 "$pid" 2>/dev/null || return 0; sleep 0.1; done
    kill -KILL "$pid" 2>/dev/null || true
}

interop_cleanup() {
    local rc=$?
    # Cleanup must run to the end whatever fails in it (lib.sh sets -e).
    set +e
    faxfs_stop
    if [ -f "$PIDS" ]; then
        while read -r bridge efax; do
            stop_if_ours "$bridge" efax_bridge
            stop_if_ours "$efax" efax
        done <"$PIDS"
    fi
    # Sanitizer builds: a report from the bridge fails the test too.
    if grep -qE 'ERROR: (Address|Leak)Sanitizer|runtime error:' "$EFAX_LOG" 2>/dev/null; then
        echo "FAIL: sanitizer report in the bridge's log" >&2
        rc=1
    fi
    if [ $rc -ne 0 ] && [ -s "$EFAX_LOG" ]; then
        echo "---- bridge and efax log ----" >&2
        tail -n 60 "$EFAX_LOG" >&2
    fi
    # lib.sh's cleanup reports the daemon log and removes $WORK.
    (exit $rc)
    cleanup
}
trap interop_cleanup EXIT

# compare_page SENT SENT_PAGE GOT GOT_PAGE [SKIP_ROWS]: decoded pixels match.
compare_page() {
    local out
    out=$("$FAX_PAGES" compare "$@" 2>&1) || fail "page $2 of $1 vs page $4 of $3: $out"
    echo "  $out"
}

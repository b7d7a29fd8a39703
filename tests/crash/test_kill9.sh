#!/bin/bash
# Kill -9 the daemon at random moments and at every fault-injection kill
# point, for KILL9_ROUNDS rounds (default 28: every kill point and both
# confirmed-pages rounds), while faxes are submitted
# through the mount, sent, and deleted from history. After each restart:
# every job accepted before the kill is present exactly once, no job is
# duplicated, nothing sent is lost, and `faxfs --check-spool` is clean.
# A dedicated scenario per round kind checks that pages confirmed before
# the kill are not sent again.
source "$(dirname "$0")/../mount/lib.sh"

ROUNDS=${KILL9_ROUNDS:-28}
# KILL9_PART=P/N runs only the P-th of N equal runs of consecutive rounds
# (ctest runs the rounds as two tests, side by side): each round does what
# it does in a whole run, on its own spool, and the part ends with the same
# final check. Unset: every round.
FIRST=1 LAST=$ROUNDS
if [ -n "${KILL9_PART:-}" ]; then
    p=${KILL9_PART%/*} n=${KILL9_PART#*/}
    FIRST=$(((p - 1) * ROUNDS / n + 1)) LAST=$((p * ROUNDS / n))
fi
# Kill points of the spool and engine (docs/reliability.md); "random" is a
# plain kill -9 after a random delay.
POINTS=(random spool.stage.opened spool.page.create spool.page.written spool.next_id.tmp_written
    spool.next_id.renamed spool.create.staged spool.create.renamed engine.submit.committed
    spool.update.tmp_written spool.update.renamed engine.pages_confirmed.persisted
    engine.call_finished.persisted spool.log.append spool.remove.start spool.remove.renamed
    spool.flush.start spool.flush.renamed)

help=$("$FAXFS" --help)
case "$help" in *--check-spool*) ;; *) fail "faxfs has no --check-spool" ;; esac
make_fax "$WORK/doc.tif" 3
ACCEPTED="$WORK/accepted"   # numbers whose cp returned 0
DELETED="$WORK/deleted"     # numbers whose rm -r history/ returned 0
UNSURE="$WORK/unsure"       # numbers whose rm was cut by the kill
: >"$ACCEPTED"
: >"$DELETED"
: >"$UNSURE"
SUBMITTER=

# Submits faxes to fresh numbers, and now and then deletes a finished one,
# until killed. Numbers are unique, so a duplicate job is visible.
submitter() {
    local round=$1 k=0 num id
    while :; do
        k=$((k + 1))
        num=$(printf '77%03d%03d' "$round" "$k")
        if cp "$WORK/doc.tif" "$MNT/outbox/$num.tif" 2>/dev/null; then
            echo "$num" >>"$ACCEPTED"
        fi
        if ((k % 4 == 0)); then
            id=$(ls -U "$MNT/history" 2>/dev/null | head -n 1 || true)
            if [ -n "$id" ] && num=$(cat "$MNT/history/$id/recipient_number" 2>/dev/null) && [ -n "$num" ]; then
                if rm -r "$MNT/history/$id" 2>/dev/null; then
                    echo "$num" >>"$DELETED"
                else
                    echo "$num" >>"$UNSURE"
                fi
            fi
        fi
    done
}

stop_submitter() {
    if [ -n "$SUBMITTER" ]; then
        kill "$SUBMITTER" 2>/dev/null || true
        wait "$SUBMITTER" 2>/dev/null || true
        SUBMITTER=
    fi
}

# Waits for the daemon to die by its fault point; kills it after secs.
await_death() {
    local secs=$1
    for _ in $(seq $((secs * 20))); do
        kill -0 "$DAEMON_PID" 2>/dev/null || break
        sleep 0.05
    done
    kill -KILL "$DAEMON_PID" 2>/dev/null || true
    abort_connection
    wait "$DAEMON_PID" 2>/dev/null || true
    DAEMON_PID=
    fusermount3 -u -z "$MNT" 2>/dev/null || true
}

# A daemon killed while its notifier thread waits in the kernel for a
# directory lock (held by a reader whose request no worker will answer
# any more) cannot finish dying, and the mount hangs; aborting the FUSE
# connection, as an administrator would, releases both.
abort_connection() {
    local dev
    dev=$(awk -v m="$MNT" '$5 == m { print $3 }' /proc/self/mountinfo | tail -n 1)
    [ -n "$dev" ] || return 0
    if [ ! -d /sys/fs/fuse/connections ] || [ -z "$(ls -A /sys/fs/fuse/connections)" ]; then
        mount -t fusectl none /sys/fs/fuse/connections 2>/dev/null || true
    fi
    echo 1 >"/sys/fs/fuse/connections/${dev#*:}/abort" 2>/dev/null || true
}

start_daemon() {
    faxfs_start --modems 2 --retry-delay 1 --history-days 0
}

# All recipient numbers present in the view, one per line.
present_numbers() {
    local d
    for d in "$MNT"/jobs/* "$MNT"/history/*; do
        [ -e "$d/recipient_number" ] && cat "$d/recipient_number"
    done
    return 0
}

# Jobs move from jobs/ to history/ while the view is scanned: a scan that
# sees a job missing or twice is repeated (bounded) before it counts.
verify_round() {
    local round=$1 present dups missing
    for _ in $(seq 20); do
        present=$(present_numbers | sort)
        dups=$(printf '%s\n' "$present" | grep . | uniq -d || true)
        missing=$(comm -23 <(sort -u "$ACCEPTED") <(sort -u "$DELETED" "$UNSURE" <(printf '%s\n' "$present")) || true)
        [ -z "$dups" ] && [ -z "$missing" ] && break
        sleep 0.25
    done
    [ -z "$dups" ] || fail "round $round: duplicated jobs for: $dups"
    [ -z "$missing" ] || fail "round $round: accepted jobs lost: $missing"
    local report
    if ! report=$("$FAXFS" --check-spool "$SPOOL" 2>&1); then
        fail "round $round: spool check found inconsistencies: $report"
    fi
}

# A job of 3 pages to its own number; the daemon dies right after its
# second page confirmation is durable. After the restart the job holds 2
# confirmed pages and the call that completes it carries only page 3.
confirmed_pages_scenario() {
    local round=$1 num id pages
    num=$(printf '78%03d' "$round")
    # Let earlier jobs finish first, so the second confirmation is this job's.
    start_daemon
    for _ in $(seq 600); do
        [ -z "$(ls -A "$MNT/jobs")" ] && break
        sleep 0.1
    done
    faxfs_stop
    FAXFS_FAULT=engine.pages_confirmed.persisted:kill:2 start_daemon
    cp "$WORK/doc.tif" "$MNT/outbox/$num.tif" || fail "round $round: submit to $num failed"
    echo "$num" >>"$ACCEPTED"
    await_death 30
    start_daemon
    id=$( (grep -l -s "^$num\$" "$MNT"/jobs/*/recipient_number "$MNT"/history/*/recipient_number || true) |
        head -n 1)
    id=${id%/recipient_number}
    [ -n "$id" ] || fail "round $round: job to $num lost"
    wait_for "$id/status" done 60
    expect_eq "round $round: pages_sent" "$(cat "$id/pages_sent")" 3
    grep -q "queued again, 2 of 3 pages already confirmed" "$id/log" ||
        fail "round $round: the restart did not keep 2 confirmed pages: $(cat "$id/log")"
    pages=$(for f in "$SPOOL"/sim/"$num"/*.tif; do tiffinfo "$f" 2>/dev/null | grep -c 'TIFF Directory'; done)
    expect_eq "round $round: pages carried by the completing call" "$pages" 1
    verify_round "$round"
    faxfs_stop
}

for ((round = FIRST; round <= LAST; round++)); do
    point=${POINTS[$((round % ${#POINTS[@]}))]}
    if ((round % 10 == 0)); then
        confirmed_pages_scenario "$round"
        continue
    fi
    if [ "$point" = random ]; then
        start_daemon
    else
        nth=$((RANDOM % 3 + 1))
        # The counter is written once per block of ids: at the first job.
        case "$point" in spool.next_id.*) nth=1 ;; esac
        FAXFS_FAULT="$point:kill:$nth" start_daemon
    fi
    submitter "$round" &
    SUBMITTER=$!
    if [ "$point" = random ]; then
        sleep "0.$((RANDOM % 9 + 1))"
        await_death 0
    else
        await_death 8
    fi
    stop_submitter
    start_daemon
    verify_round "$round"
    faxfs_stop
done

# The whole set once more after a clean run to the end: everything accepted
# and not deleted reaches a final state.
start_daemon
for _ in $(seq 600); do
    [ -z "$(ls -A "$MNT/jobs")" ] && break
    sleep 0.1
done
expect_eq "jobs left unfinished" "$(ls -A "$MNT/jobs")" ""
verify_round final
echo "PASS: rounds $FIRST to $LAST of $ROUNDS, $(sort -u "$ACCEPTED" | wc -l) jobs accepted"

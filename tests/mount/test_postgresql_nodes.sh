#!/bin/bash
# Several daemons on one PostgreSQL database (docs/postgresql.md "Several
# nodes"): a job submitted on node A shows in B's jobs/ (the latency is
# printed, bounded only generously); 30 jobs submitted through both mounts
# end done exactly once (both views, and the simulated fax machines that
# received them); the queue paused on A holds B too (a job submitted on B
# is called by neither) until it is resumed on B; server and metrics name
# the node and the calls on each; rm -r on B of a job A is calling aborts
# A's call; A killed mid-call, B takes its job over when A's short lease
# runs out.
source "$(dirname "$0")/lib.sh"
source "$(dirname "$0")/../lib/postgres.sh"

SPOOL_B="$WORK/spool-b" MNT_B="$WORK/mnt-b" LOG_B="$WORK/daemon-b.log" PID_B=
mkdir -p "$SPOOL_B" "$MNT_B"
stop_b() {
    if mountpoint -q "$MNT_B" 2>/dev/null; then fusermount3 -u -z "$MNT_B" 2>/dev/null || true; fi
    if [ -n "$PID_B" ]; then
        wait_gone "$PID_B" 5 || kill -KILL "$PID_B" 2>/dev/null || true
        wait "$PID_B" 2>/dev/null || true
        PID_B=
    fi
    if grep -qE 'ERROR: (Address|Leak)Sanitizer|runtime error:' "$LOG_B" 2>/dev/null; then
        echo "FAIL: sanitizer report in node B's log" >&2
        tail -n 50 "$LOG_B" >&2
        exit 1
    fi
}
on_exit stop_b # before pg_start's hook: B stops before the server
pg_start || { rc=$?; [ $rc -eq 77 ] && skip "PostgreSQL is not installed"; fail "PostgreSQL did not start"; }
DB=$PG_CONNINFO

start_b() {
    "$FAXFS" -f -s "$SPOOL_B" --line sim --sim-pace fast --store "$DB" --node test-b --store-lease 6 "$@" "$MNT_B" \
        >>"$LOG_B" 2>&1 &
    PID_B=$!
    for _ in $(seq 100); do
        mountpoint -q "$MNT_B" && return 0
        kill -0 "$PID_B" 2>/dev/null || fail "node B exited before mounting: $(tail -n 5 "$LOG_B")"
        sleep 0.1
    done
    fail "node B did not mount within 10 s"
}
now_ms() { date +%s%3N; }
# next_job PREV: the id of the job submitted after job PREV (0: the first)
# on node A, once it is listed (the outbox submits at the file's release,
# which may come after cp returns).
next_job() {
    local id
    for _ in $(seq 200); do
        id=$(ls "$MNT/jobs" "$MNT/history" 2>/dev/null | grep -E '^[0-9]+$' | sort -n | tail -n 1 || true)
        [ -n "$id" ] && [ "$id" -gt "$1" ] && { echo "$id"; return 0; }
        sleep 0.05
    done
    fail "no job after $1 appeared on node A"
}
# status_in MNT ID: the job's status wherever it is in that view
status_in() { cat "$1/jobs/$2/status" 2>/dev/null || cat "$1/history/$2/status" 2>/dev/null || echo missing; }
# wait_status MNT ID STATUS SECONDS
wait_status() {
    for _ in $(seq $(($4 * 20))); do
        [ "$(status_in "$1" "$2")" = "$3" ] && return 0
        sleep 0.05
    done
    fail "$1: job $2 is $(status_in "$1" "$2"), wanted $3"
}

faxfs_start --modems 2 --store "$DB" --node test-a --store-lease 6
start_b --modems 2
make_fax "$WORK/one.tif" 1

# 1. A job submitted on A shows in B's jobs/ (or history/, if already done).
t0=$(now_ms)
cp "$WORK/one.tif" "$MNT/outbox/5552000.tif"
id=$(next_job 0)
for _ in $(seq 200); do
    [ -e "$MNT_B/jobs/$id" ] || [ -e "$MNT_B/history/$id" ] && break
    sleep 0.05
done
[ -e "$MNT_B/jobs/$id" ] || [ -e "$MNT_B/history/$id" ] || fail "job $id of node A not seen on node B within 10 s"
echo "job $id seen on node B $(($(now_ms) - t0)) ms after its submission on node A"
wait_status "$MNT" "$id" done 30
wait_status "$MNT_B" "$id" done 10

# 2. 30 jobs through both mounts, to 30 simulated fax machines.
for i in $(seq 10 39); do
    if ((i % 2)); then cp "$WORK/one.tif" "$MNT_B/outbox/55520$i.tif"; else cp "$WORK/one.tif" "$MNT/outbox/55520$i.tif"; fi
done
for _ in $(seq 1200); do
    na=$(cat "$MNT"/history/*/status 2>/dev/null | grep -c '^done$' || true)
    nb=$(cat "$MNT_B"/history/*/status 2>/dev/null | grep -c '^done$' || true)
    [ "$na" -ge 31 ] && [ "$nb" -ge 31 ] && break
    sleep 0.1
done
expect_eq "jobs done in A's history" "$na" 31
expect_eq "jobs done in B's history" "$nb" 31
expect_eq "A's jobs/ after the 30" "$(ls "$MNT/jobs")" ""
expect_eq "B's jobs/ after the 30" "$(ls "$MNT_B/jobs")" ""
expect_eq "history ids alike on both nodes" "$(ls "$MNT/history" | tr '\n' ' ')" "$(ls "$MNT_B/history" | tr '\n' ' ')"
faxes=0
for i in $(seq 10 39); do
    n=$(ls "$SPOOL/sim/55520$i" "$SPOOL_B/sim/55520$i" 2>/dev/null | grep -c '\.tif$' || true)
    expect_eq "faxes received by 55520$i" "$n" 1
    faxes=$((faxes + n))
done
calls_a=$(ls "$SPOOL"/sim/555201* "$SPOOL"/sim/555202* "$SPOOL"/sim/555203* 2>/dev/null | grep -c '\.tif$' || true)
echo "30 jobs: $faxes faxes received, $calls_a called by node A, $((faxes - calls_a)) by node B"
expect_eq "dispatched rows left with a lease" "$(pg_sql "SELECT count(*) FROM jobs WHERE node IS NOT NULL")" 0

# 3. The queue paused on A pauses B: a job submitted on B is called by
# neither node; resumed on B, it is called.
grep -qx "node: test-a" "$MNT/server" || fail "A's server: $(cat "$MNT/server")"
grep -qx "node: test-b" "$MNT_B/server" || fail "B's server: $(cat "$MNT_B/server")"
grep -qx "calls_by_node: test-b=0" "$MNT_B/server" || fail "B's server: $(cat "$MNT_B/server")"
grep -qx 'faxfs_node_info{node="test-b"} 1' "$MNT_B/metrics" || fail "B's metrics: $(grep node "$MNT_B/metrics")"
grep -qx 'faxfs_calls_active{node="test-b"} 0' "$MNT_B/metrics" || fail "B's metrics: $(grep node "$MNT_B/metrics")"
printf 'pause\n' >"$MNT/ctl"
wait_line() { # FILE LINE SECONDS
    for _ in $(seq $(($3 * 20))); do
        grep -qx "$2" "$1" && return 0
        sleep 0.05
    done
    fail "$1 has no line '$2': $(cat "$1")"
}
wait_line "$MNT_B/server" "queue_paused: yes" 10
for _ in $(seq 100); do grep -q "queue paused on another node: no new calls" "$LOG_B" && break; sleep 0.05; done
grep -q "queue paused on another node: no new calls" "$LOG_B" || fail "B's log does not say the queue was paused: $(tail -n 5 "$LOG_B")"
last=$(ls "$MNT/history" | sort -n | tail -n 1)
cp "$WORK/one.tif" "$MNT_B/outbox/5552050.tif"
held=$(next_job "$last")
sleep 3 # both nodes dispatch at the fast pace meanwhile, were they not paused
expect_eq "job on B while paused on A (B's view)" "$(status_in "$MNT_B" "$held")" queued
expect_eq "job on B while paused on A (A's view)" "$(status_in "$MNT" "$held")" queued
expect_eq "faxes to 5552050 while paused" "$(ls "$SPOOL/sim/5552050" "$SPOOL_B/sim/5552050" 2>/dev/null | grep -c '\.tif$' || true)" 0
printf 'resume\n' >"$MNT_B/ctl"
wait_status "$MNT_B" "$held" done 30
wait_status "$MNT" "$held" done 10
wait_line "$MNT/server" "queue_paused: no" 10
expect_eq "faxes to 5552050 after resume" "$(ls "$SPOOL/sim/5552050" "$SPOOL_B/sim/5552050" 2>/dev/null | grep -c '\.tif$' || true)" 1

# 4. rm -r on B of a job A is calling: A aborts the call. A calls in real
# time now; B is stopped while A takes the job, then started again.
faxfs_stop
stop_b
faxfs_start --modems 1 --store "$DB" --node test-a --store-lease 6 --sim-pace realtime
make_fax "$WORK/long.tif" 4
last=$(ls "$MNT/history" | sort -n | tail -n 1)
cp "$WORK/long.tif" "$MNT/outbox/5552100.tif"
long=$(next_job "$last")
wait_for "$MNT/jobs/$long/status" active 20
start_b --modems 2
wait_for "$MNT_B/jobs/$long/node" test-a 20
expect_eq "node on A" "$(cat "$MNT/jobs/$long/node")" test-a
grep -qx "calls_by_node: test-b=0 test-a=1" "$MNT_B/server" || fail "B's server: $(cat "$MNT_B/server")"
grep -qx 'faxfs_calls_active{node="test-a"} 1' "$MNT_B/metrics" || fail "B's metrics: $(grep node "$MNT_B/metrics")"
grep -qx "calls_by_node: test-a=1" "$MNT/server" || fail "A's server: $(cat "$MNT/server")"
rm -r "$MNT_B/jobs/$long" || fail "rm -r on node B of a job node A calls failed"
wait_status "$MNT" "$long" canceled 20
wait_status "$MNT_B" "$long" canceled 10
grep -q "canceled on another node; the call on this node is aborted" "$MNT/history/$long/log" ||
    fail "A's log of job $long: $(cat "$MNT/history/$long/log")"
grep -q "cancel asked by uid 0; node 'test-a' calls it" "$MNT_B/history/$long/log" ||
    fail "B's log of job $long: $(cat "$MNT_B/history/$long/log")"
expect_eq "node of a canceled job" "$(cat "$MNT_B/history/$long/node")" ""

# 5. A killed during a call: B takes the job over once A's 6-second lease
# has run out, and sends it. B is stopped while A takes the job.
stop_b
cp "$WORK/long.tif" "$MNT/outbox/5552101.tif"
taken=$(next_job "$long")
wait_for "$MNT/jobs/$taken/status" active 20
start_b --modems 2
wait_for "$MNT_B/jobs/$taken/node" test-a 20
kill -KILL "$DAEMON_PID"
wait "$DAEMON_PID" 2>/dev/null || true
DAEMON_PID=
fusermount3 -u -z "$MNT" 2>/dev/null || true
t0=$(now_ms)
wait_status "$MNT_B" "$taken" done 60
echo "job $taken taken over by node B and done $(($(now_ms) - t0)) ms after node A was killed"
grep -q "lease of node 'test-a' ran out" "$LOG_B" || fail "B's log does not say A's lease ran out"
expect_eq "faxes received by 5552101 (B's sim)" "$(ls "$SPOOL_B/sim/5552101" | grep -c '\.tif$')" 1
echo PASS

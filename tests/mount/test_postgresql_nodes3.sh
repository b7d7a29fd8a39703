#!/bin/bash
# Three daemons (nodes a, b, c) on one PostgreSQL database, each with its
# own spool and mount, simulated lines at fast pace (docs/postgresql.md
# "Several nodes"):
# 1. 300 jobs copied into the three outboxes (100 each, in parallel) to the
#    busy (5550101), dropping (5550104) and busy-twice (5550105) numbers and
#    to many ordinary ones, several jobs to some numbers;
# 2. wait until every job has ended (the time is printed);
# 3. every job ended exactly once with the same status in the database and
#    in all three views: the busy number's failed after their attempts, the
#    others done; the simulated machines of the three nodes together got
#    each page exactly once (pages counted, not files); the most calls to
#    one number in progress at once, from the three nodes' sim/calls.log,
#    is within --per-destination;
# 4. node c calls multi-page jobs in real time and is killed (-9) once a
#    page was confirmed: a and b finish its jobs when its lease runs out,
#    resuming after the confirmed pages.
source "$(dirname "$0")/lib.sh"
source "$(dirname "$0")/../lib/postgres.sh"

PER_DEST=1
# 5550105 is busy on two calls of every three on each node, whichever job
# makes them: a job may meet busy many times in a row (2/3 each time), so
# enough attempts that one to it does not run out (about 0.03% per job at 20).
ATTEMPTS=20
JOBS=300
declare -A NSPOOL NMNT NLOG NPID
NSPOOL[a]=$SPOOL NMNT[a]=$MNT NLOG[a]=$DAEMON_LOG
for n in b c; do
    NSPOOL[$n]=$WORK/spool-$n NMNT[$n]=$WORK/mnt-$n NLOG[$n]=$WORK/daemon-$n.log NPID[$n]=
    mkdir -p "${NSPOOL[$n]}" "${NMNT[$n]}"
done
# node_stop N: node a is lib.sh's daemon; b and c are stopped the same way.
node_stop() {
    local n=$1
    if [ "$n" = a ]; then
        faxfs_stop
        return 0
    fi
    if mountpoint -q "${NMNT[$n]}" 2>/dev/null; then fusermount3 -u -z "${NMNT[$n]}" 2>/dev/null || true; fi
    if [ -n "${NPID[$n]}" ]; then
        wait_gone "${NPID[$n]}" 5 || kill -KILL "${NPID[$n]}" 2>/dev/null || true
        wait "${NPID[$n]}" 2>/dev/null || true
        NPID[$n]=
    fi
    if grep -qE 'ERROR: (Address|Leak)Sanitizer|runtime error:' "${NLOG[$n]}" 2>/dev/null; then
        echo "FAIL: sanitizer report in node $n's log" >&2
        tail -n 50 "${NLOG[$n]}" >&2
        exit 1
    fi
}
on_exit node_stop b # before pg_start's hook: the nodes stop before the server
on_exit node_stop c
pg_start || { rc=$?; [ $rc -eq 77 ] && skip "PostgreSQL is not installed"; fail "PostgreSQL did not start"; }
DB=$PG_CONNINFO

# node_start N [options...]: fast simulated calls, short retry delays (the
# busy number's jobs end within seconds), a short lease.
node_start() {
    local n=$1
    shift
    local opts=(--modems 4 --per-destination "$PER_DEST" --retry-delay 1 --max-attempts "$ATTEMPTS"
        --store "$DB" --node "n3-$n" --store-lease 6 "$@")
    if [ "$n" = a ]; then
        faxfs_start "${opts[@]}"
        return 0
    fi
    "$FAXFS" -f -s "${NSPOOL[$n]}" --line sim --sim-pace fast "${opts[@]}" "${NMNT[$n]}" >>"${NLOG[$n]}" 2>&1 &
    NPID[$n]=$!
    for _ in $(seq 100); do
        mountpoint -q "${NMNT[$n]}" && return 0
        kill -0 "${NPID[$n]}" 2>/dev/null || fail "node $n exited before mounting: $(tail -n 5 "${NLOG[$n]}")"
        sleep 0.1
    done
    fail "node $n did not mount within 10 s"
}
now_ms() { date +%s%3N; }
# problem TEXT: a broken guarantee; the test goes on (so that one run shows
# every figure and every breach) and fails at the end.
PROBLEMS=()
problem() {
    echo "PROBLEM: $*" >&2
    PROBLEMS+=("$*")
}
# count_pages: how many pages the simulated machines of the three nodes
# received, by number: PAGES[NUMBER] in finished faxes, CUT[NUMBER] in the
# files of calls cut by a node's death (.N.tif.part). One tiffinfo run
# reads them all (pages, not files: a resumed fax spans two files).
declare -A PAGES CUT
count_pages() {
    PAGES=() CUT=()
    local num kind pages
    while read -r num kind pages; do
        if [ "$kind" = part ]; then CUT[$num]=$pages; else PAGES[$num]=$pages; fi
    done < <(find "$SPOOL/sim" "${NSPOOL[b]}/sim" "${NSPOOL[c]}/sim" -mindepth 2 -maxdepth 2 \
        \( -name '*.tif' -o -name '.*.tif.part' \) -print0 | xargs -0 -r tiffinfo 2>/dev/null |
        awk '/^File / { f = substr($0, 6); sub(/:$/, "", f); n = split(f, p, "/")
                        k = p[n - 1] " " (f ~ /\.part$/ ? "part" : "tif"); c[k] += 0; next }
             /^TIFF Directory at offset/ { c[k]++ }
             END { for (k in c) print k, c[k] }')
}
# view N: "id status attempts" of every job in node N's history, read
# without a process per file.
view() {
    local d id st at
    for d in "${NMNT[$1]}"/history/*/; do
        id=${d%/}
        id=${id##*/}
        read -r st <"$d/status" || st=unreadable
        read -r at <"$d/attempts" || at=unreadable
        echo "$id $st $at"
    done | sort -n
}

T_START=$(now_ms)
# at TEXT: a line with the time since the daemons started.
at() { echo "[$(($(now_ms) - T_START)) ms] $*"; }
for n in a b c; do node_start $n; done
make_fax "$WORK/p1.tif" 1
make_fax "$WORK/p2.tif" 2
make_fax "$WORK/p3.tif" 3

# 1. 300 jobs: every 50th to the busy number, 3 of 50 to the dropping number
# (3 pages), 3 of 50 to the busy-twice number (2 pages), the others to 150
# ordinary numbers (so most get two jobs), every 7th of them 2 pages.
declare -A WANT_PAGES
declare -a SUBMIT
for i in $(seq 0 $((JOBS - 1))); do
    case $((i % 50)) in
    0) num=5550101 p=1 ;;
    1 | 2 | 3) num=5550104 p=3 ;;
    4 | 5 | 6) num=5550105 p=2 ;;
    *) num=$((5554000 + i % 150)) p=$((i % 7 == 0 ? 2 : 1)) ;;
    esac
    [ "$num" = 5550101 ] || WANT_PAGES[$num]=$((${WANT_PAGES[$num]:-0} + p))
    SUBMIT[i % 3]+="$num:$p "
done
t0=$(now_ms)
pids=()
k=0
for n in a b c; do
    (
        for s in ${SUBMIT[k]}; do
            cp "$WORK/p${s#*:}.tif" "${NMNT[$n]}/outbox/${s%:*}.tif" || fail "cp of a job to ${s%:*} on node $n failed"
        done
    ) &
    pids+=($!)
    k=$((k + 1))
done
for p in "${pids[@]}"; do wait "$p" || fail "submitting through one of the mounts failed"; done
echo "$JOBS jobs submitted through three mounts in $(($(now_ms) - t0)) ms"
expect_eq "send jobs in the database" "$(pg_sql "SELECT count(*) FROM jobs WHERE type = 'send'")" "$JOBS"

# 2. Until every job has ended (bounded generously).
left=
for _ in $(seq 1500); do
    left=$(pg_sql "SELECT count(*) FROM jobs WHERE type = 'send' AND status NOT IN ('done', 'failed', 'canceled')")
    [ "$left" = 0 ] && break
    sleep 0.1
done
[ "$left" = 0 ] || fail "$left jobs still not ended 150 s after the submissions"
echo "every job ended $(($(now_ms) - t0)) ms after the first submission (load average $(cut -d' ' -f1-3 /proc/loadavg))"

# 3. The database's final statuses; each view shows the same.
pg_sql "SELECT id, recipient_number, status FROM jobs WHERE type = 'send' ORDER BY id" | tr '|' ' ' >"$WORK/db"
bad=$(awk '($2 == "5550101") != ($3 == "failed") || ($3 != "failed" && $3 != "done")' "$WORK/db")
[ -z "$bad" ] || fail "jobs with a wrong end (wanted: busy number failed, all others done): $bad"
done_n=$(grep -c ' done$' "$WORK/db" || true)
failed_n=$(grep -c ' failed$' "$WORK/db" || true)
awk '{print $1, $3}' "$WORK/db" >"$WORK/db.status"
# The views catch up with the others' last writes within a few seconds.
for n in a b c; do
    for _ in $(seq 100); do
        view $n >"$WORK/view-$n"
        awk '{print $1, $2}' "$WORK/view-$n" | cmp -s - "$WORK/db.status" && break
        sleep 0.1
    done
    awk '{print $1, $2}' "$WORK/view-$n" | cmp -s - "$WORK/db.status" ||
        fail "node $n's history differs from the database: $(awk '{print $1, $2}' "$WORK/view-$n" | diff - "$WORK/db.status" | head -n 10)"
    expect_eq "node $n's jobs/ after the end" "$(ls "${NMNT[$n]}/jobs")" ""
done
cmp -s "$WORK/view-a" "$WORK/view-b" && cmp -s "$WORK/view-a" "$WORK/view-c" ||
    fail "the views' attempts differ: $(diff "$WORK/view-a" "$WORK/view-b" | head -n 5) $(diff "$WORK/view-a" "$WORK/view-c" | head -n 5)"
busy_attempts=$(awk '$2 == "5550101"' "$WORK/db" | while read -r id _; do grep "^$id " "$WORK/view-a"; done | awk -v n="$ATTEMPTS" '$3 != n' || true)
[ -z "$busy_attempts" ] || fail "jobs to the busy number did not fail after their $ATTEMPTS attempts: $busy_attempts"
attempts=$(awk '{s += $3} END {print s}' "$WORK/view-a")
# Exactly one end in each job's log: an attempt that succeeded, an attempt
# whose failure ended the job, or the job failed or done by the engine.
END_RE='^[^ ]+ (attempt [0-9]+ succeeded|attempt [0-9]+ failed: .*\); failed: |failed: |done: )'
ends=$(pg_sql "SELECT j.id || ':' || count(l.line) FILTER (WHERE l.line ~ '$END_RE')
    FROM jobs j LEFT JOIN job_log l ON l.job_id = j.id WHERE j.type = 'send' GROUP BY j.id
    HAVING count(l.line) FILTER (WHERE l.line ~ '$END_RE') <> 1 ORDER BY j.id")
if [ -n "$ends" ]; then
    one=${ends%%:*}
    problem "$(echo "$ends" | wc -l) jobs whose log has not exactly one end (id:ends): $(echo $ends | head -c 300)"
    echo "the log of job $one:" >&2
    pg_sql "SELECT line FROM job_log WHERE job_id = $one ORDER BY seq" | grep -v -e '^$' -e 'T\.30: ' >&2
    for n in a b c; do grep "job $one[: ]" "${NLOG[$n]}" | sed "s/^/node $n: /" >&2 || true; done
fi

at "statuses, views and logs checked"
# Each page of each job received exactly once, over the three nodes' machines.
count_pages
pages_total=0 pages_got=0 pages_wrong=
for num in "${!WANT_PAGES[@]}"; do
    got=${PAGES[$num]:-0}
    pages_total=$((pages_total + WANT_PAGES[$num])) pages_got=$((pages_got + got))
    [ "$got" = "${WANT_PAGES[$num]}" ] || pages_wrong+="$num:$got/${WANT_PAGES[$num]} "
done
[ -z "$pages_wrong" ] || problem "numbers that received other than their jobs' pages (number:got/wanted): $pages_wrong"
expect_eq "pages received by the busy number" "${PAGES[5550101]:-0}" 0

at "pages counted"
# The calls: one line each in every node's sim/calls.log.
cat "$SPOOL/sim/calls.log" "${NSPOOL[b]}/sim/calls.log" "${NSPOOL[c]}/sim/calls.log" >"$WORK/calls"
calls_per_node=$(for n in a b c; do printf '%s %s  ' "$n" "$(wc -l <"${NSPOOL[$n]}/sim/calls.log")"; done)
busy_answers=$(awk '$4 == "busy"' "$WORK/calls" | wc -l)
drops=$(awk '$4 == "drop"' "$WORK/calls" | wc -l)
[ "$drops" -ge 1 ] || fail "no call to 5550104 was dropped"
[ "$(awk '$3 == "5550105" && $4 == "busy"' "$WORK/calls" | wc -l)" -ge 2 ] || fail "5550105 was never busy"
# The most calls to one number in progress at once: starts and ends of all
# three nodes' calls in time order (an end before a start at the same time).
# concurrency FILE...: "most number over" for the calls in the files.
concurrency() {
    cat "$@" | awk '{print $1, 1, $3; print $2, 0, $3}' | sort -k1,1n -k2,2n |
        awk '{ if ($2 == 1) { c[$3]++; if (c[$3] > m[$3]) m[$3] = c[$3] } else c[$3]-- }
             END { best = 0; who = "-"; over = 0
                   for (k in m) { if (m[k] > best) { best = m[k]; who = k } if (m[k] > lim) over++ }
                   print best, who, over }' lim="$PER_DEST"
}
read -r max_conc max_num over <<<"$(concurrency "$WORK/calls")"
per_node=$(for n in a b c; do printf '%s %s  ' "$n" "$(concurrency "${NSPOOL[$n]}/sim/calls.log" | cut -d' ' -f1)"; done)
echo "jobs: $done_n done, $failed_n failed; attempts $attempts; calls per node: $calls_per_node; busy answers $busy_answers; drops $drops; pages wanted $pages_total, received $pages_got"
echo "most calls to one number at once over the three nodes: $max_conc ($max_num); numbers over --per-destination $PER_DEST: $over; within each node: $per_node"
[ "$max_conc" -le "$PER_DEST" ] ||
    problem "$over numbers had more than --per-destination $PER_DEST calls at once over the three nodes ($max_conc to $max_num)"

# 4. Node c calls in real time; killed once a page of a job was confirmed.
at "node c restarts in real time"
# a and b are stopped while c calls: the queue's pause is shared by all
# nodes, so pausing them would pause c too.
node_stop a
node_stop b
node_stop c
node_start c --sim-pace realtime --modems 3
make_fax "$WORK/p4.tif" 4
for num in 5556001 5556002 5556003; do cp "$WORK/p4.tif" "${NMNT[c]}/outbox/$num.tif"; done
mapfile -t long < <(ls "${NMNT[c]}/jobs")
expect_eq "jobs submitted on node c" "${#long[@]}" 3
first=
for _ in $(seq 1200); do
    for id in "${long[@]}"; do
        read -r ps <"${NMNT[c]}/jobs/$id/pages_sent" || ps=0
        [ "$ps" -ge 1 ] && first=$id && break 2
    done
    sleep 0.05
done
[ -n "$first" ] || fail "no page of node c's jobs was confirmed within 60 s"
at "a page of job $first confirmed: node c is killed"
kill -KILL "${NPID[c]}"
wait "${NPID[c]}" 2>/dev/null || true
NPID[c]=
fusermount3 -u -z "${NMNT[c]}" 2>/dev/null || true
t1=$(now_ms)
declare -A CONFIRMED NUMBER
for id in "${long[@]}"; do
    CONFIRMED[$id]=$(pg_sql "SELECT job_text FROM jobs WHERE id = $id" | sed -n 's/^pages_sent: *//p')
    NUMBER[$id]=$(pg_sql "SELECT recipient_number FROM jobs WHERE id = $id")
done
echo "node c killed with pages confirmed: $(for id in "${long[@]}"; do printf '%s:%s ' "$id" "${CONFIRMED[$id]}"; done)(job $first first)"
node_start a
node_start b
for id in "${long[@]}"; do
    for _ in $(seq 600); do
        [ "$(pg_sql "SELECT status FROM jobs WHERE id = $id")" = done ] && break
        sleep 0.1
    done
    expect_eq "job $id of node c after the kill" "$(pg_sql "SELECT status FROM jobs WHERE id = $id")" done
done
echo "node c's jobs done $(($(now_ms) - t1)) ms after the kill"
twice=0
count_pages
for id in "${long[@]}"; do
    num=${NUMBER[$id]} p=${CONFIRMED[$id]}
    # Node c's machine kept what it got until the kill in its unfinished file.
    cut=${CUT[$num]:-0} after=${PAGES[$num]:-0}
    [ "$after" = $((4 - p)) ] ||
        problem "job $id: $after pages received after the takeover, $p of 4 were confirmed before the kill"
    [ "$cut" -ge "$p" ] || problem "job $id: $p pages confirmed, but node c's machine has $cut"
    if [ "$id" = "$first" ]; then
        [ "$cut" = "$p" ] || problem "job $id: $p pages confirmed at the kill, node c's machine has $cut"
    else
        # A page received but not yet confirmed when c died is sent again,
        # as a real sender would.
        [ "$cut" -le $((p + 1)) ] || problem "job $id: $p pages confirmed, node c's machine has $cut"
        twice=$((twice + cut - p))
    fi
    [ "$p" = 0 ] || grep -q 'resuming after the pages already confirmed' <<<"$(pg_sql "SELECT line FROM job_log WHERE job_id = $id")" ||
        problem "job $id's log does not say its call resumed after the confirmed pages"
done
# a and b start after the kill: one that reads c's jobs while c's lease still
# runs says when it ran out; one that starts after it ran out finds them
# active with no lease and queues them again (the claim decides who calls).
grep -qE "lease of node 'n3-c' ran out|job ${long[0]}: was active when the server stopped; queued again" \
    "${NLOG[b]}" "$DAEMON_LOG" || fail "no node says c's lease ran out or took c's jobs up again"
echo "pages received twice (received, not yet confirmed at the kill): $twice"
[ ${#PROBLEMS[@]} -eq 0 ] || fail "${#PROBLEMS[@]} guarantees broken: $(printf '%s; ' "${PROBLEMS[@]}")"
at "done"
echo PASS

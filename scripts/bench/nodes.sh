#!/bin/bash
# nodes.sh BUILD_DIR [JOBS] [MODEMS] [MAX_NODES] - faxfs daemons serving one
# queue in PostgreSQL (docs/postgresql.md, docs/scaling.md), against one
# daemon on the file spool in the same run (the baseline).
#
# Each run submits JOBS one-page faxes at the fast simulated pace, spread
# round-robin over the nodes' mounts (each to its own number, so none are
# batched), and waits until the store holds every job finished. Runs: the
# file spool with one daemon, then PostgreSQL with 1, 2, ... MAX_NODES
# daemons (each MODEMS channels, its own spool directory for the local
# page cache, its own --node). A run whose daemons do not all start is
# reported as refused and ends the series. Prints per run:
#   calls/s            finished jobs per second of wall time, and x_spool,
#                      that rate over the spool baseline's
#   daemon ms/job      CPU of every daemon together (utime+stime), per job
#   db ms/job          CPU of the PostgreSQL server (the postmaster, the
#                      backends it has reaped and the live ones), per job
#   xact/job stmt/job  committed transactions (pg_stat_database) and
#                      statements (pg_stat_statements) per job
#   rows/job           rows inserted+updated+deleted per job
#   read/job           rows the server read from faxfs's tables (sequential
#                      scans' rows and index fetches, pg_stat_user_tables)
#                      per job; the script counts the jobs finished in the
#                      store only once node 1's history/ shows them all
# With two nodes or more, also the view's latency on a node that did not
# submit: a job copied into node 1's outbox/, until node 2's jobs/ or
# history/ shows it (median of 5, milliseconds).
# STATEMENTS=1 also prints, after each PostgreSQL run, the ten statements
# called most per job. The server runs with fsync on, on a unix socket, data under /tmp.
set -euo pipefail

BUILD=${1:?usage: nodes.sh BUILD_DIR [JOBS] [MODEMS] [MAX_NODES]}
JOBS=${2:-120}
MODEMS=${3:-8}
MAX_NODES=${4:-3}
FAXFS=$BUILD/daemon/faxfs
MKFAX=$BUILD/tests/mkfax
for b in "$FAXFS" "$MKFAX"; do
    [ -x "$b" ] || { echo "nodes.sh: build faxfs and mkfax in $BUILD first" >&2; exit 2; }
done
# shellcheck source=../../tests/lib/postgres.sh
source "$(dirname "$0")/../../tests/lib/postgres.sh"

WORK=$(mktemp -d /tmp/faxfs-bench-nodes.XXXXXX)
PIDS=()
MNTS=()
stop_daemons() {
    for m in "${MNTS[@]}"; do
        if mountpoint -q "$m"; then fusermount3 -u -z "$m" 2>/dev/null || true; fi
    done
    for p in "${PIDS[@]}"; do wait "$p" 2>/dev/null || true; done
    PIDS=()
    MNTS=()
}
trap 'stop_daemons; pg_stop; rm -rf "$WORK"' EXIT
"$MKFAX" "$WORK/page.tif" 1
TCK=$(getconf CLK_TCK)

# CPU seconds (user+system) of the processes given, with their reaped
# children when $1 is "all".
cpu_of() {
    local kids=$1 sum=0 p
    shift
    for p in "$@"; do
        [ -r "/proc/$p/stat" ] || continue
        sum=$(sed 's/^.*) //' "/proc/$p/stat" | awk -v s="$sum" -v t="$TCK" -v k="$kids" \
            '{ c = $12 + $13; if (k == "all") c += $14 + $15; printf "%.3f", s + c / t }')
    done
    echo "$sum"
}
pg_cpu() {
    local pm
    pm=$(head -n 1 "$PG_DIR/data/postmaster.pid")
    # shellcheck disable=SC2046
    echo "$(cpu_of all "$pm") $(cpu_of own $(pgrep -P "$pm" | tr '\n' ' '))" | awk '{ print $1 + $2 }'
}
# "xact stmt rows read" of the faxfs database so far, without this script's
# own queries (tagged faxfs-bench: each is one statement and one
# transaction; their reads are not taken out).
pg_counts() {
    pg_sql "/* faxfs-bench */ SELECT d.xact_commit - m.calls, s.calls - m.calls,
                   d.tup_inserted + d.tup_updated + d.tup_deleted, u.r
            FROM pg_stat_database d,
                 (SELECT coalesce(sum(seq_tup_read + coalesce(idx_tup_fetch, 0)), 0) AS r
                  FROM pg_stat_user_tables) u,
                 (SELECT coalesce(sum(calls), 0) AS calls FROM pg_stat_statements) s,
                 (SELECT coalesce(sum(calls), 0) AS calls FROM pg_stat_statements
                  WHERE query LIKE '/* faxfs-bench */%') m
            WHERE d.datname = 'faxfs'" | tr '|' ' '
}

# start_nodes N STORE_ARGS...: N daemons, node K mounted on $WORK/mntK.
start_nodes() {
    local n=$1 k
    shift
    for k in $(seq 1 "$n"); do
        mkdir -p "$WORK/spool$k" "$WORK/mnt$k"
        "$FAXFS" -f -s "$WORK/spool$k" --line sim --sim-pace fast --modems "$MODEMS" \
            --max-jobs-per-user 0 "$@" ${STORE_NODE:+--node node$k} "$WORK/mnt$k" >>"$WORK/daemon$k.log" 2>&1 &
        PIDS+=($!)
        MNTS+=("$WORK/mnt$k")
        for _ in $(seq 300); do
            mountpoint -q "$WORK/mnt$k" && break
            kill -0 "${PIDS[-1]}" 2>/dev/null || break
            sleep 0.05
        done
        if ! mountpoint -q "$WORK/mnt$k"; then
            echo "node $k did not start: $(tail -n 2 "$WORK/daemon$k.log" | tr '\n' ' ')" >&2
            return 1
        fi
    done
    sleep 1 # start-up work settles before counting
}

# finished_count: finished jobs in the store of the run.
finished_spool() { ls "$WORK/mnt1/history" | grep -c '^[0-9]' || true; }
finished_pg() { pg_sql "/* faxfs-bench */ SELECT count(*) FROM jobs WHERE status IN ('done', 'failed', 'canceled')"; }
# With the store: node 1's history/ is watched, and the store asked only
# once it shows them all (a count reads every job row: asked every 0.1 s it
# would be most of the rows read).
finished_view() {
    if [ "$(finished_spool)" -ge "$target" ]; then finished_pg; else echo 0; fi
}

# run_jobs N COUNT_FN [BEFORE]: submits JOBS round-robin over N mounts,
# waits until COUNT_FN reaches BEFORE+JOBS; prints the wall seconds.
run_jobs() {
    local n=$1 count=$2 target=$((${3:-0} + JOBS)) t0 t1 i w pids=()
    t0=$(date +%s.%N)
    for w in $(seq 1 "$n"); do
        (
            for i in $(seq "$w" "$n" "$JOBS"); do
                cp "$WORK/page.tif" "$WORK/mnt$w/outbox/556$(printf %04d "$i").tif"
            done
        ) &
        pids+=($!)
    done
    for p in "${pids[@]}"; do wait "$p"; done
    for _ in $(seq 6000); do
        [ "$($count)" -ge "$target" ] && break
        sleep 0.1
    done
    t1=$(date +%s.%N)
    [ "$($count)" -ge "$target" ] || { echo "nodes.sh: jobs did not finish" >&2; return 1; }
    awk -v a="$t0" -v b="$t1" 'BEGIN { printf "%.3f\n", b - a }'
}

# view_latency: ms until node 2 shows a job copied on node 1 (median of 5).
view_latency() {
    local samples=() i before id t0 t1
    for i in 1 2 3 4 5; do
        before=$(pg_sql "/* faxfs-bench */ SELECT coalesce(max(id), 0) FROM jobs")
        t0=$(date +%s%N)
        cp "$WORK/page.tif" "$WORK/mnt1/outbox/557000$i.tif"
        id=$(pg_sql "/* faxfs-bench */ SELECT min(id) FROM jobs WHERE id > $before")
        for _ in $(seq 2000); do
            [ -e "$WORK/mnt2/jobs/$id" ] || [ -e "$WORK/mnt2/history/$id" ] && break
            sleep 0.005
        done
        t1=$(date +%s%N)
        if [ -e "$WORK/mnt2/jobs/$id" ] || [ -e "$WORK/mnt2/history/$id" ]; then
            samples+=($(((t1 - t0) / 1000000)))
        else
            samples+=(never)
        fi
    done
    printf '%s\n' "${samples[@]}" | sort -n | sed -n 3p
}

echo "jobs: $JOBS one-page faxes per run, $MODEMS channels per node, fast pace; load average $(cut -d' ' -f1-3 /proc/loadavg)"
printf '%-14s %8s %9s %8s %14s %10s %9s %9s %9s %9s %12s\n' run wall_s calls/s x_spool "daemon_ms/job" db_ms/job xact/job stmt/job rows/job read/job view_ms

# The baseline: one daemon on the file spool.
start_nodes 1
c0=$(cpu_of own "${PIDS[@]}")
wall=$(run_jobs 1 finished_spool)
c1=$(cpu_of own "${PIDS[@]}")
stop_daemons
base_rate=$(awk -v w="$wall" -v n="$JOBS" 'BEGIN { printf "%.3f", n / w }')
awk -v w="$wall" -v n="$JOBS" -v c="$(awk -v a="$c0" -v b="$c1" 'BEGIN { print b - a }')" \
    'BEGIN { printf "%-14s %8.2f %9.2f %8.2f %14.1f %10s %9s %9s %9s %9s %12s\n", "spool, 1 node", w, n / w, 1, c * 1000 / n, "-", "-", "-", "-", "-", "-" }'

PG_FSYNC=on PG_OPTIONS="-c shared_preload_libraries=pg_stat_statements" pg_start ||
    { echo "nodes.sh: PostgreSQL did not start" >&2; exit 1; }
pg_sql "CREATE EXTENSION pg_stat_statements" >/dev/null
STORE_NODE=1
for n in $(seq 1 "$MAX_NODES"); do
    if ! start_nodes "$n" --store "$PG_CONNINFO"; then
        printf '%-14s refused (see the line above)\n' "pg, $n node(s)"
        stop_daemons
        break
    fi
    # The view's latency first (its 5 jobs finish before the counting).
    lat=-
    if [ "$n" -ge 2 ]; then
        lat=$(view_latency)
        for _ in $(seq 600); do [ "$(finished_pg)" -ge 5 ] && break; sleep 0.1; done
    fi
    before=$(finished_pg)
    sleep 1 # backends report their statistics about once a second
    read -r x0 s0 r0 q0 < <(pg_counts)
    d0=$(cpu_of own "${PIDS[@]}")
    p0=$(pg_cpu)
    wall=$(run_jobs "$n" finished_view "$before")
    d1=$(cpu_of own "${PIDS[@]}")
    stop_daemons # the backends exit and report; the postmaster reaps them
    sleep 1
    p1=$(pg_cpu)
    read -r x1 s1 r1 q1 < <(pg_counts)
    if [ "${STATEMENTS:-0}" = 1 ]; then
        pg_sql "/* faxfs-bench */ SELECT round(calls::numeric / $JOBS, 2) || '  ' || left(regexp_replace(query, '\s+', ' ', 'g'), 110)
                FROM pg_stat_statements WHERE query NOT LIKE '/* faxfs-bench */%' ORDER BY calls DESC LIMIT 10" | sed 's/^/    /'
        pg_sql "/* faxfs-bench */ SELECT pg_stat_statements_reset()" >/dev/null
    fi
    awk -v tag="pg, $n node(s)" -v w="$wall" -v n="$JOBS" -v base="$base_rate" \
        -v d="$(awk -v a="$d0" -v b="$d1" 'BEGIN { print b - a }')" \
        -v p="$(awk -v a="$p0" -v b="$p1" 'BEGIN { print b - a }')" \
        -v x=$((x1 - x0)) -v s=$((s1 - s0)) -v r=$((r1 - r0)) -v q=$((q1 - q0)) -v lat="$lat" \
        'BEGIN { printf "%-14s %8.2f %9.2f %8.2f %14.1f %10.1f %9.1f %9.1f %9.1f %9.1f %12s\n",
                 tag, w, n / w, (n / w) / base, d * 1000 / n, p * 1000 / n, x / n, s / n, r / n, q / n, lat }'
done

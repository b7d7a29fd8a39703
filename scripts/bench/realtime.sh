#!/bin/sh
# Real-time channels, before and after in the same run:
#   scripts/bench/realtime.sh BUILD_DIR [OLD_BENCH_MODEM] [ROUNDS]
# runs BUILD_DIR's bench_modem (and, when given, an older bench_modem
# binary, alternately, so both meet the same load) for 200 and 1,000 calls
# started in one tick and 1,000 calls with starts spread over 4 s. Each run
# prints overruns (per second for the bursts), the call ticks that waited
# for set-up or page work off the tick, CPU, and the load average.
# CASES="..." replaces the cases (each "ARGS" for bench_modem --realtime);
# DSP_PRIORITY=N runs the DSP threads at real-time priority N.
set -eu
build=${1:?usage: realtime.sh BUILD_DIR [OLD_BENCH_MODEM] [ROUNDS]}
old=${2:-}
rounds=${3:-1}
new="$build/scripts/bench/bench_modem"
[ -x "$new" ] || { echo "realtime.sh: build $new first (target bench_modem)" >&2; exit 1; }
cases=${CASES:-"--at-once 200|--at-once 1000|1000"}
i=0
while [ "$i" -lt "$rounds" ]; do
    i=$((i + 1))
    echo "## round $i"
    IFS='|'
    for c in $cases; do
        unset IFS
        for b in "$new" ${old:+"$old"}; do
            echo "### $b --realtime $c (load average before: $(cut -d' ' -f1-3 /proc/loadavg))"
            # shellcheck disable=SC2086 # c is a list of arguments
            "$b" --realtime $c
        done
        IFS='|'
    done
    unset IFS
done

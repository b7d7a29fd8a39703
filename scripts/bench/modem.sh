#!/bin/sh
# Modem benchmark: simulated calls per CPU-second against a bare spandsp
# loop, then how many real-time channels keep up. Builds if needed.
set -eu
root=$(cd "$(dirname "$0")/../.." && pwd)
build=${BUILD_DIR:-$root/build}
cmake -S "$root" -B "$build" >/dev/null
cmake --build "$build" --target bench_modem -j2 >/dev/null
"$build/scripts/bench/bench_modem" ${FAST_KS:-8 64 256}
"$build/scripts/bench/bench_modem" --realtime ${REALTIME_KS:-100 200 300 400}

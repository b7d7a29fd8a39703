#!/usr/bin/env bash
# test_cpu.sh - CPU (user+sys) and wall time of ctest tests, one at a time.
# usage: scripts/bench/test_cpu.sh BUILD_DIR [REGEX...]
#        (default: every test of BUILD_DIR; each REGEX is a ctest -R)
#
# Runs each test alone (ctest -R '^NAME$') under /usr/bin/time and prints
# "user sys cpu wall NAME" in seconds, then the lines sorted by CPU. CPU is
# getrusage of the test's waited-for descendants: the test program, the
# daemons the mounted tests start and stop (lib.sh waits for them), the
# tools they run. Servers that detach (PostgreSQL, Postfix) are not counted.
# Wall time includes waiting (real-time calls, timers): on a loaded machine
# it grows, CPU much less, so CPU is what to compare between runs.
# Environment: the ASan and UBSan options of scripts/test.sh are set when
# BUILD_DIR is an ASan build (pass them yourself for others).
set -euo pipefail
build=${1:?usage: test_cpu.sh BUILD_DIR [REGEX...]}
shift
out=$(mktemp)
trap 'rm -f "$out"' EXIT
names() {
    if [ $# -eq 0 ]; then
        ctest --test-dir "$build" -N | sed -n 's/^ *Test *#[0-9]*: //p'
        return
    fi
    for r in "$@"; do
        ctest --test-dir "$build" -N -R "$r" | sed -n 's/^ *Test *#[0-9]*: //p'
    done
}
if grep -q '^FAXFS_SANITIZE:BOOL=ON' "$build/CMakeCache.txt" 2>/dev/null; then
    export ASAN_OPTIONS=${ASAN_OPTIONS:-detect_leaks=1:abort_on_error=1}
    export UBSAN_OPTIONS=${UBSAN_OPTIONS:-print_stacktrace=1:halt_on_error=1}
fi
mapfile -t tests < <(names "$@" | awk '!seen[$0]++')
for t in "${tests[@]}"; do
    re="^$(printf '%s' "$t" | sed 's/[.[\]*^$+?(){}|\\]/\\&/g')\$"
    tf=$(mktemp)
    st=pass
    /usr/bin/time -o "$tf" -f '%U %S %e' ctest --test-dir "$build" -R "$re" --timeout 600 \
        >/dev/null 2>&1 || st=FAIL
    read -r u s e < <(tail -n 1 "$tf")
    rm -f "$tf"
    line=$(awk -v u="$u" -v s="$s" -v e="$e" -v n="$t" -v st="$st" \
        'BEGIN { printf "%7.2f %7.2f %7.2f %7.2f %s%s\n", u, s, u + s, e, n, st == "pass" ? "" : " (" st ")" }')
    echo "$line"
    echo "$line" >>"$out"
done
echo "== by CPU (user sys cpu wall name), load average $(cut -d' ' -f1-3 /proc/loadavg)"
sort -k3 -g -r "$out"
awk '{ c += $3; w += $4 } END { printf "total cpu %.1f s, wall %.1f s, %d tests\n", c, w, NR }' "$out"

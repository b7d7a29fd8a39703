#!/usr/bin/env bash
# Sets up, builds and runs the whole test suite twice: a normal -Werror build,
# then the load test under TSan, then an ASan+UBSan build with the fuzzers
# running beside it.
# Usage: scripts/test.sh [ctest args...]
# (e.g. scripts/test.sh -LE interop for a quick run without interop tests)
set -euo pipefail
top=$(cd "$(dirname "$0")/.." && pwd)
"$top/scripts/setup.sh"

build_suite() {
    local dir=$1
    shift
    ${bg_nice:-} "$top/scripts/build.sh" "$dir" -DFAXFS_WERROR=ON "$@"
}

test_suite() {
    local dir=$1
    echo "== test $dir"
    # Four tests that use the CPU at a time on two cores (each uses 0.2 to
    # 0.5 of a core: they also wait on timers, child programs, the sandbox),
    # and beside them the tests that only wait on real-time calls:
    # tests/resources.json has four "cpu" slots, which every test but those
    # holds one of (tests/CMakeLists.txt). -j16: the four, and up to twelve
    # waiting tests beside them (a lower -j would let waiting tests take
    # the slots the four need). Six slots were tried: a real-time efax call
    # then had a page refused by the receiver (RTN) and failed.
    ctest --test-dir "$dir" --output-on-failure -j16 --resource-spec-file "$top/tests/resources.json" \
        --timeout 600 "${ctest_args[@]}"
    phase "tests of $dir"
}

# A build that a later phase needs runs in the background at the lowest CPU
# priority while a test phase runs: most tests wait (real-time calls, timers,
# the converter sandbox), so the build takes the CPU they leave idle, and
# yields it whenever a test wants it. bg_start LOG COMMANDS starts them (in
# its own process group, so that an early exit stops all of it; the builds
# in it run under $bg_nice); bg_wait waits for it and fails with its log.
bg_pid=
bg_log=
bg_nice=
bg_start() {
    bg_log=$1
    echo "== in the background: $2 (log: $bg_log)"
    setsid bash -c "set -euo pipefail; $(declare -f build_suite build_asan build_tsan build_fuzz fuzz_runs); top=$(printf %q "$top");
        bg_nice='nice -n 19'; $2" >"$bg_log" 2>&1 &
    bg_pid=$!
}
bg_wait() {
    local rc=0
    wait "$bg_pid" || rc=$?
    bg_pid=
    if [ "$rc" -ne 0 ]; then
        cat "$bg_log" >&2
        echo "== background build failed (exit $rc), log above: $bg_log" >&2
        exit 1
    fi
}
bg_stop() {
    if [ -n "$bg_pid" ]; then
        kill -- "-$bg_pid" 2>/dev/null || true
    fi
}
trap bg_stop EXIT

# The ASan+UBSan build stays at Debug's -O0: built at -O2 its tests took the
# same CPU within 5 % (their CPU is the kernel's, uninstrumented libraries'
# and each sanitized process's start and leak check, docs/performance.md),
# and at -O2 an access whose result nothing uses can be optimised away
# unseen. Its test sanitizer_canary (tests/sanitize/) proves that this build
# catches each kind of error.
build_asan() {
    build_suite "$top/build/asan" -DCMAKE_BUILD_TYPE=Debug -DFAXFS_SANITIZE=ON -DFAXFS_FAULT_INJECTION=ON
}

# ThreadSanitizer: the threaded daemon (engine, fs, modems) under the load
# test (tests/load/); only the daemon and its test helper are built.
build_tsan() {
    local launcher=()
    if command -v ccache >/dev/null; then
        export CCACHE_BASEDIR="$top" CCACHE_NOHASHDIR=true
        launcher=(-DCMAKE_C_COMPILER_LAUNCHER=ccache)
    fi
    ${bg_nice:-} cmake -S "$top" -B "$top/build/tsan" "${launcher[@]}" -DFAXFS_WERROR=ON -DCMAKE_BUILD_TYPE=Debug \
        "-DCMAKE_C_FLAGS=-fsanitize=thread -O1 -g" -DCMAKE_EXE_LINKER_FLAGS=-fsanitize=thread >/dev/null
    ${bg_nice:-} cmake --build "$top/build/tsan" -j"$(nproc)" --target faxfs mkfax >/dev/null
}

# libFuzzer targets (clang): a short bounded run of each parser of outside
# input over its seed corpus; scripts/fuzz.sh runs them longer. Built: the
# fuzz targets (faxfs_fuzz) and the programs, so the product code is also
# compiled by clang with -Werror; the test programs are not linked again.
# Five seconds each: the seeds (tests/fuzz/corpus, the regression inputs)
# are replayed in the first milliseconds; the rest is fresh fuzzing.
build_fuzz() {
    FAXFS_BUILD_TARGETS="faxfs_fuzz faxfs faxfs-mail" ${bg_nice:-} "$top/scripts/build.sh" "$top/build/fuzz" \
        -DCMAKE_C_COMPILER=clang -DFAXFS_FUZZ=ON -DFAXFS_WERROR=ON -DFAXFS_FAULT_INJECTION=ON \
        -DFAXFS_FUZZ_SECONDS=5
}

# The fuzz runs, after their build, beside the ASan+UBSan suite: one at a
# time (two would take both cores from the suite's real-time calls) and at
# nice 10, so the suite's tests come first, yet not so low that a fuzzer
# starved for seconds would trip libFuzzer's per-input -timeout (wall time,
# 10 s). Each runs its seeds to the end before its 5 s of fresh fuzzing
# (wall time: beside the suite it runs fewer inputs than alone).
fuzz_runs() {
    echo "== fuzz $top/build/fuzz"
    nice -n 10 ctest --test-dir "$top/build/fuzz" -L fuzz --output-on-failure -j1
}

# How long each phase took, printed as it ends (CI keeps under 15 minutes).
start=$SECONDS
mark=$SECONDS
phase() {
    echo "== $1: $((SECONDS - mark)) s (total $((SECONDS - start)) s)"
    mark=$SECONDS
}

ctest_args=("$@")
# The demo's own build (build/, what scripts/run.sh uses): the daemon_demo
# test runs the demo, and building it here keeps it from compiling during
# the suites, beside tests that keep real-time pace. Only what the demo
# runs (the daemon and its converter), as scripts/run.sh builds it.
# It builds beside build/test: both mostly wait on cmake's configure steps
# and links, or hit ccache; one after the other they took 24 + 37 s.
echo "== build $top/build (the demo's) and $top/build/test"
mkdir -p "$top/build"
FAXFS_BUILD_TARGETS=faxfs "$top/scripts/build.sh" "$top/build" >"$top/build/demo-build.log" 2>&1 &
demo_pid=$!
build_suite "$top/build/test" -DCMAKE_BUILD_TYPE=RelWithDebInfo -DFAXFS_FAULT_INJECTION=ON
if ! wait "$demo_pid"; then
    cat "$top/build/demo-build.log" >&2
    echo "== build of $top/build failed, log above: $top/build/demo-build.log" >&2
    exit 1
fi
phase "build of $top/build and $top/build/test"
bg_start "$top/build/asan-tsan-build.log" 'build_asan && build_tsan'
test_suite "$top/build/test"
bg_wait
phase "rest of the builds of $top/build/asan and $top/build/tsan"
# The load test under TSan takes both cores (100 reader loops), as the load
# test of each suite does at its start: it runs alone, here between them.
echo "== test $top/build/tsan"
ctest --test-dir "$top/build/tsan" -L load --output-on-failure --timeout 600 "${ctest_args[@]}"
phase "TSan load test"
bg_start "$top/build/fuzz.log" 'build_fuzz && fuzz_runs'
ASAN_OPTIONS=detect_leaks=1:abort_on_error=1 UBSAN_OPTIONS=print_stacktrace=1:halt_on_error=1 \
    test_suite "$top/build/asan"
bg_wait
cat "$top/build/fuzz.log"
phase "rest of the fuzz build and runs"
echo "== all tests passed (normal, ASan+UBSan, TSan and fuzz builds)"

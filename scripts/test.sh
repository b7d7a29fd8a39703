#!/usr/bin/env bash
# Sets up, builds and runs the whole test suite twice: a normal -Werror build
# and an ASan+UBSan build. Usage: scripts/test.sh [ctest args...]
# (e.g. scripts/test.sh -LE interop for a quick run without interop tests)
set -euo pipefail
top=$(cd "$(dirname "$0")/.." && pwd)
"$top/scripts/setup.sh"

run_suite() {
    local dir=$1
    shift
    echo "== build $dir"
    "$top/scripts/build.sh" "$dir" -DFAXFS_WERROR=ON "$@"
    echo "== test $dir"
    ctest --test-dir "$dir" --output-on-failure -j2 --timeout 600 "${ctest_args[@]}"
}

ctest_args=("$@")
run_suite "$top/build/test" -DCMAKE_BUILD_TYPE=RelWithDebInfo -DFAXFS_FAULT_INJECTION=ON
ASAN_OPTIONS=detect_leaks=1:abort_on_error=1 UBSAN_OPTIONS=print_stacktrace=1:halt_on_error=1 \
    run_suite "$top/build/asan" -DCMAKE_BUILD_TYPE=Debug -DFAXFS_SANITIZE=ON -DFAXFS_FAULT_INJECTION=ON
echo "== all tests passed (normal and ASan+UBSan builds)"

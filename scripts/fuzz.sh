#!/bin/sh
# fuzz.sh - runs the libFuzzer targets (tests/fuzz/) longer than CI does.
# Usage: scripts/fuzz.sh [SECONDS_PER_TARGET] [TARGET...]
#   SECONDS_PER_TARGET defaults to 300; TARGET is e.g. jobfile or document
#   (default: every target). Builds with clang in build/fuzz (or
#   $FAXFS_FUZZ_BUILD). A crash leaves its input in
#   <build>/tests/fuzz/<target>/artifacts/; fix the bug, then add the input
#   to tests/fuzz/corpus/<target>/ as a regression seed.
set -eu

root=$(cd "$(dirname "$0")/.." && pwd)
seconds=${1:-300}
[ $# -gt 0 ] && shift
build=${FAXFS_FUZZ_BUILD:-$root/build/fuzz}

case $seconds in
    ''|*[!0-9]*) echo "fuzz.sh: \"$seconds\" is not a number of seconds; usage: scripts/fuzz.sh [SECONDS] [TARGET...]" >&2
                 exit 2 ;;
esac
if ! command -v clang >/dev/null 2>&1; then
    echo "fuzz.sh: clang is needed; install it with: apt-get install clang libclang-rt-14-dev" >&2
    exit 2
fi

cmake -S "$root" -B "$build" -DCMAKE_C_COMPILER=clang -DFAXFS_FUZZ=ON -DFAXFS_FUZZ_SECONDS="$seconds" >/dev/null
targets=$(ctest --test-dir "$build" -N -L fuzz | sed -n 's/.*Test *#[0-9]*: fuzz_\([a-z_0-9]*\).*/\1/p')
if [ -z "$targets" ]; then
    echo "fuzz.sh: no fuzz targets configured; tests/CMakeLists.txt must include tests/fuzz/fuzz.cmake" >&2
    exit 2
fi
[ $# -gt 0 ] && targets="$*"

for t in $targets; do
    cmake --build "$build" -j2 --target "fuzz_$t"
done
pattern=$(echo $targets | tr ' ' '|')
echo "fuzzing $(echo $targets | wc -w) target(s) for $seconds s each: $targets"
ctest --test-dir "$build" -L fuzz -R "^fuzz_($pattern)\$" --output-on-failure

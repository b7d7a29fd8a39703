#!/usr/bin/env bash
# Configures and builds faxfs into build/ (or $1 with extra cmake args after it).
# FAXFS_BUILD_TARGETS="a b" builds only those targets (and what they need).
set -euo pipefail
top=$(cd "$(dirname "$0")/.." && pwd)
dir=${1:-$top/build}
shift || true
# ccache (installed by setup.sh) keeps compiled objects between builds and
# checkouts: paths are taken relative to the checkout, so a fresh clone
# reuses what an earlier one compiled.
launcher=()
if command -v ccache >/dev/null; then
    export CCACHE_BASEDIR="$top" CCACHE_NOHASHDIR=true
    launcher=(-DCMAKE_C_COMPILER_LAUNCHER=ccache)
fi
cmake -S "$top" -B "$dir" "${launcher[@]}" "$@" >/dev/null
targets=()
for t in ${FAXFS_BUILD_TARGETS:-}; do
    targets+=(--target "$t")
done
cmake --build "$dir" -j"$(nproc)" "${targets[@]}" >/dev/null

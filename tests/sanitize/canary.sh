#!/bin/bash
# The sanitizer build still catches what it must: each deliberate error of
# tests/sanitize/canary.c fails the program with its sanitizer's report,
# and the same program without an error passes.
# Usage: CANARY=path/to/faxfs_sanitizer_canary canary.sh
set -euo pipefail
: "${CANARY:?CANARY must name the canary program}"
# (symbolize=0: the report names the error without the slow symbolizer)
export ASAN_OPTIONS=detect_leaks=1:abort_on_error=1:symbolize=0
export UBSAN_OPTIONS=print_stacktrace=1:halt_on_error=1

out=$("$CANARY" none 8 2>&1) || { echo "FAIL: the canary failed without an error: $out" >&2; exit 1; }

fails=0
while read -r kind report; do
    rc=0
    out=$("$CANARY" "$kind" 1 2>&1) || rc=$?
    if [ "$rc" -eq 0 ]; then
        echo "FAIL: $kind: the program exited 0; the sanitizer did not stop it" >&2
        fails=$((fails + 1))
    elif ! grep -qF -- "$report" <<<"$out"; then
        echo "FAIL: $kind: exit $rc without '$report' in: $(head -c 600 <<<"$out")" >&2
        fails=$((fails + 1))
    else
        echo "ok: $kind: exit $rc, '$report'"
    fi
done <<'LIST'
heap-overflow ERROR: AddressSanitizer: heap-buffer-overflow
use-after-free ERROR: AddressSanitizer: heap-use-after-free
stack-overflow ERROR: AddressSanitizer: stack-buffer-overflow
leak ERROR: LeakSanitizer: detected memory leaks
signed-overflow runtime error: signed integer overflow
bounds runtime error: index 64 out of bounds
LIST
[ "$fails" -eq 0 ] || exit 1
echo "PASS: every deliberate error was caught"

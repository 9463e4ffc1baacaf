#!/bin/sh
# Builds m2t and runs every test: release build, then the same suite under
# AddressSanitizer + UndefinedBehaviorSanitizer, then short fuzzing runs.
# Usage: scripts/run-tests.sh   (from the source root; build folders: build-test, build-asan)
set -eu
cd "$(dirname "$0")/.."
jobs=$(nproc 2>/dev/null || echo 2)

echo "== release build and tests"
[ -d build-test ] || meson setup build-test --buildtype=release
ninja -C build-test -j "$jobs"
meson test -C build-test --print-errorlogs --no-suite fuzz --num-processes "$jobs"

echo "== AddressSanitizer + UndefinedBehaviorSanitizer"
[ -d build-asan ] || meson setup build-asan --buildtype=debugoptimized \
    -Db_sanitize=address,undefined -Db_lundef=false
ninja -C build-asan -j "$jobs"
ASAN_OPTIONS=detect_leaks=1:abort_on_error=1 \
UBSAN_OPTIONS=print_stacktrace=1:halt_on_error=1 M2T_TEST_QUICK=1 \
    meson test -C build-asan --print-errorlogs --no-suite fuzz --num-processes "$jobs" \
    --timeout-multiplier 4

echo "== fuzzing (short runs)"
meson test -C build-test --print-errorlogs --suite fuzz --num-processes 1
echo "== all tests passed"

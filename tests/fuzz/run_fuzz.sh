#!/bin/sh
# run_fuzz.sh FUZZER SEED_CORPUS WORK_FOLDER [SECONDS]
#
# A short libFuzzer run for `meson test --suite fuzz`: SECONDS (default 45,
# or $M2T_FUZZ_SECONDS) of fuzzing from the committed seeds. New inputs go
# to WORK_FOLDER/corpus (in the build folder, kept between runs, so coverage
# builds up); a crash leaves its input in WORK_FOLDER/artifacts and fails
# the test. Fix the bug, then add the input to tests/fuzz/regressions/TARGET/,
# which the replay tests run in every build.
set -eu

fuzzer=$1
seeds=$2
work=$3
seconds=${M2T_FUZZ_SECONDS:-${4:-45}}

mkdir -p "$work/corpus" "$work/artifacts"
# libFuzzer's default exit status for a crash is 77, which meson reads as
# "skipped": make every failure a plain 1.
exec "$fuzzer" \
    -max_total_time="$seconds" \
    -timeout=10 \
    -rss_limit_mb=2048 \
    -max_len=4096 \
    -error_exitcode=1 \
    -timeout_exitcode=1 \
    -print_final_stats=1 \
    -artifact_prefix="$work/artifacts/" \
    "$work/corpus" "$seeds"

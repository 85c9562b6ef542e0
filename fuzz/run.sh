#!/usr/bin/env bash
# Builds the venue fuzz targets with libFuzzer's coverage instrumentation on stable Rust and runs
# them. Usage: fuzz/run.sh [SECONDS_PER_TARGET] [TARGET...]   (default: 600 s, every target)
#   fuzz/run.sh 0      builds, seeds, and runs each target once over its seed corpus only
#   fuzz/run.sh check  the same without instrumentation, a debug build in the main target/
#                      (shares the workspace's compiled dependencies): what .ci/run does
set -euo pipefail
cd "$(dirname "$0")"
secs="${1:-600}"
shift || true
targets=("$@")
[ ${#targets[@]} -gt 0 ] || targets=(binance binance_sbe bybit okx kraken coinbase)

if [ "$secs" = check ]; then
  cargo build --bins --target-dir ../target
  for t in "${targets[@]}"; do
    ./seed.sh "$t"
    # Each seed file run once (no instrumentation is needed to replay inputs).
    ../target/debug/"$t" corpus/"$t"/seed-*
  done
  exit 0
fi

# The instrumentation cargo-fuzz adds, without nightly: SanitizerCoverage's inline 8-bit
# counters, PC table and comparison tracing, which libFuzzer reads.
export RUSTFLAGS="--cfg fuzzing -Cpasses=sancov-module -Cllvm-args=-sanitizer-coverage-level=4 \
-Cllvm-args=-sanitizer-coverage-inline-8bit-counters -Cllvm-args=-sanitizer-coverage-pc-table \
-Cllvm-args=-sanitizer-coverage-trace-compares -Cdebug-assertions -Coverflow-checks"
export CARGO_TARGET_DIR="${CARGO_TARGET_DIR:-$PWD/target}"
# FUZZ_PROFILE=dev builds faster (fewer executions per second).
profile="${FUZZ_PROFILE:-release}"
# An explicit --target keeps RUSTFLAGS off build scripts and proc macros (as cargo-fuzz does).
host="$(rustc -vV | sed -n 's/^host: //p')"
cargo build --profile "$profile" --bins --target "$host"
bin="$CARGO_TARGET_DIR/$host/$([ "$profile" = dev ] && echo debug || echo "$profile")"

for t in "${targets[@]}"; do
  ./seed.sh "$t"
  mkdir -p "artifacts/$t"
  if [ "$secs" = 0 ]; then
    "$bin/$t" -runs=0 "corpus/$t"
  else
    "$bin/$t" -max_total_time="$secs" -max_len=4096 -timeout=10 \
      -artifact_prefix="artifacts/$t/" "corpus/$t"
  fi
done

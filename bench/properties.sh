#!/usr/bin/env bash
# Not a test: the long run of tests/properties.rs (issue 9). Every property runs PROPTEST_CASES
# cases (default 20000) instead of the few hundred `cargo test` runs, and the script prints each
# property's count, outcomes and time, then the result.
#   bash bench/properties.sh [cases=20000] [test threads=2]
#
# Built optimized, but with debug assertions and overflow checks kept: an overflow on a number
# from outside must panic here as it would in a debug build. The release profile itself is tuned
# for the Worker's size (opt-level "z", fat LTO, one codegen unit), which is slow to build and run
# natively, so these overrides apply to this command only (they share target/release).
set -euo pipefail
cd "$(dirname "$0")/.."

cases="${1:-20000}"
threads="${2:-2}"
export PROPTEST_CASES="$cases"
export CARGO_PROFILE_RELEASE_OPT_LEVEL=3
export CARGO_PROFILE_RELEASE_LTO=false
export CARGO_PROFILE_RELEASE_CODEGEN_UNITS=16
export CARGO_PROFILE_RELEASE_DEBUG_ASSERTIONS=true
export CARGO_PROFILE_RELEASE_OVERFLOW_CHECKS=true

echo "building tests/properties.rs (opt-level 3, overflow checks on) ..."
cargo test --release --quiet --test it --no-run

echo "running every property with $cases cases, $threads at a time ..."
log="$(mktemp)"
trap 'rm -f "$log"' EXIT
start="$(date +%s)"
set +e
cargo test --release --quiet --test it properties:: -- --nocapture --test-threads="$threads" >"$log" 2>&1
status=$?
set -e
elapsed=$(($(date +%s) - start))

# One line per property: "property <name>: <n> cases passed in <s>s (<outcomes>)".
grep -a -o 'property [a-z_]*: .*' "$log" | sort || true
properties="$(grep -a -c 'property [a-z_]*: .* cases passed' "$log" || true)"
if [ "$status" -eq 0 ]; then
  echo "result: ok, $properties properties x $cases cases = $((properties * cases)) cases, no failure, ${elapsed}s"
else
  # The failing property's smallest input and message, as proptest printed them.
  grep -a -E "panicked|failed|minimal failing input|Test failed" "$log" | head -40 || true
  echo "result: FAILED after ${elapsed}s (full log above; rerun one with: cargo test --test it properties::<name>)"
  exit 1
fi

#!/usr/bin/env bash
# The one test command: sets up what is missing, then runs every check CI runs.
#   native: cargo fmt --check, cargo clippy -D warnings, cargo test
#   stand-in: its own tests (node --test standin/)
#   wasm: the release build with worker-build (prints the gzipped size)
#   end to end: the built Worker in workerd (miniflare) with real KV, the stand-in, real SDKs
set -euo pipefail
cd "$(dirname "${BASH_SOURCE[0]}")/.."
source scripts/env.sh
bash scripts/setup.sh
step() { printf '\n== %s\n' "$*"; }
step "cargo fmt --check";              cargo fmt --check
step "cargo clippy -D warnings";       cargo clippy --all-targets --quiet -- -D warnings
step "cargo clippy (wasm32)";          cargo clippy --target wasm32-unknown-unknown --quiet -- -D warnings
step "cargo test";                     cargo test --quiet
step "stand-in tests";                 node --test standin/
step "fixtures up to date";            node scripts/extract-fixtures.mjs --check
step "release wasm build";             bash scripts/build.sh
step "end-to-end (workerd + stand-in + SDKs)"
node --test --test-concurrency=1 e2e/

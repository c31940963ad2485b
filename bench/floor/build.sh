#!/usr/bin/env bash
# Builds the floor Worker (bench/floor) into bench/floor/build/ with edgeport's pinned worker-build.
set -euo pipefail
cd "$(dirname "${BASH_SOURCE[0]}")"
ROOT=$(cd ../.. && pwd)
pushd "$ROOT" >/dev/null; source scripts/env.sh; popd >/dev/null
export WASM_BINDGEN_BIN
export WASM_OPT_BIN="$ROOT/node_modules/.bin/wasm-opt"
export ESBUILD_BIN="$ROOT/node_modules/.bin/esbuild"
"$WORKER_BUILD_BIN" --release
ls -l build/

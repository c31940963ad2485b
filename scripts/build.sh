#!/usr/bin/env bash
# Builds the release Worker into build/ with the pinned worker-build, and prints the wasm size.
# Installs what it needs first (scripts/setup.sh).
set -euo pipefail
cd "$(dirname "${BASH_SOURCE[0]}")/.."
source scripts/env.sh
bash scripts/setup.sh
export WASM_BINDGEN_BIN
export WASM_OPT_BIN="$PWD/node_modules/.bin/wasm-opt"
export ESBUILD_BIN="$PWD/node_modules/.bin/esbuild"
"$WORKER_BUILD_BIN" --release >/tmp/edgeport-build.log 2>&1 || { cat /tmp/edgeport-build.log; exit 1; }
wasm=build/index_bg.wasm
[ -f "$wasm" ] || wasm=$(ls build/*.wasm | head -n1)
# Function names only serve stack traces; EDGEPORT_KEEP_WASM_NAMES=1 keeps them (for twiggy, or a panic's
# stack in the log).
[ -n "${EDGEPORT_KEEP_WASM_NAMES:-}" ] || node scripts/strip-wasm-names.mjs "$wasm"
raw=$(stat -c %s "$wasm")
gz=$(gzip -9 -c "$wasm" | wc -c)
echo "edgeport: release wasm $wasm: $raw bytes, $gz bytes gzipped (gzip -9)"

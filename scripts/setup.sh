#!/usr/bin/env bash
# Everything a fresh machine needs, installed by the project itself: the wasm target, the pinned
# worker-build and wasm-bindgen CLIs (cached outside the clone, keyed by version), and the npm
# packages from package-lock.json (wrangler, binaryen's wasm-opt, the test SDKs).
set -euo pipefail
cd "$(dirname "${BASH_SOURCE[0]}")/.."
source scripts/env.sh
bash scripts/tools.sh
stamp=node_modules/.edgeport-lock
if [ ! -f "$stamp" ] || ! cmp -s package-lock.json "$stamp"; then
  npm ci --no-audit --no-fund --loglevel=error
  cp package-lock.json "$stamp"
fi

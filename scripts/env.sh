# Sourced by the scripts: pinned tool versions and where they live. One place for these facts.
export WORKER_BUILD_VERSION=0.8.7
export WASM_BINDGEN_VERSION=0.2.130
export EDGEPORT_TOOLS="${EDGEPORT_TOOLS:-${XDG_CACHE_HOME:-$HOME/.cache}/edgeport/tools}"
export WORKER_BUILD_BIN="$EDGEPORT_TOOLS/worker-build-$WORKER_BUILD_VERSION/bin/worker-build"
export WASM_BINDGEN_BIN="$EDGEPORT_TOOLS/wasm-bindgen-$WASM_BINDGEN_VERSION/bin/wasm-bindgen"
# The Python SDKs for the Python e2e test, keyed by their pinned requirements (e2e/harness.mjs
# computes the same path).
EDGEPORT_PYVENV="$EDGEPORT_TOOLS/pyvenv-$(sha256sum e2e/python/requirements.txt | cut -c1-12)"
export EDGEPORT_PYVENV
# Nothing phones home: wrangler metrics off, npm's update notifier off. (wrangler 4.86 has no switch for
# its version check; it asks the npm registry with a short timeout and only prints a banner.)
export WRANGLER_SEND_METRICS=false
export NO_UPDATE_NOTIFIER=1

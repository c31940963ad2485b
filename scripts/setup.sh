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
# The Python SDKs for the Python e2e test, in a virtualenv keyed by the pinned requirements. A
# venv records its own path, so it is built in place; the stamp marks a finished install.
if [ ! -f "$EDGEPORT_PYVENV/.complete" ]; then
  echo "edgeport: installing the Python SDKs into $EDGEPORT_PYVENV" >&2
  rm -rf "$EDGEPORT_PYVENV"
  python3 -m venv "$EDGEPORT_PYVENV"
  "$EDGEPORT_PYVENV/bin/pip" install --quiet --disable-pip-version-check -r e2e/python/requirements.txt
  touch "$EDGEPORT_PYVENV/.complete"
fi

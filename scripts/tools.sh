#!/usr/bin/env bash
# Installs the slow build tools into a cache outside the clone, keyed by version, so a fresh clone on
# the same machine reuses them while a new machine installs everything itself. Idempotent.
# Prints nothing but progress; exports nothing (callers source scripts/env.sh).
set -euo pipefail
here="$(cd "$(dirname "${BASH_SOURCE[0]}")" && pwd)"
# shellcheck source=scripts/env.sh
source "$here/env.sh"

rustup target add wasm32-unknown-unknown >/dev/null 2>&1 || rustup target add wasm32-unknown-unknown

install_crate() { # crate binary version root [--locked]
  local name=$1 bin=$2 version=$3 root=$4 locked=${5:-}
  if [ -x "$root/bin/$bin" ]; then return 0; fi
  echo "edgeport: installing $name $version into $root (one time, several minutes)" >&2
  local tmp="$root.partial"
  rm -rf "$tmp"
  cargo install "$name" --version "$version" $locked --root "$tmp" --quiet
  rm -rf "$root" && mv "$tmp" "$root"
}

# worker-build's lockfile is fine from the registry; wasm-bindgen-cli's pins a webpki-roots
# version the registry here lacks, hence no --locked (toolchain.md).
install_crate worker-build worker-build "$WORKER_BUILD_VERSION" "$EDGEPORT_TOOLS/worker-build-$WORKER_BUILD_VERSION" --locked &
wb=$!
install_crate wasm-bindgen-cli wasm-bindgen "$WASM_BINDGEN_VERSION" "$EDGEPORT_TOOLS/wasm-bindgen-$WASM_BINDGEN_VERSION" &
wbg=$!
wait $wb
wait $wbg

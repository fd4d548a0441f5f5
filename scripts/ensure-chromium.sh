#!/usr/bin/env bash
# Make sure a `chromium` binary is on PATH for the browser tests (tests/e2e).
# Idempotent and silent when chromium is already there. Installs the distribution's package
# (apt-get install chromium); runs `apt-get update` only when the first install attempt fails;
# uses sudo only when not root. Playwright never downloads browsers in this project.
set -euo pipefail

if command -v chromium >/dev/null 2>&1; then
  exit 0
fi

if ! command -v apt-get >/dev/null 2>&1; then
  echo "ensure-chromium: chromium is not on PATH and apt-get is unavailable; install chromium yourself" >&2
  exit 1
fi

if [ "$(id -u)" -eq 0 ]; then
  as_root=()
elif command -v sudo >/dev/null 2>&1; then
  as_root=(sudo)
else
  echo "ensure-chromium: need root or sudo to install chromium" >&2
  exit 1
fi

export DEBIAN_FRONTEND=noninteractive
install_chromium() {
  "${as_root[@]}" apt-get install -y -qq --no-install-recommends chromium >/dev/null
}

echo "ensure-chromium: installing chromium with apt-get" >&2
if ! install_chromium; then
  echo "ensure-chromium: install failed; running apt-get update and retrying" >&2
  "${as_root[@]}" apt-get update -qq >/dev/null
  install_chromium
fi

command -v chromium >/dev/null 2>&1 || { echo "ensure-chromium: chromium still not on PATH" >&2; exit 1; }
echo "ensure-chromium: $(chromium --version 2>/dev/null || echo chromium installed)" >&2

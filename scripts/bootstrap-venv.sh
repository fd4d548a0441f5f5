#!/usr/bin/env bash
# Create .venv from Python 3.10 (Rasa 3.6 supports 3.8-3.10) and install the pinned requirements.
set -euo pipefail
cd "$(dirname "$0")/.."
find_python() {
  for candidate in "${PYTHON310:-}" python3.10 "$HOME"/.pyenv/versions/3.10*/bin/python3.10 /usr/bin/python3.10; do
    [ -n "$candidate" ] || continue
    if command -v "$candidate" >/dev/null 2>&1 && "$candidate" -c 'import sys; sys.exit(sys.version_info[:2] != (3, 10))'; then
      command -v "$candidate"; return 0
    fi
  done
  return 1
}
if [ ! -x .venv/bin/python ]; then
  python=$(find_python) || { echo "Python 3.10 not found: install it (pyenv install 3.10) or set PYTHON310" >&2; exit 1; }
  echo "creating .venv with $python"
  "$python" -m venv .venv
fi
.venv/bin/python -m pip install --quiet --disable-pip-version-check --upgrade pip==24.0
.venv/bin/python -m pip install --quiet --disable-pip-version-check -r requirements-dev.txt

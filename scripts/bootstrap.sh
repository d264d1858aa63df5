#!/usr/bin/env bash
# Create .venv with a Python >= 3.12 and install requirements.txt. Safe to run again.
set -euo pipefail
cd "$(dirname "$0")/.."

pick_python() {
  local candidates=("${PYTHON:-}" python3.13 python3.12 python3)
  # pyenv installs that are not on the PATH's active version.
  for dir in "${PYENV_ROOT:-$HOME/.pyenv}"/versions/3.1[2-9]*/bin; do
    [ -d "$dir" ] && candidates+=("$dir/python3")
  done
  for candidate in "${candidates[@]}"; do
    [ -n "$candidate" ] || continue
    if "$candidate" -c 'import sys, venv; sys.exit(0 if sys.version_info >= (3, 12) else 1)' >/dev/null 2>&1; then
      command -v "$candidate" 2>/dev/null || echo "$candidate"
      return 0
    fi
  done
  return 1
}

if [ ! -x .venv/bin/python ] || ! .venv/bin/python -c 'import sys; sys.exit(0 if sys.version_info >= (3, 12) else 1)' 2>/dev/null; then
  if ! py=$(pick_python); then
    echo "bulkupload needs Python 3.12 or newer (Django 6.1). None was found: install python3.12 or set PYTHON=/path/to/python3.12." >&2
    exit 1
  fi
  echo "Creating .venv with $py ($("$py" --version 2>&1))"
  rm -rf .venv
  "$py" -m venv .venv
fi
stamp=.venv/.requirements.sha256
want=$(sha256sum requirements.txt | cut -d' ' -f1)
if [ ! -f "$stamp" ] || [ "$(cat "$stamp")" != "$want" ]; then
  .venv/bin/python -m pip install --quiet --disable-pip-version-check --upgrade pip
  .venv/bin/python -m pip install --quiet --disable-pip-version-check -r requirements.txt
  echo "$want" > "$stamp"
fi

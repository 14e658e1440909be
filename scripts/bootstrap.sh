#!/usr/bin/env bash
# Make sure .venv exists and holds exactly the locked dependencies plus the project (editable).
# Without extras: requirements/runtime.txt; with any: requirements/dev.txt (every extra). Installs
# check every file's sha256 against the lock (--require-hashes); ./scripts/lock.sh refreshes it.
# Reinstalls when pyproject.toml or the lock changed. Sourced by run.sh, test.sh and lock.sh.
set -euo pipefail
root=$(cd "$(dirname "${BASH_SOURCE[0]}")/.." && pwd)
venv="$root/.venv"
extras="${1:-}"
lock="$root/requirements/runtime.txt"
[ -n "$extras" ] && lock="$root/requirements/dev.txt"

pick_python() {
  for py in python3.13 python3.12 python3.11 python3; do
    if "$py" -c 'import sys; sys.exit(sys.version_info < (3, 11))' >/dev/null 2>&1; then
      echo "$py"; return 0
    fi
  done
  echo "Python 3.11 or newer is required (python3 --version: $(python3 --version 2>&1))." >&2
  return 1
}

quiet_pip() {
  # pip's warnings about this machine's absent local package mirrors are noise; errors still show.
  "$venv/bin/python" -m pip "$@" 2> >(grep -v 'is ignored: it is neither' >&2)
}

if [ ! -x "$venv/bin/python" ]; then
  echo "Creating the virtual environment in $venv ..." >&2
  "$(pick_python)" -m venv "$venv"
fi
stamp="$venv/.installed-${extras//,/-}"
if [ ! -f "$stamp" ] || [ "$root/pyproject.toml" -nt "$stamp" ] || [ "$lock" -nt "$stamp" ]; then
  echo "Installing the locked dependencies (${lock#"$root"/}) and the project into $venv ..." >&2
  quiet_pip install -q --require-hashes -r "$lock"
  # The build backend comes from the lock too, so the project's own install needs no download.
  # (PYTHONWARNINGS: setuptools' notice about editable installs is not for the person running this.)
  PYTHONWARNINGS=ignore quiet_pip install -q --no-deps --no-build-isolation -e "$root"
  touch "$stamp"
fi

#!/usr/bin/env bash
# Make sure .venv exists and holds the project with the given extras; reinstall when
# pyproject.toml changed. Sourced by run.sh and test.sh, so a fresh machine needs nothing else.
set -euo pipefail
root=$(cd "$(dirname "${BASH_SOURCE[0]}")/.." && pwd)
venv="$root/.venv"
extras="${1:-}"

pick_python() {
  for py in python3.13 python3.12 python3.11 python3; do
    if "$py" -c 'import sys; sys.exit(sys.version_info < (3, 11))' >/dev/null 2>&1; then
      echo "$py"; return 0
    fi
  done
  echo "Python 3.11 or newer is required (python3 --version: $(python3 --version 2>&1))." >&2
  return 1
}

if [ ! -x "$venv/bin/python" ]; then
  echo "Creating the virtual environment in $venv ..." >&2
  "$(pick_python)" -m venv "$venv"
fi
stamp="$venv/.installed-${extras//,/-}"
if [ ! -f "$stamp" ] || [ "$root/pyproject.toml" -nt "$stamp" ]; then
  echo "Installing the project and its dependencies into $venv ..." >&2
  target="$root"
  [ -n "$extras" ] && target="${root}[${extras}]"
  # pip's warnings about this machine's absent local package mirrors are noise; errors still show.
  "$venv/bin/python" -m pip install -q --upgrade pip 2> >(grep -v 'is ignored: it is neither' >&2)
  "$venv/bin/python" -m pip install -q -e "$target" 2> >(grep -v 'is ignored: it is neither' >&2)
  touch "$stamp"
fi

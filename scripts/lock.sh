#!/usr/bin/env bash
# Refresh the lock files from pyproject.toml: the one command to run after changing a dependency.
#   ./scripts/lock.sh                           add, drop or move what pyproject.toml asks; keep other pins
#   ./scripts/lock.sh --upgrade                 every package to its newest allowed version
#   ./scripts/lock.sh --upgrade-package NAME    one package (repeatable)
# requirements/dev.txt holds every extra (what ./scripts/test.sh installs); requirements/runtime.txt
# the runtime dependencies only (./scripts/run.sh, the Dockerfile), at the very same versions.
# Both are universal (every platform, Python >= requires-python) and carry the sha256 of every file,
# so installs run with --require-hashes. uv is pinned in the dev lock itself.
set -euo pipefail
root=$(cd "$(dirname "${BASH_SOURCE[0]}")/.." && pwd)
source "$root/scripts/bootstrap.sh" "test,loadtest,dev"
cd "$root"
common=(--universal --python-version 3.11 --generate-hashes --quiet)
"$root/.venv/bin/uv" pip compile pyproject.toml requirements/build.in --all-extras "${common[@]}" \
  -o requirements/dev.txt "$@"
"$root/.venv/bin/uv" pip compile pyproject.toml requirements/build.in "${common[@]}" \
  -c requirements/dev.txt -o requirements/runtime.txt
echo "Locked: requirements/dev.txt, requirements/runtime.txt (commit them with pyproject.toml)." >&2

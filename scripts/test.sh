#!/usr/bin/env bash
# Run the whole test suite. Installs what the tests need when it is missing: the venv with the
# test extras, and the Debian tools the operations tests drive (promtool, prometheus,
# postgres_exporter, node_exporter, pgloader, docker-compose, etcd, patroni, pgbackrest, stunnel4, haproxy; kubectl
# comes from PyPI with the test extra). Extra arguments go to pytest.
#   ./scripts/test.sh --fast    the fast tier only: no test that starts a process (tests/conftest.py)
# The full suite runs its test files in parallel (pytest-xdist), one more worker than cores: most
# tests wait on the processes they start. KBJU_TEST_WORKERS sets the count (0: one process).
set -euo pipefail
root=$(cd "$(dirname "${BASH_SOURCE[0]}")/.." && pwd)
source "$root/scripts/bootstrap.sh" "test,loadtest,dev"
cd "$root"
if [ "${1:-}" = "--fast" ]; then
  shift
  export KBJU_TEST_TIER=fast
  exec "$root/.venv/bin/python" -m pytest -m "not slow" "$@"
fi
"$root/scripts/system-deps.sh"
workers=${KBJU_TEST_WORKERS:-$(( $(nproc) + 1 ))}
exec "$root/.venv/bin/python" -m pytest -n "$workers" --dist loadfile "$@"

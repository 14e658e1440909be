"""The programs a drill cluster runs, found on PATH (Debian packages) or in the virtualenv (moto_server)."""

from __future__ import annotations

import os
import shutil
import sys
from pathlib import Path

from kbjuctl.errors import BadInput

PG_BIN_CANDIDATES = ("/usr/lib/postgresql/15/bin",)


def pg_bin_dir() -> Path:
    env = os.environ.get("KBJU_PG_BINDIR")
    for candidate in ([env] if env else []) + list(PG_BIN_CANDIDATES):
        if candidate and (Path(candidate) / "postgres").is_file():
            return Path(candidate)
    raise BadInput("PostgreSQL 15 server binaries not found (/usr/lib/postgresql/15/bin): install "
                   "postgresql-15, or set KBJU_PG_BINDIR to their folder.")


def require_tools(*names: str) -> None:
    packages = {"patroni": "patroni", "patronictl": "patroni", "etcd": "etcd-server", "pgbackrest": "pgbackrest",
                "haproxy": "haproxy", "stunnel4": "stunnel4", "moto_server": "moto[server] (PyPI)"}
    missing = [n for n in names if shutil.which(n) is None and not _venv_tool(n)]
    if missing:
        raise BadInput("Missing for the drill cluster: " + ", ".join(f"{n} (package {packages.get(n, n)})"
                                                                     for n in missing)
                       + ". ./scripts/system-deps.sh installs the Debian ones.")


def _venv_tool(name: str) -> Path | None:
    path = Path(sys.executable).parent / name
    return path if path.is_file() else None


def tool(name: str) -> str:
    found = shutil.which(name) or _venv_tool(name)
    if not found:
        require_tools(name)
    return str(found)

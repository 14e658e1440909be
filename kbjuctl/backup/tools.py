"""Finding a pg_dump / pg_restore the server accepts: a major version at least the server's."""

from __future__ import annotations

import os
import re
import shutil
import subprocess
from dataclasses import dataclass
from pathlib import Path

from kbjuctl.errors import BadInput

# Set to one folder to use only the tools in it (e.g. /usr/lib/postgresql/16/bin).
BINDIR_ENV = "KBJU_PG_BINDIR"
_VERSION = re.compile(r"\(PostgreSQL\)\s+(\d+)(?:\.(\d+))?")


@dataclass(frozen=True)
class Tool:
    name: str
    path: Path
    version: str  # as the tool prints it, e.g. "15.20 (Debian 15.20-0+deb12u1)"
    major: int

    def to_json(self) -> dict[str, object]:
        return {"path": str(self.path), "version": self.version, "major": self.major}


def search_dirs(path_env: str | None = None) -> list[Path]:
    """Where tools are looked for, in order: $KBJU_PG_BINDIR alone, else PATH, `pg_config --bindir`,
    /usr/lib/postgresql/*/bin (newest first), the embedded server's own binaries."""
    explicit = os.environ.get(BINDIR_ENV)
    if explicit:
        return [Path(explicit)]
    path_env = os.environ.get("PATH", "") if path_env is None else path_env
    dirs = [Path(p) for p in path_env.split(os.pathsep) if p]
    pg_config = shutil.which("pg_config", path=path_env)
    if pg_config:
        try:
            bindir = subprocess.run([pg_config, "--bindir"], check=False, capture_output=True, text=True,
                                    timeout=10).stdout
            if bindir.strip():
                dirs.append(Path(bindir.strip()))
        except (OSError, subprocess.SubprocessError):
            pass
    dirs += sorted(Path("/usr/lib/postgresql").glob("*/bin"), key=_dir_major, reverse=True)
    from kbjuctl.localpg import embedded_bin_dir

    embedded = embedded_bin_dir()
    if embedded:
        dirs.append(embedded)
    return dirs


def _dir_major(path: Path) -> int:
    name = path.parent.name
    return int(name) if name.isdigit() else 0


def found(name: str, dirs: list[Path]) -> list[Tool]:
    """Every distinct, runnable `name` in dirs, in search order."""
    tools, seen = [], set()
    for folder in dirs:
        path = folder / name
        if not (path.is_file() and os.access(path, os.X_OK)):
            continue
        key = path.resolve()
        if key in seen:  # the same binary reached twice (a symlinked bin dir, PATH listing it again)
            continue
        seen.add(key)
        tool = _probe(name, path)
        if tool:
            tools.append(tool)
    return tools


def _probe(name: str, path: Path) -> Tool | None:
    try:
        text = subprocess.run([str(path), "--version"], check=False, capture_output=True, text=True, timeout=10).stdout
    except (OSError, subprocess.SubprocessError):
        return None
    match = _VERSION.search(text)
    if not match:
        return None
    return Tool(name, path, text.split("(PostgreSQL)", 1)[1].strip(), int(match.group(1)))


def pick(name: str, min_major: int, why: str, dirs: list[Path] | None = None) -> Tool:
    """The tool of the lowest major >= min_major (closest to the server), first found on ties.

    `why` says where the minimum comes from, for the message when nothing fits.
    """
    candidates = found(name, search_dirs() if dirs is None else dirs)
    suitable = [t for t in candidates if t.major >= min_major]
    if suitable:
        return min(suitable, key=lambda t: t.major)
    seen = ", ".join(f"{t.major} ({t.path})" for t in candidates) or "none"
    raise BadInput(
        f"No {name} of PostgreSQL {min_major} or newer found ({why}). Versions found: {seen}. "
        f"Install the PostgreSQL {min_major} client tools, or set {BINDIR_ENV} to their bin folder."
    )

"""Finding a PostgreSQL server to work on: the machine's own, or an embedded one (pgserver).

Used by the local sandbox (`kbjuctl run` without DATABASE_URL), the test suite, benchmarks and
`kbjuctl loadtest --target local`. Databases are created and dropped with plain SQL on an
admin connection.
"""

from __future__ import annotations

import hashlib
import os
import secrets
import tempfile
from pathlib import Path

from kbjuctl import dburl

SYSTEM_ADMIN_URL = "postgresql://postgres@127.0.0.1:5432/postgres"


def _connect(url: str, timeout: float = 3.0):
    import psycopg

    return psycopg.connect(url, autocommit=True, connect_timeout=max(1, int(timeout)))


def reachable(url: str, timeout: float = 2.0) -> bool:
    import psycopg

    try:
        with _connect(url, timeout) as conn:
            conn.execute("SELECT 1")
        return True
    except (psycopg.Error, OSError):
        return False


def embedded_admin_url(data_dir: Path) -> str:
    """Start (or reuse) an embedded PostgreSQL whose files live in data_dir; returns its admin URL.

    The server keeps running after this process exits only as long as pgserver decides; it is
    reused by the next call with the same folder.
    """
    import warnings

    data_dir = real_embedded_dir(data_dir)
    data_dir.mkdir(parents=True, exist_ok=True)
    fresh = not (data_dir / "PG_VERSION").exists()
    pgserver = _pgserver()
    try:
        with warnings.catch_warnings():
            warnings.simplefilter("ignore")  # see _pgserver
            server = pgserver.get_server(str(data_dir), cleanup_mode=None)
    except BaseException:
        if fresh:  # a first start cut short (Ctrl-C during initdb) must not leave a half-made cluster behind
            _discard(data_dir)
        raise
    return server.get_uri()


def _discard(real_dir: Path) -> None:
    """Remove a cluster that never finished its first start (nothing anyone stored is in it).

    initdb runs PostgreSQL's bootstrap backend as a child of its own; interrupting initdb (pgserver
    kills it) leaves that child writing into the folder, which would refill it after the removal.
    So every process working on this folder is ended first."""
    import shutil

    _pg_ctl_stop(real_dir)
    _end_processes_using(real_dir)
    shutil.rmtree(real_dir, ignore_errors=True)


def _end_processes_using(real_dir: Path, timeout: float = 10.0) -> None:
    """SIGKILL every process whose command line names real_dir (initdb, its bootstrap backend)."""
    import psutil

    target = str(real_dir)
    victims = []
    for proc in psutil.process_iter(["pid", "cmdline"]):
        cmdline = proc.info.get("cmdline") or []
        if proc.pid != os.getpid() and any(target in part for part in cmdline):
            try:
                proc.kill()
                victims.append(proc)
            except psutil.Error:
                pass
    psutil.wait_procs(victims, timeout=timeout)


def _pgserver():
    """The pgserver module, imported without its platformdirs warning about XDG_RUNTIME_DIR (unset
    on servers and in CI; not the user's concern). ImportError when it is not installed."""
    import warnings

    with warnings.catch_warnings():
        warnings.simplefilter("ignore")
        import pgserver
    return pgserver


def real_embedded_dir(data_dir: Path) -> Path:
    """Where the embedded server started for data_dir really keeps its files: a folder it can use.

    Run as root, pgserver starts PostgreSQL as its own unprivileged user, which cannot enter a
    folder below a private one (pytest's /tmp/pytest-of-root, a clone under /root). Such a
    data_dir is replaced by a stable folder of its own under the system temp dir.
    """
    if os.name != "posix" or os.geteuid() != 0:
        return data_dir
    resolved = data_dir.resolve()
    for parent in resolved.parents:
        if parent.exists() and not os.stat(parent).st_mode & 0o001:
            digest = hashlib.sha1(str(resolved).encode(), usedforsecurity=False).hexdigest()[:12]
            return Path(tempfile.gettempdir()) / f"kbju-embedded-pg-{digest}"
    return data_dir


def embedded_running(data_dir: Path) -> bool:
    """Whether an embedded server for data_dir is up (its postmaster.pid exists)."""
    return (real_embedded_dir(data_dir) / "postmaster.pid").exists()


def stop_embedded(data_dir: Path) -> None:
    """Stop the embedded server started with the same data_dir (fast shutdown; idempotent)."""
    _pg_ctl_stop(real_embedded_dir(data_dir))


def _pg_ctl_stop(real_dir: Path) -> None:
    bin_dir = embedded_bin_dir()
    if bin_dir is None or not (real_dir / "PG_VERSION").exists():
        return
    import subprocess

    command = [str(bin_dir / "pg_ctl"), "-D", str(real_dir), "stop", "-m", "fast"]
    if os.name == "posix" and os.geteuid() == 0:
        command = ["runuser", "-u", "pgserver", "--", *command]  # pgserver's server user owns it
    subprocess.run(command, capture_output=True, timeout=60, check=False)


def embedded_bin_dir() -> Path | None:
    """The embedded server's own client tools (pg_dump, pg_restore) when pgserver is installed."""
    try:
        pgserver = _pgserver()
    except ImportError:
        return None
    path = Path(pgserver.__file__).parent / "pginstall" / "bin"
    return path if path.is_dir() else None


def server_for_tests(data_dir: Path) -> tuple[str, str]:
    """(admin URL, description): $KBJU_TEST_PG_URL, else 127.0.0.1:5432 if it answers, else embedded."""
    explicit = os.environ.get("KBJU_TEST_PG_URL")
    if explicit:
        return explicit, f"KBJU_TEST_PG_URL ({dburl.redact(explicit)})"
    if reachable(SYSTEM_ADMIN_URL):
        return SYSTEM_ADMIN_URL, "the system PostgreSQL at 127.0.0.1:5432"
    return embedded_admin_url(data_dir), f"an embedded PostgreSQL (pgserver) in {data_dir}"


def unique_name(prefix: str) -> str:
    return f"{prefix}_{os.getpid()}_{secrets.token_hex(4)}"


def create_database(admin_url: str, name: str, template: str | None = None) -> str:
    """Create a database (optionally cloned from a template); returns its URL."""
    with _connect(admin_url) as conn:
        sql = f'CREATE DATABASE "{name}"' + (f' TEMPLATE "{template}"' if template else "")
        conn.execute(sql)
    return dburl.with_database(admin_url, name)


def drop_database(admin_url: str, name: str) -> None:
    with _connect(admin_url) as conn:
        conn.execute(f'DROP DATABASE IF EXISTS "{name}" WITH (FORCE)')

"""Daemons of a drill: started detached (a session and process group of their own), found again by pid
from a state file, stopped by process group, and frozen then killed the way a machine dies.

PostgreSQL refuses to run as root, so under root every daemon runs as the `postgres` system user
(and the folder is given to it); otherwise as the current user.
"""

from __future__ import annotations

import contextlib
import os
import pwd
import signal
import socket
import subprocess
import time
from collections.abc import Iterable
from pathlib import Path

import psutil

from kbjuctl.errors import BadInput

SERVER_USER = "postgres"


def server_account() -> tuple[int, int] | None:
    """(uid, gid) to run daemons as when we are root; None: run as ourselves."""
    if os.geteuid() != 0:
        return None
    try:
        entry = pwd.getpwnam(SERVER_USER)
    except KeyError:
        raise BadInput(f"Running as root, the drill runs PostgreSQL as the '{SERVER_USER}' system user, which "
                       "does not exist here. Install the postgresql package, or run as an ordinary user.") from None
    return entry.pw_uid, entry.pw_gid


def give_to_server(path: Path) -> None:
    """Make path (recursively) the server user's, so the daemons may write there."""
    account = server_account()
    if account is None:
        return
    for root, dirs, files in os.walk(path):
        for name in [*dirs, *files]:
            os.lchown(os.path.join(root, name), *account)
    os.lchown(path, *account)


def check_reachable(path: Path) -> None:
    """The server user must be able to enter every parent folder of path."""
    if server_account() is None:
        return
    for parent in [path, *path.parents]:
        if parent.exists() and not os.stat(parent).st_mode & 0o001:
            raise BadInput(f"{parent} cannot be entered by the '{SERVER_USER}' user PostgreSQL runs as (it is "
                           f"private): choose a folder outside it for {path}, e.g. under /tmp.")


def spawn(argv: list[str], log_path: Path, *, env: dict[str, str] | None = None, cwd: Path | None = None,
          as_server: bool = True) -> int:
    """Start a daemon detached (its own session), output appended to log_path; returns its pid."""
    account = server_account() if as_server else None
    full_env = {**os.environ, **(env or {})}
    if account is not None:
        home = pwd.getpwuid(account[0]).pw_dir
        full_env.update(HOME=home, USER=SERVER_USER, LOGNAME=SERVER_USER)
    with log_path.open("ab") as log:
        if account is not None:
            os.chown(log_path, *account)
        process = subprocess.Popen(argv, stdout=log, stderr=subprocess.STDOUT, stdin=subprocess.DEVNULL,
                                   env=full_env, cwd=cwd, start_new_session=True,
                                   user=account[0] if account else None, group=account[1] if account else None,
                                   extra_groups=[] if account else None)
    _children.append(process)
    return process.pid


_children: list[subprocess.Popen] = []  # reaped here, so a killed child is not left a zombie


def _reap() -> None:
    for child in list(_children):
        if child.poll() is not None:
            _children.remove(child)


def alive(pid: int | None) -> bool:
    if not pid:
        return False
    _reap()
    try:
        return psutil.Process(pid).status() != psutil.STATUS_ZOMBIE
    except psutil.NoSuchProcess:
        return False


def _wait_gone(pids: Iterable[int], timeout_s: float) -> bool:
    deadline = time.monotonic() + timeout_s
    pids = list(pids)
    while time.monotonic() < deadline:
        if not any(alive(pid) for pid in pids):
            return True
        time.sleep(0.05)
    return not any(alive(pid) for pid in pids)


def stop_group(pid: int | None, timeout_s: float = 15.0) -> None:
    """SIGTERM to the process group led by pid, then SIGKILL to whatever is left of it."""
    if not alive(pid):
        return
    members = _group(pid)
    with contextlib.suppress(ProcessLookupError):
        os.killpg(pid, signal.SIGTERM)
    if not _wait_gone(members, timeout_s):
        with contextlib.suppress(ProcessLookupError):
            os.killpg(pid, signal.SIGKILL)
        for member in members:
            with contextlib.suppress(ProcessLookupError):
                os.kill(member, signal.SIGKILL)
        _wait_gone(members, 5)


def stop_groups(pids: list[int], timeout_s: float = 15.0) -> None:
    """stop_group for several groups at once: all get SIGTERM first, so they shut down side by side."""
    groups = {pid: _group(pid) for pid in pids if alive(pid)}
    for pid in groups:
        with contextlib.suppress(ProcessLookupError):
            os.killpg(pid, signal.SIGTERM)
    _wait_gone([member for members in groups.values() for member in members], timeout_s)
    for pid in groups:
        stop_group(pid, timeout_s=1)


def _group(pid: int) -> list[int]:
    """Every live process of pid's process group (pgBackRest workers outlive a killed parent)."""
    try:
        pgid = os.getpgid(pid)
    except ProcessLookupError:
        return []
    found = []
    for proc in psutil.process_iter(["pid"]):
        with contextlib.suppress(ProcessLookupError, psutil.NoSuchProcess):
            if os.getpgid(proc.pid) == pgid:
                found.append(proc.pid)
    return found


def tree(pid: int) -> list[int]:
    """pid and all its descendants (a postmaster and its backends: each backend is a session leader)."""
    try:
        root = psutil.Process(pid)
        return [pid, *(child.pid for child in root.children(recursive=True))]
    except psutil.NoSuchProcess:
        return []


def crash(pids: Iterable[int]) -> None:
    """Die the way a machine does: freeze every process first (SIGSTOP), so none can tell a client
    anything or hand over cleanly, then SIGKILL them all."""
    pids = [pid for pid in pids if alive(pid)]
    for pid in pids:
        with contextlib.suppress(ProcessLookupError):
            os.kill(pid, signal.SIGSTOP)
    for pid in pids:
        with contextlib.suppress(ProcessLookupError):
            os.kill(pid, signal.SIGKILL)
    _wait_gone(pids, 10)


def free_port() -> int:
    with socket.socket() as sock:
        sock.bind(("127.0.0.1", 0))
        return sock.getsockname()[1]


def wait_port(port: int, timeout_s: float, pid: int | None = None, what: str = "") -> None:
    deadline = time.monotonic() + timeout_s
    while time.monotonic() < deadline:
        if pid is not None and not alive(pid):
            raise OSError(f"{what or 'the process'} exited while starting")
        with contextlib.suppress(OSError), socket.create_connection(("127.0.0.1", port), timeout=0.5):
            return
        time.sleep(0.1)
    raise TimeoutError(f"{what or 'the process'} did not listen on port {port} within {timeout_s:.0f} s")


def log_tail(path: Path, lines: int = 20) -> str:
    try:
        return "\n".join(path.read_text(errors="replace").splitlines()[-lines:])
    except OSError:
        return ""

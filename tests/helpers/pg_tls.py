"""A PostgreSQL server of the test's own that accepts TLS connections only, with a certificate of a
CA the test made (tests.helpers.certs). Started with the system's server binaries (Debian's postgresql
package; pgserver's embedded build has no OpenSSL), as the postgres user when run as root, and
stopped by its pid."""

from __future__ import annotations

import os
import pwd
import shutil
import signal
import socket
import subprocess
import tempfile
import time
from collections.abc import Iterator
from contextlib import contextmanager
from pathlib import Path

import pytest

from tests.helpers import certs


def server_bin_dir() -> Path | None:
    """The newest system PostgreSQL whose server was built with OpenSSL."""
    for folder in sorted(Path("/usr/lib/postgresql").glob("*/bin"), key=lambda p: int(p.parent.name), reverse=True):
        config = folder / "pg_config"
        if (folder / "postgres").is_file() and config.is_file():
            flags = subprocess.run([str(config), "--configure"], capture_output=True, text=True).stdout
            if "--with-openssl" in flags or "--with-ssl=openssl" in flags:
                return folder
    return None


def _free_port() -> int:
    with socket.socket() as s:
        s.bind(("127.0.0.1", 0))
        return s.getsockname()[1]


def _as_server_user() -> dict:
    """Popen arguments that run the server as the postgres user when we are root (it refuses root)."""
    if os.geteuid() != 0:
        return {}
    owner = pwd.getpwnam("postgres")
    return {"user": owner.pw_uid, "group": owner.pw_gid, "extra_groups": [], "cwd": "/"}


@contextmanager
def tls_only_server() -> Iterator[tuple[int, certs.Pair]]:
    """(port, the CA) of a running server: hostssl only (trust), every plain connection refused."""
    bindir = server_bin_dir()
    if bindir is None:
        pytest.skip("no PostgreSQL server built with OpenSSL (Debian package postgresql): ./scripts/system-deps.sh")
    if os.geteuid() == 0:
        try:
            owner = pwd.getpwnam("postgres")
        except KeyError:
            pytest.skip("running as root and no postgres user to run the server as")
    root = Path(tempfile.mkdtemp(prefix="kbju-pgtls-"))
    root.chmod(0o755)  # the server user traverses it; the data folder itself is 0700
    try:
        authority = certs.ca(root / "ca")
        server = certs.signed(root / "server", authority)
        data = root / "data"
        data.mkdir(mode=0o700)
        if os.geteuid() == 0:
            for path in (data, server.cert, server.key):
                os.chown(path, owner.pw_uid, owner.pw_gid)
            (root / "server").chmod(0o755)
        subprocess.run([str(bindir / "initdb"), "-D", str(data), "-U", "postgres", "-A", "trust", "--no-sync"],
                       check=True, capture_output=True, timeout=120, **_as_server_user())
        port = _free_port()
        with (data / "postgresql.conf").open("a") as conf:
            conf.write(f"listen_addresses = '127.0.0.1'\nport = {port}\nunix_socket_directories = '{data}'\n"
                       f"ssl = on\nssl_cert_file = '{server.cert}'\nssl_key_file = '{server.key}'\n"
                       "fsync = off\nmax_connections = 60\n")
        (data / "pg_hba.conf").write_text("local all all trust\nhostssl all all 127.0.0.1/32 trust\n"
                                          "hostnossl all all 0.0.0.0/0 reject\n")
        log = open(root / "server.log", "wb")  # noqa: SIM115 - closed once the server is stopped
        proc = subprocess.Popen([str(bindir / "postgres"), "-D", str(data)], stdout=subprocess.DEVNULL, stderr=log,
                                **_as_server_user())
        try:
            _wait_ready(bindir, port, proc, root)
            yield port, authority
        finally:
            _stop(proc)
            log.close()
    finally:
        shutil.rmtree(root, ignore_errors=True)


def _wait_ready(bindir: Path, port: int, proc: subprocess.Popen, root: Path) -> None:
    for _ in range(300):
        if proc.poll() is not None:
            raise AssertionError(f"PostgreSQL exited: {(root / 'server.log').read_text(errors='replace')[-2000:]}")
        ready = subprocess.run([str(bindir / "pg_isready"), "-h", "127.0.0.1", "-p", str(port)], capture_output=True)
        if ready.returncode == 0:
            return
        time.sleep(0.1)
    raise AssertionError("PostgreSQL did not start in 30 s")


def _stop(proc: subprocess.Popen) -> None:
    """Fast shutdown of the postmaster, by the pid we started."""
    if proc.poll() is None:
        proc.send_signal(signal.SIGINT)
        try:
            proc.wait(30)
        except subprocess.TimeoutExpired:
            proc.kill()
            proc.wait()

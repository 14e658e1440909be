"""HAProxy (the Debian package) in front of the bot's webhook replicas, as a drill's load balancer.

The configuration is written into the drill's folder: one HTTP frontend, a backend whose servers
are health-checked on the bot's /healthz (a draining bot answers 503 there), retries of requests
that never reached a replica on another one (safe: the bot claims each update id once), and the
runtime API on a unix socket, through which a replica is drained (`set server ... state drain`:
no new requests, the ones in flight finish) before it is stopped and readied after its successor
answers.
"""

from __future__ import annotations

import csv
import io
import shutil
import socket
import subprocess
import tempfile
import time
from dataclasses import dataclass
from pathlib import Path

from kbjuctl.errors import BadInput, OperationFailed
from kbjuctl.loadtest import procs

BACKEND = "bots"


def require() -> str:
    found = shutil.which("haproxy")
    if found is None:
        raise BadInput("HAProxy is not installed (Debian package haproxy; ./scripts/system-deps.sh installs it).")
    return found


@dataclass(frozen=True)
class Server:
    name: str
    port: int
    spare: bool = False  # starts in maintenance: no traffic, no checks, until readied


def config(listen_port: int, servers: list[Server], socket_path: Path, check_ms: int) -> str:
    """The whole configuration. Checks every check_ms, each allowed 2 s (without `timeout check`
    HAProxy allows one interval: a replica busy for 250 ms was taken out, and under load both were,
    503 for everyone); two failed checks take a server out, two passed ones put it back."""
    lines = "\n".join(f"    server {s.name} 127.0.0.1:{s.port} check" + (" disabled" if s.spare else "")
                      for s in servers)
    return f"""global
    maxconn 4096
    stats socket {socket_path} mode 600 level admin
    log stdout format raw local0 info

defaults
    mode http
    log global
    option httplog
    option dontlog-normal
    option log-health-checks
    timeout connect 2s
    timeout client 70s
    timeout server 65s
    timeout http-keep-alive 5s
    timeout check 2s
    # A request that never reached a replica (refused, closed before any answer) goes to another:
    # the bot claims each update id once, so a replay cannot answer a person twice.
    retries 3
    option redispatch 1
    retry-on conn-failure empty-response

frontend webhook
    bind 127.0.0.1:{listen_port}
    default_backend {BACKEND}

backend {BACKEND}
    balance leastconn
    option httpchk
    http-check send meth GET uri /healthz
    http-check expect status 200
    default-server inter {check_ms} fastinter {check_ms} downinter {check_ms} fall 2 rise 2
{lines}
"""


class HAProxy:
    """One haproxy process in the foreground (-db), stopped by pid."""

    def __init__(self, folder: Path, listen_port: int, servers: list[Server], check_ms: int = 250) -> None:
        self.folder = folder
        self.port = listen_port
        self.servers = servers
        # A Unix socket path holds at most 97 characters for haproxy (sun_path): a deep report folder
        # (pytest-xdist's tmp paths) is too long, so the socket lives in a short private folder.
        self.socket_path = folder / "haproxy.sock"
        if len(str(self.socket_path)) > 97:
            short = "/tmp" if Path("/tmp").is_dir() else None  # nosec B108  # a private mkdtemp folder; TMPDIR may be deep
            self.socket_path = Path(tempfile.mkdtemp(prefix="kbju-haproxy-", dir=short)) / "haproxy.sock"
        self.config_path = folder / "haproxy.cfg"
        self.check_ms = check_ms
        self.child: procs.Child | None = None

    @property
    def url(self) -> str:
        return f"http://127.0.0.1:{self.port}"

    def start(self, log_dir: Path) -> HAProxy:
        binary = require()
        self.folder.mkdir(parents=True, exist_ok=True)
        self.config_path.write_text(config(self.port, self.servers, self.socket_path, self.check_ms))
        checked = subprocess.run([binary, "-c", "-f", str(self.config_path)], capture_output=True, text=True,
                                 check=False, timeout=30)
        if checked.returncode != 0:
            raise OperationFailed(f"haproxy refused {self.config_path}: {(checked.stderr or checked.stdout).strip()}")
        self.child = procs.start("haproxy", [binary, "-db", "-f", str(self.config_path)], log_dir)
        deadline = time.monotonic() + 15
        while not self.socket_path.exists():
            if not self.child.alive() or time.monotonic() > deadline:
                raise OperationFailed(f"haproxy did not start:\n{self.child.log_tail()}")
            time.sleep(0.05)
        return self

    def stop(self) -> int | None:
        code = self.child.stop() if self.child is not None else None
        if self.socket_path.parent != self.folder:
            shutil.rmtree(self.socket_path.parent, ignore_errors=True)
        return code

    # -- the runtime API ----------------------------------------------------------------------------
    def command(self, line: str) -> str:
        with socket.socket(socket.AF_UNIX, socket.SOCK_STREAM) as sock:
            sock.settimeout(5)
            sock.connect(str(self.socket_path))
            sock.sendall(line.encode() + b"\n")
            chunks = []
            while chunk := sock.recv(65536):
                chunks.append(chunk)
        return b"".join(chunks).decode(errors="replace")

    def set_state(self, server: str, state: str) -> None:
        """ready, drain (no new requests; checked, in-flight ones finish) or maint."""
        answer = self.command(f"set server {BACKEND}/{server} state {state}").strip()
        if answer:
            raise OperationFailed(f"haproxy: set server {server} state {state}: {answer}")

    def stats(self) -> dict[str, dict[str, str]]:
        """`show stat` of the backend: one row per server and one for the backend, by name."""
        text = self.command("show stat").lstrip("# ")
        rows = csv.DictReader(io.StringIO(text))
        return {row["svname"]: row for row in rows if row.get("pxname") == BACKEND}

    def status(self, server: str) -> str:
        """UP, DOWN, DRAIN, MAINT, ... (with the check's transition, e.g. 'UP 1/2')."""
        return self.stats().get(server, {}).get("status", "")

    def wait_status(self, server: str, wanted: str, timeout_s: float = 30.0) -> float:
        """Until the server's status starts with `wanted`; returns the seconds it took."""
        started = time.monotonic()
        while True:
            status = self.status(server)
            if status == wanted:
                return time.monotonic() - started
            if time.monotonic() - started > timeout_s:
                raise OperationFailed(f"haproxy: {server} is {status or 'unknown'}, not {wanted}, "
                                      f"after {timeout_s:.0f} s")
            time.sleep(0.05)

    def counters(self) -> dict[str, int]:
        """What the balancer saw in all: requests, retries, redispatches and error answers."""
        backend = self.stats().get("BACKEND", {})
        return {name: int(backend.get(key) or 0) for name, key in (
            ("requests", "stot"), ("retries", "wretr"), ("redispatches", "wredis"),
            ("connection_errors", "econ"), ("response_errors", "eresp"), ("answered_5xx", "hrsp_5xx"),
            ("answered_2xx", "hrsp_2xx"))}

    def sessions(self, server: str) -> tuple[int, int]:
        """(requests ever sent to the server, requests it has now)."""
        row = self.stats().get(server, {})
        return int(row.get("stot") or 0), int(row.get("scur") or 0)

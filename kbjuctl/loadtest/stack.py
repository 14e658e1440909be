"""The local system under test: a fresh database, the Bot API stand-in, K bot replicas in webhook
mode and the round-robin front before them (or, with `polling`, K replicas polling getUpdates under
their lease, no front). The database may live on a Patroni drill cluster (kbjuctl.drill.cluster): the
one running in `cluster_dir`, or one started there for the run. Everything started here is stopped here."""

from __future__ import annotations

import contextlib
import os
import secrets
import shutil
import subprocess
import sys
import tempfile
import time
from dataclasses import dataclass, field
from pathlib import Path
from urllib.parse import parse_qs, urlsplit

from kbjuctl import dburl, localpg, migrations
from kbjuctl.errors import OperationFailed
from kbjuctl.loadtest import procs

WEBHOOK_PATH = "/telegram/webhook"


def bot_token() -> str:
    """A token of Telegram's shape; the stand-in accepts any."""
    return f"{secrets.randbelow(10**9) + 10**9}:" + secrets.token_urlsafe(27)[:35]


class EmbeddedPostgres:
    """A PostgreSQL of this run's own (pgserver), so stopping it disturbs nothing else."""

    def __init__(self) -> None:
        self.data_dir = Path(tempfile.mkdtemp(prefix="kbju-loadtest-pg-"))
        self.admin_url = localpg.embedded_admin_url(self.data_dir)
        self.socket_dir = parse_qs(urlsplit(self.admin_url).query).get("host", [str(self.data_dir)])[0]

    def _pg_ctl(self, *args: str) -> None:
        import os

        from pgserver._commands import pg_ctl

        user = "pgserver" if os.geteuid() == 0 else None  # pgserver runs the server as this user under root
        try:
            pg_ctl(["-w", *args], pgdata=self.data_dir, user=user, timeout=60)
        except (subprocess.CalledProcessError, subprocess.TimeoutExpired) as exc:
            raise OperationFailed(f"pg_ctl {' '.join(args)} failed: {exc}") from None

    def stop(self) -> None:
        self._pg_ctl("-m", "fast", "stop")

    def start(self) -> None:
        self._pg_ctl("-o", '-h ""', "-o", f"-k {self.socket_dir}", "-l", str(self.data_dir / "log"), "start")

    def remove(self) -> None:
        with contextlib.suppress(OperationFailed):
            self.stop()
        shutil.rmtree(self.data_dir, ignore_errors=True)


@dataclass
class LocalStack:
    log_dir: Path
    replicas: int = 1
    dedicated_postgres: bool = False
    telegram_limits: bool = True  # the stand-in answers like Telegram's flood control (tgstandin/limits.py)
    bot_env: dict[str, str] = field(default_factory=dict)
    token: str = field(default_factory=bot_token)
    secret: str = field(default_factory=lambda: secrets.token_urlsafe(24))
    database_url: str = ""
    standin_url: str = ""
    front_url: str = ""
    postgres: EmbeddedPostgres | None = None
    standin: procs.Child | None = None
    front: procs.Child | None = None
    bots: list[procs.Child] = field(default_factory=list)
    bot_ports: list[int] = field(default_factory=list)
    metrics_ports: list[int] = field(default_factory=list)
    polling: bool = False
    cluster_dir: Path | None = None
    cluster: object | None = None  # kbjuctl.drill.cluster.Cluster
    _own_cluster: bool = False
    _admin_url: str = ""
    _db_name: str = ""

    # -- start ---------------------------------------------------------------------------------------
    def start(self) -> LocalStack:
        try:
            self._start_database()
            self._start_standin()
            if not self.polling:
                self._start_front()
            for index in range(self.replicas):
                self._start_bot(index)
        except BaseException:
            self.stop()
            raise
        return self

    def _start_database(self) -> None:
        if self.cluster_dir is not None:
            self._start_cluster()
        elif self.dedicated_postgres or not localpg.reachable(localpg.SYSTEM_ADMIN_URL):
            self.postgres = EmbeddedPostgres()
            self._admin_url = self.postgres.admin_url
        else:
            self._admin_url = localpg.SYSTEM_ADMIN_URL
        self._db_name = localpg.unique_name("kbju_loadtest")
        self.database_url = localpg.create_database(self._admin_url, self._db_name)
        migrations.upgrade(self.database_url)

    def _start_cluster(self) -> None:
        from kbjuctl.drill import cluster as drill_cluster

        folder = self.cluster_dir.resolve()
        if (folder / drill_cluster.STATE).exists():
            if drill_cluster.Cluster.load(folder).leader() is not None:
                self.cluster = drill_cluster.Cluster.load(folder)
                self._admin_url = dburl.with_database(self.cluster.url, "postgres")
                return
            drill_cluster.down(folder, remove=True)  # the stopped cluster of an earlier run
        self.cluster = drill_cluster.up(folder)
        self._own_cluster = True
        self._admin_url = dburl.with_database(self.cluster.url, "postgres")

    def _start_standin(self) -> None:
        port = procs.free_port()
        self.standin_url = f"http://127.0.0.1:{port}"
        argv = [sys.executable, "-m", "tgstandin", "--host", "127.0.0.1", "--port", str(port)]
        if self.telegram_limits:
            argv.append("--telegram-limits")
        self.standin = procs.start("standin", argv, self.log_dir)
        procs.wait_http(f"{self.standin_url}/_standin/stats", self.standin)

    def _start_front(self) -> None:
        self.bot_ports = [procs.free_port() for _ in range(self.replicas)]
        port = procs.free_port()
        self.front_url = f"http://127.0.0.1:{port}"
        argv = [sys.executable, "-m", "loadtests.front", "--listen", f"127.0.0.1:{port}"]
        for bot_port in self.bot_ports:
            argv += ["--upstream", f"http://127.0.0.1:{bot_port}"]
        self.front = procs.start("front", argv, self.log_dir)
        procs.wait_http(f"{self.front_url}/_front/stats", self.front)

    def bot_environment(self, index: int) -> dict[str, str]:
        if self.polling:
            return {"BOT_TOKEN": self.token, "DATABASE_URL": self.database_url, "TELEGRAM_API_URL": self.standin_url,
                    "METRICS_PORT": str(self.metrics_ports[index]), "LOG_LEVEL": "INFO", **self.bot_env}
        return {
            "BOT_TOKEN": self.token,
            "DATABASE_URL": self.database_url,
            "TELEGRAM_API_URL": self.standin_url,
            "WEBHOOK_URL": self.front_url + WEBHOOK_PATH,
            "WEBHOOK_LISTEN": "127.0.0.1",
            "WEBHOOK_PORT": str(self.bot_ports[index]),
            "WEBHOOK_PATH": WEBHOOK_PATH,
            "WEBHOOK_SECRET": self.secret,
            "WEBHOOK_DRAIN_SECONDS": "0",  # the front does not read /healthz: a drain delay buys nothing here
            "METRICS_PORT": str(self.metrics_ports[index]),
            "LOG_LEVEL": "INFO",
            **self.bot_env,
        }

    def _start_bot(self, index: int) -> None:
        self.metrics_ports.append(procs.free_port())
        env = self.bot_environment(index)
        argv = [sys.executable, "-m", "kbjuctl", "run"] + ([] if self.polling else ["--webhook"])
        child = procs.start(f"bot-{index + 1}", argv, self.log_dir, env=env, cwd=self.log_dir)  # no stray .env
        self.bots.append(child)
        if self.polling:
            procs.wait_http(f"http://127.0.0.1:{self.metrics_ports[index]}/metrics", child, timeout_s=60)
        else:
            procs.wait_http(f"http://127.0.0.1:{self.bot_ports[index]}/healthz", child, timeout_s=60)

    # -- during the run --------------------------------------------------------------------------------
    def bot_pids(self) -> dict[str, int]:
        return {child.name: child.pid for child in self.bots}

    def program_pids(self) -> dict[str, list[int]]:
        """The programs of the stack, for monitor.CpuAccount."""
        return {"bot": [child.pid for child in self.bots],
                "stand-in": [self.standin.pid] if self.standin else [],
                "front": [self.front.pid] if self.front else []}

    def kill_bot(self, index: int) -> None:
        self.bots[index].kill()

    def polling_leaders(self) -> list[int]:
        """Indexes of the live replicas whose metrics say they hold the polling lease."""
        import urllib.request

        leaders = []
        for index, (child, port) in enumerate(zip(self.bots, self.metrics_ports, strict=True)):
            if not child.alive():
                continue
            try:
                with urllib.request.urlopen(f"http://127.0.0.1:{port}/metrics", timeout=2) as resp:  # nosec B310  # http literal
                    text = resp.read().decode()
            except OSError:
                continue
            if "\nkbju_polling_leader 1.0" in text:
                leaders.append(index)
        return leaders

    # -- stop ----------------------------------------------------------------------------------------
    def stop(self) -> dict[str, int | None]:
        """Stops everything (bots first, so nothing they do is cut short by the others); exit codes."""
        codes: dict[str, int | None] = {}
        for child in [*self.bots, self.front, self.standin]:
            if child is not None:
                codes[child.name] = child.stop()
        return codes

    def drop_database(self) -> None:
        if self._db_name:
            try:
                localpg.drop_database(self._admin_url, self._db_name)
            except Exception as exc:  # noqa: BLE001 - a leftover database must not hide the run's verdict
                print(f"could not drop {self._db_name}: {exc}", file=sys.stderr)
        if self.postgres is not None:
            self.postgres.remove()
        if self._own_cluster:
            from kbjuctl.drill import cluster as drill_cluster

            drill_cluster.down(self.cluster.folder)  # its logs stay in the report

    def describe(self) -> dict[str, object]:
        settings = {name: self.bot_env.get(name) or os.environ.get(name) or default
                    for name, default in BOT_SEND_SETTINGS.items()}
        return {"database": dburl.redact(self.database_url), "standin": self.standin_url, "front": self.front_url,
                "replicas": self.replicas, "dedicated_postgres": self.postgres is not None,
                "polling": self.polling, "cluster": str(self.cluster.folder) if self.cluster is not None else None,
                # How the bot sends (from the environment the replicas inherit, else the bot's default).
                "bot_send_settings": settings}


# The bot's sending settings (bot/config.py) and their defaults, shown with every run.
BOT_SEND_SETTINGS = {"BOT_CHAT_RATE": "1", "BOT_CHAT_BURST": "3", "BOT_BULK_RATE": "30"}


def wait_idle(standin_url: str, timeout_s: float = 30.0, cap_s: float = 180.0) -> bool:
    """Until the stand-in has nothing left to deliver (every sent update acknowledged). Waits while
    the backlog shrinks (an overloaded bot is still working through it, as Telegram would keep
    delivering): gives up after timeout_s without progress, or after cap_s in all."""
    import json
    import urllib.request

    started = last_progress = time.monotonic()
    lowest: int | None = None
    while time.monotonic() - last_progress < timeout_s and time.monotonic() - started < cap_s:
        try:
            with urllib.request.urlopen(f"{standin_url}/_standin/stats", timeout=5) as resp:  # nosec B310  # the stand-in's http URL, made by the stack
                stats = json.load(resp)
        except OSError:
            return False
        pending = pending_updates(stats)
        if pending == 0:
            return True
        if lowest is None or pending < lowest:
            lowest, last_progress = pending, time.monotonic()
        time.sleep(0.5)
    return False


def pending_updates(stats: dict) -> int:
    """Updates the stand-in still holds for delivery (tgstandin.control's stats)."""
    return int((stats.get("updates") or {}).get("pending") or 0)

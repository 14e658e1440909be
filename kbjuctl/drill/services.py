"""What every bot drill starts besides the bot: a fresh database and the Bot API stand-in."""

from __future__ import annotations

import json
import sys
import urllib.request
from dataclasses import dataclass
from pathlib import Path

from kbjuctl import localpg
from kbjuctl.loadtest import procs
from kbjuctl.loadtest.stack import EmbeddedPostgres


@dataclass
class Database:
    """A database of the drill's own, on the PostgreSQL at 127.0.0.1:5432 when it answers, else on an
    embedded one; dropped afterwards."""

    admin_url: str
    name: str
    url: str
    embedded: EmbeddedPostgres | None = None

    @classmethod
    def create(cls, prefix: str) -> Database:
        embedded = None
        admin = localpg.SYSTEM_ADMIN_URL
        if not localpg.reachable(admin):
            embedded = EmbeddedPostgres()
            admin = embedded.admin_url
        name = localpg.unique_name(prefix)
        return cls(admin, name, localpg.create_database(admin, name), embedded)

    def drop(self) -> None:
        try:
            localpg.drop_database(self.admin_url, self.name)
        except Exception as exc:  # noqa: BLE001 - a leftover database must not hide the drill's verdict
            print(f"could not drop {self.name}: {exc}", file=sys.stderr)
        if self.embedded is not None:
            self.embedded.remove()


@dataclass
class Standin:
    child: procs.Child
    url: str

    @classmethod
    def start(cls, log_dir: Path) -> Standin:
        port = procs.free_port()
        child = procs.start("standin", [sys.executable, "-m", "tgstandin", "--host", "127.0.0.1", "--port", str(port)],
                            log_dir)
        url = f"http://127.0.0.1:{port}"
        procs.wait_http(f"{url}/_standin/stats", child)
        return cls(child, url)

    def stats(self) -> dict:
        """Counters of the stand-in (tgstandin.control): updates created, delivered, pending; per bot
        also its webhook's delivery attempts, successes and failures."""
        with urllib.request.urlopen(f"{self.url}/_standin/stats", timeout=10) as resp:  # nosec B310  # the stand-in we started
            return json.load(resp)

    def webhook(self) -> dict:
        """The (one) bot's webhook delivery counters; empty before a webhook is set."""
        bots = self.stats().get("bots") or []
        return (bots[0].get("webhook") or {}) if bots else {}

    def stop(self) -> int | None:
        return self.child.stop()

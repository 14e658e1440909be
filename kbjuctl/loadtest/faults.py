"""The failure modes a load run can suffer on purpose, each with the checks that judge it.

A fault acts before the run (Bot API settings) or at a moment during it (a timer in the
orchestrator), and afterwards says what happened and which checks hold.
"""

from __future__ import annotations

import csv
import json
import threading
import time
import urllib.error
import urllib.request
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any, ClassVar

from kbjuctl.loadtest.report import Check
from kbjuctl.loadtest.stack import LocalStack

# A few random 429s on top of Telegram's limits (which every run has unless --no-telegram-limits).
FLOOD = {"rate_429": 0.02, "retry_after": 1, "methods": None}
API_ERRORS = {"rate_500": 0.02, "rate_502": 0.01, "rate_drop": 0.01, "delay_ms": 400, "rate_delay": 0.05}


def standin_call(url: str, method: str = "GET", body: dict | None = None, timeout: float = 10) -> Any:
    data = None if body is None else json.dumps(body).encode()
    request = urllib.request.Request(url, data=data, method=method, headers={"Content-Type": "application/json"})
    with urllib.request.urlopen(request, timeout=timeout) as resp:
        raw = resp.read()
    return json.loads(raw) if raw else None


def _csv(path: Path) -> list[dict[str, str]]:
    try:
        with path.open(newline="") as handle:
            return list(csv.DictReader(handle))
    except OSError:
        return []


@dataclass
class Fault:
    name: str
    stack: LocalStack | None
    standin_url: str
    token: str | None
    duration_s: float
    events: list[dict[str, Any]] = field(default_factory=list)
    _timer: threading.Thread | None = None

    def note(self, what: str, **details: Any) -> None:
        self.events.append({"at": round(time.time(), 3), "what": what, **details})

    # Overridden by each fault.
    def before(self) -> None: ...
    def during(self) -> None: ...
    def after(self) -> None: ...

    def observe(self, report_dir: Path) -> None:
        """After Locust has written its reports (default: nothing to read)."""

    def checks(self) -> list[Check]:
        return []

    def start_timer(self, at_fraction: float) -> None:
        def fire() -> None:
            time.sleep(self.duration_s * at_fraction)
            try:
                self.during()
            except Exception as exc:  # noqa: BLE001 - reported in the summary, never fatal to the run
                self.note("fault action failed", error=f"{type(exc).__name__}: {exc}")

        self._timer = threading.Thread(target=fire, name=f"fault-{self.name}", daemon=True)
        self._timer.start()

    def report(self) -> dict[str, Any]:
        return {"name": self.name, "events": self.events}


class BotApiFault(Fault):
    settings: ClassVar[dict[str, Any]] = {}

    def before(self) -> None:
        body = {**self.settings, **({"token": self.token} if self.token else {})}
        standin_call(f"{self.standin_url}/_standin/faults", "POST", body)
        self.note("bot api faults on", settings=self.settings)

    def after(self) -> None:
        stats = standin_call(f"{self.standin_url}/_standin/stats")
        if isinstance(stats, dict):
            self.injected = stats.get("faults", {}).get("injected", stats.get("injected", {}))
        else:
            self.injected = {}
        standin_call(f"{self.standin_url}/_standin/faults", "DELETE")
        self.note("bot api faults off", injected=self.injected)

    def checks(self) -> list[Check]:
        injected = getattr(self, "injected", {}) or {}
        count = sum(int(v) for v in injected.values()) if isinstance(injected, dict) else 0
        return [Check("faults were injected", count > 0, f"{injected}")]


class Flood(BotApiFault):
    settings = FLOOD


class ApiErrors(BotApiFault):
    settings = API_ERRORS


class PostgresRestart(Fault):
    at_fraction = 0.4

    def outage_s(self) -> float:
        return max(3.0, min(15.0, self.duration_s * 0.1))

    def before(self) -> None:
        self.start_timer(self.at_fraction)

    def during(self) -> None:
        assert self.stack is not None and self.stack.postgres is not None
        self.stack.postgres.stop()
        self.note("postgresql stopped")
        time.sleep(self.outage_s())
        self.stack.postgres.start()
        self.note("postgresql started")

    def after(self) -> None:
        assert self.stack is not None
        self.healthz = {}
        for child, port in zip(self.stack.bots, self.stack.bot_ports, strict=True):
            try:
                with urllib.request.urlopen(f"http://127.0.0.1:{port}/healthz", timeout=5) as resp:
                    self.healthz[child.name] = resp.status
            except urllib.error.HTTPError as exc:
                self.healthz[child.name] = exc.code
            except OSError as exc:
                self.healthz[child.name] = f"{type(exc).__name__}"
        self.note("replicas' /healthz after the run", healthz=self.healthz)

    def observe(self, report_dir: Path) -> None:
        """From Locust's reports: were people asked to try again, and did their steps succeed after?"""
        self.retry_asked = sum(int(row["Occurrences"]) for row in _csv(report_dir / "locust_failures.csv")
                               if row["Error"].startswith("RetryAsked"))
        started = next((e["at"] for e in self.events if e["what"] == "postgresql started"), None)
        self.succeeded_after = None
        if started is not None:
            rows = [(float(r["Timestamp"]), int(float(r["Total Request Count"])) - int(float(r["Total Failure Count"])))
                    for r in _csv(report_dir / "locust_stats_history.csv") if r.get("Name") == "Aggregated"]
            before = max((ok for t, ok in rows if t <= started), default=0)
            self.succeeded_after = max((ok for _t, ok in rows), default=0) - before
        self.note("after the outage", retry_asked=self.retry_asked, succeeded_after_restart=self.succeeded_after)

    def checks(self) -> list[Check]:
        assert self.stack is not None
        restarted = [e["what"] for e in self.events][:2] == ["postgresql stopped", "postgresql started"]
        alive = [c.name for c in self.stack.bots if c.alive()]
        healthz = getattr(self, "healthz", {})
        succeeded = getattr(self, "succeeded_after", None)
        return [Check("postgresql was restarted mid-run", restarted, str(self.events[:2])),
                Check("people were asked to try again during the outage", getattr(self, "retry_asked", 0) > 0,
                      f"{getattr(self, 'retry_asked', 0)} 'try again' replies"),
                Check("every replica survived the outage", len(alive) == len(self.stack.bots), f"alive: {alive}"),
                Check("the bot recovered by itself", bool(succeeded) and all(v == 200 for v in healthz.values()),
                      f"{succeeded} steps succeeded after the restart; /healthz: {healthz}")]


class ReplicaKill(Fault):
    at_fraction = 0.5

    def before(self) -> None:
        self.start_timer(self.at_fraction)

    def during(self) -> None:
        assert self.stack is not None
        victim = self.stack.bots[0]
        self.stack.kill_bot(0)
        self.note("replica SIGKILLed", replica=victim.name, pid=victim.pid)
        self.front_at_kill = standin_call(f"{self.stack.front_url}/_front/stats")

    def after(self) -> None:
        assert self.stack is not None
        self.front_at_end = standin_call(f"{self.stack.front_url}/_front/stats")
        self.note("front", at_kill=getattr(self, "front_at_kill", None), at_end=self.front_at_end)

    def checks(self) -> list[Check]:
        assert self.stack is not None
        killed = any(e["what"] == "replica SIGKILLed" for e in self.events)
        before = getattr(self, "front_at_kill", None) or {"forwarded": [0] * len(self.stack.bots)}
        after = getattr(self, "front_at_end", None) or before
        carried = sum(after["forwarded"][1:]) - sum(before["forwarded"][1:])
        others_alive = all(c.alive() for c in self.stack.bots[1:])
        return [Check("a replica was killed mid-run", killed, str(self.events[:1])),
                Check("the other replicas carried on", others_alive and carried > 0,
                      f"{carried} updates handled by the others after the kill; alive: {others_alive}")]


KINDS: dict[str, type[Fault]] = {"flood": Flood, "api-errors": ApiErrors, "pg-restart": PostgresRestart,
                                 "replica-kill": ReplicaKill}


def make(name: str, **kwargs: Any) -> Fault:
    return KINDS[name](name=name, **kwargs)

"""A drill's steady load: the load tests' simulated people (Locust, loadtests/drillfile.py) talking to
the bot through the Bot API stand-in for as long as the drill runs, every step written down, so
each phase of the drill can be judged by the steps that started in it."""

from __future__ import annotations

import csv
import json
import math
import signal
from dataclasses import dataclass
from pathlib import Path

from kbjuctl.errors import OperationFailed
from kbjuctl.loadtest import procs
from kbjuctl.loadtest.locustrun import locust_command

DRILLFILE = Path(__file__).resolve().parents[2] / "loadtests" / "drillfile.py"
STEPS_FILE = "steps.csv"


@dataclass(frozen=True)
class Step:
    started: float   # unix time
    name: str
    ms: float
    outcome: str     # ok, BotError, RetryAsked, NoReply, StepFailed


@dataclass
class Window:
    """The steps that started between two instants."""

    name: str
    start: float
    end: float
    steps: int = 0
    failed: dict[str, int] | None = None
    p50_ms: float = 0.0
    p99_ms: float = 0.0
    max_ms: float = 0.0

    @property
    def seconds(self) -> float:
        return max(0.0, self.end - self.start)


def percentile(values: list[float], q: float) -> float:
    """Nearest-rank percentile (q in 0..100) of unsorted values; 0 for none."""
    if not values:
        return 0.0
    ordered = sorted(values)
    return ordered[max(0, math.ceil(q / 100 * len(ordered)) - 1)]


def window(steps: list[Step], name: str, start: float, end: float) -> Window:
    inside = [s for s in steps if start <= s.started < end]
    ok = [s.ms for s in inside if s.outcome == "ok"]
    failed: dict[str, int] = {}
    for s in inside:
        if s.outcome != "ok":
            failed[s.outcome] = failed.get(s.outcome, 0) + 1
    return Window(name, start, end, len(inside), failed, percentile(ok, 50), percentile(ok, 99), max(ok, default=0.0))


def slowest(steps: list[Step], count: int) -> list[dict]:
    """The steps with the highest p99 over the whole run (what the tail is made of)."""
    by_name: dict[str, list[float]] = {}
    for s in steps:
        if s.outcome == "ok":
            by_name.setdefault(s.name, []).append(s.ms)
    ranked = sorted(by_name.items(), key=lambda item: percentile(item[1], 99), reverse=True)[:count]
    return [{"step": name, "steps": len(values), "p50_ms": percentile(values, 50), "p99_ms": percentile(values, 99)}
            for name, values in ranked]


class Load:
    """Locust headless in a subprocess until stopped."""

    def __init__(self, report_dir: Path, log_dir: Path, standin_url: str, env: dict[str, str], people: int,
                 spawn_rate: float) -> None:
        self.report_dir = report_dir
        self.log_dir = log_dir
        self.standin_url = standin_url
        self.env = {**env, "LOADTEST_STEPS_FILE": str(report_dir / STEPS_FILE), "LOADTEST_WORKERS": "1",
                    "LOADTEST_DOUBLE_PRESS": "0"}  # see loadtests/drillfile.py
        self.people = people
        self.spawn_rate = spawn_rate
        self.child: procs.Child | None = None

    def start(self) -> Load:
        if not DRILLFILE.is_file():
            raise OperationFailed(f"The drill's Locust scenario is missing: {DRILLFILE}")
        argv = [*locust_command(), "-f", str(DRILLFILE), "-H", self.standin_url, "-u", str(self.people),
                "-r", str(self.spawn_rate), "--headless", "-t", "24h", "--stop-timeout", "0", "--only-summary",
                "--loglevel", "INFO", "--csv", str(self.report_dir / "locust")]
        self.child = procs.start("locust", argv, self.log_dir, env=self.env)
        return self

    def stop(self) -> None:
        """SIGUSR1: the people stop as at a time limit (loadtests/drillfile.py); SIGTERM if that hangs."""
        if self.child is None or not self.child.alive():
            return
        self.child.process.send_signal(signal.SIGUSR1)
        try:
            self.child.process.wait(60)
        except Exception:  # noqa: BLE001 - subprocess.TimeoutExpired
            self.child.stop(timeout_s=15)

    def alive(self) -> bool:
        return self.child is not None and self.child.alive()

    def steps(self) -> list[Step]:
        path = self.report_dir / STEPS_FILE
        if not path.is_file():
            return []
        with path.open(encoding="utf-8", newline="") as handle:
            return [Step(float(row[0]), row[1], float(row[2]), row[3]) for row in csv.reader(handle) if len(row) == 4]

    def stray(self) -> tuple[int, list[str]]:
        path = self.report_dir / f"{STEPS_FILE}.end.json"
        if not path.is_file():
            return -1, ["the load did not end normally: no count of stray messages"]
        data = json.loads(path.read_text(encoding="utf-8"))
        return int(data["stray"]), list(data.get("stray_examples") or [])

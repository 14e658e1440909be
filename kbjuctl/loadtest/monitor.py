"""Samples the bot replicas' memory and CPU (with their children) once a second during a run, and
accounts for the whole machine's CPU between the start and the end of a run (CpuAccount)."""

from __future__ import annotations

import contextlib
import os
import threading
import time
from dataclasses import dataclass, field

import psutil


@dataclass
class Usage:
    peak_rss_mib: float = 0.0
    peak_cpu_percent: float = 0.0     # of one core, over one sample interval
    cpu_seconds: float = 0.0
    samples: int = 0


@dataclass
class ResourceMonitor:
    pids: dict[str, int]
    interval_s: float = 1.0
    usage: dict[str, Usage] = field(default_factory=dict)
    peak_total_rss_mib: float = 0.0

    def __post_init__(self) -> None:
        self._stop = threading.Event()
        self._thread = threading.Thread(target=self._loop, name="resource-monitor", daemon=True)
        self._procs: dict[str, psutil.Process] = {}
        self._last_cpu: dict[str, tuple[float, float]] = {}
        for name, pid in self.pids.items():
            self.usage[name] = Usage()
            with contextlib.suppress(psutil.Error):
                self._procs[name] = psutil.Process(pid)

    def start(self) -> ResourceMonitor:
        self._thread.start()
        return self

    def stop(self) -> None:
        self._stop.set()
        self._thread.join(timeout=5)

    def _tree(self, proc: psutil.Process) -> list[psutil.Process]:
        try:
            return [proc, *proc.children(recursive=True)]
        except psutil.Error:
            return []

    def _sample(self) -> None:
        now = time.monotonic()
        total = 0.0
        for name, proc in self._procs.items():
            rss = cpu = 0.0
            for member in self._tree(proc):
                try:
                    rss += member.memory_info().rss
                    times = member.cpu_times()
                    cpu += times.user + times.system
                except psutil.Error:
                    continue
            if rss == 0:
                continue  # gone (killed by a fault, or stopped)
            usage = self.usage[name]
            usage.samples += 1
            usage.peak_rss_mib = max(usage.peak_rss_mib, rss / 2**20)
            previous = self._last_cpu.get(name)
            if previous is not None and now > previous[0]:
                usage.peak_cpu_percent = max(usage.peak_cpu_percent, 100 * (cpu - previous[1]) / (now - previous[0]))
            usage.cpu_seconds = max(usage.cpu_seconds, cpu)
            self._last_cpu[name] = (now, cpu)
            total += rss / 2**20
        self.peak_total_rss_mib = max(self.peak_total_rss_mib, total)

    def _loop(self) -> None:
        while not self._stop.wait(self.interval_s):
            self._sample()

    def as_dict(self, wall_s: float) -> dict:
        return {
            "peak_rss_mib": round(max((u.peak_rss_mib for u in self.usage.values()), default=0.0), 1),
            "peak_total_rss_mib": round(self.peak_total_rss_mib, 1),
            "peak_cpu_percent": round(max((u.peak_cpu_percent for u in self.usage.values()), default=0.0), 1),
            "mean_cpu_percent": round(100 * sum(u.cpu_seconds for u in self.usage.values()) / wall_s, 1)
            if wall_s > 0 else 0.0,
            "per_replica": {n: {"peak_rss_mib": round(u.peak_rss_mib, 1),
                                "peak_cpu_percent": round(u.peak_cpu_percent, 1),
                                "cpu_seconds": round(u.cpu_seconds, 1)} for n, u in self.usage.items()},
        }


def _tree(pid: int, cpu: dict[int, float]) -> set[int]:
    """A process and its descendants; records each one's CPU seconds so far into `cpu`."""
    try:
        root = psutil.Process(pid)
        members = [root, *root.children(recursive=True)]
    except psutil.Error:
        return set()
    pids = set()
    for member in members:
        with contextlib.suppress(psutil.Error):
            times = member.cpu_times()
            cpu[member.pid] = times.user + times.system
            pids.add(member.pid)
    return pids


@dataclass
class CpuAccount:
    """Who used the machine's CPU during a run: the bot, the stand-in, the front, Locust (with this
    kbjuctl process), PostgreSQL and every other program, from snapshots at the start and the end.
    On a shared machine the figures of a run are only as good as what else ran: this says what did."""

    groups: dict[str, list[int]]   # name -> root pids (each with its descendants)
    start: dict[str, float] = field(default_factory=dict)
    machine_start: float = 0.0
    wall_start: float = 0.0
    load_start: tuple[float, float, float] = (0.0, 0.0, 0.0)

    def _snapshot(self) -> tuple[dict[str, float], float]:
        cpu: dict[int, float] = {}
        own = _tree(os.getpid(), cpu)
        used: dict[str, float] = {}
        claimed: set[int] = set()
        for name, pids in self.groups.items():
            members = set().union(*(_tree(pid, cpu) for pid in pids)) if pids else set()
            used[name] = sum(cpu[m] for m in members)
            claimed |= members
        used["locust"] = sum(cpu[p] for p in own - claimed)  # Locust, its workers and this kbjuctl process
        postgres = 0.0
        for proc in psutil.process_iter(["name", "cpu_times"]):
            if proc.info["name"] in ("postgres", "postmaster") and proc.info["cpu_times"] is not None:
                postgres += proc.info["cpu_times"].user + proc.info["cpu_times"].system
        used["postgresql"] = postgres
        times = psutil.cpu_times()
        busy = times.user + times.system + getattr(times, "nice", 0) + getattr(times, "irq", 0) \
            + getattr(times, "softirq", 0) + getattr(times, "steal", 0)
        return used, busy

    def begin(self) -> CpuAccount:
        self.start, self.machine_start = self._snapshot()
        self.wall_start = time.monotonic()
        self.load_start = os.getloadavg()
        return self

    def end(self, updates: int | None) -> dict:
        used, busy = self._snapshot()
        wall = max(time.monotonic() - self.wall_start, 1e-9)
        cores = {name: round(max(0.0, used[name] - self.start.get(name, 0.0)) / wall, 2) for name in used}
        machine = round((busy - self.machine_start) / wall, 2)
        cores["other programs"] = round(max(0.0, machine - sum(cores.values())), 2)
        bot_cpu = max(0.0, used.get("bot", 0.0) - self.start.get("bot", 0.0))
        return {
            "cores": os.cpu_count(),
            "load_average_start": [round(x, 2) for x in self.load_start],
            "load_average_end": [round(x, 2) for x in os.getloadavg()],
            "busy_cores": machine,
            "busy_cores_by_program": cores,
            "updates": updates,
            "bot_cpu_seconds": round(bot_cpu, 2),
            "bot_cpu_ms_per_update": round(1000 * bot_cpu / updates, 3) if updates else None,
            "wall_s": round(wall, 1),
        }

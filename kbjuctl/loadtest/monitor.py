"""Samples the bot replicas' memory and CPU (with their children) once a second during a run."""

from __future__ import annotations

import contextlib
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

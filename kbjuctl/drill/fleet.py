"""The bot's webhook replicas behind HAProxy, each in a slot (a fixed port and HAProxy server name),
replaced one at a time: drain at the balancer, SIGTERM, the bot's own drain, exit; the successor
started on the same port, ready on its /healthz, readied at the balancer, UP by its health check."""

from __future__ import annotations

import signal
import time
from dataclasses import dataclass, field
from pathlib import Path

from kbjuctl.drill.haproxy import HAProxy, Server
from kbjuctl.drill.releases import Release
from kbjuctl.errors import OperationFailed
from kbjuctl.loadtest import procs


@dataclass
class Replacement:
    """One replica replaced: what the balancer and the processes did, with timings."""

    slot: str
    before: str
    after: str
    routed_while_draining: int      # requests the balancer sent to it after the drain began
    in_flight_at_drain: int
    exit_code: int | None
    stop_s: float                   # SIGTERM to exit (the bot's drain delay, then its in-flight updates)
    start_s: float                  # start to /healthz 200
    up_s: float                     # readied at the balancer to UP by its health check
    started_at: float = 0.0         # wall clock
    finished_at: float = 0.0


@dataclass
class Slot:
    name: str
    port: int
    child: procs.Child | None = None
    release: Release | None = None
    generation: int = 0


@dataclass
class Fleet:
    log_dir: Path
    environment: dict[str, str]              # what every replica gets (token, database, stand-in, secret)
    haproxy: HAProxy
    slots: list[Slot] = field(default_factory=list)
    logs: list[Path] = field(default_factory=list)
    exit_codes: dict[str, int | None] = field(default_factory=dict)

    @classmethod
    def plan(cls, log_dir: Path, environment: dict[str, str], haproxy_dir: Path, replicas: int,
             check_ms: int) -> Fleet:
        slots = [Slot(f"bot{i + 1}", procs.free_port()) for i in range(replicas)]
        balancer = HAProxy(haproxy_dir, procs.free_port(), [Server(s.name, s.port) for s in slots], check_ms)
        return cls(log_dir, environment, balancer, slots)

    def start(self, release: Release) -> None:
        self.haproxy.start(self.log_dir)
        for slot in self.slots:  # all at once, then each waited for
            self._launch(slot, release)
        for slot in self.slots:
            self._ready(slot)
            self.haproxy.wait_status(slot.name, "UP")

    def _start(self, slot: Slot, release: Release) -> float:
        started = time.monotonic()
        self._launch(slot, release)
        self._ready(slot)
        return time.monotonic() - started

    def _launch(self, slot: Slot, release: Release) -> None:
        slot.generation += 1
        name = f"{slot.name}-{release.label}-{slot.generation}"
        env = {**self.environment, **release.environment(), "WEBHOOK_PORT": str(slot.port),
               "METRICS_PORT": str(procs.free_port())}
        # cwd: the log folder, so no stray .env is read and the tree comes from PYTHONPATH alone.
        slot.child = procs.start(name, release.command("run", "--webhook"), self.log_dir, env=env, cwd=self.log_dir)
        slot.release = release
        self.logs.append(slot.child.log_path)

    def _ready(self, slot: Slot) -> None:
        procs.wait_http(f"http://127.0.0.1:{slot.port}/healthz", slot.child, timeout_s=90)

    def replace(self, slot: Slot, release: Release, stop_timeout_s: float) -> Replacement:
        """Drain the slot at the balancer, stop its replica gracefully, start `release` in its place."""
        assert slot.child is not None and slot.release is not None
        wall = time.time()
        before = slot.release
        self.haproxy.set_state(slot.name, "drain")
        sent_before, in_flight = self.haproxy.sessions(slot.name)  # read after: requests of just before count
        stopping = time.monotonic()
        slot.child.process.send_signal(signal.SIGTERM)
        code = self._wait_exit(slot, stop_timeout_s)
        stop_s = time.monotonic() - stopping
        sent_after, _ = self.haproxy.sessions(slot.name)
        start_s = self._start(slot, release)
        self.haproxy.set_state(slot.name, "ready")
        up_s = self.haproxy.wait_status(slot.name, "UP")
        # stot counts a request when the balancer picks the server for it: no new one after the drain.
        return Replacement(slot.name, before.name, release.name, sent_after - sent_before, in_flight, code,
                           stop_s, start_s, up_s, wall, time.time())

    def _wait_exit(self, slot: Slot, timeout_s: float) -> int | None:
        child = slot.child
        assert child is not None
        try:
            child.process.wait(timeout_s)
        except Exception:  # noqa: BLE001 - subprocess.TimeoutExpired: a drain that never ends
            child.kill()
            self.exit_codes[child.name] = child.process.returncode
            raise OperationFailed(f"{child.name} did not stop within {timeout_s:.0f} s of SIGTERM; killed.\n"
                                  f"{child.log_tail()}") from None
        self.exit_codes[child.name] = child.process.returncode
        return child.process.returncode

    def stop(self) -> None:
        for slot in self.slots:
            if slot.child is not None and slot.child.alive():
                slot.child.process.send_signal(signal.SIGTERM)
        for slot in self.slots:
            if slot.child is not None:
                self.exit_codes[slot.child.name] = slot.child.stop(timeout_s=60)
        self.haproxy.stop()

"""The bot's webhook replicas behind HAProxy, each in a slot (a port and an HAProxy server name),
replaced one at a time in one of two ways:

- surge (what a Kubernetes Deployment with maxUnavailable 0 does): the successor starts in the
  spare slot, answers its /healthz, is readied at the balancer and UP by its health check; only
  then is the replica drained at the balancer, SIGTERMed (the bot's own drain) and gone. The
  fleet never serves with fewer replicas than it has.
- in place: drained, SIGTERM, exit; the successor started on the same port, ready, readied, UP.
  The fleet serves with one replica fewer meanwhile.
"""

from __future__ import annotations

import signal
import subprocess
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


STRATEGIES = ("surge", "in-place")


@dataclass
class Fleet:
    log_dir: Path
    environment: dict[str, str]              # what every replica gets (token, database, stand-in, secret)
    haproxy: HAProxy
    slots: list[Slot] = field(default_factory=list)   # the serving ones
    spare: Slot | None = None                          # surge: where the next successor starts
    logs: list[Path] = field(default_factory=list)
    exit_codes: dict[str, int | None] = field(default_factory=dict)

    @classmethod
    def plan(cls, log_dir: Path, environment: dict[str, str], haproxy_dir: Path, replicas: int,
             check_ms: int, strategy: str = "surge") -> Fleet:
        slots = [Slot(f"bot{i + 1}", procs.free_port()) for i in range(replicas)]
        spare = Slot(f"bot{replicas + 1}", procs.free_port()) if strategy == "surge" else None
        servers = [Server(s.name, s.port) for s in slots] + ([Server(spare.name, spare.port, spare=True)]
                                                             if spare else [])
        return cls(log_dir, environment, HAProxy(haproxy_dir, procs.free_port(), servers, check_ms), slots, spare)

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

    def replace(self, index: int, release: Release, stop_timeout_s: float) -> Replacement:
        """Replace the index-th serving replica by one of `release` (surge when there is a spare slot)."""
        slot = self.slots[index]
        assert slot.child is not None and slot.release is not None
        wall, before = time.time(), slot.release
        successor = self.spare or slot
        if self.spare is not None:
            start_s, up_s = self._bring_up(successor, release)
            stop = self._take_down(slot, stop_timeout_s)
            self.haproxy.set_state(slot.name, "maint")  # the spare slot from now on
            self.slots[index], self.spare = successor, slot
        else:
            stop = self._take_down(slot, stop_timeout_s)
            start_s, up_s = self._bring_up(successor, release)
        routed, in_flight, code, stop_s = stop
        return Replacement(f"{slot.name}->{successor.name}", before.name, release.name, routed, in_flight, code,
                           stop_s, start_s, up_s, wall, time.time())

    def _bring_up(self, slot: Slot, release: Release) -> tuple[float, float]:
        """Start a replica in the slot, ready it at the balancer, until UP: (start s, UP s)."""
        start_s = self._start(slot, release)
        self.haproxy.set_state(slot.name, "ready")
        return start_s, self.haproxy.wait_status(slot.name, "UP")

    def _take_down(self, slot: Slot, stop_timeout_s: float) -> tuple[int, int, int | None, float]:
        """Drain the slot at the balancer and stop its replica gracefully: (requests routed to it
        after the drain began, requests in flight then, exit code, seconds to stop)."""
        self.haproxy.set_state(slot.name, "drain")
        sent_before, in_flight = self.haproxy.sessions(slot.name)  # read after: requests of just before count
        stopping = time.monotonic()
        slot.child.process.send_signal(signal.SIGTERM)
        code = self._wait_exit(slot, stop_timeout_s)
        stop_s = time.monotonic() - stopping
        sent_after, _ = self.haproxy.sessions(slot.name)
        # stot counts a request when the balancer picks the server for it: no new one after the drain.
        return sent_after - sent_before, in_flight, code, stop_s

    def _wait_exit(self, slot: Slot, timeout_s: float) -> int | None:
        child = slot.child
        assert child is not None
        try:
            child.process.wait(timeout_s)
        except subprocess.TimeoutExpired:  # a drain that never ends
            child.kill()
            self.exit_codes[child.name] = child.process.returncode
            raise OperationFailed(f"{child.name} did not stop within {timeout_s:.0f} s of SIGTERM; killed.\n"
                                  f"{child.log_tail()}") from None
        self.exit_codes[child.name] = child.process.returncode
        return child.process.returncode

    def stop(self) -> None:
        """SIGTERM to every replica at once, then each waited for: one signal each (a second one, once
        a bot's event loop is gone, would kill it with the default handler and look like a crash)."""
        running = [slot.child for slot in self.slots if slot.child is not None and slot.child.alive()]
        for child in running:
            child.process.send_signal(signal.SIGTERM)
        for child in running:
            try:
                child.process.wait(60)
            except subprocess.TimeoutExpired:
                child.kill()
            self.exit_codes[child.name] = child.process.returncode
        self.haproxy.stop()

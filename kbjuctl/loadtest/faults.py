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

from kbjuctl.loadtest import witness
from kbjuctl.loadtest.report import Check
from kbjuctl.loadtest.stack import LocalStack

# A few random 429s on top of Telegram's limits (which every run has unless --no-telegram-limits).
FLOOD = {"rate_429": 0.02, "retry_after": 1, "methods": None}
API_ERRORS = {"rate_500": 0.02, "rate_502": 0.01, "rate_drop": 0.01, "delay_ms": 400, "rate_delay": 0.05}


def standin_call(url: str, method: str = "GET", body: dict | None = None, timeout: float = 10) -> Any:
    data = None if body is None else json.dumps(body).encode()
    request = urllib.request.Request(url, data=data, method=method, headers={"Content-Type": "application/json"})
    with urllib.request.urlopen(request, timeout=timeout) as resp:  # nosec B310  # the stand-in's http URL, made by the stack
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
                with urllib.request.urlopen(f"http://127.0.0.1:{port}/healthz", timeout=5) as resp:  # nosec B310  # http://127.0.0.1 of a replica we started
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


class ClusterFault(Fault):
    """A fault on the stack's Patroni cluster: a ledger writes beside the people all along, a probe person
    measures the time from the fault to the bot's first real answer."""

    at_fraction = 0.4
    action = ""

    def before(self) -> None:
        assert self.stack is not None and self.stack.cluster is not None, "this fault needs the stack's cluster"
        self.ledger = witness.Ledger(self.stack.database_url).start()
        self.note("ledger writing", table=witness.LEDGER_TABLE)
        self.start_timer(self.at_fraction)

    def after(self) -> None:
        self.ledger.stop()
        if self._timer is not None:
            self._timer.join(180)  # the rejoin may still be under way when Locust ends
        self.lost = self.ledger.lost()
        self.note("ledger", acknowledged=len(self.ledger.acknowledged), lost=len(self.lost),
                  failed_attempts=self.ledger.failed_attempts)

    def figure(self, what: str) -> Any:
        return next((e.get(what) for e in self.events if what in e), None)

    def ledger_check(self) -> Check:
        lost = getattr(self, "lost", None)
        acknowledged = len(self.ledger.acknowledged)
        return Check("0 acknowledged writes lost", lost == [] and acknowledged > 0,
                     f"{len(lost or [])} of {acknowledged} acknowledged ledger writes missing"
                     + (f" (ids {lost[:10]})" if lost else ""))

    def reply_check(self) -> Check:
        probe = self.figure("probe") or {}
        seconds = probe.get("seconds")
        detail = (f"{seconds} s from the {self.action} to the bot's first real answer (target <= 15 s); "
                  f"{probe.get('try_again_replies', 0)} 'try again' answers before it, "
                  f"{probe.get('apologies', 0)} apologies") if seconds is not None else "the bot never answered"
        return Check(f"the bot answers again after the {self.action}", seconds is not None
                     and not probe.get("apologies"), detail)

    def rejoined(self, old_leader: str, started: float) -> None:
        """Wait until the old leader streams from the new one (Patroni rejoins it, with pg_rewind after a crash)."""
        cluster = self.stack.cluster
        from kbjuctl.drill import cluster as drill_cluster

        rows = drill_cluster.wait_replicas(cluster, timeout_s=120)
        streaming = {r["name"]: r for r in rows}
        self.note("rejoined", node=old_leader, state=streaming.get(old_leader, {}).get("state"),
                  sync_state=streaming.get(old_leader, {}).get("sync_state"),
                  seconds=round(time.time() - started, 2))


class PrimaryFailover(ClusterFault):
    """The primary's machine dies: Patroni and PostgreSQL frozen (SIGSTOP) then SIGKILLed. Patroni promotes
    the synchronous standby; the old node's Patroni is started again as its supervisor would, and
    rejoins as a replica (pg_rewind) by itself."""

    action = "kill"

    def during(self) -> None:
        from kbjuctl.drill import cluster as drill_cluster
        from kbjuctl.drill import processes

        cluster = self.stack.cluster
        old = cluster.leader()
        assert old is not None, "no leader to kill"
        postmaster = old.postmaster_pid(cluster.folder)
        victims = [old.pid, *processes.tree(postmaster)] if postmaster else [old.pid]
        killed_at = time.time()
        processes.crash(victims)
        self.note("primary SIGKILLed (after SIGSTOP)", node=old.name, pids=len(victims))
        self.killed_at = killed_at
        probe = threading.Thread(target=lambda: self.note("probe", probe=witness.probe_until_answered(
            self.standin_url, self.token, killed_at)), daemon=True)
        probe.start()
        new = drill_cluster.wait_leader(cluster, timeout_s=120, exclude=old.name)
        self.note("standby promoted", node=new.name, promoted_s=round(time.time() - killed_at, 2))
        probe.join(120)
        restarted = time.time()
        drill_cluster.start_node(cluster, old)
        self.note("old primary's Patroni started again", node=old.name)
        self.rejoined(old.name, restarted)
        self.old = old

    def checks(self) -> list[Check]:
        promoted = next((e for e in self.events if e["what"] == "standby promoted"), None)
        rejoined = next((e for e in self.events if e["what"] == "rejoined"), None)
        old = getattr(self, "old", None)
        rewound = old is not None and "pg_rewind exit code=0" in _read(old.log(self.stack.cluster.folder))
        return [
            Check("the primary was killed and the standby promoted", promoted is not None,
                  f"{promoted['node']} promoted {promoted['promoted_s']} s after the kill" if promoted
                  else str(self.events[-1:])),
            self.reply_check(),
            self.ledger_check(),
            Check("the old primary rejoined as a replica (pg_rewind), without manual steps",
                  rejoined is not None and rejoined.get("state") == "streaming",
                  (f"{rejoined['node']} streaming ({rejoined.get('sync_state')}) {rejoined['seconds']} s after its "
                   f"Patroni started; pg_rewind {'ran' if rewound else 'not needed'}") if rejoined else "not rejoined"),
        ]


class PrimarySwitchover(ClusterFault):
    """A switchover for maintenance: `patronictl switchover` hands the primary to the synchronous standby."""

    action = "switchover"

    def during(self) -> None:
        from kbjuctl.drill import cluster as drill_cluster

        cluster = self.stack.cluster
        old = cluster.leader()
        candidate = next(n for n in cluster.nodes if n.name != old.name)
        started = time.time()
        done = drill_cluster.patronictl(cluster, "switchover", "--leader", old.name, "--candidate",
                                        candidate.name, "--force")
        self.note("patronictl switchover", node=old.name, candidate=candidate.name, exit=done.returncode,
                  output=(done.stdout + done.stderr).strip()[-300:])
        self.switched_at = started
        self.note("probe", probe=witness.probe_until_answered(self.standin_url, self.token, started))
        new = drill_cluster.wait_leader(cluster, timeout_s=60, exclude=old.name)
        self.note("new leader", node=new.name, seconds=round(time.time() - started, 2))
        self.rejoined(old.name, started)

    def checks(self) -> list[Check]:
        switched = next((e for e in self.events if e["what"] == "patronictl switchover"), {})
        new = next((e for e in self.events if e["what"] == "new leader"), None)
        rejoined = next((e for e in self.events if e["what"] == "rejoined"), None)
        gap = self.ledger.longest_gap(getattr(self, "switched_at", time.time()))
        return [
            Check("patronictl switchover handed the primary over", switched.get("exit") == 0 and new is not None
                  and new["node"] == switched.get("candidate"),
                  f"{switched.get('node')} -> {new['node']}, leader after {new['seconds']} s" if new
                  else str(switched.get("output", ""))[-300:]),
            Check("writes were interrupted only briefly (figure)", True,
                  f"longest gap between acknowledged ledger writes: {gap:.2f} s", gating=False),
            self.reply_check(),
            self.ledger_check(),
            Check("the old primary follows the new one", rejoined is not None and rejoined.get("state") == "streaming",
                  f"{rejoined['node']} {rejoined.get('state')} ({rejoined.get('sync_state')}) {rejoined['seconds']} s "
                  "after the switchover began" if rejoined else "not following"),
        ]


class LeaderKill(Fault):
    """Polling replicas on one token: the one holding the polling lease is SIGKILLed; a standby takes over."""

    at_fraction = 0.4

    def before(self) -> None:
        assert self.stack is not None and self.stack.polling, "leader-kill runs the replicas in polling mode"
        self.start_timer(self.at_fraction)

    def during(self) -> None:
        stack = self.stack
        leader = stack.polling_leaders()
        self.note("lease holders before the kill", replicas=leader)
        victim = leader[0]
        killed_at = time.time()
        stack.kill_bot(victim)
        self.note("polling leader SIGKILLed", replica=stack.bots[victim].name)
        probe = threading.Thread(target=lambda: self.note("probe", probe=witness.probe_until_answered(
            self.standin_url, self.token, killed_at)), daemon=True)
        probe.start()
        deadline = time.time() + 60
        while time.time() < deadline:
            holders = [i for i in stack.polling_leaders() if i != victim]
            if holders:
                self.note("standby took over", replica=stack.bots[holders[0]].name,
                          seconds=round(time.time() - killed_at, 2))
                break
            time.sleep(0.1)
        probe.join(60)

    def after(self) -> None:
        stats = standin_call(f"{self.standin_url}/_standin/stats")
        self.concurrent = sum(int((b.get("updates") or {}).get("concurrent_polls", 0)) for b in stats.get("bots", []))
        self.note("stand-in", concurrent_polls=self.concurrent)

    def checks(self) -> list[Check]:
        took = next((e for e in self.events if e["what"] == "standby took over"), None)
        probe = next((e["probe"] for e in self.events if "probe" in e), {})
        alive = [c.name for c in self.stack.bots if c.alive()]
        return [
            Check("a standby took the polling lease (target <= 10 s)", took is not None,
                  f"{took['replica']} after {took['seconds']} s; first real answer {probe.get('seconds')} s after "
                  "the kill" if took else "no standby took over"),
            Check("never two concurrent getUpdates", getattr(self, "concurrent", 1) == 0,
                  f"{getattr(self, 'concurrent', '?')} waiting getUpdates ended by another live poller"),
            Check("the other replicas carried on", len(alive) == len(self.stack.bots) - 1, f"alive: {alive}"),
        ]


def _read(path: Path) -> str:
    try:
        return path.read_text(errors="replace")
    except OSError:
        return ""


KINDS.update({"primary-failover": PrimaryFailover, "primary-switchover": PrimarySwitchover,
              "leader-kill": LeaderKill})

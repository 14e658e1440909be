"""The zero-downtime upgrade and rollback drill (`kbjuctl drill rolling-upgrade`).

HAProxy in front of K webhook replicas of the old release, the Bot API stand-in pushing every
update through it, simulated people (the load tests') in the middle of surveys and menus all the
time. While they talk:

  (a) the next release's migrations are applied (the new release's `kbjuctl db upgrade`) while the
      old release serves - so the old release runs on the new schema from here on;
  (b) replicas are replaced one at a time by the new release: drained at the balancer, SIGTERM
      (the bot's own drain), exit, the successor started on the same port, ready, UP;
  (c) the same in reverse: the code rolled back replica by replica, then the new release's
      `kbjuctl db downgrade` of its migrations.

Verdict: no update lost, none answered twice, no error reply, every person's state as they
entered it (the load tests' consistency check), p99 while rolling within 2x the steady p99, and
the mechanics (nothing routed to a draining replica, graceful exits, no traceback, the schema back
where it started).
"""

from __future__ import annotations

import os
import secrets
import subprocess
import time
from collections.abc import Callable
from dataclasses import asdict, dataclass, field
from pathlib import Path

from kbjuctl import gittree
from kbjuctl.drill import releases
from kbjuctl.drill.fleet import STRATEGIES, Fleet, Replacement
from kbjuctl.drill.load import Load, slowest, window
from kbjuctl.drill.releases import Release
from kbjuctl.drill.report import DrillReport
from kbjuctl.drill.services import Database, Standin
from kbjuctl.errors import BadInput, OperationFailed
from kbjuctl.loadtest.service import count_tracebacks, locust_environment, new_id_base
from kbjuctl.loadtest.stack import WEBHOOK_PATH, bot_token, wait_idle
from loadtests import consistency, seed
from loadtests.journal import journal_files

P99_FACTOR = 2.0
TARGET_RATE = 100.0  # updates/s the full-size drill is meant to run at
Progress = Callable[[str], None]


@dataclass
class UpgradePlan:
    report_dir: Path
    old: str | None = None          # a folder or a git revision; None: the newest vX.Y.Z tag
    new: str | None = None          # a folder or a git revision; None: this tree
    replicas: int = 2
    people: int = 150
    spawn_rate: float = 50.0
    think_s: tuple[float, float] = (0.5, 1.5)
    warmup_s: float = 10.0
    steady_s: float = 30.0
    hold_s: float = 10.0
    drain_s: float = 2.0            # WEBHOOK_DRAIN_SECONDS of every replica
    check_ms: int = 250             # HAProxy's health-check interval
    demo_migration: bool = True
    strategy: str = "surge"         # fleet.STRATEGIES
    seed: int = 1

    def validate(self) -> UpgradePlan:
        if self.strategy not in STRATEGIES:
            raise BadInput(f"--strategy: one of {', '.join(STRATEGIES)}, not {self.strategy!r}.")
        if self.replicas < 2:
            raise BadInput("--replicas: at least 2 (with one, replacing it leaves nobody to serve).")
        if self.people < 1:
            raise BadInput("--people: at least 1.")
        low, high = self.think_s
        if not 0 <= low <= high:
            raise BadInput("--think: MIN,MAX with 0 <= MIN <= MAX.")
        for name in ("warmup_s", "steady_s", "hold_s", "drain_s"):
            if getattr(self, name) < 0:
                raise BadInput(f"--{name.removesuffix('_s').replace('_', '-')}: not negative.")
        if self.steady_s <= 0:
            raise BadInput("--steady: more than 0 s (it is what the roll's latency is compared with).")
        return self


@dataclass
class Timeline:
    """Wall-clock instants of the drill's phases."""

    marks: dict[str, float] = field(default_factory=dict)

    def mark(self, name: str) -> float:
        self.marks[name] = time.time()
        return self.marks[name]

    def __getitem__(self, name: str) -> float:
        return self.marks[name]


def run(plan: UpgradePlan, progress: Progress | None = None) -> DrillReport:
    plan.validate()
    say = progress or (lambda _message: None)
    report_dir = plan.report_dir
    report_dir.mkdir(parents=True, exist_ok=True)
    for stale in [*journal_files(report_dir), *report_dir.glob("steps.csv*"), *report_dir.glob("locust*.csv")]:
        stale.unlink()

    old_where = plan.old if plan.old is not None else gittree.latest_release_tag()
    if old_where is None:
        raise BadInput("No release tag (vX.Y.Z) to upgrade from: give --old with a folder or a git revision.")
    old = releases.prepare("old", old_where, report_dir / "trees")
    new = releases.prepare("new", plan.new, report_dir / "trees")
    next_ids = releases.next_migrations(old, new)
    if plan.demo_migration:
        new, demo = releases.with_demo_migration(new, report_dir)
        next_ids.append(demo)
    if not next_ids:
        raise BadInput("The new release has no migration the old one lacks, and --no-demo-migration was given: "
                       "there is no schema change to drill.")
    say(f"Upgrade drill: {old.name} -> {new.name}; the next release's migrations: {', '.join(next_ids)}")

    report = DrillReport("rolling upgrade and rollback")
    report.figures.update(old=_describe(old), new=_describe(new), next_migrations=next_ids,
                          plan={**asdict(plan), "report_dir": str(report_dir)})
    database = Database.create("kbju_drill_upgrade")
    try:
        seen = _drive(plan, old, new, next_ids, database.url, say)
        _judge(report, plan, seen, next_ids, database.url)
    finally:
        database.drop()
    report.write(report_dir / "summary.json")
    return report


@dataclass
class Observed:
    """What the drill saw while it ran, for the verdict."""

    load: Load
    fleet: Fleet
    marks: Timeline
    created: dict[str, int] = field(default_factory=dict)        # updates the stand-in had created, by mark
    replacements: list[Replacement] = field(default_factory=list)
    schemas: dict[str, list[str]] = field(default_factory=dict)  # applied migrations: before, upgraded, after
    drained: bool = False
    webhook: dict = field(default_factory=dict)
    balancer: dict[str, int] = field(default_factory=dict)


def _drive(plan: UpgradePlan, old: Release, new: Release, next_ids: list[str], database_url: str,
           say: Progress) -> Observed:
    """Start everything, run the phases under load, stop everything (always)."""
    report_dir, log_dir = plan.report_dir, plan.report_dir / "logs"
    log_dir.mkdir(parents=True, exist_ok=True)
    token, secret = bot_token(), secrets.token_urlsafe(24)
    marks = Timeline()
    standin: Standin | None = None
    fleet: Fleet | None = None
    load: Load | None = None
    try:
        say("Applying the old release's schema")
        _kbjuctl(old, ["db", "upgrade"], database_url, log_dir / "migrate-old.log")
        schemas = {"before": _schema(database_url)}
        standin = Standin.start(log_dir)
        fleet = Fleet.plan(log_dir, {}, report_dir / "haproxy", plan.replicas, plan.check_ms, plan.strategy)
        fleet.environment = _bot_environment(token, secret, database_url, standin.url, fleet.haproxy.url, plan)
        say(f"Starting HAProxy and {plan.replicas} replicas of the old release")
        fleet.start(old)

        id_base = new_id_base()
        seed.seed_to_folder(database_url, range(id_base, id_base + 2 * plan.people), plan.seed, report_dir)
        env = locust_environment(_LoadPlan(plan), standin.url, token, id_base, 2 * plan.people, report_dir)
        # A release without reminders answers their buttons "outdated" without a turn (nothing recorded,
        # as for any button it does not know), which the "no update lost" check could not tell from a
        # loss: the people leave the reminder offer on screen and go on.
        env["LOADTEST_REMINDERS"] = "ignore"
        load = Load(report_dir, log_dir, standin.url, env, plan.people, plan.spawn_rate).start()
        seen = Observed(load, fleet, marks, schemas=schemas)
        say(f"{plan.people} people talking; warming up {plan.warmup_s:.0f} s, then {plan.steady_s:.0f} s steady")
        _sleep(plan.warmup_s, load)
        seen.created["steady_start"] = _created(standin)
        marks.mark("steady_start")
        _sleep(plan.steady_s, load)
        seen.created["steady_end"] = _created(standin)

        marks.mark("migrate_start")
        say("(a) the next release's migrations, while the old release serves")
        _kbjuctl(new, ["db", "upgrade"], database_url, log_dir / "migrate-new.log")
        schemas["upgraded"] = _schema(database_url)
        for index in range(plan.replicas):
            say(f"(b) replacing {fleet.slots[index].name} by the new release ({plan.strategy})")
            seen.replacements.append(fleet.replace(index, new, stop_timeout_s=plan.drain_s + 45))
        marks.mark("forward_end")
        say(f"The new release serves alone for {plan.hold_s:.0f} s")
        _sleep(plan.hold_s, load)

        marks.mark("back_start")
        for index in range(plan.replicas):
            say(f"(c) rolling {fleet.slots[index].name} back to the old release ({plan.strategy})")
            seen.replacements.append(fleet.replace(index, old, stop_timeout_s=plan.drain_s + 45))
        say("(c) rolling the next release's migrations back")
        downgrade = ["db", "downgrade", "--steps", str(len(next_ids))]
        if _has_option(new, ["db", "downgrade"], "--yes"):  # releases that ask first take --yes
            downgrade.append("--yes")
        _kbjuctl(new, downgrade, database_url, log_dir / "downgrade.log")
        marks.mark("back_end")
        seen.created["roll_end"] = _created(standin)
        _sleep(min(plan.hold_s, 5.0), load)
        schemas["after"] = _schema(database_url)
        say("Stopping the people; letting the bot answer what they sent")
        load.stop()
        seen.drained = wait_idle(standin.url, timeout_s=30)
        seen.webhook = standin.webhook()
        seen.balancer = fleet.haproxy.counters()
        return seen
    finally:
        if load is not None:
            load.stop()
        if fleet is not None:
            say("Stopping the replicas and HAProxy")
            fleet.stop()
        if standin is not None:
            standin.stop()


class _LoadPlan:
    """What loadtest.service.locust_environment reads from a plan."""

    def __init__(self, plan: UpgradePlan) -> None:
        self.seed = plan.seed
        self.think_s = plan.think_s
        self.reply_timeout_s = 30.0


def _bot_environment(token: str, secret: str, database_url: str, standin_url: str, front_url: str,
                     plan: UpgradePlan) -> dict[str, str]:
    return {
        "BOT_TOKEN": token, "DATABASE_URL": database_url, "TELEGRAM_API_URL": standin_url,
        "WEBHOOK_URL": front_url + WEBHOOK_PATH, "WEBHOOK_SECRET": secret, "WEBHOOK_LISTEN": "127.0.0.1",
        "WEBHOOK_PATH": WEBHOOK_PATH, "WEBHOOK_DRAIN_SECONDS": f"{plan.drain_s:g}",
        # The schema changes only by the drill's own steps, as a Job or the migrate service does it.
        "DB_AUTO_MIGRATE": "false",
        # The send budget caps a replica at ~15 steps/s (docs/load-testing.md): off, to carry the load.
        "BOT_MAX_SEND_RATE": "0",
        # The drill's people answer every 0.5-1.5 s, faster than anyone types, and its stand-in enforces
        # no limits. A release that paces each chat to Telegram's 1 message/s (0.2.0 on) would make
        # the windows served by it slower than those served by one that does not (0.1.0) for a reason
        # that is not the upgrade: the pace is off, as the tests' bots have it (docs/bot.md, Sending).
        "BOT_CHAT_RATE": "0",
        "DB_POOL_MIN": "1", "DB_POOL_MAX": "8", "LOG_LEVEL": "INFO",
    }


def _describe(release: Release) -> dict[str, str | None]:
    return {"version": release.version, "revision": release.revision, "tree": str(release.tree),
            "python": release.python, "migrations": str(release.sql_dir)}


def _kbjuctl(release: Release, args: list[str], database_url: str, log: Path) -> str:
    """A kbjuctl command of that release; its output, also appended to log."""
    env = {**os.environ, **release.environment(), "DATABASE_URL": database_url, "PYTHONUNBUFFERED": "1"}
    result = subprocess.run(release.command(*args), env=env, capture_output=True, text=True, timeout=300,
                            check=False, cwd=log.parent)
    with log.open("a", encoding="utf-8") as handle:
        handle.write(result.stdout + result.stderr)
    if result.returncode != 0:
        raise OperationFailed(f"`kbjuctl {' '.join(args)}` of the {release.label} release failed "
                              f"(exit {result.returncode}): {(result.stderr or result.stdout).strip()[-800:]}")
    return result.stdout


def _has_option(release: Release, command: list[str], option: str) -> bool:
    """Whether that release's kbjuctl command knows the option (its --help names it)."""
    shown = subprocess.run(release.command(*command, "--help"), env={**os.environ, **release.environment(),
                                                                   "COLUMNS": "200"},
                           capture_output=True, text=True, timeout=60, check=False)
    return option in shown.stdout


def _schema(database_url: str) -> list[str]:
    """The ids of the applied migrations (yoyo's own record of them)."""
    import psycopg

    with psycopg.connect(database_url) as conn:
        return [row[0] for row in conn.execute("SELECT migration_id FROM _yoyo_migration ORDER BY migration_id")]


def _created(standin: Standin) -> int:
    return int(standin.stats()["updates"]["created"])


def _sleep(seconds: float, load: Load) -> None:
    deadline = time.monotonic() + seconds
    while time.monotonic() < deadline:
        if not load.alive():
            raise OperationFailed(f"Locust stopped during the drill:\n{load.child.log_tail() if load.child else ''}")
        time.sleep(min(0.5, max(0.0, deadline - time.monotonic())))


def _judge(report: DrillReport, plan: UpgradePlan, seen: Observed, next_ids: list[str], database_url: str) -> None:
    load, fleet, marks, created = seen.load, seen.fleet, seen.marks, seen.created
    replacements, webhook, balancer = seen.replacements, seen.webhook, seen.balancer
    schemas = (seen.schemas["before"], seen.schemas["upgraded"], seen.schemas["after"])
    drained, report_dir = seen.drained, plan.report_dir
    steps = load.steps()
    steady = window(steps, "steady", marks["steady_start"], marks["migrate_start"])
    upgrade = window(steps, "upgrade (migrate, replace)", marks["migrate_start"], marks["forward_end"])
    rollback = window(steps, "rollback (replace, downgrade)", marks["back_start"], marks["back_end"])
    rolling = window([s for s in steps if not marks["forward_end"] <= s.started < marks["back_start"]],
                     "rolling (both)", marks["migrate_start"], marks["back_end"])
    whole = window(steps, "whole run", min((s.started for s in steps), default=0.0), time.time())
    steady_rate = (created["steady_end"] - created["steady_start"]) / plan.steady_s
    roll_s = marks["back_end"] - marks["migrate_start"]
    roll_rate = (created["roll_end"] - created["steady_end"]) / roll_s if roll_s > 0 else 0.0
    stray, stray_examples = load.stray()
    result = consistency.check(database_url, journal_files(report_dir))
    tracebacks, _ = count_tracebacks(fleet.logs)
    failed = whole.failed or {}
    error_replies = failed.get("BotError", 0) + failed.get("RetryAsked", 0)

    report.figures.update(
        windows=[asdict(w) for w in (steady, upgrade, rollback, rolling, whole)],
        slowest_steps=slowest(steps, 3),
        updates_per_s={"steady": round(steady_rate, 1), "rolling": round(roll_rate, 1)},
        replacements=[asdict(r) for r in replacements], balancer=balancer, webhook=webhook,
        schema={"before": schemas[0], "upgraded": schemas[1], "after": schemas[2]},
        consistency=result.as_dict(), stray_examples=stray_examples, tracebacks=tracebacks,
        exit_codes=fleet.exit_codes, phases={k: round(v - marks["steady_start"], 2) for k, v in marks.marks.items()})
    ratio = rolling.p99_ms / steady.p99_ms if steady.p99_ms else float("inf")
    report.headline = (f"{result.people} people, {whole.steps} steps; p99 steady {steady.p99_ms:.0f} ms, "
                       f"rolling {rolling.p99_ms:.0f} ms ({ratio:.2f}x); {steady_rate:.0f} updates/s steady, "
                       f"{roll_rate:.0f} rolling")

    report.check("no update lost", not result.lost_updates and drained and not webhook.get("pending_update_count"),
                 f"{len(result.lost_updates)} never processed; the stand-in's queue "
                 + ("drained" if drained else "still held updates"))
    report.check("no update answered twice", stray == 0,
                 f"{stray} bot messages came after their step was complete" if stray >= 0 else stray_examples[0])
    report.check("no error reply", error_replies == 0,
                 f"{failed.get('BotError', 0)} apologies, {failed.get('RetryAsked', 0)} 'try again'")
    report.check("every step answered as expected", not failed,
                 f"{whole.steps} steps" + (f", failed: {failed}" if failed else ", none failed"))
    report.check("every person's state consistent", not result.mismatches,
                 f"{result.people} people, {len(result.mismatches)} mismatches")
    report.check(f"p99 while rolling within {P99_FACTOR:g}x the steady p99",
                 steady.steps > 0 and rolling.p99_ms <= P99_FACTOR * steady.p99_ms,
                 f"steady {steady.p99_ms:.0f} ms ({steady.steps} steps), rolling {rolling.p99_ms:.0f} ms "
                 f"({rolling.steps} steps): {ratio:.2f}x")
    routed = sum(r.routed_while_draining for r in replacements)
    report.check("nothing routed to a draining replica", routed == 0,
                 f"{routed} requests after the drain began, over {len(replacements)} replacements")
    report.check("every delivery accepted at its first attempt", not webhook.get("failures"),
                 f"{webhook.get('successes', 0)} deliveries, {webhook.get('failures', 0)} refused or failed; "
                 f"HAProxy: {balancer['retries']} retries, {balancer['answered_5xx']} 5xx")
    codes = {name: code for name, code in fleet.exit_codes.items()}
    report.check("every replica stopped gracefully (exit 0)", all(code == 0 for code in codes.values()),
                 ", ".join(f"{n} {c}" for n, c in codes.items()))
    report.check("no traceback in the replicas' logs", not sum(tracebacks.values()),
                 f"{sum(tracebacks.values())} tracebacks" + (f" in {tracebacks}" if sum(tracebacks.values()) else ""))
    upgraded_ok = all(m in schemas[1] for m in next_ids)
    report.check("migrations applied under load and rolled back", upgraded_ok and schemas[2] == schemas[0],
                 f"applied {len(next_ids)} ({', '.join(next_ids)}); schema after the rollback "
                 + ("equals the one before" if schemas[2] == schemas[0] else f"differs: {schemas[2]}"))
    report.check(f"load of at least {TARGET_RATE:.0f} updates/s", steady_rate >= TARGET_RATE,
                 f"{steady_rate:.0f} updates/s steady, {roll_rate:.0f} while rolling", gating=False)

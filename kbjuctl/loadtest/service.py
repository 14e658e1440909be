"""One load run from start to verdict: stack up, seed, Locust, fault, stack down, check, summarise."""

from __future__ import annotations

import json
import os
import re
import secrets
import time
from collections.abc import Callable, Iterator
from contextlib import contextmanager
from pathlib import Path

from kbjuctl.loadtest import faults, locustrun, report
from kbjuctl.loadtest.monitor import CpuAccount, ResourceMonitor
from kbjuctl.loadtest.plan import CLUSTER_FAULTS, Plan
from kbjuctl.loadtest.report import Check, Summary
from kbjuctl.loadtest.stack import LocalStack, wait_idle
from loadtests import consistency, seed
from loadtests.journal import journal_files

# Telegram ids are below 2**52; each run gets its own block of 10**7 ids, from the clock.
ID_BLOCK = 10**7
SEEDED_BLOCK = 10**6
BACKGROUND_FIRST_ID = 5 * 10**14  # --seed-people beyond the simulated ones: below every run's block
BACKGROUND_RECORDS_EACH = 10
TRACEBACK = "Traceback (most recent call last):"
# A log record's first line in the bot's text format: "2026-01-01 12:00:00,000 LEVEL logger: message".
RECORD = re.compile(r"^\d{4}-\d\d-\d\d \d\d:\d\d:\d\d[,.]\d+ (?P<level>[A-Z]+) (?P<logger>[\w.]+): ")
# asyncpg's pool logs its reconnect attempts while PostgreSQL is down as warnings with the
# connection error's traceback: expected during a database outage we cause, so not counted
# there (reported apart); anywhere else it is a traceback like any other.
OUTAGE_NOISE = {("WARNING", "asyncpg.pool")}

Progress = Callable[[str], None]


def new_id_base() -> int:
    return 10**15 + (int(time.time()) - 1_700_000_000) * ID_BLOCK + secrets.randbelow(10) * SEEDED_BLOCK // 10


def count_tracebacks(log_paths: list[Path], outage: bool = False) -> tuple[dict[str, int], dict[str, int]]:
    """Tracebacks per log: (counted, outage noise). Each is attributed to the log record it follows."""
    found: dict[str, int] = {}
    noise: dict[str, int] = {}
    for path in log_paths:
        found[path.name] = noise[path.name] = 0
        try:
            lines = path.read_text(errors="replace").splitlines()
        except OSError:
            continue
        record: tuple[str, str] | None = None
        for line in lines:
            match = RECORD.match(line)
            if match:
                record = (match["level"], match["logger"])
            elif line.startswith(TRACEBACK):
                if outage and record in OUTAGE_NOISE:
                    noise[path.name] += 1
                else:
                    found[path.name] += 1
    return found, noise


def _seed_background(plan: Plan, database_url: str, simulated: int, say: Progress) -> None:
    """--seed-people/--seed-records: registered people beyond the simulated ones, made in the database."""
    if plan.seed_people is None and plan.seed_records is None:
        return
    people = max(0, (plan.seed_people if plan.seed_people is not None else simulated) - simulated)
    import psycopg

    with psycopg.connect(database_url) as conn:
        have = conn.execute("SELECT count(*) FROM user_records").fetchone()[0]
    records = (plan.seed_records - have if plan.seed_records is not None else BACKGROUND_RECORDS_EACH * people)
    if people == 0:
        if records > 0:
            say("--seed-records without more people than the simulated ones: nothing more seeded")
        return
    started = time.monotonic()
    seed.seed_background(database_url, BACKGROUND_FIRST_ID, people, max(records, people))
    say(f"Seeded {people} more registered people with {max(records, people)} records "
        f"({time.monotonic() - started:.0f} s; the database now holds {simulated + people} people)")


def _delivered(standin_url: str) -> int | None:
    """Updates the stand-in has delivered to the bot so far (each one handled by a replica)."""
    try:
        stats = faults.standin_call(f"{standin_url}/_standin/stats")
    except OSError:
        return None
    return int((stats.get("updates") or {}).get("delivered") or 0)


def _limits(standin_url: str) -> dict | None:
    """The stand-in's Telegram limits for this run (None: off)."""
    try:
        described = faults.standin_call(f"{standin_url}/_standin/limits")
    except OSError:
        return None
    configs = [described.get("global"), *(described.get("per_bot") or {}).values()]
    return next((c for c in configs if c and c.get("enabled")), None)


def locust_environment(plan: Plan, standin_url: str, token: str | None, id_base: int, seeded: int,
                       journal_dir: Path) -> dict[str, str]:
    env = {
        "LOADTEST_STANDIN_URL": standin_url,
        "LOADTEST_ID_BASE": str(id_base),
        "LOADTEST_SEEDED": str(seeded),
        "LOADTEST_SEED": str(plan.seed),
        "LOADTEST_JOURNAL_DIR": str(journal_dir),
        "LOADTEST_THINK": f"{plan.think_s[0]},{plan.think_s[1]}",
        "LOADTEST_REPLY_TIMEOUT": str(plan.reply_timeout_s),
    }
    if token:
        env["LOADTEST_BOT_TOKEN"] = token
    return env


@contextmanager
def private_report(report_dir: Path) -> Iterator[None]:
    """The report folder and everything written into it while the run lasts (by Locust and the stack's
    processes too: they inherit the umask) readable by its owner only, as backups are: logs and
    journals hold what the simulated people typed and the stack's settings."""
    report_dir.mkdir(parents=True, exist_ok=True, mode=0o700)
    for path in [report_dir, *report_dir.rglob("*")]:
        if not path.is_symlink():
            path.chmod(0o700 if path.is_dir() else 0o600)
    previous = os.umask(0o077)
    try:
        yield
    finally:
        os.umask(previous)


def run(plan: Plan, progress: Progress | None = None, bot_token: str | None = None) -> Summary:
    """Runs the plan and returns its summary (also written to <report>/summary.json)."""
    plan.validate()
    locustrun.locust_command()  # a missing Locust is said before a stack is started for nothing
    with private_report(plan.report_dir):
        return _run(plan, progress, bot_token)


def _run(plan: Plan, progress: Progress | None, bot_token: str | None) -> Summary:
    say = progress or (lambda _message: None)
    report_dir = plan.report_dir
    log_dir = report_dir / "logs"
    for old in [*journal_files(report_dir), *report_dir.glob("locust*.csv")]:
        old.unlink()
    summary = Summary(plan=plan.describe())
    id_base = new_id_base()
    stack: LocalStack | None = None
    monitor: ResourceMonitor | None = None
    cpu: CpuAccount | None = None
    started = time.monotonic()
    try:
        if plan.local:
            say(f"Starting PostgreSQL, the Bot API stand-in, the front and {plan.replicas} bot replica(s)")
            stack = LocalStack(log_dir=log_dir, replicas=plan.replicas, dedicated_postgres=plan.fault == "pg-restart",
                               polling=plan.polling,
                               cluster_dir=(plan.cluster_dir or report_dir / "cluster") if plan.on_cluster else None,
                               telegram_limits=plan.telegram_limits).start()
            summary.stack = stack.describe()
            standin_url, token, database_url = stack.standin_url, stack.token, stack.database_url
            seeded = seed.seed_to_folder(database_url, range(id_base, id_base + 2 * plan.users), plan.seed,
                                         report_dir)
            say(f"Seeded {seeded} registered people")
            _seed_background(plan, database_url, seeded, say)
        else:
            standin_url, token, database_url, seeded = plan.target.rstrip("/"), bot_token, plan.database_url, 0
            if plan.telegram_limits:
                faults.standin_call(f"{standin_url}/_standin/limits", "POST", {"token": token} if token else {})
        summary.stack["telegram_limits"] = _limits(standin_url)
        fault = faults.make(plan.fault, stack=stack, standin_url=standin_url, token=token,
                            duration_s=plan.duration_s) if plan.fault else None
        if fault is not None:
            fault.before()
        if stack is not None:
            monitor = ResourceMonitor(stack.bot_pids()).start()
            cpu = CpuAccount(stack.program_pids()).begin()
            delivered_before = _delivered(standin_url)
        say(f"Locust: {plan.users} people, spawn rate {plan.spawn_rate}/s, {plan.duration_s:.0f} s"
            + (f", {plan.workers} workers" if plan.workers else "") + (" (web UI on http://127.0.0.1:8089)"
                                                                       if plan.web else ""))
        env = locust_environment(plan, standin_url, token, id_base, seeded, report_dir)
        locustrun.run(plan, standin_url, env, report_dir, log_dir)
        say("Locust finished; letting the bot finish what it was sent")
        drained = wait_idle(standin_url, timeout_s=30)
        if cpu is not None:
            delivered = _delivered(standin_url)
            summary.machine = cpu.end(None if delivered is None or delivered_before is None
                                      else delivered - delivered_before)
        if fault is not None:
            fault.after()
            fault.observe(report_dir)
            summary.fault = fault.report()
            summary.checks += fault.checks()
        summary.checks.append(Check("every sent update was delivered to the bot", drained,
                                    "the stand-in's queue drained" if drained else "updates still pending"))
    finally:
        if monitor is not None:
            monitor.stop()
            summary.resources = monitor.as_dict(time.monotonic() - started)
        if stack is not None:
            say("Stopping the stack")
            exit_codes = stack.stop()
            summary.stack["exit_codes"] = exit_codes
    summary.wall_s = round(time.monotonic() - started, 1)
    try:
        _judge(plan, summary, report_dir, database_url, stack)
    finally:
        if stack is not None:
            stack.drop_database()
    summary.write(report_dir / "summary.json")
    return summary


def _judge(plan: Plan, summary: Summary, report_dir: Path, database_url: str | None,
           stack: LocalStack | None) -> None:
    prefix = report_dir / locustrun.CSV_PREFIX
    summary.steps, summary.total = report.read_stats(prefix)
    summary.requests_per_min, summary.requests_per_min_at_full_load = report.rate_at_full_load(prefix, plan.users)
    whole_answered, summary.answered_per_min_at_full_load = report.rate_at_full_load(prefix, plan.users, answered=True)
    if summary.answered_per_min_at_full_load is None and summary.requests_per_min_at_full_load is None:
        summary.answered_per_min_at_full_load = whole_answered
    if summary.total is not None and summary.total.requests:
        summary.error_ratio = summary.total.failures / summary.total.requests
    summary.checks[:0] = report.slo_checks(summary, plan.users, gate_latency=plan.fault is None, p95_ms=plan.p95_ms,
                                           p99_ms=plan.p99_ms, max_error_percent=plan.max_error_percent)
    if plan.baseline is not None:
        try:
            baseline = json.loads(plan.baseline.read_text())
        except (OSError, ValueError) as exc:
            baseline, source = {}, f"{plan.baseline} (unreadable: {exc})"
        else:
            source = str(plan.baseline)
        summary.checks.append(report.baseline_check(summary, baseline, plan.baseline_ratio, source))

    if database_url:
        result = consistency.check(database_url, journal_files(report_dir))
        summary.consistency = result.as_dict()
        summary.checks.append(Check("consistency: every person's state equals what they entered", result.ok,
                                    f"{result.people} people, {len(result.mismatches)} mismatches, "
                                    f"{len(result.lost_updates)} lost updates, {result.replies_lost} replies lost "
                                    f"after commit, {result.in_flight_at_end} in flight when the run ended"))
    else:
        summary.checks.append(Check("consistency", False, "not checked: give --database-url for a remote target",
                                    gating=False))
    if stack is not None:
        summary.tracebacks, noise = count_tracebacks([c.log_path for c in stack.bots],
                                                     outage=plan.fault in ("pg-restart", *CLUSTER_FAULTS))
        total, outage_noise = sum(summary.tracebacks.values()), sum(noise.values())
        summary.checks.append(Check(
            "no traceback in the bot's logs", total == 0,
            f"{total} tracebacks" + ("" if not total else f" in {summary.tracebacks}")
            + (f" (not counted: {outage_noise} from asyncpg.pool's reconnect warnings while PostgreSQL was down)"
               if outage_noise else "")))

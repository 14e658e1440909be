"""`kbjuctl loadtest`: Locust load and fault runs against the bot, with SLO and consistency verdicts."""

from __future__ import annotations

from pathlib import Path
from typing import Annotated

import typer
from rich.table import Table

from kbjuctl.console import err, out, print_json
from kbjuctl.errors import BadInput, VerificationFailed
from kbjuctl.loadtest.plan import Fault, Plan, parse_duration
from kbjuctl.loadtest.report import Summary
from kbjuctl.options import DryRun, JsonOutput


def _think(text: str) -> tuple[float, float]:
    try:
        low, high = (float(part) for part in text.split(","))
    except ValueError:
        raise BadInput(f"--think: expected MIN,MAX seconds like 3,15, got {text!r}") from None
    return low, high


def loadtest(
    users: Annotated[int, typer.Option("--users", "-u", help="Concurrent simulated people.")] = 1000,
    spawn_rate: Annotated[float, typer.Option("--spawn-rate", "-r", help="People started per second.")] = 50.0,
    duration: Annotated[str, typer.Option("--duration", "-t", help="Run time: 90s, 5m, 1h30m.")] = "5m",
    replicas: Annotated[int, typer.Option("--replicas", help="Bot replicas behind the front (local).")] = 1,
    workers: Annotated[int, typer.Option("--workers", help="Locust worker processes (0: one process).")] = 0,
    target: Annotated[str, typer.Option(
        "--target", help="'local' (a fresh stack of our own) or the URL of the Bot API stand-in "
                         "a deployed bot talks to.")] = "local",
    report: Annotated[Path, typer.Option("--report", help="Folder for the HTML report, CSVs, "
                                                           "summary.json and logs.")] = Path("loadtest-report"),
    web: Annotated[bool, typer.Option("--web", help="Open Locust's web UI (http://127.0.0.1:8089) "
                                                    "instead of a headless run; Ctrl-C ends it.")] = False,
    fault: Annotated[Fault | None, typer.Option(
        "--fault", help="Inject a failure mid-run (docs/load-testing.md, Faults).", show_default=False)] = None,
    database_url: Annotated[str | None, typer.Option(
        "--database-url", envvar="LOADTEST_DATABASE_URL",
        help="Remote target only: the bot's database, read for the consistency check.", show_default=False)] = None,
    bot_token: Annotated[str | None, typer.Option(
        "--bot-token", envvar="LOADTEST_BOT_TOKEN", help="Remote target only: the bot's token at the "
        "stand-in, when it serves several bots.", show_default=False)] = None,
    think: Annotated[str, typer.Option("--think", help="Think time between a person's answers, MIN,MAX "
                                                       "seconds.")] = "3,15",
    seed: Annotated[int, typer.Option("--seed", help="Random seed of the simulated people.")] = 1,
    telegram_limits: Annotated[bool, typer.Option(
        "--telegram-limits/--no-telegram-limits",
        help="The stand-in answers like Telegram's flood control: per chat, per group, bulk "
             "(tgstandin/README.md).")] = True,
    p95_ms: Annotated[float, typer.Option("--p95-ms", help="Every step's p95 must stay below this (ms).")] = 1000.0,
    p99_ms: Annotated[float | None, typer.Option(
        "--p99-ms", help="Every step's p99 must stay below this (ms); unset: reported only.",
        show_default=False)] = None,
    max_error_percent: Annotated[float, typer.Option(
        "--max-error-percent", help="Failed steps must stay below this share; 0: none may fail.")] = 0.1,
    seed_people: Annotated[int | None, typer.Option(
        "--seed-people", help="Registered people in the database before the run (local; default: 2 x --users, "
                              "the simulated ones). More are made by PostgreSQL, with a history each.",
        show_default=False)] = None,
    seed_records: Annotated[int | None, typer.Option(
        "--seed-records", help="Measurement records in the database before the run, in all (local; default: "
                               "10 for each person beyond the simulated ones).", show_default=False)] = None,
    baseline: Annotated[Path | None, typer.Option(
        "--baseline", help="summary.json of an earlier run: this run's p95 must stay within --baseline-ratio "
                           "of it.", show_default=False)] = None,
    baseline_ratio: Annotated[float, typer.Option("--baseline-ratio", help="See --baseline.")] = 1.2,
    dry_run: DryRun = False,
    as_json: JsonOutput = False,
) -> None:
    """Load-test the bot with Locust: simulated people talk to it through the Bot API stand-in.

    Writes Locust's HTML report and CSVs, summary.json and every process's log into --report;
    prints the machine's cores and who used its CPU, and the bot's CPU per update; exits 1 when an
    SLO (every step's p95 < --p95-ms, errors < --max-error-percent, 1000 requests/min at 1000
    people), the consistency check or the --baseline comparison fails, 2 on bad input.
    """
    plan = Plan(users=users, spawn_rate=spawn_rate, duration_s=parse_duration(duration), replicas=replicas,
                workers=workers, target=target, report_dir=report, web=web, fault=fault.value if fault else None,
                database_url=database_url, think_s=_think(think), seed=seed, telegram_limits=telegram_limits,
                p95_ms=p95_ms, p99_ms=p99_ms, max_error_percent=max_error_percent, seed_people=seed_people,
                seed_records=seed_records, baseline=baseline, baseline_ratio=baseline_ratio).validate()
    from kbjuctl.loadtest.locustrun import locust_command
    from kbjuctl.loadtest.service import run as run_loadtest  # Locust and the stack: only here

    if dry_run:
        locust = locust_command()
        described = plan.describe()
        if as_json:
            print_json({"dry_run": True, "plan": described, "locust": locust[0]})
        else:
            out.print(f"Would run Locust ({locust[0]}): " + ", ".join(f"{k} {v}" for k, v in described.items()),
                      highlight=False, markup=False)
        return

    summary = run_loadtest(plan, progress=lambda message: err.print(f"[dim]{message}[/]", highlight=False),
                           bot_token=bot_token)
    if as_json:
        print_json(summary.as_dict())
    else:
        render(summary)
    if not summary.passed:
        failed = [c.name for c in summary.checks if c.gating and not c.ok]
        raise VerificationFailed(f"The load run failed: {'; '.join(failed)}. Details: {report / 'summary.json'}")


def render(summary: Summary) -> None:
    steps = Table(title="Steps (time from sending an update to the bot's reply at the Bot API)")
    for column in ("step", "requests", "errors", "p50 ms", "p95 ms", "p99 ms", "max ms"):
        steps.add_column(column, justify="left" if column == "step" else "right")
    rows = [*summary.steps, *([summary.total] if summary.total else [])]
    for s in rows:
        steps.add_row(f"{s.kind} {s.name}".strip(), str(s.requests), str(s.failures), f"{s.p50_ms:.0f}",
                      f"{s.p95_ms:.0f}", f"{s.p99_ms:.0f}", f"{s.max_ms:.0f}")
    out.print(steps)
    res = summary.resources
    if summary.stack:
        out.print(f"stack: {summary.stack.get('replicas', 'remote')} replica(s); {_limits_line(summary.stack)}")
    full = summary.requests_per_min_at_full_load
    out.print(f"requests/min: {summary.requests_per_min:.0f} over the run"
              + (f", {full:.0f} at full load" if full is not None else "")
              + (f" ({summary.answered_per_min_at_full_load:.0f} answered)"
                 if summary.answered_per_min_at_full_load is not None else "")
              + f"; errors {100 * summary.error_ratio:.3f} %"
              + (f"; bot peak RSS {res.get('peak_rss_mib', 0):.0f} MiB per replica, "
                 f"peak CPU {res.get('peak_cpu_percent', 0):.0f} %, mean CPU {res.get('mean_cpu_percent', 0):.0f} %"
                 if res else ""))
    for line in _machine_lines(summary.machine):
        out.print(line)
    verdict = Table(title="Verdict")
    for column in ("check", "result", "detail"):
        verdict.add_column(column)
    for check in summary.checks:
        mark = "[green]pass[/]" if check.ok else ("[red]FAIL[/]" if check.gating else "[yellow]miss (not gating)[/]")
        verdict.add_row(check.name, mark, check.detail)
    out.print(verdict)
    out.print("[bold green]PASSED[/]" if summary.passed else "[bold red]FAILED[/]")


def _limits_line(stack: dict) -> str:
    limits = stack.get("telegram_limits")
    sent = stack.get("bot_send_settings") or {}
    bot = ("the bot: " + ", ".join(f"{k}={v}" for k, v in sent.items())) if sent else ""
    if not limits:
        return "Telegram's limits off at the stand-in" + (f"; {bot}" if bot else "")
    return (f"Telegram's limits on at the stand-in ({limits['per_chat_per_second']:g}/s per chat, burst "
            f"{limits['per_chat_burst']}; bulk {limits['bulk_per_second']:g}/s)" + (f"; {bot}" if bot else ""))


def _machine_lines(machine: dict) -> list[str]:
    """Who used the CPU: on a shared machine a run's figures are only as good as what else ran."""
    if not machine:
        return []
    load = machine.get("load_average_start") or [0, 0, 0]
    load_end = machine.get("load_average_end") or [0, 0, 0]
    programs = ", ".join(f"{name} {cores:.2f}" for name, cores in (machine.get("busy_cores_by_program") or {}).items())
    lines = [f"machine: {machine.get('cores')} cores; load average {load[0]:.2f} at the start, {load_end[0]:.2f} at "
             f"the end; busy {machine.get('busy_cores', 0):.2f} cores on average ({programs})"]
    per_update = machine.get("bot_cpu_ms_per_update")
    if per_update is not None:
        lines.append(f"bot CPU per update: {per_update:.2f} ms ({machine.get('updates')} updates, "
                     f"{machine.get('bot_cpu_seconds')} CPU s over {machine.get('wall_s')} s, every replica and "
                     "its chart workers)")
    return lines

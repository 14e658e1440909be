"""`kbjuctl drill rolling-upgrade` and `kbjuctl drill cutover`: the release drills (docs/operations.md)."""

from __future__ import annotations

from pathlib import Path
from typing import Annotated

import typer
from rich.table import Table

from kbjuctl.console import err, out, print_json
from kbjuctl.errors import BadInput, VerificationFailed
from kbjuctl.options import JsonOutput


def _say(message: str) -> None:
    err.print(f"[dim]{message}[/]", highlight=False)


def _pair(text: str, option: str) -> tuple[float, float]:
    try:
        low, high = (float(part) for part in text.split(","))
    except ValueError:
        raise BadInput(f"{option}: expected MIN,MAX seconds like 0.5,1.5, got {text!r}") from None
    return low, high


def rolling_upgrade(
    old: Annotated[str | None, typer.Option("--old", help="The release running now: a source tree (folder) or a "
                                            "git revision [default: the newest vX.Y.Z tag].",
                                            show_default=False)] = None,
    new: Annotated[str | None, typer.Option("--new", help="The release to upgrade to: a folder or a git revision "
                                            "[default: this tree].", show_default=False)] = None,
    replicas: Annotated[int, typer.Option("--replicas", help="Webhook replicas behind HAProxy.")] = 2,
    people: Annotated[int, typer.Option("--people", "-u", help="Simulated people talking throughout.")] = 150,
    think: Annotated[str, typer.Option("--think", help="Seconds between a person's answers, MIN,MAX.")] = "0.5,1.5",
    warmup: Annotated[float, typer.Option("--warmup", help="Seconds of load before the steady window.")] = 10.0,
    steady: Annotated[float, typer.Option("--steady", help="Seconds of steady load the roll is compared "
                                          "with.")] = 30.0,
    hold: Annotated[float, typer.Option("--hold", help="Seconds the new release serves alone before the "
                                        "rollback.")] = 10.0,
    drain: Annotated[float, typer.Option("--drain", help="WEBHOOK_DRAIN_SECONDS of every replica.")] = 2.0,
    strategy: Annotated[str, typer.Option("--strategy", help="surge: each successor is UP before its predecessor "
                                          "stops (Kubernetes' maxUnavailable 0); in-place: stopped, then started "
                                          "on its port (one replica fewer meanwhile).")] = "surge",
    demo_migration: Annotated[bool, typer.Option(
        "--demo-migration/--no-demo-migration",
        help="Also apply and roll back the drill's own expand migration (never shipped in sql/).")] = True,
    report: Annotated[Path, typer.Option("--report", help="Folder for summary.json, the journal, the steps "
                                         "and every process's log.")] = Path("drill-rolling-upgrade"),
    seed: Annotated[int, typer.Option("--seed", help="Random seed of the simulated people.")] = 1,
    as_json: JsonOutput = False,
) -> None:
    """Upgrade the bot and roll it back under load, replica by replica behind HAProxy, with a schema
    migration applied while the old release serves and rolled back after it serves again. Prints one
    verdict line; exits 1 when a check fails."""
    from kbjuctl.drill.upgrade import UpgradePlan, run

    plan = UpgradePlan(report_dir=report, old=old, new=new, replicas=replicas, people=people,
                       think_s=_pair(think, "--think"), warmup_s=warmup, steady_s=steady, hold_s=hold, drain_s=drain,
                       demo_migration=demo_migration, strategy=strategy, seed=seed)
    result = run(plan, progress=_say)
    _finish(result, as_json, report)


def cutover(
    people: Annotated[int, typer.Option("--people", "-u", help="People of the old bot, each sending updates "
                                        "while no bot runs.")] = 40,
    offline: Annotated[float, typer.Option("--offline", help="Seconds between the old bot's stop and PROD's "
                                           "start besides the migration (the operator's own steps).")] = 0.0,
    report: Annotated[Path, typer.Option("--report", help="Folder for summary.json and every process's "
                                         "log.")] = Path("drill-cutover"),
    as_json: JsonOutput = False,
) -> None:
    """Switch from the old bot to PROD as the runbook says (stop the old bot, migrate-from-sqlite, start
    PROD, set the webhook, verify) while people keep writing; prints the downtime and one verdict line."""
    from kbjuctl.drill.cutover import CutoverPlan, run

    result = run(CutoverPlan(report_dir=report, people=people, offline_s=offline), progress=_say)
    _finish(result, as_json, report)


def _finish(result, as_json: bool, report: Path) -> None:
    if as_json:
        print_json(result.as_dict())
    else:
        table = Table(title="Checks")
        for column in ("check", "result", "detail"):
            table.add_column(column)
        for check in result.checks:
            mark = "[green]pass[/]" if check.ok else "[red]FAIL[/]" if check.gating else "[yellow]miss[/] (not gating)"
            table.add_row(check.name, mark, check.detail)
        out.print(table)
        out.print(("[bold green]" if result.passed else "[bold red]") + result.verdict + "[/]", highlight=False)
    if not result.passed:
        raise VerificationFailed(f"The drill failed. Details: {report / 'summary.json'}")

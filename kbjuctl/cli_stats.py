"""`kbjuctl stats`: the operators' statistics (kbjuctl.stats) as rich tables or JSON."""

from __future__ import annotations

from datetime import date, datetime, timedelta
from typing import Annotated
from zoneinfo import ZoneInfo, ZoneInfoNotFoundError

import typer
from rich.table import Table

from kbjuctl import stats as service
from kbjuctl.console import out, print_json
from kbjuctl.errors import BadInput
from kbjuctl.options import DatabaseUrl, JsonOutput, require_database_url

DEFAULT_DAYS = 30


def _percent(value: float | None) -> str:
    return "-" if value is None else f"{value * 100:.1f} %"


def stats(
    since: Annotated[str | None, typer.Option("--since", help="First day counted, YYYY-MM-DD, in the bot's time "
                                              "zone.", show_default=f"{DEFAULT_DAYS} days ago")] = None,
    weeks: Annotated[int, typer.Option("--weeks", min=1, max=52, help="Weeks after registration that retention "
                                       "follows.")] = 8,
    timezone: Annotated[str, typer.Option("--timezone", envvar="BOT_TIMEZONE", help="IANA zone whose days and weeks "
                                          "are counted.")] = "Europe/Moscow",
    database_url: DatabaseUrl = None,
    json_output: JsonOutput = False,
) -> None:
    """Registrations, active people, the survey's completion and where it is abandoned, the funnel to the
    consultation, reminders, and retention by registration week (the users dashboard's numbers)."""
    try:
        zone = ZoneInfo(timezone)
    except (ZoneInfoNotFoundError, ValueError):
        raise BadInput(f"--timezone {timezone!r} is not an IANA time zone, e.g. Europe/Moscow.") from None
    today = datetime.now(zone).date()
    try:
        first = date.fromisoformat(since) if since else today - timedelta(days=DEFAULT_DAYS)
    except ValueError:
        raise BadInput(f"--since {since!r} is not a day; expected YYYY-MM-DD, e.g. 2026-11-01.") from None
    if first > today:
        raise BadInput(f"--since {first.isoformat()} is in the future.")
    result = service.collect(require_database_url(database_url), first, timezone, weeks)
    if json_output:
        print_json(result.to_json())
        return
    _render(result)


def _render(s: service.Stats) -> None:
    p = s.people
    table = Table(title=f"People (now, {s.as_of:%Y-%m-%d %H:%M} {s.timezone})")
    for column in ("registered", "active 7 days", "active 30 days", "reminders on", "blocked the bot"):
        table.add_column(column, justify="right")
    table.add_row(*(f"{p[k]:,}" for k in ("registered", "active_7d", "active_30d", "reminders_enabled", "blocked")))
    out.print(table)

    table = Table(title=f"Registrations since {s.since.isoformat()}")
    table.add_column("week (Monday)")
    table.add_column("registrations", justify="right")
    table.add_column("per day", justify="left")
    by_week: dict[date, list[str]] = {}
    for row in s.registrations_daily:
        monday = row["day"] - timedelta(days=row["day"].weekday())
        by_week.setdefault(monday, []).append(f"{row['day']:%d.%m} {row['registrations']}")
    for row in s.registrations_weekly:
        table.add_row(row["week"].isoformat(), f"{row['registrations']:,}", ", ".join(by_week.get(row["week"], [])))
    out.print(table)

    v = s.survey
    table = Table(title="Survey (people)")
    for column in ("started", "completed", "completion", "abandoned", "in it now"):
        table.add_column(column, justify="right")
    table.add_row(f"{v['started']:,}", f"{v['completed']:,}", _percent(v["completion"]), f"{v['abandoned']:,}",
                  f"{v['in_progress']:,}")
    out.print(table)
    if s.survey_abandoned:
        table = Table(title="Survey abandoned, by step")
        for column in ("step", "left it there", "stopped answering there"):
            table.add_column(column, justify="left" if column == "step" else "right")
        for row in s.survey_abandoned:
            table.add_row(row["step"], f"{row['left_it']:,}", f"{row['went_silent']:,}")
        out.print(table)

    c, r = s.consultation, s.reminders
    table = Table(title="Funnel → consultation (people)")
    for column in ("funnel message sent", "opened the consultation", "of them after the funnel", "conversion"):
        table.add_column(column, justify="right")
    table.add_row(f"{c['funnel_sent']:,}", f"{c['consult_opened']:,}", f"{c['opened_after_funnel']:,}",
                  _percent(c["conversion"]))
    out.print(table)
    table = Table(title="Reminders")
    for column in ("on", "opt-in", "sent", "measured within a week", "share", "skipped: measured already",
                   "not sent: blocked"):
        table.add_column(column, justify="right")
    table.add_row(f"{r['enabled']:,}", _percent(r["opt_in"]), f"{r['sent']:,}", f"{r['measured_after']:,}",
                  _percent(r["measured_after_share"]), f"{r['skipped_measured']:,}", f"{r['blocked']:,}")
    out.print(table)

    if s.retention:
        weeks = sorted({row["week"] for row in s.retention})
        table = Table(title="Retention: share who measured in week N after registering (of those who reached it)")
        table.add_column("cohort (week of)")
        table.add_column("people", justify="right")
        for week in weeks:
            table.add_column(f"week {week}", justify="right")
        cohorts: dict[date, dict[int, dict]] = {}
        for row in s.retention:
            cohorts.setdefault(row["cohort"], {})[row["week"]] = row
        for cohort, by_week in sorted(cohorts.items()):
            size = next(iter(by_week.values()))["people"]
            table.add_row(cohort.isoformat(), f"{size:,}",
                          *(_percent(by_week[w]["share"]) if by_week[w]["eligible"] else "·" for w in weeks))
        out.print(table)

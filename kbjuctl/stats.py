"""The operators' statistics: the database's `kbju_stats_*` functions (sql/0043), which also feed the
users dashboard through postgres_exporter (monitoring/postgres-exporter/queries.yaml): one definition
of every number. Aggregates only; nothing here reads a person's row."""

from __future__ import annotations

from dataclasses import asdict, dataclass
from datetime import date, datetime, time
from zoneinfo import ZoneInfo

from kbjuctl.backup.db import connect

PEOPLE = "SELECT registered, active_7d, active_30d, reminders_enabled, blocked FROM kbju_stats_people(%(as_of)s)"
REGISTRATIONS = "SELECT period, registrations FROM kbju_stats_registrations(%(since_day)s, %(bucket)s, %(tz)s)"
SURVEY = "SELECT started, completed, abandoned, in_progress FROM kbju_stats_survey(%(since)s, %(as_of)s)"
ABANDONED = "SELECT step, left_it, went_silent FROM kbju_stats_survey_abandoned(%(since)s, %(as_of)s)"
CONSULTATION = "SELECT funnel_sent, consult_opened, opened_after_funnel FROM kbju_stats_consultation(%(since)s, " \
               "%(as_of)s)"
REMINDERS = "SELECT registered, enabled, sent, measured_after, skipped_measured, blocked " \
            "FROM kbju_stats_reminders(%(since)s, %(as_of)s)"
RETENTION = "SELECT cohort, people, week, eligible, retained FROM kbju_stats_retention(%(since_day)s, %(weeks)s, " \
            "%(tz)s, %(as_of)s)"


def share(part: int, whole: int) -> float | None:
    """part / whole, None when whole is 0."""
    return round(part / whole, 4) if whole else None


@dataclass
class Stats:
    since: date
    timezone: str
    as_of: datetime
    people: dict[str, int]
    registrations_daily: list[dict]
    registrations_weekly: list[dict]
    survey: dict[str, int | float | None]
    survey_abandoned: list[dict]
    consultation: dict[str, int | float | None]
    reminders: dict[str, int | float | None]
    retention: list[dict]

    def to_json(self) -> dict:
        data = asdict(self)
        data["since"] = self.since.isoformat()
        data["as_of"] = self.as_of.isoformat()
        for key in ("registrations_daily", "registrations_weekly", "retention"):
            for row in data[key]:
                for name, value in row.items():
                    if isinstance(value, date):
                        row[name] = value.isoformat()
        return data


def collect(url: str, since: date, tz: str, weeks: int = 8, as_of: datetime | None = None) -> Stats:
    """Every figure from `since` (a day in `tz`) to `as_of` (default: now)."""
    zone = ZoneInfo(tz)
    as_of = as_of or datetime.now(zone)
    params = {"since_day": since, "since": datetime.combine(since, time(), zone), "as_of": as_of, "tz": tz,
              "weeks": weeks}
    with connect(url) as conn:
        def rows(query: str, **extra) -> list[dict]:
            cursor = conn.execute(query, {**params, **extra})
            names = [c.name for c in cursor.description]
            return [dict(zip(names, row, strict=True)) for row in cursor.fetchall()]

        people = rows(PEOPLE)[0]
        daily = rows(REGISTRATIONS, bucket="day")
        weekly = rows(REGISTRATIONS, bucket="week")
        survey = rows(SURVEY)[0]
        abandoned = rows(ABANDONED)
        consultation = rows(CONSULTATION)[0]
        reminders = rows(REMINDERS)[0]
        retention = rows(RETENTION)
    survey["completion"] = share(survey["completed"], survey["started"])
    consultation["conversion"] = share(consultation["opened_after_funnel"], consultation["funnel_sent"])
    reminders["opt_in"] = share(reminders["enabled"], reminders["registered"])
    reminders["measured_after_share"] = share(reminders["measured_after"], reminders["sent"])
    for row in retention:
        row["share"] = share(row["retained"], row["eligible"])
    return Stats(since, tz, as_of, people, [{"day": r["period"], "registrations": r["registrations"]} for r in daily],
                 [{"week": r["period"], "registrations": r["registrations"]} for r in weekly], survey, abandoned,
                 consultation, reminders, retention)

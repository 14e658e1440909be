"""A person's statistics for «Прогресс»: weekly averages, the trend per week, the pace toward the goal.

Weeks are calendar weeks, Monday first. The trend of a value is the least-squares slope of its
weekly averages against the weeks' starts, per 7 days, so a week with three measurements counts
once, like a week with one. The pace compares the weight's trend, as a share of the current
weight per week, with what suits the goal:

- lean (сушка): losing 0.5-1 % of body weight a week keeps muscle; faster risks it, slower is
  slow, a waist going down while the weight stands is fat loss all the same;
- athletic (набор): gaining 0.1-0.5 % a week is mostly muscle; faster is mostly fat;
- healthy (форма): within ±0.25 % a week is holding the weight.
"""

from __future__ import annotations

import datetime as dt
from collections.abc import Sequence
from dataclasses import dataclass
from enum import StrEnum

from bot.domain import choices

MIN_WEEKS_FOR_TREND = 2
# Percent of body weight per week.
LEAN_FASTEST, LEAN_SLOWEST = -1.0, -0.5
ATHLETIC_SLOWEST, ATHLETIC_FASTEST = 0.1, 0.5
HEALTHY_BAND = 0.25
STANDING = 0.1  # |weight trend| below this is "the weight stands"
WAIST_FALLING_CM = -0.25  # cm a week: the waist is clearly going down


@dataclass(frozen=True, slots=True)
class Point:
    """One measurement as statistics see it."""

    date: dt.date
    weight: float
    waist: float
    body_fat: float | None


@dataclass(frozen=True, slots=True)
class Week:
    start: dt.date  # Monday
    count: int
    weight: float
    waist: float
    body_fat: float | None  # None: no measurement of the week had it


@dataclass(frozen=True, slots=True)
class Trend:
    """Change per week of each value (None: fewer than two weeks with it)."""

    weight: float | None
    waist: float | None
    body_fat: float | None


class Pace(StrEnum):
    TOO_FAST = "too_fast"
    ON_TRACK = "on_track"
    SLOW = "slow"
    STANDING = "standing"
    WRONG_WAY = "wrong_way"
    FAT_LOSS = "fat_loss"  # lean: the weight stands but the waist goes down
    LOSING = "losing"      # healthy: losing more than the band
    GAINING = "gaining"    # healthy: gaining more than the band
    UNKNOWN = "unknown"    # not enough weeks yet


def week_start(day: dt.date) -> dt.date:
    return day - dt.timedelta(days=day.weekday())


def _mean(values: Sequence[float]) -> float:
    return sum(values) / len(values)


def weekly(points: Sequence[Point]) -> list[Week]:
    """Averages per calendar week, oldest first."""
    by_week: dict[dt.date, list[Point]] = {}
    for point in points:
        by_week.setdefault(week_start(point.date), []).append(point)
    weeks = []
    for start in sorted(by_week):
        group = by_week[start]
        fats = [p.body_fat for p in group if p.body_fat is not None]
        weeks.append(Week(start, len(group), _mean([p.weight for p in group]), _mean([p.waist for p in group]),
                          _mean(fats) if fats else None))
    return weeks


def slope_per_week(series: Sequence[tuple[dt.date, float]]) -> float | None:
    """Least-squares slope of (day, value) pairs in units per 7 days; None for fewer than two days."""
    if len({day for day, _ in series}) < 2:
        return None
    origin = series[0][0]
    xs = [(day - origin).days / 7 for day, _ in series]
    ys = [value for _, value in series]
    mean_x, mean_y = _mean(xs), _mean(ys)
    spread = sum((x - mean_x) ** 2 for x in xs)
    return sum((x - mean_x) * (y - mean_y) for x, y in zip(xs, ys, strict=True)) / spread


def trend(weeks: Sequence[Week]) -> Trend:
    def of(values: list[tuple[dt.date, float]]) -> float | None:
        return slope_per_week(values) if len(values) >= MIN_WEEKS_FOR_TREND else None

    return Trend(of([(w.start, w.weight) for w in weeks]), of([(w.start, w.waist) for w in weeks]),
                 of([(w.start, w.body_fat) for w in weeks if w.body_fat is not None]))


def weight_percent_per_week(t: Trend, weight: float) -> float | None:
    return None if t.weight is None else 100 * t.weight / weight


def pace(goal: str | None, t: Trend, weight: float) -> Pace:
    """How the weight's trend suits the goal (any goal not lean or athletic counts as healthy)."""
    percent = weight_percent_per_week(t, weight)
    if percent is None:
        return Pace.UNKNOWN
    if goal == choices.LEAN:
        if percent < LEAN_FASTEST:
            return Pace.TOO_FAST
        if percent <= LEAN_SLOWEST:
            return Pace.ON_TRACK
        if percent <= -STANDING:
            return Pace.SLOW
        if t.waist is not None and t.waist <= WAIST_FALLING_CM:
            return Pace.FAT_LOSS
        return Pace.STANDING if percent < STANDING else Pace.WRONG_WAY
    if goal == choices.ATHLETIC:
        if percent > ATHLETIC_FASTEST:
            return Pace.TOO_FAST
        if percent >= ATHLETIC_SLOWEST:
            return Pace.ON_TRACK
        if percent > -STANDING:
            return Pace.STANDING
        return Pace.WRONG_WAY
    if percent < -HEALTHY_BAND:
        return Pace.LOSING
    if percent > HEALTHY_BAND:
        return Pace.GAINING
    return Pace.ON_TRACK

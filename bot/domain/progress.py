"""Comparing the first and the last measurement: the trend, the tone tier, the motivational message."""

from __future__ import annotations

import datetime as dt
from collections.abc import Sequence
from dataclasses import dataclass
from enum import StrEnum

from bot.domain import texts

WEIGHT_CHANGE_KG = 2.0  # |change| above this is "lost" / "gained"
WAIST_DROP_CM = 3.0  # with stable weight, a waist drop above this is praised as fat loss
NECK_DROP_CM = 2.0  # ... and so is a neck drop above this
SHORT_PERIOD_DAYS = 30
MEDIUM_PERIOD_DAYS = 90


@dataclass(frozen=True, slots=True)
class Measurement:
    """One dated record, as far as progress is concerned (the DB layer maps its rows to this)."""

    date: dt.date  # dt.: a field named `date` would shadow the type for get_type_hints
    weight: float
    waist: float
    neck: float
    hip: float | None = None


class Trend(StrEnum):
    LOST = "lost"
    GAINED = "gained"
    FAT_LOSS = "fat_loss"  # weight stable, waist or neck clearly smaller
    STABLE = "stable"


class Tier(StrEnum):
    SHORT = "short"  # ≤ 30 days
    MEDIUM = "medium"  # ≤ 90 days
    LONG = "long"  # > 90 days


def _change(first: float, last: float) -> float:
    # Typed values like 72.3 - 70.3 differ from 2.0 only by binary noise; compare the intended number.
    return round(last - first, 9)


def trend(first: Measurement, last: Measurement) -> Trend:
    """Weight change below −2 kg: lost; above +2 kg: gained; otherwise fat loss if the waist dropped
    by more than 3 cm or the neck by more than 2 cm, else stable. Exactly ±2 kg counts as stable."""
    weight_change = _change(first.weight, last.weight)
    if weight_change < -WEIGHT_CHANGE_KG:
        return Trend.LOST
    if weight_change > WEIGHT_CHANGE_KG:
        return Trend.GAINED
    if _change(last.waist, first.waist) > WAIST_DROP_CM or _change(last.neck, first.neck) > NECK_DROP_CM:
        return Trend.FAT_LOSS
    return Trend.STABLE


def tier(first: Measurement, last: Measurement) -> Tier:
    days = (last.date - first.date).days
    if days <= SHORT_PERIOD_DAYS:
        return Tier.SHORT
    if days <= MEDIUM_PERIOD_DAYS:
        return Tier.MEDIUM
    return Tier.LONG


def motivational_message(first: Measurement, last: Measurement) -> str:
    """The progress message comparing the earliest and the latest record (pass them in date order)."""
    return texts.progress_message(
        trend=trend(first, last),
        tier=tier(first, last),
        first_date=first.date,
        last_date=last.date,
        first_weight=first.weight,
        last_weight=last.weight,
        first_waist=first.waist,
        last_waist=last.waist,
        first_neck=first.neck,
        last_neck=last.neck,
    )


CHART_MAX_LABELS = 5  # "weight, date" labels that fit side by side on the chart (720 px, bot.chart_image)


def chart_label_indices(weights: Sequence[float], max_labels: int = CHART_MAX_LABELS) -> list[int]:
    """Which points of the weight chart carry their "weight, date" label.

    Every point while they fit side by side. A longer history (the old bot's data holds years of
    weekly measurements) would turn every label into one smear, so then: the first and the last,
    the lowest and the highest, and evenly spaced ones between, each at least half a spacing from
    the others.
    """
    n = len(weights)
    if n <= max_labels:
        return list(range(n))
    spacing = (n - 1) / (max_labels - 1)
    chosen = [0, n - 1]
    lowest = min(range(n), key=weights.__getitem__)
    highest = max(range(n), key=weights.__getitem__)
    evenly = [round(i * spacing) for i in range(1, max_labels - 1)]
    for index in (lowest, highest, *evenly):
        if len(chosen) < max_labels and all(abs(index - c) >= spacing / 2 for c in chosen):
            chosen.append(index)
    return sorted(chosen)

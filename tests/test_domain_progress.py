"""Progress: trend thresholds (exclusive), tone tiers by period, and what the message names."""

from __future__ import annotations

from datetime import date, timedelta
from itertools import pairwise

import pytest

from bot.domain.progress import (
    CHART_MAX_LABELS,
    Measurement,
    Tier,
    Trend,
    chart_label_indices,
    motivational_message,
    tier,
    trend,
)

START = date(2025, 1, 1)


def pair(weight=(80.0, 80.0), waist=(90.0, 90.0), neck=(40.0, 40.0), days=14):
    return (
        Measurement(START, weight[0], waist[0], neck[0]),
        Measurement(START + timedelta(days=days), weight[1], waist[1], neck[1]),
    )


@pytest.mark.parametrize(
    ("weight", "waist", "neck", "expected"),
    [
        ((80, 77.9), (90, 90), (40, 40), Trend.LOST),
        ((80, 78), (90, 90), (40, 40), Trend.STABLE),  # exactly −2 kg is not "below −2"
        ((32.2, 30.2), (90, 90), (40, 40), Trend.STABLE),  # 30.2 - 32.2 == -2.0000000000000036
        ((80, 80), (64.4, 61.4), (40, 40), Trend.STABLE),  # 64.4 - 61.4 == 3.000000000000007
        ((80, 82.1), (90, 90), (40, 40), Trend.GAINED),
        ((80, 82), (90, 90), (40, 40), Trend.STABLE),
        ((80, 81), (90, 86.9), (40, 40), Trend.FAT_LOSS),
        ((80, 79), (90, 87), (40, 40), Trend.STABLE),  # exactly 3 cm is not "over 3"
        ((80, 80), (90, 90), (40, 37.9), Trend.FAT_LOSS),
        ((80, 80), (90, 90), (40, 38), Trend.STABLE),
        ((80, 77), (90, 80), (40, 35), Trend.LOST),  # weight decides first
        ((80, 83), (90, 80), (40, 35), Trend.GAINED),
        ((80, 80), (90, 95), (40, 45), Trend.STABLE),  # growing girths are not praised
    ],
)
def test_trend(weight, waist, neck, expected):
    assert trend(*pair(weight, waist, neck)) == expected


@pytest.mark.parametrize(
    ("days", "expected"),
    [(0, Tier.SHORT), (1, Tier.SHORT), (30, Tier.SHORT), (31, Tier.MEDIUM), (90, Tier.MEDIUM),
     (91, Tier.LONG), (1300, Tier.LONG)],
)
def test_tier(days, expected):
    assert tier(*pair(days=days)) == expected


def test_message_names_period_and_numbers():
    first, last = pair(weight=(85, 82.5), waist=(95, 91), neck=(42, 41), days=73)
    message = motivational_message(first, last)
    assert "01.01.2025" in message and "15.03.2025" in message and "73 дня" in message
    assert "85 → 82,5 кг" in message and "−2,5 кг" in message and "−4 см" in message


def test_every_trend_and_tier_has_its_own_words():
    messages = set()
    for weight, waist, neck in [((80, 75), (90, 90), (40, 40)), ((80, 85), (90, 90), (40, 40)),
                                ((80, 80), (90, 85), (40, 40)), ((80, 80), (90, 90), (40, 40))]:
        for days in (10, 60, 400):
            first, last = pair(weight, waist, neck, days=days)
            messages.add(motivational_message(first, last).split("\n\n")[-1])
    assert len(messages) == 12


@pytest.mark.parametrize("n", [1, 2, CHART_MAX_LABELS])
def test_a_short_history_labels_every_point(n):
    assert chart_label_indices([80.0 + i for i in range(n)]) == list(range(n))


@pytest.mark.parametrize("weights", [
    [90 - i * 0.05 for i in range(188)],  # 3.5 years of weekly measurements
    [80.0] * 40 + [70.0] + [80.0] * 40,  # the lowest in the middle
    [80.0, 70.0] + [75.0] * 60 + [90.0, 80.0],  # extremes beside the ends
    [float(i % 7) for i in range(10)],
])
def test_a_long_history_labels_ends_extremes_and_evenly_spaced_points_that_do_not_crowd(weights):
    # Every point labelled made a smear of overlapping text once a history grew past ~10 points.
    chosen = chart_label_indices(weights)
    n = len(weights)
    step = (n - 1) / (CHART_MAX_LABELS - 1)
    assert chosen == sorted(set(chosen)) and len(chosen) <= CHART_MAX_LABELS
    assert chosen[0] == 0 and chosen[-1] == n - 1
    assert all(b - a >= step / 2 for a, b in pairwise(chosen))
    for extreme in (weights.index(min(weights)), weights.index(max(weights))):
        assert extreme in chosen or min(abs(extreme - c) for c in chosen) < step / 2

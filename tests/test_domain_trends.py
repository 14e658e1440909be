"""A person's weekly averages, trends and pace toward the goal, on measurements with known answers."""

from __future__ import annotations

from datetime import date

import pytest

from bot.domain import choices, texts
from bot.domain.trends import Pace, Point, Trend, Week, pace, slope_per_week, trend, weekly

# Three calendar weeks: two measurements in the first, one without body fat in the second.
POINTS = [Point(date(2026, 11, 2), 90, 100, 30), Point(date(2026, 11, 5), 89, 99, 29),
          Point(date(2026, 11, 9), 89, 99, None), Point(date(2026, 11, 19), 88, 98, 28.5)]


def test_weekly_averages_per_calendar_week():
    assert weekly(POINTS) == [Week(date(2026, 11, 2), 2, 89.5, 99.5, 29.5), Week(date(2026, 11, 9), 1, 89, 99, None),
                              Week(date(2026, 11, 16), 1, 88, 98, 28.5)]


def test_the_trend_is_the_slope_of_the_weekly_averages_per_week():
    t = trend(weekly(POINTS))
    # weight 89.5, 89, 88 at weeks 0, 1, 2: slope -1.5 / 2 = -0.75 kg a week; body fat only in weeks 0
    # and 2: 29.5 → 28.5, -0.5 % a week.
    assert t == Trend(pytest.approx(-0.75), pytest.approx(-0.75), pytest.approx(-0.5))
    assert slope_per_week([(date(2026, 1, 1), 80.0), (date(2026, 1, 15), 79.0)]) == pytest.approx(-0.5)
    assert slope_per_week([(date(2026, 1, 1), 80.0)]) is None
    assert trend(weekly(POINTS[:2])) == Trend(None, None, None)  # one week: no trend yet


def test_the_pace_toward_each_goal():
    # -0.75 kg a week at 88 kg is -0.85 % a week.
    t = trend(weekly(POINTS))
    assert pace(choices.LEAN, t, 88) is Pace.ON_TRACK
    assert pace(choices.ATHLETIC, t, 88) is Pace.WRONG_WAY
    assert pace(choices.HEALTHY, t, 88) is Pace.LOSING
    assert pace(None, t, 88) is Pace.LOSING  # an imported record's unknown goal counts as healthy


@pytest.mark.parametrize(("goal", "percent", "waist", "expected"), [
    (choices.LEAN, -1.2, None, Pace.TOO_FAST), (choices.LEAN, -1.0, None, Pace.ON_TRACK),
    (choices.LEAN, -0.5, None, Pace.ON_TRACK), (choices.LEAN, -0.3, None, Pace.SLOW),
    (choices.LEAN, 0.0, -0.5, Pace.FAT_LOSS), (choices.LEAN, 0.0, 0.0, Pace.STANDING),
    (choices.LEAN, 0.3, None, Pace.WRONG_WAY),
    (choices.ATHLETIC, 0.8, None, Pace.TOO_FAST), (choices.ATHLETIC, 0.3, None, Pace.ON_TRACK),
    (choices.ATHLETIC, 0.05, None, Pace.STANDING), (choices.ATHLETIC, -0.3, None, Pace.WRONG_WAY),
    (choices.HEALTHY, 0.2, None, Pace.ON_TRACK), (choices.HEALTHY, -0.2, None, Pace.ON_TRACK),
    (choices.HEALTHY, 0.4, None, Pace.GAINING), (choices.HEALTHY, -0.4, None, Pace.LOSING),
])
def test_pace_bands(goal, percent, waist, expected):
    assert pace(goal, Trend(percent, waist, None), 100.0) is expected  # at 100 kg, kg a week = % a week


def test_no_trend_no_pace_and_the_words_say_so():
    assert pace(choices.LEAN, Trend(None, None, None), 80) is Pace.UNKNOWN
    assert texts.pace_line("unknown", choices.LEAN, None, None) == texts.PACE_UNKNOWN


def test_the_pace_in_plain_words():
    line = texts.pace_line(Pace.ON_TRACK.value, choices.LEAN, -0.75, -0.852)
    assert line.startswith("Вы худеете на 0,8 кг в неделю (0,9% веса)") and "идеальный темп" in line
    assert "набираете 0,3 кг" in texts.pace_line(Pace.ON_TRACK.value, choices.ATHLETIC, 0.3, 0.4)
    for p in Pace:
        for goal in (choices.LEAN, choices.ATHLETIC, choices.HEALTHY):
            assert texts.pace_line(p.value, goal, -0.5, -0.6)  # every combination says something

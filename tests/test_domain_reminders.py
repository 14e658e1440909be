"""Reminder slots in local time, quiet hours, the spread over the hour, and the fate of a due reminder."""

from __future__ import annotations

from datetime import date, datetime, timedelta
from zoneinfo import ZoneInfo

import pytest

from bot.domain.reminders import (
    MAX_LATE,
    Decision,
    InvalidQuietHours,
    QuietHours,
    already_measured,
    decide,
    due_at,
    next_slot,
    spread_seconds,
)

MSK = ZoneInfo("Europe/Moscow")
YEK = ZoneInfo("Asia/Yekaterinburg")
UTC = ZoneInfo("UTC")
QUIET = QuietHours.parse("22-8")


def test_quiet_hours_wrap_past_midnight_and_leave_the_day_to_choose_from():
    assert QuietHours(22, 8) == QUIET
    assert [h for h in range(24) if h in QUIET] == [0, 1, 2, 3, 4, 5, 6, 7, 22, 23]
    assert QUIET.allowed_hours() == list(range(8, 22))
    assert QuietHours.parse(" 23:00 - 07:00 ") == QuietHours(23, 7)
    assert QuietHours.parse("1-6").allowed_hours() == [0, *range(6, 24)]
    assert QuietHours.parse("0-0").allowed_hours() == list(range(24))  # no quiet hours
    assert QuietHours.parse("22-24") == QuietHours(22, 0)


@pytest.mark.parametrize("text", ["", "22", "22-", "a-b", "25-8", "22-8-1", "-1-8", "22.5-8"])
def test_quiet_hours_that_do_not_parse(text):
    with pytest.raises(InvalidQuietHours):
        QuietHours.parse(text)


def test_the_next_slot_is_the_chosen_weekday_and_local_hour_strictly_after_now():
    monday_8 = datetime(2026, 12, 7, 8, 0, tzinfo=MSK)  # a Monday
    assert next_slot(monday_8, 0, 9, MSK) == datetime(2026, 12, 7, 9, 0, tzinfo=MSK)
    assert next_slot(datetime(2026, 12, 7, 9, 0, tzinfo=MSK), 0, 9, MSK) == datetime(2026, 12, 14, 9, 0, tzinfo=MSK)
    assert next_slot(datetime(2026, 12, 7, 9, 30, tzinfo=MSK), 0, 9, MSK) == datetime(2026, 12, 14, 9, tzinfo=MSK)
    assert next_slot(monday_8, 2, 19, MSK) == datetime(2026, 12, 9, 19, 0, tzinfo=MSK)  # Wednesday
    assert next_slot(monday_8, 6, 10, MSK) == datetime(2026, 12, 13, 10, 0, tzinfo=MSK)  # Sunday
    # The person's zone decides: Monday 9:00 in Yekaterinburg is 04:00 UTC, while it is already
    # Monday 08:00 in Moscow (05:00 UTC): that slot has passed.
    slot = next_slot(monday_8, 0, 9, YEK)
    assert slot == datetime(2026, 12, 14, 9, 0, tzinfo=YEK)
    assert slot.astimezone(UTC) == datetime(2026, 12, 14, 4, 0, tzinfo=UTC)


def test_a_slot_across_a_daylight_saving_change_keeps_its_local_hour():
    berlin = ZoneInfo("Europe/Berlin")
    before = datetime(2026, 3, 27, 12, 0, tzinfo=berlin)  # Friday before the clocks go forward on Sunday
    sunday = next_slot(before, 6, 9, berlin)
    assert (sunday.astimezone(berlin).hour, sunday.astimezone(berlin).date()) == (9, date(2026, 3, 29))
    assert sunday.utcoffset() == timedelta(hours=2)
    assert next_slot(sunday, 6, 9, berlin).astimezone(berlin).hour == 9


def test_reminders_of_one_hour_are_spread_over_it_the_same_minute_every_week():
    seconds = [spread_seconds(telegram_id) for telegram_id in range(1, 3601)]
    assert all(0 <= s < 3600 for s in seconds)
    assert len(set(seconds)) == 3600  # 3600 consecutive ids: every second of the hour once
    slot = datetime(2026, 12, 7, 9, 0, tzinfo=MSK)
    assert slot <= due_at(slot, 123456789) < slot + timedelta(hours=1)
    assert due_at(slot + timedelta(days=7), 123456789) - due_at(slot, 123456789) == timedelta(days=7)


def test_measured_within_the_reminders_week():
    monday = date(2026, 12, 7)
    assert already_measured(date(2026, 12, 1), monday)  # last Tuesday: 6 days before
    assert not already_measured(date(2026, 11, 30), monday)  # last Monday: a week ago
    assert already_measured(monday, monday) and already_measured(date(2026, 12, 8), monday)
    assert not already_measured(None, monday)


def test_what_becomes_of_a_due_reminder():
    slot = datetime(2026, 12, 7, 21, 0, tzinfo=MSK)
    at = slot + timedelta(minutes=30)
    assert decide(at, slot, MSK, QUIET, None, blocked=False) is Decision.SEND
    assert decide(at, slot, MSK, QUIET, date(2026, 12, 1), blocked=False) is Decision.MEASURED
    assert decide(at, slot, MSK, QUIET, date(2026, 11, 30), blocked=False) is Decision.SEND
    assert decide(at, slot, MSK, QUIET, None, blocked=True) is Decision.BLOCKED
    assert decide(slot + timedelta(minutes=70), slot, MSK, QUIET, None, blocked=False) is Decision.QUIET  # 22:10
    assert decide(slot + MAX_LATE + timedelta(seconds=1), slot, MSK, QUIET, None, blocked=False) is Decision.MISSED
    # The quiet hours are the person's: 21:30 in Moscow is 23:30 in Yekaterinburg.
    yek_slot = datetime(2026, 12, 7, 23, 0, tzinfo=YEK)
    assert decide(yek_slot + timedelta(minutes=30), yek_slot, YEK, QUIET, None, blocked=False) is Decision.QUIET

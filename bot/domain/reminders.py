"""Weekly reminders: slots in a person's local time, quiet hours, and what to do with a due reminder.

A person picks a weekday and an hour in a zone. A slot is the start of that local hour on that
weekday; the reminder goes out at a fixed minute of the hour that depends on the person only
(`spread_seconds`), so that many people who chose 09:00 are spread over 09:00-10:00 instead of
all being due in the same second (Telegram takes about 30 bulk messages a second from a bot:
100,000 reminders need at least 56 minutes whatever the bot does). Pure: no clock of its own,
every moment is passed in.
"""

from __future__ import annotations

import re
from dataclasses import dataclass
from datetime import date, datetime, time, timedelta
from enum import StrEnum
from zoneinfo import ZoneInfo

WEEK = timedelta(days=7)
SLOT = timedelta(hours=1)
# A reminder not sent within this long after its slot began (the bot was down, or a backlog grew)
# is dropped for this week rather than sent at an hour nobody chose.
MAX_LATE = timedelta(hours=2)
# A measurement in the 6 days before the reminder's day, or on that day, makes it unnecessary.
MEASURED_WITHIN_DAYS = 7
_SPREAD_MULTIPLIER = 2654435761  # Knuth's multiplicative hash: consecutive ids land far apart


class InvalidQuietHours(ValueError):
    pass


@dataclass(frozen=True, slots=True)
class QuietHours:
    """Local hours [start, end) during which no reminder is sent; start > end wraps past midnight
    (22-8 is 22:00 to 08:00); start == end means none."""

    start: int
    end: int

    @classmethod
    def parse(cls, text: str) -> QuietHours:
        """"22-8" (or "22:00-08:00"); InvalidQuietHours otherwise."""
        match = re.fullmatch(r"\s*(\d{1,2})(?::00)?\s*-\s*(\d{1,2})(?::00)?\s*", text or "")
        if not match:
            raise InvalidQuietHours("expected two hours like 22-8 (from 22:00 to 08:00)")
        start, end = int(match[1]), int(match[2])
        if not (0 <= start <= 24 and 0 <= end <= 24):
            raise InvalidQuietHours("hours must be between 0 and 24")
        return cls(start % 24, end % 24)

    def __contains__(self, hour: int) -> bool:
        if self.start == self.end:
            return False
        if self.start < self.end:
            return self.start <= hour < self.end
        return hour >= self.start or hour < self.end

    def allowed_hours(self) -> list[int]:
        """The hours a reminder may be set for: every hour of which is outside the quiet hours."""
        return [hour for hour in range(24) if hour not in self]


def slot_start(day: date, hour: int, tz: ZoneInfo) -> datetime:
    """The moment `hour`:00 begins on `day` in `tz` (for a wall time skipped by a DST jump, the
    moment just after it)."""
    return datetime.combine(day, time(hour), tzinfo=tz)


def next_slot(after: datetime, weekday: int, hour: int, tz: ZoneInfo) -> datetime:
    """The first slot (weekday 0 = Monday, local hour) that begins strictly after `after`."""
    local = after.astimezone(tz)
    day = local.date() + timedelta(days=(weekday - local.weekday()) % 7)
    slot = slot_start(day, hour, tz)
    while slot <= after:
        day += WEEK
        slot = slot_start(day, hour, tz)
    return slot


def spread_seconds(telegram_id: int) -> int:
    """This person's second within the slot's hour, the same every week: 0..3599."""
    return (telegram_id * _SPREAD_MULTIPLIER) % int(SLOT.total_seconds())


def due_at(slot: datetime, telegram_id: int) -> datetime:
    return slot + timedelta(seconds=spread_seconds(telegram_id))


def already_measured(last_measured: date | None, slot_day: date) -> bool:
    """True when the latest measurement is from the reminder's week: the 6 days before its day,
    that day, or later."""
    return last_measured is not None and last_measured > slot_day - timedelta(days=MEASURED_WITHIN_DAYS)


class Decision(StrEnum):
    """What becomes of a due reminder (the values are reminder_sends.outcome)."""

    SEND = "sending"
    MEASURED = "measured"  # measured this week already
    QUIET = "quiet"        # it would arrive in the quiet hours
    MISSED = "missed"      # more than MAX_LATE after its slot began
    BLOCKED = "blocked"    # the person blocked the bot


def decide(now: datetime, slot: datetime, tz: ZoneInfo, quiet: QuietHours, last_measured: date | None,
           blocked: bool) -> Decision:
    if blocked:
        return Decision.BLOCKED
    if now - slot > MAX_LATE:
        return Decision.MISSED
    if now.astimezone(tz).hour in quiet:
        return Decision.QUIET
    if already_measured(last_measured, slot.astimezone(tz).date()):
        return Decision.MEASURED
    return Decision.SEND

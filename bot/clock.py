"""The bot's calendar: which day it is in BOT_TIMEZONE, the day a record belongs to.

A running bot owns one Clock (bot.runtime.BotContext). Only the local sandbox moves it
(`:date 2026-11-01` in its terminal), so that measurements can be made on several days in a
minute; a deployed bot has no setting or command that does.
"""

from __future__ import annotations

from dataclasses import dataclass, field
from datetime import date, datetime, time, timedelta
from zoneinfo import ZoneInfo


@dataclass
class Clock:
    tz: ZoneInfo
    shift: timedelta = field(default=timedelta(0))  # added to the real time; zero outside the sandbox

    def now(self) -> datetime:
        return datetime.now(self.tz) + self.shift

    def today(self) -> date:
        return self.now().date()

    def move_to(self, day: date, at: time | None = None) -> None:
        """Make `day` today (the time of day keeps running), or with `at` that moment of it (the
        clock runs on from there); the real date undoes it."""
        real_now = datetime.now(self.tz)
        if at is None:
            self.shift = timedelta(days=(day - real_now.date()).days)
        else:
            self.shift = datetime.combine(day, at, tzinfo=self.tz) - real_now

    def reset(self) -> None:
        self.shift = timedelta(0)

    @property
    def moved(self) -> bool:
        return self.shift != timedelta(0)

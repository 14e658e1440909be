"""The DEV bot's SQLite schema, as SQLAlchemy 1.4's `create_all()` wrote it (the text, byte for byte:
one TAB before each column, ", " at the end of each line), and the formulas whose quirks its rows carry."""

from __future__ import annotations

import math

DDL = (
    "CREATE TABLE users (\n"
    "\ttelegram_id INTEGER NOT NULL, \n"
    "\tusername VARCHAR, \n"
    "\tfirst_name VARCHAR, \n"
    "\tlast_name VARCHAR, \n"
    "\tsex VARCHAR, \n"
    "\tdate_of_birth DATE, \n"
    "\tcreated_at DATETIME, \n"
    "\tPRIMARY KEY (telegram_id)\n"
    ")",
    "CREATE INDEX ix_users_telegram_id ON users (telegram_id)",
    "CREATE TABLE user_records (\n"
    "\tid INTEGER NOT NULL, \n"
    "\ttelegram_id INTEGER, \n"
    "\tdate DATE, \n"
    "\tweight FLOAT, \n"
    "\twaist FLOAT, \n"
    "\tneck FLOAT, \n"
    "\thip FLOAT, \n"
    "\theight INTEGER, \n"
    "\tgoal VARCHAR, \n"
    "\tsteps VARCHAR, \n"
    "\tsport_type VARCHAR, \n"
    "\tsport_freq VARCHAR, \n"
    "\tstep_multiplier FLOAT, \n"
    "\tbodyfat FLOAT, \n"
    "\tPRIMARY KEY (id), \n"
    "\tFOREIGN KEY(telegram_id) REFERENCES users (telegram_id)\n"
    ")",
    "CREATE INDEX ix_user_records_id ON user_records (id)",
    "CREATE TABLE user_food_preferences (\n"
    "\tid INTEGER NOT NULL, \n"
    "\ttelegram_id INTEGER, \n"
    "\tlikes_raw TEXT, \n"
    "\tdislikes_raw TEXT, \n"
    "\tcreated_at DATETIME, \n"
    "\tPRIMARY KEY (id), \n"
    "\tFOREIGN KEY(telegram_id) REFERENCES users (telegram_id)\n"
    ")",
    "CREATE INDEX ix_user_food_preferences_id ON user_food_preferences (id)",
)

# The survey's button codes as stored, and the measurement flow's (only the first number of the
# range; "daily" untranslated). The survey translated only "daily" (to Ежедневно).
SURVEY_STEPS = ("0-3000", "3000-5000", "5000-8000", "8000-10000", "10000-plus")
MEASURE_STEPS = ("0", "3000", "5000", "8000", "10000")
SURVEY_FREQ = ("1", "3", "5", "Ежедневно")
MEASURE_FREQ = ("1", "3", "5", "daily")
SPORTS = ("none", "walking", "running", "strength", "yoga", "swimming", "cycling", "team")
GOALS = ("healthy", "athletic", "lean")
BOT_GOAL, BOT_HEIGHT = "maintain", 170  # what the main branch's bot-id rows always carry


def step_multiplier(steps: str) -> float:
    """The DEV lookup: an exact match on the range text, so `10000-plus` (the survey's own spelling)
    and every measurement-flow spelling fall through to 1.1; 1.5 never occurs."""
    return {"10000+": 1.5, "8000-10000": 1.4, "5000-8000": 1.3, "3000-5000": 1.2}.get(steps, 1.1)


class ImpossibleBody(ValueError):
    """Measurements the DEV code crashed on (a logarithm of zero or less): nothing was saved."""


def dev_body_fat(sex: str, height: float, waist: float, neck: float, hip: float | None) -> float:
    """US Navy body fat with its inch constants applied to centimetres, clamped to 0-100 and
    rounded to 0.1 by Python's round(), exactly as the DEV bot computed and stored it."""
    if sex == "female":
        span = waist + (hip or 0.0) - neck
        if span <= 0:
            raise ImpossibleBody
        value = 163.205 * math.log10(span) - 97.684 * math.log10(height) - 78.387
    else:
        if waist - neck <= 0:
            raise ImpossibleBody
        value = 86.010 * math.log10(waist - neck) - 70.041 * math.log10(height) + 36.76
    return round(min(100.0, max(0.0, value)), 1)

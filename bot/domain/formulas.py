"""The numbers of spec section 2: body fat (US Navy), daily KBJU (Katch-McArdle), age."""

from __future__ import annotations

import math
from dataclasses import dataclass
from datetime import date

from bot.domain import DomainError, choices, texts

LEAN_MIN_BODY_FAT = 7.0  # percent; "lean" is refused below this
BODY_FAT_MIN, BODY_FAT_MAX = 0.0, 100.0  # percent; the formula's result is clamped to this


class ImpossibleMeasurements(DomainError):
    """Waist ≤ neck (men) or waist + hip ≤ neck (women): the formula's logarithm is undefined."""


class LeanGoalRefused(DomainError):
    """The "lean" goal was chosen with body fat below LEAN_MIN_BODY_FAT."""

    def __init__(self, body_fat: float) -> None:
        super().__init__(texts.lean_refused(body_fat, LEAN_MIN_BODY_FAT))
        self.body_fat = body_fat


@dataclass(frozen=True, slots=True)
class Targets:
    """Daily targets, each a whole number."""

    calories: int
    protein_g: int
    fat_g: int
    carbs_g: int


def body_fat_percent(
    sex: str, height_cm: float, waist_cm: float, neck_cm: float, hip_cm: float | None = None
) -> float:
    """Body fat % by the US Navy formula exactly as the DEV bot computed it.

    The constants are the formula's inch version applied to centimetres (DEV's choice, kept so that
    every stored value recomputes); the result is clamped to 0–100 and rounded with round(x, 1).
    Raises ImpossibleMeasurements when the logarithm's argument is not positive, and ValueError for
    an unknown sex, a woman without hip, or a non-positive height (programming errors: validation
    never lets those through).
    """
    if not height_cm > 0:
        raise ValueError(f"height must be positive, got {height_cm!r}")
    if sex == choices.MALE:
        girth = waist_cm - neck_cm
        if not girth > 0:
            raise ImpossibleMeasurements(texts.IMPOSSIBLE_MEASUREMENTS_MALE)
        value = 86.010 * math.log10(girth) - 70.041 * math.log10(height_cm) + 36.76
    elif sex == choices.FEMALE:
        if hip_cm is None:
            raise ValueError("hip is required for women")
        girth = waist_cm + hip_cm - neck_cm
        if not girth > 0:
            raise ImpossibleMeasurements(texts.IMPOSSIBLE_MEASUREMENTS_FEMALE)
        value = 163.205 * math.log10(girth) - 97.684 * math.log10(height_cm) - 78.387
    else:
        raise ValueError(f"unknown sex {sex!r}")
    return round(min(BODY_FAT_MAX, max(BODY_FAT_MIN, value)), 1)


def check_goal_allowed(goal: str | None, body_fat: float) -> None:
    """Raise LeanGoalRefused for "lean" below 7 % body fat (7.0 itself is allowed)."""
    if goal == choices.LEAN and body_fat < LEAN_MIN_BODY_FAT:
        raise LeanGoalRefused(body_fat)


def daily_targets(
    weight_kg: float,
    body_fat: float,
    steps: str | None,
    sport_type: str | None,
    goal: str | None,
) -> Targets:
    """Daily calories and macros for a record (pass the body fat already rounded to 0.1).

    Every intermediate value stays unrounded; only the four results are rounded (Python's round),
    which is the reading that reproduces the spec's worked example (2792 kcal, 187/78/336 g):
    rounding kcal or fat first would give 337 or 335 g of carbohydrates.
    Codes outside the domains fall back as in DEV: steps → 1.1, sport → 0 kcal, goal → factor 1.00
    (so an imported NULL or DEV's "maintain" still gets numbers). Raises LeanGoalRefused.
    """
    check_goal_allowed(goal, body_fat)
    lean_mass = weight_kg * (1 - body_fat / 100)
    bmr = 370 + 21.6 * lean_mass
    multiplier = choices.STEP_MULTIPLIERS.get(steps or "", choices.DEFAULT_STEP_MULTIPLIER)
    tdee = bmr * multiplier + choices.SPORT_KCAL.get(sport_type or "", 0)
    calories = tdee * choices.GOAL_FACTORS.get(goal or "", choices.DEFAULT_GOAL_FACTOR)
    protein = min(2.2 * weight_kg, 0.30 * calories / 4)
    fat = 0.25 * calories / 9
    carbs = max(100.0, (calories - 4 * protein - 9 * fat) / 4)
    return Targets(round(calories), round(protein), round(fat), round(carbs))


def age_years(birth_date: date, today: date) -> int:
    """Completed years on `today` (someone born on 29 February turns a year older on 1 March)."""
    before_birthday = (today.month, today.day) < (birth_date.month, birth_date.day)
    return today.year - birth_date.year - before_birthday

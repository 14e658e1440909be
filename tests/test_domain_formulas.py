"""Body fat, daily KBJU, the lean refusal and age against the spec (section 2), incl. its worked example."""

from __future__ import annotations

import itertools
import math
from datetime import date

import pytest

from bot.domain import DomainError
from bot.domain.formulas import (
    LEAN_MIN_BODY_FAT,
    ImpossibleMeasurements,
    LeanGoalRefused,
    Targets,
    age_years,
    body_fat_percent,
    check_goal_allowed,
    daily_targets,
)

# --- A second implementation, written naively from the spec's text -----------------------------------

SPEC_STEPS = {"0-3000": 1.1, "3000-5000": 1.2, "5000-8000": 1.3, "8000-10000": 1.4, "10000+": 1.5}
SPEC_SPORT = {
    "none": 0, "walking": 200, "running": 400, "strength": 600,
    "yoga": 200, "swimming": 400, "cycling": 300, "team": 500,
}
SPEC_GOAL = {"healthy": 1.00, "athletic": 1.05, "lean": 0.90}


def spec_body_fat(sex, height, waist, neck, hip):
    if sex == "male":
        value = 86.010 * math.log10(waist - neck) - 70.041 * math.log10(height) + 36.76
    else:
        value = 163.205 * math.log10(waist + hip - neck) - 97.684 * math.log10(height) - 78.387
    if value < 0:
        value = 0.0
    if value > 100:
        value = 100.0
    return round(value, 1)


def spec_kbju(weight, bodyfat, steps, sport, goal):
    lbm = weight * (1 - bodyfat / 100)
    bmr = 370 + 21.6 * lbm
    tdee = bmr * SPEC_STEPS[steps] + SPEC_SPORT[sport]
    kcal = tdee * SPEC_GOAL.get(goal, 1.00)
    protein = min(2.2 * weight, 0.30 * kcal / 4)
    fat = 0.25 * kcal / 9
    carbs = max(100, (kcal - 4 * protein - 9 * fat) / 4)
    return round(kcal), round(protein), round(fat), round(carbs)


# --- The worked example ---------------------------------------------------------------------------------


def test_worked_example_exactly():
    body_fat = body_fat_percent("male", 180, 95, 42)
    assert body_fat == 27.1
    assert daily_targets(85, body_fat, "8000-10000", "running", "healthy") == Targets(2792, 187, 78, 336)


def test_worked_example_needs_unrounded_intermediates():
    # Documents why daily_targets rounds only the results: the other readings miss the spec's 336 g.
    kcal = (370 + 21.6 * 85 * (1 - 0.271)) * 1.4 + 400
    protein, fat = min(2.2 * 85, 0.30 * kcal / 4), 0.25 * kcal / 9
    assert round((kcal - 4 * protein - 9 * fat) / 4) == 336
    assert round((kcal - 4 * round(protein) - 9 * round(fat)) / 4) == 335
    assert round((round(kcal) - 4 * protein - 9 * fat) / 4) == 337


# --- Grid against the naive implementation ---------------------------------------------------------------


def test_grid_matches_the_spec():
    heights = (100, 150, 172, 180, 250)
    waists = (50, 63.5, 80, 95, 120, 200)
    necks = (20, 33.3, 42, 100)
    hips = (50, 98, 200)
    weights = (30, 64.2, 85, 300)
    checked = impossible = refused = 0
    for sex in ("male", "female"):
        for height, waist, neck, hip in itertools.product(heights, waists, necks, hips if sex == "female" else (None,)):
            girth = waist - neck if sex == "male" else waist + hip - neck
            if girth <= 0:
                with pytest.raises(ImpossibleMeasurements):
                    body_fat_percent(sex, height, waist, neck, hip)
                impossible += 1
                continue
            body_fat = body_fat_percent(sex, height, waist, neck, hip)
            assert body_fat == spec_body_fat(sex, height, waist, neck, hip), (sex, height, waist, neck, hip)
            for weight, steps, sport, goal in itertools.product(weights, SPEC_STEPS, SPEC_SPORT, SPEC_GOAL):
                if goal == "lean" and body_fat < 7:
                    with pytest.raises(LeanGoalRefused):
                        daily_targets(weight, body_fat, steps, sport, goal)
                    refused += 1
                    continue
                got = daily_targets(weight, body_fat, steps, sport, goal)
                assert tuple(vars_of(got)) == spec_kbju(weight, body_fat, steps, sport, goal), (
                    weight, body_fat, steps, sport, goal,
                )
                checked += 1
    assert checked > 10_000 and impossible > 0 and refused > 0


def vars_of(targets: Targets) -> tuple[int, int, int, int]:
    return targets.calories, targets.protein_g, targets.fat_g, targets.carbs_g


def test_results_are_whole_numbers():
    targets = daily_targets(64.2, 31.4, "0-3000", "yoga", "athletic")
    assert all(type(value) is int for value in vars_of(targets))


def test_carbs_floor_of_100_g():
    # A tiny person with a deficit: the formula would give fewer than 100 g of carbohydrates.
    targets = daily_targets(30, 60.0, "0-3000", "none", "lean")
    assert targets.carbs_g == 100
    assert spec_kbju(30, 60.0, "0-3000", "none", "lean")[3] == 100


def test_protein_capped_by_share_of_calories():
    # Heavy and sedentary: 2.2 g/kg (660 g) would exceed 30 % of the calories.
    kcal = (370 + 21.6 * 300 * 0.4) * 1.1
    targets = daily_targets(300, 60.0, "0-3000", "none", "healthy")
    assert targets.calories == round(kcal) == 3258
    assert targets.protein_g == round(0.30 * kcal / 4) == 244


def test_ten_thousand_plus_steps_use_1_5():
    low = daily_targets(80, 20.0, "8000-10000", "none", "healthy").calories
    high = daily_targets(80, 20.0, "10000+", "none", "healthy").calories
    bmr = 370 + 21.6 * 80 * 0.8
    assert high == round(bmr * 1.5) and low == round(bmr * 1.4)


def test_unknown_codes_fall_back_like_dev():
    reference = daily_targets(80, 20.0, "0-3000", "none", "healthy")
    assert daily_targets(80, 20.0, "10000-plus", "none", "healthy") == reference  # DEV's 1.1
    assert daily_targets(80, 20.0, None, None, None) == reference
    assert daily_targets(80, 20.0, "0-3000", "chess", "maintain") == reference


# --- Body fat edge cases -------------------------------------------------------------------------------


def test_clamped_to_zero():
    # Tall, thin waist, thick neck: the formula goes negative.
    assert spec_body_fat("male", 250, 50, 45, None) == 0.0
    assert body_fat_percent("male", 250, 50, 45) == 0.0
    assert body_fat_percent("female", 250, 50, 100, 50.5) == 0.0


def test_clamped_to_hundred():
    assert body_fat_percent("female", 100, 200, 20, 200) == 100.0
    assert body_fat_percent("male", 100, 200, 20) < 100  # the men's formula stays below at these bounds
    assert body_fat_percent("male", 1, 200, 20) == 100.0


def test_rounded_to_one_decimal_with_round():
    value = body_fat_percent("female", 165, 70, 32, 96)
    raw = 163.205 * math.log10(70 + 96 - 32) - 97.684 * math.log10(165) - 78.387
    assert value == round(raw, 1)


@pytest.mark.parametrize(("waist", "neck"), [(42, 42), (40, 42), (50, 100)])
def test_impossible_measurements_male(waist, neck):
    with pytest.raises(ImpossibleMeasurements) as error:
        body_fat_percent("male", 180, waist, neck)
    assert isinstance(error.value, DomainError)
    assert "шеи" in error.value.message and "Проверьте" in error.value.message


@pytest.mark.parametrize(("waist", "hip", "neck"), [(50, 50, 100), (30, 20, 50)])
def test_impossible_measurements_female(waist, hip, neck):
    with pytest.raises(ImpossibleMeasurements) as error:
        body_fat_percent("female", 165, waist, neck, hip)
    assert "бёдер" in error.value.message


def test_programming_errors_are_value_errors():
    with pytest.raises(ValueError):
        body_fat_percent("female", 165, 70, 32)  # no hip
    with pytest.raises(ValueError):
        body_fat_percent("other", 165, 70, 32)
    with pytest.raises(ValueError):
        body_fat_percent("male", 0, 70, 32)


# --- Lean refusal ----------------------------------------------------------------------------------------


def test_lean_refused_below_seven():
    with pytest.raises(LeanGoalRefused) as error:
        check_goal_allowed("lean", 6.9)
    assert error.value.body_fat == 6.9
    assert "6,9%" in error.value.message and "7%" in error.value.message
    assert "Здоровое тело" in error.value.message  # suggests another goal
    with pytest.raises(LeanGoalRefused):
        daily_targets(70, 6.9, "5000-8000", "running", "lean")
    with pytest.raises(LeanGoalRefused):
        daily_targets(70, 0.0, "5000-8000", "running", "lean")


def test_lean_allowed_at_seven():
    assert LEAN_MIN_BODY_FAT == 7.0
    check_goal_allowed("lean", 7.0)
    assert daily_targets(70, 7.0, "5000-8000", "running", "lean") == Targets(
        *spec_kbju(70, 7.0, "5000-8000", "running", "lean")
    )


@pytest.mark.parametrize("goal", ["healthy", "athletic", None, "maintain"])
def test_other_goals_never_refused(goal):
    """At 0 % body fat only lean is refused: every other goal gets the spec's numbers (an imported NULL
    or DEV's 'maintain' counts as factor 1.00, like healthy)."""
    check_goal_allowed(goal, 0.0)  # raises LeanGoalRefused for a refused goal
    expected = spec_kbju(70, 0.0, "5000-8000", "running", goal)
    assert daily_targets(70, 0.0, "5000-8000", "running", goal) == Targets(*expected)
    if goal in (None, "maintain"):
        assert expected == spec_kbju(70, 0.0, "5000-8000", "running", "healthy")


# --- Age -----------------------------------------------------------------------------------------------


@pytest.mark.parametrize(
    ("born", "today", "age"),
    [
        (date(1990, 3, 5), date(2025, 3, 4), 34),
        (date(1990, 3, 5), date(2025, 3, 5), 35),
        (date(2000, 2, 29), date(2025, 2, 28), 24),
        (date(2000, 2, 29), date(2025, 3, 1), 25),
        (date(2000, 2, 29), date(2024, 2, 29), 24),
        (date(2025, 1, 1), date(2025, 1, 1), 0),
    ],
)
def test_age_years(born, today, age):
    assert age_years(born, today) == age

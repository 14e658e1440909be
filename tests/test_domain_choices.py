"""Value domains match the database's CHECK constraints; callback data is short, round-trips, never crashes."""

from __future__ import annotations

import re
from pathlib import Path

import pytest
from hypothesis import given, settings
from hypothesis import strategies as st

from bot.domain import choices
from bot.domain.choices import (
    CALLBACK_PATTERNS,
    CallbackAction,
    CallbackKind,
    build_answer,
    build_data,
    build_food,
    build_goal,
    build_menu,
    build_remind,
    build_start,
    parse_callback,
)

SCHEMA = Path(__file__).resolve().parents[1] / "sql" / "0001.initial.sql"


def every_callback() -> list[tuple[str, CallbackAction]]:
    built = [(build_start(), CallbackAction(CallbackKind.START))]
    for field, choice_set in choices.CHOICE_SETS.items():
        built += [(build_answer(field, code), CallbackAction(CallbackKind.ANSWER, field, code))
                  for code in choice_set.codes]
    built += [(build_menu(a), CallbackAction(CallbackKind.MENU, value=a)) for a in choices.MENU_ACTIONS]
    built += [(build_goal(g), CallbackAction(CallbackKind.GOAL, value=g)) for g in choices.GOAL.codes]
    built += [(build_food(a), CallbackAction(CallbackKind.FOOD, value=a)) for a in choices.FOOD_ACTIONS]
    built += [(build_data(a), CallbackAction(CallbackKind.DATA, value=a)) for a in choices.DATA_ACTIONS]
    arguments = {choices.REMIND_DAY: choices.WEEKDAYS.codes, choices.REMIND_HOUR: [str(h) for h in range(24)],
                 choices.REMIND_ZONE: choices.TIMEZONES.codes}
    for action in choices.REMIND_ACTIONS:
        for argument in arguments.get(action, [None]):
            built.append((build_remind(action, argument), CallbackAction(CallbackKind.REMIND, action, argument)))
    return built


@pytest.mark.parametrize(("data", "action"), every_callback())
def test_callback_round_trip_and_size(data, action):
    assert 1 <= len(data.encode("utf-8")) <= 64
    assert parse_callback(data) == action
    matching = [kind for kind, pattern in CALLBACK_PATTERNS.items() if re.search(pattern, data)]
    assert matching == [action.kind]


def test_callback_data_unique():
    data = [d for d, _ in every_callback()]
    assert len(data) == len(set(data))


def test_documented_formats():
    assert build_start() == "start:v1"
    assert build_answer("steps", "10000+") == "s:v1:steps:10000+"
    assert build_menu("progress") == "m:v1:progress"
    assert build_goal("lean") == "g:v1:lean"
    assert build_food("cancel") == "f:v1:cancel"
    assert build_data("erase_yes") == "d:v1:erase_yes"
    assert build_remind("hour", 9) == "r:v1:hour:9" and build_remind("zone", "yek") == "r:v1:zone:yek"
    assert build_remind("no") == "r:v1:no"


@pytest.mark.parametrize(
    ("build", "args"),
    [(build_answer, ("sex", "other")), (build_answer, ("height", "180")), (build_menu, ("admin",)),
     (build_goal, ("maintain",)), (build_food, ("delete",)), (build_data, ("drop",)), (build_remind, ("day", 7)),
     (build_remind, ("day",)), (build_remind, ("no", 1)), (build_remind, ("zone", "utc")), (build_remind, ("x",))],
)
def test_building_unknown_values_is_a_programming_error(build, args):
    with pytest.raises(ValueError):
        build(*args)


@pytest.mark.parametrize(
    "data",
    [None, "", "start", "start:v2", "start:v1:", "s:v1", "s:v1:", "s:v1:sex", "s:v1:sex:", "s:v1:sex:other",
     "s:v1:sex:male:extra", "s:v2:sex:male", "s:v0:steps:10000+", "s:v1:steps:10000-plus", "s:v1:goal:maintain",
     "m:v1:", "m:v1:admin", "m:v2:data", "g:v1:", "g:v1:maintain", "f:v1:delete", "sex_male", "steps_10000_plus",
     "goal_lean", "menu_data", "m:v1:data\n", " m:v1:data", "M:V1:DATA", "x" * 65, b"m:v1:data", 42, "\ud800",
     "d:v1:", "d:v1:delete", "d:v2:export", "r:v1:", "r:v1:day", "r:v1:day:", "r:v1:day:7", "r:v1:hour:24",
     "r:v1:hour:09", "r:v1:zone:utc", "r:v1:no:1", "r:v1:off:", "r:v2:off", "r:v1:measure:x"],
)
def test_garbage_and_old_buttons_parse_to_none(data):
    assert parse_callback(data) is None


@settings(max_examples=500, deadline=None)
@given(st.one_of(st.text(), st.text(alphabet="smgfv1:start-+0123456789abcdelnory", max_size=30)))
def test_parse_never_raises(data):
    action = parse_callback(data)
    if action is not None:
        assert data in [d for d, _ in every_callback()]


def test_domains_match_the_database_checks():
    schema = SCHEMA.read_text(encoding="utf-8")

    def check_values(column: str) -> set[str]:
        match = re.search(rf"\b{column}\s+text CHECK \({column} IN \((.*?)\)\)", schema, re.DOTALL)
        assert match, column
        return set(re.findall(r"'([^']*)'", match.group(1)))

    assert check_values("sex") == set(choices.SEX.codes)
    assert check_values("goal") == set(choices.GOAL.codes)
    assert check_values("steps") == set(choices.STEPS.codes)
    assert check_values("sport_type") == set(choices.SPORT_TYPE.codes)
    assert check_values("sport_freq") == set(choices.SPORT_FREQ.codes)


def test_spec_tables():
    assert choices.STEP_MULTIPLIERS == {"0-3000": 1.1, "3000-5000": 1.2, "5000-8000": 1.3, "8000-10000": 1.4,
                                        "10000+": 1.5}
    assert choices.SPORT_KCAL == {"none": 0, "walking": 200, "running": 400, "strength": 600, "yoga": 200,
                                  "swimming": 400, "cycling": 300, "team": 500}
    assert choices.GOAL_FACTORS == {"healthy": 1.00, "athletic": 1.05, "lean": 0.90}


def test_labels_and_lookups():
    assert choices.STEPS.label("10000+") == "10 000+"
    assert choices.SPORT_TYPE.label("strength") == "Силовые (зал)"
    assert choices.SPORT_FREQ.label("daily") == "Ежедневно"
    assert [c.code for c in choices.SPORT_FREQ] == ["1-2", "3-4", "5-6", "daily"]
    assert "male" in choices.SEX and "other" not in choices.SEX and None not in choices.SEX
    assert choices.GOAL.label_or(None, "?") == "?" and choices.GOAL.label_or("maintain", "?") == "?"
    with pytest.raises(KeyError):
        choices.GOAL.label("maintain")

"""The bot's flows and menu actions: survey, new measurements, goal change, food preferences.

Parsing, numbers and every text come from bot.domain; this module only decides which question
comes next and what to read and write.
"""

from __future__ import annotations

from datetime import date
from typing import Any

from bot.db import food, jobs, records, users
from bot.db.records import Measurement
from bot.domain import choices, formulas, texts, validation
from bot.domain.choices import CallbackKind
from bot.domain.formulas import ImpossibleMeasurements, LeanGoalRefused
from bot.flows import reminders
from bot.flows.engine import (
    Flow,
    Outcome,
    Question,
    Refusal,
    Send,
    Turn,
    menu_keyboard,
    menu_message,
)

SURVEY_FLOW = "survey"
FOOD_VIEW = "food_view"  # the saved preferences are shown with Edit / Cancel


def _female(answers: dict[str, Any]) -> bool:
    return answers.get("sex") == choices.FEMALE


def _text(parse):
    return lambda text, turn: parse(text)


def _full_name(text: str, turn: Turn) -> str:
    name = validation.parse_full_name(text)
    return f"{name.last_name} {name.first_name}"  # stored collapsed; split again by parse_full_name


def _birth_date(text: str, turn: Turn) -> str:
    return validation.parse_birth_date(text, turn.today).isoformat()


# --- checks after an answer -----------------------------------------------------------------

async def _check_body(turn: Turn, answers: dict[str, Any], after: str) -> Refusal | None:
    """After the last tape measurement: the body fat is added to the answers, or impossible numbers
    are asked again from the waist."""
    if after != ("hip" if _female(answers) else "neck"):
        return None
    try:
        answers["bodyfat"] = formulas.body_fat_percent(answers["sex"], answers["height"], answers["waist"],
                                                       answers["neck"], answers.get("hip"))
    except ImpossibleMeasurements as exc:
        kept = {k: v for k, v in answers.items() if k not in ("waist", "neck", "hip", "bodyfat")}
        return Refusal(exc.message, "waist", kept)
    return None


async def _check_goal(turn: Turn, answers: dict[str, Any], after: str) -> Refusal | None:
    if after != "goal":
        return None
    try:
        formulas.check_goal_allowed(answers["goal"], answers["bodyfat"])
    except LeanGoalRefused as exc:
        return Refusal(exc.message, "goal", {k: v for k, v in answers.items() if k != "goal"})
    return None


async def _check_survey(turn: Turn, answers: dict[str, Any], after: str) -> Refusal | None:
    return await _check_body(turn, answers, after) or await _check_goal(turn, answers, after)


# --- registration survey --------------------------------------------------------------------

async def _finish_survey(turn: Turn, a: dict[str, Any]) -> Outcome:
    name = validation.parse_full_name(a["full_name"])
    born = date.fromisoformat(a["birth_date"])
    _, created = await users.upsert_user(turn.conn, turn.user_id, turn.username, name.last_name, name.first_name,
                                         a["sex"], born)
    await records.upsert_record(turn.conn, turn.user_id, turn.today, Measurement(
        weight=a["weight"], waist=a["waist"], neck=a["neck"], hip=a.get("hip"), height=a["height"],
        goal=a["goal"], steps=a["steps"], sport_type=a["sport"], sport_freq=a["freq"], bodyfat=a["bodyfat"]))
    await jobs.schedule(turn.conn, "funnel", turn.chat_id, turn.settings.funnel_delay_seconds,
                        dedupe_key=f"funnel:{turn.chat_id}")
    targets = formulas.daily_targets(a["weight"], a["bodyfat"], a["steps"], a["sport"], a["goal"])
    summary = texts.survey_summary(
        last_name=name.last_name, first_name=name.first_name, birth_date=born,
        age=formulas.age_years(born, turn.today), sex=a["sex"], height_cm=a["height"], weight_kg=a["weight"],
        steps=a["steps"], sport_type=a["sport"], sport_freq=a["freq"], waist_cm=a["waist"], neck_cm=a["neck"],
        hip_cm=a.get("hip"), goal=a["goal"], body_fat=a["bodyfat"])
    events = ["survey_completed"] + (["registration"] if created else [])
    offer = await reminders.offer(turn)  # a weekly reminder, unless the person has one on
    done = f"{summary}\n\n{_kbju(a['goal'], targets)}"
    if offer is None:
        return Outcome.idle(Send(done, menu_keyboard()), events=events)
    # The offer's answer brings the menu: only the last message has buttons, as after every flow.
    return Outcome([Send(done), *offer[0]], offer[1], events)


def _kbju(goal: str, t: formulas.Targets) -> str:
    return texts.kbju_message(goal, t.calories, t.protein_g, t.fat_g, t.carbs_g)


SURVEY = Flow(SURVEY_FLOW, (
    Question("full_name", texts.ASK_FULL_NAME, parse=_full_name),
    Question("birth_date", texts.ASK_BIRTH_DATE, parse=_birth_date),
    Question("sex", texts.ASK_SEX, choice_field=choices.SEX.field),
    Question("height", texts.ASK_HEIGHT, parse=_text(validation.parse_height)),
    Question("weight", texts.ASK_WEIGHT, parse=_text(validation.parse_weight)),
    Question("steps", texts.ASK_STEPS, choice_field=choices.STEPS.field),
    Question("sport", texts.ASK_SPORT_TYPE, choice_field=choices.SPORT_TYPE.field),
    Question("freq", texts.ASK_SPORT_FREQ, choice_field=choices.SPORT_FREQ.field),
    Question("waist", texts.ASK_WAIST, parse=_text(validation.parse_waist)),
    Question("neck", texts.ASK_NECK, parse=_text(validation.parse_neck)),
    Question("hip", texts.ASK_HIP, parse=_text(validation.parse_hip), when=_female),
    Question("goal", texts.ASK_GOAL, choice_field=choices.GOAL.field),
), _finish_survey, _check_survey)


# --- new measurements -----------------------------------------------------------------------
# Started with the latest record's carried-over values in the answers (height, goal, date).

async def _finish_measure(turn: Turn, a: dict[str, Any]) -> Outcome:
    saved = await records.upsert_record(turn.conn, turn.user_id, turn.today, Measurement(
        weight=a["weight"], waist=a["waist"], neck=a["neck"], hip=a.get("hip"), height=a["height"],
        goal=a.get("goal"), legacy_goal=a.get("legacy_goal"), steps=a["steps"], sport_type=a["sport"],
        sport_freq=a["freq"], bodyfat=a["bodyfat"]))
    text = texts.measurement_saved(
        record_date=saved.date, weight_kg=saved.weight, waist_cm=saved.waist, neck_cm=saved.neck,
        hip_cm=saved.hip, steps=saved.steps, sport_type=saved.sport_type, sport_freq=saved.sport_freq,
        body_fat=saved.bodyfat, updated=a.get("latest_date") == turn.today.isoformat())
    offer = await reminders.offer(turn)  # a weekly reminder, unless the person has one on
    if offer is None:
        return Outcome.idle(Send(text), menu_message())
    return Outcome([Send(text), *offer[0]], offer[1])


MEASURE = Flow("measure", (
    Question("waist", texts.ASK_WAIST, parse=_text(validation.parse_waist)),
    Question("neck", texts.ASK_NECK, parse=_text(validation.parse_neck)),
    Question("hip", texts.ASK_HIP, parse=_text(validation.parse_hip), when=_female),
    Question("weight", texts.MEASURE_ASK_WEIGHT, parse=_text(validation.parse_weight)),
    Question("steps", texts.ASK_STEPS, choice_field=choices.STEPS.field),
    Question("sport", texts.ASK_SPORT_TYPE, choice_field=choices.SPORT_TYPE.field),
    Question("freq", texts.ASK_SPORT_FREQ, choice_field=choices.SPORT_FREQ.field),
), _finish_measure, _check_body)


# --- goal change ----------------------------------------------------------------------------
# Started with the latest record in the answers: its id, weight, steps, sport, goal and body fat.

async def _finish_goal(turn: Turn, a: dict[str, Any]) -> Outcome:
    await records.set_goal(turn.conn, a["record_id"], a["goal"])
    targets = formulas.daily_targets(a["weight"], a["bodyfat"], a["steps"], a["sport"], a["goal"])
    return Outcome.idle(Send(texts.goal_changed(a["goal"], targets.calories, targets.protein_g, targets.fat_g,
                                                targets.carbs_g), menu_keyboard()))


GOAL = Flow("goal", (
    Question("goal", lambda a: texts.goal_prompt(a.get("current_goal")), choice_field=choices.GOAL.field,
             kind=CallbackKind.GOAL),
), _finish_goal, _check_goal)


# --- food preferences -----------------------------------------------------------------------

async def _finish_food(turn: Turn, a: dict[str, Any]) -> Outcome:
    await food.upsert_food(turn.conn, turn.user_id, a["likes"], a["dislikes"])
    return Outcome.idle(Send(texts.FOOD_SAVED, menu_keyboard()))


FOOD = Flow("food", (
    Question("likes", texts.ASK_LIKES, parse=_text(validation.parse_likes)),
    Question("dislikes", texts.ASK_DISLIKES, parse=_text(validation.parse_dislikes)),
), _finish_food)

FLOWS: dict[str, Flow] = {f.name: f for f in (SURVEY, MEASURE, GOAL, FOOD)}

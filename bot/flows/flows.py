"""The bot's flows and menu actions: survey, new measurements, goal change, food preferences.

Parsing, numbers and every text come from bot.domain; this module only decides which question
comes next and what to read and write.
"""

from __future__ import annotations

from datetime import date
from typing import Any

from bot.db import food, jobs, records, users
from bot.db.records import Measurement
from bot.domain import DomainError, choices, formulas, progress, texts, validation
from bot.domain.choices import CallbackAction, CallbackKind
from bot.domain.formulas import ImpossibleMeasurements, LeanGoalRefused
from bot.flows.engine import (
    Answer,
    Flow,
    Outcome,
    Photo,
    Question,
    Send,
    Turn,
    answer_choice,
    answer_text,
    food_keyboard,
    menu_keyboard,
    start_flow,
    start_keyboard,
    url_keyboard,
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

async def _check_body(turn: Turn, flow: Flow, answers: dict[str, Any], after: str) -> Outcome | None:
    """After the last tape measurement: impossible numbers are re-asked from the waist."""
    if after != ("hip" if _female(answers) else "neck"):
        return None
    try:
        answers["bodyfat"] = formulas.body_fat_percent(answers["sex"], answers["height"], answers["waist"],
                                                       answers["neck"], answers.get("hip"))
    except ImpossibleMeasurements as exc:
        kept = {k: v for k, v in answers.items() if k not in ("waist", "neck", "hip", "bodyfat")}
        return flow.ask_again("waist", kept, exc.message)
    return None


async def _check_goal(turn: Turn, flow: Flow, answers: dict[str, Any], after: str) -> Outcome | None:
    if after != "goal":
        return None
    try:
        formulas.check_goal_allowed(answers["goal"], answers["bodyfat"])
    except LeanGoalRefused as exc:
        answers.pop("goal")
        return flow.ask_again("goal", answers, exc.message)
    return None


async def _check_survey(turn: Turn, flow: Flow, answers: dict[str, Any], after: str) -> Outcome | None:
    return await _check_body(turn, flow, answers, after) or await _check_goal(turn, flow, answers, after)


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
    return Outcome.idle(Send(summary), Send(_kbju(a["goal"], targets), menu_keyboard()), events=events)


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
    return Outcome.idle(Send(text), _menu())


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


# --- entry points called by the handlers ----------------------------------------------------

def _menu(text: str = texts.MENU_TITLE) -> Send:
    return Send(text, menu_keyboard())


def funnel_photo(settings) -> Photo:
    return Photo(texts.funnel_caption(settings.specialist_name),
                 url_keyboard(texts.FUNNEL_BUTTON, settings.consultation_url))


def _abandon_events(turn: Turn) -> list[str]:
    return [f"survey_abandoned:{turn.conv.step}"] if turn.conv.flow == SURVEY_FLOW else []


async def _registered(turn: Turn) -> bool:
    """Done the survey. Someone imported without a measurement or a sex is offered it again
    (their rows are kept; finishing it completes them)."""
    user = await users.get_user(turn.conn, turn.user_id)
    return user is not None and user.registered


async def cmd_start(turn: Turn) -> Outcome:
    events = _abandon_events(turn)
    if await _registered(turn):
        return Outcome.idle(_menu(texts.already_registered(turn.first_name)), events=events)
    return Outcome.idle(Send(texts.welcome(turn.first_name), start_keyboard()), events=events)


async def cmd_menu(turn: Turn) -> Outcome:
    if not await _registered(turn):
        return Outcome.idle(Send(texts.REGISTER_FIRST), events=_abandon_events(turn))
    return Outcome.idle(_menu(), events=_abandon_events(turn))


async def cmd_data(turn: Turn) -> Outcome:
    return Outcome([funnel_photo(turn.settings)])


async def cmd_cancel(turn: Turn) -> Outcome:
    follow = _menu() if await _registered(turn) else Send(texts.REGISTER_FIRST)
    if turn.conv.idle:
        return Outcome([Send(texts.NOTHING_TO_CANCEL), follow])
    return Outcome.idle(Send(texts.CANCELLED), follow, events=_abandon_events(turn))


async def on_text(turn: Turn) -> Outcome:
    if turn.conv.flow in FLOWS:
        return await answer_text(turn, FLOWS[turn.conv.flow])
    if await _registered(turn):
        return Outcome([_menu(texts.UNKNOWN_TEXT)])
    return Outcome([Send(texts.REGISTER_FIRST)])


async def on_choice(turn: Turn, action: CallbackAction) -> Outcome:
    """An answer button (s:v1:...) or a goal-change button (g:v1:...)."""
    return await answer_choice(turn, FLOWS.get(turn.conv.flow or ""), action)


async def on_start_survey(turn: Turn) -> Outcome:
    if await _registered(turn):
        return Outcome([Answer(), _menu(texts.already_registered(turn.first_name))])
    if turn.conv.flow == SURVEY_FLOW:  # a second press of "start the test"
        return Outcome([Answer(texts.OUTDATED_BUTTON)])
    out = await start_flow(turn, SURVEY, lead=[Answer()])
    out.events.append("survey_started")
    return out


async def on_food_button(turn: Turn, action: str) -> Outcome:
    if turn.conv.flow != FOOD_VIEW:
        return Outcome([Answer(texts.OUTDATED_BUTTON)])
    if action == choices.FOOD_EDIT:
        return await start_flow(turn, FOOD, lead=[Answer()])
    return Outcome.idle(Answer(), _menu(texts.FOOD_KEPT))


async def on_menu(turn: Turn, action: str) -> Outcome:
    user = await users.get_user(turn.conn, turn.user_id)
    if user is None or not user.registered:
        return Outcome([Answer(), Send(texts.REGISTER_FIRST)])
    events = _abandon_events(turn)
    settings = turn.settings
    if action == choices.MENU_CONSULT:
        out = Outcome.idle(Answer(), Send(texts.consultation_message(settings.specialist_name,
                                                                      settings.consultation_url),
                                          url_keyboard(texts.CONSULT_BUTTON, settings.consultation_url)))
    elif action == choices.MENU_FOOD:
        saved = await food.get_food(turn.conn, turn.user_id)
        if saved is None:
            out = await start_flow(turn, FOOD, lead=[Answer()])
        else:
            out = Outcome([Answer(), Send(texts.food_preferences(saved.likes, saved.dislikes), food_keyboard())],
                          (FOOD_VIEW, "choice", {}))
    elif action == choices.MENU_PROGRESS:
        out = await _progress(turn)
    else:
        latest = await records.latest_record(turn.conn, turn.user_id)
        if latest is None:  # registered a moment ago, but the record is gone since (deleted by hand)
            return Outcome([Answer(), Send(texts.REGISTER_FIRST)])
        if action == choices.MENU_DATA:
            out = Outcome.idle(Answer(), Send(_my_data(user, latest)), _menu())
        elif action == choices.MENU_MEASURE:
            carried = {"sex": user.sex, "height": latest.height, "goal": latest.goal,
                       "legacy_goal": latest.legacy_goal, "latest_date": latest.date.isoformat()}
            out = await start_flow(turn, MEASURE, carried, lead=[Answer()], intro=texts.MEASURE_INTRO)
        else:  # MENU_GOAL
            carried = {"bodyfat": _body_fat(user, latest), "current_goal": latest.goal, "record_id": latest.id,
                       "weight": latest.weight, "steps": latest.steps, "sport": latest.sport_type}
            out = await start_flow(turn, GOAL, carried, lead=[Answer()])
    out.events.extend(events)
    return out


def _body_fat(user: users.User, r: records.Record) -> float | None:
    """Recomputed from the record (the stored value for imported data the formula cannot take)."""
    try:
        return formulas.body_fat_percent(user.sex, r.height, r.waist, r.neck, r.hip)
    except (DomainError, ValueError):
        return r.bodyfat


def _my_data(user: users.User, r: records.Record | None) -> str:
    person = {"last_name": user.last_name, "first_name": user.first_name, "birth_date": user.date_of_birth,
              "sex": user.sex}
    if r is None:
        return texts.my_data(**person)
    return texts.my_data(**person, record_date=r.date, height_cm=r.height, steps=r.steps, sport_type=r.sport_type,
                         sport_freq=r.sport_freq, weight_kg=r.weight, waist_cm=r.waist, neck_cm=r.neck,
                         hip_cm=r.hip, goal=r.goal, body_fat=_body_fat(user, r))


async def _progress(turn: Turn) -> Outcome:
    history = await records.list_records(turn.conn, turn.user_id)
    if len(history) < 2:
        return Outcome.idle(Answer(), Send(texts.PROGRESS_NEED_MORE), _menu())
    first, last = (progress.Measurement(r.date, r.weight, r.waist, r.neck, r.hip) for r in (history[0], history[-1]))
    chart = tuple((r.date, r.weight) for r in history)
    return Outcome.idle(Answer(), Send(progress.motivational_message(first, last)),
                        Photo(texts.chart_caption(first.date, last.date, len(history)), chart=chart), _menu())

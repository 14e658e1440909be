"""The bot's flows and menu actions: survey, new measurements, goal change, food preferences."""

from __future__ import annotations

from datetime import date
from typing import Any

from telegram import InlineKeyboardButton, InlineKeyboardMarkup

from bot.db import food, jobs, records, users
from bot.db.records import Measurement
from bot.flows import stopgap_domain as d
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
    menu_keyboard,
    start_flow,
    url_keyboard,
)


def _female(answers: dict[str, Any]) -> bool:
    return answers.get("sex") == "female"


def _text(parse):
    return lambda text, turn: parse(text)


# --- registration survey --------------------------------------------------------------------

async def _check_body(turn: Turn, answers: dict[str, Any], after: str) -> Outcome | None:
    """After the last tape measurement: impossible numbers are re-asked from the waist."""
    last = "hip" if _female(answers) else "neck"
    if after != last:
        return None
    try:
        answers["bodyfat"] = d.body_fat(answers["sex"], answers["height"], answers["waist"], answers["neck"],
                                        answers.get("hip"))
    except d.ImpossibleMeasurements:
        kept = {k: v for k, v in answers.items() if k not in ("waist", "neck", "hip", "bodyfat")}
        flow = FLOWS[turn.conv.flow]
        return Outcome([Send(d.CHECK_MEASUREMENTS), flow.question("waist").ask()], (flow.name, "waist", kept))
    return None


async def _check_goal(turn: Turn, answers: dict[str, Any], after: str) -> Outcome | None:
    if after != "goal" or not d.lean_refused(answers.get("bodyfat"), answers["goal"]):
        return None
    answers.pop("goal")
    flow = FLOWS[turn.conv.flow]
    return Outcome([Send(d.LEAN_REFUSED.format(bodyfat=answers["bodyfat"])), flow.question("goal").ask()],
                   (flow.name, "goal", answers))


async def _check_survey(turn: Turn, answers: dict[str, Any], after: str) -> Outcome | None:
    return await _check_body(turn, answers, after) or await _check_goal(turn, answers, after)


def _summary(answers: dict[str, Any], today: date) -> str:
    born = date.fromisoformat(answers["birth_date"])
    hip = f"\n• Бёдра: {answers['hip']:g} см" if answers.get("hip") else ""
    return (f"✅ Готово! Ваши данные:\n"
            f"• Имя: {answers['full_name']}\n• Дата рождения: {born:%d.%m.%Y} ({d.age(born, today)} лет)\n"
            f"• Пол: {d.label('sex', answers['sex'])}\n• Рост: {answers['height']} см\n"
            f"• Вес: {answers['weight']:g} кг\n• Шаги: {d.label('steps', answers['steps'])}\n"
            f"• Спорт: {d.label('sport', answers['sport'])}, {d.label('freq', answers['freq'])}\n"
            f"• Талия: {answers['waist']:g} см\n• Шея: {answers['neck']:g} см{hip}\n"
            f"• Цель: {d.label('goal', answers['goal'])}\n• Процент жира: {answers['bodyfat']:g} %")


async def _finish_survey(turn: Turn, a: dict[str, Any]) -> Outcome:
    _, created = await users.upsert_user(turn.conn, turn.user_id, turn.username, a["full_name"], a["sex"],
                                         date.fromisoformat(a["birth_date"]))
    await records.upsert_record(turn.conn, turn.user_id, turn.today, Measurement(
        weight=a["weight"], waist=a["waist"], neck=a["neck"], hip=a.get("hip"), height=a["height"],
        goal=a["goal"], steps=a["steps"], sport_type=a["sport"], sport_freq=a["freq"], bodyfat=a["bodyfat"]))
    await jobs.schedule(turn.conn, "funnel", turn.chat_id, turn.settings.funnel_delay_seconds,
                        dedupe_key=f"funnel:{turn.chat_id}")
    targets = d.daily_targets(a["weight"], a["bodyfat"], a["steps"], a["sport"], a["goal"])
    events = ["survey_completed"] + (["registration"] if created else [])
    return Outcome.idle(Send(_summary(a, turn.today)),
                        Send(d.kbju_message(targets, a["goal"]), menu_keyboard(turn.settings.consultation_url)),
                        events=events)


SURVEY = Flow("survey", (
    Question("full_name", parse=_text(d.parse_full_name)),
    Question("birth_date", parse=lambda text, turn: d.parse_birth_date(text, turn.today).isoformat()),
    Question("sex", group="sex"),
    Question("height", parse=_text(d.parse_height)),
    Question("weight", parse=_text(d.parse_weight)),
    Question("steps", group="steps"),
    Question("sport", group="sport"),
    Question("freq", group="freq"),
    Question("waist", parse=_text(d.parse_waist)),
    Question("neck", parse=_text(d.parse_neck)),
    Question("hip", parse=_text(d.parse_hip), when=_female),
    Question("goal", group="goal"),
), _finish_survey, _check_survey)


# --- new measurements -----------------------------------------------------------------------

async def _finish_measure(turn: Turn, a: dict[str, Any]) -> Outcome:
    latest = await records.latest_record(turn.conn, turn.user_id)
    saved = await records.upsert_record(turn.conn, turn.user_id, turn.today, Measurement(
        weight=a["weight"], waist=a["waist"], neck=a["neck"], hip=a.get("hip"), height=latest.height,
        goal=latest.goal, legacy_goal=latest.legacy_goal, steps=a["steps"], sport_type=a["sport"],
        sport_freq=a["freq"], bodyfat=a["bodyfat"]))
    hip = f"\n• Бёдра: {saved.hip:g} см" if saved.hip else ""
    text = (f"✅ Замеры за {saved.date:%d.%m.%Y} сохранены:\n• Вес: {saved.weight:g} кг\n"
            f"• Талия: {saved.waist:g} см\n• Шея: {saved.neck:g} см{hip}\n"
            f"• Шаги: {d.label('steps', saved.steps)}\n"
            f"• Спорт: {d.label('sport', saved.sport_type)}, {d.label('freq', saved.sport_freq)}\n"
            f"• Процент жира: {saved.bodyfat:g} %")
    return Outcome.idle(Send(text), Send(d.MENU, menu_keyboard(turn.settings.consultation_url)))


MEASURE = Flow("measure", (
    Question("waist", parse=_text(d.parse_waist)),
    Question("neck", parse=_text(d.parse_neck)),
    Question("hip", parse=_text(d.parse_hip), when=_female),
    Question("weight", parse=_text(d.parse_weight)),
    Question("steps", group="steps"),
    Question("sport", group="sport"),
    Question("freq", group="freq"),
), _finish_measure, _check_body)


# --- goal change ----------------------------------------------------------------------------

async def _finish_goal(turn: Turn, a: dict[str, Any]) -> Outcome:
    latest = await records.latest_record(turn.conn, turn.user_id)
    await records.set_goal(turn.conn, latest.id, a["goal"])
    targets = d.daily_targets(latest.weight, a["bodyfat"], latest.steps, latest.sport_type, a["goal"])
    return Outcome.idle(Send(f"🎯 Новая цель: {d.label('goal', a['goal'])}\n\n" + d.kbju_message(targets, a["goal"]),
                             menu_keyboard(turn.settings.consultation_url)))


GOAL = Flow("goal", (Question("goal", group="goal"),), _finish_goal, _check_goal)


# --- food preferences -----------------------------------------------------------------------

async def _finish_food(turn: Turn, a: dict[str, Any]) -> Outcome:
    saved = await food.upsert_food(turn.conn, turn.user_id, a["likes"], a["dislikes"])
    return Outcome.idle(Send(d.FOOD_SAVED.format(likes=saved.likes, dislikes=saved.dislikes or "—"),
                             menu_keyboard(turn.settings.consultation_url)))


FOOD = Flow("food", (
    Question("likes", parse=_text(d.parse_likes)),
    Question("dislikes", parse=_text(d.parse_dislikes)),
), _finish_food)

FLOWS: dict[str, Flow] = {f.name: f for f in (SURVEY, MEASURE, GOAL, FOOD)}


# --- entry points called by the handlers ----------------------------------------------------

def _menu(turn: Turn, text: str = d.MENU) -> Send:
    return Send(text, menu_keyboard(turn.settings.consultation_url))


def _welcome() -> Send:
    return Send(d.WELCOME, InlineKeyboardMarkup([[InlineKeyboardButton(
        d.START_TEST_BUTTON, callback_data=d.callback_data("survey", "start"))]]))


def funnel_photo(settings) -> Photo:
    return Photo(d.FUNNEL_CAPTION.format(specialist=settings.specialist_name),
                 url_keyboard(d.CONSULTATION_BUTTON, settings.consultation_url))


def _abandon_events(turn: Turn) -> list[str]:
    return [f"survey_abandoned:{turn.conv.step}"] if turn.conv.flow == "survey" else []


async def cmd_start(turn: Turn) -> Outcome:
    events = _abandon_events(turn)
    if await users.get_user(turn.conn, turn.user_id) is not None:
        return Outcome.idle(_menu(turn, d.ALREADY_REGISTERED), events=events)
    return Outcome.idle(_welcome(), events=events)


async def cmd_menu(turn: Turn) -> Outcome:
    if await users.get_user(turn.conn, turn.user_id) is None:
        return Outcome.idle(Send(d.NOT_REGISTERED), events=_abandon_events(turn))
    return Outcome.idle(_menu(turn), events=_abandon_events(turn))


async def cmd_data(turn: Turn) -> Outcome:
    return Outcome([funnel_photo(turn.settings)])


async def cmd_cancel(turn: Turn) -> Outcome:
    registered = await users.get_user(turn.conn, turn.user_id) is not None
    follow = _menu(turn) if registered else Send(d.HINT_NEW)
    if turn.conv.idle:
        return Outcome([Send(d.NOTHING_TO_CANCEL), follow])
    return Outcome.idle(Send(d.CANCELLED), follow, events=_abandon_events(turn))


async def on_text(turn: Turn) -> Outcome:
    if turn.conv.flow in FLOWS:
        return await answer_text(turn, FLOWS[turn.conv.flow])
    if await users.get_user(turn.conn, turn.user_id) is not None:
        return Outcome([_menu(turn, d.HINT)])
    return Outcome([Send(d.HINT_NEW)])


async def on_choice(turn: Turn, group: str, code: str) -> Outcome:
    return await answer_choice(turn, FLOWS.get(turn.conv.flow or ""), group, code)


async def on_start_survey(turn: Turn) -> Outcome:
    if await users.get_user(turn.conn, turn.user_id) is not None:
        return Outcome([Answer(), _menu(turn, d.ALREADY_REGISTERED)])
    if turn.conv.flow == "survey":  # a second press of "start the test"
        return Outcome([Answer(d.OUTDATED_BUTTON)])
    out = await start_flow(turn, SURVEY, lead=[Answer()])
    out.events.append("survey_started")
    return out


async def on_food_button(turn: Turn, code: str) -> Outcome:
    if turn.conv.flow != "food_view":
        return Outcome([Answer(d.OUTDATED_BUTTON)])
    if code == "edit":
        return await start_flow(turn, FOOD, lead=[Answer()])
    return Outcome.idle(Answer(), _menu(turn))


async def on_menu(turn: Turn, action: str) -> Outcome:
    user = await users.get_user(turn.conn, turn.user_id)
    if user is None:
        return Outcome([Answer(), Send(d.NOT_REGISTERED)])
    events = _abandon_events(turn)
    settings = turn.settings
    if action == "consult":
        return Outcome.idle(Answer(), Send(d.CONSULTATION.format(specialist=settings.specialist_name),
                                           url_keyboard(d.CONSULTATION_BUTTON, settings.consultation_url)),
                            events=events)
    if action == "food":
        saved = await food.get_food(turn.conn, turn.user_id)
        if saved is None:
            out = await start_flow(turn, FOOD, lead=[Answer()])
            out.events.extend(events)
            return out
        keyboard = InlineKeyboardMarkup([[
            InlineKeyboardButton(d.FOOD_EDIT, callback_data=d.callback_data("food", "edit")),
            InlineKeyboardButton(d.FOOD_CANCEL, callback_data=d.callback_data("food", "cancel"))]])
        return Outcome([Answer(), Send(d.FOOD_SHOW.format(likes=saved.likes, dislikes=saved.dislikes or "—"),
                                       keyboard)], ("food_view", "choice", {}), events)
    latest = await records.latest_record(turn.conn, turn.user_id)
    if action == "measure":
        out = await start_flow(turn, MEASURE, {"sex": user.sex, "height": latest.height}, lead=[Answer()])
    elif action == "goal":
        bodyfat = d.body_fat(user.sex, latest.height, latest.waist, latest.neck, latest.hip)
        out = await start_flow(turn, GOAL, {"bodyfat": bodyfat}, lead=[Answer()])
    elif action == "data":
        out = Outcome.idle(Answer(), Send(_my_data(user, latest, turn.today)), _menu(turn))
    elif action == "progress":
        out = await _progress(turn)
    else:
        return Outcome([Answer(d.OUTDATED_BUTTON)])
    out.events.extend(events)
    return out


def _my_data(user, r, today: date) -> str:
    bodyfat = d.body_fat(user.sex, r.height, r.waist, r.neck, r.hip)
    hip = f"\n• Бёдра: {r.hip:g} см" if r.hip else ""
    born = f"{user.date_of_birth:%d.%m.%Y}" if user.date_of_birth else "—"
    return (f"📊 Ваши данные:\n• Имя: {user.full_name}\n• Дата рождения: {born}\n"
            f"• Пол: {d.label('sex', user.sex)}\n• Рост: {r.height} см\n• Шаги: {d.label('steps', r.steps)}\n"
            f"• Спорт: {d.label('sport', r.sport_type)}, {d.label('freq', r.sport_freq)}\n"
            f"• Вес: {r.weight:g} кг (на {r.date:%d.%m.%Y})\n• Талия: {r.waist:g} см\n• Шея: {r.neck:g} см{hip}\n"
            f"• Цель: {d.label('goal', r.goal)}\n• Процент жира: {bodyfat:g} %")


async def _progress(turn: Turn) -> Outcome:
    history = await records.list_records(turn.conn, turn.user_id)
    if len(history) < 2:
        return Outcome.idle(Answer(), Send(d.PROGRESS_NEED_TWO), _menu(turn))
    first, last = history[0], history[-1]
    text = d.progress_message(first.date, first.weight, first.waist, first.neck,
                              last.date, last.weight, last.waist, last.neck)
    chart = tuple((r.date, r.weight) for r in history)
    return Outcome.idle(Answer(), Send(text), Photo("📈 Вес по датам", chart=chart), _menu(turn))

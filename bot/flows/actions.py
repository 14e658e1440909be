"""What each command and button does: the entry points bot.handlers calls, one per update kind.

The flows themselves (which question comes next) live in bot.flows.flows; reminders in
bot.flows.reminders; export, erasure and the privacy notice in bot.flows.mydata. This module decides
which flow an update belongs to, and answers the menu's one-step actions (my data, progress,
consultation) itself.
"""

from __future__ import annotations

from bot.db import food, records, users
from bot.domain import DomainError, choices, formulas, progress, texts, trends
from bot.domain.choices import CallbackAction
from bot.flows import mydata, reminders
from bot.flows.engine import (
    Answer,
    Outcome,
    Photo,
    Send,
    Turn,
    answer_choice,
    answer_text,
    food_keyboard,
    menu_keyboard,
    menu_message,
    start_flow,
    start_keyboard,
    url_keyboard,
)
from bot.flows.flows import FLOWS, FOOD, FOOD_VIEW, GOAL, MEASURE, SURVEY, SURVEY_FLOW


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
        return Outcome.idle(menu_message(texts.already_registered(turn.first_name)), events=events)
    welcome = texts.welcome(turn.first_name, turn.settings.operator_name)
    return Outcome.idle(Send(welcome, start_keyboard()), events=events)


async def cmd_menu(turn: Turn) -> Outcome:
    if not await _registered(turn):
        return Outcome.idle(Send(texts.REGISTER_FIRST), events=_abandon_events(turn))
    return Outcome.idle(menu_message(), events=_abandon_events(turn))


async def cmd_data(turn: Turn) -> Outcome:
    return Outcome([funnel_photo(turn.settings)], events=["consult_opened:data"])


async def cmd_reminders(turn: Turn) -> Outcome:
    out = await reminders.status(turn, [])
    out.events.extend(_abandon_events(turn))
    return out


async def cmd_export(turn: Turn) -> Outcome:
    if not await _registered(turn):
        return Outcome([Send(texts.REGISTER_FIRST)])
    return await mydata.export_data(turn, [])  # a flow in progress goes on after the files


async def cmd_delete_me(turn: Turn) -> Outcome:
    out = await mydata.ask_erase(turn, [])
    out.events.extend(_abandon_events(turn))
    return out


async def cmd_privacy(turn: Turn) -> Outcome:
    return await mydata.privacy(turn, [])


async def cmd_cancel(turn: Turn) -> Outcome:
    follow = menu_message() if await _registered(turn) else Send(texts.REGISTER_FIRST)
    if turn.conv.idle:
        return Outcome([Send(texts.NOTHING_TO_CANCEL), follow])
    return Outcome.idle(Send(texts.CANCELLED), follow, events=_abandon_events(turn))


async def on_text(turn: Turn) -> Outcome:
    if turn.conv.flow in FLOWS:
        return await answer_text(turn, FLOWS[turn.conv.flow])
    if await _registered(turn):
        return Outcome([menu_message(texts.UNKNOWN_TEXT)])
    return Outcome([Send(texts.REGISTER_FIRST)])


async def on_choice(turn: Turn, action: CallbackAction) -> Outcome:
    """An answer button (s:v1:...) or a goal-change button (g:v1:...)."""
    return await answer_choice(turn, FLOWS.get(turn.conv.flow or ""), action)


async def on_start_survey(turn: Turn) -> Outcome:
    if await _registered(turn):
        return Outcome([Answer(), menu_message(texts.already_registered(turn.first_name))])
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
    return Outcome.idle(Answer(), menu_message(texts.FOOD_KEPT))


async def on_data_button(turn: Turn, action: str) -> Outcome:
    """A button under «📋 Мои данные» or of the erasure's question (d:v1:...)."""
    if action == choices.DATA_ERASE_YES:
        return await mydata.on_erase_answer(turn, confirmed=True)
    if action == choices.DATA_ERASE_NO:
        return await mydata.on_erase_answer(turn, confirmed=False)
    if action == choices.DATA_PRIVACY:
        return await mydata.privacy(turn, [Answer()])
    if action == choices.DATA_ERASE:
        return await mydata.ask_erase(turn, [Answer()])
    if not await _registered(turn):  # DATA_EXPORT
        return Outcome([Answer(), Send(texts.REGISTER_FIRST)])
    return await mydata.export_data(turn, [Answer()])


async def on_remind_button(turn: Turn, action: CallbackAction) -> Outcome:
    """A reminder button (r:v1:...): the reminder's «📏 Новые замеры», or a step of setting one."""
    if action.field == choices.REMIND_MEASURE:
        out = await on_menu(turn, choices.MENU_MEASURE)
        out.events.append("reminder_opened")
        return out
    return await reminders.on_press(turn, action)


async def on_menu(turn: Turn, action: str) -> Outcome:
    user = await users.get_user(turn.conn, turn.user_id)
    if user is None or not user.registered:
        return Outcome([Answer(), Send(texts.REGISTER_FIRST)])
    events = _abandon_events(turn)
    settings = turn.settings
    if action == choices.MENU_CONSULT:
        out = Outcome.idle(Answer(), Send(texts.consultation_message(settings.specialist_name,
                                                                      settings.consultation_url),
                                          url_keyboard(texts.CONSULT_BUTTON, settings.consultation_url)),
                           events=["consult_opened:menu"])
    elif action == choices.MENU_REMIND:
        out = await reminders.status(turn, [Answer()])
    elif action == choices.MENU_FOOD:
        saved = await food.get_food(turn.conn, turn.user_id)
        if saved is None:
            out = await start_flow(turn, FOOD, lead=[Answer()])
        else:
            out = Outcome([Answer(), Send(texts.food_preferences(saved.likes, saved.dislikes), food_keyboard())],
                          (FOOD_VIEW, "choice", {}))
    elif action == choices.MENU_PROGRESS:
        out = await _progress(turn, user)
    else:
        latest = await records.latest_record(turn.conn, turn.user_id)
        if latest is None:  # registered a moment ago, but the record is gone since (deleted by hand)
            return Outcome([Answer(), Send(texts.REGISTER_FIRST)])
        if action == choices.MENU_DATA:
            out = Outcome.idle(Answer(), Send(_my_data(user, latest), mydata.data_keyboard()), menu_message())
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


async def _progress(turn: Turn, user: users.User) -> Outcome:
    """The weekly statistics, then the chart (weight and body fat) with the progress message as its caption
    and the menu."""
    history = await records.list_records(turn.conn, turn.user_id)
    if len(history) < 2:
        return Outcome.idle(Answer(), menu_message(texts.PROGRESS_NEED_MORE))
    first, last = (progress.Measurement(r.date, r.weight, r.waist, r.neck, r.hip) for r in (history[0], history[-1]))
    chart = tuple((r.date, r.weight, _body_fat(user, r)) for r in history)
    caption = texts.chart_caption(progress.motivational_message(first, last), len(history))
    # The weekly statistics first (too long for a caption), then the chart with the menu.
    return Outcome.idle(Answer(), Send(_weekly(history)), Photo(caption, menu_keyboard(), chart=chart))


def _weekly(history: list[records.Record]) -> str:
    """Weekly averages, the trend per week and the pace toward the goal (bot.domain.trends)."""
    weeks = trends.weekly([trends.Point(r.date, r.weight, r.waist, r.bodyfat) for r in history])
    t = trends.trend(weeks)
    latest = history[-1]
    share = trends.weight_percent_per_week(t, latest.weight)
    pace = texts.pace_line(trends.pace(latest.goal, t, latest.weight).value, latest.goal, t.weight, share)
    return texts.weekly_stats([(w.start, w.count, w.weight, w.waist, w.body_fat) for w in weeks], t.weight, t.waist,
                              t.body_fat, pace)

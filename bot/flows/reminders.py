"""Weekly reminders to measure: offered after the survey and after a measurement, managed with
/reminders or «⏰ Напоминания», and the reminder's own «📏 Новые замеры» button.

A small flow (`reminder`) whose steps wait for buttons only: the day, then the hour (or another
zone first), or on the status screen change / off / keep. A press that is not for the step on
screen now (a double tap, an older message) is "outdated" and changes nothing, as in the survey.
The reminders themselves are sent by bot/jobs.py.
"""

from __future__ import annotations

from typing import Any
from zoneinfo import ZoneInfo

from bot.db import reminders, users
from bot.domain import choices, texts
from bot.domain import reminders as schedule
from bot.domain.choices import CallbackAction
from bot.flows.engine import Answer, Button, Edit, Keyboard, Outcome, Reply, Send, Turn, menu_keyboard, menu_message

REMINDER_FLOW = "reminder"
STEP_DAY, STEP_HOUR, STEP_ZONE, STEP_MANAGE = "day", "hour", "zone", "manage"
# The buttons each step takes.
ACCEPTS: dict[str, frozenset[str]] = {
    STEP_DAY: frozenset({choices.REMIND_DAY, choices.REMIND_NO, choices.REMIND_KEEP}),
    STEP_HOUR: frozenset({choices.REMIND_HOUR, choices.REMIND_ZONES}),
    STEP_ZONE: frozenset({choices.REMIND_ZONE}),
    STEP_MANAGE: frozenset({choices.REMIND_CHANGE, choices.REMIND_OFF, choices.REMIND_KEEP}),
}


def zone_label(name: str) -> str:
    code = choices.zone_code(name)
    return choices.TIMEZONES.label(code) if code else name


# --- keyboards ----------------------------------------------------------------------------------------

def _button(text: str, action: str, argument: str | int | None = None) -> Button:
    return Button(text, callback_data=choices.build_remind(action, argument))


def _rows(buttons: list[Button], per_row: int) -> list[tuple[Button, ...]]:
    return [tuple(buttons[i:i + per_row]) for i in range(0, len(buttons), per_row)]


def day_keyboard(cancel_text: str, cancel_action: str) -> Keyboard:
    days = [_button(c.label, choices.REMIND_DAY, c.code) for c in choices.WEEKDAYS]
    return (*_rows(days, 4), (_button(cancel_text, cancel_action),))


def hour_keyboard(quiet: schedule.QuietHours) -> Keyboard:
    hours = [_button(f"{hour}:00", choices.REMIND_HOUR, hour) for hour in quiet.allowed_hours()]
    return (*_rows(hours, 4), (_button(texts.REMINDER_ZONES_BUTTON, choices.REMIND_ZONES),))


def zone_keyboard() -> Keyboard:
    return tuple(_rows([_button(c.label, choices.REMIND_ZONE, c.code) for c in choices.TIMEZONES], 2))


def manage_keyboard() -> Keyboard:
    return ((_button(texts.REMINDER_CHANGE_BUTTON, choices.REMIND_CHANGE),),
            (_button(texts.REMINDER_OFF_BUTTON, choices.REMIND_OFF),),
            (_button(texts.REMINDER_KEEP_BUTTON, choices.REMIND_KEEP),))


def reminder_keyboard() -> Keyboard:
    """The reminder message's buttons: new measurements at once, or the reminder's settings."""
    return ((_button(texts.REMINDER_MEASURE_BUTTON, choices.REMIND_MEASURE),),
            (Button(texts.REMINDER_SETTINGS_BUTTON, callback_data=choices.build_menu(choices.MENU_REMIND)),))


def reminder_message() -> Send:
    return Send(texts.REMINDER_MESSAGE, reminder_keyboard())


# --- screens ------------------------------------------------------------------------------------------

async def _zone(turn: Turn) -> str:
    """The zone a new choice starts from: the reminder's own, else BOT_TIMEZONE."""
    current = await reminders.get(turn.conn, turn.user_id)
    return current.timezone if current is not None else turn.settings.bot_timezone


async def offer(turn: Turn) -> tuple[list[Reply], tuple[str, str, dict[str, Any]]] | None:
    """The offer that ends the survey and a measurement, with the state it waits in; None when the
    person's reminder is on already."""
    if await reminders.enabled(turn.conn, turn.user_id):
        return None
    keyboard = day_keyboard(texts.REMINDER_NO_BUTTON, choices.REMIND_NO)
    return [Send(texts.REMINDER_OFFER, keyboard)], (REMINDER_FLOW, STEP_DAY, {"zone": await _zone(turn)})


async def status(turn: Turn, lead: list[Reply]) -> Outcome:
    """/reminders and «⏰ Напоминания»: the reminder with change / off / keep, or the offer to turn it on."""
    if not await _registered(turn):
        return Outcome([*lead, Send(texts.REGISTER_FIRST)])
    current = await reminders.get(turn.conn, turn.user_id)
    if current is not None and current.enabled:
        tz = ZoneInfo(current.timezone)
        text = texts.reminder_status(current.weekday, current.hour, zone_label(current.timezone),
                                     current.slot_at.astimezone(tz).date())
        return Outcome([*lead, Send(text, manage_keyboard())], (REMINDER_FLOW, STEP_MANAGE, {"zone": current.timezone}))
    keyboard = day_keyboard(texts.REMINDER_NOT_NOW_BUTTON, choices.REMIND_KEEP)
    zone = current.timezone if current is not None else turn.settings.bot_timezone
    return Outcome([*lead, Send(texts.REMINDER_OFF_STATUS, keyboard)], (REMINDER_FLOW, STEP_DAY, {"zone": zone}))


async def _registered(turn: Turn) -> bool:
    user = await users.get_user(turn.conn, turn.user_id)
    return user is not None and user.registered


def _ask_hour(turn: Turn, day: int, zone: str) -> Send:
    return Send(texts.reminder_ask_hour(day, zone_label(zone)), hour_keyboard(turn.settings.quiet_hours()))


async def on_press(turn: Turn, action: CallbackAction) -> Outcome:
    """A reminder button other than «📏 Новые замеры» (bot.flows.actions starts the measurement)."""
    conv = turn.conv
    if conv.flow != REMINDER_FLOW or action.field not in ACCEPTS.get(conv.step or "", ()):
        return Outcome([Answer(texts.OUTDATED_BUTTON)])
    answers = conv.answers
    zone = answers.get("zone") or turn.settings.bot_timezone

    def lead(line: str) -> list[Reply]:
        """The press answered, and its message edited to say what was chosen (its keyboard goes)."""
        return [Answer(), *([Edit(turn.message_id, line)] if turn.message_id is not None else [])]

    if action.field == choices.REMIND_DAY:
        day = int(action.value)
        return Outcome([*lead(texts.reminder_day_chosen(day)), _ask_hour(turn, day, zone)],
                       (REMINDER_FLOW, STEP_HOUR, {**answers, "day": day}))
    if action.field == choices.REMIND_ZONES:
        return Outcome([*lead(texts.REMINDER_ZONE_CHANGING), Send(texts.REMINDER_ASK_ZONE, zone_keyboard())],
                       (REMINDER_FLOW, STEP_ZONE, answers))
    if action.field == choices.REMIND_ZONE:
        zone = choices.ZONE_NAMES[action.value]
        return Outcome([*lead(texts.reminder_zone_chosen(zone_label(zone))), _ask_hour(turn, answers["day"], zone)],
                       (REMINDER_FLOW, STEP_HOUR, {**answers, "zone": zone}))
    if action.field == choices.REMIND_HOUR:
        return await _set(turn, answers["day"], int(action.value), zone, lead)
    if action.field == choices.REMIND_CHANGE:
        keyboard = day_keyboard(texts.REMINDER_KEEP_BUTTON, choices.REMIND_KEEP)
        return Outcome([*lead(texts.REMINDER_CHANGING_LINE), Send(texts.REMINDER_ASK_DAY, keyboard)],
                       (REMINDER_FLOW, STEP_DAY, answers))
    if action.field == choices.REMIND_OFF:
        await reminders.turn_off(turn.conn, turn.user_id)
        return Outcome.idle(*lead(texts.REMINDER_OFF_LINE), menu_message(texts.REMINDER_TURNED_OFF),
                            events=["reminder_off"])
    if action.field == choices.REMIND_NO:
        return Outcome.idle(*lead(texts.REMINDER_DECLINED_LINE), menu_message(texts.REMINDER_DECLINED),
                            events=["reminder_declined"])
    return Outcome.idle(*lead(texts.REMINDER_KEPT_LINE), menu_message(texts.REMINDER_KEPT))  # REMIND_KEEP


async def _set(turn: Turn, day: int, hour: int, zone: str, lead) -> Outcome:
    if hour in turn.settings.quiet_hours():  # a button of before REMINDER_QUIET_HOURS changed
        return Outcome([Answer(texts.OUTDATED_BUTTON)])
    if not await _registered(turn):  # erased meanwhile, from another device
        return Outcome.idle(Answer(), Send(texts.REGISTER_FIRST))
    tz = ZoneInfo(zone)
    slot = schedule.next_slot(turn.now, day, hour, tz)
    await reminders.set_reminder(turn.conn, turn.user_id, turn.chat_id, day, hour, zone, slot,
                                 schedule.due_at(slot, turn.user_id))
    text = texts.reminder_set(day, hour, zone_label(zone), slot.astimezone(tz).date())
    return Outcome.idle(*lead(texts.reminder_hour_chosen(hour)), Send(text, menu_keyboard()), events=["reminder_set"])

"""Thin adapters from PTB callbacks to the flows: parse the update, count it, run one turn.

Callback data is parsed only by bot.domain.choices.parse_callback; anything it does not know
(an old button, forged data) is answered with texts.OUTDATED_BUTTON and changes nothing.
"""

from __future__ import annotations

import contextlib

from telegram import Update
from telegram.error import TelegramError
from telegram.ext import ContextTypes

from bot import metrics
from bot.domain import choices, texts
from bot.domain.choices import CallbackAction, CallbackKind
from bot.flows import actions
from bot.runtime import run_turn

Context = ContextTypes.DEFAULT_TYPE


async def count_update(update: Update, context: Context) -> None:
    """Runs first for every update (group -1): kbju_updates_received_total{kind}."""
    if update.callback_query is not None:
        kind = "callback"
    elif update.message is not None and update.message.text and update.message.text.startswith("/"):
        kind = "command"
    elif update.message is not None:
        kind = "message"
    else:
        kind = "other"
    metrics.updates_received.labels(kind).inc()


async def start(update: Update, context: Context) -> None:
    metrics.commands.labels("start").inc()
    await run_turn(update, context, actions.cmd_start, "start")


async def menu(update: Update, context: Context) -> None:
    metrics.commands.labels("menu").inc()
    await run_turn(update, context, actions.cmd_menu, "menu")


async def data(update: Update, context: Context) -> None:
    metrics.commands.labels("data").inc()
    await run_turn(update, context, actions.cmd_data, "data")


async def cancel(update: Update, context: Context) -> None:
    metrics.commands.labels("cancel").inc()
    await run_turn(update, context, actions.cmd_cancel, "cancel")


async def reminders(update: Update, context: Context) -> None:
    metrics.commands.labels("reminders").inc()
    await run_turn(update, context, actions.cmd_reminders, "reminders")


async def export(update: Update, context: Context) -> None:
    metrics.commands.labels("export").inc()
    await run_turn(update, context, actions.cmd_export, "export")


async def delete_me(update: Update, context: Context) -> None:
    metrics.commands.labels("delete_me").inc()
    await run_turn(update, context, actions.cmd_delete_me, "delete_me")


async def privacy(update: Update, context: Context) -> None:
    metrics.commands.labels("privacy").inc()
    await run_turn(update, context, actions.cmd_privacy, "privacy")


async def other_command(update: Update, context: Context) -> None:
    metrics.commands.labels("other").inc()
    await run_turn(update, context, actions.on_text, "text")


async def text(update: Update, context: Context) -> None:
    """Any message that is not a command: an answer to the pending question, or a hint."""
    await run_turn(update, context, actions.on_text, "text")


async def _pressed(update: Update, context: Context, kind: CallbackKind) -> CallbackAction | None:
    """The parsed press, or None after answering it as outdated (data the pattern let through but
    parse_callback refuses, e.g. an unknown code)."""
    action = choices.parse_callback(update.callback_query.data)
    if action is None or action.kind is not kind:
        await outdated_button(update, context)
        return None
    return action


async def survey_start(update: Update, context: Context) -> None:
    if await _pressed(update, context, CallbackKind.START):
        await run_turn(update, context, actions.on_start_survey, "survey_start")


async def menu_action(update: Update, context: Context) -> None:
    if action := await _pressed(update, context, CallbackKind.MENU):
        await run_turn(update, context, lambda turn: actions.on_menu(turn, action.value), f"menu_{action.value}")


async def food_button(update: Update, context: Context) -> None:
    if action := await _pressed(update, context, CallbackKind.FOOD):
        await run_turn(update, context, lambda turn: actions.on_food_button(turn, action.value), "food_view")


async def data_button(update: Update, context: Context) -> None:
    """Export, erasure and privacy buttons (d:v1:<action>)."""
    if action := await _pressed(update, context, CallbackKind.DATA):
        await run_turn(update, context, lambda turn: actions.on_data_button(turn, action.value), f"data_{action.value}")


async def remind_button(update: Update, context: Context) -> None:
    """Reminder buttons (r:v1:<action>[:<argument>])."""
    if action := await _pressed(update, context, CallbackKind.REMIND):
        await run_turn(update, context, lambda turn: actions.on_remind_button(turn, action), f"remind_{action.field}")


async def answer(update: Update, context: Context) -> None:
    """An answer to a button question (s:v1:<field>:<code>)."""
    if action := await _pressed(update, context, CallbackKind.ANSWER):
        await run_turn(update, context, lambda turn: actions.on_choice(turn, action), "choice")


async def goal(update: Update, context: Context) -> None:
    """A goal-change button (g:v1:<goal>): the goal flow's only question."""
    if action := await _pressed(update, context, CallbackKind.GOAL):
        await run_turn(update, context, lambda turn: actions.on_choice(turn, action), "choice")


async def outdated_button(update: Update, context: Context) -> None:
    """A button of an older bot version (or forged data): acknowledge, change nothing."""
    with contextlib.suppress(TelegramError):  # a press too old to answer: nothing else to do
        await update.callback_query.answer(texts.OUTDATED_BUTTON)

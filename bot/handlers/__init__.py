"""Thin adapters from PTB callbacks to the flows: parse the update, count it, run one turn."""

from __future__ import annotations

from telegram import Update
from telegram.ext import ContextTypes

from bot import metrics
from bot.flows import flows
from bot.flows import stopgap_domain as d
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
    await run_turn(update, context, flows.cmd_start, "start")


async def menu(update: Update, context: Context) -> None:
    metrics.commands.labels("menu").inc()
    await run_turn(update, context, flows.cmd_menu, "menu")


async def data(update: Update, context: Context) -> None:
    metrics.commands.labels("data").inc()
    await run_turn(update, context, flows.cmd_data, "data")


async def cancel(update: Update, context: Context) -> None:
    metrics.commands.labels("cancel").inc()
    await run_turn(update, context, flows.cmd_cancel, "cancel")


async def other_command(update: Update, context: Context) -> None:
    metrics.commands.labels("other").inc()
    await run_turn(update, context, flows.on_text, "text")


async def text(update: Update, context: Context) -> None:
    """Any message that is not a command: an answer to the pending question, or a hint."""
    await run_turn(update, context, flows.on_text, "text")


async def choice(update: Update, context: Context) -> None:
    group, code = d.parse_callback(update.callback_query.data)
    await run_turn(update, context, lambda turn: flows.on_choice(turn, group, code), "choice")


async def menu_action(update: Update, context: Context) -> None:
    _, action = d.parse_callback(update.callback_query.data)
    await run_turn(update, context, lambda turn: flows.on_menu(turn, action), "menu_" + action
                   if action in d.MENU_BUTTONS else "menu_other")


async def survey_start(update: Update, context: Context) -> None:
    await run_turn(update, context, flows.on_start_survey, "survey_start")


async def food_button(update: Update, context: Context) -> None:
    _, code = d.parse_callback(update.callback_query.data)
    await run_turn(update, context, lambda turn: flows.on_food_button(turn, code), "food_view")


async def unknown_button(update: Update, context: Context) -> None:
    """A button of an older bot version (or forged data): acknowledge, change nothing."""
    await update.callback_query.answer(d.OUTDATED_BUTTON)

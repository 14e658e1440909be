"""A person's rights over their data: export (/export), erasure (/delete_me) and the privacy notice
(/privacy); reached also from «📋 Мои данные».

The erasure asks first (a `erase` flow waiting at `confirm`); only a confirmation pressed while
that question is pending erases, in the turn's own transaction, and the turn then leaves nothing
of the chat behind (Outcome state FORGET). A second tap, or the button pressed again later, finds
no pending question: it erases nothing, and for a person with no data left it answers "already
deleted" without writing anything either.
"""

from __future__ import annotations

from bot.db import person, users
from bot.domain import choices, export, texts
from bot.flows.engine import (
    FORGET,
    Answer,
    Button,
    Document,
    Edit,
    Keyboard,
    Outcome,
    Reply,
    Send,
    Turn,
    menu_message,
)

ERASE_FLOW = "erase"
STEP_CONFIRM = "confirm"


def _button(text: str, action: str) -> Button:
    return Button(text, callback_data=choices.build_data(action))


def data_keyboard() -> Keyboard:
    """Under «📋 Мои данные»: export, privacy, erase."""
    return ((_button(texts.DATA_EXPORT_BUTTON, choices.DATA_EXPORT),),
            (_button(texts.DATA_PRIVACY_BUTTON, choices.DATA_PRIVACY),),
            (_button(texts.DATA_ERASE_BUTTON, choices.DATA_ERASE),))


def erase_keyboard() -> Keyboard:
    return ((_button(texts.ERASE_YES_BUTTON, choices.DATA_ERASE_YES),),
            (_button(texts.ERASE_NO_BUTTON, choices.DATA_ERASE_NO),))


async def _registered(turn: Turn) -> bool:
    user = await users.get_user(turn.conn, turn.user_id)
    return user is not None and user.registered


async def privacy(turn: Turn, lead: list[Reply]) -> Outcome:
    s = turn.settings
    notice = Send(texts.privacy_notice(s.operator_name, s.privacy_contact, s.backup_retention_days))
    if await _registered(turn):
        return Outcome([*lead, notice, menu_message()])
    return Outcome([*lead, notice])


async def export_data(turn: Turn, lead: list[Reply]) -> Outcome:
    """The CSV of every measurement and the one-page PDF report, then the menu."""
    data = await person.data(turn.conn, turn.user_id)
    who, rows = export.person(data), export.measurements(data)
    if who is None or not rows:
        return Outcome([*lead, Send(texts.REGISTER_FIRST)])
    stem = export.file_stem(turn.user_id, turn.today)
    report = export.report(who, rows, turn.today, turn.settings.operator_name)
    return Outcome([*lead, Document(f"{stem}.csv", texts.export_csv_caption(len(rows)), content=export.csv_bytes(rows)),
                    Document(f"{stem}.pdf", texts.EXPORT_REPORT_CAPTION, report=report),
                    menu_message(texts.EXPORT_DONE)], events=["export"])


async def ask_erase(turn: Turn, lead: list[Reply]) -> Outcome:
    """/delete_me and «🗑 Удалить мои данные»: what goes, and a button to confirm."""
    return Outcome([*lead, Send(texts.ERASE_CONFIRM, erase_keyboard())], (ERASE_FLOW, STEP_CONFIRM, {}))


async def on_erase_answer(turn: Turn, confirmed: bool) -> Outcome:
    pending = turn.conv.flow == ERASE_FLOW and turn.conv.step == STEP_CONFIRM
    if not pending:
        if turn.conv.version == 0 and not await _registered(turn):
            # Nothing of this chat is stored (erased by the first tap): answer, and store nothing.
            return Outcome([Answer(texts.ERASE_ALREADY)], FORGET)
        return Outcome([Answer(texts.OUTDATED_BUTTON)])
    edit = [Edit(turn.message_id, texts.ERASE_ASKED if confirmed else texts.ERASE_DECLINED_LINE)] \
        if turn.message_id is not None else []
    if not confirmed:
        follow = menu_message(texts.ERASE_KEPT) if await _registered(turn) else Send(texts.ERASE_KEPT)
        return Outcome.idle(Answer(), *edit, follow)
    await person.erase(turn.conn, turn.user_id, "bot")
    return Outcome([Answer(), *edit, Send(texts.erased(turn.settings.backup_retention_days))], FORGET,
                   events=["erased"])

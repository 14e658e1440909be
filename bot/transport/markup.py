"""The flows' plain keyboards as Telegram's InlineKeyboardMarkup, built once per distinct keyboard."""

from __future__ import annotations

from functools import lru_cache
from typing import TYPE_CHECKING

from telegram import InlineKeyboardButton, InlineKeyboardMarkup

if TYPE_CHECKING:
    from bot.flows.engine import Keyboard


@lru_cache(maxsize=1024)
def render(keyboard: Keyboard | None) -> InlineKeyboardMarkup | None:
    """PTB's markup objects are immutable, and the bot's keyboards are few: each is built once."""
    if keyboard is None:
        return None
    return InlineKeyboardMarkup([[InlineKeyboardButton(b.text, callback_data=b.callback_data, url=b.url)
                                  for b in row] for row in keyboard])

"""reply_markup validation and the inline keyboard a message shows.

Only an inline keyboard becomes part of the Message object (Telegram never echoes reply
keyboards); the raw markup is still recorded in chat events so a terminal chat can show it.
"""

from __future__ import annotations

from .errors import (
    BAD_MARKUP_JSON,
    BUTTON_DATA_INVALID,
    BUTTON_URL_INVALID,
    TEXT_BUTTONS_UNALLOWED,
    bad_request,
)
from .params import Params

_ACTIONS = ("callback_data", "url", "web_app", "login_url", "switch_inline_query",
            "switch_inline_query_current_chat", "switch_inline_query_chosen_chat",
            "copy_text", "callback_game", "pay")
_URL_SCHEMES = ("http://", "https://", "tg://")


def read_reply_markup(params: Params) -> tuple[dict | None, dict | None]:
    """(inline markup for the message or None, the raw markup as sent or None)."""
    raw = params.get_json("reply_markup", error=BAD_MARKUP_JSON)
    if raw is None:
        return None, None
    if not isinstance(raw, dict):
        raise bad_request(BAD_MARKUP_JSON)
    if "inline_keyboard" not in raw:
        return None, raw
    return _inline(raw["inline_keyboard"]), raw


def _inline(rows: object) -> dict | None:
    if not isinstance(rows, list) or not all(isinstance(row, list) for row in rows):
        raise bad_request("can't parse inline keyboard: field \"inline_keyboard\" must be an Array of Arrays")
    clean_rows = []
    for row in rows:
        clean_row = []
        for button in row:
            if not isinstance(button, dict):
                raise bad_request("can't parse inline keyboard button: InlineKeyboardButton must be an Object")
            clean_row.append(_button(button))
        if clean_row:
            clean_rows.append(clean_row)
    return {"inline_keyboard": clean_rows} if clean_rows else None


def _button(button: dict) -> dict:
    text = button.get("text")
    if not isinstance(text, str) or not text.strip():
        raise bad_request("can't parse inline keyboard button: Text must be non-empty")
    if not any(button.get(action) is not None for action in _ACTIONS):
        raise bad_request(TEXT_BUTTONS_UNALLOWED)
    data = button.get("callback_data")
    if data is not None and (not isinstance(data, str) or not 1 <= len(data.encode("utf-8")) <= 64):
        raise bad_request(BUTTON_DATA_INVALID)
    url = button.get("url")
    if url is not None and (not isinstance(url, str) or not url.startswith(_URL_SCHEMES) or len(url) < 8):
        raise bad_request(BUTTON_URL_INVALID)
    return {key: value for key, value in button.items() if value is not None}


def has_callback(message: dict, data: str) -> bool:
    """Whether the message currently shows an inline button with exactly this callback_data."""
    markup = message.get("reply_markup")
    if not markup:
        return False
    return any(button.get("callback_data") == data for row in markup["inline_keyboard"] for button in row)


def button_summary(message: dict) -> list[str]:
    """Button texts with their callback_data/url, for readable error messages."""
    markup = message.get("reply_markup") or {}
    return [f"{b.get('text')!r}→{b.get('callback_data') or b.get('url')!r}"
            for row in markup.get("inline_keyboard", []) for b in row]

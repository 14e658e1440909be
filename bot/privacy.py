"""Personal data and logs: what may be logged about a person, and the filter that enforces the rest.

The rule, at every level (DEBUG included), for the bot's own log calls:
  - a person appears only as `user_ref(user_id)`, an HMAC of their Telegram id with a secret salt
    (the same on every replica, so one person's lines can be followed, but not turned back into
    the id by hashing the ~10^10 possible ids);
  - update ids, step names, counts, durations, exception types: yes;
  - names, usernames, anything typed (answers, food texts), birth dates, measurements, the
    contents of an update or of a Bot API call: never.
`PrivacyFilter` (installed by bot.logging.setup on every handler) enforces what the bot's code
cannot: DEBUG records of other libraries are dropped (python-telegram-bot logs every Bot API call
with its parameters and result, httpx and aiohttp their requests), and quoted values in exception
messages are withheld (asyncpg's DataError, for one, quotes the offending value).

The salt: LOG_SALT (a secret setting, LOG_SALT_FILE too); when unset, derived from BOT_TOKEN;
without either (kbjuctl's own work), random per process.
"""

from __future__ import annotations

import hashlib
import hmac
import logging
import re
import secrets

OWN_LOGGERS = ("bot", "kbjuctl", "tgstandin", "loadtests", "__main__")
_salt: dict[str, bytes] = {"value": secrets.token_bytes(32)}
# 'quoted' or "quoted" text in an exception message, and b'...' reprs of bytes.
_QUOTED = re.compile(r"""b?'(?:[^'\\\n]|\\.)*'|b?"(?:[^"\\\n]|\\.)*\"""")
WITHHELD = "'…'"


def configure(salt: str | None = None, token: str | None = None) -> None:
    """The salt of user_ref: LOG_SALT as given, else one derived from the bot token (a secret the
    replicas share), else a random one (kept)."""
    if salt:
        _salt["value"] = salt.encode()
    elif token:
        _salt["value"] = hmac.new(token.encode(), b"kbju user_ref salt", hashlib.sha256).digest()


def user_ref(user_id: int, salt: str | None = None) -> str:
    """How a person is named in a log line: "u" and 12 hex digits of HMAC-SHA256(salt, id)."""
    key = salt.encode() if salt is not None else _salt["value"]
    return "u" + hmac.new(key, str(user_id).encode(), hashlib.sha256).hexdigest()[:12]


def withhold_quoted(text: str) -> str:
    """An exception message without the values it quotes: a driver's error may quote a name."""
    return _QUOTED.sub(WITHHELD, text)


def _own(name: str) -> bool:
    return name.split(".", 1)[0] in OWN_LOGGERS


class PrivacyFilter(logging.Filter):
    """On a handler: drop other libraries' DEBUG records, withhold quoted values of exceptions."""

    def filter(self, record: logging.LogRecord) -> bool:
        if record.levelno < logging.INFO and not _own(record.name):
            return False
        if isinstance(record.args, tuple) and any(isinstance(a, BaseException) for a in record.args):
            record.args = tuple(withhold_quoted(str(a)) if isinstance(a, BaseException) else a for a in record.args)
        return True


def withhold_in_traceback(text: str) -> str:
    """A formatted traceback with the exception lines' quoted values withheld (code lines are kept:
    they are the program's, not the person's)."""
    lines = text.splitlines()
    return "\n".join(line if line.startswith((" ", "Traceback", "\t")) or not line else withhold_quoted(line)
                     for line in lines)

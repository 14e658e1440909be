"""Logging setup: text or JSON lines, quiet per-request libraries, the bot token and database passwords masked.

httpx, aiohttp and PTB put request URLs (which contain the token) into log records and
exception texts. A filter on every handler of the root logger rewrites each record's final text,
so no line can carry `bot<digits>:<secret>` or the configured token, whatever logged it.
"""

from __future__ import annotations

import json
import logging
import re
import sys
import time

from bot import privacy

TOKEN_PATTERN = re.compile(r"\d{3,20}:[A-Za-z0-9_-]{20,100}")
_MASK = "<token>"
# Database credentials in any form libpq accepts: a URL's user:PASSWORD@ (also before a host list),
# and password= / sslpassword= as a URL parameter or in a key=value string (quoted or not).
URL_PASSWORD = re.compile(r"(\b[a-z][a-z0-9+.-]*://[^:/?#@\s]*:)[^@\s/]*@", re.IGNORECASE)
PASSWORD_PARAM = re.compile(r"\b(password|sslpassword)(\s*=\s*)('(?:[^'\\]|\\.)*'|[^\s&'\"]+)", re.IGNORECASE)
_extra_secrets: set[str] = set()


def add_secret(secret: str | None) -> None:
    """Mask this exact string too (the token, the webhook secret)."""
    if secret:
        _extra_secrets.add(secret)


def mask_secrets(text: str) -> str:
    for secret in _extra_secrets:
        if secret in text:
            text = text.replace(secret, _MASK)
    text = URL_PASSWORD.sub(r"\1***@", text)
    text = PASSWORD_PARAM.sub(r"\1\2***", text)
    return TOKEN_PATTERN.sub(_MASK, text)


class SecretMaskingFilter(logging.Filter):
    """Renders the record's message and traceback once, masked; the handler then prints that."""

    def filter(self, record: logging.LogRecord) -> bool:
        try:
            message = record.getMessage()
        except Exception:  # noqa: BLE001 - a bad format string must not lose the record
            message = str(record.msg)
        record.msg, record.args = mask_secrets(message), None
        if record.exc_info and record.exc_info[0] is not None:
            text = logging.Formatter().formatException(record.exc_info)
            record.exc_text = mask_secrets(privacy.withhold_in_traceback(text))
            record.exc_info = None
        if record.stack_info:
            record.stack_info = mask_secrets(record.stack_info)
        return True


class JsonFormatter(logging.Formatter):
    def format(self, record: logging.LogRecord) -> str:
        entry = {"ts": time.strftime("%Y-%m-%dT%H:%M:%S", time.gmtime(record.created)) + f".{int(record.msecs):03d}Z",
                 "level": record.levelname, "logger": record.name, "message": record.getMessage()}
        if record.exc_text:
            entry["exc"] = record.exc_text
        return json.dumps(entry, ensure_ascii=False)


class OutageNoiseFilter(logging.Filter):
    """asyncpg's pool logs every failed reconnect during a database outage with a full traceback.

    The outage itself is reported once per update ("database unavailable") and by metrics; a
    traceback per retry would bury real errors, so these records keep one line with the cause.
    """

    def filter(self, record: logging.LogRecord) -> bool:
        if record.exc_info and record.exc_info[1] is not None:
            exc = record.exc_info[1]
            record.msg = f"{record.getMessage()} ({type(exc).__name__}: {exc})"
            record.args, record.exc_info, record.exc_text = None, None, None
        return True


def install_filter(root: logging.Logger | None = None) -> None:
    """Put the privacy filter, then the masking filter, on every handler of the root logger (idempotent)."""
    root = root or logging.getLogger()
    for handler in root.handlers:
        if not any(isinstance(f, privacy.PrivacyFilter) for f in handler.filters):
            handler.filters.insert(0, privacy.PrivacyFilter())
        if not any(isinstance(f, SecretMaskingFilter) for f in handler.filters):
            handler.addFilter(SecretMaskingFilter())


def setup(level: str = "INFO", fmt: str = "text", stream=None) -> None:
    root = logging.getLogger()
    if not root.handlers:
        handler = logging.StreamHandler(stream or sys.stderr)
        handler.setFormatter(JsonFormatter() if fmt == "json" else
                             logging.Formatter("%(asctime)s %(levelname)s %(name)s: %(message)s"))
        root.addHandler(handler)
    root.setLevel(level)
    install_filter(root)
    pool_logger = logging.getLogger("asyncpg.pool")
    if not any(isinstance(f, OutageNoiseFilter) for f in pool_logger.filters):
        pool_logger.addFilter(OutageNoiseFilter())
    # One INFO line per HTTP request (with the URL) is noise at best and a token leak at worst.
    for noisy in ("httpx", "httpcore", "aiohttp.access"):
        logging.getLogger(noisy).setLevel(max(logging.WARNING, root.level))
    # Their DEBUG lines carry whole Bot API calls and updates (names, answers): never on, whatever
    # LOG_LEVEL says (the handlers' PrivacyFilter drops such records from any other library too).
    for payloads in ("telegram", "hpack", "aiohttp", "asyncpg"):
        logging.getLogger(payloads).setLevel(max(logging.INFO, root.level))

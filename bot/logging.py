"""Logging setup: text or JSON lines with context, quiet per-request libraries, secrets masked.

Every line carries the process's identity (service, version, replica) and the context bound for
the work it belongs to: `bound(update_id=..., user=...)` around one update (bot.transport.updates)
makes every line logged while it is handled carry the update id, the person's salted ref
(bot.privacy.user_ref, never the id), and the flow and step once `annotate` names them. The context
lives in a contextvars.ContextVar, so concurrent updates on one event loop never mix theirs. A line
adds its own fields with `extra={"fields": {...}}`.

httpx, aiohttp and PTB put request URLs (which contain the token) into log records and
exception texts. A filter on every handler of the root logger rewrites each record's final text,
so no line can carry `bot<digits>:<secret>` or the configured token, whatever logged it.
"""

from __future__ import annotations

import contextlib
import contextvars
import json
import logging
import os
import re
import socket
import sys
import time
from collections.abc import Iterator
from typing import Any

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


_context: contextvars.ContextVar[dict[str, Any] | None] = contextvars.ContextVar("kbju_log_context", default=None)
_process: dict[str, str] = {}


def identify(service: str, version: str | None = None, replica: str | None = None) -> None:
    """Who writes the lines: the service, its version and the replica (pod or host name)."""
    if version is None:
        from bot import buildinfo

        version = buildinfo.version()
    _process.update(service=service, version=version,
                    replica=replica or os.environ.get("POD_NAME") or os.environ.get("HOSTNAME") or socket.gethostname())


@contextlib.contextmanager
def bound(**fields: Any) -> Iterator[dict[str, Any]]:
    """A new context for the lines logged inside (the current one's fields, plus these)."""
    token = _context.set({**(_context.get() or {}), **fields})
    try:
        yield _context.get()
    finally:
        _context.reset(token)


def annotate(**fields: Any) -> None:
    """Add fields to the current context (the update's flow and step, its outcome); no context: nothing."""
    current = _context.get()
    if current is not None:
        current.update(fields)


def context() -> dict[str, Any]:
    return dict(_context.get() or {})


def _fields(record: logging.LogRecord) -> dict[str, Any]:
    """The record's context (taken when it was made, see ContextStamp) and its own extra fields."""
    fields = dict(getattr(record, "context", None) or {})
    fields.update(getattr(record, "fields", None) or {})
    return fields


class ContextStamp(logging.Filter):
    """Copies the current context onto the record as it is made (formatting may happen later, elsewhere)."""

    def filter(self, record: logging.LogRecord) -> bool:
        if not hasattr(record, "context"):
            record.context = dict(_context.get() or {})
        return True


class JsonFormatter(logging.Formatter):
    """One JSON object a line: ts, level, logger, message, the process's identity, the context, exc."""

    def format(self, record: logging.LogRecord) -> str:
        entry = {"ts": time.strftime("%Y-%m-%dT%H:%M:%S", time.gmtime(record.created)) + f".{int(record.msecs):03d}Z",
                 "level": record.levelname, "logger": record.name, "message": record.getMessage(), **_process}
        for key, value in _fields(record).items():
            entry.setdefault(key, value)
        if record.exc_text:
            entry["exc"] = record.exc_text
        return mask_secrets(json.dumps(entry, ensure_ascii=False, default=str))


class TextFormatter(logging.Formatter):
    """The classic line, then the context as key=value pairs."""

    def __init__(self) -> None:
        super().__init__("%(asctime)s %(levelname)s %(name)s: %(message)s")

    def format(self, record: logging.LogRecord) -> str:
        line = super().format(record)
        fields = _fields(record)
        if not fields:
            return line
        pairs = " ".join(f"{key}={_text_value(value)}" for key, value in fields.items())
        head, sep, tail = line.partition("\n")  # a traceback stays below the line
        return mask_secrets(f"{head} [{pairs}]{sep}{tail}")


def _text_value(value: Any) -> str:
    text = f"{value:.1f}" if isinstance(value, float) else str(value)
    return json.dumps(text, ensure_ascii=False) if not text or any(c in text for c in ' "=[]') else text


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
        if not any(isinstance(f, ContextStamp) for f in handler.filters):
            handler.filters.insert(0, ContextStamp())
        if not any(isinstance(f, privacy.PrivacyFilter) for f in handler.filters):
            handler.filters.insert(0, privacy.PrivacyFilter())
        if not any(isinstance(f, SecretMaskingFilter) for f in handler.filters):
            handler.addFilter(SecretMaskingFilter())


def setup(level: str = "INFO", fmt: str = "text", stream=None, service: str | None = None) -> None:
    """The root logger's one handler (a second call keeps the first's format and stream) and filters.
    `service` names the writer in every line (default kbju-bot)."""
    root = logging.getLogger()
    if service is not None or not _process:
        identify(service or "kbju-bot")
    if not root.handlers:
        handler = logging.StreamHandler(stream or sys.stderr)
        handler.setFormatter(JsonFormatter() if fmt == "json" else TextFormatter())
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

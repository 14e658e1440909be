"""Bot API call parameters from any of the four encodings Telegram accepts.

Telegram reads parameters from the query string, `application/json`,
`application/x-www-form-urlencoded` and `multipart/form-data`. In the last two every value is
a string (PTB sends booleans as "true", numbers as "42" and objects such as `reply_markup` as
JSON text), so the typed getters here accept both the native JSON value and its text form.
"""

from __future__ import annotations

import json
from collections.abc import Callable
from contextvars import ContextVar
from dataclasses import dataclass

from aiohttp import web

from .errors import bad_request

_TRUE = {"true", "1", "yes", "on"}
_FALSE = {"false", "0", "no", "off", ""}


@dataclass(slots=True)
class Upload:
    """A file sent in a multipart request."""

    data: bytes
    filename: str | None
    content_type: str | None


def is_unicode(value: object) -> bool:
    """Whether every string in a decoded JSON value can be sent as UTF-8. JSON may spell a lone
    surrogate ("\\ud800"), which is no Unicode character: Telegram neither accepts nor sends one."""
    try:
        json.dumps(value, ensure_ascii=False).encode("utf-8")
    except (UnicodeEncodeError, RecursionError):
        return False
    return True


async def read_params(request: web.Request) -> Params:
    """Merge the query string and the body into one `Params` (the body wins on clashes)."""
    values: dict[str, object] = dict(request.query) if request.query_string else {}
    if request.body_exists:
        ctype = request.content_type
        if ctype == "application/json":
            raw = await request.read()
            if raw.strip():
                try:
                    body = json.loads(raw)
                except ValueError:
                    raise bad_request("can't parse JSON object") from None
                if not isinstance(body, dict):
                    raise bad_request("JSON object expected")
                if not is_unicode(body):
                    raise bad_request("strings must be encoded in UTF-8")
                values.update(body)
        elif ctype in ("application/x-www-form-urlencoded", "multipart/form-data"):
            form = await request.post()
            for key, value in form.items():
                if isinstance(value, web.FileField):
                    values[key] = Upload(value.file.read(), value.filename, value.content_type)
                else:
                    values[key] = value
    return Params(values)


# Whether the client of the API call being handled is still connected (set by the server per request):
# getUpdates tells a live concurrent poller from the dead long poll of a killed process.
CLIENT_CONNECTED: ContextVar[Callable[[], bool]] = ContextVar("client_connected", default=lambda: True)


class Params:
    """Typed, lenient access to call parameters, raising Telegram's errors on bad input."""

    __slots__ = ("values",)

    def __init__(self, values: dict[str, object]) -> None:
        self.values = values

    def __contains__(self, name: str) -> bool:
        return self.values.get(name) is not None

    def raw(self, name: str) -> object:
        return self.values.get(name)

    def get_str(self, name: str, default: str | None = None) -> str | None:
        value = self.values.get(name)
        if value is None:
            return default
        if isinstance(value, Upload):
            return value.data.decode("utf-8", "replace")
        if isinstance(value, bool):
            return "true" if value else "false"
        return value if isinstance(value, str) else str(value)

    def get_int(self, name: str, default: int | None = None, *, error: str | None = None) -> int | None:
        value = self.values.get(name)
        if value is None or value == "":
            return default
        if isinstance(value, bool):
            raise bad_request(error or f"invalid {name} specified")
        if isinstance(value, int):
            return value
        try:
            return int(value) if not isinstance(value, float) else _exact_int(value)
        except (TypeError, ValueError):
            raise bad_request(error or f"invalid {name} specified") from None

    def get_float(self, name: str, default: float | None = None) -> float | None:
        value = self.values.get(name)
        if value is None or value == "":
            return default
        try:
            return float(value)  # type: ignore[arg-type]
        except (TypeError, ValueError):
            raise bad_request(f"invalid {name} specified") from None

    def get_bool(self, name: str, default: bool = False) -> bool:
        value = self.values.get(name)
        if value is None:
            return default
        if isinstance(value, bool):
            return value
        if isinstance(value, int | float):
            return value != 0
        text = str(value).strip().lower()
        if text in _TRUE:
            return True
        if text in _FALSE:
            return False
        raise bad_request(f"invalid {name} specified")

    def get_json(self, name: str, *, error: str | None = None) -> object:
        """A JSON-typed parameter: native in a JSON body, serialised text in a form."""
        value = self.values.get(name)
        if isinstance(value, str):
            if not value.strip():
                return None
            try:
                return json.loads(value)
            except ValueError:
                raise bad_request(error or f"can't parse {name} JSON object") from None
        return value

    def get_upload(self, name: str) -> Upload | None:
        value = self.values.get(name)
        return value if isinstance(value, Upload) else None


def _exact_int(value: float) -> int:
    if value != int(value):
        raise ValueError(value)
    return int(value)

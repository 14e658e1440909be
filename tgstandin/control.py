"""The control API under /_standin/: act as people, read what the bot did, inject faults.

Plain HTTP + JSON so any client can drive it (pytest through `tgstandin.client`, Locust users
under gevent, curl). Errors are `{"ok": false, "error": "..."}` with status 400/404 and a
message that says what to do instead.
"""

from __future__ import annotations

import json
import mimetypes

from aiohttp import web

from . import people
from .faults import FaultConfig
from .limits import LimitsConfig
from .params import is_unicode
from .state import TOKEN_RE, BotState, StandinState

PREFIX = "/_standin"
_dumps = json.JSONEncoder(ensure_ascii=False, separators=(",", ":")).encode


class ControlError(Exception):
    def __init__(self, message: str, status: int = 400) -> None:
        super().__init__(message)
        self.status = status


def reply(data: object, status: int = 200) -> web.Response:
    return web.Response(text=_dumps(data), status=status, content_type="application/json")


def _guard(handler):
    """Turn expected failures into readable 4xx answers."""
    async def wrapped(request: web.Request) -> web.StreamResponse:
        try:
            return await handler(request)
        except ControlError as exc:
            return reply({"ok": False, "error": str(exc)}, exc.status)
        except (people.PersonError, ValueError, TypeError) as exc:
            return reply({"ok": False, "error": str(exc)}, 400)
    return wrapped


async def _body(request: web.Request) -> dict:
    values: dict = dict(request.query)
    if request.body_exists:
        raw = await request.read()
        if raw.strip():
            try:
                body = json.loads(raw)
            except ValueError:
                raise ControlError("the request body must be a JSON object") from None
            if not isinstance(body, dict):
                raise ControlError("the request body must be a JSON object")
            if not is_unicode(body):  # refused whole, before anything is queued or logged
                raise ControlError("the request holds text that is not valid Unicode (a lone surrogate such as "
                                   "\\ud800): no Telegram client can send it")
            values.update(body)
    return values


def _int(values: dict, name: str, default: int | None = None) -> int:
    value = values.get(name, default)
    if value is None:
        raise ControlError(f"{name} is required")
    if isinstance(value, bool):
        raise ControlError(f"{name} must be an integer, got {value!r}")
    try:
        return int(value)
    except (TypeError, ValueError):
        raise ControlError(f"{name} must be an integer, got {value!r}") from None


def _flag(values: dict, name: str, default: bool) -> bool:
    value = values.get(name, default)
    if isinstance(value, str):
        return value.strip().lower() in ("1", "true", "yes", "on")
    return bool(value)


class Control:
    """Route handlers bound to one server's state."""

    def __init__(self, state: StandinState) -> None:
        self.state = state

    def add_routes(self, app: web.Application) -> None:
        r = app.router
        r.add_get(PREFIX, self.health)
        r.add_post(f"{PREFIX}/bots", _guard(self.register_bot))
        r.add_post(f"{PREFIX}/send", _guard(self.send))
        r.add_post(f"{PREFIX}/press", _guard(self.press))
        r.add_post(f"{PREFIX}/update", _guard(self.update))
        r.add_post(f"{PREFIX}/block", _guard(self.block))
        r.add_get(f"{PREFIX}/chats", _guard(self.chats))
        r.add_get(f"{PREFIX}/chats/{{chat_id}}/events", _guard(self.events))
        r.add_get(f"{PREFIX}/chats/{{chat_id}}/messages", _guard(self.messages))
        r.add_get(f"{PREFIX}/files/{{file_id}}", _guard(self.file))
        r.add_get(f"{PREFIX}/stats", _guard(self.stats))
        r.add_get(f"{PREFIX}/faults", _guard(self.get_faults))
        r.add_post(f"{PREFIX}/faults", _guard(self.set_faults))
        r.add_delete(f"{PREFIX}/faults", _guard(self.clear_faults))
        r.add_get(f"{PREFIX}/limits", _guard(self.get_limits))
        r.add_post(f"{PREFIX}/limits", _guard(self.set_limits))
        r.add_delete(f"{PREFIX}/limits", _guard(self.clear_limits))
        r.add_post(f"{PREFIX}/reset", _guard(self.reset))

    def bot(self, values: dict) -> BotState:
        """The bot a request is about: its token, or the only bot known so far."""
        token = values.get("token")
        if token:
            if not isinstance(token, str) or not TOKEN_RE.fullmatch(token):
                raise ControlError("token is not a bot token (<digits>:<secret>)")
            return self.state.bot(token)
        bots = list(self.state.bots.values())
        if len(bots) == 1:
            return bots[0]
        if not bots:
            raise ControlError("no bot is known yet: pass token, let the bot call any Bot API method first, "
                               f"or register it with POST {PREFIX}/bots {{\"token\": ...}}")
        raise ControlError(f"{len(bots)} bots are known (ids {sorted(b.bot_id for b in bots)}): pass token")

    async def health(self, request: web.Request) -> web.Response:
        return reply({"ok": True, "bots": len(self.state.bots)})

    async def register_bot(self, request: web.Request) -> web.Response:
        values = await _body(request)
        if not values.get("token"):
            raise ControlError("token is required")
        bot = self.bot(values)
        return reply({"ok": True, "bot_id": bot.bot_id})

    async def send(self, request: web.Request) -> web.Response:
        values = await _body(request)
        bot = self.bot(values)
        user_id = _positive_user(values)
        profile = {k: values.get(k) for k in ("first_name", "last_name", "username", "language_code")}
        return reply(people.say(bot, user_id, values.get("text"), profile))

    async def press(self, request: web.Request) -> web.Response:
        values = await _body(request)
        bot = self.bot(values)
        return reply(people.press(bot, _positive_user(values), _int(values, "message_id"), values.get("data"),
                                  strict=_flag(values, "strict", True)))

    async def update(self, request: web.Request) -> web.Response:
        values = await _body(request)
        return reply(people.inject(self.bot(values), values.get("update")))

    async def block(self, request: web.Request) -> web.Response:
        values = await _body(request)
        chat = self.bot(values).chat(_positive_user(values))
        chat.blocked = _flag(values, "blocked", True)
        return reply({"ok": True, "chat_id": chat.id, "blocked": chat.blocked})

    async def chats(self, request: web.Request) -> web.Response:
        bot = self.bot(dict(request.query))
        return reply({"chats": [{"chat_id": c.id, "known": c.known, "last_seq": c.log.last_seq,
                                 "messages": len(c.messages), **c.profile} for c in bot.chats.values()]})

    async def events(self, request: web.Request) -> web.Response:
        values = dict(request.query)
        bot = self.bot(values)
        chat = bot.chat(_int({"chat_id": request.match_info["chat_id"]}, "chat_id"))
        after = _int(values, "after", 0)
        min_count = _int(values, "min", 1)
        try:
            timeout = min(max(float(values.get("timeout", 10.0)), 0.0), 300.0)
        except ValueError:
            raise ControlError("timeout must be a number of seconds") from None
        found = await chat.log.wait(after, min_count, timeout) if min_count > 0 else chat.log.since(after)
        return reply({"chat_id": chat.id, "events": found, "last_seq": chat.log.last_seq})

    async def messages(self, request: web.Request) -> web.Response:
        bot = self.bot(dict(request.query))
        chat_id = _int({"chat_id": request.match_info["chat_id"]}, "chat_id")
        chat = bot.chats.get(chat_id)
        return reply({"chat_id": chat_id, "messages": chat.ordered_messages() if chat else []})

    async def file(self, request: web.Request) -> web.Response:
        stored = self.state.files.by_id.get(request.match_info["file_id"])
        if stored is None:
            raise ControlError("no such file_id", 404)
        ctype = mimetypes.guess_type(stored.file_path)[0] or "application/octet-stream"
        return web.Response(body=stored.data, content_type=ctype)

    async def stats(self, request: web.Request) -> web.Response:
        bots = [bot.stats() for bot in self.state.bots.values()]
        totals = {key: sum(b["updates"][key] for b in bots) for key in ("created", "delivered", "pending")}
        return reply({
            "methods": dict(self.state.calls),
            "updates": totals,
            "faults": {"injected": dict(self.state.faults.injected), **self._faults()},
            "limits": self._limits(),
            "files": len(self.state.files.by_id),
            "bots": bots,
        })

    def _faults(self) -> dict:
        return self.state.faults.describe({t: b.bot_id for t, b in self.state.bots.items()})

    async def get_faults(self, request: web.Request) -> web.Response:
        return reply(self._faults())

    async def set_faults(self, request: web.Request) -> web.Response:
        values = await _body(request)
        token = values.get("token")
        if token is not None:
            self.bot(values)  # validates and registers the token
        self.state.faults.configure(FaultConfig.from_json(values), token)
        return reply({"ok": True, **self._faults()})

    async def clear_faults(self, request: web.Request) -> web.Response:
        values = await _body(request)
        token = values.get("token")
        self.state.faults.clear(token if token else None)
        return reply({"ok": True, **self._faults()})

    def _limits(self) -> dict:
        return self.state.limits.describe({t: b.bot_id for t, b in self.state.bots.items()})

    async def get_limits(self, request: web.Request) -> web.Response:
        return reply(self._limits())

    async def set_limits(self, request: web.Request) -> web.Response:
        values = await _body(request)
        token = values.get("token")
        if token is not None:
            self.bot(values)  # validates and registers the token
        self.state.limits.configure(LimitsConfig.from_json(values), token)
        return reply({"ok": True, **self._limits()})

    async def clear_limits(self, request: web.Request) -> web.Response:
        values = await _body(request)
        token = values.get("token")
        self.state.limits.clear(token if token else None)
        return reply({"ok": True, **self._limits()})

    async def reset(self, request: web.Request) -> web.Response:
        await self.state.clear()
        return reply({"ok": True})


def _positive_user(values: dict) -> int:
    user_id = _int(values, "user_id")
    if user_id <= 0:
        raise ControlError("user_id must be a positive integer (a person's id is their private chat id)")
    return user_id

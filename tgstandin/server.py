"""BotApiStandin: a local HTTP server that speaks the Telegram Bot API.

The bot under test is pointed at `url` (TELEGRAM_API_URL) and calls `{url}/bot{token}/{method}`
exactly as it would call api.telegram.org; tests act as people through the control API under
`{url}/_standin/`. One process, one event loop, all state in memory.
"""

from __future__ import annotations

import asyncio
import contextlib
import json
import logging
import mimetypes
from typing import NoReturn, Self

from aiohttp import web

from .botapi import METHODS, Described
from .control import Control
from .errors import NOT_FOUND, UNAUTHORIZED, ApiError
from .faults import NOTHING
from .limits import LimitsConfig
from .params import CLIENT_CONNECTED, Params, read_params
from .state import TOKEN_RE, BotState, StandinState

log = logging.getLogger("tgstandin")
_dumps = json.JSONEncoder(ensure_ascii=False, separators=(",", ":")).encode
_UNAUTHORIZED = _dumps(UNAUTHORIZED.envelope())
_NOT_FOUND = _dumps(NOT_FOUND.envelope())
MAX_UPLOAD = 64 * 1024 * 1024


def _json(text: str, status: int = 200) -> web.Response:
    return web.Response(text=text, status=status, content_type="application/json")


class BotApiStandin:
    """The stand-in server. `async with BotApiStandin() as standin:` or start()/stop()."""

    def __init__(self, *, backoff_initial: float = 0.1, backoff_max: float = 2.0,
                 webhook_timeout: float = 30.0, events_cap: int = 5000, limits: LimitsConfig | None = None) -> None:
        """`limits`: Telegram's sending limits for every bot from the start (tgstandin.limits)."""
        self.state = StandinState(backoff_initial=backoff_initial, backoff_max=backoff_max,
                                  webhook_timeout=webhook_timeout, events_cap=events_cap)
        if limits is not None:
            self.state.limits.configure(limits)
        self.state.webhook_reply_handler = self._webhook_reply
        self._runner: web.AppRunner | None = None
        self._url: str | None = None
        self._background: set[asyncio.Task] = set()

    @property
    def url(self) -> str:
        """Root URL, e.g. http://127.0.0.1:8081 (the bot's TELEGRAM_API_URL)."""
        if self._url is None:
            raise RuntimeError("the stand-in is not started")
        return self._url

    def build_app(self) -> web.Application:
        app = web.Application(client_max_size=MAX_UPLOAD)
        app.router.add_route("*", "/bot{token}/{method}", self._handle_api)
        app.router.add_get("/file/bot{token}/{path:.+}", self._handle_file)
        Control(self.state).add_routes(app)
        return app

    async def start(self, host: str = "127.0.0.1", port: int = 0) -> None:
        self._runner = web.AppRunner(self.build_app(), access_log=None, handle_signals=False,
                                     shutdown_timeout=1.0)
        await self._runner.setup()
        site = web.TCPSite(self._runner, host, port, backlog=1024)
        await site.start()
        bound_port = self._runner.addresses[0][1]
        shown = host if host not in ("0.0.0.0", "::", "") else "127.0.0.1"  # nosec B104  # display only: binds nothing
        shown = f"[{shown}]" if ":" in shown else shown
        self._url = f"http://{shown}:{bound_port}"
        log.info("Bot API stand-in listening on %s", self._url)

    async def stop(self) -> None:
        for bot in self.state.bots.values():
            await bot.close()
        for task in self._background:
            task.cancel()
        if self._runner is not None:
            await self._runner.cleanup()
            self._runner = None
        if self.state.session is not None:
            await self.state.session.close()
            self.state.session = None

    async def __aenter__(self) -> Self:
        await self.start()
        return self

    async def __aexit__(self, *exc_info: object) -> None:
        await self.stop()

    # --- Bot API ---------------------------------------------------------------------------------

    async def _handle_api(self, request: web.Request) -> web.StreamResponse:
        token = request.match_info["token"]
        if not TOKEN_RE.fullmatch(token):
            return _json(_UNAUTHORIZED, 401)
        bot = self.state.bot(token)
        entry = METHODS.get(request.match_info["method"].lower())
        if entry is None:
            bot.calls["<unknown>"] += 1
            return _json(_NOT_FOUND, 404)
        name, method = entry
        bot.calls[name] += 1
        self.state.calls[name] += 1
        drop_after = False
        transport = request.transport
        CLIENT_CONNECTED.set(lambda: transport is not None and not transport.is_closing())
        try:
            params = await read_params(request)
            decision = self.state.faults.decide(token, name.lower(), params.raw("chat_id"))
            if decision is not NOTHING:
                if decision.delay:
                    await asyncio.sleep(decision.delay)
                action = decision.action
                if action == "429":
                    raise ApiError(429, f"Too Many Requests: retry after {decision.retry_after}",
                                   {"retry_after": decision.retry_after})
                if action == "500":
                    raise ApiError(500, "Internal Server Error")
                if action == "502":
                    raise ApiError(502, "Bad Gateway")
                if action == "drop":
                    self._drop(request)
                drop_after = action == "drop_after"
            retry_after = self._flood_control(token, bot, name.lower(), params.raw("chat_id"))
            if retry_after:
                raise ApiError(429, f"Too Many Requests: retry after {retry_after}", {"retry_after": retry_after})
            result = await method(self.state, bot, params)
        except ApiError as exc:
            return _json(_dumps(exc.envelope()), exc.code)
        if drop_after:
            self._drop(request)
        if isinstance(result, Described):
            return _json(_dumps({"ok": True, "result": result.result, "description": result.description}))
        return _json(_dumps({"ok": True, "result": result}))

    def _flood_control(self, token: str, bot: BotState, method: str, chat_id: object) -> int:
        """Telegram's sending limits (tgstandin.limits): 0, or the retry_after of a 429."""
        if self.state.limits.config_for(token) is None:
            return 0
        chat = None
        with contextlib.suppress(TypeError, ValueError):
            chat = bot.chats.get(int(chat_id))  # type: ignore[call-overload]
        return self.state.limits.check(token, method, chat_id, chat.last_active if chat is not None else None)

    @staticmethod
    def _drop(request: web.Request) -> NoReturn:
        """Close the connection without an answer (the client sees a reset/closed connection)."""
        transport = request.transport
        if transport is not None:
            transport.abort()
        raise asyncio.CancelledError  # aiohttp treats this as a handler that went away silently

    async def _handle_file(self, request: web.Request) -> web.StreamResponse:
        if not TOKEN_RE.fullmatch(request.match_info["token"]):
            return _json(_UNAUTHORIZED, 401)
        stored = self.state.files.by_path.get(request.match_info["path"])
        if stored is None:
            return _json(_NOT_FOUND, 404)
        ctype = mimetypes.guess_type(stored.file_path)[0] or "application/octet-stream"
        return web.Response(body=stored.data, content_type=ctype)

    def _webhook_reply(self, bot: BotState, payload: dict) -> None:
        """Run the Bot API call a webhook answered with; Telegram ignores its outcome."""
        entry = METHODS.get(str(payload.get("method", "")).lower())
        if entry is None:
            return
        name, method = entry
        bot.calls[name] += 1
        self.state.calls[name] += 1
        values = {k: v for k, v in payload.items() if k != "method"}

        async def run() -> None:
            try:
                await method(self.state, bot, Params(values))
            except ApiError as exc:
                log.debug("webhook reply %s failed: %s", name, exc.description)

        task = asyncio.create_task(run())
        self._background.add(task)
        task.add_done_callback(self._background.discard)

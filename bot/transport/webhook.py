"""Our webhook server (aiohttp): secret checked in constant time, 200 only after the update is handled.

Telegram re-delivers an update until it gets a 2xx, so answering after processing (not
before, as a queue-and-ack server would) means a crash mid-update re-delivers it; the
processed_updates claim makes the re-delivery harmless.

Two probes share the server. /healthz (readiness): 200 when the database answers within 1 s, else
503, with JSON {status, version, revision, database}. /livez (liveness): 200 whenever the event loop
serves, whatever the database does, so an orchestrator restarts a hung bot, never a healthy bot
waiting for its database.
"""

from __future__ import annotations

import hmac
import json
import logging

from aiohttp import web

from bot import buildinfo
from bot.db.pool import ping
from bot.transport.updates import ALLOWED_UPDATES, process, read_update

log = logging.getLogger(__name__)
SECRET_HEADER = "X-Telegram-Bot-Api-Secret-Token"
# SIGTERM: the server stops accepting and in-flight updates get this long to finish. Orchestrators'
# grace periods are this plus their own margins (compose stop_grace_period, Kubernetes
# terminationGracePeriodSeconds: tests/test_deploy_k8s.py checks it).
DRAIN_SECONDS = 30
BAD_UPDATE = "bad update: expected a JSON object of Telegram's Update with an integer update_id"


def _update_data(body: bytes) -> dict | None:
    """The JSON object of a webhook body, or None for anything Telegram would not send."""
    try:
        data = json.loads(body)
    except ValueError:  # also invalid UTF-8
        return None
    update_id = data.get("update_id") if isinstance(data, dict) else None
    if not isinstance(update_id, int) or isinstance(update_id, bool):
        return None
    return data


def build_web_app(app, path: str, secret: str) -> web.Application:
    expected = secret.encode()

    async def on_update(request: web.Request) -> web.Response:
        given = request.headers.get(SECRET_HEADER, "").encode()
        if not hmac.compare_digest(given, expected):
            return web.Response(status=403, text="forbidden")
        data = _update_data(await request.read())
        if data is None:
            return web.Response(status=400, text=BAD_UPDATE)
        update = read_update(data, app.bot)
        if update is not None:  # else logged and skipped: a 400 would make Telegram send it forever
            await process(app, update)
        return web.Response(status=200)

    build = {"version": buildinfo.version(), "revision": buildinfo.revision()}

    async def healthz(request: web.Request) -> web.Response:
        ctx = app.bot_data.get("kbju")
        healthy = ctx is not None and await ping(ctx.pool, timeout=1.0)
        state = "ok" if healthy else "unavailable"
        return web.json_response({"status": state, **build, "database": state}, status=200 if healthy else 503)

    async def livez(request: web.Request) -> web.Response:
        return web.json_response({"status": "ok", **build})

    web_app = web.Application(client_max_size=1024 * 1024)
    web_app.router.add_post(path, on_update)
    web_app.router.add_get("/healthz", healthz)
    web_app.router.add_get("/livez", livez)
    return web_app


async def start_server(app, host: str, port: int, path: str, secret: str) -> web.AppRunner:
    runner = web.AppRunner(build_web_app(app, path, secret), access_log=None, shutdown_timeout=DRAIN_SECONDS)
    await runner.setup()
    await web.TCPSite(runner, host, port).start()
    log.info("webhook server on %s:%d%s", host, port, path)
    return runner


async def register(app, url: str, secret: str) -> None:
    await app.bot.set_webhook(url, secret_token=secret, allowed_updates=ALLOWED_UPDATES,
                              max_connections=100)

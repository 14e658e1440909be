"""Our webhook server (aiohttp): secret checked in constant time, 200 only after the update is handled.

Telegram re-delivers an update until it gets a 2xx, so answering after processing (not
before, as a queue-and-ack server would) means a crash mid-update re-delivers it; the
processed_updates claim makes the re-delivery harmless.

Two probes share the server. /healthz (readiness): 200 when the database answers within 1 s on the
probe's own connection, else 503, with JSON {status, version, revision, database}. /livez
(liveness): 200 whenever the event loop serves, whatever the database does, so an orchestrator
restarts a hung bot, never a healthy bot waiting for its database.

Stopping drains (`WebhookServer.drain_and_stop`): /healthz answers 503 "draining" at once while
updates are still served, each on a connection closed after its answer, so a load balancer
(HAProxy's health check, Kubernetes readiness) stops routing here; after the drain delay
(WEBHOOK_DRAIN_SECONDS) the listener closes and the updates still in flight finish (up to
SHUTDOWN_TIMEOUT_S). Orchestrators' grace periods are the two plus their own margins (compose
stop_grace_period, Kubernetes terminationGracePeriodSeconds: tests/test_deploy_k8s.py checks it).
"""

from __future__ import annotations

import asyncio
import hmac
import json
import logging
import ssl
import time
from collections.abc import Callable
from dataclasses import dataclass, field
from pathlib import Path

from aiohttp import web

from bot import buildinfo, metrics
from bot.transport import tls
from bot.transport.updates import ALLOWED_UPDATES, process, read_update

log = logging.getLogger(__name__)
SECRET_HEADER = "X-Telegram-Bot-Api-Secret-Token"
# The largest Update Telegram sends (a 4096-character message quoting another, with entities and
# a link preview) is some tens of KiB. A body is refused past this, before it is buffered: 100
# concurrent deliveries (setWebhook's max_connections) hold at most 25 MiB.
MAX_UPDATE_BYTES = 256 * 1024
READ_TIMEOUT_S = 10.0  # Telegram sends an update at once; a body trickling in longer is not its
BAD_UPDATE = "bad update: expected a JSON object of Telegram's Update with an integer update_id"
TOO_LARGE = f"request body too large: an update is at most {MAX_UPDATE_BYTES} bytes"
SHUTDOWN_TIMEOUT_S = 30  # updates still in flight when the listener closes get this long to finish


@dataclass
class RejectionLog:
    """Refused requests: every one counted (kbju_webhook_rejected_requests_total by reason), one log line
    per source a minute at most, so a scanner or a misconfigured proxy cannot flood the log.

    A line names the source address (the peer: a proxy's, behind one), the status and reason, and
    `count`: the requests refused from that source since its previous line, this one included. At
    most MAX_SOURCES sources are remembered; past that, a new source within the minute is counted,
    not logged."""

    WINDOW_S = 60.0
    MAX_SOURCES = 1024
    clock: Callable[[], float] = time.monotonic
    seen: dict[str, list] = field(default_factory=dict)  # source -> [first line's time, refused since]
    next_prune: float = float("-inf")

    def record(self, source: str | None, status: int, reason: str) -> None:
        metrics.webhook_rejected.labels(reason).inc()
        source = source or "unknown"
        now = self.clock()
        entry = self.seen.get(source)
        if entry is not None and now - entry[0] < self.WINDOW_S:
            entry[1] += 1
            return
        if entry is None and len(self.seen) >= self.MAX_SOURCES:
            if now < self.next_prune:  # full of sources seen this minute: no sweep per request in a flood
                return
            self.seen = {s: e for s, e in self.seen.items() if now - e[0] < self.WINDOW_S}
            if len(self.seen) >= self.MAX_SOURCES:
                self.next_prune = min(e[0] for e in self.seen.values()) + self.WINDOW_S
                return
        count = 1 + (entry[1] if entry is not None else 0)
        self.seen[source] = [now, 0]
        log.warning("webhook request rejected", extra={"fields": {"source": source, "status": status,
                                                                   "reason": reason, "count": count}})


@dataclass
class ServerState:
    draining: bool = False
    in_flight: int = 0
    stopped: bool = False


def _update_data(body: bytes) -> dict | None:
    """The JSON object of a webhook body, or None for anything Telegram would not send."""
    try:
        data = json.loads(body)
    except (ValueError, RecursionError):  # invalid UTF-8 too; RecursionError: thousands of nested [ or {
        return None
    update_id = data.get("update_id") if isinstance(data, dict) else None
    if not isinstance(update_id, int) or isinstance(update_id, bool):
        return None
    return data


def _refuse(status: int, text: str) -> web.Response:
    """An answer that also closes the connection, without reading the rest of the body (the server
    runs with lingering_time=0: aiohttp would otherwise read and discard it for up to 10 s)."""
    response = web.Response(status=status, text=text)
    response.force_close()
    return response


async def _read_body(request: web.Request) -> bytes | None:
    """The body, or None when it is (or would become) larger than MAX_UPDATE_BYTES.

    request.read() would not do: it raises the stream's buffer limit to client_max_size and keeps
    reading into one growing bytearray, so 100 oversized posts at once cost gigabytes that the
    allocator never returns. Here a declared Content-Length over the limit is refused before any
    of the body is read, and a chunked body (no Content-Length) is read in the stream's own small
    chunks and refused as soon as it passes the limit.
    """
    if request.content_length is not None and request.content_length > MAX_UPDATE_BYTES:
        return None
    body = bytearray()
    async with asyncio.timeout(READ_TIMEOUT_S):
        while chunk := await request.content.readany():
            body += chunk
            if len(body) > MAX_UPDATE_BYTES:
                return None
    return bytes(body)


def build_web_app(app, path: str, secret: str, state: ServerState | None = None,
                  previous: str | None = None) -> web.Application:
    """`previous`: during a rotation of WEBHOOK_SECRET, the old secret is still taken (every secret
    is compared, in constant time, whatever matched)."""
    accepted = [s.encode() for s in (secret, previous) if s]
    state = state or ServerState()
    rejections = RejectionLog()

    async def on_update(request: web.Request) -> web.Response:
        given = request.headers.get(SECRET_HEADER, "").encode()
        matches = [hmac.compare_digest(given, expected) for expected in accepted]
        if not any(matches):
            rejections.record(request.remote, 403, "forbidden")
            return _refuse(403, "forbidden")
        try:
            body = await _read_body(request)
        except TimeoutError:
            rejections.record(request.remote, 408, "timeout")
            return _refuse(408, "request body not received in time")
        if body is None:
            rejections.record(request.remote, 413, "too_large")
            return _refuse(413, TOO_LARGE)
        data = _update_data(body)
        if data is None:
            rejections.record(request.remote, 400, "bad_update")
            return web.Response(status=400, text=BAD_UPDATE)
        update = read_update(data, app.bot)
        if update is not None:  # else logged and skipped: a 400 would make Telegram send it forever
            state.in_flight += 1
            try:
                await process(app, update)
            finally:
                state.in_flight -= 1
        response = web.Response(status=200)
        if state.draining:  # no keep-alive connection left for a balancer to reuse when the listener closes
            response.force_close()
        return response

    build = {"version": buildinfo.version(), "revision": buildinfo.revision()}

    async def healthz(request: web.Request) -> web.Response:
        if state.draining:
            return web.json_response({"status": "draining", **build}, status=503)
        ctx = app.bot_data.get("kbju")
        if ctx is None or not await ctx.probe.answers(timeout=1.0):
            return web.json_response({"status": "unavailable", **build, "database": "unavailable"}, status=503)
        return web.json_response({"status": "ok", **build, "database": "ok"})

    async def livez(request: web.Request) -> web.Response:
        return web.json_response({"status": "ok", **build})

    web_app = web.Application(client_max_size=MAX_UPDATE_BYTES)
    web_app.router.add_post(path, on_update)
    web_app.router.add_get("/healthz", healthz)
    web_app.router.add_get("/livez", livez)
    return web_app


@dataclass
class WebhookServer:
    runner: web.AppRunner
    state: ServerState

    async def drain_and_stop(self, drain_s: float) -> None:
        """Readiness fails at once; serve drain_s more, then close the listener and let the updates
        in flight finish."""
        if drain_s > 0:
            self.state.draining = True
            log.info("draining: /healthz answers 503, the listener closes in %.1f s", drain_s)
            await asyncio.sleep(drain_s)
        log.info("webhook server closing (%d update(s) in flight)", self.state.in_flight)
        await self.stop()

    async def stop(self) -> None:
        if self.state.stopped:
            return
        self.state.draining = self.state.stopped = True
        await self.runner.cleanup()  # stops accepting, closes idle connections, waits for the in-flight


async def start_server(app, host: str, port: int, path: str, secret: str,
                       ssl_context: ssl.SSLContext | None = None, previous: str | None = None) -> WebhookServer:
    """The webhook server; HTTPS with ssl_context (WEBHOOK_CERT + WEBHOOK_KEY), else plain HTTP for a
    TLS-terminating proxy in front."""
    state = ServerState()
    runner = web.AppRunner(build_web_app(app, path, secret, state, previous), access_log=None,
                           shutdown_timeout=SHUTDOWN_TIMEOUT_S, lingering_time=0, read_bufsize=2**14)
    await runner.setup()
    await web.TCPSite(runner, host, port, ssl_context=ssl_context).start()
    log.info("webhook server on %s://%s:%d%s", "https" if ssl_context else "http", host, port, path)
    return WebhookServer(runner, state)


async def register(app, url: str, secret: str, certificate: Path | None = None) -> None:
    """setWebhook. A self-signed certificate is uploaded with it: Telegram then trusts exactly that
    certificate for the webhook's HTTPS (one from a public CA needs no upload)."""
    kwargs = {}
    if certificate is not None and tls.is_self_signed(certificate):
        kwargs["certificate"] = certificate.read_bytes()
    await app.bot.set_webhook(url, secret_token=secret, allowed_updates=ALLOWED_UPDATES, max_connections=100,
                              **kwargs)

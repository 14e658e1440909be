"""Bot API HTTP backends for PTB: an aiohttp `BaseRequest`, and a metrics wrapper for either backend.

PTB's default backend (httpx) gets slower per request as hundreds of requests are in flight
(docs/bot.md, anchors: 146 vs 1,346 updates/s). `AiohttpRequest` keeps one ClientSession with
a sized connector, honours PTB's per-call read/write/connect/pool timeouts and maps failures to
PTB's TimedOut / NetworkError. `InstrumentedRequest` wraps either backend with the
kbju_bot_api_* metrics, so both are measured the same way.
"""

from __future__ import annotations

import json
import time
from typing import Any

import aiohttp
from telegram.error import NetworkError, TimedOut
from telegram.request import BaseRequest, HTTPXRequest, RequestData

from bot import metrics
from bot.logging import mask_secrets

_DEFAULT = object()


def _chosen(value: Any, default: float | None) -> float | None:
    """PTB passes DEFAULT_NONE when the caller did not choose a timeout."""
    return default if isinstance(value, type(BaseRequest.DEFAULT_NONE)) else value


class AiohttpRequest(BaseRequest):
    """A PTB networking backend on one aiohttp ClientSession."""

    def __init__(self, connection_pool_size: int = 256, read_timeout: float | None = 5.0,
                 write_timeout: float | None = 5.0, connect_timeout: float | None = 5.0,
                 pool_timeout: float | None = 1.0, media_write_timeout: float | None = 20.0) -> None:
        self._pool_size = connection_pool_size
        self._read_timeout = read_timeout
        self._write_timeout = write_timeout
        self._connect_timeout = connect_timeout
        self._pool_timeout = pool_timeout
        self._media_write_timeout = media_write_timeout
        self._session: aiohttp.ClientSession | None = None

    @property
    def read_timeout(self) -> float | None:
        return self._read_timeout

    async def initialize(self) -> None:
        if self._session is None or self._session.closed:
            connector = aiohttp.TCPConnector(limit=self._pool_size, limit_per_host=self._pool_size,
                                             ttl_dns_cache=300, keepalive_timeout=30)
            self._session = aiohttp.ClientSession(
                connector=connector, headers={"User-Agent": self.USER_AGENT},
                json_serialize=json.dumps, timeout=aiohttp.ClientTimeout(total=None))

    async def shutdown(self) -> None:
        if self._session is not None and not self._session.closed:
            await self._session.close()
        self._session = None

    async def do_request(self, url: str, method: str, request_data: RequestData | None = None,
                         read_timeout=BaseRequest.DEFAULT_NONE, write_timeout=BaseRequest.DEFAULT_NONE,
                         connect_timeout=BaseRequest.DEFAULT_NONE,
                         pool_timeout=BaseRequest.DEFAULT_NONE) -> tuple[int, bytes]:
        if self._session is None or self._session.closed:
            await self.initialize()
        files = request_data is not None and request_data.contains_files
        read = _chosen(read_timeout, self._read_timeout)
        write = _chosen(write_timeout, self._media_write_timeout if files else self._write_timeout)
        connect = _chosen(connect_timeout, self._connect_timeout)
        pool = _chosen(pool_timeout, self._pool_timeout)
        # aiohttp has no separate write timeout: the time to send the body counts against
        # sock_read's sibling `total`, so total = write + read bounds the whole exchange.
        total = None if read is None or write is None else read + write + (connect or 0) + (pool or 0)
        timeout = aiohttp.ClientTimeout(total=total, sock_connect=connect, sock_read=read,
                                        connect=None if connect is None or pool is None else connect + pool)
        kwargs: dict[str, Any] = {}
        if request_data is not None:
            if files:
                form = aiohttp.FormData(quote_fields=False)
                for name, value in request_data.json_parameters.items():
                    form.add_field(name, value)
                for name, part in request_data.multipart_data.items():
                    filename, content, mimetype = part[0], part[1], part[2] if len(part) > 2 else None
                    if hasattr(content, "read"):
                        content = content.read()
                    form.add_field(name, content, filename=filename, content_type=mimetype)
                kwargs["data"] = form
            else:
                kwargs["data"] = request_data.json_payload
                kwargs["headers"] = {"Content-Type": "application/json"}
        try:
            async with self._session.request(method, url, timeout=timeout, **kwargs) as response:
                return response.status, await response.read()
        except TimeoutError as exc:
            raise TimedOut from exc
        except aiohttp.ClientError as exc:
            raise NetworkError(mask_secrets(f"aiohttp.{type(exc).__name__}: {exc}")) from exc


def _method_of(url: str) -> str:
    """The Bot API method name from the request URL ("file" for downloads); never the token."""
    if "/file/bot" in url:
        return "file"
    return url.rsplit("/", 1)[-1].split("?", 1)[0] or "unknown"


class InstrumentedRequest(BaseRequest):
    """Wraps a backend with kbju_bot_api_requests_total and kbju_bot_api_request_seconds."""

    def __init__(self, inner: BaseRequest) -> None:
        self.inner = inner

    @property
    def read_timeout(self) -> float | None:
        return self.inner.read_timeout

    async def initialize(self) -> None:
        await self.inner.initialize()

    async def shutdown(self) -> None:
        await self.inner.shutdown()

    async def do_request(self, url: str, method: str, request_data: RequestData | None = None,
                         read_timeout=BaseRequest.DEFAULT_NONE, write_timeout=BaseRequest.DEFAULT_NONE,
                         connect_timeout=BaseRequest.DEFAULT_NONE,
                         pool_timeout=BaseRequest.DEFAULT_NONE) -> tuple[int, bytes]:
        api_method = _method_of(url)
        start = time.perf_counter()
        outcome = "network"
        try:
            code, payload = await self.inner.do_request(url, method, request_data, read_timeout, write_timeout,
                                                        connect_timeout, pool_timeout)
            outcome = "ok" if 200 <= code < 300 else "retry_after" if code == 429 else "error"
            return code, payload
        finally:
            metrics.bot_api_requests.labels(api_method, outcome).inc()
            if api_method != "getUpdates":  # a long poll's wait is no latency (bot.metrics)
                metrics.bot_api_request_seconds.labels(api_method).observe(time.perf_counter() - start)


def make_request(backend: str, *, pool_size: int = 256, read_timeout: float | None = 5.0) -> BaseRequest:
    """An instrumented backend; read_timeout is raised for getUpdates' long polling by the caller."""
    if backend == "httpx":
        inner: BaseRequest = HTTPXRequest(connection_pool_size=pool_size, read_timeout=read_timeout,
                                          pool_timeout=5.0)
    else:
        inner = AiohttpRequest(connection_pool_size=pool_size, read_timeout=read_timeout, pool_timeout=5.0)
    return InstrumentedRequest(inner)

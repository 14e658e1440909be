"""A small round-robin HTTP front for K bot replicas, standing where a load balancer would.

Telegram (here: the Bot API stand-in) posts each update to one URL; the front passes it to the
next replica in turn. A replica that refuses the connection (stopped, killed) is skipped for a
second and the update goes to the next one at once: nothing was sent to it, so nothing can be
handled twice. A replica that fails after the request was sent gets a 502 back to the sender,
which is what makes Telegram deliver the update again.

    python -m loadtests.front --listen 127.0.0.1:8080 --upstream http://127.0.0.1:8441 ...
"""

from __future__ import annotations

import argparse
import itertools
import time

from aiohttp import ClientConnectorError, ClientError, ClientSession, ClientTimeout, TCPConnector, web

# Hop-by-hop headers are the front's own business, never forwarded (RFC 9110, 7.6.1).
HOP_BY_HOP = {"connection", "keep-alive", "transfer-encoding", "te", "trailer", "upgrade", "host",
              "content-length", "proxy-authorization", "proxy-authenticate"}
DOWN_FOR_S = 1.0


class Front:
    """Round-robin over upstream base URLs, skipping ones that refuse connections."""

    def __init__(self, upstreams: list[str], timeout_s: float = 30.0) -> None:
        if not upstreams:
            raise ValueError("at least one upstream is needed")
        self.upstreams = [u.rstrip("/") for u in upstreams]
        self._turn = itertools.cycle(range(len(self.upstreams)))
        self._down_until = [0.0] * len(self.upstreams)
        self.forwarded = [0] * len(self.upstreams)
        self.refused = [0] * len(self.upstreams)
        self.failed = [0] * len(self.upstreams)
        self.unavailable = 0
        self._timeout = ClientTimeout(total=timeout_s)
        self._session: ClientSession | None = None

    async def start(self, _app: web.Application | None = None) -> None:
        self._session = ClientSession(connector=TCPConnector(limit=0), timeout=self._timeout,
                                      auto_decompress=False)

    async def close(self, _app: web.Application | None = None) -> None:
        if self._session is not None:
            await self._session.close()

    def _order(self) -> list[int]:
        """Every upstream once, starting at the next in turn; the ones marked down go last."""
        first = next(self._turn)
        order = [(first + i) % len(self.upstreams) for i in range(len(self.upstreams))]
        now = time.monotonic()
        return sorted(order, key=lambda i: self._down_until[i] > now)

    async def handle(self, request: web.Request) -> web.StreamResponse:
        body = await request.read()
        headers = {k: v for k, v in request.headers.items() if k.lower() not in HOP_BY_HOP}
        assert self._session is not None
        for index in self._order():
            url = self.upstreams[index] + request.rel_url.path_qs
            try:
                async with self._session.request(request.method, url, data=body, headers=headers) as resp:
                    payload = await resp.read()
                    self.forwarded[index] += 1
                    out = {k: v for k, v in resp.headers.items() if k.lower() not in HOP_BY_HOP}
                    return web.Response(status=resp.status, body=payload, headers=out)
            except ClientConnectorError:
                # Nothing reached this replica: safe to try the next one with the same update.
                self.refused[index] += 1
                self._down_until[index] = time.monotonic() + DOWN_FOR_S
            except (TimeoutError, ClientError):
                # The replica may have started on the update: let the sender decide to re-deliver.
                self.failed[index] += 1
                self._down_until[index] = time.monotonic() + DOWN_FOR_S
                return web.Response(status=502, text="upstream failed")
        self.unavailable += 1
        return web.Response(status=503, text="no replica available")

    async def stats(self, _request: web.Request) -> web.Response:
        return web.json_response({
            "upstreams": self.upstreams, "forwarded": self.forwarded, "refused": self.refused,
            "failed": self.failed, "unavailable": self.unavailable,
        })

    def app(self) -> web.Application:
        app = web.Application(client_max_size=16 * 1024 * 1024)
        app.on_startup.append(self.start)
        app.on_cleanup.append(self.close)
        app.router.add_get("/_front/stats", self.stats)
        app.router.add_route("*", "/{tail:.*}", self.handle)
        return app


def main(argv: list[str] | None = None) -> None:
    parser = argparse.ArgumentParser(prog="python -m loadtests.front", description=__doc__.splitlines()[0])
    parser.add_argument("--listen", default="127.0.0.1:8080", help="host:port to listen on")
    parser.add_argument("--upstream", action="append", required=True, help="a replica's base URL (repeat)")
    args = parser.parse_args(argv)
    host, _, port = args.listen.rpartition(":")
    web.run_app(Front(args.upstream).app(), host=host or "127.0.0.1", port=int(port), print=None,
                access_log=None, handle_signals=True)


if __name__ == "__main__":
    main()

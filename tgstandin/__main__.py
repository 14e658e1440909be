"""`python -m tgstandin --host 127.0.0.1 --port 8081`: run the stand-in until interrupted."""

from __future__ import annotations

import argparse
import asyncio
import contextlib
import logging
import signal

from .limits import LimitsConfig
from .server import BotApiStandin


def _parse() -> argparse.Namespace:
    parser = argparse.ArgumentParser(prog="python -m tgstandin", description=__doc__)
    parser.add_argument("--host", default="127.0.0.1", help="address to listen on (default 127.0.0.1)")
    parser.add_argument("--port", type=int, default=8081, help="port to listen on; 0 picks a free one")
    parser.add_argument("--log-level", default="WARNING", help="logging level (default WARNING)")
    parser.add_argument("--telegram-limits", action="store_true",
                        help="answer like Telegram's flood control from the start (429 + retry_after; "
                             "see tgstandin/README.md; POST /_standin/limits changes it)")
    return parser.parse_args()


async def _serve(host: str, port: int, limits: bool) -> None:
    standin = BotApiStandin(limits=LimitsConfig() if limits else None)
    await standin.start(host, port)
    print(standin.url, flush=True)
    stop = asyncio.Event()
    loop = asyncio.get_running_loop()
    for sig in (signal.SIGINT, signal.SIGTERM):
        with contextlib.suppress(NotImplementedError):
            loop.add_signal_handler(sig, stop.set)
    try:
        await stop.wait()
    finally:
        await standin.stop()


def main() -> None:
    args = _parse()
    logging.basicConfig(level=args.log_level.upper(), format="%(asctime)s %(levelname)s %(name)s: %(message)s")
    try:
        import uvloop
    except ImportError:
        runner = asyncio.run
    else:
        runner = uvloop.run
    with contextlib.suppress(KeyboardInterrupt):
        runner(_serve(args.host, args.port, args.telegram_limits))


if __name__ == "__main__":
    main()

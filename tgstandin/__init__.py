"""A local Telegram Bot API stand-in (a real HTTP server) and a client to drive it.

`BotApiStandin` serves the Bot API at `{url}/bot{token}/{method}` plus a control API under
`{url}/_standin/`; `StandinClient` and `Person` drive the control API from tests.
"""

from .client import Person, StandinClient, StandinError
from .server import BotApiStandin

__all__ = ["BotApiStandin", "Person", "StandinClient", "StandinError"]

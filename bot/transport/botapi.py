"""Bot API calls whose answer the bot does not read, made without building PTB objects from it.

`Bot.send_message` and its siblings turn every answer into a `Message` tree (chat, user, entities,
keyboard): a fifth of the bot's CPU per update in the burst benchmark (docs/bot.md), for objects
nobody looks at. `Bot.do_api_request` is PTB's documented way to call a method and get the decoded
JSON back; it still goes through the same HTTP backend, sender (bot.transport.sender) and error mapping (BadRequest,
RetryAfter, Forbidden, ...). PTB warns on every such call for a method it has a shortcut for; that
warning is silenced here once, for this use only.
"""

from __future__ import annotations

import warnings
from typing import Any

from telegram.warnings import PTBUserWarning

warnings.filterwarnings("ignore", message=r"Please use 'Bot\.\w+' instead of 'Bot\.do_api_request",
                        category=PTBUserWarning)


async def call(bot, method: str, params: dict[str, Any], **options: Any) -> Any:
    """`method` with `params` (None values left out, as PTB's own methods do); the raw result.
    `options`: PTB's timeouts and rate_limit_args."""
    return await bot.do_api_request(method, api_kwargs={k: v for k, v in params.items() if v is not None},
                                    **options)

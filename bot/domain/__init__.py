"""Pure domain code of the bot: value domains, formulas, input validation, progress, Russian texts.

Nothing in this package does I/O or knows about Telegram or the database. Import the submodules
directly (`from bot.domain import formulas, texts`); this module only holds the common error base.
"""

from __future__ import annotations


class DomainError(Exception):
    """An expected refusal whose `message` (Russian, HTML-safe) can be shown to the person as is."""

    def __init__(self, message: str) -> None:
        super().__init__(message)
        self.message = message

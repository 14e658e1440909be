"""Where backup services report progress (the CLI draws rich bars; tests pass nothing)."""

from __future__ import annotations

from typing import Protocol


class Progress(Protocol):
    def start(self, task: str, total: int | None = None) -> None: ...

    def advance(self, task: str, amount: int = 1) -> None: ...

    def finish(self, task: str) -> None: ...


class NoProgress:
    def start(self, task: str, total: int | None = None) -> None:
        pass

    def advance(self, task: str, amount: int = 1) -> None:
        pass

    def finish(self, task: str) -> None:
        pass

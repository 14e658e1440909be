"""What each simulated person entered, one JSON line per fact, read back by the consistency check.

Every Locust process (the local runner or each worker) appends to its own file, so no two
writers share one. A fact is written only when the person saw the bot confirm it, except
`unanswered`, which records an update that got no reply and what it would have changed.

Kinds (each line also has "person" and "t", the wall time):
- seeded:      {"user": USER, "records": [RECORD with "date"], "food": FOOD | null}
- registered:  {"user": USER, "record": RECORD}          the survey finished
- measured:    {"record": RECORD}                         new measurements (height, goal carried over)
- food:        {"food": {"likes": str, "dislikes": str}}
- goal:        {"goal": str}                              the newest record's goal changed
- abandoned:   {"flow": str, "step": str}                 the person left in the middle of a flow
- unanswered:  {"update_id": int, "flow": str, "step": str, "then": FACT | null}
USER = {"first_name", "last_name", "sex", "date_of_birth" (ISO)}; RECORD = the user_records columns.
"""

from __future__ import annotations

import json
import os
import threading
import time
from collections import defaultdict
from collections.abc import Iterable, Iterator
from pathlib import Path
from typing import Any

Fact = dict[str, Any]


class Journal:
    """Append-only JSONL writer, flushed per line so a killed process loses at most one fact."""

    def __init__(self, path: Path) -> None:
        path.parent.mkdir(parents=True, exist_ok=True)
        self.path = path
        self._file = path.open("a", encoding="utf-8")
        self._lock = threading.Lock()

    def write(self, person: int, kind: str, **fields: Any) -> None:
        line = json.dumps({"person": person, "kind": kind, "t": round(time.time(), 3), **fields},
                          ensure_ascii=False, default=str)
        with self._lock:
            self._file.write(line + "\n")
            self._file.flush()

    def close(self) -> None:
        with self._lock:
            self._file.close()


def journal_path(folder: Path, role: str) -> Path:
    """One file per writing process: journal-<role>-<pid>.jsonl."""
    return folder / f"journal-{role}-{os.getpid()}.jsonl"


def read(paths: Iterable[Path]) -> dict[int, list[Fact]]:
    """Facts per person in the order they happened (by time, then file order)."""
    facts: list[tuple[float, int, Fact]] = []
    order = 0
    for path in paths:
        with path.open(encoding="utf-8") as handle:
            for line in handle:
                line = line.strip()
                if not line:
                    continue
                try:
                    fact = json.loads(line)
                except json.JSONDecodeError:
                    continue  # a line torn by a killed writer is not a fact
                facts.append((fact.get("t", 0.0), order, fact))
                order += 1
    people: dict[int, list[Fact]] = defaultdict(list)
    for _t, _order, fact in sorted(facts, key=lambda item: (item[0], item[1])):
        people[int(fact["person"])].append(fact)
    return dict(people)


def journal_files(folder: Path) -> Iterator[Path]:
    return iter(sorted(folder.glob("journal-*.jsonl")))

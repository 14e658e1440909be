"""The manifest: what a backup holds, enough to check it without trusting anything else."""

from __future__ import annotations

import json
from dataclasses import dataclass
from pathlib import Path
from typing import Any

from kbjuctl.backup.checksums import METHODS
from kbjuctl.errors import BadInput, VerificationFailed

FORMAT = "kbju-backup/1"
_REQUIRED = {
    "format": str, "name": str, "created_at": str, "server": dict, "schema": dict, "tables": dict,
    "total_rows": int, "archive": dict, "tools": dict, "checksum": dict,
}
_ARCHIVE_REQUIRED = {"file": str, "bytes": int, "sha256": str, "encrypted": bool, "plain_sha256": str}


@dataclass(frozen=True)
class Manifest:
    data: dict[str, Any]

    @property
    def name(self) -> str:
        return self.data["name"]

    @property
    def created_at(self) -> str:
        return self.data["created_at"]

    @property
    def tables(self) -> dict[str, dict[str, Any]]:
        return self.data["tables"]

    @property
    def total_rows(self) -> int:
        return self.data["total_rows"]

    @property
    def archive(self) -> dict[str, Any]:
        return self.data["archive"]

    @property
    def schema_version(self) -> str | None:
        return self.data["schema"].get("version")

    @property
    def dump_major(self) -> int:
        return int(self.data["tools"]["pg_dump"]["major"])


def load(path: Path) -> Manifest:
    """The manifest at path, checked for shape; BadInput when missing or unreadable."""
    if not path.is_file():
        raise BadInput(f"{path} is missing: this folder is not a complete backup.")
    try:
        data = json.loads(path.read_text(encoding="utf-8"))
    except (UnicodeDecodeError, json.JSONDecodeError) as exc:
        raise VerificationFailed(f"{path} is damaged: not valid JSON ({exc}).") from None
    problems = _shape_problems(data)
    if problems:
        raise VerificationFailed(f"{path} is damaged: " + "; ".join(problems) + ".")
    return Manifest(data)


def _shape_problems(data: Any) -> list[str]:
    if not isinstance(data, dict):
        return ["not a JSON object"]
    problems = [f"{key} missing or not a {kind.__name__}" for key, kind in _REQUIRED.items()
                if not isinstance(data.get(key), kind)]
    if problems:
        return problems
    if data["format"] != FORMAT:
        return [f"format {data['format']!r}, expected {FORMAT!r}"]
    problems += [f"archive.{key} missing or not a {kind.__name__}" for key, kind in _ARCHIVE_REQUIRED.items()
                 if not isinstance(data["archive"].get(key), kind)]
    for name, table in data["tables"].items():
        if not (isinstance(table, dict) and isinstance(table.get("rows"), int)
                and isinstance(table.get("checksum"), str) and table.get("method") in METHODS):
            problems.append(f"tables.{name} lacks rows/checksum/method")
    if not problems and sum(t["rows"] for t in data["tables"].values()) != data["total_rows"]:
        problems.append("total_rows is not the sum of the tables' rows")
    return problems

"""`backup prune`: retention by count and by day. The newest verified backup and the newest intact one
are never deleted, both judged by checksums re-computed now (backup list), not by an old note."""

from __future__ import annotations

import shutil
from collections.abc import Callable
from dataclasses import dataclass, field
from pathlib import Path

from kbjuctl.backup import layout
from kbjuctl.backup.listing import BackupEntry, list_backups
from kbjuctl.errors import BadInput


@dataclass
class PrunePlan:
    keep: dict[str, list[str]] = field(default_factory=dict)  # name -> reasons
    delete: list[str] = field(default_factory=list)  # backup folders
    leftovers: list[str] = field(default_factory=list)  # interrupted .tmp- folders
    skipped: dict[str, str] = field(default_factory=dict)  # path -> why it is left alone (links, files)
    dry_run: bool = True

    def to_json(self) -> dict:
        return {"dry_run": self.dry_run, "keep": self.keep, "delete": self.delete, "leftovers": self.leftovers,
                "skipped": self.skipped}


def plan(backups: list[BackupEntry], keep_last: int, keep_daily: int = 0) -> dict[str, list[str]]:
    """{name: reasons to keep} for the backups (oldest first) that survive the retention rules."""
    if keep_last < 1:
        raise BadInput("--keep-last must be at least 1.")
    if keep_daily < 0:
        raise BadInput("--keep-daily must not be negative.")
    keep: dict[str, list[str]] = {}
    newest_first = list(reversed(backups))
    for entry in newest_first[:keep_last]:
        keep.setdefault(entry.name, []).append(f"among the last {keep_last}")
    days: list[str] = []
    for entry in newest_first:  # the newest backup of each of the last D days that have one
        day = (entry.created_at or entry.name[5:13])[:10].replace("-", "")
        if day not in days and len(days) < keep_daily:
            days.append(day)
            keep.setdefault(entry.name, []).append(f"newest of day {day}")
    verified = next((e for e in newest_first if e.verified_ok), None)
    if verified:
        keep.setdefault(verified.name, []).append("newest verified")
    intact = next((e for e in newest_first if e.intact), None)
    if intact and intact.name not in keep:
        keep.setdefault(intact.name, []).append("newest intact (re-checked)")
    return keep


def prune_backups(backup_dir: Path, keep_last: int, keep_daily: int = 0, dry_run: bool = False,
                  approve: Callable[[PrunePlan], None] | None = None) -> PrunePlan:
    """Delete what the retention rules do not keep. approve: asked with the plan before anything is
    deleted (it raises to stop)."""
    listing = list_backups(backup_dir)
    keep = plan(listing.backups, keep_last, keep_daily)
    result = PrunePlan(keep=keep, skipped=listing.skipped, dry_run=dry_run)
    result.delete = [e.path for e in listing.backups if e.name not in keep]
    result.leftovers = [p for p in listing.leftovers if not layout.leftover_in_use(Path(p))]
    if not dry_run and (result.delete or result.leftovers):
        if approve is not None:
            approve(result)
        for path in result.delete + result.leftovers:
            if Path(path).is_symlink():  # replaced by a link since it was listed: never followed
                result.skipped[path] = "became a symbolic link while pruning"
                continue
            shutil.rmtree(path)
    return result

"""`backup list`: every finished backup in a folder, what it holds, whether it was verified, and whether it
is still intact: a "verified" note is only as good as the files it was written about, so every listing
re-checks each archive's size and sha256 against the manifest and SHA256SUMS."""

from __future__ import annotations

import json
from dataclasses import asdict, dataclass, field
from pathlib import Path

from kbjuctl.backup import layout
from kbjuctl.backup.archive import archive_problems, open_backup
from kbjuctl.backup.manifest import load
from kbjuctl.errors import KbjuctlError


@dataclass
class BackupEntry:
    name: str
    path: str
    created_at: str | None
    bytes: int
    total_rows: int | None
    schema_version: str | None
    encrypted: bool | None
    verified: str  # "deep" | "archive" | "FAILED" | "DAMAGED" (changed since) | "no"
    verified_at: str | None
    damaged: str = ""  # why the manifest could not be read
    intact: bool = False  # re-checked now: manifest and archive match their recorded checksums
    problem: str = ""  # why it is not intact

    @property
    def verified_ok(self) -> bool:
        return self.intact and self.verified in ("deep", "archive")

    def to_json(self) -> dict:
        return asdict(self)


@dataclass
class Listing:
    backups: list[BackupEntry]  # oldest first
    leftovers: list[str]  # .tmp- folders: backups in progress or interrupted
    skipped: dict[str, str] = field(default_factory=dict)  # path -> why it is not ours (links, files)

    def to_json(self) -> dict:
        return {"backups": [b.to_json() for b in self.backups], "leftovers": self.leftovers,
                "skipped": self.skipped}


def list_backups(backup_dir: Path) -> Listing:
    entries = [_entry(folder) for folder in layout.backup_folders(backup_dir)]
    leftovers = sorted(str(p) for p in backup_dir.iterdir() if layout.is_leftover(p)) if backup_dir.is_dir() else []
    skipped = {str(path): why for path, why in layout.foreign_entries(backup_dir)}
    return Listing(entries, leftovers, skipped)


def _entry(folder: Path) -> BackupEntry:
    size = layout.folder_bytes(folder)
    try:
        manifest = load(folder / layout.MANIFEST)
    except KbjuctlError as exc:
        return BackupEntry(folder.name, str(folder), None, size, None, None, None, "no", None, str(exc))
    verified, verified_at = _verification(folder, manifest.archive["sha256"])
    problem = _recheck(folder)
    if problem and verified != "FAILED":
        verified = "DAMAGED"  # whatever an earlier verify said, the files are not what it checked
    return BackupEntry(folder.name, str(folder), manifest.created_at, size, manifest.total_rows,
                       manifest.schema_version, manifest.archive["encrypted"], verified, verified_at,
                       intact=not problem, problem=problem)


def _recheck(folder: Path) -> str:
    """Why the backup's files no longer match their checksums ("" when intact)."""
    try:
        problems = archive_problems(open_backup(folder))
    except KbjuctlError as exc:
        return str(exc)
    return "; ".join(problems)


def _verification(folder: Path, archive_sha256: str) -> tuple[str, str | None]:
    """The sidecar's verdict; one about another archive (a replaced file) does not count."""
    try:
        sidecar = json.loads((folder / layout.VERIFICATION).read_text(encoding="utf-8"))
    except (OSError, ValueError):
        return "no", None
    if not isinstance(sidecar, dict) or sidecar.get("archive_sha256") != archive_sha256:
        return "no", None
    if not sidecar.get("ok"):
        return "FAILED", sidecar.get("verified_at")
    return ("deep" if sidecar.get("deep") else "archive"), sidecar.get("verified_at")

"""The backup folder on disk: names, atomic creation, fsync, sha256 files and the verification sidecar.

    DIR/kbju-20261125T031500Z/
        dump.pgcustom[.age]   the pg_dump custom-format archive (age-encrypted when .age)
        manifest.json         written once at creation, never changed
        SHA256SUMS            sha256 of the two files above (`sha256sum -c SHA256SUMS` works)
        verification.json     sidecar written by `verify` (absent: never verified)
    DIR/.tmp-kbju-.../        a backup being written, or the leftover of an interrupted one
"""

from __future__ import annotations

import fcntl
import hashlib
import json
import os
import re
import shutil
from collections.abc import Iterator
from contextlib import contextmanager
from datetime import UTC, datetime
from pathlib import Path

from kbjuctl.errors import BadInput

PREFIX = "kbju-"
TMP_PREFIX = ".tmp-"
ARCHIVE = "dump.pgcustom"
ENCRYPTED_ARCHIVE = ARCHIVE + ".age"
MANIFEST = "manifest.json"
SUMS = "SHA256SUMS"
VERIFICATION = "verification.json"
LOCK = ".lock"
NAME_RE = re.compile(r"^kbju-\d{8}T\d{6}Z(-\d+)?$")
CHUNK = 1 << 20


def backup_name(when: datetime) -> str:
    return PREFIX + when.astimezone(UTC).strftime("%Y%m%dT%H%M%SZ")


def sha256_file(path: Path) -> str:
    digest = hashlib.sha256()
    with path.open("rb") as f:
        while chunk := f.read(CHUNK):
            digest.update(chunk)
    return digest.hexdigest()


def fsync_file(path: Path) -> None:
    with path.open("rb") as f:
        os.fsync(f.fileno())


def fsync_dir(path: Path) -> None:
    fd = os.open(path, os.O_RDONLY)
    try:
        os.fsync(fd)
    finally:
        os.close(fd)


def write_json(path: Path, data: dict) -> None:
    """Write and fsync a JSON file."""
    with path.open("w", encoding="utf-8") as f:
        json.dump(data, f, ensure_ascii=False, indent=2)
        f.write("\n")
        f.flush()
        os.fsync(f.fileno())


def write_sums(folder: Path, archive_sums: dict[str, str]) -> None:
    """SHA256SUMS over the given (already hashed) archive and the manifest."""
    sums = {**archive_sums, MANIFEST: sha256_file(folder / MANIFEST)}
    with (folder / SUMS).open("w", encoding="utf-8") as f:
        f.writelines(f"{digest}  {name}\n" for name, digest in sums.items())
        f.flush()
        os.fsync(f.fileno())


def read_sums(folder: Path) -> dict[str, str]:
    path = folder / SUMS
    if not path.is_file():
        raise BadInput(f"{path} is missing: this folder is not a complete backup.")
    sums = {}
    for line in path.read_text(encoding="utf-8", errors="replace").splitlines():
        digest, _, name = line.partition("  ")
        if not re.fullmatch(r"[0-9a-f]{64}", digest) or not name:
            raise BadInput(f"{path} is damaged: unreadable line {line[:80]!r}.")
        sums[name] = digest
    return sums


@contextmanager
def new_backup_folder(parent: Path, when: datetime) -> Iterator[tuple[Path, callable]]:
    """A private .tmp- folder to write into, and a `publish()` that renames it to its final name.

    The tmp folder holds an exclusive lock while its creator lives, so `prune` can tell a
    leftover from a backup in progress. Leaving the block without publishing removes it.
    """
    try:
        parent.mkdir(parents=True, exist_ok=True)
    except OSError as exc:
        raise BadInput(f"Cannot create the backup folder {parent}: {exc.strerror}.") from None
    name = backup_name(when)
    tmp = parent / f"{TMP_PREFIX}{name}-{os.getpid()}"
    tmp.mkdir(mode=0o700)
    lock = (tmp / LOCK).open("w")
    fcntl.flock(lock, fcntl.LOCK_EX | fcntl.LOCK_NB)
    published: list[Path] = []

    def publish() -> Path:
        (tmp / LOCK).unlink()
        fsync_dir(tmp)
        for attempt in range(100):
            final = parent / (name if attempt == 0 else f"{name}-{attempt}")
            try:
                os.rename(tmp, final)  # fails on an existing non-empty folder: never clobbers
            except OSError:
                if final.exists():
                    continue
                raise
            fsync_dir(parent)
            published.append(final)
            return final
        raise OSError(f"no free backup name for {name} in {parent}")

    try:
        yield tmp, publish
    finally:
        lock.close()
        if not published:
            shutil.rmtree(tmp, ignore_errors=True)


def is_leftover(path: Path) -> bool:
    return path.name.startswith(TMP_PREFIX) and path.is_dir() and not path.is_symlink()


def leftover_in_use(path: Path) -> bool:
    """True while the process writing this tmp folder still runs (it holds the lock)."""
    try:
        with (path / LOCK).open("a") as f:
            fcntl.flock(f, fcntl.LOCK_EX | fcntl.LOCK_NB)
            return False
    except FileNotFoundError:
        return False  # published or killed before locking: nobody is writing it
    except BlockingIOError:
        return True


def backup_folders(parent: Path) -> list[Path]:
    """Finished backup folders in parent (leftovers, links and foreign folders ignored), oldest first."""
    if not parent.is_dir():
        return []
    return sorted(p for p in parent.iterdir() if NAME_RE.match(p.name) and p.is_dir() and not p.is_symlink())


def foreign_entries(parent: Path) -> list[tuple[Path, str]]:
    """(entry, why) for what in parent looks like ours but is not: a symbolic link (never followed: it
    may lead out of the folder) or a file named like a backup. Other names are not ours to mention."""
    if not parent.is_dir():
        return []
    found = []
    for path in sorted(parent.iterdir()):
        if path.is_symlink():
            found.append((path, f"a symbolic link (to {os.readlink(path)}), not a backup folder"))
        elif (NAME_RE.match(path.name) or path.name.startswith(TMP_PREFIX)) and not path.is_dir():
            found.append((path, "a file named like a backup, not a backup folder"))
    return found


def archive_path(folder: Path) -> Path:
    for name in (ARCHIVE, ENCRYPTED_ARCHIVE):
        if (folder / name).exists():
            return folder / name
    return folder / ARCHIVE


def folder_bytes(folder: Path) -> int:
    return sum(p.lstat().st_size for p in folder.iterdir() if not p.is_symlink() and p.is_file())

"""Opening a backup folder and proving its files are the ones written at creation, unchanged."""

from __future__ import annotations

import os
import subprocess
import tempfile
from collections.abc import Iterator
from contextlib import contextmanager
from dataclasses import dataclass
from pathlib import Path

from kbjuctl.backup import crypto, layout
from kbjuctl.backup.manifest import Manifest, load
from kbjuctl.backup.tools import Tool
from kbjuctl.errors import BadInput, VerificationFailed


@dataclass(frozen=True)
class Backup:
    folder: Path
    manifest: Manifest
    archive: Path

    @property
    def encrypted(self) -> bool:
        return bool(self.manifest.archive["encrypted"])


def open_backup(path: Path) -> Backup:
    """The backup at path (its folder, or any file in it), with its manifest proven unchanged."""
    folder = path.parent if path.is_file() else path
    if not folder.is_dir():
        raise BadInput(f"No backup at {path}: no such folder.")
    sums = layout.read_sums(folder)
    manifest = load(folder / layout.MANIFEST)
    manifest_sha256 = layout.sha256_file(folder / layout.MANIFEST)
    if sums.get(layout.MANIFEST) != manifest_sha256:
        raise VerificationFailed(f"{folder / layout.MANIFEST} was changed after the backup was made "
                                 f"(its sha256 differs from {layout.SUMS}).")
    name = manifest.archive["file"]
    if name not in (layout.ARCHIVE, layout.ENCRYPTED_ARCHIVE):
        raise VerificationFailed(f"{folder / layout.MANIFEST} names an unexpected archive file {name!r}.")
    archive = folder / name
    if not archive.is_file():
        raise VerificationFailed(f"The archive {archive} is missing: the backup is incomplete.")
    return Backup(folder, manifest, archive)


def archive_problems(backup: Backup) -> list[str]:
    """Size and sha256 of the archive against the manifest and SHA256SUMS (empty: intact)."""
    expected = backup.manifest.archive
    size = backup.archive.stat().st_size
    if size != expected["bytes"]:
        hint = " (truncated)" if size < expected["bytes"] else ""
        return [f"{backup.archive.name} is {size:,} bytes, the manifest says {expected['bytes']:,}{hint}"]
    actual = layout.sha256_file(backup.archive)
    problems = []
    if actual != expected["sha256"]:
        problems.append(f"{backup.archive.name} sha256 is {actual}, the manifest says {expected['sha256']}")
    if layout.read_sums(backup.folder).get(backup.archive.name) != expected["sha256"]:
        problems.append(f"{layout.SUMS} and the manifest disagree on {backup.archive.name}'s sha256")
    return problems


@contextmanager
def plaintext(backup: Backup, identity: Path | None) -> Iterator[Path]:
    """The archive pg_restore can read: the file itself, or a private decrypted copy removed afterwards."""
    if not backup.encrypted:
        yield backup.archive
        return
    keys = crypto.identities(identity)
    with tempfile.TemporaryDirectory(prefix="kbju-restore-") as tmp:
        os.chmod(tmp, 0o700)
        target = Path(tmp) / layout.ARCHIVE
        sha256 = crypto.decrypt_to(backup.archive, target, keys)
        if sha256 != backup.manifest.archive["plain_sha256"]:
            raise VerificationFailed(f"{backup.archive.name} decrypts to data whose sha256 differs from the manifest.")
        yield target


def unreadable(pg_restore: Tool, archive: Path, whole: bool) -> str | None:
    """None when pg_restore reads the archive: its table of contents, or with `whole` every data block."""
    command = [str(pg_restore.path), "--file=/dev/null" if whole else "--list", str(archive)]
    done = subprocess.run(command, check=False, capture_output=True, text=True,
                          stdin=subprocess.DEVNULL)
    if done.returncode == 0:
        return None
    text = done.stderr.strip() or f"exit {done.returncode}"
    return f"pg_restore {pg_restore.version} cannot read {archive.name}: {text[-1500:]}"

"""age encryption of archives (pyrage): recipients and identity files in, streams hashed as they pass."""

from __future__ import annotations

import hashlib
import io
from pathlib import Path
from typing import BinaryIO

from kbjuctl.errors import BadInput, VerificationFailed


def recipients(value: str) -> list:
    """An age recipient (age1...), or a file of them, one per line (like `age -R`)."""
    import pyrage

    lines = [value]
    if not value.startswith("age1"):
        path = Path(value)
        if not path.is_file():
            raise BadInput(f"--encrypt-to: {value!r} is neither an age recipient (age1...) nor a recipients file.")
        lines = [ln.strip() for ln in path.read_text(encoding="utf-8").splitlines()]
    parsed = []
    for line in lines:
        if not line or line.startswith("#"):
            continue
        try:
            parsed.append(pyrage.x25519.Recipient.from_str(line))
        except pyrage.RecipientError:
            raise BadInput(f"--encrypt-to: {line[:20]}... is not a valid age x25519 recipient.") from None
    if not parsed:
        raise BadInput(f"--encrypt-to: no recipient in {value}.")
    return parsed


def identities(path: Path | None) -> list:
    """The x25519 identities of an age identity file (AGE-SECRET-KEY-1... lines)."""
    import pyrage

    if path is None:
        raise BadInput("This backup is encrypted: pass --identity FILE (an age identity file).")
    try:
        text = path.read_text(encoding="utf-8")
    except OSError as exc:
        raise BadInput(f"--identity: cannot read {path}: {exc.strerror}.") from None
    found = []
    for line in text.splitlines():
        line = line.strip()
        if line.startswith("AGE-SECRET-KEY-"):
            try:
                found.append(pyrage.x25519.Identity.from_str(line))
            except pyrage.IdentityError:
                raise BadInput(f"--identity: {path} holds a malformed AGE-SECRET-KEY line.") from None
    if not found:
        raise BadInput(f"--identity: {path} holds no age identity (AGE-SECRET-KEY-1... line).")
    return found


class HashingReader(io.RawIOBase):
    """A reader that hashes (sha256) and counts the bytes read through it."""

    def __init__(self, source: BinaryIO):
        self._source, self.sha256, self.bytes = source, hashlib.sha256(), 0

    def readable(self) -> bool:
        return True

    def read(self, size: int = -1) -> bytes:
        data = self._source.read(size)
        self.sha256.update(data)
        self.bytes += len(data)
        return data


class HashingWriter(io.RawIOBase):
    def __init__(self, sink: BinaryIO):
        self._sink, self.sha256, self.bytes = sink, hashlib.sha256(), 0

    def writable(self) -> bool:
        return True

    def write(self, data) -> int:
        self.sha256.update(data)
        self.bytes += len(data)
        self._sink.write(data)
        return len(data)


def encrypt_stream(source: BinaryIO, target: Path, to: list) -> HashingReader:
    """Encrypt source into target; returns the reader, which knows the plaintext's sha256 and size."""
    import pyrage

    reader = HashingReader(source)
    with target.open("wb") as out:
        pyrage.encrypt_io(reader, out, to)
    return reader


def decrypt_to(source: Path, target: Path, keys: list) -> str:
    """Decrypt source into target; returns the plaintext's sha256. A wrong key is BadInput."""
    import pyrage

    with source.open("rb") as f, target.open("wb") as out:
        writer = HashingWriter(out)
        try:
            pyrage.decrypt_io(f, writer, keys)
        except pyrage.DecryptError as exc:
            if "No matching keys" in str(exc):
                raise BadInput(f"--identity: none of its keys can decrypt {source} "
                               "(the backup was encrypted to another recipient).") from None
            raise VerificationFailed(f"{source} cannot be decrypted: {exc}.") from None
    return writer.sha256.hexdigest()

"""Uploaded files: ids, storage and the image size a PhotoSize reports.

Files are kept in memory; file_id and file_unique_id look like Telegram's opaque strings so
bots that store them (to resend a photo without uploading it again) behave as in production.
"""

from __future__ import annotations

import mimetypes
import secrets
import struct
from dataclasses import dataclass, field

DEFAULT_SIZE = (800, 600)  # for data whose format is not sniffed
DOCUMENT_MAX_BYTES = 50 * 1024 * 1024  # Telegram's limit for a file a bot uploads


@dataclass(slots=True)
class StoredFile:
    file_id: str
    file_unique_id: str
    file_path: str
    data: bytes = field(repr=False)
    width: int
    height: int
    file_name: str | None = None  # documents only
    mime_type: str | None = None

    def photo_size(self) -> dict:
        return {"file_id": self.file_id, "file_unique_id": self.file_unique_id,
                "width": self.width, "height": self.height, "file_size": len(self.data)}

    def document(self) -> dict:
        """A Document object (sendDocument's message)."""
        doc = {"file_id": self.file_id, "file_unique_id": self.file_unique_id, "file_size": len(self.data)}
        if self.file_name:
            doc["file_name"] = self.file_name
        if self.mime_type:
            doc["mime_type"] = self.mime_type
        return doc

    def file_object(self) -> dict:
        return {"file_id": self.file_id, "file_unique_id": self.file_unique_id,
                "file_size": len(self.data), "file_path": self.file_path}


class FileStore:
    """All uploaded files, by file_id and by download path."""

    def __init__(self) -> None:
        self.by_id: dict[str, StoredFile] = {}
        self.by_path: dict[str, StoredFile] = {}

    def add_photo(self, data: bytes) -> StoredFile:
        width, height = image_size(data) or DEFAULT_SIZE
        ext = _extension(data)
        stored = StoredFile(
            file_id="AgACAgIAAxkBAAI" + secrets.token_urlsafe(36),
            file_unique_id="AQAD" + secrets.token_urlsafe(9),
            file_path=f"photos/file_{len(self.by_id)}{ext}",
            data=data, width=width, height=height,
        )
        self.by_id[stored.file_id] = stored
        self.by_path[stored.file_path] = stored
        return stored

    def add_document(self, data: bytes, file_name: str | None, content_type: str | None) -> StoredFile:
        """A file sent as a document: kept as is, with its name and a MIME type (the upload's, else
        guessed from the name, as Telegram does)."""
        mime = content_type if content_type and content_type != "application/octet-stream" else None
        mime = mime or (mimetypes.guess_type(file_name)[0] if file_name else None) or "application/octet-stream"
        suffix = "." + file_name.rsplit(".", 1)[1] if file_name and "." in file_name else ""
        stored = StoredFile(
            file_id="BQACAgIAAxkBAAI" + secrets.token_urlsafe(36),
            file_unique_id="AgAD" + secrets.token_urlsafe(9),
            file_path=f"documents/file_{len(self.by_id)}{suffix}",
            data=data, width=0, height=0, file_name=file_name, mime_type=mime,
        )
        self.by_id[stored.file_id] = stored
        self.by_path[stored.file_path] = stored
        return stored

    def clear(self) -> None:
        self.by_id.clear()
        self.by_path.clear()


def _extension(data: bytes) -> str:
    if data.startswith(b"\x89PNG"):
        return ".png"
    if data.startswith(b"GIF8"):
        return ".gif"
    if data[:4] == b"RIFF" and data[8:12] == b"WEBP":
        return ".webp"
    return ".jpg"


def image_size(data: bytes) -> tuple[int, int] | None:
    """(width, height) from a PNG, GIF, JPEG or WebP header; None for anything else."""
    try:
        if data.startswith(b"\x89PNG\r\n\x1a\n") and data[12:16] == b"IHDR":
            return struct.unpack(">II", data[16:24])
        if data.startswith(b"GIF8"):
            return struct.unpack("<HH", data[6:10])
        if data[:4] == b"RIFF" and data[8:12] == b"WEBP":
            return _webp_size(data)
        if data.startswith(b"\xff\xd8"):
            return _jpeg_size(data)
    except struct.error:
        return None
    return None


def _jpeg_size(data: bytes) -> tuple[int, int] | None:
    i = 2
    while i + 9 < len(data):
        if data[i] != 0xFF:
            i += 1
            continue
        marker = data[i + 1]
        if marker in (0xD8, 0x01) or 0xD0 <= marker <= 0xD7 or marker == 0xFF:
            i += 1 if marker == 0xFF else 2
            continue
        length = struct.unpack(">H", data[i + 2:i + 4])[0]
        if 0xC0 <= marker <= 0xCF and marker not in (0xC4, 0xC8, 0xCC):
            height, width = struct.unpack(">HH", data[i + 5:i + 9])
            return width, height
        i += 2 + length
    return None


def _webp_size(data: bytes) -> tuple[int, int] | None:
    chunk = data[12:16]
    if chunk == b"VP8X":
        width = int.from_bytes(data[24:27], "little") + 1
        height = int.from_bytes(data[27:30], "little") + 1
        return width, height
    if chunk == b"VP8 ":
        width, height = struct.unpack("<HH", data[26:30])
        return width & 0x3FFF, height & 0x3FFF
    if chunk == b"VP8L":
        bits = int.from_bytes(data[21:25], "little")
        return (bits & 0x3FFF) + 1, ((bits >> 14) & 0x3FFF) + 1
    return None

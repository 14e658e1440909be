"""TLS of a webhook the bot serves itself (WEBHOOK_CERT + WEBHOOK_KEY), and the one fact about its
certificate that setWebhook needs: whether it is self-signed, in which case Telegram must be given
it (the `certificate` upload) to trust it. Standard library only."""

from __future__ import annotations

import ssl
from pathlib import Path

PEM_BEGIN = "-----BEGIN CERTIFICATE-----"
PEM_END = "-----END CERTIFICATE-----"


def server_context(cert: Path, key: Path) -> ssl.SSLContext:
    """TLS 1.2 or newer with the certificate (and any chain after it in the file) and its key."""
    context = ssl.create_default_context(ssl.Purpose.CLIENT_AUTH)
    context.minimum_version = ssl.TLSVersion.TLSv1_2
    context.load_cert_chain(cert, key)
    return context


def first_certificate(path: Path) -> bytes:
    """DER of the first certificate of a PEM file; ValueError when it holds none."""
    text = path.read_text(encoding="ascii", errors="replace")
    start = text.find(PEM_BEGIN)
    end = text.find(PEM_END, start)
    if start < 0 or end < 0:
        raise ValueError("no PEM certificate (-----BEGIN CERTIFICATE-----) in the file")
    return ssl.PEM_cert_to_DER_cert(text[start:end + len(PEM_END)])


def is_self_signed(path: Path) -> bool:
    """Whether the certificate is its own issuer (issuer Name == subject Name, byte for byte)."""
    tbs = _children(_children(first_certificate(path))[0][1])  # Certificate: (tbsCertificate, algorithm, signature)
    first = 1 if tbs[0][0] == 0xA0 else 0  # [0] version is absent in a v1 certificate
    issuer, subject = tbs[first + 2], tbs[first + 4]  # after the serial number and the signature algorithm
    return issuer == subject


def _element(data: bytes, pos: int) -> tuple[int, int, int]:
    """(tag, start of content, end) of the DER element at pos."""
    tag, length = data[pos], data[pos + 1]
    pos += 2
    if length & 0x80:
        count = length & 0x7F
        length = int.from_bytes(data[pos:pos + count], "big")
        pos += count
    if pos + length > len(data):
        raise ValueError("truncated DER")
    return tag, pos, pos + length


def _children(data: bytes) -> list[tuple[int, bytes]]:
    """(tag, whole encoding) of each element inside the constructed element that starts data."""
    _tag, pos, end = _element(data, 0)
    children = []
    while pos < end:
        tag, _start, stop = _element(data, pos)
        children.append((tag, data[pos:stop]))
        pos = stop
    return children

"""Certificates made by the test itself with the openssl command line: a CA and what it signs, or a
self-signed certificate, for 127.0.0.1 and localhost. Keys are EC P-256, valid for two days."""

from __future__ import annotations

import shutil
import subprocess
from dataclasses import dataclass
from pathlib import Path

import pytest

OPENSSL = shutil.which("openssl")
SAN = "subjectAltName=DNS:localhost,IP:127.0.0.1"


def _openssl(*args: str, cwd: Path) -> None:
    if OPENSSL is None:
        pytest.skip("openssl missing (Debian package openssl)")
    subprocess.run([OPENSSL, *args], cwd=cwd, check=True, capture_output=True, timeout=60)


@dataclass(frozen=True)
class Pair:
    cert: Path
    key: Path

    @property
    def pem(self) -> str:
        return self.cert.read_text()


def _key(folder: Path, name: str) -> Path:
    _openssl("ecparam", "-name", "prime256v1", "-genkey", "-noout", "-out", f"{name}.key", cwd=folder)
    (folder / f"{name}.key").chmod(0o600)
    return folder / f"{name}.key"


def self_signed(folder: Path, name: str = "webhook", cn: str = "127.0.0.1") -> Pair:
    """A self-signed certificate (its own issuer), as the Telegram docs make one for a webhook."""
    folder.mkdir(parents=True, exist_ok=True)
    key = _key(folder, name)
    _openssl("req", "-new", "-x509", "-key", key.name, "-out", f"{name}.crt", "-days", "2", "-subj", f"/CN={cn}",
             "-addext", SAN, cwd=folder)
    return Pair(folder / f"{name}.crt", key)


def ca(folder: Path, name: str = "ca") -> Pair:
    folder.mkdir(parents=True, exist_ok=True)
    key = _key(folder, name)
    _openssl("req", "-new", "-x509", "-key", key.name, "-out", f"{name}.crt", "-days", "2",
             "-subj", f"/CN=kbju test {name}", "-addext", "basicConstraints=critical,CA:TRUE",
             "-addext", "keyUsage=critical,keyCertSign,cRLSign", cwd=folder)
    return Pair(folder / f"{name}.crt", key)


def signed(folder: Path, authority: Pair, name: str = "server", cn: str = "localhost") -> Pair:
    """A server certificate for localhost and 127.0.0.1 signed by `authority`."""
    folder.mkdir(parents=True, exist_ok=True)
    key = _key(folder, name)
    _openssl("req", "-new", "-key", key.name, "-out", f"{name}.csr", "-subj", f"/CN={cn}", cwd=folder)
    ext = folder / f"{name}.ext"
    ext.write_text(f"{SAN}\nextendedKeyUsage=serverAuth\nbasicConstraints=CA:FALSE\n")
    _openssl("x509", "-req", "-in", f"{name}.csr", "-CA", str(authority.cert), "-CAkey", str(authority.key),
             "-CAcreateserial", "-out", f"{name}.crt", "-days", "2", "-extfile", ext.name, cwd=folder)
    return Pair(folder / f"{name}.crt", key)

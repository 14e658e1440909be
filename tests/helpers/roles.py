"""Helpers of the role tests: connecting as a login role."""

from __future__ import annotations

from urllib.parse import quote, urlsplit, urlunsplit


def as_role(url: str, user: str, password: str) -> str:
    parts = urlsplit(url)
    host = parts.hostname + (f":{parts.port}" if parts.port else "")
    return urlunsplit(parts._replace(netloc=f"{quote(user)}:{quote(password)}@{host}"))


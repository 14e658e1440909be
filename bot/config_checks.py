"""The parts of the configuration that need no settings machinery (pydantic): importable by kbjuctl
without slowing its start."""

from __future__ import annotations

from urllib.parse import urlsplit


class ConfigError(Exception):
    """Raised with one message naming every invalid setting and what is expected."""


def check_database_url(value: str) -> str:
    """Accept the plain libpq form postgresql://user[:password]@host[:port]/db."""
    parts = urlsplit(value)
    if parts.scheme not in ("postgresql", "postgres"):
        raise ValueError("expected postgresql://user[:password]@host[:port]/dbname")
    if not parts.path.strip("/"):
        raise ValueError("expected a database name: postgresql://user@host:5432/dbname")
    try:
        parts.port  # noqa: B018 - raises ValueError on a bad port
    except ValueError:
        raise ValueError("the port must be a number from 1 to 65535") from None
    return value

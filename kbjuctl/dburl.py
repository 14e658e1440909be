"""PostgreSQL URL helpers: one plain postgresql:// form in, whatever each tool needs out."""

from __future__ import annotations

from urllib.parse import quote, unquote, urlsplit, urlunsplit


def redact(url: str) -> str:
    """The URL with its password replaced, safe for logs and messages."""
    parts = urlsplit(url)
    if parts.password is None:
        return url
    netloc = parts.netloc.replace(f":{parts.password}@", ":***@", 1)
    return urlunsplit(parts._replace(netloc=netloc))


def to_yoyo(url: str) -> str:
    """yoyo runs on psycopg 3, which it selects with the postgresql+psycopg scheme."""
    parts = urlsplit(url)
    return urlunsplit(parts._replace(scheme="postgresql+psycopg"))


def database_name(url: str) -> str:
    return unquote(urlsplit(url).path.lstrip("/"))


def with_database(url: str, name: str) -> str:
    """The same server and credentials, another database."""
    parts = urlsplit(url)
    return urlunsplit(parts._replace(path="/" + quote(name)))


def for_child(url: str) -> tuple[str, dict[str, str]]:
    """(URL without its password, environment with PGPASSWORD) for a libpq tool run as a child process:
    a password on a command line is visible to every user in the process list; the environment is not."""
    import os

    parts = urlsplit(url)
    env = dict(os.environ)
    if parts.password is None:
        return url, env
    env["PGPASSWORD"] = unquote(parts.password)
    netloc = parts.netloc.replace(f":{parts.password}@", "@", 1)
    return urlunsplit(parts._replace(netloc=netloc)), env

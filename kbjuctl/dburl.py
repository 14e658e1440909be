"""PostgreSQL URL helpers: one plain postgresql:// form in (one host, or a cluster's hosts), whatever each
tool needs out."""

from __future__ import annotations

from urllib.parse import parse_qsl, quote, unquote, urlencode, urlsplit, urlunsplit

from bot.config_checks import database_hosts

DEFAULT_PORT = 5432


def redact(url: str) -> str:
    """The URL with its password replaced, safe for logs and messages."""
    parts = urlsplit(url)
    if parts.password is None:
        return url
    netloc = parts.netloc.replace(f":{parts.password}@", ":***@", 1)
    return urlunsplit(parts._replace(netloc=netloc))


def to_yoyo(url: str) -> str:
    """yoyo runs on psycopg 3, which it selects with the postgresql+psycopg scheme. yoyo parses the URL
    itself and knows one host only: several go to libpq as its host and port parameters."""
    parts = urlsplit(url)
    hosts = database_hosts(url)
    if len(hosts) == 1:
        return urlunsplit(parts._replace(scheme="postgresql+psycopg"))
    userinfo = parts.netloc.rpartition("@")[0]
    query = parse_qsl(parts.query, keep_blank_values=True)
    query += [("host", ",".join(host for host, _ in hosts)),
              ("port", ",".join(str(port or DEFAULT_PORT) for _, port in hosts))]
    return urlunsplit(parts._replace(scheme="postgresql+psycopg", netloc=f"{userinfo}@" if userinfo else "",
                                     query=urlencode(query)))


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


def per_host(url: str) -> list[tuple[str, str]]:
    """(host:port, a URL to that host alone) for every host of the URL; target_session_attrs dropped, so
    each node answers whatever its role."""
    parts = urlsplit(url)
    userinfo = parts.netloc.rpartition("@")[0]
    query = urlencode([(k, v) for k, v in parse_qsl(parts.query, keep_blank_values=True)
                       if k != "target_session_attrs"])
    found = []
    for host, port in database_hosts(url):
        shown = f"[{host}]" if ":" in host else host
        address = f"{shown}:{port or DEFAULT_PORT}"
        netloc = f"{userinfo}@{address}" if userinfo else address
        found.append((address, urlunsplit(parts._replace(netloc=netloc, query=query))))
    return found

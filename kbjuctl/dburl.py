"""PostgreSQL URL helpers: one plain postgresql:// form in (one host, or a cluster's
hosts), whatever each tool needs out.

Credentials never leave through here: `redact` masks every form libpq accepts (the userinfo's
password, the password= and sslpassword= parameters, also in a URL naming several hosts, and the
key=value form), `mask` removes a URL's secrets from any text (a driver's error may quote them,
percent-encoded or decoded), and `for_child` hands a libpq tool its password through the
environment instead of its command line, which every local user can read in /proc.
"""

from __future__ import annotations

import os
import re
from urllib.parse import parse_qsl, quote, unquote, urlencode, urlsplit, urlunsplit

from bot.config_checks import database_hosts

DEFAULT_PORT = 5432

MASK = "***"
SECRET_PARAMS = ("password", "sslpassword")
# password=... in a key=value connection string: a quoted value ('a b', with \' escapes) or a word.
_KEYWORD_SECRET = re.compile(r"\b(password|sslpassword)(\s*=\s*)('(?:[^'\\]|\\.)*'|[^\s&]*)")


def _split_netloc(netloc: str) -> tuple[str | None, str | None, str]:
    """(user, password, host list) of a netloc; None for what is absent. Parsed by hand: a URL with
    several hosts (h1:5432,h2:5432) has no single port, which urllib refuses to read."""
    userinfo, at, hosts = netloc.rpartition("@")
    if not at:
        return None, None, netloc
    user, colon, password = userinfo.partition(":")
    return user, (password if colon else None), hosts


def _masked_query(query: str) -> str:
    pairs = []
    for pair in query.split("&"):
        key, eq, value = pair.partition("=")
        pairs.append(f"{key}={MASK}" if eq and unquote(key) in SECRET_PARAMS and value else pair)
    return "&".join(pairs)


def redact(url: str) -> str:
    """The URL (or key=value string) with every password replaced, safe for logs and messages."""
    if "://" not in url:
        return _KEYWORD_SECRET.sub(lambda m: f"{m[1]}{m[2]}{MASK}", url)
    try:
        parts = urlsplit(url)
    except ValueError:  # e.g. an unclosed [ of an IPv6 host: show the scheme and nothing that may be secret
        return url.split("://", 1)[0] + "://<unreadable URL>"
    user, password, hosts = _split_netloc(parts.netloc)
    netloc = parts.netloc if password is None else f"{user}:{MASK}@{hosts}"
    return urlunsplit(parts._replace(netloc=netloc, query=_masked_query(parts.query)))


def secrets_of(url: str) -> list[str]:
    """Every spelling of the URL's passwords a message could quote: as written and percent-decoded."""
    found: list[str] = []
    try:
        parts = urlsplit(url) if "://" in url else None
    except ValueError:
        parts = None
    if parts is not None:
        found.append(_split_netloc(parts.netloc)[1] or "")
        for pair in parts.query.split("&"):
            key, _, value = pair.partition("=")
            if unquote(key) in SECRET_PARAMS:
                found.append(value)
    else:
        found += [m[3].strip("'") for m in _KEYWORD_SECRET.finditer(url)]
    spellings = {s for raw in found if raw for s in (raw, unquote(raw))}
    return sorted(spellings, key=len, reverse=True)


def mask(text: str, url: str) -> str:
    """`text` (a driver's error, say) without any spelling of the URL's secrets, nor the URL itself."""
    text = text.replace(url, redact(url))
    for secret in secrets_of(url):
        text = text.replace(secret, MASK)
    return text


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
    """(URL without its password, environment with PGPASSWORD) for a libpq tool run as a child process.

    A command line is readable by every local user (/proc/<pid>/cmdline, ps); a process's environment
    only by its own user and root. The password= parameter wins over the userinfo, as in libpq.
    """
    env = dict(os.environ)
    parts = urlsplit(url)
    user, password, hosts = _split_netloc(parts.netloc)
    kept = []
    for pair in parts.query.split("&") if parts.query else []:
        key, _, value = pair.partition("=")
        if unquote(key) == "password":
            password = value
        else:
            kept.append(pair)
    if password is None:
        return url, env
    netloc = f"{user}@{hosts}" if user is not None else hosts
    env["PGPASSWORD"] = unquote(password)
    return urlunsplit(parts._replace(netloc=netloc, query="&".join(kept))), env


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

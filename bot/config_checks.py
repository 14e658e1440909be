"""The parts of the configuration that need no settings machinery (pydantic): importable by kbjuctl
without slowing its start."""

from __future__ import annotations

from urllib.parse import parse_qs, unquote, urlsplit

# target_session_attrs that make libpq and asyncpg pick the writable node of a cluster.
READ_WRITE_ATTRS = ("read-write", "primary")


class ConfigError(Exception):
    """Raised with one message naming every invalid setting and what is expected."""


def database_hosts(value: str) -> list[tuple[str, int | None]]:
    """(host, port) of every host a libpq URL names, in order: one, or the nodes of a cluster
    (postgresql://user@host1:5432,host2:5432/db). ValueError on an empty host or a bad port."""
    hostlist = urlsplit(value).netloc.rpartition("@")[2]
    if not hostlist:
        return [("", None)]  # a Unix socket given as ?host=/path
    hosts: list[tuple[str, int | None]] = []
    for item in hostlist.split(","):
        if not item:
            raise ValueError("empty host in the host list: expected host1:port1,host2:port2")
        if item.startswith("["):  # [IPv6]:port
            host, _, rest = item[1:].partition("]")
            port_text = rest[1:] if rest.startswith(":") else ""
        else:
            host, _, port_text = item.partition(":")
        port = None
        if port_text:
            if not port_text.isdigit() or not 1 <= int(port_text) <= 65535:
                raise ValueError("the port must be a number from 1 to 65535")
            port = int(port_text)
        hosts.append((unquote(host), port))
    return hosts


def check_database_url(value: str) -> str:
    """Accept the libpq form postgresql://user[:password]@host[:port][,host2[:port2]...]/db[?params].

    Several hosts (a cluster's nodes) need target_session_attrs=read-write (or primary), so that a
    client connects to the primary and never writes to a replica."""
    parts = urlsplit(value)
    if parts.scheme not in ("postgresql", "postgres"):
        raise ValueError("expected postgresql://user[:password]@host[:port]/dbname")
    if not parts.path.strip("/"):
        raise ValueError("expected a database name: postgresql://user@host:5432/dbname")
    hosts = database_hosts(value)
    if len(hosts) > 1:
        attrs = parse_qs(parts.query).get("target_session_attrs", [""])[-1]
        if attrs not in READ_WRITE_ATTRS:
            raise ValueError("a URL with several hosts needs ?target_session_attrs=read-write, so that only the "
                             "primary (the writable node) is chosen")
    return value

"""The drill cluster's configuration files, written from its ports and folder: one Patroni YAML per node
(Patroni's sample layout; JSON is YAML), pgBackRest's stanza and repositories, HAProxy's routing."""

from __future__ import annotations

from typing import TYPE_CHECKING

from kbjuctl.drill.tools import pg_bin_dir

if TYPE_CHECKING:
    from kbjuctl.drill.cluster import Cluster, Node

SCOPE = "kbju"
STANZA = "kbju"
# Measured on 2 cores (docs/operations.md): ttl 10, loop_wait 2, retry_timeout 4 take a killed leader's
# key to expiry and the standby's promotion in ~9 s; Patroni's defaults (30/10/10) take ~25 s.
# Patroni needs loop_wait + 2 * retry_timeout <= ttl.
TTL, LOOP_WAIT, RETRY_TIMEOUT = 10, 2, 4
ARCHIVE_TIMEOUT_S = 5  # a WAL segment is closed (and archived) at least this often: the PITR RPO bound


def archive_command(cluster: Cluster, node: Node) -> str:
    # pg1-path names this node's data directory: archive-push reads the segment relative to it.
    return (f"pgbackrest --config={cluster.pgbackrest_config} --stanza={STANZA} "
            f"--pg1-path={node.data_dir(cluster.folder)} archive-push %p")


def restore_command(cluster: Cluster) -> str:
    return f"pgbackrest --config={cluster.pgbackrest_config} --stanza={STANZA} archive-get %f \"%p\""


def patroni_config(cluster: Cluster, node: Node) -> dict:
    folder = cluster.folder
    return {
        "scope": SCOPE,
        "name": node.name,
        "log": {"level": "INFO"},
        "restapi": {"listen": f"127.0.0.1:{node.rest_port}", "connect_address": f"127.0.0.1:{node.rest_port}"},
        # Patroni's etcd3 section speaks etcd's v3 API (its `etcd:` section needs --enable-v2 on etcd 3.4).
        "etcd3": {"hosts": f"127.0.0.1:{cluster.etcd_client_port}"},
        "bootstrap": {
            "dcs": {
                "ttl": TTL, "loop_wait": LOOP_WAIT, "retry_timeout": RETRY_TIMEOUT,
                "maximum_lag_on_failover": 1048576,
                # A commit is acknowledged once it is on the synchronous standby too; only that standby
                # may be promoted, so an acknowledged write survives the primary's death.
                "synchronous_mode": True,
                "postgresql": {
                    "use_pg_rewind": True,
                    "use_slots": True,
                    # Cluster-wide settings belong here: Patroni enforces them on every node.
                    "parameters": {
                        "max_connections": 200, "wal_level": "replica", "hot_standby": "on",
                        "wal_log_hints": "on", "max_wal_senders": 10, "max_replication_slots": 10,
                        "wal_keep_size": "256MB", "archive_mode": "on", "archive_timeout": ARCHIVE_TIMEOUT_S,
                        "restore_command": restore_command(cluster),
                    },
                },
            },
            "initdb": [{"encoding": "UTF8"}, {"locale": "C.UTF-8"}, "data-checksums"],
            "pg_hba": ["local all all trust", "host all all 127.0.0.1/32 trust",
                       "host replication all 127.0.0.1/32 trust"],
        },
        "postgresql": {
            "listen": f"127.0.0.1:{node.pg_port}",
            "connect_address": f"127.0.0.1:{node.pg_port}",
            "data_dir": str(node.data_dir(folder)),
            "bin_dir": str(pg_bin_dir()),
            "pgpass": str(folder / node.name / "pgpass"),
            "authentication": {"superuser": {"username": "postgres"}, "replication": {"username": "postgres"},
                               "rewind": {"username": "postgres"}},
            "parameters": {
                "unix_socket_directories": str(folder / node.name),
                "archive_command": archive_command(cluster, node),
                "logging_collector": "on", "log_directory": "log",
            },
        },
        "tags": {"nofailover": False, "noloadbalance": False, "clonefrom": False, "nosync": False},
    }


def pgbackrest_config(cluster: Cluster, cipher_pass: str | None = None) -> str:
    folder = cluster.folder / "pgbackrest"
    lines = ["[global]", f"repo1-path={folder / 'repo'}", "repo1-retention-full=2",
             f"log-path={folder / 'log'}", f"lock-path={folder / 'lock'}", f"spool-path={folder / 'spool'}",
             "log-level-console=warn", "log-level-file=info", "start-fast=y", "compress-type=lz4",
             "process-max=2", "archive-timeout=30"]
    if cluster.s3 is not None:
        s3 = cluster.s3
        lines += ["repo2-type=s3", "repo2-s3-endpoint=localhost", f"repo2-storage-port={s3['tls_port']}",
                  f"repo2-s3-bucket={s3['bucket']}", "repo2-s3-region=us-east-1", "repo2-s3-uri-style=path",
                  "repo2-s3-key=drill", f"repo2-s3-key-secret={s3['secret']}",
                  f"repo2-storage-ca-file={cluster.folder / 's3' / 'cert.pem'}", "repo2-path=/kbju",
                  "repo2-retention-full=2", "repo2-bundle=y",
                  "repo2-cipher-type=aes-256-cbc", f"repo2-cipher-pass={cipher_pass}"]
    lines += ["", f"[{STANZA}]"]
    for index, node in enumerate(cluster.nodes, start=1):
        lines += [f"pg{index}-path={node.data_dir(cluster.folder)}", f"pg{index}-port={node.pg_port}",
                  f"pg{index}-socket-path={cluster.folder / node.name}"]
    return "\n".join(lines) + "\n"


def haproxy_config(cluster: Cluster) -> str:
    """HAProxy in front of every node, sending connections to the one whose Patroni says /primary is 200."""
    servers = "\n".join(
        f"    server {n.name} 127.0.0.1:{n.pg_port} maxconn 200 check port {n.rest_port}" for n in cluster.nodes)
    return f"""global
    maxconn 1000
defaults
    mode tcp
    timeout connect 2s
    timeout client 30m
    timeout server 30m
    timeout check 1s
listen primary
    bind 127.0.0.1:{cluster.haproxy_port}
    option httpchk GET /primary
    http-check expect status 200
    default-server inter 500ms fall 2 rise 1 on-marked-down shutdown-sessions
{servers}
"""

"""The cluster behind a database URL as `kbjuctl db status` shows it: each node's role and how far each
replica is behind. Read from PostgreSQL itself (pg_is_in_recovery, pg_stat_replication, the replay
position), so it works whatever manages the cluster (Patroni here, a managed service elsewhere)."""

from __future__ import annotations

from dataclasses import asdict, dataclass

from kbjuctl import dburl

NODE_SQL = """
SELECT pg_is_in_recovery() AS replica,
       CASE WHEN pg_is_in_recovery() THEN pg_last_wal_replay_lsn()::text ELSE pg_current_wal_lsn()::text END AS lsn,
       CASE WHEN pg_is_in_recovery() THEN extract(epoch FROM now() - pg_last_xact_replay_timestamp())::float8
       END AS replay_delay_s,
       (SELECT status FROM pg_stat_wal_receiver) AS receiver
"""
STANDBYS_SQL = """
SELECT application_name, client_addr::text, state, sync_state,
       pg_wal_lsn_diff(pg_current_wal_lsn(), replay_lsn)::bigint AS lag_bytes,
       extract(epoch FROM replay_lag)::float8 AS lag_s
FROM pg_stat_replication ORDER BY application_name
"""
LAG_SQL = "SELECT pg_wal_lsn_diff(pg_current_wal_lsn(), %s::pg_lsn)::bigint"


@dataclass
class NodeState:
    address: str
    role: str  # primary | replica | unreachable
    lsn: str | None = None
    lag_bytes: int | None = None  # replicas: WAL the primary has that this node has not replayed
    replay_delay_s: float | None = None  # replicas: age of the last replayed transaction
    receiver: str | None = None  # replicas: pg_stat_wal_receiver's status ("streaming")
    error: str = ""


def cluster_state(url: str) -> tuple[list[NodeState], list[dict]]:
    """Every node of the URL, and the primary's pg_stat_replication rows. One host: that node only."""
    import psycopg
    from psycopg.rows import dict_row

    nodes = []
    standbys: list[dict] = []
    primary_url = None
    for address, node_url in dburl.per_host(url):
        try:
            with psycopg.connect(node_url, autocommit=True, connect_timeout=2, row_factory=dict_row) as conn:
                row = conn.execute(NODE_SQL).fetchone()
                if not row["replica"]:
                    primary_url = node_url
                    standbys = conn.execute(STANDBYS_SQL).fetchall()
        except psycopg.Error as exc:
            nodes.append(NodeState(address, "unreachable", error=str(exc).strip().splitlines()[0]))
            continue
        nodes.append(NodeState(address, "replica" if row["replica"] else "primary", row["lsn"],
                               replay_delay_s=row["replay_delay_s"], receiver=row["receiver"]))
    if primary_url is not None:
        with psycopg.connect(primary_url, autocommit=True, connect_timeout=2) as conn:
            for node in nodes:
                if node.role == "replica" and node.lsn:
                    node.lag_bytes = int(conn.execute(LAG_SQL, (node.lsn,)).fetchone()[0])
    return nodes, standbys


def as_json(nodes: list[NodeState], standbys: list[dict]) -> dict:
    return {"nodes": [asdict(n) for n in nodes], "replication": standbys}

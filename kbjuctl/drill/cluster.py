"""A PostgreSQL 15 cluster of real processes in one folder: etcd (Debian etcd-server), two or three nodes
under Patroni (Debian patroni) in synchronous mode, continuous WAL archiving with pgBackRest, and
optionally HAProxy routing to the primary by Patroni's REST checks and an S3 repository (moto behind
stunnel). Started on free ports, stopped by pid; the folder's cluster.json says where everything is.

    DIR/cluster.json               ports, pids, names (no secret)
    DIR/etcd/                      etcd's data and log
    DIR/nodeN/patroni.yml          one Patroni configuration per node (Patroni's sample layout)
    DIR/nodeN/data/                the node's data directory; DIR/nodeN/patroni.log
    DIR/pgbackrest/pgbackrest.conf the stanza, repo1 (DIR/pgbackrest/repo) and, with S3, repo2 (mode 0600)
    DIR/haproxy/, DIR/s3/          when asked for

Patroni decides everything about roles (promotion, pg_rewind, synchronous standby); this module only
writes its configuration, starts and stops the processes, and reads the REST API.
"""

from __future__ import annotations

import contextlib
import json
import os
import shutil
import subprocess
import time
import urllib.error
import urllib.request
from dataclasses import asdict, dataclass, fields
from pathlib import Path

from kbjuctl.backup import physical
from kbjuctl.drill import processes
from kbjuctl.drill.configs import (
    STANZA,
    haproxy_config,
    patroni_config,
    pgbackrest_config,
)
from kbjuctl.drill.tools import pg_bin_dir, require_tools, tool
from kbjuctl.errors import BadInput, OperationFailed

DATABASE = "kbju"
STATE = "cluster.json"
START_TIMEOUT_S = 90


@dataclass
class Node:
    name: str
    pg_port: int
    rest_port: int
    pid: int | None = None

    def data_dir(self, folder: Path) -> Path:
        return folder / self.name / "data"

    def config(self, folder: Path) -> Path:
        return folder / self.name / "patroni.yml"

    def log(self, folder: Path) -> Path:
        return folder / self.name / "patroni.log"

    @property
    def rest_url(self) -> str:
        return f"http://127.0.0.1:{self.rest_port}"

    def postmaster_pid(self, folder: Path) -> int | None:
        try:
            return int((self.data_dir(folder) / "postmaster.pid").read_text().split()[0])
        except (OSError, ValueError, IndexError):
            return None


@dataclass
class Cluster:
    folder: Path
    nodes: list[Node]
    etcd_client_port: int
    etcd_peer_port: int
    etcd_pid: int | None = None
    haproxy_port: int | None = None
    haproxy_pid: int | None = None
    s3: dict | None = None  # {"port", "tls_port", "bucket", "moto_pid", "stunnel_pid"}
    database: str = DATABASE

    # -- where things are ----------------------------------------------------------------------------
    @property
    def url(self) -> str:
        """Every node, the writable one chosen by the client (libpq and asyncpg)."""
        hosts = ",".join(f"127.0.0.1:{n.pg_port}" for n in self.nodes)
        return f"postgresql://postgres@{hosts}/{self.database}?target_session_attrs=read-write"

    @property
    def haproxy_url(self) -> str | None:
        if self.haproxy_port is None:
            return None
        return f"postgresql://postgres@127.0.0.1:{self.haproxy_port}/{self.database}"

    def node_url(self, node: Node, database: str | None = None) -> str:
        return f"postgresql://postgres@127.0.0.1:{node.pg_port}/{database or self.database}"

    @property
    def pgbackrest_config(self) -> Path:
        return self.folder / "pgbackrest" / "pgbackrest.conf"

    @property
    def repository(self) -> physical.Repository:
        return physical.Repository(self.pgbackrest_config, STANZA)

    def node(self, name: str) -> Node:
        for node in self.nodes:
            if node.name == name:
                return node
        raise BadInput(f"No node {name!r} in the cluster (nodes: {', '.join(n.name for n in self.nodes)}).")

    # -- state file ----------------------------------------------------------------------------------
    def save(self) -> None:
        data = asdict(self)
        data["folder"] = str(self.folder)
        tmp = self.folder / f".{STATE}.tmp"
        tmp.write_text(json.dumps(data, indent=2) + "\n")
        os.replace(tmp, self.folder / STATE)

    @classmethod
    def load(cls, folder: Path) -> Cluster:
        path = folder / STATE
        try:
            data = json.loads(path.read_text())
        except FileNotFoundError:
            raise BadInput(f"No drill cluster in {folder} ({STATE} is missing): start one with "
                           f"`kbjuctl drill cluster up --dir {folder}`.") from None
        except (OSError, ValueError) as exc:
            raise BadInput(f"{path} cannot be read: {exc}") from None
        data["folder"] = Path(data["folder"])
        data["nodes"] = [Node(**n) for n in data["nodes"]]
        known = {f.name for f in fields(cls)}
        return cls(**{k: v for k, v in data.items() if k in known})

    # -- REST ----------------------------------------------------------------------------------------
    def members(self) -> list[dict]:
        """Patroni's view of the cluster (GET /cluster from the first node that answers)."""
        for node in self.nodes:
            with contextlib.suppress(OSError, ValueError):
                return rest_get(node, "/cluster", timeout=2)["members"]
        return []

    def leader(self) -> Node | None:
        for member in self.members():
            if member.get("role") in ("leader", "master") and member.get("state") == "running":
                return self.node(member["name"])
        return None


def rest_get(node: Node, path: str, timeout: float = 2.0) -> dict:
    with urllib.request.urlopen(f"{node.rest_url}{path}", timeout=timeout) as resp:  # nosec B310  # http://127.0.0.1 of our own Patroni
        return json.loads(resp.read() or b"{}")


def rest_status(node: Node, path: str, timeout: float = 1.0) -> int | None:
    """The HTTP status of a Patroni health endpoint (/primary, /replica, /health); None: no answer."""
    try:
        with urllib.request.urlopen(f"{node.rest_url}{path}", timeout=timeout) as resp:  # nosec B310  # our own Patroni
            return resp.status
    except urllib.error.HTTPError as exc:
        return exc.code
    except OSError:
        return None


# -- start and stop ----------------------------------------------------------------------------------------
def create(folder: Path, nodes: int = 2, haproxy: bool = False, s3: bool = False) -> Cluster:
    if not 2 <= nodes <= 3:
        raise BadInput("--nodes must be 2 or 3.")
    tools = ["etcd", "patroni", "patronictl", "pgbackrest"] + (["haproxy"] if haproxy else []) \
        + (["stunnel4", "moto_server"] if s3 else [])
    require_tools(*tools)
    pg_bin_dir()
    folder = folder.resolve()
    if folder.exists() and any(folder.iterdir()):
        raise BadInput(f"{folder} is not empty: give a new folder (or `kbjuctl drill cluster down --remove` the "
                       "cluster in it first).")
    processes.check_reachable(folder)
    folder.mkdir(parents=True, exist_ok=True)
    ports = iter(_distinct_ports(2 + 2 * nodes + 3))
    cluster = Cluster(folder, [Node(f"node{i}", next(ports), next(ports)) for i in range(1, nodes + 1)],
                      etcd_client_port=next(ports), etcd_peer_port=next(ports))
    if haproxy:
        cluster.haproxy_port = next(ports)
    secrets_ = {}
    if s3:
        import secrets

        cluster.s3 = {"port": next(ports), "tls_port": next(ports), "bucket": "kbju-drill",
                      "secret": secrets.token_hex(16), "moto_pid": None, "stunnel_pid": None}
        secrets_["cipher"] = secrets.token_urlsafe(32)
    for sub in ["etcd", "pgbackrest/repo", "pgbackrest/log", "pgbackrest/lock", "pgbackrest/spool",
                *(n.name for n in cluster.nodes)]:
        (folder / sub).mkdir(parents=True, exist_ok=True)
    for node in cluster.nodes:
        node.config(folder).write_text(json.dumps(patroni_config(cluster, node), indent=2) + "\n")
    conf = cluster.pgbackrest_config
    conf.write_text(pgbackrest_config(cluster, secrets_.get("cipher")))
    conf.chmod(0o600)  # the S3 key and the repository's cipher pass
    if haproxy:
        (folder / "haproxy").mkdir()
        (folder / "haproxy" / "haproxy.cfg").write_text(haproxy_config(cluster))
    if s3:
        from kbjuctl.drill import s3 as s3_repo

        s3_repo.prepare(cluster)
    processes.give_to_server(folder)
    os.chmod(folder, 0o755)  # nosec B103  # a folder (not a file) the postgres user must enter; its files stay 0600
    cluster.save()
    return cluster


def _distinct_ports(n: int) -> list[int]:
    ports: set[int] = set()
    while len(ports) < n:
        ports.add(processes.free_port())
    return list(ports)


def up(folder: Path, nodes: int = 2, haproxy: bool = False, s3: bool = False, progress=None) -> Cluster:
    """Create the cluster in folder (or start the one already there) and wait until it is ready: a leader,
    every replica streaming, one synchronous, the application database migrated, archiving checked."""
    say = progress or (lambda _m: None)
    folder = folder.resolve()
    if (folder / STATE).exists():
        cluster = Cluster.load(folder)
        if any(processes.alive(n.pid) for n in cluster.nodes) or processes.alive(cluster.etcd_pid):
            raise BadInput(f"The drill cluster in {folder} is already up (see `kbjuctl drill cluster status`).")
    else:
        cluster = create(folder, nodes, haproxy, s3)
    try:
        if cluster.s3 is not None:
            from kbjuctl.drill import s3 as s3_repo

            say("Starting the S3 repository (moto behind stunnel)")
            s3_repo.start(cluster)
        say("Starting etcd")
        start_etcd(cluster)
        for node in cluster.nodes:
            say(f"Starting Patroni {node.name}")
            start_node(cluster, node)
            if node is cluster.nodes[0]:
                wait_leader(cluster)  # the first node bootstraps; the others clone it
        if cluster.haproxy_port is not None:
            start_haproxy(cluster)
        say("Waiting for the replicas to stream (one synchronously)")
        wait_replicas(cluster)
        say("Creating the application database and applying the migrations")
        prepare_database(cluster)
        say("Creating the pgBackRest stanza and checking WAL archiving")
        physical.ensure_stanza(cluster.repository)
    except BaseException:
        down(cluster.folder)
        raise
    return cluster


def start_etcd(cluster: Cluster) -> None:
    folder = cluster.folder / "etcd"
    peer = f"http://127.0.0.1:{cluster.etcd_peer_port}"
    client = f"http://127.0.0.1:{cluster.etcd_client_port}"
    argv = [tool("etcd"), "--name", "etcd1", "--data-dir", str(folder / "data"), "--listen-peer-urls", peer,
            "--initial-advertise-peer-urls", peer, "--listen-client-urls", client, "--advertise-client-urls", client,
            "--initial-cluster", f"etcd1={peer}", "--initial-cluster-state", "new",
            "--initial-cluster-token", f"kbju-{cluster.etcd_peer_port}", "--logger", "zap", "--log-outputs", "stderr"]
    cluster.etcd_pid = processes.spawn(argv, folder / "etcd.log")
    cluster.save()
    _wait(lambda: processes.wait_port(cluster.etcd_client_port, 30, cluster.etcd_pid, "etcd"),
          folder / "etcd.log")


def start_node(cluster: Cluster, node: Node) -> None:
    # A postmaster left by a killed Patroni (it runs in a session of its own) would hold the port.
    stray = node.postmaster_pid(cluster.folder)
    if stray and processes.alive(stray) and not processes.alive(node.pid):
        processes.crash(processes.tree(stray))
    node.pid = processes.spawn([tool("patroni"), str(node.config(cluster.folder))], node.log(cluster.folder),
                               cwd=cluster.folder / node.name)
    cluster.save()
    _wait(lambda: processes.wait_port(node.rest_port, 30, node.pid, f"Patroni {node.name}"),
          node.log(cluster.folder))


def start_haproxy(cluster: Cluster) -> None:
    folder = cluster.folder / "haproxy"
    cluster.haproxy_pid = processes.spawn([tool("haproxy"), "-db", "-f", str(folder / "haproxy.cfg")],
                                          folder / "haproxy.log", as_server=False)
    cluster.save()
    _wait(lambda: processes.wait_port(cluster.haproxy_port, 15, cluster.haproxy_pid, "haproxy"),
          folder / "haproxy.log")


def _wait(action, log: Path) -> None:
    try:
        action()
    except (OSError, TimeoutError) as exc:
        raise OperationFailed(f"{exc}. The end of {log}:\n{processes.log_tail(log)}") from None


def wait_leader(cluster: Cluster, timeout_s: float = START_TIMEOUT_S, exclude: str | None = None) -> Node:
    deadline = time.monotonic() + timeout_s
    while time.monotonic() < deadline:
        for node in cluster.nodes:
            if node.name != exclude and rest_status(node, "/primary") == 200:
                return node
        for node in cluster.nodes:
            if node.pid and not processes.alive(node.pid) and node.name != exclude:
                raise OperationFailed(f"Patroni {node.name} exited:\n{processes.log_tail(node.log(cluster.folder))}")
        time.sleep(0.2)
    raise OperationFailed(f"No leader within {timeout_s:.0f} s. The end of {cluster.nodes[0].log(cluster.folder)}:\n"
                          f"{processes.log_tail(cluster.nodes[0].log(cluster.folder))}")


def replication(cluster: Cluster, leader: Node) -> list[dict]:
    """pg_stat_replication on the leader (Patroni 3.0's REST API does not say whether a replica streams)."""
    import psycopg
    from psycopg.rows import dict_row

    with psycopg.connect(cluster.node_url(leader, "postgres"), autocommit=True, connect_timeout=3,
                         row_factory=dict_row) as conn:
        return conn.execute(REPLICATION_SQL).fetchall()


REPLICATION_SQL = """
SELECT application_name AS name, state, sync_state,
       pg_wal_lsn_diff(pg_current_wal_lsn(), replay_lsn)::bigint AS replay_lag_bytes,
       extract(epoch FROM replay_lag)::float8 AS replay_lag_s
FROM pg_stat_replication ORDER BY application_name
"""


def wait_replicas(cluster: Cluster, timeout_s: float = START_TIMEOUT_S, expect: int | None = None) -> list[dict]:
    """Until every other node streams from the leader and one of them is synchronous."""
    import psycopg

    expect = len(cluster.nodes) - 1 if expect is None else expect
    deadline = time.monotonic() + timeout_s
    rows: list[dict] = []
    while time.monotonic() < deadline:
        leader = cluster.leader()
        if leader is not None:
            with contextlib.suppress(psycopg.Error):
                rows = replication(cluster, leader)
                streaming = [r for r in rows if r["state"] == "streaming"]
                if len(streaming) >= expect and any(r["sync_state"] == "sync" for r in streaming):
                    return rows
        time.sleep(0.3)
    raise OperationFailed(f"The replicas did not all stream within {timeout_s:.0f} s (pg_stat_replication: {rows}).")


def prepare_database(cluster: Cluster) -> None:
    import psycopg

    from kbjuctl import migrations

    with psycopg.connect(cluster.url.replace(f"/{cluster.database}?", "/postgres?"), autocommit=True) as conn:
        if not conn.execute("SELECT 1 FROM pg_database WHERE datname = %s", (cluster.database,)).fetchone():
            conn.execute(f'CREATE DATABASE "{cluster.database}"')
    migrations.upgrade(cluster.url)


def down(folder: Path, remove: bool = False) -> list[str]:
    """Stop everything the cluster in folder runs (HAProxy, the nodes, etcd, S3), by pid; returns what was
    stopped. With remove, delete the folder too."""
    folder = folder.resolve()
    cluster = Cluster.load(folder)
    stopped = []
    if processes.alive(cluster.haproxy_pid):
        processes.stop_group(cluster.haproxy_pid)
        stopped.append("haproxy")
    running = [node for node in cluster.nodes if processes.alive(node.pid)]
    processes.stop_groups([node.pid for node in running], timeout_s=30)  # Patroni stops its PostgreSQL first
    stopped += [f"patroni {node.name}" for node in running]
    for node in cluster.nodes:
        postmaster = node.postmaster_pid(folder)
        if postmaster and processes.alive(postmaster):  # left by a killed Patroni
            processes.stop_group(postmaster, timeout_s=20)
            processes.crash(processes.tree(postmaster))
            stopped.append(f"postgres {node.name}")
    if processes.alive(cluster.etcd_pid):
        processes.stop_group(cluster.etcd_pid)
        stopped.append("etcd")
    if cluster.s3 is not None:
        from kbjuctl.drill import s3 as s3_repo

        stopped += s3_repo.stop(cluster)
    _stop_pgbackrest(folder)
    if remove:
        shutil.rmtree(folder, ignore_errors=True)
    return stopped


def _stop_pgbackrest(folder: Path) -> None:
    """pgBackRest workers outlive a killed parent for a while: end any still working on this folder."""
    import psutil

    for proc in psutil.process_iter(["pid", "name", "cmdline"]):
        with contextlib.suppress(psutil.Error):
            if proc.info["name"] == "pgbackrest" and str(folder) in " ".join(proc.info["cmdline"] or []):
                processes.stop_group(proc.pid, timeout_s=5)


def status(folder: Path) -> dict:
    """Roles, state, timeline and lag of every member (Patroni's REST API), and pg_stat_replication."""
    import psycopg

    cluster = Cluster.load(folder.resolve())
    members = cluster.members()
    leader = cluster.leader()
    rows: list[dict] = []
    if leader is not None:
        with contextlib.suppress(psycopg.Error):
            rows = replication(cluster, leader)
    processes_ = {"etcd": processes.alive(cluster.etcd_pid),
                  **{f"patroni {n.name}": processes.alive(n.pid) for n in cluster.nodes}}
    if cluster.haproxy_port is not None:
        processes_["haproxy"] = processes.alive(cluster.haproxy_pid)
    return {"folder": str(cluster.folder), "url": cluster.url, "haproxy_url": cluster.haproxy_url,
            "leader": leader.name if leader else None, "members": members, "replication": rows,
            "processes": processes_, "pgbackrest_config": str(cluster.pgbackrest_config)}


def patronictl(cluster: Cluster, *args: str, timeout_s: float = 60) -> subprocess.CompletedProcess:
    node = cluster.nodes[0]
    return subprocess.run([tool("patronictl"), "-c", str(node.config(cluster.folder)), *args], capture_output=True,
                          text=True, timeout=timeout_s, check=False, stdin=subprocess.DEVNULL)

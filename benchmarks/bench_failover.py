"""How clients find the new primary after a failover: a multi-host URL with target_session_attrs=read-write
against HAProxy routing by Patroni's REST checks (GET /primary), measured side by side.

A drill cluster with HAProxy is started; two writers insert one row at a time (each its own connection,
reconnecting 50 ms after a failure), one through each path. The leader is frozen and SIGKILLed; each
writer's time from the kill to its first acknowledged write (an attempt started after the kill) is
printed. The old leader's Patroni is started again and rejoins before the next round.

    .venv/bin/python benchmarks/bench_failover.py [--rounds 3] [--dir /tmp/kbju-bench-failover]
"""

from __future__ import annotations

import argparse
import os
import shutil
import statistics
import threading
import time
from pathlib import Path

import psycopg

from kbjuctl.drill import cluster as drill_cluster
from kbjuctl.drill import configs, processes


class Writer(threading.Thread):
    def __init__(self, name: str, url: str) -> None:
        super().__init__(daemon=True, name=name)
        self.url = url
        self.acks: list[tuple[float, float]] = []  # (attempt started, acknowledged), time.time()
        self.stop = threading.Event()

    def run(self) -> None:
        conn = None
        n = 0
        while not self.stop.is_set():
            began = time.time()
            try:
                if conn is None:
                    conn = psycopg.connect(self.url, autocommit=True, connect_timeout=2)
                n += 1
                conn.execute("INSERT INTO bench_failover (writer, n) VALUES (%s, %s)", (self.name, n))
                self.acks.append((began, time.time()))
            except psycopg.Error:
                if conn is not None:
                    conn.close()
                conn = None
                time.sleep(0.05)
            time.sleep(0.01)

    def first_after(self, moment: float) -> float | None:
        return next((ack - moment for began, ack in self.acks if began > moment), None)


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.split("\n\n")[0])
    parser.add_argument("--rounds", type=int, default=3)
    parser.add_argument("--dir", type=Path, default=Path("/tmp/kbju-bench-failover"))  # nosec B108  # a benchmark's own scratch folder
    args = parser.parse_args()
    if args.dir.exists():
        if (args.dir / drill_cluster.STATE).exists():
            drill_cluster.down(args.dir, remove=True)
        shutil.rmtree(args.dir, ignore_errors=True)
    cluster = drill_cluster.up(args.dir, haproxy=True, progress=print)
    results: dict[str, list[float]] = {"multi-host URL": [], "HAProxy": []}
    try:
        with psycopg.connect(cluster.url, autocommit=True) as conn:
            conn.execute("CREATE TABLE bench_failover (writer text, n int, PRIMARY KEY (writer, n))")
        writers = [Writer("multi-host URL", cluster.url), Writer("HAProxy", cluster.haproxy_url)]
        for w in writers:
            w.start()
        for round_ in range(1, args.rounds + 1):
            time.sleep(3)
            leader = cluster.leader()
            postmaster = leader.postmaster_pid(cluster.folder)
            killed = time.time()
            processes.crash([leader.pid, *processes.tree(postmaster)])
            drill_cluster.wait_leader(cluster, exclude=leader.name)
            promoted = time.time() - killed
            deadline = time.time() + 60
            while time.time() < deadline and any(w.first_after(killed) is None for w in writers):
                time.sleep(0.1)
            line = [f"round {round_}: {leader.name} killed, promoted after {promoted:.2f} s"]
            for w in writers:
                took = w.first_after(killed)
                if took is not None:
                    results[w.name].append(took)
                line.append(f"{w.name}: first write {took:.2f} s" if took is not None else f"{w.name}: none")
            print("; ".join(line), flush=True)
            drill_cluster.start_node(cluster, leader)
            drill_cluster.wait_replicas(cluster)
        for w in writers:
            w.stop.set()
    finally:
        drill_cluster.down(args.dir, remove=True)
    print(f"\n{os.cpu_count()} cores; ttl {configs.TTL}, loop_wait {configs.LOOP_WAIT}, retry_timeout "
          f"{configs.RETRY_TIMEOUT}; HAProxy checks every 0.5 s, down after 2 failures")
    for name, values in results.items():
        if values:
            print(f"{name}: kill -> first acknowledged write min {min(values):.2f} / median "
                  f"{statistics.median(values):.2f} / max {max(values):.2f} s over {len(values)} rounds")


if __name__ == "__main__":
    main()

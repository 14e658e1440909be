"""Worker processes never outlive their parent, even one killed with SIGKILL the moment it started
them, before they had imported anything: migrate-from-sqlite's mapping workers (and their
multiprocessing resource tracker) and the bot's chart worker."""

from __future__ import annotations

import os
import signal
import subprocess
import sys
import time

import psutil
import pytest

from tests.helpers import dev_sqlite
from tests.helpers.bot_harness import TOKEN, kbjuctl_env, run, start_kbjuctl

SPAWNED = "spawn_main"  # a multiprocessing worker's command line


def _kill_when_a_worker_starts(proc: subprocess.Popen, timeout: float = 60) -> list[psutil.Process]:
    """SIGKILL proc as soon as one of its children is a multiprocessing worker; its children then."""
    parent = psutil.Process(proc.pid)
    deadline = time.monotonic() + timeout
    while time.monotonic() < deadline:
        try:
            children = parent.children(recursive=True)
            if any(SPAWNED in " ".join(c.cmdline()) for c in children):
                os.kill(proc.pid, signal.SIGKILL)
                proc.wait(10)
                return children
        except (psutil.NoSuchProcess, psutil.ZombieProcess):
            pass
        if proc.poll() is not None:
            pytest.fail(f"the parent exited ({proc.returncode}) before starting a worker")
        time.sleep(0.002)
    pytest.fail("no worker was started")


def _left_alive(children: list[psutil.Process], within: float = 10) -> list[str]:
    _gone, alive = psutil.wait_procs(children, timeout=within)
    left = [" ".join(p.cmdline())[:120] for p in alive if p.is_running()]
    for p in alive:
        p.kill()
    return left


@pytest.mark.parametrize("attempt", range(3))
def test_migration_workers_die_with_a_parent_killed_as_they_start(tmp_path, database_url, attempt):
    source = dev_sqlite.write(tmp_path / "dev.db", users=[dev_sqlite.user(i) for i in range(1, 200)],
                              records=[dev_sqlite.record(i, 1 + i % 199, day=f"2024-01-{1 + i // 199:02d}")
                                       for i in range(1, 2000)])
    proc = subprocess.Popen([sys.executable, "-m", "kbjuctl", "migrate-from-sqlite", str(source), "--database-url",
                             database_url], stdout=subprocess.DEVNULL, stderr=subprocess.DEVNULL,
                            env=kbjuctl_env())
    children = _kill_when_a_worker_starts(proc)
    assert children
    assert _left_alive(children) == []


def test_the_chart_worker_dies_with_a_bot_killed_as_it_starts(database_url):
    async def scenario(h):
        env = kbjuctl_env(BOT_TOKEN=TOKEN, DATABASE_URL=database_url, TELEGRAM_API_URL=h.url, METRICS_PORT="0")
        bot = start_kbjuctl(["run"], env, stdout=subprocess.DEVNULL, stderr=subprocess.DEVNULL)
        import asyncio

        children = await asyncio.to_thread(_kill_when_a_worker_starts, bot)
        holder["left"] = await asyncio.to_thread(_left_alive, children, 3)

    holder: dict[str, list[str]] = {}
    run(database_url, scenario, start=False)
    assert holder["left"] == []

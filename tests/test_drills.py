"""The release drills in a bounded form (a few people, a few seconds each phase), end to end through
`kbjuctl drill ...` with real HAProxy, the real stand-in, real bot processes and PostgreSQL; and
the small parts they are made of. Full size: docs/operations.md."""

from __future__ import annotations

import sqlite3
import subprocess
import sys
from pathlib import Path

import pytest

from kbjuctl.drill import haproxy, oldbot, releases
from kbjuctl.sqlite_migration.source import SourceReader
from tests.helpers.bot_harness import ROOT
from tests.helpers.schemas import validated

OLD_RELEASE = "v0.1.0"


def _drill(*args: str, timeout: float = 240) -> tuple[int, dict, str]:
    result = subprocess.run([sys.executable, "-m", "kbjuctl", "drill", *args, "--json"], capture_output=True,
                            text=True, timeout=timeout, check=False, cwd=ROOT)
    try:
        return result.returncode, validated(f"drill-{args[0]}", result.stdout), result.stderr
    except ValueError:
        raise AssertionError(f"no JSON from the drill (exit {result.returncode}):\n{result.stderr[-3000:]}") from None


def _checks(summary: dict) -> dict[str, dict]:
    return {c["name"]: c for c in summary["checks"]}


def _old_release() -> str:
    """The last release when git history has it (a shallow CI checkout may not): else this tree,
    which still drills every mechanism (the balancer, the drain, the migration and its rollback)."""
    tagged = subprocess.run(["git", "-C", str(ROOT), "rev-parse", "--verify", "--quiet", f"{OLD_RELEASE}^{{commit}}"],
                            capture_output=True, check=False)
    if tagged.returncode == 0:
        return OLD_RELEASE
    print(f"{OLD_RELEASE} is not in this checkout's history: the drill upgrades this tree to itself")
    return str(ROOT)


@pytest.mark.slow
def test_rolling_upgrade_and_rollback_under_load(tmp_path):
    code, summary, stderr = _drill("rolling-upgrade", "--old", _old_release(), "--people", "8", "--think", "0.3,1.0",
                                   "--warmup", "2", "--steady", "4", "--hold", "1", "--drain", "1",
                                   "--report", str(tmp_path / "report"))
    checks = _checks(summary)
    for name in ("no update lost", "no update answered twice", "no error reply", "every step answered as expected",
                 "every person's state consistent", "nothing routed to a draining replica",
                 "every delivery accepted at its first attempt", "every replica stopped gracefully (exit 0)",
                 "no traceback in the replicas' logs", "migrations applied under load and rolled back"):
        assert checks[name]["ok"], (name, checks[name], stderr[-3000:])
    figures = summary["figures"]
    assert len(figures["replacements"]) == 4  # two replicas forward, two back
    assert figures["next_migrations"][-1] == releases.DEMO_ID
    assert figures["schema"]["before"] == figures["schema"]["after"] != figures["schema"]["upgraded"]
    steady, rolling = (next(w for w in figures["windows"] if w["name"].startswith(n)) for n in ("steady", "rolling"))
    assert steady["steps"] > 0 and rolling["steps"] > 0
    # Latency is the machine's (two shared cores): printed, and the exit code follows the verdict.
    print(summary["verdict"])
    assert code == (0 if summary["passed"] else 1)
    assert (tmp_path / "report" / "summary.json").is_file()
    assert (tmp_path / "report" / "haproxy" / "haproxy.cfg").is_file()


@pytest.mark.slow
def test_cutover_from_the_old_bot(tmp_path):
    code, summary, stderr = _drill("cutover", "--people", "5", "--report", str(tmp_path / "report"))
    assert code == 0 and summary["passed"], ([c for c in summary["checks"] if not c["ok"]], stderr[-3000:])
    figures = summary["figures"]
    assert figures["queued"] == 5 and figures["downtime_s"] > 0
    assert "downtime" in summary["verdict"]
    print(summary["verdict"])


def test_drill_options_are_checked_before_anything_starts(tmp_path):
    result = subprocess.run([sys.executable, "-m", "kbjuctl", "drill", "rolling-upgrade", "--replicas", "1",
                             "--report", str(tmp_path / "r")], capture_output=True, text=True, timeout=60,
                            check=False, cwd=ROOT)
    assert result.returncode == 2 and "at least 2" in result.stderr and "Traceback" not in result.stderr
    result = subprocess.run([sys.executable, "-m", "kbjuctl", "drill", "rolling-upgrade", "--old", "no-such-rev-x",
                             "--report", str(tmp_path / "r")], capture_output=True, text=True, timeout=60,
                            check=False, cwd=ROOT)
    assert result.returncode == 2 and "no such revision" in result.stderr and "Traceback" not in result.stderr


def test_the_haproxy_configuration_is_valid(tmp_path):
    servers = [haproxy.Server("bot1", 18001), haproxy.Server("bot2", 18002)]
    path = tmp_path / "haproxy.cfg"
    path.write_text(haproxy.config(18000, servers, tmp_path / "haproxy.sock", 250))
    checked = subprocess.run([haproxy.require(), "-c", "-f", str(path)], capture_output=True, text=True, check=False)
    assert checked.returncode == 0, checked.stderr
    text = path.read_text()
    assert "uri /healthz" in text and "retry-on conn-failure empty-response" in text and "level admin" in text


def test_the_old_bots_file_has_the_dev_schema_that_migrate_from_sqlite_accepts(tmp_path):
    path = tmp_path / "kbju_bot.db"
    oldbot.create(path)
    oldbot.seed(path, [101, 102])
    with SourceReader(path) as source:  # checks the schema exactly, or raises BadInput
        assert source.facts().counts == {"users": 2, "user_records": 4, "user_food_preferences": 0}
    with sqlite3.connect(path) as conn:
        sql = conn.execute("SELECT sql FROM sqlite_master WHERE name = 'users'").fetchone()[0]
    assert sql.startswith("CREATE TABLE users (\n\ttelegram_id INTEGER NOT NULL, \n")


def test_the_demo_migration_comes_after_the_release_own(tmp_path):
    new = releases.prepare("new", str(ROOT), tmp_path)
    old = releases.prepare("old", str(ROOT), tmp_path)
    assert releases.next_migrations(old, new) == []
    with_demo, demo = releases.with_demo_migration(new, tmp_path)
    ids = releases.migration_ids(with_demo.sql_dir)
    assert ids[-1] == demo and ids[:-1] == releases.migration_ids(new.sql_dir)
    assert f"-- depends: {ids[-2]}" in (with_demo.sql_dir / f"{demo}.sql").read_text()
    assert (with_demo.sql_dir / f"{demo}.rollback.sql").is_file()
    assert not any(Path(ROOT / "sql").glob(f"{demo}*"))  # never shipped

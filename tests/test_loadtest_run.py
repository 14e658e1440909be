"""Small, bounded load runs end to end through `kbjuctl loadtest`: the real bot in webhook mode
behind the front, the real stand-in, a fresh PostgreSQL; the verdict, reports and consistency."""

from __future__ import annotations

import json
import subprocess
import sys
from pathlib import Path

import pytest

pytestmark = pytest.mark.slow


def loadtest(report: Path, *args: str, timeout: float = 150) -> tuple[int, dict, str]:
    result = subprocess.run(
        [sys.executable, "-m", "kbjuctl", "loadtest", "--report", str(report), "--spawn-rate", "20",
         "--think", "0.3,1.5", "--json", *args], check=False, capture_output=True, text=True, timeout=timeout)
    summary_path = report / "summary.json"
    summary = json.loads(summary_path.read_text()) if summary_path.is_file() else {}
    return result.returncode, summary, result.stderr


def _checks(summary: dict) -> dict[str, dict]:
    return {c["name"]: c for c in summary.get("checks", [])}


def _assert_nothing_lost(summary: dict, stderr: str) -> None:
    consistency = summary["consistency"]
    assert consistency["ok"], (consistency, stderr[-2000:])
    assert consistency["lost_updates"] == 0 and consistency["mismatches"] == 0
    assert consistency["people"] > 0
    assert _checks(summary)["no traceback in the bot's logs"]["ok"], summary["tracebacks"]


def test_a_small_local_run_writes_reports_and_a_verdict(tmp_path):
    report = tmp_path / "report"
    code, summary, stderr = loadtest(report, "--users", "20", "--duration", "20s")
    for name in ("locust.html", "locust_stats.csv", "locust_stats_history.csv", "locust_failures.csv",
                 "summary.json", "logs/bot-1.log", "logs/standin.log"):
        assert (report / name).is_file(), name
    assert {"p95 < 1 s (every step)", "errors < 0.1 %", "throughput"} <= set(_checks(summary))
    assert summary["total"]["requests"] > 20
    names = {s["name"] for s in summary["steps"]}
    assert {"survey:start", "survey:goal", "menu:/menu"} <= names, names
    assert summary["resources"]["peak_rss_mib"] > 0
    _assert_nothing_lost(summary, stderr)
    assert summary["total"]["failures"] == 0, [s for s in summary["steps"] if s["failures"]]
    # The latency verdict depends on the machine (others share its 2 cores); the exit code follows it.
    assert code == (0 if summary["passed"] else 1), stderr[-2000:]


def test_flood_control_429s_lose_nothing(tmp_path):
    _code, summary, stderr = loadtest(tmp_path / "r", "--users", "10", "--duration", "15s", "--fault", "flood")
    assert _checks(summary)["faults were injected"]["ok"], summary["fault"]
    assert summary["stack"]["telegram_limits"]["enabled"]  # Telegram's limits as well as the random 429s
    # The bot waits out every retry_after: each step is still answered, nothing is lost.
    assert summary["total"]["failures"] == 0, summary["steps"]
    _assert_nothing_lost(summary, stderr)


def test_the_verdict_follows_the_run_s_thresholds_and_says_who_used_the_machine(tmp_path):
    """A bounded run (a few dozen people, 20 s) against a database grown with --seed-people, judged
    by thresholds no run can meet: the verdict fails on exactly those checks, and says so."""
    code, summary, stderr = loadtest(tmp_path / "r", "--users", "30", "--duration", "20s", "--p95-ms", "0.001",
                                     "--p99-ms", "0.001", "--max-error-percent", "0", "--seed-people", "500",
                                     "--seed-records", "4000")
    checks = _checks(summary)
    assert code == 1 and not summary["passed"]
    assert not checks["p95 < 0.001 ms (every step)"]["ok"] and not checks["p99 < 0.001 ms (every step)"]["ok"]
    assert "p95 < 0.001 ms (every step)" in stderr  # the failure names the check
    failed = {name for name, c in checks.items() if c["gating"] and not c["ok"]}
    assert failed <= {"p95 < 0.001 ms (every step)", "p99 < 0.001 ms (every step)", "no errors", "throughput"}
    _assert_nothing_lost(summary, stderr)
    assert summary["stack"]["telegram_limits"]["per_chat_per_second"] == 1  # on by default
    machine = summary["machine"]
    assert machine["cores"] >= 1 and machine["updates"] >= summary["total"]["requests"]
    assert machine["bot_cpu_ms_per_update"] > 0 and "bot" in machine["busy_cores_by_program"]
    assert "Seeded 440 more registered people" in stderr  # 500 in all: 60 simulated (2 x 30), 440 more


def test_bot_api_server_errors_and_dropped_connections_lose_nothing(tmp_path):
    _code, summary, stderr = loadtest(tmp_path / "r", "--users", "10", "--duration", "20s",
                                      "--fault", "api-errors")
    assert _checks(summary)["faults were injected"]["ok"], summary["fault"]
    # 500/502 and dropped connections: the bot sends the reply again, so every step is answered.
    assert summary["total"]["failures"] == 0, [s for s in summary["steps"] if s["failures"]]
    _assert_nothing_lost(summary, stderr)


def test_postgresql_restart_mid_run_loses_nothing(tmp_path):
    _code, summary, stderr = loadtest(tmp_path / "r", "--users", "10", "--duration", "20s", "--fault", "pg-restart")
    checks = _checks(summary)
    assert checks["postgresql was restarted mid-run"]["ok"], summary["fault"]
    assert checks["people were asked to try again during the outage"]["ok"], summary["fault"]
    assert checks["every replica survived the outage"]["ok"]
    assert checks["the bot recovered by itself"]["ok"], checks["the bot recovered by itself"]
    _assert_nothing_lost(summary, stderr)


def test_one_of_two_replicas_killed_mid_run_loses_nothing(tmp_path):
    _code, summary, stderr = loadtest(tmp_path / "r", "--users", "10", "--duration", "16s", "--replicas", "2",
                                     "--fault", "replica-kill")
    checks = _checks(summary)
    assert checks["a replica was killed mid-run"]["ok"], summary["fault"]
    assert checks["the other replicas carried on"]["ok"], checks["the other replicas carried on"]
    _assert_nothing_lost(summary, stderr)


def test_the_polling_leader_killed_mid_run_a_standby_takes_over_and_nothing_is_lost(tmp_path):
    code, summary, stderr = loadtest(tmp_path / "r", "--users", "6", "--duration", "12s", "--replicas", "2",
                                     "--fault", "leader-kill")
    checks = _checks(summary)
    took = checks["a standby took the polling lease (target <= 10 s)"]
    print(f"\nleader-kill: {took['detail']}")
    assert took["ok"], summary["fault"]
    assert checks["never two concurrent getUpdates"]["ok"], checks["never two concurrent getUpdates"]
    _assert_nothing_lost(summary, stderr)
    assert code == 0

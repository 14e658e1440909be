"""`kbjuctl loadtest` refuses bad input with exit code 2 and a message, before starting anything;
the report and verdict pieces read Locust's own CSV files."""

from __future__ import annotations

import subprocess
import sys
from pathlib import Path

import pytest

from kbjuctl.errors import BadInput
from kbjuctl.loadtest import parse_duration
from kbjuctl.loadtest.report import StepStats, Summary, baseline_check, rate_at_full_load, read_stats, slo_checks


@pytest.mark.parametrize(("args", "message"), [
    (["--users", "0"], "--users must be at least 1"),
    (["--duration", "soon"], "--duration: expected a time"),
    (["--fault", "meteor"], "is not one of 'flood', 'pg-restart'"),
    (["--fault", "replica-kill"], "needs --replicas 2"),
    (["--target", "ftp://example.org"], "--target: expected 'local'"),
    (["--target", "http://standin:8081", "--fault", "pg-restart"], "needs --target local"),
    (["--think", "9,1"], "--think"),
    (["--replicas", "0"], "--replicas must be between"),
    (["--p95-ms", "0"], "--p95-ms and --p99-ms must be more than 0"),
    (["--max-error-percent", "101"], "--max-error-percent must be between"),
    (["--target", "http://standin:8081", "--seed-people", "100000"], "--seed-people and --seed-records need"),
    (["--baseline", "/nonexistent/summary.json"], "--baseline: /nonexistent/summary.json is not a file"),
])
def test_bad_input_exits_2_with_a_message(args, message, tmp_path):
    result = subprocess.run([sys.executable, "-m", "kbjuctl", "loadtest", "--report", str(tmp_path / "r"), *args],
                            check=False, capture_output=True, text=True, timeout=60)
    assert result.returncode == 2, result.stderr
    assert message in result.stderr
    assert not (tmp_path / "r").exists()  # nothing was started or written


def test_durations():
    assert parse_duration("90") == 90 and parse_duration("90s") == 90
    assert parse_duration("5m") == 300 and parse_duration("1h30m") == 5400
    with pytest.raises(BadInput):
        parse_duration("5 minutes")


STATS = """Type,Name,Request Count,Failure Count,Median Response Time,Average Response Time,Min Response Time,\
Max Response Time,Average Content Size,Requests/s,Failures/s,50%,66%,75%,80%,90%,95%,98%,99%,99.9%,99.99%,100%
message,survey:height,100,0,40,45,10,900,2,1.6,0,40,50,60,60,80,120,300,500,900,900,900
press,menu:progress,50,1,300,350,100,1500,3,0.8,0,300,350,400,450,700,1100,1400,1500,1500,1500,1500
,Aggregated,150,1,60,120,10,1500,2,2.4,0,60,80,120,200,400,700,1100,1300,1500,1500,1500
"""
HISTORY_HEADER = "Timestamp,User Count,Type,Name,Requests/s,Failures/s,50%,95%,Total Request Count\n"


def test_summary_and_verdict_from_locust_csv(tmp_path: Path):
    (tmp_path / "locust_stats.csv").write_text(STATS)
    rows = [(0, 0, 0), (10, 10, 20), (20, 20, 60), (80, 20, 150)]
    (tmp_path / "locust_stats_history.csv").write_text(
        HISTORY_HEADER + "".join(f"{t},{u},,Aggregated,0,0,0,0,{n}\n" for t, u, n in rows))
    summary = Summary(plan={})
    summary.steps, summary.total = read_stats(tmp_path / "locust")
    assert [s.name for s in summary.steps] == ["survey:height", "menu:progress"]
    assert summary.total.requests == 150 and summary.total.p95_ms == 700
    summary.requests_per_min, summary.requests_per_min_at_full_load = rate_at_full_load(tmp_path / "locust", 20)
    assert summary.requests_per_min == pytest.approx(112.5)
    assert summary.requests_per_min_at_full_load == pytest.approx(90.0)
    # Failed steps are no throughput: the SLO counts answered ones.
    (tmp_path / "locust_stats_history.csv").write_text(
        HISTORY_HEADER.replace("Total Request Count", "Total Request Count,Total Failure Count")
        + "".join(f"{t},{u},,Aggregated,0,0,0,0,{n},{n // 10}\n" for t, u, n in rows))
    _whole, summary.answered_per_min_at_full_load = rate_at_full_load(tmp_path / "locust", 20, answered=True)
    assert summary.answered_per_min_at_full_load == pytest.approx(90.0 * 0.9, abs=1)
    summary.error_ratio = 1 / 150
    checks = {c.name: c for c in slo_checks(summary, users=20, gate_latency=True)}
    assert not checks["p95 < 1 s (every step)"].ok and "menu:progress" in checks["p95 < 1 s (every step)"].detail
    assert not checks["errors < 0.1 %"].ok
    assert checks["throughput"].ok  # 90/min >= 20/min (1000/min at 1000 people, scaled)
    summary.checks = list(checks.values())
    assert not summary.passed
    relaxed = slo_checks(summary, users=20, gate_latency=False)
    assert all(not c.gating for c in relaxed)


def test_tracebacks_are_counted_per_log_record_and_outage_noise_apart(tmp_path):
    from kbjuctl.loadtest.service import count_tracebacks

    log = tmp_path / "bot-1.log"
    log.write_text(
        "2026-01-01 10:00:00,000 INFO bot.app: bot started\n"
        "2026-01-01 10:00:01,000 WARNING asyncpg.pool: Failed to restore the pool connection floor; retrying\n"
        "Traceback (most recent call last):\n  File \"x\", line 1\nFileNotFoundError: [Errno 2]\n"
        "2026-01-01 10:00:02,000 ERROR bot.runtime: update 5 failed\n"
        "Traceback (most recent call last):\n  File \"y\", line 2\nTypeError: boom\n")
    assert count_tracebacks([log], outage=True) == ({"bot-1.log": 1}, {"bot-1.log": 1})
    # Outside a database outage we caused, asyncpg's reconnect tracebacks count like any other.
    assert count_tracebacks([log], outage=False) == ({"bot-1.log": 2}, {"bot-1.log": 0})
    assert count_tracebacks([tmp_path / "missing.log"]) == ({"missing.log": 0}, {"missing.log": 0})


def _step(name: str, p95: float, p99: float, p50: float = 5.0) -> StepStats:
    return StepStats(name=name, kind="message", requests=100, failures=0, p50_ms=p50, p95_ms=p95, p99_ms=p99,
                     max_ms=p99)


def test_the_run_s_own_latency_and_error_thresholds_decide_the_verdict():
    summary = Summary(plan={}, steps=[_step("survey:height", 120, 400), _step("menu:progress", 280, 1200)],
                      total=_step("Aggregated", 250, 900), answered_per_min_at_full_load=1100)
    checks = {c.name: c for c in slo_checks(summary, users=1000, gate_latency=True, p95_ms=300, p99_ms=1000,
                                            max_error_percent=0)}
    assert checks["p95 < 300 ms (every step)"].ok
    assert not checks["p99 < 1 s (every step)"].ok and "over: menu:progress" in checks["p99 < 1 s (every step)"].detail
    assert checks["no errors"].ok and checks["throughput"].ok
    summary.error_ratio = 0.0005  # 0.05 %: under the plan's 0.1 %, but not "no errors"
    assert not {c.name: c for c in slo_checks(summary, 1000, True, max_error_percent=0)}["no errors"].ok
    assert {c.name: c for c in slo_checks(summary, 1000, True)}["errors < 0.1 %"].ok
    assert "p99 < 1 s (every step)" not in {c.name for c in slo_checks(summary, 1000, True)}  # reported only


def test_a_run_is_compared_with_its_baseline_by_the_p95_of_all_steps():
    summary = Summary(plan={}, total=_step("Aggregated", 23, 60, p50=6))
    within = baseline_check(summary, {"total": {"p50_ms": 6, "p95_ms": 20, "p99_ms": 50}}, 1.2, "r1/summary.json")
    assert within.ok and within.name == "p95 within 1.2x of the baseline" and "1.15x" in within.detail
    assert summary.baseline["p95_ratio"] == 1.15 and summary.baseline["p95_ms"] == {"this": 23, "baseline": 20.0}
    over = baseline_check(summary, {"total": {"p50_ms": 6, "p95_ms": 19, "p99_ms": 50}}, 1.2, "r1/summary.json")
    assert not over.ok and "1.21x" in over.detail
    assert not baseline_check(summary, {}, 1.2, "empty.json").ok

"""Locust's CSV statistics turned into the run's summary and its verdict against the SLOs."""

from __future__ import annotations

import csv
import json
from dataclasses import asdict, dataclass, field
from pathlib import Path
from typing import Any

# The users' plan: < 1 s responses, 1000+ requests a minute at 1000+ concurrent people. Latency and
# error thresholds are the run's (kbjuctl loadtest --p95-ms, --p99-ms, --max-error-percent).
SLO_P95_MS = 1000.0
SLO_ERROR_PERCENT = 0.1
SLO_REQUESTS_PER_MIN = 1000.0
SLO_AT_USERS = 1000


@dataclass
class StepStats:
    name: str
    kind: str
    requests: int
    failures: int
    p50_ms: float
    p95_ms: float
    p99_ms: float
    max_ms: float


@dataclass
class Check:
    name: str
    ok: bool
    detail: str
    gating: bool = True


@dataclass
class Summary:
    plan: dict[str, Any]
    steps: list[StepStats] = field(default_factory=list)
    total: StepStats | None = None
    requests_per_min: float = 0.0
    requests_per_min_at_full_load: float | None = None
    answered_per_min_at_full_load: float | None = None   # without failed steps: what the throughput SLO counts
    error_ratio: float = 0.0
    resources: dict[str, Any] = field(default_factory=dict)
    consistency: dict[str, Any] = field(default_factory=dict)
    tracebacks: dict[str, int] = field(default_factory=dict)
    fault: dict[str, Any] = field(default_factory=dict)
    stack: dict[str, Any] = field(default_factory=dict)
    machine: dict[str, Any] = field(default_factory=dict)   # cores, load average, CPU by program, per update
    baseline: dict[str, Any] = field(default_factory=dict)
    checks: list[Check] = field(default_factory=list)
    wall_s: float = 0.0

    @property
    def passed(self) -> bool:
        return all(c.ok for c in self.checks if c.gating)

    def as_dict(self) -> dict[str, Any]:
        data = asdict(self)
        data["passed"] = self.passed
        return data

    def write(self, path: Path) -> None:
        path.write_text(json.dumps(self.as_dict(), ensure_ascii=False, indent=2, default=str) + "\n")


def _number(value: str) -> float:
    try:
        return float(value)
    except (TypeError, ValueError):
        return 0.0


def _step(row: dict[str, str]) -> StepStats:
    return StepStats(name=row["Name"], kind=row["Type"], requests=int(_number(row["Request Count"])),
                     failures=int(_number(row["Failure Count"])), p50_ms=_number(row["50%"]),
                     p95_ms=_number(row["95%"]), p99_ms=_number(row["99%"]), max_ms=_number(row["Max Response Time"]))


def read_stats(prefix: Path) -> tuple[list[StepStats], StepStats | None]:
    """Per-step rows and the aggregated row of <prefix>_stats.csv."""
    path = Path(f"{prefix}_stats.csv")
    if not path.is_file():
        return [], None
    steps, total = [], None
    with path.open(newline="") as handle:
        for row in csv.DictReader(handle):
            if row["Name"] == "Aggregated":
                total = _step(row)
            else:
                steps.append(_step(row))
    return steps, total


def rate_at_full_load(prefix: Path, users: int, answered: bool = False) -> tuple[float, float | None]:
    """(requests/min over the whole run, requests/min while all `users` were running) from the history;
    answered=True counts only steps that succeeded (a step that timed out is no throughput)."""
    path = Path(f"{prefix}_stats_history.csv")
    if not path.is_file():
        return 0.0, None
    points: list[tuple[float, int, float]] = []
    with path.open(newline="") as handle:
        for row in csv.DictReader(handle):
            if row.get("Name") == "Aggregated":
                count = _number(row["Total Request Count"])
                if answered:
                    count -= _number(row.get("Total Failure Count"))
                points.append((_number(row["Timestamp"]), int(_number(row["User Count"])), count))
    if len(points) < 2:
        return 0.0, None
    whole = 60 * (points[-1][2] - points[0][2]) / max(points[-1][0] - points[0][0], 1e-9)
    full = [p for p in points if p[1] >= users]
    if len(full) < 2 or full[-1][0] - full[0][0] < 5:
        return whole, None
    return whole, 60 * (full[-1][2] - full[0][2]) / (full[-1][0] - full[0][0])


def _ms(value: float) -> str:
    return f"{value / 1000:g} s" if value >= 1000 else f"{value:g} ms"


def slo_checks(summary: Summary, users: int, gate_latency: bool, p95_ms: float = SLO_P95_MS,
               p99_ms: float | None = None, max_error_percent: float = SLO_ERROR_PERCENT) -> list[Check]:
    """The SLO verdicts. Under an injected fault they are reported but do not gate (the fault's own
    checks do): a database outage is meant to produce 'try again' replies."""
    checks = []
    total = summary.total
    if total is None or total.requests == 0:
        return [Check("requests", False, "Locust recorded no request")]
    for name, limit in (("p95", p95_ms), ("p99", p99_ms)):
        if limit is None:
            continue
        def value(step: StepStats, key: str = f"{name}_ms") -> float:
            return getattr(step, key)

        slow = [s for s in summary.steps if value(s) >= limit]
        worst = max(summary.steps, key=value, default=total)
        checks.append(Check(f"{name} < {_ms(limit)} (every step)", not slow,
                            f"worst {worst.name}: {name} {value(worst):.0f} ms" +
                            (f"; over: {', '.join(s.name for s in slow)}" if slow else ""), gate_latency))
    percent = 100 * summary.error_ratio
    within = percent == 0 if max_error_percent == 0 else percent < max_error_percent
    checks.append(Check("no errors" if max_error_percent == 0 else f"errors < {max_error_percent:g} %", within,
                        f"{total.failures} of {total.requests} ({percent:.3f} %)", gate_latency))
    required = SLO_REQUESTS_PER_MIN * min(users, SLO_AT_USERS) / SLO_AT_USERS
    measured = summary.answered_per_min_at_full_load
    if measured is None:
        measured = summary.requests_per_min_at_full_load
    if measured is None:
        measured = summary.requests_per_min
    scaled = "" if users >= SLO_AT_USERS else f" (scaled to {users} users; the plan's figure needs --users 1000)"
    checks.append(Check("throughput", measured >= required,
                        f"{measured:.0f} answered requests/min at {users} users, needs >= {required:.0f}{scaled}",
                        gate_latency))
    return checks


def baseline_check(summary: Summary, baseline: dict[str, Any], ratio: float, source: str) -> Check:
    """This run's p95 over all steps within `ratio` times an earlier run's (its summary.json)."""
    theirs = baseline.get("total") or {}
    ours = summary.total
    if ours is None or not theirs.get("p95_ms"):
        return Check(f"latency within {ratio:g}x of the baseline", False, f"no p95 to compare in {source}")
    measured = {k: (getattr(ours, k), float(theirs.get(k) or 0)) for k in ("p50_ms", "p95_ms", "p99_ms")}
    factor = measured["p95_ms"][0] / measured["p95_ms"][1]
    summary.baseline = {"source": source, "ratio_allowed": ratio, "p95_ratio": round(factor, 3),
                        **{k: {"this": a, "baseline": b} for k, (a, b) in measured.items()}}
    detail = "; ".join(f"{k.removesuffix('_ms')} {a:.0f} vs {b:.0f} ms" for k, (a, b) in measured.items())
    return Check(f"p95 within {ratio:g}x of the baseline", factor <= ratio,
                 f"{factor:.2f}x ({detail}; baseline {source})")

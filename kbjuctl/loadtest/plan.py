"""What a load run is asked to do, validated before anything starts."""

from __future__ import annotations

import re
from dataclasses import asdict, dataclass
from enum import StrEnum
from pathlib import Path
from urllib.parse import urlsplit

from kbjuctl import dburl
from kbjuctl.errors import BadInput


# flood: the stand-in answers with Telegram's flood control (429 + retry_after) while load runs;
# pg-restart: PostgreSQL stops and starts again mid-run; replica-kill: one of two replicas is
# SIGKILLed mid-run; api-errors: 5xx, slow answers and dropped connections from the Bot API.
# primary-failover / primary-switchover: the database is a Patroni cluster whose primary is killed
# (SIGSTOP, SIGKILL) or switched over mid-run; leader-kill: replicas poll getUpdates and the one holding
# the polling lease is SIGKILLed.
class Fault(StrEnum):
    FLOOD = "flood"
    PG_RESTART = "pg-restart"
    REPLICA_KILL = "replica-kill"
    API_ERRORS = "api-errors"
    PRIMARY_FAILOVER = "primary-failover"
    PRIMARY_SWITCHOVER = "primary-switchover"
    LEADER_KILL = "leader-kill"


FAULTS = tuple(Fault)
CLUSTER_FAULTS = (Fault.PRIMARY_FAILOVER, Fault.PRIMARY_SWITCHOVER)
LOCAL_FAULTS = (Fault.PG_RESTART, Fault.REPLICA_KILL, Fault.LEADER_KILL, *CLUSTER_FAULTS)
_DURATION = re.compile(r"^\s*(?:(\d+)h)?\s*(?:(\d+)m)?\s*(?:(\d+)s?)?\s*$")


def parse_duration(text: str) -> float:
    """'90', '90s', '5m', '1h30m' -> seconds."""
    match = _DURATION.match(text or "")
    if not match or not any(match.groups()):
        raise BadInput(f"--duration: expected a time like 90s, 5m or 1h30m, got {text!r}")
    hours, minutes, seconds = (int(g or 0) for g in match.groups())
    total = hours * 3600 + minutes * 60 + seconds
    if total <= 0:
        raise BadInput("--duration must be longer than 0 s")
    return float(total)


@dataclass(frozen=True)
class Plan:
    users: int = 1000
    spawn_rate: float = 50.0
    duration_s: float = 300.0
    replicas: int = 1
    workers: int = 0
    target: str = "local"
    report_dir: Path = Path("loadtest-report")
    web: bool = False
    fault: str | None = None
    database_url: str | None = None      # remote target: where the consistency check reads
    think_s: tuple[float, float] = (3.0, 15.0)
    reply_timeout_s: float = 30.0
    seed: int = 1
    bot_args: tuple[str, ...] = ()
    telegram_limits: bool = True         # the stand-in answers like Telegram's flood control
    p95_ms: float = 1000.0               # every step's p95 must stay below
    p99_ms: float | None = None          # every step's p99 must stay below (None: reported only)
    max_error_percent: float = 0.1       # failed steps must stay below this share (0: none at all)
    seed_people: int | None = None       # registered people in the database (default: 2 x users)
    seed_records: int | None = None      # their measurement records in all (default: 10 per extra person)
    baseline: Path | None = None         # summary.json of an earlier run whose latency this one must keep
    baseline_ratio: float = 1.2
    cluster_dir: Path | None = None  # cluster faults: a running drill cluster to use, else one is started

    @property
    def polling(self) -> bool:
        return self.fault == "leader-kill"

    @property
    def on_cluster(self) -> bool:
        return self.fault in CLUSTER_FAULTS

    def describe(self) -> dict:
        """The plan as summary.json, --json and --dry-run show it (the database password masked)."""
        return {**asdict(self), "report_dir": str(self.report_dir), "think_s": list(self.think_s),
                "bot_args": list(self.bot_args), "baseline": str(self.baseline) if self.baseline else None,
                "database_url": dburl.redact(self.database_url) if self.database_url else None}

    @property
    def local(self) -> bool:
        return self.target == "local"

    def validate(self) -> Plan:
        if self.users < 1:
            raise BadInput("--users must be at least 1")
        if self.spawn_rate <= 0:
            raise BadInput("--spawn-rate must be more than 0")
        if not 1 <= self.replicas <= 16:
            raise BadInput("--replicas must be between 1 and 16")
        if not 0 <= self.workers <= 64:
            raise BadInput("--workers must be between 0 (no master/worker split) and 64")
        if self.fault is not None and self.fault not in FAULTS:
            raise BadInput(f"--fault: expected one of {', '.join(FAULTS)}, got {self.fault!r}")
        if self.fault in ("replica-kill", "leader-kill") and self.replicas < 2:
            raise BadInput(f"--fault {self.fault} needs --replicas 2 or more (one is killed, another carries on)")
        if not self.local:
            parts = urlsplit(self.target)
            if parts.scheme not in ("http", "https") or not parts.netloc:
                raise BadInput("--target: expected 'local' or the http(s) URL of the Bot API stand-in the bot "
                               f"under test talks to, got {self.target!r}")
            if self.fault in LOCAL_FAULTS:
                raise BadInput(f"--fault {self.fault} needs --target local (it stops processes it started)")
            if self.replicas != 1:
                raise BadInput("--replicas applies to --target local only")
        if self.p95_ms <= 0 or (self.p99_ms is not None and self.p99_ms <= 0):
            raise BadInput("--p95-ms and --p99-ms must be more than 0")
        if not 0 <= self.max_error_percent <= 100:
            raise BadInput("--max-error-percent must be between 0 and 100")
        if self.seed_people is not None or self.seed_records is not None:
            if not self.local:
                raise BadInput("--seed-people and --seed-records need --target local (a database of our own)")
            if self.seed_people is not None and self.seed_people < 0:
                raise BadInput("--seed-people must be 0 or more")
            if self.seed_records is not None and self.seed_records < 0:
                raise BadInput("--seed-records must be 0 or more")
        if self.baseline is not None and not self.baseline.is_file():
            raise BadInput(f"--baseline: {self.baseline} is not a file (the summary.json of an earlier run)")
        if self.baseline_ratio < 1:
            raise BadInput("--baseline-ratio must be 1 or more")
        lo, hi = self.think_s
        if not 0 <= lo <= hi:
            raise BadInput("--think: expected MIN,MAX seconds with 0 <= MIN <= MAX")
        if self.report_dir.exists() and not self.report_dir.is_dir():
            raise BadInput(f"--report: {self.report_dir} exists and is not a folder")
        return self

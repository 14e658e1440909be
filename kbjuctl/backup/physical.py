"""Physical backups and WAL archiving with pgBackRest: kbjuctl runs pgBackRest's own commands (stanza-create,
check, backup, info, verify, expire, restore) and reads `info --output=json`; it adds a verdict, never
new concepts. pgBackRest reads its configuration file and stanza as usual (PGBACKREST_CONFIG,
PGBACKREST_STANZA or the options below).

Run as root, pgBackRest runs as the `postgres` user, which owns the data directory, the repository and
the archive_command: files written by root would break the next archive-push.
"""

from __future__ import annotations

import contextlib
import json
import os
import signal
import subprocess
import time
from dataclasses import dataclass
from datetime import UTC, datetime
from pathlib import Path

from kbjuctl.errors import BadInput, OperationFailed

DEFAULT_STANZA = "kbju"
TYPES = ("full", "diff", "incr")


@dataclass(frozen=True)
class Repository:
    """Where pgBackRest's configuration is and which stanza (cluster) it is about."""

    config: Path | None = None
    stanza: str = DEFAULT_STANZA

    def options(self) -> list[str]:
        opts = [f"--stanza={self.stanza}"]
        if self.config is not None:
            opts.insert(0, f"--config={self.config}")
        return opts


def _account() -> tuple[int, int] | None:
    from kbjuctl.drill.processes import server_account

    return server_account()


def run(repo: Repository, command: str, *args: str, timeout_s: float = 3600, check: bool = True
        ) -> subprocess.CompletedProcess:
    """One pgBackRest command in a process group of its own; the group is ended on timeout or Ctrl-C
    (pgBackRest's workers outlive a killed parent)."""
    from shutil import which

    if which("pgbackrest") is None:
        raise BadInput("pgbackrest is not installed (Debian package pgbackrest; ./scripts/system-deps.sh).")
    if repo.config is not None and not repo.config.is_file():
        raise BadInput(f"pgBackRest configuration {repo.config} does not exist.")
    account = _account()
    argv = ["pgbackrest", *repo.options(), *args, command]
    env = dict(os.environ)
    if account is not None:
        import pwd

        env["HOME"] = pwd.getpwuid(account[0]).pw_dir
    process = subprocess.Popen(argv, stdout=subprocess.PIPE, stderr=subprocess.PIPE, stdin=subprocess.DEVNULL,
                               text=True, start_new_session=True, env=env, cwd="/",
                               user=account[0] if account else None, group=account[1] if account else None,
                               extra_groups=[] if account else None)
    try:
        stdout, stderr = process.communicate(timeout=timeout_s)
    except BaseException:
        with contextlib.suppress(ProcessLookupError):
            os.killpg(process.pid, signal.SIGKILL)
        process.wait()
        raise
    done = subprocess.CompletedProcess(argv, process.returncode, stdout, stderr)
    if check and done.returncode != 0:
        raise OperationFailed(f"pgbackrest {command} failed (exit {done.returncode}):\n"
                              f"{(done.stderr or done.stdout).strip()[-2000:]}")
    return done


def ensure_stanza(repo: Repository) -> None:
    """stanza-create (a no-op when it exists), then check: WAL reaches every repository."""
    run(repo, "stanza-create", timeout_s=120)
    run(repo, "check", timeout_s=120)


@dataclass
class PhysicalBackup:
    label: str
    type: str  # full | diff | incr
    repo: int
    started: datetime
    stopped: datetime
    size: int  # bytes of the database at backup time
    repo_size: int  # bytes in the repository (compressed)
    wal_start: str
    wal_stop: str
    error: bool  # pgBackRest saw a page checksum error while copying

    def to_json(self) -> dict:
        return {"label": self.label, "type": self.type, "repo": self.repo, "started": self.started.isoformat(),
                "stopped": self.stopped.isoformat(), "size": self.size, "repo_size": self.repo_size,
                "wal_start": self.wal_start, "wal_stop": self.wal_stop, "error": self.error}


def info(repo: Repository) -> dict:
    done = run(repo, "info", "--output=json", timeout_s=300)
    try:
        stanzas = json.loads(done.stdout)
    except ValueError:
        raise OperationFailed(f"pgbackrest info printed no JSON: {done.stdout[:300]}") from None
    for stanza in stanzas:
        if stanza.get("name") == repo.stanza:
            return stanza
    raise BadInput(f"pgBackRest knows no stanza {repo.stanza!r}.")


def backups(repo: Repository, stanza_info: dict | None = None) -> list[PhysicalBackup]:
    """Every backup in every repository, oldest first."""
    stanza_info = stanza_info or info(repo)
    found = []
    for b in stanza_info.get("backup", []):
        found.append(PhysicalBackup(
            b["label"], b["type"], int(b.get("database", {}).get("repo-key", 1)),
            datetime.fromtimestamp(b["timestamp"]["start"], UTC), datetime.fromtimestamp(b["timestamp"]["stop"], UTC),
            int(b["info"]["size"]), int(b["info"]["repository"].get("delta", b["info"]["repository"].get("size", 0))),
            b.get("archive", {}).get("start") or "", b.get("archive", {}).get("stop") or "", bool(b.get("error"))))
    return sorted(found, key=lambda b: b.stopped)


def create(repo: Repository, backup_type: str = "full", repo_index: int | None = None) -> tuple[PhysicalBackup, float]:
    """One backup of the given type; returns it (from pgBackRest's info) and the seconds it took."""
    if backup_type not in TYPES:
        raise BadInput(f"--type: expected one of {', '.join(TYPES)}, got {backup_type!r}")
    before = {(b.repo, b.label) for b in backups(repo)}
    started = time.monotonic()
    args = [f"--type={backup_type}"] + ([f"--repo={repo_index}"] if repo_index else [])
    run(repo, "backup", *args)
    seconds = time.monotonic() - started
    new = [b for b in backups(repo) if (b.repo, b.label) not in before]
    if not new:
        raise OperationFailed("pgbackrest backup succeeded but info shows no new backup.")
    return new[-1], seconds


@dataclass
class VerifyReport:
    ok: bool
    checked: list[str]  # backup labels pgBackRest verified
    problems: list[str]
    seconds: float

    def to_json(self) -> dict:
        return {"ok": self.ok, "checked": self.checked, "problems": self.problems, "seconds": round(self.seconds, 3)}


def verify(repo: Repository, repo_index: int | None = None) -> VerifyReport:
    """`pgbackrest check` (archiving works now) and `pgbackrest verify` (every file of every backup and
    every archived WAL segment against the checksums in the repository's manifests)."""
    started = time.monotonic()
    problems = []
    checked_archiving = run(repo, "check", *([f"--repo={repo_index}"] if repo_index else []), timeout_s=300,
                            check=False)
    if checked_archiving.returncode != 0:
        problems.append("pgbackrest check: " + (checked_archiving.stderr or checked_archiving.stdout).strip()[-800:])
    labels = []
    repos = [repo_index] if repo_index else sorted({b.repo for b in backups(repo)}) or [1]
    for index in repos:
        done = run(repo, "verify", f"--repo={index}", "--output=text", "--verbose", check=False)
        text = (done.stdout + done.stderr).strip()
        labels += [f"repo{index}:{label}" for label in _verified_labels(text)]
        if done.returncode != 0 or "status: error" in text:
            problems.append(f"pgbackrest verify (repo {index}): {text[-1500:]}")
    return VerifyReport(not problems, labels, problems, time.monotonic() - started)


def _verified_labels(text: str) -> list[str]:
    labels = []
    for line in text.splitlines():
        line = line.strip()
        if line.startswith("backup:") and "status: valid" in line:
            labels.append(line.split()[1].rstrip(","))
    return labels


def expire(repo: Repository, repo_index: int | None = None) -> str:
    return run(repo, "expire", *([f"--repo={repo_index}"] if repo_index else [])).stdout.strip()


def target_text(when: datetime) -> str:
    """pgBackRest's --target for --type=time: 'YYYY-MM-DD HH:MM:SS.ffffff+00' (its ISO 'T' form is refused)."""
    return when.astimezone(UTC).strftime("%Y-%m-%d %H:%M:%S.%f+00")


def parse_time(text: str) -> datetime:
    """An ISO 8601 time with its offset (2026-12-04T10:15:00+03:00, ...Z, or with a space)."""
    try:
        when = datetime.fromisoformat(text.strip().replace("Z", "+00:00"))
    except ValueError:
        raise BadInput(f"--to-time: expected an ISO 8601 time like 2026-12-04T10:15:00+03:00, got {text!r}") from None
    if when.tzinfo is None:
        raise BadInput("--to-time needs its time zone (e.g. 2026-12-04T10:15:00+03:00 or ...Z): the server keeps "
                       "commit times in UTC and a bare time is ambiguous.")
    return when


def restore_into(repo: Repository, pg_data: Path, *, to_time: datetime | None, repo_index: int | None = None,
                 timeout_s: float = 3600) -> float:
    """pgbackrest restore into an empty (or new) data directory, recovery to `to_time` (None: to the end of
    the archive), promote when reached, archiving off. Returns the seconds pgBackRest took."""
    from kbjuctl.drill.processes import check_reachable, give_to_server

    check_reachable(pg_data.parent)
    if pg_data.exists() and any(pg_data.iterdir()):
        raise BadInput(f"{pg_data} is not empty: restore into a new or empty folder (never over a live server).")
    pg_data.mkdir(parents=True, exist_ok=True, mode=0o700)
    give_to_server(pg_data)
    args = [f"--pg1-path={pg_data}", "--archive-mode=off"]
    if to_time is not None:
        args += ["--type=time", f"--target={target_text(to_time)}", "--target-action=promote"]
    if repo_index:
        args.append(f"--repo={repo_index}")
    started = time.monotonic()
    run(repo, "restore", *args, timeout_s=timeout_s)
    return time.monotonic() - started

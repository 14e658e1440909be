"""Locust as a subprocess: headless (one process, or a master with W workers) or its web UI."""

from __future__ import annotations

import shutil
import sys
import time
from pathlib import Path

from kbjuctl.errors import OperationFailed
from kbjuctl.loadtest import procs
from kbjuctl.loadtest.plan import Plan

LOCUSTFILE = Path(__file__).resolve().parents[2] / "loadtests" / "locustfile.py"
CSV_PREFIX = "locust"


def locust_command() -> list[str]:
    beside = Path(sys.executable).with_name("locust")
    if beside.is_file():
        return [str(beside)]
    found = shutil.which("locust")
    if found:
        return [found]
    raise OperationFailed("Locust is not installed; it comes with the project's loadtest extra: "
                          "pip install 'kbju-platform[loadtest]' (in a clone: .venv/bin/pip install -e '.[loadtest]'; "
                          "./scripts/test.sh installs it too).")


def _run_time(plan: Plan) -> str:
    return f"{int(plan.duration_s)}s"


def run(plan: Plan, host: str, env: dict[str, str], report_dir: Path, log_dir: Path,
        on_tick=None) -> int:
    """Runs Locust to the end; returns its exit code (1 when any request failed, which we judge
    ourselves). on_tick(elapsed_s) is called about once a second while it runs."""
    if not LOCUSTFILE.is_file():
        raise OperationFailed(f"The Locust scenarios are missing: {LOCUSTFILE}")
    base = [*locust_command(), "-f", str(LOCUSTFILE), "-H", host, "-u", str(plan.users),
            "-r", str(plan.spawn_rate), "--stop-timeout", "0", "--loglevel", "INFO"]
    reports = ["--csv", str(report_dir / CSV_PREFIX), "--csv-full-history",
               "--html", str(report_dir / "locust.html")]
    env = {**env, "LOADTEST_WORKERS": str(max(plan.workers, 1))}
    children: list[procs.Child] = []
    if plan.web:
        argv = [*base, *reports, "--web-host", "127.0.0.1", "--web-port", "8089"]
        if plan.workers:
            argv += ["--master"]
    else:
        argv = [*base, *reports, "--headless", "-t", _run_time(plan), "--only-summary"]
        if plan.workers:
            argv += ["--master", "--expect-workers", str(plan.workers), "--expect-workers-max-wait", "60"]
    master_port = procs.free_port() if plan.workers else 0
    if plan.workers:
        argv += ["--master-bind-host", "127.0.0.1", "--master-bind-port", str(master_port)]
    main = procs.start("locust", argv, log_dir, env=env)
    children.append(main)
    for index in range(plan.workers):
        children.append(procs.start(
            f"locust-worker-{index + 1}",
            [*locust_command(), "-f", str(LOCUSTFILE), "--worker", "--master-host", "127.0.0.1",
             "--master-port", str(master_port), "--loglevel", "INFO"], log_dir, env=env))
    started = time.monotonic()
    try:
        while main.alive():
            if on_tick is not None:
                on_tick(time.monotonic() - started)
            time.sleep(1.0)
    except KeyboardInterrupt:
        # --web: the operator stops the run with Ctrl-C; Locust writes its reports on SIGTERM.
        main.stop(timeout_s=30)
    finally:
        for child in children[1:]:
            child.stop(timeout_s=15)
    return main.process.returncode if main.process.returncode is not None else 1

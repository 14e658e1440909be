"""Helpers of the alerting tests: monitoring/alertmanager/ rendered by its own render.sh, and the one
difference between the Alertmanager compose and Kubernetes run (upstream 0.27) and Debian bookworm's
(0.25), which the suite runs: 0.25 has no `bot_token_file` for Telegram, so the rendered file gets the
token's value instead, written into the test's own folder (mode 600). Everything else is checked and
run exactly as deployed."""

from __future__ import annotations

import os
import re
import shutil
import subprocess
from pathlib import Path

from tests.helpers.bot_harness import ROOT

ALERTMANAGER_DIR = ROOT / "monitoring" / "alertmanager"
ALERTMANAGER = shutil.which("prometheus-alertmanager") or shutil.which("alertmanager")
AMTOOL = shutil.which("amtool")
TOKEN_FILE_LINE = re.compile(r"^(\s*(?:-\s+)?)bot_token_file:\s*(\S+)\s*$", re.MULTILINE)


def render(out: Path, source: Path = ALERTMANAGER_DIR, **settings: str) -> subprocess.CompletedProcess:
    """Run render.sh with these ALERT_* settings (and nothing else of ours in the environment)."""
    env = {k: v for k, v in os.environ.items() if not k.startswith("ALERT_")}
    env.update(settings)
    return subprocess.run(["sh", str(source / "render.sh"), str(source), str(out)], env=env, capture_output=True,
                          text=True, timeout=30, check=False)


def for_debian_alertmanager(config: Path, token_files: dict[str, Path] | None = None) -> Path:
    """The rendered configuration as Alertmanager 0.25 takes it: each `bot_token_file: PATH` becomes
    `bot_token:` with the content of token_files[PATH] (a placeholder token when not given)."""
    def token(match: re.Match) -> str:
        path = (token_files or {}).get(match.group(2))
        value = path.read_text().strip() if path else "123456:placeholder-not-used"
        return f'{match.group(1)}bot_token: "{value}"'

    text, count = TOKEN_FILE_LINE.subn(token, config.read_text())
    assert count >= 1, "no bot_token_file in the configuration: the secret must come from a file"
    out = config.with_name("alertmanager-0.25.yml")
    out.touch(mode=0o600)
    out.write_text(text)
    return out


def amtool(*args: str) -> subprocess.CompletedProcess:
    return subprocess.run([AMTOOL, *args], capture_output=True, text=True, timeout=60, check=False)

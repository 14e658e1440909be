"""Helpers of the compose tests: .env.example filled in as an operator would, and the compose file
rendered by docker-compose."""

from __future__ import annotations

import shutil
import subprocess
from pathlib import Path

import pytest
import yaml

from tests.helpers.bot_harness import ROOT

COMPOSE = ROOT / "docker-compose.yml"



ENV_EXAMPLE = ROOT / ".env.example"



COMPOSE_CLI = shutil.which("docker-compose")



KBJU_SERVICES = ("migrate", "bot", "backup")



AGE_RECIPIENT = "age1ql3z7hjy54pw3hyww5ayyfg7zqgvc7w3j2elw8zmrj2kg5sfn9aqmcac8p"  # the age spec's example



def env_example() -> dict[str, str]:
    values = {}
    for line in ENV_EXAMPLE.read_text().splitlines():
        if line and not line.startswith("#"):
            name, _, value = line.partition("=")
            values[name] = value
    return values



def filled_env(tmp_path: Path) -> Path:
    """.env.example with the REQUIRED (empty) values filled in, as an operator would."""
    fill = {"WEBHOOK_URL": "https://bot.example.org/telegram/webhook", "BACKUP_ENCRYPT_TO": AGE_RECIPIENT}
    lines = []
    for name, value in env_example().items():
        if not value:
            value = fill.get(name, f"test-{name.lower().replace('_', '-')}-0123456789")
        lines.append(f"{name}={value}")
    path = tmp_path / ".env"
    path.write_text("\n".join(lines) + "\n")
    return path



def compose_config(env_file: Path) -> subprocess.CompletedProcess:
    return subprocess.run([COMPOSE_CLI, "-f", str(COMPOSE), "--env-file", str(env_file), "config"],
                          check=False, capture_output=True, text=True, timeout=60, cwd=ROOT)




def rendered_compose(tmp_path: Path) -> dict:
    """The compose file as docker-compose renders it with a filled-in .env (skips without docker-compose)."""
    if COMPOSE_CLI is None:
        pytest.skip("docker-compose missing: ./scripts/system-deps.sh installs it")
    done = compose_config(filled_env(tmp_path))
    assert done.returncode == 0, done.stderr
    return yaml.safe_load(done.stdout)

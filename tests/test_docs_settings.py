"""The README's settings table, .env.example and the docs say what the code reads, and agree."""

from __future__ import annotations

import re

from typer.main import get_command

from bot import secret_files
from bot.config import Settings
from kbjuctl.main import app
from tests.helpers.bot_harness import ROOT

README = (ROOT / "README.md").read_text(encoding="utf-8")
ENV_EXAMPLE = (ROOT / ".env.example").read_text(encoding="utf-8")
OPERATIONS = (ROOT / "docs" / "operations.md").read_text(encoding="utf-8")
SETTINGS = {name.upper() for name in Settings.model_fields}


def _readme_table() -> set[str]:
    table = README.split("| variable | meaning | default |", 1)[1].split("\n\n", 1)[0]
    return {name for row in table.splitlines()[2:] for name in re.findall(r"`([A-Z][A-Z0-9_]+)`", row.split("|")[1])}


def _cli_env_vars() -> set[str]:
    found: set[str] = set()

    def walk(command) -> None:
        for sub in getattr(command, "commands", {}).values():
            walk(sub)
        for param in command.params:
            envvar = getattr(param, "envvar", None)
            found.update([envvar] if isinstance(envvar, str) else envvar or [])

    walk(get_command(app))
    return found


def test_the_readme_table_lists_every_setting_and_nothing_else():
    """Every setting, plus the secret-file variants (bot.secret_files) and kbjuctl's own secrets."""
    secret_variants = {f"{name}_FILE" for name in secret_files.SECRETS} | set(secret_files.SECRETS)
    table = _readme_table()
    assert table >= SETTINGS, SETTINGS - table
    assert table - SETTINGS <= secret_variants | _cli_env_vars(), table - SETTINGS - secret_variants


def test_env_example_names_every_setting():
    named = set(re.findall(r"^#?\s*([A-Z][A-Z0-9_]+)(?:=|\s)", ENV_EXAMPLE, flags=re.MULTILINE))
    assert named >= SETTINGS, SETTINGS - named


def test_every_variable_kbjuctl_reads_is_in_the_readme():
    missing = {name for name in _cli_env_vars() if f"`{name}`" not in README}
    assert not missing, missing


def test_env_example_and_operations_agree_on_connections_per_replica():
    def headroom(text: str) -> set[tuple[int, int]]:
        """(connections per replica beside its pool: the /healthz one, connections beside the replicas)."""
        found = re.findall(r"replicas\s*[x×]\s*\(`?DB_POOL_MAX`?\s*\+\s*(\d+)\)\s*\+\s*(\d+)", text)
        return {(int(extra), int(rest)) for extra, rest in found}

    assert headroom(ENV_EXAMPLE) == headroom(OPERATIONS) == headroom(README) == {(1, 10)}

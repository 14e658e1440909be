"""Expand/contract: the previous release must keep working on the newest schema (a rolling upgrade
runs both on it). Every statement of the previous release's catalogue (sql/compat/) and of this
tree must PREPARE on a database with every migration applied; a migration that drops what the
previous release still uses fails here."""

from __future__ import annotations

import importlib
import json
import subprocess
import sys

import pytest

from bot.db.pool import Query
from kbjuctl import migrations
from kbjuctl.compat import catalogue
from kbjuctl.compat.check import check
from tests.helpers.bot_harness import ROOT
from tests.helpers.schemas import validated


def _this_tree() -> catalogue.Catalogue:
    return catalogue.collect(ROOT)


def _previous() -> catalogue.Catalogue:
    here = _this_tree()
    path = catalogue.previous_release(migrations.sql_dir(), here.version)
    assert path is not None, f"no catalogue in sql/compat/ for a release at or before {here.version}"
    return catalogue.read(path)


def test_the_previous_release_and_this_tree_run_on_the_newest_schema(database_url):
    previous, here = _previous(), _this_tree()
    assert previous.statements and here.statements
    assert check(database_url, previous) == []
    assert check(database_url, here) == []


def test_a_contract_migration_dropping_a_column_the_previous_release_uses_fails_the_check(database_url):
    """This tree no longer reads or writes conversations.prompt_message_id, v0.1.0 does: dropping it
    must wait for the release after the next one."""
    conn = psycopg_connect(database_url)
    conn.execute("ALTER TABLE conversations DROP COLUMN prompt_message_id")
    conn.close()
    broken = check(database_url, catalogue.read(catalogue.path_for(migrations.sql_dir(), "0.1.0")))
    names = {b.statement.name for b in broken}
    assert {"conversation_read", "conversation_commit_turn", "conversation_save", "conversation_get"} <= names
    assert all("prompt_message_id" in b.error for b in broken), [str(b) for b in broken]
    assert check(database_url, _this_tree()) == []  # this tree is already contracted


@pytest.mark.slow  # starts kbjuctl or another program
def test_the_command_names_the_broken_statements_and_exits_1(database_url):
    conn = psycopg_connect(database_url)
    conn.execute("ALTER TABLE conversations DROP COLUMN prompt_message_id")
    conn.close()
    result = subprocess.run([sys.executable, "-m", "kbjuctl", "db", "check-compat", "--database-url", database_url],
                            capture_output=True, text=True, timeout=60, check=False, cwd=ROOT)
    assert result.returncode == 1, result.stdout + result.stderr
    assert "conversation_commit_turn" in result.stdout and "prompt_message_id" in result.stdout
    assert "expand/contract" in " ".join(result.stderr.split())
    assert "Traceback" not in result.stderr
    as_json = subprocess.run([sys.executable, "-m", "kbjuctl", "db", "check-compat", "--json", "--database-url",
                              database_url], capture_output=True, text=True, timeout=60, check=False, cwd=ROOT)
    report = validated("db-check-compat", as_json.stdout)
    previous, here = report["catalogues"]
    assert not report["ok"] and previous["version"] == "0.1.0" and here["this_tree"] and not here["broken"]
    assert {b["statement"] for b in previous["broken"]} >= {"bot/db/conversations.py:conversation_commit_turn"}


def test_every_bot_query_is_in_the_catalogue_of_this_tree():
    """The catalogue reads the source, not the modules: it must not miss a statement the bot runs."""
    queries: dict[str, str] = {}
    for path in sorted((ROOT / "bot" / "db").glob("*.py")):
        module = importlib.import_module(f"bot.db.{path.stem}")
        queries.update({q.name: q.sql.strip() for q in vars(module).values() if isinstance(q, Query)})
    catalogued = {s.name: s.sql for s in _this_tree().statements if s.source.startswith("bot/db/")}
    assert queries and {name: catalogued.get(name) for name in queries} == queries


def test_psycopg_placeholders_become_numbered_ones():
    assert catalogue.numbered("SELECT %s, %(a)s, %(b)s, %(a)s, '100%%'") == "SELECT $1, $2, $3, $2, '100%'"
    assert catalogue.numbered("SELECT $1::int") == "SELECT $1::int"


def test_the_released_catalogue_holds_what_that_release_ran():
    data = json.loads(catalogue.path_for(migrations.sql_dir(), "0.1.0").read_text())
    assert data["version"] == "0.1.0" and data["revision"]
    by_name = {s["name"]: s["sql"] for s in data["statements"]}
    assert "prompt_message_id" in by_name["conversation_commit_turn"]  # v0.1.0 still wrote it


@pytest.mark.parametrize("version, older", [("0.10.0", "0.9.3"), ("1.0.0", "1.0.0.dev1"), ("0.2.0", "0.1.0")])
def test_release_versions_sort_by_number(version, older):
    assert catalogue.version_key(older) < catalogue.version_key(version)


def test_previous_release_is_the_newest_catalogue_not_newer_than_this_code(tmp_path):
    for version in ("0.1.0", "0.2.0", "0.10.0"):
        catalogue.Catalogue(version).write(catalogue.path_for(tmp_path, version))
    assert catalogue.previous_release(tmp_path, "0.2.0").stem == "0.2.0"
    assert catalogue.previous_release(tmp_path, "0.3.0.dev2").stem == "0.2.0"
    assert catalogue.previous_release(tmp_path, "0.10.1").stem == "0.10.0"
    assert catalogue.previous_release(tmp_path / "none", "0.1.0") is None


@pytest.mark.slow  # starts kbjuctl or another program
def test_a_catalogue_of_a_revision_is_made_from_git_history(tmp_path):
    if subprocess.run(["git", "-C", str(ROOT), "rev-parse", "HEAD"], capture_output=True, check=False).returncode:
        pytest.skip("not a git checkout")
    out = tmp_path / "head.json"
    result = subprocess.run([sys.executable, "-m", "kbjuctl", "db", "catalogue", "--rev", "HEAD", "--output", str(out)],
                            capture_output=True, text=True, timeout=60, check=False, cwd=ROOT)
    assert result.returncode == 0, result.stderr
    data = json.loads(out.read_text())
    assert len(data["revision"]) == 40 and data["statements"]
    bad = subprocess.run([sys.executable, "-m", "kbjuctl", "db", "catalogue", "--rev", "no-such-revision-x",
                          "--output", str(out)], capture_output=True, text=True, timeout=60, check=False, cwd=ROOT)
    assert bad.returncode == 2 and "no such revision" in bad.stderr and "Traceback" not in bad.stderr


def psycopg_connect(url: str):
    import psycopg

    return psycopg.connect(url, autocommit=True)


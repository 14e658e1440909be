"""kbjuctl as a whole: every --help complete, choices that are choices, destructive commands that ask
first, --dry-run wherever a command writes, and --json that matches its documented schema."""

from __future__ import annotations

import json
import re
import sqlite3
import subprocess
import sys
from pathlib import Path

import jsonschema
import psycopg
import pytest
from typer.main import get_command
from typer.testing import CliRunner

from kbjuctl import migrations
from kbjuctl.main import app
from kbjuctl.sqlite_migration.source import DEV_SCHEMA, SOURCE_KEY
from tests.helpers.bot_harness import ROOT, kbjuctl_env
from tests.helpers.terminal import Terminal

SCHEMAS = ROOT / "docs" / "schemas"
# Commands that report: each has --json and a schema in docs/schemas/.
REPORTING = {("db", "upgrade"), ("db", "downgrade"), ("db", "status"), ("db", "break-lock"),
             ("backup", "create"), ("backup", "verify"), ("backup", "restore"), ("backup", "list"),
             ("backup", "prune"), ("migrate-from-sqlite",), ("roles", "ensure-login"), ("loadtest",),
             ("backup", "reapply-erasures"), ("users", "export"), ("users", "erase"), ("stats",)}
# Commands that write: each has --dry-run. (backup verify only records its own verdict beside the
# backup; run serves the bot.)
WRITING = {("db", "upgrade"), ("db", "downgrade"), ("db", "break-lock"), ("backup", "create"),
           ("backup", "restore"), ("backup", "prune"), ("migrate-from-sqlite",), ("roles", "ensure-login"),
           ("loadtest",), ("backup", "reapply-erasures"), ("users", "erase")}
DESTRUCTIVE = {("db", "downgrade"), ("backup", "restore"), ("backup", "prune"), ("users", "erase")}
CHOICES = {("loadtest",): "--fault", ("migrate-from-sqlite",): "--on-conflict",
           ("roles", "ensure-login"): "--member-of"}


# Typer carries its own copy of click: its classes are not click's, so commands, options and
# choices are recognised by what they have.
def _commands(command, path: tuple[str, ...] = ()):
    if hasattr(command, "commands"):
        for name, sub in command.commands.items():
            yield from _commands(sub, (*path, name))
    else:
        yield path, command


COMMANDS = dict(_commands(get_command(app)))


def _help(path: tuple[str, ...]) -> str:
    """--help as kbjuctl prints it, on a terminal wide enough that nothing wraps."""
    result = CliRunner().invoke(app, [*path, "--help"], terminal_width=10_000, max_content_width=10_000)
    assert result.exit_code == 0, result.output
    return result.output


def _choices(option) -> tuple[str, ...]:
    """The values of a choice option (older Typer: click's Choice type; newer: its type descriptor)."""
    descriptor = getattr(option, "type_descriptor", None)
    found = getattr(getattr(option, "type", None), "choices", None) or getattr(descriptor, "choices", None)
    return tuple(str(getattr(c, "value", c)) for c in found or ())


def _options(command) -> list:
    return [p for p in command.params if p.param_type_name == "option" and p.name != "help"]


def test_the_walk_finds_every_command():
    assert set(COMMANDS) >= REPORTING | WRITING | {("run",)}


@pytest.mark.parametrize("path", sorted(COMMANDS), ids=" ".join)
def test_help_shows_every_option_whole_with_its_env_var_default_and_choices(path):
    """Nothing of a help text is swallowed (rich markup took "[env: ...]" away), every environment
    variable and every default is shown, a choice lists its values."""
    shown = _help(path)
    # One record per option (nothing wraps; a long option name puts its help on the next line).
    listed = re.split(r"\n(?=  -)", shown.split("\nOptions:\n", 1)[-1])
    for option in _options(COMMANDS[path]):
        line = next((" ".join(rec.split()) for rec in listed
                     if re.match(rf"\s*(-\w, )?{re.escape(option.opts[-1])}\b", rec)), None)
        assert line is not None, f"{option.opts} missing from `kbjuctl {' '.join(path)} --help`:\n{shown}"
        assert " ".join((option.help or "").split()) in line, (option.help, line)
        assert "[env" not in (option.help or ""), f"{option.opts}: give envvar=, not the name in the help text"
        for var in [option.envvar] if isinstance(option.envvar, str) else option.envvar or []:
            assert f"env var: {var}" in line, line
        if option.show_default is not False and not option.is_flag and option.default is not None:
            assert "default: " in line, line
        if isinstance(option.show_default, str):
            assert option.show_default in line, line
        assert all(choice in line for choice in _choices(option)), line


@pytest.mark.parametrize(("path", "name"), sorted(CHOICES.items()), ids=lambda v: " ".join(v) if isinstance(v, tuple)
                         else v)
def test_choice_options_are_choices(path, name):
    option = next(o for o in _options(COMMANDS[path]) if name in o.opts)
    assert len(_choices(option)) >= 2
    refused = CliRunner().invoke(app, [*path, name, "nonsense"])
    assert refused.exit_code == 2 and "nonsense" in refused.output


def test_commands_that_report_have_json_and_a_schema_and_those_that_write_have_dry_run():
    for path, command in COMMANDS.items():
        flags = {opt for o in _options(command) for opt in o.opts}
        if path in REPORTING:
            assert "--json" in flags, path
        if "--json" in flags:
            schema = SCHEMAS / f"{'-'.join(path)}.schema.json"
            assert schema.is_file(), f"{schema} documents `kbjuctl {' '.join(path)} --json`"
            jsonschema.Draft202012Validator.check_schema(json.loads(schema.read_text()))
        if path in WRITING:
            assert "--dry-run" in flags, path
        if path in DESTRUCTIVE:
            assert "--yes" in flags, path


def _validated(path: tuple[str, ...], stdout: str) -> dict:
    data = json.loads(stdout)
    schema = json.loads((SCHEMAS / f"{'-'.join(path)}.schema.json").read_text())
    jsonschema.Draft202012Validator(schema, format_checker=jsonschema.FormatChecker()).validate(data)
    return data


def kbjuctl(*args: str, stdin: str | None = None, **env: str) -> subprocess.CompletedProcess:
    """A separate `kbjuctl` process; stdin is never a terminal here."""
    return subprocess.run([sys.executable, "-m", "kbjuctl", *args], cwd=ROOT, env=kbjuctl_env(**env), text=True,
                          input=stdin or "", capture_output=True, timeout=120, check=False)


@pytest.mark.slow  # starts kbjuctl or another program
def test_db_json_reports_match_their_schemas_with_iso_times(empty_database_url):
    url = empty_database_url
    planned = _validated(("db", "upgrade"),
                         kbjuctl("db", "upgrade", "--dry-run", "--json", "--database-url", url).stdout)
    assert planned["dry_run"] and planned["migrations"] and not migrations.status(url)[0].applied
    applied = _validated(("db", "upgrade"), kbjuctl("db", "upgrade", "--json", "--database-url", url).stdout)
    assert [m["id"] for m in applied["migrations"]] == [m["id"] for m in planned["migrations"]]
    assert all(m["applied"] and m["applied_at"].endswith("+00:00") for m in applied["migrations"])
    status = _validated(("db", "status"), kbjuctl("db", "status", "--json", "--database-url", url).stdout)
    assert status["pending"] == 0 and status["applied"] == len(applied["migrations"])
    dry = _validated(("db", "downgrade"),
                     kbjuctl("db", "downgrade", "--dry-run", "--json", "--database-url", url).stdout)
    assert [m["id"] for m in dry["migrations"]] == [applied["migrations"][-1]["id"]] and dry["finished_at"] is None
    assert all(m.applied for m in migrations.status(url))
    lock = _validated(("db", "break-lock"), kbjuctl("db", "break-lock", "--json", "--database-url", url).stdout)
    assert lock["lock"] is None
    down = kbjuctl("db", "downgrade", "--steps", "2", "--yes", "--json", "--database-url", url)
    assert down.returncode == 0, down.stderr
    assert len(_validated(("db", "downgrade"), down.stdout)["migrations"]) == 2
    assert [m.applied for m in migrations.status(url)][-2:] == [False, False]


@pytest.mark.slow  # starts kbjuctl or another program
def test_a_destructive_command_without_a_terminal_and_without_yes_refuses(database_url, tmp_path):
    before = [m.applied for m in migrations.status(database_url)]
    refused = kbjuctl("db", "downgrade", "--all", "--database-url", database_url)
    assert refused.returncode == 2, refused.stderr
    assert "--yes" in refused.stderr and "no terminal" in refused.stderr and "Traceback" not in refused.stderr
    assert "0001.initial" in refused.stderr  # the plan was shown: exactly what would be rolled back
    assert [m.applied for m in migrations.status(database_url)] == before

    created = kbjuctl("backup", "create", "--dir", str(tmp_path), "--database-url", database_url)
    backup = created.stdout.strip().splitlines()[-1]
    refused = kbjuctl("backup", "restore", backup, "--force", "--database-url", database_url)
    assert refused.returncode == 2 and "--yes" in refused.stderr and "users" in refused.stderr, refused.stderr
    restored = kbjuctl("backup", "restore", backup, "--force", "--yes", "--json", "--database-url", database_url)
    assert restored.returncode == 0, restored.stderr
    assert _validated(("backup", "restore"), restored.stdout)["replaced_tables"]

    kbjuctl("backup", "create", "--dir", str(tmp_path), "--database-url", database_url)
    refused = kbjuctl("backup", "prune", "--keep-last", "1", "--dir", str(tmp_path))
    assert refused.returncode == 2 and "delete " + backup in refused.stderr, refused.stderr
    assert Path(backup).is_dir()
    pruned = kbjuctl("backup", "prune", "--keep-last", "1", "--dir", str(tmp_path), "--yes", "--json")
    assert _validated(("backup", "prune"), pruned.stdout)["delete"] == [backup] and not Path(backup).exists()


def test_on_a_terminal_the_plan_is_shown_and_no_means_nothing_is_done(database_url, tmp_path):
    before = [m.applied for m in migrations.status(database_url)]
    args = ["db", "downgrade", "--all", "--database-url", database_url]
    term = Terminal(args, ROOT, kbjuctl_env())
    try:
        plan = term.expect("Go ahead? [y/N]:")
        assert "0001.initial" in plan and "dropped" in plan
        term.type("n")
        term.wait(timeout=60)
        assert term.exit_code == 1 and "Nothing was changed." in term.text, term.text
    finally:
        term.kill()
    assert [m.applied for m in migrations.status(database_url)] == before
    term = Terminal(args, ROOT, kbjuctl_env())
    try:
        term.expect("Go ahead? [y/N]:")
        term.type("y")
        term.wait(timeout=60)
        assert term.exit_code == 0 and "Rolled back" in term.text, term.text
    finally:
        term.kill()
    assert not any(m.applied for m in migrations.status(database_url))


@pytest.mark.slow  # starts kbjuctl or another program
def test_backup_dry_runs_write_nothing(database_url, tmp_path):
    target = tmp_path / "backups"
    planned = kbjuctl("backup", "create", "--dry-run", "--json", "--dir", str(target), "--database-url", database_url)
    assert planned.returncode == 0, planned.stderr
    assert "users" in _validated(("backup", "create"), planned.stdout)["estimated_rows"] and not target.exists()
    created = kbjuctl("backup", "create", "--json", "--dir", str(target), "--database-url", database_url)
    backup = _validated(("backup", "create"), created.stdout)["path"]
    listed = kbjuctl("backup", "list", "--json", "--dir", str(target))
    assert _validated(("backup", "list"), listed.stdout)["backups"][0]["path"] == backup
    verified = kbjuctl("backup", "verify", backup, "--json")
    assert _validated(("backup", "verify"), verified.stdout)["ok"]
    with psycopg.connect(database_url, autocommit=True) as conn:
        conn.execute("INSERT INTO users (telegram_id, first_name) VALUES (42, 'Анна')")
    dry = kbjuctl("backup", "restore", backup, "--force", "--dry-run", "--json", "--database-url", database_url)
    assert dry.returncode == 0, dry.stderr
    assert _validated(("backup", "restore"), dry.stdout)["dry_run"]
    with psycopg.connect(database_url) as conn:
        assert conn.execute("SELECT count(*) FROM users").fetchone()[0] == 1  # not replaced


@pytest.mark.slow  # starts kbjuctl or another program
def test_backup_dir_comes_from_the_environment(tmp_path):
    listed = kbjuctl("backup", "list", "--json", BACKUP_DIR=str(tmp_path / "nowhere"))
    assert listed.returncode == 0 and json.loads(listed.stdout) == {"backups": [], "leftovers": [], "skipped": {}}


def _dev_sqlite(path: Path) -> Path:
    """A tiny database in the DEV bot's schema: one user with one record."""
    with sqlite3.connect(path) as conn:
        for table, columns in DEV_SCHEMA.items():
            defs = ", ".join(f"{name} {type_}" + (" NOT NULL" if name == SOURCE_KEY[table] else "")
                             for name, type_ in columns)
            conn.execute(f"CREATE TABLE {table} ({defs}, PRIMARY KEY ({SOURCE_KEY[table]}))")
        conn.execute("INSERT INTO users VALUES (1, 'anna', 'Анна', 'Петрова', 'female', '1990-01-02', "
                     "'2024-05-01 10:00:00')")
        conn.execute("INSERT INTO user_records VALUES (1, 1, '2024-05-01', 60.5, 70, 32, 96, 165, 'lean', "
                     "'0-3000', 'yoga', '1-2', 1.1, 25.3)")
    return path


@pytest.mark.slow  # starts kbjuctl or another program
def test_migrate_and_roles_json_match_their_schemas(database_url, tmp_path, pg_admin_url):
    source = _dev_sqlite(tmp_path / "kbju_bot.db")
    dry = kbjuctl("migrate-from-sqlite", str(source), "--dry-run", "--json", "--database-url", database_url)
    assert dry.returncode == 0, dry.stderr
    assert _validated(("migrate-from-sqlite",), dry.stdout)["status"] == "dry_run"
    done = kbjuctl("migrate-from-sqlite", str(source), "--json", "--on-conflict", "skip",
                   "--database-url", database_url)
    assert done.returncode == 0, done.stderr
    report = _validated(("migrate-from-sqlite",), done.stdout)
    assert report["status"] == "migrated" and report["counts"]["user_records"]["migrated"] == 1
    name = "kbju_cli_t_login"
    try:
        planned = kbjuctl("roles", "ensure-login", name, "--member-of", "kbju_bot", "--dry-run", "--json",
                          "--database-url", database_url, ROLE_PASSWORD="p" * 24)
        assert planned.returncode == 0, planned.stderr
        assert _validated(("roles", "ensure-login"), planned.stdout) == {
            "name": name, "member_of": "kbju_bot", "created": True, "group_created": False, "dry_run": True}
        assert "p" * 24 not in planned.stdout + planned.stderr
    finally:
        with psycopg.connect(pg_admin_url, autocommit=True) as conn:
            conn.execute(f"DROP ROLE IF EXISTS {name}")


@pytest.mark.slow  # starts kbjuctl or another program
def test_loadtest_dry_run_checks_the_plan_and_masks_the_password(tmp_path):
    planned = kbjuctl("loadtest", "--dry-run", "--json", "--target", "http://127.0.0.1:9", "--fault", "flood",
                      "--database-url", "postgresql://bot:s3cret-pw@127.0.0.1/kbju", "--report", str(tmp_path / "r"))
    assert planned.returncode == 0, planned.stderr
    data = _validated(("loadtest",), planned.stdout)
    assert data["plan"]["fault"] == "flood" and "s3cret-pw" not in planned.stdout
    assert not (tmp_path / "r").exists()


def test_missing_locust_names_the_extra_to_install(monkeypatch, tmp_path):
    from kbjuctl.errors import OperationFailed
    from kbjuctl.loadtest import locustrun

    monkeypatch.setattr(sys, "executable", str(tmp_path / "python"))
    monkeypatch.setenv("PATH", str(tmp_path))
    with pytest.raises(OperationFailed, match=re.escape("pip install 'kbju-platform[loadtest]'")):
        locustrun.locust_command()


@pytest.mark.slow  # starts kbjuctl or another program
def test_run_takes_database_url_like_every_database_command(tmp_path):
    token = "123456789:AAEhBP0av28Sn3N9sRgFwhyUbmEr0qJ4hQk"
    refused = kbjuctl("run", "--database-url", "mysql://nope", BOT_TOKEN=token)
    assert refused.returncode == 2 and "DATABASE_URL" in refused.stderr and "Traceback" not in refused.stderr

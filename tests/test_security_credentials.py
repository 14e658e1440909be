"""Database credentials stay out of process lists, messages and logs, in every form libpq accepts.

The forms: the URL's userinfo (user:PASSWORD@), the password= query parameter, both in a URL naming
several hosts, and a password whose percent-encoding is broken (libpq's parser quotes it back in
its own error). Each command that takes --database-url is run against an address nothing listens
on, so it fails, and what it prints must not hold the secret in any spelling.
"""

from __future__ import annotations

import io
import logging
import os
import sqlite3
import stat
import subprocess
import sys
from pathlib import Path

import pytest

from bot import logging as bot_logging
from kbjuctl import dburl
from kbjuctl.backup import tools
from tests.helpers.bot_harness import TOKEN, kbjuctl_env
from tests.helpers.secrets import SECRET, leaked, with_password

UNREACHABLE = "127.0.0.1:1"
FORMS = {
    "userinfo": f"postgresql://kbju:{SECRET}@{UNREACHABLE}/kbju",
    "query": f"postgresql://kbju@{UNREACHABLE}/kbju?password={SECRET}&connect_timeout=3",
    "encoded-query": f"postgresql://kbju@{UNREACHABLE}/kbju?password=Zq7%53ecret4Pw",
    "multi-host": f"postgresql://kbju:{SECRET}@{UNREACHABLE},127.0.0.1:2/kbju?target_session_attrs=read-write",
    "multi-host-query": f"postgresql://kbju@{UNREACHABLE},127.0.0.1:2/kbju?target_session_attrs=read-write"
                        f"&password={SECRET}",
    "broken-encoding": "postgresql://kbju:Zq7%ZZSecret4Pw@127.0.0.1:1/kbju",
}


def kbjuctl(args: list[str], env: dict[str, str] | None = None, timeout: float = 120) -> subprocess.CompletedProcess:
    return subprocess.run([sys.executable, "-m", "kbjuctl", *args], capture_output=True, text=True, check=False,
                          timeout=timeout, env=kbjuctl_env(**(env or {})), stdin=subprocess.DEVNULL)


@pytest.fixture(scope="module")
def backup_folder(tmp_path_factory, pg_admin_url, migrated_template) -> Path:
    from kbjuctl import localpg
    from kbjuctl.backup import create_backup

    name = localpg.unique_name("kbju_cred")
    url = localpg.create_database(pg_admin_url, name, template=migrated_template)
    try:
        return create_backup(url, tmp_path_factory.mktemp("backups")).path
    finally:
        localpg.drop_database(pg_admin_url, name)


@pytest.fixture(scope="module")
def sqlite_file(tmp_path_factory) -> Path:
    path = tmp_path_factory.mktemp("sqlite") / "old.db"
    sqlite3.connect(path).close()
    return path


COMMANDS = {
    "db status": lambda ctx: ["db", "status"],
    "db upgrade": lambda ctx: ["db", "upgrade"],
    "backup create": lambda ctx: ["backup", "create", "--dir", str(ctx["tmp"])],
    "backup verify --deep": lambda ctx: ["backup", "verify", str(ctx["backup"]), "--deep"],
    "backup restore": lambda ctx: ["backup", "restore", str(ctx["backup"])],
    "roles ensure-login": lambda ctx: ["roles", "ensure-login", "kbju_probe", "--member-of", "kbju_bot"],
    "migrate-from-sqlite": lambda ctx: ["migrate-from-sqlite", str(ctx["sqlite"])],
    "run": lambda ctx: ["run"],
}


@pytest.mark.parametrize("form", FORMS)
@pytest.mark.parametrize("command", COMMANDS)
def test_no_credential_form_reaches_a_message(command, form, tmp_path, backup_folder, sqlite_file):
    args = COMMANDS[command]({"tmp": tmp_path, "backup": backup_folder, "sqlite": sqlite_file})
    env = {"DATABASE_URL": FORMS[form], "ROLE_PASSWORD": "a-long-enough-role-password-0123"}
    if command == "run":
        env["BOT_TOKEN"] = TOKEN
    done = kbjuctl(args, env)
    output = done.stdout + done.stderr
    assert done.returncode != 0, output
    assert not leaked(output), output
    assert "Traceback" not in output, output


def test_redact_masks_every_form_and_keeps_the_rest():
    for url in FORMS.values():
        shown = dburl.redact(url)
        assert not leaked(shown), shown
        assert "kbju" in shown and "127.0.0.1" in shown
    assert dburl.redact("postgresql://kbju@h/db?sslmode=verify-full&password=x") \
        == "postgresql://kbju@h/db?sslmode=verify-full&password=***"
    assert dburl.redact("postgresql://kbju@h/db") == "postgresql://kbju@h/db"
    keywords = "host=h user=kbju password='Zq7 Secret4Pw' dbname=x"
    assert dburl.redact(keywords) == "host=h user=kbju password=*** dbname=x"
    assert not leaked(dburl.redact("postgresql://[::1:kbju:Zq7Secret4Pw@h/db"))


def test_logs_mask_urls_with_passwords_at_every_level():
    stream = io.StringIO()
    root = logging.getLogger()
    saved = root.handlers[:], root.level
    root.handlers[:] = []
    try:
        bot_logging.setup("DEBUG", "text", stream=stream)
        log = logging.getLogger("kbjuctl.test")  # our own: its DEBUG lines are kept
        for url in FORMS.values():
            log.debug("connecting to %s", url)
            log.error("failed: %s", ValueError(f"bad {url}"))
        log.info("dsn host=h password=%s user=u", SECRET)
    finally:
        for handler in root.handlers:
            handler.close()
        root.handlers[:], level = saved
        root.setLevel(level)
    assert stream.getvalue().count("connecting to") == len(FORMS)
    assert not leaked(stream.getvalue()), stream.getvalue()


# --- the process list -------------------------------------------------------------------------


def spy_tools(folder: Path, log: Path, major: int) -> None:
    """pg_dump, pg_restore and psql that write their own /proc/<pid>/cmdline, read while they run,
    to `log`, then become the real tool (exec: same process, same arguments)."""
    folder.mkdir()
    for name in ("pg_dump", "pg_restore", "psql"):
        real = tools.pick(name, major, "the test server")
        script = folder / name
        script.write_text(f"#!/bin/sh\ntr '\\000' ' ' < /proc/$$/cmdline >> '{log}'\necho >> '{log}'\n"
                          f"exec '{real.path}' \"$@\"\n")
        script.chmod(script.stat().st_mode | stat.S_IXUSR)


def test_pg_tools_never_get_the_password_on_their_command_line(database_url, empty_database_url, pg_admin_url,
                                                               tmp_path):
    import psycopg

    with psycopg.connect(pg_admin_url) as conn:
        major = conn.info.server_version // 10000
    log = tmp_path / "cmdlines.txt"
    spy_tools(tmp_path / "bin", log, major)
    env = {"KBJU_PG_BINDIR": str(tmp_path / "bin")}
    source = with_password(database_url, SECRET)
    created = kbjuctl(["backup", "create", "--dir", str(tmp_path / "backups"), "--database-url", source], env)
    assert created.returncode == 0, created.stderr
    path = created.stdout.strip().splitlines()[-1]
    deep = kbjuctl(["backup", "verify", path, "--deep", "--database-url", with_password(pg_admin_url, SECRET)], env)
    assert deep.returncode == 0, deep.stderr
    target = empty_database_url + ("&" if "?" in empty_database_url else "?") + f"password={SECRET}"
    restored = kbjuctl(["backup", "restore", path, "--database-url", target], env)
    assert restored.returncode == 0, restored.stderr
    cmdlines = log.read_text()
    assert "--format=custom" in cmdlines and "pg_restore" in cmdlines  # the spies saw the real work
    assert not leaked(cmdlines), cmdlines
    assert not leaked(created.stdout + created.stderr + deep.stdout + deep.stderr + restored.stdout + restored.stderr)


def test_the_child_environment_carries_the_password_only_to_the_child():
    child_url, env = dburl.for_child(f"postgresql://u:{SECRET}@h:5432,h2:5433/db?sslmode=verify-full")
    assert not leaked(child_url) and env["PGPASSWORD"] == SECRET
    assert "h" in child_url and "verify-full" in child_url
    assert "PGPASSWORD" not in os.environ
    query_url, env = dburl.for_child("postgresql://u@h/db?password=Zq7%53ecret4Pw")
    assert env["PGPASSWORD"] == SECRET and not leaked(query_url)
    plain, env = dburl.for_child("postgresql://u@h/db")
    assert plain == "postgresql://u@h/db" and "PGPASSWORD" not in env


def test_a_password_given_on_kbjuctls_own_command_line_is_warned_about():
    """kbjuctl's own argv is as public as pg_dump's: it says so, and how to give the password instead."""
    done = kbjuctl(["db", "status", "--database-url", FORMS["userinfo"]])
    assert "process list" in done.stderr and "DATABASE_URL" in done.stderr and not leaked(done.stderr)
    quiet = kbjuctl(["db", "status"], {"DATABASE_URL": FORMS["userinfo"]})
    assert "process list" not in quiet.stderr

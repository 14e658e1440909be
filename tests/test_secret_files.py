"""Secrets from files (X_FILE), the Docker and Kubernetes convention, for the bot and every kbjuctl command.

The database tests run against a PostgreSQL of their own that checks passwords (scram-sha-256): the
suite's server trusts every local connection, so it could not tell a password that arrived from
one that did not.
"""

from __future__ import annotations

import os
import secrets
import shutil
import subprocess
import sys
from pathlib import Path
from urllib.parse import quote

import asyncpg
import psycopg
import pytest

from bot import secret_files
from bot.config import ConfigError, load_settings
from kbjuctl import localpg
from kbjuctl.backup import tools
from tests.helpers.bot_harness import ROOT

TOKEN = "123456789:AAEhBP0av28Sn3N9sRgFwhyUbmEr0qJ4hQk"
CLEARED = ("BOT_", "DATABASE_", "TELEGRAM_", "WEBHOOK_", "METRICS_", "PG", "KBJU_TEST_ROLE")


@pytest.fixture(autouse=True)
def clean_env(monkeypatch, tmp_path):
    """No secret of the suite's environment, and none this test resolves into it, outlives the test."""
    saved = dict(os.environ)
    for name in list(os.environ):
        if name.startswith(CLEARED):
            monkeypatch.delenv(name, raising=False)
    monkeypatch.chdir(tmp_path)  # no stray .env is read
    yield
    os.environ.clear()
    os.environ.update(saved)


def secret_file(folder: Path, name: str, content: str) -> Path:
    path = folder / name
    path.write_text(content)
    return path


def kbjuctl(args: list[str], **env: str) -> subprocess.CompletedProcess:
    base = {k: v for k, v in os.environ.items() if not k.startswith(CLEARED)}
    return subprocess.run([sys.executable, "-m", "kbjuctl", *args], capture_output=True, text=True, timeout=120,
                          check=False, cwd=ROOT, env={**base, **env})


# --- the mechanism -------------------------------------------------------------------------------

def test_the_bot_reads_its_token_and_webhook_secret_from_files_without_the_trailing_newline(monkeypatch, tmp_path):
    monkeypatch.setenv("BOT_TOKEN_FILE", str(secret_file(tmp_path, "token", TOKEN + "\n")))
    monkeypatch.setenv("WEBHOOK_SECRET_FILE", str(secret_file(tmp_path, "hook", "s3cret_value-1\r\n")))
    monkeypatch.setenv("DATABASE_URL_FILE", str(secret_file(tmp_path, "url", "postgresql://bot:pw@db:5432/kbju\n")))
    settings = load_settings()
    assert settings.bot_token.get_secret_value() == TOKEN
    assert settings.webhook_secret.get_secret_value() == "s3cret_value-1"
    assert settings.database_url == "postgresql://bot:pw@db:5432/kbju"


@pytest.mark.parametrize(("kind", "expected"), [("missing", "does not exist"), ("folder", "is a folder"),
                                                ("empty", "is empty"), ("binary", "is not UTF-8 text"),
                                                ("huge", "is larger than 64 KiB")])
def test_a_bad_file_is_a_configuration_error_naming_the_variable_and_never_the_content(monkeypatch, tmp_path,
                                                                                      kind, expected):
    path = tmp_path / "secret"
    if kind == "folder":
        path.mkdir()
    elif kind == "empty":
        path.write_text("\n")
    elif kind == "binary":
        path.write_bytes(b"\xff\xfe" + TOKEN.encode())
    elif kind == "huge":
        path.write_text(TOKEN * 3000)
    monkeypatch.setenv("BOT_TOKEN_FILE", str(path))
    with pytest.raises(ConfigError) as info:
        load_settings()
    message = str(info.value)
    assert f"BOT_TOKEN_FILE: {path} {expected}" in message and TOKEN not in message and "AAEh" not in message


@pytest.mark.skipif(os.geteuid() == 0, reason="root reads every file: no permission error to see")
def test_an_unreadable_file_says_so(monkeypatch, tmp_path):
    path = secret_file(tmp_path, "token", TOKEN)
    path.chmod(0)
    monkeypatch.setenv("BOT_TOKEN_FILE", str(path))
    with pytest.raises(ConfigError, match="BOT_TOKEN_FILE: .* permission denied"):
        load_settings()


def test_a_secret_given_twice_with_different_values_is_refused_and_every_problem_is_named(monkeypatch, tmp_path):
    monkeypatch.setenv("BOT_TOKEN", TOKEN)
    monkeypatch.setenv("BOT_TOKEN_FILE", str(secret_file(tmp_path, "token", TOKEN.replace("A", "B"))))
    monkeypatch.setenv("WEBHOOK_SECRET_FILE", str(tmp_path / "absent"))
    with pytest.raises(ConfigError) as info:
        load_settings()
    message = str(info.value)
    assert "BOT_TOKEN: set either BOT_TOKEN or BOT_TOKEN_FILE, not both" in message
    assert "WEBHOOK_SECRET_FILE:" in message and TOKEN not in message


def test_a_file_content_is_validated_like_the_variable(monkeypatch, tmp_path):
    monkeypatch.setenv("BOT_TOKEN_FILE", str(secret_file(tmp_path, "token", "not-a-token\n")))
    with pytest.raises(ConfigError, match="BOT_TOKEN: expected a token"):
        load_settings()


def test_kbjuctl_exits_2_naming_the_file_variable(tmp_path):
    result = kbjuctl(["db", "status"], DATABASE_URL_FILE=str(tmp_path / "absent"))
    assert result.returncode == 2
    assert "DATABASE_URL_FILE" in result.stderr and "does not exist" in result.stderr
    assert "Traceback" not in result.stderr


def test_resolving_twice_is_harmless(tmp_path):
    environ = {"DATABASE_PASSWORD_FILE": str(secret_file(tmp_path, "pw", "pw-1\n")),
               "BOT_TOKEN_FILE": str(secret_file(tmp_path, "token", TOKEN))}
    secret_files.resolve(environ)
    secret_files.resolve(environ)
    assert environ["PGPASSWORD"] == "pw-1" and environ["BOT_TOKEN"] == TOKEN


# --- the database password, against a server that checks it ----------------------------------------

@pytest.fixture(scope="module")
def scram_server(tmp_path_factory):
    """(URL without a password, the password) of an embedded PostgreSQL that demands scram-sha-256."""
    data_dir = tmp_path_factory.mktemp("scram-pg")
    admin = localpg.embedded_admin_url(data_dir)
    password = secrets.token_urlsafe(18)
    # pgserver's URL carries an empty password (postgres:@): without one, as an operator's would be.
    url = localpg.create_database(admin, "kbju_scram").replace("postgresql://postgres:@", "postgresql://postgres@", 1)
    with psycopg.connect(admin, autocommit=True) as conn:
        conn.execute("SET password_encryption = 'scram-sha-256'")
        conn.execute(f"ALTER ROLE postgres PASSWORD '{password}'")
        hba = Path(conn.execute("SHOW hba_file").fetchone()[0])
        hba.write_text("local all all scram-sha-256\nhost all all 127.0.0.1/32 scram-sha-256\n")
        conn.execute("SELECT pg_reload_conf()")
    yield url, password
    localpg.stop_embedded(data_dir)
    shutil.rmtree(localpg.real_embedded_dir(data_dir), ignore_errors=True)


def test_the_server_really_checks_passwords(scram_server):
    url, _password = scram_server
    result = kbjuctl(["db", "status"], DATABASE_URL=url)
    assert result.returncode != 0 and "password" in result.stderr.lower()


def test_database_password_file_completes_a_url_without_one_for_migrations_and_the_bots_pool(scram_server,
                                                                                             tmp_path, monkeypatch):
    url, password = scram_server
    password_file = secret_file(tmp_path, "db_password", password + "\n")
    result = kbjuctl(["db", "upgrade"], DATABASE_URL=url, DATABASE_PASSWORD_FILE=str(password_file))
    assert result.returncode == 0, result.stderr
    assert password not in result.stdout + result.stderr

    monkeypatch.setenv("DATABASE_PASSWORD_FILE", str(password_file))
    secret_files.resolve()

    async def bot_connects() -> int:  # asyncpg, as bot.db.pool opens it
        conn = await asyncpg.connect(url)
        try:
            return await conn.fetchval("SELECT count(*) FROM _yoyo_migration")
        finally:
            await conn.close()

    import asyncio

    assert asyncio.run(bot_connects()) > 0


def test_a_libpq_passfile_works_as_is(scram_server, tmp_path):
    url, password = scram_server
    passfile = secret_file(tmp_path, "pgpass", f"*:*:*:postgres:{password}\n")
    passfile.chmod(0o600)
    result = kbjuctl(["db", "status", "--json"], DATABASE_URL=url, PGPASSFILE=str(passfile))
    assert result.returncode == 0, result.stderr


def test_a_role_password_comes_from_its_file_too(scram_server, tmp_path):
    url, password = scram_server
    kbjuctl(["db", "upgrade"], DATABASE_URL=url, PGPASSWORD=password)
    role_password = secrets.token_urlsafe(24)
    result = kbjuctl(["roles", "ensure-login", "kbju_bot_file", "--member-of", "kbju_bot",
                      "--password-env", "KBJU_TEST_ROLE_PASSWORD"],
                     DATABASE_URL=url, DATABASE_PASSWORD_FILE=str(secret_file(tmp_path, "pw", password)),
                     KBJU_TEST_ROLE_PASSWORD_FILE=str(secret_file(tmp_path, "role", role_password + "\n")))
    assert result.returncode == 0, result.stderr
    as_bot = url.replace("postgresql://postgres", f"postgresql://kbju_bot_file:{quote(role_password)}", 1)
    with psycopg.connect(as_bot) as conn:
        assert conn.execute("SELECT current_user").fetchone() == ("kbju_bot_file",)


def test_backups_take_the_url_from_a_file_and_never_put_the_password_on_a_command_line(scram_server, tmp_path):
    """pg_dump runs behind a shim that records its arguments: the process list never shows the password."""
    url, password = scram_server
    real = next(t for t in tools.found("pg_dump", tools.search_dirs()) if t.major >= 16)
    shim_dir, record = tmp_path / "bin", tmp_path / "argv"
    shim_dir.mkdir()
    shim = shim_dir / "pg_dump"
    shim.write_text(f'#!/bin/sh\necho "$@" >> "{record}"\nexec "{real.path}" "$@"\n')
    shim.chmod(0o755)
    with_password = url.replace("postgresql://postgres", f"postgresql://postgres:{quote(password)}", 1)
    kbjuctl(["db", "upgrade"], DATABASE_URL=with_password)
    result = kbjuctl(["backup", "create", "--dir", str(tmp_path / "backups")],
                     DATABASE_URL_FILE=str(secret_file(tmp_path, "url", with_password + "\n")),
                     KBJU_PG_BINDIR=str(shim_dir))
    assert result.returncode == 0, result.stderr
    argv = record.read_text()
    assert "--snapshot=" in argv and password not in argv and quote(password) not in argv
    assert password not in result.stdout + result.stderr

"""Configuration is validated once, and every bad setting is named with what is expected."""

from __future__ import annotations

import os
import subprocess
import sys

import pytest

from bot.config import ConfigError, load_settings

TOKEN = "123456789:AAEhBP0av28Sn3N9sRgFwhyUbmEr0qJ4hQk"


@pytest.fixture(autouse=True)
def clean_env(monkeypatch, tmp_path):
    for name in list(os.environ):
        if name.startswith(("BOT_", "DATABASE_", "TELEGRAM_", "WEBHOOK_", "METRICS_", "CONSULTATION_", "LOG_",
                            "DB_", "FUNNEL_", "CONCURRENT_", "BACKUP_")):
            monkeypatch.delenv(name, raising=False)
    monkeypatch.chdir(tmp_path)  # no stray .env is read


def test_defaults_are_valid_without_any_environment():
    settings = load_settings()
    assert settings.bot_token is None and settings.database_url is None
    assert settings.telegram_api_url == "https://api.telegram.org"


def test_every_bad_setting_is_named_in_one_message(monkeypatch):
    monkeypatch.setenv("BOT_TOKEN", "not-a-token")
    monkeypatch.setenv("DATABASE_URL", "mysql://root@db/kbju")
    monkeypatch.setenv("TELEGRAM_API_URL", "ftp://api")
    monkeypatch.setenv("WEBHOOK_PORT", "70000")
    monkeypatch.setenv("LOG_LEVEL", "LOUD")
    with pytest.raises(ConfigError) as info:
        load_settings()
    message = str(info.value)
    for name in ("BOT_TOKEN", "DATABASE_URL", "TELEGRAM_API_URL", "WEBHOOK_PORT", "LOG_LEVEL"):
        assert name in message
    assert "@BotFather" in message and "postgresql://" in message


def test_a_bad_token_is_never_echoed(monkeypatch):
    secret = "123:sh0rt/secret"
    monkeypatch.setenv("BOT_TOKEN", secret)
    with pytest.raises(ConfigError) as info:
        load_settings()
    assert secret not in str(info.value) and "sh0rt" not in str(info.value)


def test_dotenv_is_read(tmp_path):
    (tmp_path / ".env").write_text(f"BOT_TOKEN={TOKEN}\nDATABASE_URL=postgresql://bot@db:5432/kbju\n")
    settings = load_settings()
    assert settings.bot_token.get_secret_value() == TOKEN
    assert settings.database_url == "postgresql://bot@db:5432/kbju"
    assert TOKEN not in repr(settings)


def test_webhook_secret_follows_telegrams_alphabet(monkeypatch):
    monkeypatch.setenv("WEBHOOK_SECRET", "has spaces!")
    with pytest.raises(ConfigError, match="WEBHOOK_SECRET"):
        load_settings()


@pytest.mark.slow  # starts kbjuctl or another program
def test_kbjuctl_exits_2_on_invalid_configuration(tmp_path):
    env = {k: v for k, v in os.environ.items() if k not in ("BOT_TOKEN", "DATABASE_URL")}
    env.update(BOT_TOKEN="garbage", DATABASE_URL="postgresql://postgres@127.0.0.1:5432/x", LOG_LEVEL="LOUD")
    result = subprocess.run([sys.executable, "-m", "kbjuctl", "run"], check=False, capture_output=True, text=True,
                            env=env, timeout=60, cwd=tmp_path)
    assert result.returncode == 2, result.stderr
    assert "BOT_TOKEN" in result.stderr and "LOG_LEVEL" in result.stderr
    assert "garbage" not in result.stderr and "Traceback" not in result.stderr


@pytest.mark.parametrize("name, content, expected", [
    ("missing.png", None, "no such file"),
    ("notes.txt", b"just text", "JPEG or PNG"),
    ("huge.png", b"\x89PNG\r\n\x1a\n" + b"\0" * (10 * 1024 * 1024), "10 MB"),
])
def test_a_funnel_photo_that_telegram_would_refuse_is_named_at_startup(monkeypatch, tmp_path, name, content, expected):
    # Found only when the first funnel job ran, the job loop would fail every second instead.
    path = tmp_path / name
    if content is not None:
        path.write_bytes(content)
    monkeypatch.setenv("FUNNEL_PHOTO", str(path))
    with pytest.raises(ConfigError) as info:
        load_settings()
    assert "FUNNEL_PHOTO" in str(info.value) and expected in str(info.value)


def test_a_jpeg_funnel_photo_is_accepted(monkeypatch, tmp_path):
    path = tmp_path / "promo.jpg"
    path.write_bytes(b"\xff\xd8\xff\xe0" + b"\0" * 100)
    monkeypatch.setenv("FUNNEL_PHOTO", str(path))
    assert load_settings().funnel_photo == path

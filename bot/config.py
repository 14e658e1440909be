"""Configuration of the bot and kbjuctl: read once from the environment (and .env), validated."""

from __future__ import annotations

import re
from pathlib import Path
from typing import Literal
from urllib.parse import urlsplit

from pydantic import Field, SecretStr, ValidationError, field_validator, model_validator
from pydantic_settings import BaseSettings, SettingsConfigDict

from bot import secret_files
from bot.config_checks import ConfigError, check_database_url

TOKEN_RE = re.compile(r"^\d{1,20}:[A-Za-z0-9_-]{20,100}$")
SECRET_TOKEN_RE = re.compile(r"^[A-Za-z0-9_-]{1,256}$")
DEFAULT_API_URL = "https://api.telegram.org"
PHOTO_MAX_BYTES = 10 * 1024 * 1024  # Telegram's limit for a photo uploaded with sendPhoto
PHOTO_SIGNATURES = (b"\xff\xd8\xff", b"\x89PNG\r\n\x1a\n")  # JPEG, PNG


def _check_http_url(value: str, what: str) -> str:
    parts = urlsplit(value)
    if parts.scheme not in ("http", "https") or not parts.netloc:
        raise ValueError(f"expected an http(s) URL for {what}, like https://example.org")
    return value.rstrip("/")


class Settings(BaseSettings):
    """Every setting the bot and kbjuctl read; environment variable = upper-case field name."""

    model_config = SettingsConfigDict(env_file=".env", env_file_encoding="utf-8", extra="ignore")

    database_url: str | None = Field(None, description="postgresql://user[:password]@host[:port]/dbname")
    bot_token: SecretStr | None = Field(None, description="the token from @BotFather")
    telegram_api_url: str = Field(DEFAULT_API_URL, description="root URL of the Bot API server")
    consultation_url: str = Field("https://t.me/kbju_specialist", description="link to the specialist")
    specialist_name: str = Field("нашим специалистом по питанию", description="who the consultation is with")
    funnel_delay_seconds: float = Field(60.0, ge=0, le=86400)
    funnel_photo: Path | None = Field(None, description="image for the funnel message (default: built in)")
    log_level: Literal["DEBUG", "INFO", "WARNING", "ERROR", "CRITICAL"] = "INFO"
    log_format: Literal["text", "json"] = "text"
    log_salt: SecretStr | None = Field(None, description="secret salt of the user ids in logs (bot.privacy.user_ref); "
                                                         "default: derived from BOT_TOKEN")

    webhook_url: str | None = Field(None, description="public https URL Telegram posts updates to")
    # Loopback unless told otherwise: a proxy on the same host forwards to it; the image (and a bot
    # serving HTTPS itself) sets WEBHOOK_LISTEN=0.0.0.0 explicitly.
    webhook_listen: str = "127.0.0.1"
    webhook_port: int = Field(8443, ge=1, le=65535)
    webhook_path: str = "/telegram/webhook"
    webhook_secret: SecretStr | None = None
    webhook_drain_seconds: float = Field(
        5.0, ge=0, le=300, description="after SIGTERM, how long /healthz answers 503 'draining' while updates are "
        "still served, before the listener closes: a load balancer's time to stop routing here")
    webhook_secret_previous: SecretStr | None = Field(None, description="during a rotation of WEBHOOK_SECRET: the "
                                                      "old secret, still taken until every replica has the new one")
    webhook_cert: Path | None = Field(None, description="PEM certificate of WEBHOOK_URL's host: uploaded with "
                                      "setWebhook when self-signed; with WEBHOOK_KEY the bot serves HTTPS itself")
    webhook_key: Path | None = Field(None, description="private key of WEBHOOK_CERT: the bot serves HTTPS itself")
    metrics_host: str = "127.0.0.1"
    metrics_port: int = Field(9101, ge=0, le=65535, description="0 turns the metrics endpoint off")
    telegram_info_interval_seconds: float = Field(
        60.0, ge=0, le=3600, description="how often each replica reads getWebhookInfo for the pending-update and "
        "webhook-error metrics (bot.webhook_watch); 0: never")

    db_pool_min: int = Field(2, ge=1, le=100)
    db_pool_max: int = Field(20, ge=1, le=500)
    db_statement_timeout_ms: int = Field(5000, ge=100, le=600000)
    db_auto_migrate: bool = Field(True, description="apply pending schema migrations when the bot starts")
    concurrent_updates: int = Field(256, ge=1, le=4096)
    bot_timezone: str = Field("Europe/Moscow", description="IANA zone whose calendar day a record belongs to")
    bot_http_backend: Literal["aiohttp", "httpx"] = Field("aiohttp", description="HTTP client for the Bot API")
    # Telegram's limits (docs/bot.md "Sending").
    bot_bulk_rate: float = Field(30.0, ge=0, le=10000, description="bulk messages (funnel, reminders) per second, "
                                                                   "all replicas together; 0: no budget")
    # An older setting that paced every message of one replica; read as BOT_BULK_RATE when that is unset.
    bot_max_send_rate: float | None = Field(None, ge=0, le=10000, description="older name of BOT_BULK_RATE")
    bot_chat_rate: float = Field(1.0, ge=0, le=1000, description="messages per second to one chat, sustained; "
                                                                 "0: no per-chat pacing")
    bot_chat_burst: int = Field(3, ge=1, le=100, description="messages a chat gets at once before pacing starts")
    conversation_retention_days: float = Field(30.0, gt=0, le=3650, description="days after which the answers of a "
                                               "flow left unfinished are forgotten")
    backup_dir: Path = Path("backups")
    reminder_quiet_hours: str = Field("22-8", description="local hours without reminders, like 22-8 (22:00 to 08:00)")
    operator_name: str | None = Field(None, description="who keeps the people's data, named in the privacy notice")
    privacy_contact: str | None = Field(None, description="where people write about their data (e-mail, @username)")
    backup_retention_days: int = Field(14, ge=1, le=3650,
                                       description="days an erased person's data stays in backups (their pruning)")

    @field_validator("database_url")
    @classmethod
    def _database_url(cls, value: str | None) -> str | None:
        return None if value in (None, "") else check_database_url(value)

    @field_validator("bot_token")
    @classmethod
    def _bot_token(cls, value: SecretStr | None) -> SecretStr | None:
        if value is None or value.get_secret_value() == "":
            return None
        if not TOKEN_RE.match(value.get_secret_value()):
            raise ValueError("expected a token like 123456789:AAE... as issued by @BotFather")
        return value

    @field_validator("webhook_secret", "webhook_secret_previous")
    @classmethod
    def _webhook_secret(cls, value: SecretStr | None) -> SecretStr | None:
        if value is None or value.get_secret_value() == "":
            return None
        if not SECRET_TOKEN_RE.match(value.get_secret_value()):
            raise ValueError("expected 1-256 characters of A-Z, a-z, 0-9, _ and - (Telegram's rule)")
        return value

    @field_validator("telegram_api_url")
    @classmethod
    def _api_url(cls, value: str) -> str:
        return _check_http_url(value, "the Bot API server")

    @field_validator("consultation_url")
    @classmethod
    def _consultation_url(cls, value: str) -> str:
        if value.startswith("tg://"):
            return value
        return _check_http_url(value, "the consultation link")

    @field_validator("webhook_url")
    @classmethod
    def _webhook_url(cls, value: str | None) -> str | None:
        return None if not value else _check_http_url(value, "the webhook")

    @field_validator("bot_timezone")
    @classmethod
    def _bot_timezone(cls, value: str) -> str:
        from zoneinfo import ZoneInfo, ZoneInfoNotFoundError

        try:
            ZoneInfo(value)
        except (ZoneInfoNotFoundError, ValueError):
            raise ValueError("expected an IANA time zone name, like Europe/Moscow") from None
        return value

    @field_validator("funnel_photo")
    @classmethod
    def _funnel_photo(cls, value: Path | None) -> Path | None:
        """Checked now: found only at the first funnel job, the job would fail on every tick."""
        if value is None or str(value) == "":
            return None
        try:
            size = value.stat().st_size
            with value.open("rb") as image:
                head = image.read(8)
        except FileNotFoundError:
            raise ValueError("no such file; expected the path of a JPEG or PNG image") from None
        except OSError as exc:
            raise ValueError(f"cannot be read ({exc.strerror}); expected a readable JPEG or PNG image") from None
        if not head.startswith(PHOTO_SIGNATURES):
            raise ValueError("expected a JPEG or PNG image (Telegram's photos)")
        if size > PHOTO_MAX_BYTES:
            raise ValueError(f"is {size / 1024 / 1024:.1f} MB; Telegram takes photos of at most 10 MB")
        return value

    @field_validator("webhook_cert", "webhook_key")
    @classmethod
    def _webhook_tls_file(cls, value: Path | None) -> Path | None:
        if value is None or str(value) == "":
            return None
        try:
            value.read_bytes()
        except FileNotFoundError:
            raise ValueError("no such file; expected the path of a PEM file") from None
        except OSError as exc:
            raise ValueError(f"cannot be read ({exc.strerror})") from None
        return value

    @field_validator("reminder_quiet_hours")
    @classmethod
    def _quiet_hours(cls, value: str) -> str:
        from bot.domain.reminders import InvalidQuietHours, QuietHours

        try:
            QuietHours.parse(value)
        except InvalidQuietHours as exc:
            raise ValueError(str(exc)) from None
        return value

    @field_validator("operator_name", "privacy_contact")
    @classmethod
    def _optional_text(cls, value: str | None) -> str | None:
        return value.strip() or None if value is not None else None

    def quiet_hours(self):
        """REMINDER_QUIET_HOURS as bot.domain.reminders.QuietHours."""
        from bot.domain.reminders import QuietHours

        return QuietHours.parse(self.reminder_quiet_hours)

    @model_validator(mode="after")
    def _older_names(self) -> Settings:
        if self.bot_max_send_rate is not None and "bot_bulk_rate" not in self.model_fields_set:
            self.bot_bulk_rate = self.bot_max_send_rate
        return self

    @field_validator("webhook_path")
    @classmethod
    def _webhook_path(cls, value: str) -> str:
        if not value.startswith("/"):
            raise ValueError("expected a path starting with /, like /telegram/webhook")
        return value


def _describe(errors: list[dict]) -> str:
    lines = []
    for err in errors:
        name = "_".join(str(p) for p in err.get("loc", ())).upper() or "settings"
        msg = err.get("msg", "invalid value").removeprefix("Value error, ")
        # The input value is deliberately never echoed: it may be a token or a password.
        lines.append(f"  {name}: {msg}")
    return "Invalid configuration:\n" + "\n".join(lines)


def load_settings(**overrides: object) -> Settings:
    """Read and validate the settings; overrides (e.g. CLI options) win over the environment.
    Secrets given as files (BOT_TOKEN_FILE, ...: bot.secret_files) are read first."""
    secret_files.resolve()
    try:
        settings = Settings(**{k: v for k, v in overrides.items() if v is not None})
    except ValidationError as exc:
        raise ConfigError(_describe(exc.errors())) from None
    if settings.db_pool_min > settings.db_pool_max:
        raise ConfigError("Invalid configuration:\n  DB_POOL_MIN: must not exceed DB_POOL_MAX")
    _check_webhook_tls(settings)
    return settings


def _check_webhook_tls(settings: Settings) -> None:
    """The certificate must be one, and with a key the two must make a TLS server: found now, not at
    the first delivery."""
    from bot.transport import tls

    if settings.webhook_key and not settings.webhook_cert:
        raise ConfigError("Invalid configuration:\n  WEBHOOK_KEY: needs WEBHOOK_CERT, the certificate it belongs to")
    if settings.webhook_cert:
        try:
            tls.first_certificate(settings.webhook_cert)
        except ValueError as exc:
            raise ConfigError(f"Invalid configuration:\n  WEBHOOK_CERT: {exc}") from None
    if settings.webhook_key:
        import ssl

        try:
            tls.server_context(settings.webhook_cert, settings.webhook_key)
        except (ssl.SSLError, OSError, ValueError):
            raise ConfigError("Invalid configuration:\n  WEBHOOK_KEY: not a PEM private key matching WEBHOOK_CERT "
                              "(a key protected by a passphrase is not supported)") from None

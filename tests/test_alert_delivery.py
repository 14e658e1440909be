"""An alert reaches the operators' Telegram chat, end to end, with every program real: the bot
(`kbjuctl run --webhook`, its own login) against the Bot API stand-in, Prometheus scraping it with
the real rule, Alertmanager with monitoring/alertmanager/ rendered by its render.sh, delivering
through its own Telegram receiver to the stand-in, as the operators' bot (another token).

The bot's database login is revoked and its connections ended (the database is gone, as far as
this replica can tell); the firing message must arrive within the rule's `for` plus 30 s, with the
summary, what to check first and the runbook link; granting the login again brings the resolved
message. Only the times are shortened (scrape and evaluation every second, the rule's `for` and
Alertmanager's grouping waits): the expression, the annotations, the routing and the templates are
the deployed ones. Every process is stopped by its pid at the end.
"""

from __future__ import annotations

import asyncio
import secrets
import sys
import time
from pathlib import Path
from urllib.parse import urlsplit

import psycopg
import pytest
import yaml

from kbjuctl import localpg, roles
from tests.helpers.alerting import ALERTMANAGER, AMTOOL, for_debian_alertmanager, render
from tests.helpers.bot_harness import TOKEN, kbjuctl_env
from tests.helpers.monitoring import MONITORING
from tests.helpers.stack import Stack, get, wait_for

PROMETHEUS = __import__("shutil").which("prometheus")
pytestmark = [
    pytest.mark.slow,
    pytest.mark.skipif(not (PROMETHEUS and ALERTMANAGER and AMTOOL),
                       reason="prometheus / prometheus-alertmanager missing: ./scripts/system-deps.sh"),
]

ALERT_TOKEN = "987654321:AAHoperatorsAlertBotToken0123456789"  # the operators' bot, not the product bot
OPERATORS_CHAT = 700700
RULE = "KbjuBotDatabaseUnreachable"
RULE_FOR_S = 2
RUNBOOK = "https://docs.example.org/kbju/monitoring.md"


def secret_file(folder: Path, name: str, value: str) -> Path:
    folder.mkdir(mode=0o700, exist_ok=True)
    path = folder / name
    path.touch(mode=0o600)
    path.write_text(value + "\n")
    return path


def shortened_rule(tmp: Path) -> Path:
    """The deployed rule, its `for` shortened."""
    for path in sorted((MONITORING / "rules").glob("*.yml")):
        for group in yaml.safe_load(path.read_text())["groups"]:
            for rule in group["rules"]:
                if rule.get("alert") == RULE:
                    rule["for"] = f"{RULE_FOR_S}s"
                    out = tmp / "rules.yml"
                    out.write_text(yaml.safe_dump({"groups": [{"name": "delivery", "rules": [rule]}]}))
                    return out
    raise AssertionError(f"{RULE} is not in monitoring/rules/")


def prometheus_config(stack: Stack, rules: Path) -> dict:
    config = yaml.safe_load((MONITORING / "prometheus.yml").read_text())
    config["global"].update(scrape_interval="1s", evaluation_interval="1s", scrape_timeout="1s")
    config["rule_files"] = [str(rules)]
    (bot_job,) = [job for job in config["scrape_configs"] if job["job_name"] == "kbju-bot"]
    bot_job.pop("dns_sd_configs")
    bot_job["static_configs"] = [{"targets": [f"127.0.0.1:{stack.ports['metrics']}"]}]
    config["scrape_configs"] = [bot_job]
    (alertmanagers,) = config["alerting"]["alertmanagers"]
    alertmanagers["static_configs"] = [{"targets": [f"127.0.0.1:{stack.ports['alertmanager']}"]}]
    return config


def alertmanager_config(stack: Stack, token_file: Path) -> Path:
    done = render(stack.tmp / "alertmanager", ALERT_TELEGRAM_CHAT_ID=str(OPERATORS_CHAT), ALERT_LANGUAGE="ru",
                  ALERT_TELEGRAM_API_URL=stack.url("standin"), ALERT_RUNBOOK_URL=RUNBOOK)
    assert done.returncode == 0, done.stderr
    rendered = stack.tmp / "alertmanager" / "alertmanager.yml"
    config = for_debian_alertmanager(rendered, {"/run/secrets/alertmanager_telegram_token": token_file})
    text = yaml.safe_load(config.read_text())
    text["route"].update(group_wait="1s", group_interval="2s")
    config.write_text(yaml.safe_dump(text, allow_unicode=True))
    return config


def test_a_database_outage_reaches_the_operators_chat_and_so_does_its_end(pg_admin_url, migrated_template,
                                                                        tmp_path):
    from tgstandin.client import StandinClient

    db_name = localpg.unique_name("obs_alert")
    owner_url = localpg.create_database(pg_admin_url, db_name, template=migrated_template)
    login, password = f"obs_bot_{secrets.token_hex(3)}", secrets.token_urlsafe(24)
    roles.ensure_login(owner_url, login, password, "kbju_bot")
    folder = tmp_path / "secrets"
    files = {"bot": secret_file(folder, "bot_token", TOKEN), "db": secret_file(folder, "db_password", password),
             "alert": secret_file(folder, "alert_token", ALERT_TOKEN)}
    stack = Stack(tmp_path, ("standin", "webhook", "metrics", "prometheus", "alertmanager"))
    admin = psycopg.connect(owner_url, autocommit=True)
    try:
        stack.start("standin", [sys.executable, "-m", "tgstandin", "--port", str(stack.ports["standin"])])
        wait_for("the stand-in", lambda: get(stack.url("standin", "/"))[0] > 0, procs=stack.procs)

        async def operator_writes_first() -> None:  # a bot may write only to a chat that wrote to it
            async with StandinClient(stack.url("standin"), token=ALERT_TOKEN) as client:
                await client.send(OPERATORS_CHAT, "/start")
        asyncio.run(operator_writes_first())

        server = urlsplit(owner_url)
        stack.start("bot", [sys.executable, "-m", "kbjuctl", "run", "--webhook"], kbjuctl_env(
            BOT_TOKEN_FILE=str(files["bot"]), DATABASE_PASSWORD_FILE=str(files["db"]),
            DATABASE_URL=f"postgresql://{login}@{server.hostname}:{server.port or 5432}/{db_name}",
            TELEGRAM_API_URL=stack.url("standin"), WEBHOOK_URL=stack.url("webhook", "/telegram/webhook"),
            WEBHOOK_LISTEN="127.0.0.1", WEBHOOK_PORT=str(stack.ports["webhook"]), METRICS_HOST="127.0.0.1",
            METRICS_PORT=str(stack.ports["metrics"]), DB_POOL_MIN="1", DB_POOL_MAX="2", LOG_FORMAT="json"))
        stack.start("alertmanager", [ALERTMANAGER, f"--config.file={alertmanager_config(stack, files['alert'])}",
                                     f"--storage.path={tmp_path / 'am-data'}", "--cluster.listen-address=",
                                     f"--web.listen-address=127.0.0.1:{stack.ports['alertmanager']}",
                                     "--log.level=warn"])
        config = tmp_path / "prometheus.yml"
        config.write_text(yaml.safe_dump(prometheus_config(stack, shortened_rule(tmp_path))))
        stack.start("prometheus", [PROMETHEUS, f"--config.file={config}", f"--storage.tsdb.path={tmp_path / 'tsdb'}",
                                   f"--web.listen-address=127.0.0.1:{stack.ports['prometheus']}", "--log.level=warn"])
        wait_for("the bot's /healthz", lambda: get(stack.url("webhook", "/healthz"))[0] == 200, 30, stack.procs)
        wait_for("Alertmanager ready", lambda: get(stack.url("alertmanager", "/-/ready"))[0] == 200, 20, stack.procs)
        wait_for("kbju_db_up = 1 in Prometheus", lambda: [r["value"][1] for r in stack.prometheus_api(
            "/api/v1/query?query=kbju_db_up")["result"]] == ["1"], 30, stack.procs)

        # The login is revoked and its sessions ended: the bot's connections fail and cannot come back.
        admin.execute(f'ALTER ROLE "{login}" NOLOGIN')
        admin.execute("SELECT pg_terminate_backend(pid) FROM pg_stat_activity WHERE usename = %s", (login,))
        cut = time.monotonic()
        firing = asyncio.run(operator_receives(stack.url("standin"), timeout=RULE_FOR_S + 30 + 10))
        took = time.monotonic() - cut
        text, entities = firing["text"], firing.get("entities", [])
        # within the rule's `for` plus 30 s, counted from the bot's first failed check (up to 5 s after the cut)
        assert took <= RULE_FOR_S + 30 + 5, f"the alert took {took:.1f} s"
        assert text.startswith("🔥 ТРЕВОГА " + RULE) and "(critical)" in text, text
        assert "cannot reach PostgreSQL" in text and f"127.0.0.1:{stack.ports['metrics']}" in text, text
        # what to check first, with the rule's own "<login>" shown as text (escaped for Telegram's HTML)
        assert "Что проверить первым: The replica's own connection" in text and "'<login>'" in text, text
        links = [e["url"] for e in entities if e["type"] == "text_link"]
        assert links == [f"{RUNBOOK}#{RULE.lower()}"], entities

        admin.execute(f'ALTER ROLE "{login}" LOGIN')
        resolved = asyncio.run(operator_receives(stack.url("standin"), timeout=45, after=firing["seq"]))
        assert resolved["text"].startswith("✅ РЕШЕНО " + RULE), resolved["text"]
        assert "Что проверить первым" not in resolved["text"] and " до " in resolved["text"]
        # The product bot's token was never used for the operators' chat, nor did it leak into a log.
        for name in ("bot", "alertmanager", "prometheus"):
            assert TOKEN not in stack.log(name) and ALERT_TOKEN not in stack.log(name), name
    except AssertionError as exc:
        logs = "\n".join(f"--- {name}:\n{stack.log(name)[-1500:]}" for name in stack.procs)
        raise AssertionError(f"{exc}\n{logs}") from None
    finally:
        stack.stop()
        admin.close()
        with psycopg.connect(pg_admin_url, autocommit=True) as conn:
            conn.execute(f'DROP DATABASE IF EXISTS "{db_name}" WITH (FORCE)')
            conn.execute(f'DROP ROLE IF EXISTS "{login}"')


async def operator_receives(url: str, timeout: float, after: int = 0) -> dict:
    """The next message of the operators' bot in the operators' chat, with its event seq."""
    from tgstandin.client import StandinClient

    async with StandinClient(url, token=ALERT_TOKEN) as client:
        deadline = time.monotonic() + timeout
        while (left := deadline - time.monotonic()) > 0:
            page = await client.events(OPERATORS_CHAT, after=after, min=1, timeout=min(left, 10))
            for event in page["events"]:
                after = max(after, event["seq"])
                if event["kind"] == "message" and event["message"]["from"]["is_bot"]:
                    return {**event["message"], "seq": event["seq"]}
    raise AssertionError(f"no message in the operators' chat within {timeout} s")

"""`kbjuctl webhook info|delete` against the Bot API stand-in: the runbook's "verify" step of a
cutover and its way back."""

from __future__ import annotations

import asyncio
import json
import subprocess
import sys

from tests.helpers.bot_harness import ROOT, TOKEN, kbjuctl_env
from tests.helpers.schemas import validated
from tgstandin import BotApiStandin, StandinClient


def _kbjuctl(api_url: str, *args: str, token: str = TOKEN, stdin: str | None = None) -> subprocess.CompletedProcess:
    env = kbjuctl_env(BOT_TOKEN=token, TELEGRAM_API_URL=api_url)
    return subprocess.run([sys.executable, "-m", "kbjuctl", "webhook", *args], env=env, cwd=ROOT, input=stdin,
                          capture_output=True, text=True, timeout=60, check=False)


def test_info_shows_the_webhook_and_delete_keeps_the_pending_updates():
    async def scenario() -> None:
        async with BotApiStandin() as standin, StandinClient(standin.url, TOKEN) as control:
            none = await asyncio.to_thread(_kbjuctl, standin.url, "info")
            assert none.returncode == 1 and "No webhook is set" in " ".join(none.stderr.split())

            await control.register_bot()
            await control.send(42, "привет")
            url = "http://127.0.0.1:9/telegram/webhook"  # nothing listens: deliveries fail
            async with standin_http(standin) as http:
                await http.post(f"{standin.url}/bot{TOKEN}/setWebhook", json={"url": url, "secret_token": "s3cret"})
            await asyncio.sleep(0.3)
            shown = await asyncio.to_thread(_kbjuctl, standin.url, "info", "--json")
            assert shown.returncode == 0, shown.stderr
            info = validated("webhook-info", shown.stdout)
            assert info["url"] == url and info["pending_update_count"] == 1
            assert info["last_error_message"] == "Connection refused"
            waited = await asyncio.to_thread(_kbjuctl, standin.url, "info", "--wait", "1")
            assert waited.returncode == 1 and "still pending" in " ".join(waited.stderr.split())
            assert "Connection refused" in waited.stdout

            planned = await asyncio.to_thread(_kbjuctl, standin.url, "delete", "--dry-run")
            assert planned.returncode == 0 and url in planned.stdout and "pending updates (kept): 1" in planned.stdout
            refused = await asyncio.to_thread(_kbjuctl, standin.url, "delete")  # no terminal, no --yes
            assert refused.returncode == 2 and "--yes" in refused.stderr and url in refused.stderr
            assert json.loads((await asyncio.to_thread(_kbjuctl, standin.url, "info", "--json")).stdout)["url"] == url
            deleted = await asyncio.to_thread(_kbjuctl, standin.url, "delete", "--yes")
            assert deleted.returncode == 0, deleted.stderr
            after = json.loads((await asyncio.to_thread(_kbjuctl, standin.url, "info", "--json")).stdout or "{}")
            assert after == {} or after.get("url") == ""
            assert (await control.stats())["updates"]["pending"] == 1  # kept for the next bot

    asyncio.run(scenario())


def test_an_unreachable_bot_api_or_a_malformed_token_is_a_clear_error_that_never_shows_the_token():
    unreachable = _kbjuctl("http://127.0.0.1:9", "info")
    assert unreachable.returncode == 1 and "Cannot reach the Bot API" in unreachable.stderr
    malformed = _kbjuctl("http://127.0.0.1:9", "info", token="not-a-token-" + "y" * 30)
    assert malformed.returncode == 2 and "BOT_TOKEN" in malformed.stderr
    for result in (unreachable, malformed):
        assert TOKEN.split(":")[1] not in result.stdout + result.stderr and "y" * 30 not in result.stderr
        assert "Traceback" not in result.stderr


def standin_http(_standin):
    import aiohttp

    return aiohttp.ClientSession()

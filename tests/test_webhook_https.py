"""The webhook served over HTTPS by the bot itself (WEBHOOK_CERT + WEBHOOK_KEY), end to end through the
stand-in: a self-signed certificate is uploaded with setWebhook, as Telegram requires, and the
stand-in then posts every update over HTTPS trusting exactly that certificate."""

from __future__ import annotations

import asyncio
import ssl

import aiohttp
import pytest

from bot.config_checks import ConfigError
from bot.transport import tls
from tests.helpers import certs
from tests.helpers.bot_harness import MAN, TOKEN, bot_settings, free_port, run, survey, texts

SECRET = "s3cret-value"


def test_the_bot_serves_https_itself_and_uploads_its_self_signed_certificate(database_url, tmp_path):
    pair = certs.self_signed(tmp_path / "tls")
    assert tls.is_self_signed(pair.cert)

    async def scenario(h):
        port = free_port()
        url = f"https://127.0.0.1:{port}/telegram/webhook"
        await h.start_bot(webhook=True, port=port, webhook_url=url, webhook_secret=SECRET, webhook_cert=pair.cert,
                          webhook_key=pair.key)
        ivan = h.person(4101)
        events = await survey(ivan, MAN, upto="height")
        assert "рост" in texts(events)[0].lower()  # every step so far went over HTTPS
        async with aiohttp.ClientSession() as http:
            async with http.post(f"{h.url}/bot{TOKEN}/getWebhookInfo") as r:
                info = (await r.json())["result"]
            assert info["url"] == url and info["has_custom_certificate"] is True
            assert "last_error_message" not in info
            with pytest.raises(aiohttp.ClientConnectorCertificateError):  # not a publicly trusted certificate
                await http.get(f"https://127.0.0.1:{port}/healthz")
            trusting = tls_client(pair)
            async with http.get(f"https://127.0.0.1:{port}/healthz", ssl=trusting) as r:
                assert r.status == 200
            with pytest.raises(aiohttp.ClientError):  # no plain HTTP on the TLS port
                async with http.get(f"http://127.0.0.1:{port}/healthz") as r:
                    await r.read()

            # The same webhook set without the certificate (as if the upload was forgotten): Telegram
            # cannot trust the server, delivers nothing and says why in getWebhookInfo.
            async with http.post(f"{h.url}/bot{TOKEN}/setWebhook", json={"url": url, "secret_token": SECRET}) as r:
                assert (await r.json())["ok"]
            await ivan.client.send(ivan.user_id, MAN["height"], **ivan.profile)
            for _ in range(50):
                async with http.post(f"{h.url}/bot{TOKEN}/getWebhookInfo") as r:
                    info = (await r.json())["result"]
                if "last_error_message" in info:
                    break
                await asyncio.sleep(0.1)
            assert info["has_custom_certificate"] is False and info["pending_update_count"] == 1
            assert "certificate verify failed" in info["last_error_message"]
    run(database_url, scenario, start=False)


def tls_client(pair: certs.Pair) -> ssl.SSLContext:
    return ssl.create_default_context(cafile=str(pair.cert))


def test_a_certificate_from_a_ca_is_not_uploaded(database_url, tmp_path):
    authority = certs.ca(tmp_path / "ca")
    pair = certs.signed(tmp_path / "server", authority, cn="127.0.0.1")
    assert not tls.is_self_signed(pair.cert) and tls.is_self_signed(authority.cert)

    async def scenario(h):
        port = free_port()
        url = f"https://127.0.0.1:{port}/telegram/webhook"
        await h.start_bot(webhook=True, port=port, webhook_url=url, webhook_secret=SECRET, webhook_cert=pair.cert,
                          webhook_key=pair.key)
        async with aiohttp.ClientSession() as http:
            async with http.post(f"{h.url}/bot{TOKEN}/getWebhookInfo") as r:
                assert (await r.json())["result"]["has_custom_certificate"] is False
            async with http.get(f"https://127.0.0.1:{port}/healthz", ssl=tls_client(authority)) as r:
                assert r.status == 200  # the chain a client checks: server certificate -> our CA
    run(database_url, scenario, start=False)


def test_webhook_tls_settings_are_checked_at_start(database_url, tmp_path):
    pair = certs.self_signed(tmp_path / "a", "a")
    other = certs.self_signed(tmp_path / "b", "b")
    with pytest.raises(ConfigError, match="WEBHOOK_KEY: not a PEM private key matching WEBHOOK_CERT"):
        bot_settings(database_url, "http://127.0.0.1:1", webhook_cert=pair.cert, webhook_key=other.key)
    with pytest.raises(ConfigError, match="WEBHOOK_KEY: needs WEBHOOK_CERT"):
        bot_settings(database_url, "http://127.0.0.1:1", webhook_key=pair.key)
    with pytest.raises(ConfigError, match="WEBHOOK_CERT: no PEM certificate"):
        bot_settings(database_url, "http://127.0.0.1:1", webhook_cert=pair.key)
    with pytest.raises(ConfigError, match="WEBHOOK_CERT: no such file"):
        bot_settings(database_url, "http://127.0.0.1:1", webhook_cert=tmp_path / "missing.pem")
    assert bot_settings(database_url, "http://127.0.0.1:1", webhook_cert=pair.cert, webhook_key=pair.key)

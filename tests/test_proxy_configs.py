"""The TLS-terminating proxies of deploy/proxy/ (nginx and HAProxy), checked by the programs
themselves (`nginx -t`, `haproxy -c`) and run as local processes in front of the real bot: the
stand-in delivers updates through them over HTTPS (a self-signed certificate, uploaded by the bot
with setWebhook), and from the outside only the webhook path, by POST, from Telegram's addresses,
under 256 KiB, reaches the bot; port 80 serves the ACME challenge and nothing else."""

from __future__ import annotations

import asyncio
import os
import shutil
import signal
import ssl
import subprocess
import threading
from http.server import BaseHTTPRequestHandler, ThreadingHTTPServer
from pathlib import Path

import aiohttp
import pytest

from tests.helpers import certs
from tests.helpers.bot_harness import MAN, free_port, run, survey, texts

ROOT = Path(__file__).resolve().parents[1]
PROXY = ROOT / "deploy" / "proxy"
NGINX = shutil.which("nginx") or (Path("/usr/sbin/nginx") if Path("/usr/sbin/nginx").exists() else None)
HAPROXY = shutil.which("haproxy") or (Path("/usr/sbin/haproxy") if Path("/usr/sbin/haproxy").exists() else None)
SECRET = "s3cret-value"
TOKEN_FILE = "kbju-acme-probe"


class Proxy:
    """One proxy process: ports, the folder of its rendered files, and how to start and stop it."""

    def __init__(self, tmp: Path, kind: str) -> None:
        self.tmp, self.kind = tmp, kind
        self.https, self.http, self.acme, self.bot = free_port(), free_port(), free_port(), free_port()
        self.pair = certs.self_signed(tmp / "tls")
        self.proc: subprocess.Popen | None = None
        self.webroot = tmp / "acme"
        (self.webroot / ".well-known" / "acme-challenge").mkdir(parents=True)
        (self.webroot / ".well-known" / "acme-challenge" / TOKEN_FILE).write_text("challenge answer")

    def check(self) -> subprocess.CompletedProcess:
        raise NotImplementedError

    def start(self) -> None:
        raise NotImplementedError

    def stop(self) -> None:
        if self.proc is not None and self.proc.poll() is None:
            self.proc.send_signal(signal.SIGTERM)
            try:
                self.proc.wait(15)
            except subprocess.TimeoutExpired:
                self.proc.kill()
                self.proc.wait()


class Nginx(Proxy):
    """deploy/proxy/nginx/kbju-webhook.conf with its absolute paths and ports replaced by the test's,
    inside a minimal nginx.conf of its own (prefix, pid and logs in the test's folder)."""

    def render(self) -> Path:
        ips = self.tmp / "telegram-ips.conf"
        ips.write_text((PROXY / "nginx" / "telegram-ips.conf").read_text() + "allow 127.0.0.1;\n")
        site = (PROXY / "nginx" / "kbju-webhook.conf").read_text()
        replacements = {
            "/etc/letsencrypt/live/bot.example.org/fullchain.pem": str(self.pair.cert),
            "/etc/letsencrypt/live/bot.example.org/privkey.pem": str(self.pair.key),
            "/etc/nginx/kbju/telegram-ips.conf": str(ips), "/var/www/acme": str(self.webroot),
            "listen 443 ssl;": f"listen 127.0.0.1:{self.https} ssl;", "listen 80;": f"listen 127.0.0.1:{self.http};",
            "listen [::]:443 ssl;": "", "listen [::]:80;": "", "127.0.0.1:8443": f"127.0.0.1:{self.bot}",
        }
        for old, new in replacements.items():
            assert old in site, old
            site = site.replace(old, new)
        (self.tmp / "site.conf").write_text(site)
        user = "user root;\n" if os.geteuid() == 0 else ""
        conf = self.tmp / "nginx.conf"
        conf.write_text(f"{user}pid {self.tmp}/nginx.pid;\nerror_log {self.tmp}/error.log;\nworker_processes 1;\n"
                        "events { worker_connections 256; }\n"
                        f"http {{ access_log off; client_body_temp_path {self.tmp}/body; "
                        f"proxy_temp_path {self.tmp}/proxy; include {self.tmp}/site.conf; }}\n")
        return conf

    def check(self) -> subprocess.CompletedProcess:
        return subprocess.run([str(NGINX), "-t", "-p", str(self.tmp), "-c", str(self.render())],
                              capture_output=True, text=True, timeout=30)

    def start(self) -> None:
        conf = self.render()
        self.proc = subprocess.Popen([str(NGINX), "-p", str(self.tmp), "-c", str(conf), "-g", "daemon off;"],
                                     stdout=subprocess.DEVNULL, stderr=subprocess.DEVNULL)


class HAProxy(Proxy):
    """deploy/proxy/haproxy/haproxy.cfg as shipped; the test's files and ports come by environment."""

    def env(self) -> dict[str, str]:
        bundle = self.tmp / "kbju.pem"
        bundle.write_text(self.pair.cert.read_text() + self.pair.key.read_text())
        ips = self.tmp / "telegram-ips.txt"
        ips.write_text((PROXY / "telegram-ips.txt").read_text() + "127.0.0.1/32\n")
        return {"PATH": os.environ.get("PATH", ""), "KBJU_CERT": str(bundle), "KBJU_TELEGRAM": str(ips),
                "KBJU_BOT": f"127.0.0.1:{self.bot}", "KBJU_HTTPS": f"127.0.0.1:{self.https}",
                "KBJU_HTTP": f"127.0.0.1:{self.http}", "KBJU_ACME": f"127.0.0.1:{self.acme}"}

    def check(self) -> subprocess.CompletedProcess:
        return subprocess.run([str(HAPROXY), "-c", "-f", str(PROXY / "haproxy" / "haproxy.cfg")],
                              capture_output=True, text=True, timeout=30, env=self.env())

    def start(self) -> None:
        self.proc = subprocess.Popen([str(HAPROXY), "-db", "-f", str(PROXY / "haproxy" / "haproxy.cfg")],
                                     stdout=subprocess.DEVNULL, stderr=subprocess.DEVNULL, env=self.env())


PROXIES = {"nginx": (Nginx, NGINX), "haproxy": (HAProxy, HAPROXY)}


def _proxy(kind: str, tmp: Path) -> Proxy:
    cls, binary = PROXIES[kind]
    if binary is None:
        pytest.skip(f"{kind} missing (Debian package {kind}): ./scripts/system-deps.sh")
    return cls(tmp, kind)


@pytest.mark.parametrize("kind", PROXIES)
def test_the_shipped_config_passes_the_proxys_own_check(kind, tmp_path):
    checked = _proxy(kind, tmp_path).check()
    assert checked.returncode == 0, checked.stdout + checked.stderr


class AcmeClient(BaseHTTPRequestHandler):
    """What certbot --standalone answers during a renewal, for the HAProxy test."""

    def do_GET(self) -> None:  # noqa: N802 - http.server's name
        found = self.path == f"/.well-known/acme-challenge/{TOKEN_FILE}"
        self.send_response(200 if found else 404)
        self.end_headers()
        self.wfile.write(b"challenge answer" if found else b"")

    def log_message(self, *args) -> None:
        pass


async def _status(http: aiohttp.ClientSession, method: str, url: str, **kw) -> int:
    async with http.request(method, url, **kw) as r:
        await r.read()
        return r.status


@pytest.mark.slow
@pytest.mark.parametrize("kind", PROXIES)
def test_updates_reach_the_bot_through_the_proxy_and_nothing_else_does(kind, database_url, tmp_path):
    proxy = _proxy(kind, tmp_path)
    acme = ThreadingHTTPServer(("127.0.0.1", proxy.acme), AcmeClient)
    threading.Thread(target=acme.serve_forever, daemon=True).start()
    proxy.start()

    async def scenario(h):
        url = f"https://127.0.0.1:{proxy.https}/telegram/webhook"
        # The bot speaks plain HTTP behind the proxy; WEBHOOK_CERT without WEBHOOK_KEY: uploaded only.
        await h.start_bot(webhook=True, port=proxy.bot, webhook_url=url, webhook_secret=SECRET,
                          webhook_cert=proxy.pair.cert)
        trust = ssl.create_default_context(cafile=str(proxy.pair.cert))
        async with aiohttp.ClientSession() as http:
            for _ in range(100):  # the proxy is up
                try:
                    await _status(http, "GET", f"https://127.0.0.1:{proxy.https}/", ssl=trust)
                    break
                except aiohttp.ClientError:
                    await asyncio.sleep(0.1)
            events = await survey(h.person(4201), MAN, upto="sex")
            assert texts(events) == ["Укажите ваш пол — от него зависит формула расчёта:"]  # all went through
            base = f"https://127.0.0.1:{proxy.https}"
            headers = {"X-Telegram-Bot-Api-Secret-Token": SECRET}
            assert await _status(http, "GET", f"{base}/healthz", ssl=trust) == 404
            assert await _status(http, "POST", f"{base}/telegram/other", ssl=trust, data=b"{}") == 404
            assert await _status(http, "GET", f"{base}/telegram/webhook", ssl=trust) in (403, 405)
            assert await _status(http, "POST", f"{base}/telegram/webhook", ssl=trust, headers=headers,
                                 data=b" " * 300_000) == 413
            outsider = aiohttp.TCPConnector(local_addr=("127.0.0.2", 0))
            async with aiohttp.ClientSession(connector=outsider) as stranger:
                assert await _status(stranger, "POST", f"{base}/telegram/webhook", ssl=trust, headers=headers,
                                     data=b"{}") == 403
            plain = f"http://127.0.0.1:{proxy.http}"
            assert await _status(http, "GET", f"{plain}/.well-known/acme-challenge/{TOKEN_FILE}") == 200
            assert await _status(http, "POST", f"{plain}/telegram/webhook", data=b"{}") == 404

    try:
        run(database_url, scenario, start=False)
    finally:
        proxy.stop()
        acme.shutdown()

"""A load run against a deployed bot reads its database for the consistency check: the URL's password
never reaches the report, and the report is private to its owner, as backups are."""

from __future__ import annotations

import asyncio
import json
import stat
import subprocess
import sys

import pytest

from tests.helpers.bot_harness import TOKEN, kbjuctl_env, run, start_kbjuctl
from tests.helpers.secrets import SECRET, leaked, with_password

pytestmark = pytest.mark.slow


def test_remote_load_run_report_holds_no_password_and_is_private(database_url, tmp_path):
    url = with_password(database_url, SECRET)  # the suite's server trusts 127.0.0.1: any password works
    report = tmp_path / "report"

    async def scenario(h):
        env = kbjuctl_env(BOT_TOKEN=TOKEN, DATABASE_URL=url, TELEGRAM_API_URL=h.url, METRICS_PORT="0")
        bot = start_kbjuctl(["run"], env, stdout=subprocess.DEVNULL, stderr=subprocess.DEVNULL)
        try:
            await h.person(3401).say("/start")  # the bot is up and known to the stand-in
            return await asyncio.to_thread(
                subprocess.run,
                [sys.executable, "-m", "kbjuctl", "loadtest", "--target", h.url, "--database-url", url,
                 "--report", str(report), "--users", "2", "--spawn-rate", "5", "--duration", "4s",
                 "--think", "0.2,0.5", "--json"],
                capture_output=True, text=True, timeout=120, check=False, env=kbjuctl_env())
        finally:
            bot.terminate()
            bot.wait(30)

    holder = {}

    async def keep(h):
        holder["done"] = await scenario(h)

    run(database_url, keep, start=False)
    done = holder["done"]
    summary = json.loads((report / "summary.json").read_text())
    assert summary["consistency"], done.stderr[-2000:]  # the database was read with that URL
    written = {p: p.read_text(errors="replace") for p in report.rglob("*") if p.is_file()}
    assert not [p for p, text in written.items() if leaked(text)]
    assert not leaked(done.stdout + done.stderr)
    assert "***" in summary["plan"]["database_url"]
    assert stat.S_IMODE(report.stat().st_mode) == 0o700
    for path in written:
        assert stat.S_IMODE(path.stat().st_mode) & 0o077 == 0, path

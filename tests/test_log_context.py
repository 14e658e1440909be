"""Every log line of one update carries its context, end to end: `kbjuctl run` with LOG_FORMAT=json
serves a person through the Bot API stand-in, and its log is read back line by line. Also kbjuctl's
own `--log-format json`."""

from __future__ import annotations

import asyncio
import json
import subprocess
import sys
from collections import defaultdict

import aiohttp

from bot import buildinfo, privacy
from tests.helpers.bot_harness import ROOT, TOKEN, free_port, kbjuctl_env, run, start_kbjuctl
from tests.helpers.monitoring import dashboard_logql, logql_fields

USER_ID = 7310042001
LOG_SALT = "context-test-salt-0123456789"
SECRET = "s3cret-value"


async def _metrics(http: aiohttp.ClientSession, port: int) -> str:
    headers = {"Accept": "application/openmetrics-text; version=1.0.0"}  # what Prometheus asks for
    async with http.get(f"http://127.0.0.1:{port}/metrics", headers=headers) as r:
        return await r.text()


def test_every_line_of_an_update_carries_its_id_person_flow_and_step(database_url, tmp_path):
    log_path = tmp_path / "bot.log"
    metrics_port, port = free_port(), free_port()
    url = f"http://127.0.0.1:{port}/telegram/webhook"
    seen: dict[str, str] = {}

    async def scenario(h):
        env = kbjuctl_env(BOT_TOKEN=TOKEN, DATABASE_URL=database_url, TELEGRAM_API_URL=h.url,
                          METRICS_PORT=str(metrics_port), METRICS_HOST="127.0.0.1", LOG_LEVEL="DEBUG",
                          LOG_FORMAT="json", LOG_SALT=LOG_SALT, HOSTNAME="replica-a", WEBHOOK_URL=url,
                          WEBHOOK_SECRET=SECRET, WEBHOOK_LISTEN="127.0.0.1", WEBHOOK_PORT=str(port))
        with log_path.open("wb") as out:
            bot = start_kbjuctl(["run", "--webhook"], env, stdout=out, stderr=subprocess.STDOUT)
        try:
            person = h.client.person(USER_ID, "Зоя")
            await person.say("/start")
            await person.press("start:v1")
            await person.say("Зоя Контекстова")
            await person.say("not a date")  # refused: the step stays
            async with aiohttp.ClientSession() as http:
                for _ in range(3):  # a forged post, three times in a minute: one line, three counted
                    async with http.post(url, json={"update_id": 1}, headers={}) as r:
                        assert r.status == 403
                seen["metrics"] = await _metrics(http, metrics_port)
        finally:
            bot.terminate()
            await asyncio.to_thread(bot.wait, 30)

    run(database_url, scenario, start=False)
    raw = log_path.read_text().splitlines()
    lines = [json.loads(line) for line in raw]  # every line is one JSON object
    assert all(line["service"] == "kbju-bot" and line["version"] == buildinfo.version()
               and line["replica"] == "replica-a" for line in lines)

    handled = [line for line in lines if line["message"] == "update handled"]
    assert len(handled) == 4, raw[-20:]  # one per update the person sent
    ref = privacy.user_ref(USER_ID, LOG_SALT)
    by_update = defaultdict(list)
    for line in lines:
        if "update_id" in line:
            by_update[line["update_id"]].append(line)
    assert sorted(by_update) == sorted(line["update_id"] for line in handled)
    for line in handled:
        assert line["user"] == ref and line["outcome"] == "ok" and line["duration_ms"] >= 0
        assert line["flow"] and line["step"], line
        # every earlier line of the same update carries the same update and person
        assert all(other["user"] == ref for other in by_update[line["update_id"]])
        debug = [other for other in by_update[line["update_id"]] if other["level"] == "DEBUG"]
        assert debug and all((d["flow"], d["step"]) == (line["flow"], line["step"]) for d in debug), debug
    assert [(line["flow"], line["step"]) for line in handled][2:] == [("survey", "full_name"),
                                                                        ("survey", "birth_date")]
    assert str(USER_ID) not in log_path.read_text() and "Контекстова" not in log_path.read_text()
    # What the dashboards' log panels filter on is in these lines.
    used = {field for expr in dashboard_logql().values() for field in logql_fields(expr)}
    assert used and all(used <= set(line) for line in handled)

    rejected = [line for line in lines if line["message"] == "webhook request rejected"]
    assert [(r["source"], r["status"], r["reason"], r["count"]) for r in rejected] == [("127.0.0.1", 403,
                                                                                         "forbidden", 1)]
    text = seen["metrics"]
    assert 'kbju_webhook_rejected_requests_total{reason="forbidden"} 3.0' in text
    assert "kbju_oldest_unhandled_update_age_seconds 0.0" in text  # nothing was waiting then
    # getWebhookInfo, asked at start (the person's first message may have been waiting then), no
    # delivery failed.
    gauges = {line.split(" ")[0]: float(line.split(" ")[1]) for line in text.splitlines()
              if line.startswith("kbju_telegram_")}
    assert gauges["kbju_telegram_pending_updates"] in (0, 1)
    assert gauges["kbju_telegram_webhook_last_error_timestamp_seconds"] == 0
    assert gauges["kbju_telegram_webhook_info_success_timestamp_seconds"] > 0
    # A latency sample links to its update's log lines: the histogram's exemplars name the update.
    exemplars = [line for line in text.splitlines()
                 if line.startswith("kbju_update_handling_seconds_bucket") and '# {update_id="' in line]
    assert exemplars
    ids = {int(line.split('# {update_id="')[1].split('"')[0]) for line in exemplars}
    assert ids <= set(by_update)


def _kbjuctl(*args: str, **env: str) -> subprocess.CompletedProcess:
    return subprocess.run([sys.executable, "-m", "kbjuctl", *args], cwd=ROOT, env=kbjuctl_env(**env),
                          capture_output=True, text=True, timeout=120, check=False)


def test_kbjuctl_logs_its_outcome_and_its_error_as_json_without_the_password(tmp_path):
    ok = _kbjuctl("--log-format", "json", "dev", "make-sqlite", str(tmp_path / "old.sqlite"), "--users", "5",
                  "--no-edge-cases")
    assert ok.returncode == 0, ok.stderr
    [done] = [json.loads(line) for line in ok.stderr.splitlines() if line.startswith("{")]
    assert (done["service"], done["command"], done["outcome"], done["exit_code"]) == ("kbjuctl", "dev make-sqlite",
                                                                                       "ok", 0)

    failed = _kbjuctl("db", "status", LOG_FORMAT="json",
                      DATABASE_URL="postgresql://kbju:hunter2-secret@127.0.0.1:1/kbju?connect_timeout=2")
    assert failed.returncode != 0
    lines = [json.loads(line) for line in failed.stderr.splitlines()]  # nothing but JSON on stderr
    last = lines[-1]
    assert (last["level"], last["command"], last["outcome"], last["exit_code"]) == ("ERROR", "db status", "failed",
                                                                                  failed.returncode)
    assert last["message"].startswith("Error:") and "hunter2" not in failed.stderr + failed.stdout

    text = _kbjuctl("db", "status", DATABASE_URL="postgresql://kbju:hunter2-secret@127.0.0.1:1/kbju")
    assert text.stderr.lstrip().startswith("Error:")  # without it, the message for a person as before

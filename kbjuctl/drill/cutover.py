"""The cutover drill (`kbjuctl drill cutover`): the switch from the old bot to PROD, as the runbook
in docs/operations.md says it, while people keep writing.

  1. The old bot (kbjuctl.drill.oldbot: the DEV schema's SQLite file, long polling, surveys kept
     in memory) serves people: some register, some stop mid-survey, a registered one starts new
     measurements.
  2. Stop the old bot (SIGTERM). From here no bot fetches updates: people keep writing and the Bot
     API stand-in keeps their updates, as Telegram does for 24 hours.
  3. `kbjuctl migrate-from-sqlite` of the old bot's file into PROD's database.
  4. Start PROD (`kbjuctl run --webhook`); at start it sets the webhook, and the queue flows in.
  5. Verify: every queued update answered, the webhook's state (`kbjuctl webhook info`), the replies.

A person whose survey the old bot kept in memory gets a sensible answer, never an error: typed
answers to a question PROD never asked get "please /start first" (not registered) or the menu
(registered, imported from the file); a press of an old bot's button gets "this button is
outdated". Downtime: from the old bot's stop to PROD's first reply.
"""

from __future__ import annotations

import asyncio
import os
import re
import secrets
import signal
import subprocess
import sys
import time
from collections.abc import Callable
from dataclasses import dataclass, field
from pathlib import Path

from bot.domain import choices, texts
from kbjuctl import gittree, migrations, webhook_status
from kbjuctl.drill import oldbot
from kbjuctl.drill.report import DrillReport
from kbjuctl.drill.services import Database, Standin
from kbjuctl.errors import BadInput
from kbjuctl.loadtest import procs
from kbjuctl.loadtest.service import count_tracebacks
from kbjuctl.loadtest.stack import WEBHOOK_PATH, bot_token
from tgstandin.client import Person, StandinClient

Progress = Callable[[str], None]
KINDS = ("measuring", "mid_survey_typing", "mid_survey_pressing", "just_registered", "newcomer")
ID_BASE = 7_100_000_000


@dataclass
class CutoverPlan:
    report_dir: Path
    people: int = 40          # spread over KINDS
    offline_s: float = 0.0    # the operator's own time between the stop and PROD's start, besides the migration

    def validate(self) -> CutoverPlan:
        if self.people < len(KINDS):
            raise BadInput(f"--people: at least {len(KINDS)} (one of each kind).")
        if self.offline_s < 0:
            raise BadInput("--offline: not negative.")
        return self


@dataclass
class Someone:
    """One person of the drill: what they did in the old bot, what they send while no bot runs,
    and how PROD must answer it."""

    user_id: int
    kind: str
    person: Person | None = None
    queued: int = 0                     # updates sent while no bot ran
    replies: list[dict] = field(default_factory=list)   # PROD's events in the chat


def _plain(text: str) -> str:
    return " ".join(re.sub(r"<[^>]+>", "", text).split())


def run(plan: CutoverPlan, progress: Progress | None = None) -> DrillReport:
    plan.validate()
    say = progress or (lambda _message: None)
    report_dir, log_dir = plan.report_dir, plan.report_dir / "logs"
    log_dir.mkdir(parents=True, exist_ok=True)
    report = DrillReport("cutover from the old bot")
    people = [Someone(ID_BASE + i, KINDS[i % len(KINDS)]) for i in range(plan.people)]
    sqlite = report_dir / "kbju_bot.db"
    sqlite.unlink(missing_ok=True)
    oldbot.create(sqlite)
    oldbot.seed(sqlite, [p.user_id for p in people if p.kind == "measuring"])
    token, secret = bot_token(), secrets.token_urlsafe(24)
    database = Database.create("kbju_drill_cutover")
    standin: Standin | None = None
    old: procs.Child | None = None
    prod: procs.Child | None = None
    figures: dict = {}
    try:
        migrations.upgrade(database.url)  # PROD's schema is in place before the day (docs/operations.md)
        standin = Standin.start(log_dir)
        env = {"BOT_TOKEN": token, "TELEGRAM_API_URL": standin.url}
        old = procs.start("oldbot", [sys.executable, "-m", "kbjuctl.drill.oldbot", str(sqlite)], log_dir, env=env)
        say(f"The old bot serves {plan.people} people")
        asyncio.run(_before(standin.url, token, people))

        say("1. Stopping the old bot")
        stopped = time.time()
        old.process.send_signal(signal.SIGTERM)
        old_code = old.process.wait(30)
        say("   People keep writing; the Bot API keeps their updates")
        asyncio.run(_while_down(standin.url, token, people))
        queued = sum(p.queued for p in people)
        held_before = standin.stats()["updates"]["pending"]
        time.sleep(plan.offline_s)

        say("2. kbjuctl migrate-from-sqlite")
        migrate_started = time.monotonic()
        migrated = subprocess.run([sys.executable, "-m", "kbjuctl", "migrate-from-sqlite", str(sqlite), "--report",
                                   str(report_dir / "migration.json")],
                                  env={**os.environ, "DATABASE_URL": database.url}, capture_output=True, text=True,
                                  timeout=600, check=False, cwd=log_dir)
        (log_dir / "migrate-from-sqlite.log").write_text(migrated.stdout + migrated.stderr)
        migrate_s = time.monotonic() - migrate_started
        held_after = standin.stats()["updates"]["pending"]

        say("3. Starting PROD (it sets the webhook)")
        port = procs.free_port()
        prod_started = time.monotonic()
        prod = procs.start("prod", [sys.executable, "-m", "kbjuctl", "run", "--webhook"], log_dir, cwd=log_dir, env={
            **env, "DATABASE_URL": database.url, "WEBHOOK_URL": f"http://127.0.0.1:{port}{WEBHOOK_PATH}",
            "WEBHOOK_SECRET": secret, "WEBHOOK_LISTEN": "127.0.0.1", "WEBHOOK_PORT": str(port),
            "WEBHOOK_PATH": WEBHOOK_PATH, "METRICS_PORT": "0", "DB_AUTO_MIGRATE": "false",
            "PYTHONPATH": str(gittree.PROJECT_ROOT)})
        procs.wait_http(f"http://127.0.0.1:{port}/healthz", prod, timeout_s=90)
        ready_s = time.monotonic() - prod_started

        say("4. Verifying: every queued update answered, the webhook's state")
        first_reply = asyncio.run(_after(standin.url, token, people, stopped))
        info = webhook_status.wait_until_delivered(standin.url, token, timeout_s=30)
        figures.update(old_bot_exit=old_code, queued=queued, held_before_migration=held_before,
                       held_after_migration=held_after, migrate_exit=migrated.returncode, migrate_s=round(migrate_s, 2),
                       prod_ready_s=round(ready_s, 2), webhook=info, webhook_deliveries=standin.webhook())
    finally:
        for child in (old, prod):
            if child is not None:
                figures.setdefault("exit_codes", {})[child.name] = child.stop(timeout_s=30)
        if standin is not None:
            standin.stop()
        database.drop()
    _judge(report, people, figures, stopped, first_reply, [log_dir / "prod.log"], sqlite)
    report.write(report_dir / "summary.json")
    return report


async def _before(url: str, token: str, people: list[Someone]) -> None:
    """What everyone did while the old bot ran (each waits for its answers)."""
    async with StandinClient(url, token=token) as client:
        async def one(p: Someone) -> None:
            p.person = client.person(p.user_id, "Вера" if p.user_id % 2 else "Олег", username=f"u{p.user_id}")
            if p.kind == "newcomer":
                return
            if p.kind == "measuring":  # registered in the old bot's file; starts new measurements
                await p.person.say("/start")
                await p.person.press("new_measurement", expect=1)
                return
            await p.person.say("/start")
            await p.person.say("Смирнова Ольга")
            await p.person.say("01.02.1993")
            if p.kind == "mid_survey_pressing":
                return  # the old bot asked for the sex, with its buttons
            await p.person.press("sex_female")
            if p.kind == "mid_survey_typing":
                return  # the old bot asked for the height
            for answer in ("168", "64.5"):
                await p.person.say(answer)
            await p.person.press("steps_5000_8000")
            for answer in ("74", "33"):
                await p.person.say(answer, expect=2 if answer == "33" else 1)

        await asyncio.gather(*(one(p) for p in people))


async def _while_down(url: str, token: str, people: list[Someone]) -> None:
    """What everyone sends while no bot runs: nobody answers, the updates wait."""
    async with StandinClient(url, token=token) as client:
        for p in people:
            p.person.client = client
            if p.kind == "measuring":
                await client.send(p.user_id, "85", **p.person.profile)    # the waist the old bot asked for
            elif p.kind == "mid_survey_typing":
                await client.send(p.user_id, "168", **p.person.profile)   # the height the old bot asked for
            elif p.kind == "mid_survey_pressing":
                await p.person.sync()
                message_id = p.person.last_message()["message_id"]
                await client.press(p.user_id, message_id, "sex_female")  # the old bot's button
            elif p.kind == "just_registered":
                await client.send(p.user_id, "/menu", **p.person.profile)
            else:
                await client.send(p.user_id, "/start", **p.person.profile)
            p.queued += 1


async def _after(url: str, token: str, people: list[Someone], stopped: float, timeout_s: float = 60.0) -> float | None:
    """Wait for PROD's answer in every chat; returns the wall time of its first reply, if any."""
    async with StandinClient(url, token=token) as client:
        async def one(p: Someone) -> None:
            p.person.client = client
            wanted = 0 if p.kind == "mid_survey_pressing" else 1
            deadline = time.monotonic() + timeout_s
            while time.monotonic() < deadline:
                p.replies.extend(e for e in await p.person.sync() if e["wall"] >= stopped)
                messages = [e for e in p.replies if e["kind"] == "message"]
                answered = any(e["kind"] == "callback_answer" for e in p.replies)
                if len(messages) >= wanted and (wanted or answered):
                    await asyncio.sleep(0.5)  # anything else PROD sends for it
                    p.replies.extend(e for e in await p.person.sync() if e["wall"] >= stopped)
                    return
                await asyncio.sleep(0.1)

        await asyncio.gather(*(one(p) for p in people))
    walls = [e["wall"] for p in people for e in p.replies if e["kind"] in ("message", "callback_answer")]
    return min(walls, default=None)


def _texts(p: Someone) -> list[str]:
    return [_plain(e["message"].get("text") or e["message"].get("caption") or "") for e in p.replies
            if e["kind"] == "message"]


def _has_button(p: Someone, data: str) -> bool:
    return any(b.get("callback_data") == data for e in p.replies if e["kind"] == "message"
               for row in (e["message"].get("reply_markup") or {}).get("inline_keyboard", []) for b in row)


def _judge(report: DrillReport, people: list[Someone], figures: dict, stopped: float, first_reply: float | None,
           logs: list[Path], sqlite: Path) -> None:
    bad = {_plain(texts.GENERIC_ERROR), _plain(texts.DB_UNAVAILABLE)}
    menu = choices.build_menu(choices.MENU_PROGRESS)
    expectations: dict[str, tuple[str, Callable[[Someone], bool]]] = {
        "measuring": ("an imported person's stray number gets the menu",
                      lambda p: _plain(texts.UNKNOWN_TEXT) in _texts(p) and _has_button(p, menu)),
        "mid_survey_typing": ("an answer to a question PROD never asked gets 'please /start first'",
                              lambda p: _plain(texts.REGISTER_FIRST) in _texts(p)),
        "mid_survey_pressing": ("a press of an old bot's button gets 'this button is outdated'",
                                lambda p: any(e["kind"] == "callback_answer" and e.get("text") == texts.OUTDATED_BUTTON
                                              for e in p.replies)),
        "just_registered": ("someone who registered in the old bot just before gets the menu",
                            lambda p: _has_button(p, menu)),
        "newcomer": ("someone new gets the welcome", lambda p: _has_button(p, choices.build_start())),
    }
    downtime = None if first_reply is None else first_reply - stopped
    figures.update(downtime_s=None if downtime is None else round(downtime, 2),
                   people={kind: sum(p.kind == kind for p in people) for kind in KINDS},
                   replies={p.kind: _texts(p) for p in people})
    report.figures.update(figures)
    report.headline = (f"downtime {downtime:.1f} s (old bot stopped -> PROD's first reply): migration "
                       f"{figures.get('migrate_s', 0):.1f} s, PROD ready in {figures.get('prod_ready_s', 0):.1f} s; "
                       f"{figures.get('queued', 0)} updates queued meanwhile" if downtime is not None else
                       "PROD never replied")

    queued = figures.get("queued", 0)
    report.check("the old bot stopped cleanly", figures.get("old_bot_exit") == 0, f"exit {figures.get('old_bot_exit')}")
    report.check("the Bot API kept every update while no bot ran",
                 figures.get("held_before_migration") == queued == figures.get("held_after_migration"),
                 f"{queued} sent, {figures.get('held_before_migration')} held after the stop, "
                 f"{figures.get('held_after_migration')} after the migration")
    report.check("migrate-from-sqlite verified the old bot's data", figures.get("migrate_exit") == 0,
                 f"exit {figures.get('migrate_exit')} ({sqlite.name})")
    unanswered = [p.user_id for p in people if not p.replies]
    report.check("PROD answered every queued update", not unanswered,
                 f"{len(people) - len(unanswered)} of {len(people)} people answered"
                 + (f"; no answer for {unanswered[:5]}" if unanswered else ""))
    errors = [p.user_id for p in people if bad & set(_texts(p))]
    report.check("no error reply", not errors, f"{len(errors)} people got an apology or 'try again'")
    for kind, (name, ok) in expectations.items():
        wrong = [p for p in people if p.kind == kind and not ok(p)]
        report.check(name, not wrong, "every one" if not wrong else
                     f"{len(wrong)} did not, e.g. {wrong[0].user_id}: {_texts(wrong[0])[:2]}")
    info = figures.get("webhook") or {}
    deliveries = figures.get("webhook_deliveries") or {}
    report.check("the webhook is set and drained (kbjuctl webhook info)",
                 bool(info.get("url")) and info.get("pending_update_count") == 0 and not info.get("last_error_message"),
                 f"url {'set' if info.get('url') else 'missing'}, {info.get('pending_update_count')} pending, "
                 f"last error: {info.get('last_error_message') or 'none'}")
    report.check("nothing the old bot answered was delivered again", deliveries.get("successes") == queued,
                 f"{deliveries.get('successes')} deliveries to PROD for {queued} queued updates")
    tracebacks, _ = count_tracebacks(logs)
    report.check("no traceback in PROD's log", not sum(tracebacks.values()), f"{sum(tracebacks.values())} tracebacks")


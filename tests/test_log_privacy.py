"""No personal data in the bot's log at any level, DEBUG included: a whole survey, a measurement, food
preferences and the menu go through the real bot (`kbjuctl run`, LOG_LEVEL=DEBUG), and the log is
searched for every value entered and every name, and for the person's Telegram id, which may only
appear as its salted hash (bot.privacy.user_ref)."""

from __future__ import annotations

import asyncio
import re
import subprocess

import pytest

from bot import privacy
from tests.helpers.bot_harness import TOKEN, free_port, kbjuctl_env, run, start_kbjuctl, texts

USER_ID = 7310042919
PROFILE = {"first_name": "Зинаида", "last_name": "Приватова", "username": "zina_privacy_probe"}
ANSWERS = {"full_name": "Приватова Зинаида", "birth_date": "13.07.1987", "sex": "female", "height": "173",
           "weight": "71,9", "steps": "5000-8000", "sport": "yoga", "freq": "1-2", "waist": "83,3", "neck": "31,7",
           "hip": "97,7", "goal": "athletic"}
MEASURED = {"waist": "82,6", "neck": "31,3", "hip": "96,4", "weight": "70,4"}
FOOD = {"likes": "щавелевый суп с крапивой", "dislikes": "пастернак жареный"}
LOG_SALT = "test-log-salt-0123456789"


def _needles() -> list[str]:
    values = [*PROFILE.values(), *ANSWERS["full_name"].split(), ANSWERS["birth_date"], "1987-07-13",
              "13.07.87", *FOOD.values(), *(w for v in FOOD.values() for w in v.split() if len(w) > 4), str(USER_ID)]
    for number in [ANSWERS[k] for k in ("weight", "waist", "neck", "hip")] + list(MEASURED.values()):
        values += [number, number.replace(",", ".")]
    return values


async def _drive(h, person) -> None:
    await person.say("/start")
    await person.press("start:v1")
    for step in ("full_name", "birth_date", "sex", "height", "weight", "steps", "sport", "freq", "waist", "neck",
                 "hip", "goal"):
        if step in ("sex", "steps", "sport", "freq", "goal"):
            events = await person.press(f"s:v1:{step}:{ANSWERS[step]}", expect=2 if step == "goal" else 1)
        else:
            events = await person.say(ANSWERS[step])
    assert any("ккал" in text for text in texts(events)), texts(events)
    await person.say("/menu")
    await person.press("m:v1:measure")
    for step in ("waist", "neck", "hip", "weight"):
        await person.say(MEASURED[step])
    for step in ("steps", "sport", "freq"):
        events = await person.press(f"s:v1:{step}:{ANSWERS[step]}", expect=2 if step == "freq" else 1)
    await person.say("/menu")
    await person.press("m:v1:food")
    await person.say(FOOD["likes"])
    await person.say(FOOD["dislikes"])
    await person.say("/menu")
    await person.press("m:v1:data")
    await person.say("/data")
    await person.say("/menu")
    await person.press("m:v1:progress")


@pytest.mark.parametrize("mode", ["polling-httpx", "webhook-aiohttp"])
def test_a_whole_survey_at_debug_leaves_no_personal_data_in_the_log(database_url, tmp_path, mode):
    log_path = tmp_path / "bot.log"

    async def scenario(h):
        env = kbjuctl_env(BOT_TOKEN=TOKEN, DATABASE_URL=database_url, TELEGRAM_API_URL=h.url, METRICS_PORT="0",
                          LOG_LEVEL="DEBUG", LOG_SALT=LOG_SALT, BOT_HTTP_BACKEND=mode.split("-")[1])
        args = ["run"]
        if mode.startswith("webhook"):
            port = free_port()
            env.update(WEBHOOK_URL=f"http://127.0.0.1:{port}/telegram/webhook", WEBHOOK_SECRET="s3cret-value",
                       WEBHOOK_LISTEN="127.0.0.1", WEBHOOK_PORT=str(port))
            args.append("--webhook")
        with log_path.open("wb") as out:
            bot = start_kbjuctl(args, env, stdout=out, stderr=subprocess.STDOUT)
        try:
            person = h.client.person(USER_ID, PROFILE["first_name"], PROFILE["username"],
                                     last_name=PROFILE["last_name"])
            await _drive(h, person)
        finally:
            bot.terminate()
            await asyncio.to_thread(bot.wait, 30)

    run(database_url, scenario, start=False)
    log = log_path.read_text(errors="replace")
    assert len(re.findall(r" DEBUG ", log)) > 20, log[-3000:]  # DEBUG really was on
    # Every update's last line says how it ended, with the person's ref.
    assert len(re.findall(r" update handled \[update_id=\d+ user=u[0-9a-f]{12} ", log)) > 20, log[-3000:]
    # The program's own figures are not the person's: a timestamp "09:12:31,312" or a duration
    # "duration_ms=31.3" would match a measurement's "31,3".
    log = re.sub(r"^\d{4}-\d\d-\d\d \d\d:\d\d:\d\d,\d{3} |duration_ms=[\d.]+", "", log, flags=re.MULTILINE)
    found = [needle for needle in _needles() if needle in log]
    assert found == [], [line for line in log.splitlines() if any(n in line for n in found)][:20]
    # The person is still traceable across lines, by the salted hash of their id only.
    assert privacy.user_ref(USER_ID, LOG_SALT) in log


@pytest.mark.parametrize("fmt", ["text", "json"])
def test_values_quoted_by_exceptions_and_other_libraries_debug_lines_are_withheld(fmt):
    import io
    import logging

    from bot import logging as bot_logging

    stream = io.StringIO()
    root = logging.getLogger()
    saved = root.handlers[:], root.level
    root.handlers[:] = []
    try:
        bot_logging.setup("DEBUG", fmt, stream=stream)
        error = ValueError("invalid input for query argument $2: 'Зинаида' (invalid byte sequence)")
        try:
            raise error
        except ValueError:
            logging.getLogger("bot.runtime").error("update 1 failed", exc_info=True)
        logging.getLogger("bot.jobs").warning("funnel job 5 failed: %s", error)
        logging.getLogger("telegram.ext.ExtBot").debug("Calling sendMessage with {'text': 'Зинаида'}")
        logging.getLogger("somelib").debug("payload Зинаида")
        logging.getLogger("bot.transport").debug("own debug line for %s", privacy.user_ref(USER_ID))
    finally:
        for handler in root.handlers:
            handler.close()
        root.handlers[:], level = saved
        root.setLevel(level)
    text = stream.getvalue()
    assert "Зинаида" not in text, text
    assert "invalid input for query argument $2: '…'" in text and "ValueError" in text and "Traceback" in text
    assert "own debug line for u" in text

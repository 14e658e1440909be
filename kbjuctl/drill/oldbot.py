"""A stand-in for the old (DEV) bot in the cutover drill: its SQLite file and its polling process.

The file has the DEV schema exactly as SQLAlchemy 1.4 created it (the text `sqlite3 kbju_bot.db
.schema` prints; `kbjuctl migrate-from-sqlite` checks it) and registered people whose values are
spelled as the DEV bot wrote them. The process plays the DEV bot's outside: it long-polls
getUpdates (confirming each batch with the next call, as aiogram 2 does), keeps every survey in
memory, writes a person to the file when their survey ends, and asks its questions with buttons
whose callback data is the DEV bot's own (`sex_male`, `steps_10000_plus`). A shortened survey:
the drill needs its shape, not every question.

    python -m kbjuctl.drill.oldbot FILE      # BOT_TOKEN and TELEGRAM_API_URL from the environment
"""

from __future__ import annotations

import asyncio
import json
import math
import os
import signal
import sqlite3
import sys
from datetime import UTC, datetime, timedelta
from pathlib import Path

DEV_SCHEMA = """CREATE TABLE users (
\ttelegram_id INTEGER NOT NULL, 
\tusername VARCHAR, 
\tfirst_name VARCHAR, 
\tlast_name VARCHAR, 
\tsex VARCHAR, 
\tdate_of_birth DATE, 
\tcreated_at DATETIME, 
\tPRIMARY KEY (telegram_id)
);
CREATE INDEX ix_users_telegram_id ON users (telegram_id);
CREATE TABLE user_records (
\tid INTEGER NOT NULL, 
\ttelegram_id INTEGER, 
\tdate DATE, 
\tweight FLOAT, 
\twaist FLOAT, 
\tneck FLOAT, 
\thip FLOAT, 
\theight INTEGER, 
\tgoal VARCHAR, 
\tsteps VARCHAR, 
\tsport_type VARCHAR, 
\tsport_freq VARCHAR, 
\tstep_multiplier FLOAT, 
\tbodyfat FLOAT, 
\tPRIMARY KEY (id), 
\tFOREIGN KEY(telegram_id) REFERENCES users (telegram_id)
);
CREATE INDEX ix_user_records_id ON user_records (id);
CREATE TABLE user_food_preferences (
\tid INTEGER NOT NULL, 
\ttelegram_id INTEGER, 
\tlikes_raw TEXT, 
\tdislikes_raw TEXT, 
\tcreated_at DATETIME, 
\tPRIMARY KEY (id), 
\tFOREIGN KEY(telegram_id) REFERENCES users (telegram_id)
);
CREATE INDEX ix_user_food_preferences_id ON user_food_preferences (id);
"""  # noqa: W291 - SQLAlchemy ends each column line with ", ", and the text must be exactly its

INSERT_USER = ("INSERT INTO users (telegram_id, username, first_name, last_name, sex, date_of_birth, created_at) "
               "VALUES (?, ?, ?, ?, ?, ?, ?)")
INSERT_RECORD = ("INSERT INTO user_records (telegram_id, date, weight, waist, neck, hip, height, goal, steps, "
                 "sport_type, sport_freq, step_multiplier, bodyfat) VALUES (?, ?, ?, ?, ?, ?, ?, ?, ?, ?, ?, ?, ?)")
STEP_MULTIPLIER = {"0-3000": 1.1, "3000-5000": 1.2, "5000-8000": 1.3, "8000-10000": 1.4, "10000-plus": 1.1}


def dev_body_fat(sex: str, height: float, waist: float, neck: float, hip: float | None) -> float:
    """The DEV bot's US Navy formula (inch constants on centimetres), clamped and rounded as it did."""
    if sex == "male":
        value = 86.010 * math.log10(waist - neck) - 70.041 * math.log10(height) + 36.76
    else:
        value = 163.205 * math.log10(waist + (hip or 0) - neck) - 97.684 * math.log10(height) - 78.387
    return round(min(100.0, max(0.0, value)), 1)


def _created_at(moment: datetime) -> str:
    return moment.astimezone(UTC).strftime("%Y-%m-%d %H:%M:%S.%f")


def create(path: Path) -> None:
    """An empty DEV database (rollback-journal mode, as the DEV bot left it)."""
    with sqlite3.connect(path) as conn:
        conn.executescript(DEV_SCHEMA)


def register(conn: sqlite3.Connection, telegram_id: int, answers: dict, when: datetime) -> None:
    """What the DEV bot wrote at the end of its survey: the user, then the survey's record."""
    last, _, first = answers["name"].partition(" ")
    conn.execute(INSERT_USER, (telegram_id, answers.get("username"), first, last, answers["sex"],
                               answers["birth"], _created_at(when)))
    hip = answers.get("hip")
    conn.execute(INSERT_RECORD, (
        telegram_id, when.date().isoformat(), float(answers["weight"]), float(answers["waist"]),
        float(answers["neck"]), hip, int(answers["height"]), "healthy", answers["steps"], "walking", "3",
        STEP_MULTIPLIER[answers["steps"]],
        dev_body_fat(answers["sex"], int(answers["height"]), float(answers["waist"]), float(answers["neck"]), hip)))


def seed(path: Path, ids: list[int]) -> None:
    """Registered people with two records each, weeks apart (a man, then a woman, alternately)."""
    today = datetime.now(UTC)
    with sqlite3.connect(path) as conn:
        for index, telegram_id in enumerate(ids):
            female = index % 2 == 1
            answers = {"name": f"{'Петрова Анна' if female else 'Иванов Иван'}", "username": f"dev{telegram_id}",
                       "sex": "female" if female else "male", "birth": "1990-05-01", "height": 165 if female else 180,
                       "weight": 62.5 if female else 84.0, "waist": 72.0 if female else 92.0,
                       "neck": 32.0 if female else 40.0, "hip": 98.0 if female else None, "steps": "5000-8000"}
            register(conn, telegram_id, answers, today - timedelta(days=40))
            later = {**answers, "weight": answers["weight"] - 1.5}
            hip = later["hip"]
            conn.execute(INSERT_RECORD, (
                telegram_id, (today - timedelta(days=10)).date().isoformat(), later["weight"], later["waist"],
                later["neck"], hip, later["height"], "healthy", later["steps"], "walking", "3", 1.3,
                dev_body_fat(later["sex"], later["height"], later["waist"], later["neck"], hip)))


# -- the process -----------------------------------------------------------------------------------------

QUESTIONS = {  # step -> (question, its buttons as (label, DEV callback data), next step)
    "name": ("Введите фамилию и имя:", None, "birth"),
    "birth": ("Дата рождения (ДД.ММ.ГГГГ):", None, "sex"),
    "sex": ("Ваш пол:", [("Мужской", "sex_male"), ("Женский", "sex_female")], "height"),
    "height": ("Ваш рост в сантиметрах:", None, "weight"),
    "weight": ("Ваш вес в килограммах:", None, "steps"),
    "steps": ("Сколько шагов в день вы проходите?", [("до 3000", "steps_0_3000"), ("3000–5000", "steps_3000_5000"),
                                                       ("5000–8000", "steps_5000_8000"),
                                                       ("8000–10000", "steps_8000_10000"),
                                                       ("больше 10000", "steps_10000_plus")], "waist"),
    "waist": ("Обхват талии, см:", None, "neck"),
    "neck": ("Обхват шеи, см:", None, None),
}
DONE = "Готово! Ваши данные сохранены."
MENU = ("Главное меню:", [("📏 Новые замеры", "new_measurement"), ("📈 Прогресс", "progress")])
MEASURE = "Введите обхват талии, см:"


class OldBot:
    def __init__(self, api: str, token: str, db_path: Path) -> None:
        self.base = f"{api}/bot{token}"
        self.db_path = db_path
        self.steps: dict[int, str] = {}          # chat -> the step it is at (kept in memory only)
        self.answers: dict[int, dict] = {}
        self.stopping = asyncio.Event()

    async def call(self, http, method: str, **params) -> object:
        async with http.post(f"{self.base}/{method}", json=params) as response:
            data = await response.json()
        if not data.get("ok"):
            raise RuntimeError(f"{method}: {data.get('description')}")
        return data["result"]

    async def ask(self, http, chat: int, step: str) -> None:
        text, buttons, _ = QUESTIONS[step]
        markup = {"inline_keyboard": [[{"text": label, "callback_data": data}] for label, data in buttons]} \
            if buttons else None
        await self.call(http, "sendMessage", chat_id=chat, text=text,
                        **({"reply_markup": markup} if markup else {}))

    def registered(self, telegram_id: int) -> bool:
        with sqlite3.connect(self.db_path) as conn:
            return conn.execute("SELECT 1 FROM users WHERE telegram_id = ?", (telegram_id,)).fetchone() is not None

    async def handle(self, http, update: dict) -> None:
        if "callback_query" in update:
            query = update["callback_query"]
            chat = query["message"]["chat"]["id"]
            await self.call(http, "answerCallbackQuery", callback_query_id=query["id"])
            data = query.get("data") or ""
            if data == "new_measurement":
                self.steps[chat] = "measure"
                await self.call(http, "sendMessage", chat_id=chat, text=MEASURE)
            elif self.steps.get(chat) in ("sex", "steps") and data.startswith(self.steps[chat] + "_"):
                value = data.removeprefix(self.steps[chat] + "_")
                value = value.replace("_plus", "-plus").replace("_", "-") if self.steps[chat] == "steps" else value
                await self.answer(http, chat, value, query["from"])
            return
        message = update.get("message") or {}
        chat, text = message.get("chat", {}).get("id"), (message.get("text") or "").strip()
        if chat is None:
            return
        if text == "/start":
            if self.registered(chat):
                await self.menu(http, chat)
            else:
                self.steps[chat], self.answers[chat] = "name", {"username": message["from"].get("username")}
                await self.ask(http, chat, "name")
        elif self.steps.get(chat) in QUESTIONS and QUESTIONS[self.steps[chat]][1] is None:
            await self.answer(http, chat, text, message["from"])
        elif self.steps.get(chat) == "measure":
            self.steps.pop(chat)
            await self.menu(http, chat)
        else:
            await self.call(http, "sendMessage", chat_id=chat, text="Нажмите /start")

    async def answer(self, http, chat: int, value: str, sender: dict) -> None:
        step = self.steps[chat]
        if step == "birth":
            value = datetime.strptime(value, "%d.%m.%Y").date().isoformat()
        self.answers[chat][step] = value
        following = QUESTIONS[step][2]
        if following is not None:
            self.steps[chat] = following
            await self.ask(http, chat, following)
            return
        self.steps.pop(chat)
        with sqlite3.connect(self.db_path) as conn:
            register(conn, chat, self.answers.pop(chat), datetime.now(UTC))
        await self.call(http, "sendMessage", chat_id=chat, text=DONE)
        await self.menu(http, chat)

    async def menu(self, http, chat: int) -> None:
        text, buttons = MENU
        await self.call(http, "sendMessage", chat_id=chat, text=text,
                        reply_markup={"inline_keyboard": [[{"text": t, "callback_data": d}] for t, d in buttons]})

    async def poll(self) -> None:
        import aiohttp

        offset = 0
        async with aiohttp.ClientSession() as http:
            while not self.stopping.is_set():
                poll = asyncio.create_task(self.call(http, "getUpdates", offset=offset, timeout=10))
                stop = asyncio.create_task(self.stopping.wait())
                await asyncio.wait({poll, stop}, return_when=asyncio.FIRST_COMPLETED)
                if not poll.done():  # stopped while waiting: what that poll would bring stays at Telegram
                    poll.cancel()
                    break
                stop.cancel()
                for update in poll.result():
                    offset = update["update_id"] + 1
                    await self.handle(http, update)
            if offset:  # confirm the last batch before leaving, so it is not delivered again
                await self.call(http, "getUpdates", offset=offset, timeout=0)


def main(argv: list[str]) -> int:
    if len(argv) != 1:
        print(__doc__.strip().splitlines()[-1].strip(), file=sys.stderr)
        return 2
    bot = OldBot(os.environ["TELEGRAM_API_URL"], os.environ["BOT_TOKEN"], Path(argv[0]))

    async def run() -> None:
        loop = asyncio.get_running_loop()
        loop.add_signal_handler(signal.SIGTERM, bot.stopping.set)
        print(json.dumps({"old bot": "polling", "file": argv[0]}), flush=True)
        await bot.poll()
        print(json.dumps({"old bot": "stopped"}), flush=True)

    asyncio.run(run())
    return 0


if __name__ == "__main__":
    sys.exit(main(sys.argv[1:]))

"""Locust users that behave like the bot's people: each user is one person at a time, in their own chat.

    locust -f loadtests/locustfile.py -H http://127.0.0.1:8081 --headless -u 100 -r 10 -t 5m

Run by `kbjuctl loadtest`, which sets the environment below; run by hand, -H is the Bot API
stand-in that the bot under test talks to.
  LOADTEST_BOT_TOKEN       the bot at the stand-in (needed when it serves several)
  LOADTEST_ID_BASE         first Telegram id of this run (default: from the clock)
  LOADTEST_SEEDED          registered people seeded at ids BASE..BASE+N-1 (0: register first)
  LOADTEST_SEED            random seed (the seeder uses the same one)
  LOADTEST_JOURNAL_DIR     where each process writes its journal (default ./loadtest-journal)
  LOADTEST_THINK           MIN,MAX seconds between a person's answers (default 3,15)
  LOADTEST_REPLY_TIMEOUT   seconds to wait for the bot's answer (default 30)
  LOADTEST_WORKERS         Locust worker processes (so ids do not collide between them)
  LOADTEST_DOUBLE_PRESS    share of new people who tap a button twice (default 0.15)
  LOADTEST_REMINDERS       answer (default): people answer the reminder offer; ignore: they leave it
"""

from __future__ import annotations

import itertools
import logging
import os
import random
import time
from pathlib import Path
from typing import ClassVar

import gevent
from locust import User, events, task

from loadtests.chat import Chat, ControlApi, NoReply, StepFailed
from loadtests.consistency import RUN_ENDED
from loadtests.journal import Journal, journal_path
from loadtests.journeys import STRAY, Journey
from loadtests.people import make_person
from loadtests.seed import seeded_person

SEEDED_BLOCK = 10**6
INCARNATIONS = 1000
log = logging.getLogger("loadtests")


def _env_float_pair(name: str, default: str) -> tuple[float, float]:
    low, high = (float(v) for v in os.environ.get(name, default).split(","))
    return low, high


class Settings:
    token = os.environ.get("LOADTEST_BOT_TOKEN") or None
    id_base = int(os.environ.get("LOADTEST_ID_BASE") or 10**15 + (int(time.time()) - 1_700_000_000) * 10**7)
    seeded = int(os.environ.get("LOADTEST_SEEDED", "0"))
    seed = int(os.environ.get("LOADTEST_SEED", "1"))
    journal_dir = Path(os.environ.get("LOADTEST_JOURNAL_DIR", "loadtest-journal"))
    think = _env_float_pair("LOADTEST_THINK", "3,15")
    reply_timeout_s = float(os.environ.get("LOADTEST_REPLY_TIMEOUT", "30"))
    workers = max(1, int(os.environ.get("LOADTEST_WORKERS", "1")))
    double_press = float(os.environ.get("LOADTEST_DOUBLE_PRESS", "0.15"))
    answer_reminders = os.environ.get("LOADTEST_REMINDERS", "answer") != "ignore"


class Shared:
    """Per process: one control API client, one journal, one slot counter (ids never collide
    between kinds of people, nor, with LOADTEST_WORKERS, between worker processes)."""

    api: ControlApi | None = None
    journal: Journal | None = None
    slots: ClassVar[itertools.count] = itertools.count()


@events.test_start.add_listener
def _open(environment, **_kwargs) -> None:
    if Shared.journal is None:
        role = "worker" if environment.runner is not None and type(environment.runner).__name__ == "WorkerRunner" \
            else "locust"
        Shared.journal = Journal(journal_path(Settings.journal_dir, role))


@events.quitting.add_listener
def _close(environment, **_kwargs) -> None:
    if STRAY:
        log.warning("%d bot messages came after their step was complete, e.g.: %s", len(STRAY),
                        " | ".join(STRAY[:10]))
    if Shared.journal is not None:
        Shared.journal.close()


def _api(host: str) -> ControlApi:
    if Shared.api is None:
        Shared.api = ControlApi(host, Settings.token, concurrency=10000)
    return Shared.api


class Person(User):
    """Base: a slot that is one person at a time; a person who gives up is followed by a new one."""

    abstract = True

    def on_start(self) -> None:
        runner = self.environment.runner
        worker = getattr(runner, "worker_index", 0) or 0
        self.slot = next(Shared.slots) * Settings.workers + worker
        self.incarnation = 0
        self.journey: Journey | None = None
        self.registered = False
        self.has_food = False

    def _fire(self, **kwargs) -> None:
        self.environment.events.request.fire(context={}, **kwargs)

    def _chat(self, person) -> Chat:
        profile = {"first_name": person.first_name.split()[0], "username": person.username}
        return Chat(_api(self.host), person.telegram_id, profile, self._fire, Settings.reply_timeout_s)

    def _new_person(self) -> None:
        """Someone who has never written to the bot."""
        telegram_id = Settings.id_base + SEEDED_BLOCK + self.slot * INCARNATIONS + self.incarnation % INCARNATIONS
        self.incarnation += 1
        rng = random.Random(f"{Settings.seed}:{telegram_id}")
        person = make_person(telegram_id, rng)
        self.journey = Journey(self._chat(person), Shared.journal, person, Settings.think,
                               double_press=rng.random() < Settings.double_press,
                               answer_reminders=Settings.answer_reminders)
        self.registered = self.has_food = False

    def _survey(self) -> bool:
        journey = self.journey
        rng = journey.rng
        steps = ["full_name", "birth_date", "sex", "height", "weight", "steps", "sport", "frequency", "waist",
                 "neck", "goal"]
        abandon_at = rng.choice(steps) if rng.random() < 0.1 else None
        invalid = set(rng.sample(steps, 2)) if rng.random() < 0.3 else set()
        self.registered = journey.survey(abandon_at, invalid)
        return self.registered

    def _menu_round(self) -> None:
        journey = self.journey
        rng = journey.rng
        journey.think()
        menu = journey.open_menu()
        journey.think()
        action = rng.choices(["data", "progress", "measure", "food", "goal", "consult"],
                             weights=[3, 3, 2, 1.5, 1, 0.5])[0]
        if action == "data":
            journey.my_data(menu)
        elif action == "progress":
            journey.progress(menu)
        elif action == "measure":
            journey.measure(menu)
        elif action == "food":
            journey.food(menu, self.has_food)
            self.has_food = True
        elif action == "goal":
            journey.goal(menu)
        else:
            journey.consult(menu)

    def _gave_up(self, exc: StepFailed) -> None:
        """The bot did not answer as expected: this person leaves; the slot's next person comes."""
        journey = self.journey
        if journey is not None:
            person = journey.person.telegram_id
            if not exc.reported:  # an answer not as expected: this step failed
                self._fire(request_type="step", name=journey.step_name or journey.flow, response_time=0,
                           response_length=0, exception=exc)
            if isinstance(exc, NoReply):
                Shared.journal.write(person, "unanswered", update_id=exc.update_id, flow=journey.flow,
                                     step=journey.step_name, then=journey.pending_then, error=str(exc))
            else:
                Shared.journal.write(person, "abandoned", flow=journey.flow, step=journey.step_name, error=str(exc))
        self.journey = None
        gevent.sleep(random.uniform(*Settings.think))

    def on_stop(self) -> None:
        """The run ends mid-conversation: say where the person was, so the check expects no idle chat."""
        journey = self.journey
        if journey is None or Shared.journal is None:
            return
        chat = journey.chat
        person = journey.person.telegram_id
        if chat.in_flight is not None:
            Shared.journal.write(person, "unanswered", update_id=chat.in_flight, flow=journey.flow,
                                 step=journey.step_name, then=journey.pending_then, error=RUN_ENDED)
        elif journey.flow:
            Shared.journal.write(person, "abandoned", flow=journey.flow, step=journey.step_name, error=RUN_ENDED)


class NewPerson(Person):
    """Finds the bot, does the survey (some type wrong answers first, some give up, some tap twice),
    looks around the menu a little, and leaves; then the next new person comes."""

    weight = 1

    @task
    def live(self) -> None:
        try:
            self._new_person()
            if self._survey():
                for _ in range(self.journey.rng.randint(0, 3)):
                    self._menu_round()
            self.journey = None
            gevent.sleep(random.uniform(*Settings.think))
        except StepFailed as exc:
            self._gave_up(exc)


class RegisteredPerson(Person):
    """Has used the bot for weeks (seeded history): enters measurements, opens progress, edits food,
    changes the goal, asks for their data, again and again."""

    weight = 2

    @task
    def live(self) -> None:
        try:
            if self.journey is None:
                if self.incarnation == 0 and self.slot < Settings.seeded:
                    telegram_id = Settings.id_base + self.slot
                    person, _records, food = seeded_person(telegram_id, Settings.seed)
                    self.incarnation = 1
                    self.journey = Journey(self._chat(person), Shared.journal, person, Settings.think,
                                           answer_reminders=Settings.answer_reminders)
                    self.registered, self.has_food = True, food is not None
                else:
                    self._new_person()
                    if not self._survey():
                        self.journey = None
                        return
            self._menu_round()
        except StepFailed as exc:
            self._gave_up(exc)

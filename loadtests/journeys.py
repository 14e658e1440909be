"""What the bot's people do, step by step: the survey, new measurements, progress, food, goal, data.

A journey drives one `Chat`; it knows which buttons a person presses (the exact callback data of
bot.domain.choices when that module has it, otherwise the button whose data names the choice)
and writes each confirmed result into the journal. Failures leave as exceptions: the Locust user
decides what the person does next.
"""

from __future__ import annotations

import re
from collections.abc import Callable

import gevent

from loadtests.chat import Answer, Chat, RetryAsked, StepFailed, buttons, message_with, new_messages
from loadtests.journal import Journal
from loadtests.people import DISLIKES, LIKES, Body, Person, body_fat, weight_text

MAX_RETRIES = 5
# What a menu action's or a choice's button data may be called (its ':'-separated parts).
ALIASES = {
    "my_data": ("my_data", "mydata", "data", "profile", "me"),
    "progress": ("progress", "chart"),
    "measure": ("measure", "measurements", "new_measurements", "record", "new"),
    "food": ("food", "food_prefs", "preferences"),
    "goal": ("goal",),
    "consult": ("consult", "consultation"),
    "edit": ("edit", "change"),
    "10000+": ("10000+", "10000-plus", "10000plus", "10000"),
}


def _parts(data: str) -> list[str]:
    return [p.lower() for p in re.split(r"[:|/]", data)]


def button_data(message: dict, code: str, group: str | None = None) -> str | None:
    """The callback data of the button on `message` that chooses `code` (in `group`, if given)."""
    names = ALIASES.get(code, (code,))
    for button in buttons(message):
        data = button.get("callback_data")
        if not data:
            continue
        parts = _parts(data)
        if any(name.lower() in parts for name in names) and (group is None or any(group in p for p in parts)):
            return data
    return None


def has_choice(code: str, group: str | None = None) -> Callable[[dict], bool]:
    return lambda message: button_data(message, code, group) is not None


def has_buttons(count: int = 1) -> Callable[[dict], bool]:
    return lambda message: len([b for b in buttons(message) if b.get("callback_data")]) >= count


def has_photo(message: dict) -> bool:
    return bool(message.get("photo"))


class Journey:
    """Shared machinery: think, step with retries on 'try again', remember the prompt on screen."""

    def __init__(self, chat: Chat, journal: Journal, person: Person, think: tuple[float, float],
                 double_press: bool = False) -> None:
        self.chat = chat
        self.journal = journal
        self.person = person
        self.think_s = think
        self.rng = person.rng
        self.double_press = double_press
        self.flow = ""
        self.step_name = ""
        self.pending_then: dict | None = None   # what the in-flight final step would write

    def think(self) -> None:
        low, high = self.think_s
        gevent.sleep(self.rng.uniform(low, high))

    def _retrying(self, name: str, act: Callable[[], Answer]) -> Answer:
        self.step_name = name
        for attempt in range(MAX_RETRIES + 1):
            try:
                return act()
            except RetryAsked:
                if attempt == MAX_RETRIES:
                    raise
                gevent.sleep(self.rng.uniform(1.0, 3.0))  # a person waits a moment and sends it again
        raise AssertionError("unreachable")

    def say(self, name: str, text: str, expect=None, valid: bool = True) -> Answer:
        expect = expect or new_messages(1)
        return self._retrying(f"{self.flow}:{name}", lambda: self.chat.step(
            f"{self.flow}:{name}", expect, text=text, valid=valid))

    def choose(self, name: str, prompt: Answer, code: str, expect=None, group: str | None = None) -> Answer:
        message = prompt.latest_with(has_choice(code, group))
        if message is None:
            raise StepFailed(f"{self.flow}:{name}: no button for {code!r} on screen")
        data = button_data(message, code, group)
        expect = expect or new_messages(1)

        def act() -> Answer:
            answer = self.chat.step(f"{self.flow}:{name}", expect, press=(message["message_id"], data))
            return answer

        if self.double_press and self.rng.random() < 0.3:
            self.chat.press_only(message["message_id"], data)  # an impatient second tap, a moment later
        return self._retrying(f"{self.flow}:{name}", act)

    # -- the registration survey -----------------------------------------------------------------
    def survey(self, abandon_at: str | None, invalid_steps: set[str]) -> bool:
        """The whole survey; False when the person abandoned it at `abandon_at`."""
        p = self.person
        self.flow = "survey"
        welcome = self.say("start", "/start", expect=message_with(has_buttons(1)))
        start_button = welcome.latest_with(has_buttons(1))
        self.think()
        first = buttons(start_button)[0]["callback_data"]
        self.step_name = "start_test"
        prompt = self._retrying("survey:start_test", lambda: self.chat.step(
            "survey:start_test", new_messages(1), press=(start_button["message_id"], first)))
        texts: list[tuple[str, str, Callable | None]] = [
            ("full_name", p.full_name, None),
            ("birth_date", p.birth_date.strftime("%d.%m.%Y"), message_with(has_choice("male"))),
        ]
        for name, value, expect in texts:
            if self._leave(abandon_at, name):
                return False
            prompt = self._text_step(name, value, expect, name in invalid_steps)
        if self._leave(abandon_at, "sex"):
            return False
        prompt = self.choose("sex", prompt, p.sex)
        for name, value, expect in [("height", str(p.height), None),
                                    ("weight", weight_text(p.body.weight, self.rng), message_with(has_choice(p.steps)))]:
            if self._leave(abandon_at, name):
                return False
            prompt = self._text_step(name, value, expect, name in invalid_steps)
        for name, code, nxt in [("steps", p.steps, message_with(has_choice(p.sport))),
                                ("sport", p.sport, message_with(has_choice(p.frequency))),
                                ("frequency", p.frequency, None)]:
            if self._leave(abandon_at, name):
                return False
            self.think()
            prompt = self.choose(name, prompt, code, expect=nxt)
        lengths = [("waist", p.body.waist), ("neck", p.body.neck)] + ([("hip", p.body.hip)] if p.sex == "female" else [])
        for index, (name, value) in enumerate(lengths):
            if self._leave(abandon_at, name):
                return False
            last = index == len(lengths) - 1
            prompt = self._text_step(name, f"{value:g}", message_with(has_choice(p.goal, "goal")) if last else None,
                                     name in invalid_steps)
        if self._leave(abandon_at, "goal"):
            return False
        self.think()
        self.pending_then = {"kind": "registered", "user": p.user_fact(), "record": p.record_fact()}
        self.choose("goal", prompt, p.goal, expect=new_messages(2), group="goal")
        self.journal.write(p.telegram_id, "registered", user=p.user_fact(), record=p.record_fact())
        self.pending_then = None
        self.flow = ""
        return True

    def _leave(self, abandon_at: str | None, step: str) -> bool:
        if abandon_at == step:
            self.journal.write(self.person.telegram_id, "abandoned", flow=self.flow, step=step)
            self.flow = ""
            return True
        return False

    def _text_step(self, name: str, value: str, expect, invalid_first: bool) -> Answer:
        self.think()
        if invalid_first and name in ("full_name", "birth_date", "height", "weight", "waist", "neck", "hip"):
            self.say(f"{name} (invalid)", self.person.invalid(name), valid=False)
            self.think()
        return self.say(name, value, expect)

    # -- the menu ------------------------------------------------------------------------------------
    def open_menu(self) -> dict:
        self.flow = "menu"
        answer = self.say("/menu", "/menu", expect=message_with(has_choice("progress")))
        return answer.latest_with(has_choice("progress"))

    def menu_action(self, menu: dict, action: str, expect=None) -> Answer:
        data = button_data(menu, action)
        if data is None:
            raise StepFailed(f"menu has no {action!r} button")
        self.step_name = action
        return self._retrying(f"menu:{action}", lambda: self.chat.step(
            f"menu:{action}", expect or new_messages(1), press=(menu["message_id"], data)))

    def my_data(self, menu: dict) -> None:
        self.menu_action(menu, "my_data")

    def progress(self, menu: dict) -> None:
        self.menu_action(menu, "progress", expect=message_with(has_photo))

    def consult(self, menu: dict) -> None:
        self.menu_action(menu, "consult")

    def measure(self, menu: dict) -> None:
        p = self.person
        prompt = self.menu_action(menu, "measure")
        self.flow = "measure"
        body = p.next_body()
        steps, sport, frequency = p.steps, p.sport, p.frequency
        if self.rng.random() < 0.3:
            from loadtests.people import FREQUENCIES, SPORTS, STEPS
            steps, sport, frequency = self.rng.choice(STEPS), self.rng.choice(SPORTS), self.rng.choice(FREQUENCIES)
        lengths = [("waist", body.waist), ("neck", body.neck)] + ([("hip", body.hip)] if p.sex == "female" else [])
        for name, value in lengths:
            prompt = self._text_step(name, f"{value:g}", None, self.rng.random() < 0.05)
        prompt = self._text_step("weight", weight_text(body.weight, self.rng), message_with(has_choice(steps)), False)
        record = {**p.record_fact(), "weight": body.weight, "waist": body.waist, "neck": body.neck, "hip": body.hip,
                  "steps": steps, "sport_type": sport, "sport_freq": frequency}
        self.think()
        prompt = self.choose("steps", prompt, steps, expect=message_with(has_choice(sport)))
        self.think()
        prompt = self.choose("sport", prompt, sport, expect=message_with(has_choice(frequency)))
        self.think()
        self.pending_then = {"kind": "measured", "record": record}
        self.choose("frequency", prompt, frequency)
        self.journal.write(p.telegram_id, "measured", record=record)
        self.pending_then = None
        p.body, p.steps, p.sport, p.frequency = Body(body.weight, body.waist, body.neck, body.hip), steps, sport, frequency
        self.flow = ""

    def food(self, menu: dict, has_saved: bool) -> None:
        p = self.person
        prompt = self.menu_action(menu, "food", expect=message_with(has_choice("edit")) if has_saved else None)
        self.flow = "food"
        if has_saved:
            self.think()
            prompt = self.choose("edit", prompt, "edit")
        likes, dislikes = self.rng.choice(LIKES), self.rng.choice([d for d in DISLIKES if d])
        self.think()
        self.say("likes", likes)
        self.think()
        self.pending_then = {"kind": "food", "food": {"likes": likes, "dislikes": dislikes}}
        self.say("dislikes", dislikes)
        self.journal.write(p.telegram_id, "food", food={"likes": likes, "dislikes": dislikes})
        self.pending_then = None
        self.flow = ""

    def goal(self, menu: dict) -> None:
        p = self.person
        choices = ["healthy", "athletic"] + (["lean"] if body_fat(p.sex, p.height, p.body.waist, p.body.neck,
                                                                     p.body.hip) >= 8 else [])
        goal = self.rng.choice([g for g in choices if g != p.goal] or choices)
        prompt = self.menu_action(menu, "goal", expect=message_with(has_choice(goal, "goal")))
        self.flow = "goal"
        self.think()
        self.pending_then = {"kind": "goal", "goal": goal}
        self.choose("choose", prompt, goal, group="goal")
        self.journal.write(p.telegram_id, "goal", goal=goal)
        self.pending_then = None
        p.goal = goal
        self.flow = ""



"""What the bot's people do, step by step: the survey, new measurements, progress, food, goal, data.

A journey drives one `Chat`; it presses buttons by their exact callback data, built by bot.domain.choices,
and writes each confirmed result into the journal. Failures leave as exceptions: the Locust user
decides what the person does next.
"""

from __future__ import annotations

from collections.abc import Callable

import gevent

from bot.domain import choices
from loadtests.chat import Answer, Chat, RetryAsked, StepFailed, buttons, message_with, new_messages
from loadtests.journal import Journal
from loadtests.people import DISLIKES, LIKES, Body, Person, body_fat, weight_text

MAX_RETRIES = 5


def answer(field: str, code: str) -> str:
    """The exact callback data of a button question's answer (bot.domain.choices builds it)."""
    return choices.build_answer(field, code)


def has_button(data: str) -> Callable[[dict], bool]:
    return lambda message: any(b.get("callback_data") == data for b in buttons(message))


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

    def choose(self, name: str, prompt: Answer, data: str, expect=None) -> Answer:
        message = prompt.latest_with(has_button(data))
        if message is None:
            raise StepFailed(f"{self.flow}:{name}: no button {data!r} on screen")
        expect = expect or new_messages(1)
        if self.double_press and self.rng.random() < 0.3:
            self.chat.press_only(message["message_id"], data)  # an impatient first tap, the measured one follows
        return self._retrying(f"{self.flow}:{name}", lambda: self.chat.step(
            f"{self.flow}:{name}", expect, press=(message["message_id"], data)))

    # -- the registration survey -----------------------------------------------------------------
    def survey(self, abandon_at: str | None, invalid_steps: set[str]) -> bool:
        """The whole survey; False when the person abandoned it at `abandon_at`."""
        p = self.person
        self.flow = "survey"
        welcome = self.say("start", "/start", expect=message_with(has_buttons(1)))
        self.think()
        prompt = self.choose("start_test", welcome, choices.build_start())
        texts: list[tuple[str, str, Callable | None]] = [
            ("full_name", p.full_name, None),
            ("birth_date", p.birth_date.strftime("%d.%m.%Y"), message_with(has_button(answer("sex", choices.MALE)))),
        ]
        for name, value, expect in texts:
            if self._leave(abandon_at, name):
                return False
            prompt = self._text_step(name, value, expect, name in invalid_steps)
        if self._leave(abandon_at, "sex"):
            return False
        prompt = self.choose("sex", prompt, answer("sex", p.sex))
        for name, value, expect in [("height", str(p.height), None),
                                    ("weight", weight_text(p.body.weight, self.rng), message_with(has_button(answer("steps", p.steps))))]:
            if self._leave(abandon_at, name):
                return False
            prompt = self._text_step(name, value, expect, name in invalid_steps)
        for name, data, nxt in [("steps", answer("steps", p.steps), message_with(has_button(answer("sport", p.sport)))),
                                ("sport", answer("sport", p.sport), message_with(has_button(answer("freq", p.frequency)))),
                                ("frequency", answer("freq", p.frequency), None)]:
            if self._leave(abandon_at, name):
                return False
            self.think()
            prompt = self.choose(name, prompt, data, expect=nxt)
        lengths = [("waist", p.body.waist), ("neck", p.body.neck)] + ([("hip", p.body.hip)] if p.sex == "female" else [])
        for index, (name, value) in enumerate(lengths):
            if self._leave(abandon_at, name):
                return False
            last = index == len(lengths) - 1
            prompt = self._text_step(name, f"{value:g}", message_with(has_button(answer("goal", p.goal))) if last else None,
                                     name in invalid_steps)
        if self._leave(abandon_at, "goal"):
            return False
        self.think()
        self.pending_then = {"kind": "registered", "user": p.user_fact(), "record": p.record_fact()}
        self.choose("goal", prompt, answer("goal", p.goal), expect=new_messages(2))
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
        progress = has_button(choices.build_menu(choices.MENU_PROGRESS))
        return self.say("/menu", "/menu", expect=message_with(progress)).latest_with(progress)

    def menu_action(self, menu: dict, action: str, expect=None) -> Answer:
        data = choices.build_menu(action)
        if not has_button(data)(menu):
            raise StepFailed(f"menu has no {data!r} button")
        self.step_name = action
        return self._retrying(f"menu:{action}", lambda: self.chat.step(
            f"menu:{action}", expect or new_messages(1), press=(menu["message_id"], data)))

    def my_data(self, menu: dict) -> None:
        self.menu_action(menu, choices.MENU_DATA)

    def progress(self, menu: dict) -> None:
        self.menu_action(menu, choices.MENU_PROGRESS, expect=message_with(has_photo))

    def consult(self, menu: dict) -> None:
        self.menu_action(menu, choices.MENU_CONSULT)

    def measure(self, menu: dict) -> None:
        p = self.person
        prompt = self.menu_action(menu, choices.MENU_MEASURE)
        self.flow = "measure"
        body = p.next_body()
        steps, sport, frequency = p.steps, p.sport, p.frequency
        if self.rng.random() < 0.3:
            from loadtests.people import FREQUENCIES, SPORTS, STEPS
            steps, sport, frequency = self.rng.choice(STEPS), self.rng.choice(SPORTS), self.rng.choice(FREQUENCIES)
        lengths = [("waist", body.waist), ("neck", body.neck)] + ([("hip", body.hip)] if p.sex == "female" else [])
        for name, value in lengths:
            prompt = self._text_step(name, f"{value:g}", None, self.rng.random() < 0.05)
        prompt = self._text_step("weight", weight_text(body.weight, self.rng), message_with(has_button(answer("steps", steps))), False)
        record = {**p.record_fact(), "weight": body.weight, "waist": body.waist, "neck": body.neck, "hip": body.hip,
                  "steps": steps, "sport_type": sport, "sport_freq": frequency}
        self.think()
        prompt = self.choose("steps", prompt, answer("steps", steps), expect=message_with(has_button(answer("sport", sport))))
        self.think()
        prompt = self.choose("sport", prompt, answer("sport", sport),
                             expect=message_with(has_button(answer("freq", frequency))))
        self.think()
        self.pending_then = {"kind": "measured", "record": record}
        self.choose("frequency", prompt, answer("freq", frequency))
        self.journal.write(p.telegram_id, "measured", record=record)
        self.pending_then = None
        p.body, p.steps, p.sport, p.frequency = Body(body.weight, body.waist, body.neck, body.hip), steps, sport, frequency
        self.flow = ""

    def food(self, menu: dict, has_saved: bool) -> None:
        p = self.person
        edit = choices.build_food(choices.FOOD_EDIT)
        prompt = self.menu_action(menu, choices.MENU_FOOD, expect=message_with(has_button(edit)) if has_saved else None)
        self.flow = "food"
        if has_saved:
            self.think()
            prompt = self.choose("edit", prompt, edit)
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
        prompt = self.menu_action(menu, choices.MENU_GOAL, expect=message_with(has_button(choices.build_goal(goal))))
        self.flow = "goal"
        self.think()
        self.pending_then = {"kind": "goal", "goal": goal}
        self.choose("choose", prompt, choices.build_goal(goal))
        self.journal.write(p.telegram_id, "goal", goal=goal)
        self.pending_then = None
        p.goal = goal
        self.flow = ""



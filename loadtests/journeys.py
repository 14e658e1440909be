"""What the bot's people do, step by step: the survey, new measurements, progress, food, goal, data.

A journey drives one `Chat`; it presses buttons by their exact callback data, built by bot.domain.choices,
and writes each confirmed result into the journal. Failures leave as exceptions: the Locust user
decides what the person does next.

Each step waits for exactly the bot's answer to it (bot/flows): a typed or pressed answer is
followed by the next question (one message; a button question by its buttons), a wrong answer
by the explanation and the same question again (one message), and the end of a flow or a menu
action by the message that carries the main menu again (the summary, the data, the chart: the
menu is that message's keyboard). The survey, and a measurement while the person has no reminder,
may end with the offer of a weekly reminder instead (the message with "no, thanks"; a release
without reminders ends at the menu): the person answers it (one in four sets one, a day and then
an hour), and that answer ends at the menu.
"""

from __future__ import annotations

from collections.abc import Callable

import gevent

from bot.domain import choices
from loadtests.chat import Answer, Chat, RetryAsked, StepFailed, buttons, message_with, new_messages
from loadtests.journal import Journal
from loadtests.people import DISLIKES, FREQUENCIES, LIKES, SPORTS, STEPS, Body, Person, body_fat, weight_text

MAX_RETRIES = 5
# Bot messages that came after their step was complete (a wrong expectation here); logged at the end.
STRAY: list[str] = []


def answer(field: str, code: str) -> str:
    """The exact callback data of a button question's answer (bot.domain.choices builds it)."""
    return choices.build_answer(field, code)


def on_screen(message: dict, data: str) -> str | None:
    """`data` when a button with that callback data is on this message, else None."""
    return data if any(b.get("callback_data") == data for b in buttons(message)) else None


def has_button(data: str) -> Callable[[dict], bool]:
    return lambda message: on_screen(message, data) is not None


def has_buttons(count: int = 1) -> Callable[[dict], bool]:
    return lambda message: len([b for b in buttons(message) if b.get("callback_data")]) >= count


def has_photo(message: dict) -> bool:
    return bool(message.get("photo"))


MENU_BUTTON = choices.build_menu(choices.MENU_PROGRESS)
REMINDER_NO = choices.build_remind(choices.REMIND_NO)
REMINDER_SHARE = 0.25  # of the people offered a weekly reminder, those who set one
ASKED = new_messages(1)                       # the next question (one message)
ASKED_AGAIN = new_messages(1)                 # what was wrong and the same question again, one message


def _last_line(message: dict) -> str:
    return (message.get("text") or message.get("caption") or "").rstrip().rsplit("\n", 1)[-1]


def asked_again(question: Answer | None):
    """The answer to a refused text: what was wrong, and the same question again. This release says
    both in one message; 0.1.0 sent two (the refusal, then the question), and the upgrade drill runs
    it. Either way the answer is complete with the message that ends as the question did."""
    asked = question.messages[-1] if question is not None and question.messages else None
    line = _last_line(asked) if asked is not None else ""
    if not line:
        return ASKED_AGAIN
    return message_with(lambda message: _last_line(message) == line)
AT_MENU = message_with(has_button(MENU_BUTTON))  # a flow or menu action ended: the main menu again
# The survey or a measurement ended: the menu again, or first the offer of a weekly reminder. Either
# is the last message of the answer, the only one with buttons.
ENDED = message_with(lambda message: on_screen(message, MENU_BUTTON) is not None
                     or on_screen(message, REMINDER_NO) is not None)


def buttons_for(data: str):
    """The next question is a button question whose buttons include `data`."""
    return message_with(has_button(data))


class Journey:
    """Shared machinery: think, step with retries on 'try again', remember the prompt on screen."""

    def __init__(self, chat: Chat, journal: Journal, person: Person, think: tuple[float, float],
                 double_press: bool = False, answer_reminders: bool = True) -> None:
        self.chat = chat
        self.journal = journal
        self.person = person
        self.think_s = think
        self.rng = person.rng
        self.double_press = double_press
        self.answer_reminders = answer_reminders  # False: the offer is left on screen (the upgrade drill)
        self.flow = ""
        self.step_name = ""
        self.pending_then: dict | None = None   # what the in-flight final step would write

    def think(self) -> None:
        low, high = self.think_s
        gevent.sleep(self.rng.uniform(low, high))
        for message in self.chat.settle():
            STRAY.append(f"after {self.step_name}: {message.get('text') or message.get('caption') or ''}"[:120])

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

    def say(self, name: str, text: str, expect=None) -> Answer:
        expect = expect or ASKED
        return self._retrying(f"{self.flow}:{name}", lambda: self.chat.step(
            f"{self.flow}:{name}", expect, text=text))

    def choose(self, name: str, prompt: Answer | dict, data: str, expect=None) -> Answer:
        message = prompt if isinstance(prompt, dict) else prompt.latest_with(has_button(data))
        pressed = on_screen(message, data) if message is not None else None
        if pressed is None:
            self.step_name = f"{self.flow}:{name}"
            raise StepFailed(f"{self.flow}:{name}: no button {data!r} on screen")
        expect = expect or ASKED
        if self.double_press and self.rng.random() < 0.3:
            self.chat.press_only(message["message_id"], pressed)  # an impatient first tap, the measured one follows
        return self._retrying(f"{self.flow}:{name}", lambda: self.chat.step(
            f"{self.flow}:{name}", expect, press=(message["message_id"], pressed)))

    # -- the registration survey -----------------------------------------------------------------
    def survey(self, abandon_at: str | None, invalid_steps: set[str]) -> bool:
        """The whole survey; False when the person abandoned it at `abandon_at`."""
        p = self.person
        self.flow = "survey"
        welcome = self.say("start", "/start", expect=buttons_for(choices.build_start()))
        self.think()
        prompt = self.choose("start_test", welcome, choices.build_start())
        female = p.sex == choices.FEMALE
        # (step, what the person types or presses, what the bot answers with)
        plan: list[tuple[str, str, str, Callable]] = [
            ("full_name", "text", p.full_name, ASKED),
            ("birth_date", "text", p.birth_date.strftime("%d.%m.%Y"), buttons_for(answer("sex", p.sex))),
            ("sex", "press", answer("sex", p.sex), ASKED),
            ("height", "text", str(p.height), ASKED),
            ("weight", "text", weight_text(p.body.weight, self.rng), buttons_for(answer("steps", p.steps))),
            ("steps", "press", answer("steps", p.steps), buttons_for(answer("sport", p.sport))),
            ("sport", "press", answer("sport", p.sport), buttons_for(answer("freq", p.frequency))),
            ("frequency", "press", answer("freq", p.frequency), ASKED),
            ("waist", "text", f"{p.body.waist:g}", ASKED),
            ("neck", "text", f"{p.body.neck:g}", ASKED if female else buttons_for(answer("goal", p.goal))),
            *([("hip", "text", f"{p.body.hip:g}", buttons_for(answer("goal", p.goal)))] if female else []),
        ]
        for name, how, value, expect in plan:
            if self._leave(abandon_at, name):
                return False
            if how == "text":
                prompt = self._text_step(name, value, expect, name in invalid_steps, prompt)
            else:
                self.think()
                prompt = self.choose(name, prompt, value, expect)
        if self._leave(abandon_at, "goal"):
            return False
        self.think()
        self.pending_then = {"kind": "registered", "user": p.user_fact(), "record": p.record_fact()}
        ended = self.choose("goal", prompt, answer("goal", p.goal), expect=ENDED)
        self.journal.write(p.telegram_id, "registered", user=p.user_fact(), record=p.record_fact())
        self.pending_then = None
        self.flow = ""
        self.reminder_offer(ended)
        return True

    def reminder_offer(self, ended: Answer) -> None:
        """The offer of a weekly reminder, if the answer that ended a flow made one: a day, then an hour
        (outside the default quiet hours), or "no, thanks"; either ends at the menu."""
        offer = ended.latest_with(has_button(REMINDER_NO))
        if offer is None:
            return
        p = self.person
        if not self.answer_reminders:  # left on screen: the conversation waits there until the next /menu
            self.journal.write(p.telegram_id, "abandoned", flow="reminder", step="offer")
            return
        self.flow = "reminder"
        self.think()
        if self.rng.random() < REMINDER_SHARE:
            day, hour = self.rng.randrange(7), self.rng.randrange(8, 22)
            hour_data = choices.build_remind(choices.REMIND_HOUR, hour)
            hours = self.choose("day", offer, choices.build_remind(choices.REMIND_DAY, day),
                                expect=buttons_for(hour_data))
            self.think()
            reminder = {"weekday": day, "hour": hour}
            self.pending_then = {"kind": "reminder", "reminder": reminder}
            self.choose("hour", hours, hour_data, expect=AT_MENU)
            self.journal.write(p.telegram_id, "reminder", reminder=reminder)
            self.pending_then = None
        else:
            self.choose("no", offer, REMINDER_NO, expect=AT_MENU)
        self.flow = ""

    def _leave(self, abandon_at: str | None, step: str) -> bool:
        if abandon_at == step:
            self.journal.write(self.person.telegram_id, "abandoned", flow=self.flow, step=step)
            self.flow = ""
            return True
        return False

    def _text_step(self, name: str, value: str, expect, invalid_first: bool, question: Answer | None) -> Answer:
        """`question`: the answer that asked for this text (what a refusal repeats)."""
        self.think()
        if invalid_first and name in ("full_name", "birth_date", "height", "weight", "waist", "neck", "hip"):
            self.say(f"{name} (invalid)", self.person.invalid(name), expect=asked_again(question))
            self.think()
        return self.say(name, value, expect)

    # -- the menu ------------------------------------------------------------------------------------
    def open_menu(self) -> dict:
        self.flow = "menu"
        return self.say("/menu", "/menu", expect=AT_MENU).latest_with(has_button(MENU_BUTTON))

    def menu_action(self, menu: dict, action: str, expect=None) -> Answer:
        self.flow = "menu"
        return self.choose(action, menu, choices.build_menu(action), expect=expect or ASKED)

    def my_data(self, menu: dict) -> None:
        self.menu_action(menu, choices.MENU_DATA, expect=AT_MENU)
        self.flow = ""

    def progress(self, menu: dict) -> None:
        """The chart (or, with fewer than two records, a word on why there is none) and the menu again."""
        self.menu_action(menu, choices.MENU_PROGRESS, expect=AT_MENU)
        self.flow = ""

    def consult(self, menu: dict) -> None:
        self.menu_action(menu, choices.MENU_CONSULT, expect=new_messages(1))
        self.flow = ""

    def measure(self, menu: dict) -> None:
        p = self.person
        prompt = self.menu_action(menu, choices.MENU_MEASURE)
        self.flow = "measure"
        body = p.next_body()
        steps, sport, frequency = p.steps, p.sport, p.frequency
        if self.rng.random() < 0.3:
            steps, sport, frequency = self.rng.choice(STEPS), self.rng.choice(SPORTS), self.rng.choice(FREQUENCIES)
        lengths = [("waist", body.waist), ("neck", body.neck)] + ([("hip", body.hip)] if p.sex == "female" else [])
        for name, value in lengths:
            prompt = self._text_step(name, f"{value:g}", ASKED, self.rng.random() < 0.05, prompt)
        prompt = self._text_step("weight", weight_text(body.weight, self.rng), buttons_for(answer("steps", steps)),
                                 False, prompt)
        record = {**p.record_fact(), "weight": body.weight, "waist": body.waist, "neck": body.neck, "hip": body.hip,
                  "steps": steps, "sport_type": sport, "sport_freq": frequency}
        self.think()
        prompt = self.choose("steps", prompt, answer("steps", steps), expect=buttons_for(answer("sport", sport)))
        self.think()
        prompt = self.choose("sport", prompt, answer("sport", sport), expect=buttons_for(answer("freq", frequency)))
        self.think()
        self.pending_then = {"kind": "measured", "record": record}
        ended = self.choose("frequency", prompt, answer("freq", frequency), expect=ENDED)
        self.journal.write(p.telegram_id, "measured", record=record)
        self.pending_then = None
        p.body = Body(body.weight, body.waist, body.neck, body.hip)
        p.steps, p.sport, p.frequency = steps, sport, frequency
        self.flow = ""
        self.reminder_offer(ended)

    def food(self, menu: dict, has_saved: bool) -> None:
        p = self.person
        edit = choices.build_food(choices.FOOD_EDIT)
        prompt = self.menu_action(menu, choices.MENU_FOOD, expect=buttons_for(edit) if has_saved else ASKED)
        self.flow = "food"
        if has_saved:
            self.think()
            self.choose("edit", prompt, edit)
        likes, dislikes = self.rng.choice(LIKES), self.rng.choice([d for d in DISLIKES if d])
        self.think()
        self.say("likes", likes)
        self.think()
        self.pending_then = {"kind": "food", "food": {"likes": likes, "dislikes": dislikes}}
        self.say("dislikes", dislikes, expect=AT_MENU)
        self.journal.write(p.telegram_id, "food", food={"likes": likes, "dislikes": dislikes})
        self.pending_then = None
        self.flow = ""

    def goal(self, menu: dict) -> None:
        p = self.person
        goals = [choices.HEALTHY, choices.ATHLETIC]
        if body_fat(p.sex, p.height, p.body.waist, p.body.neck, p.body.hip) >= 8:
            goals.append(choices.LEAN)  # the bot refuses "lean" below 7 % body fat
        goal = self.rng.choice([g for g in goals if g != p.goal] or goals)
        prompt = self.menu_action(menu, choices.MENU_GOAL, expect=buttons_for(choices.build_goal(goal)))
        self.flow = "goal"
        self.think()
        self.pending_then = {"kind": "goal", "goal": goal}
        self.choose("choose", prompt, choices.build_goal(goal), expect=AT_MENU)
        self.journal.write(p.telegram_id, "goal", goal=goal)
        self.pending_then = None
        p.goal = goal
        self.flow = ""

"""Made-up but plausible people: names, birth dates, body measurements, habits, food tastes.

Everything here is valid for the survey's rules (spec: dev-bot.md), drawn from a seeded random
generator so a run can be replayed. The wrong answers people type first are here too.
"""

from __future__ import annotations

import math
import random
from dataclasses import dataclass, field
from datetime import date, timedelta

MALE_LAST = ["Иванов", "Смирнов", "Кузнецов", "Попов", "Соколов", "Лебедев", "Козлов", "Новиков", "Морозов",
             "Петров", "Волков", "Соловьёв", "Васильев", "Зайцев", "Павлов", "Семёнов", "Голубев", "Виноградов"]
MALE_FIRST = ["Иван", "Алексей", "Дмитрий", "Сергей", "Андрей", "Михаил", "Артём", "Никита", "Павел", "Олег",
              "Роман", "Егор", "Кирилл", "Максим", "Илья", "Антон", "Пётр Сергеевич"]
FEMALE_FIRST = ["Анна", "Мария", "Елена", "Ольга", "Наталья", "Татьяна", "Ирина", "Светлана", "Юлия",
                "Екатерина", "Дарья", "Алина", "Полина", "Ксения", "Анна-Мария", "Вера"]
LATIN = [("Smith", "John"), ("Miller", "Anna"), ("O-Neil", "Kate"), ("Brown", "Peter James")]

STEPS = ("0-3000", "3000-5000", "5000-8000", "8000-10000", "10000+")
SPORTS = ("none", "walking", "running", "strength", "yoga", "swimming", "cycling", "team")
FREQUENCIES = ("1-2", "3-4", "5-6", "daily")
GOALS = ("healthy", "athletic", "lean")

LIKES = ["курица, рис, гречка, овощи", "рыба и морепродукты", "творог, яйца, овсянка", "фрукты, ягоды, орехи",
         "индейка, картофель, салаты", "сыр, йогурт, бананы"]
DISLIKES = ["", "лук", "грибы, печень", "молоко", "острое", "баклажаны и кабачки"]

# Wrong answers a person may type before the right one, per text step (each breaks one rule).
INVALID = {
    "full_name": ["Иван", "Иван 123", "А Б", "Ааа Иванов", "@@@ ###"],
    "birth_date": ["31.02.1990", "1990-05-01", "01.01.2090", "15.13.1985", "вчера"],
    "height": ["сто восемьдесят", "99", "300", "1.80"],
    "weight": ["29", "301", "много", "-70"],
    "waist": ["49", "201", "талия"],
    "neck": ["19", "101", "шея"],
    "hip": ["49", "250", "бёдра"],
    "likes": ["ок", "", "мя"],
}


def body_fat(sex: str, height: float, waist: float, neck: float, hip: float | None) -> float:
    """US Navy method, as the spec gives it (clamped to 0-100, one decimal)."""
    if sex == "male":
        value = 86.010 * math.log10(waist - neck) - 70.041 * math.log10(height) + 36.76
    else:
        value = 163.205 * math.log10(waist + (hip or 0) - neck) - 97.684 * math.log10(height) - 78.387
    return round(min(100.0, max(0.0, value)), 1)


@dataclass
class Body:
    weight: float
    waist: float
    neck: float
    hip: float | None


@dataclass
class Person:
    telegram_id: int
    sex: str
    last_name: str
    first_name: str
    birth_date: date
    height: int
    body: Body
    steps: str
    sport: str
    frequency: str
    goal: str
    username: str = ""
    rng: random.Random = field(default_factory=random.Random, repr=False)

    @property
    def full_name(self) -> str:
        return f"{self.last_name} {self.first_name}"

    def user_fact(self) -> dict:
        return {"first_name": self.first_name, "last_name": self.last_name, "sex": self.sex,
                "date_of_birth": self.birth_date.isoformat()}

    def record_fact(self) -> dict:
        return {"weight": self.body.weight, "waist": self.body.waist, "neck": self.body.neck,
                "hip": self.body.hip, "height": self.height, "goal": self.goal, "steps": self.steps,
                "sport_type": self.sport, "sport_freq": self.frequency}

    def next_body(self) -> Body:
        """A plausible later measurement: a little lighter or heavier."""
        r = self.rng
        weight = round(min(299.0, max(31.0, self.body.weight + r.uniform(-2.5, 1.5))), 1)
        waist = float(min(199, max(55, round(self.body.waist + r.uniform(-3, 2)))))
        neck = float(min(99, max(25, round(self.body.neck + r.uniform(-1, 1)))))
        hip = None if self.body.hip is None else float(min(199, max(60, round(self.body.hip + r.uniform(-2, 2)))))
        return Body(weight, waist, neck, hip)

    def invalid(self, step: str) -> str:
        return self.rng.choice(INVALID[step])


def weight_text(weight: float, rng: random.Random) -> str:
    """How a person types a weight: '82', '82.5' or '82,5'."""
    if weight == int(weight):
        return str(int(weight))
    text = f"{weight:.1f}"
    return text.replace(".", ",") if rng.random() < 0.5 else text


def make_person(telegram_id: int, rng: random.Random, today: date | None = None) -> Person:
    today = today or date.today()
    sex = "female" if rng.random() < 0.55 else "male"
    if rng.random() < 0.05:
        last, first = rng.choice(LATIN)
    elif sex == "male":
        last, first = rng.choice(MALE_LAST), rng.choice(MALE_FIRST)
    else:
        last, first = rng.choice(MALE_LAST) + "а", rng.choice(FEMALE_FIRST)
    age_days = rng.randint(18 * 366, 70 * 365)
    birth = today - timedelta(days=age_days)
    if sex == "male":
        height = rng.randint(165, 196)
        weight = round(rng.uniform(62, 115), rng.choice((0, 1)))
        waist = float(rng.randint(76, 112))
        neck = float(rng.randint(35, 44))
        hip = None
    else:
        height = rng.randint(152, 182)
        weight = round(rng.uniform(48, 95), rng.choice((0, 1)))
        waist = float(rng.randint(60, 98))
        neck = float(rng.randint(29, 37))
        hip = float(rng.randint(88, 118))
    goal = rng.choice(GOALS)
    if goal == "lean" and body_fat(sex, height, waist, neck, hip) < 8:
        goal = "healthy"  # lean is refused below 7 % body fat: keep the survey's happy path
    return Person(telegram_id=telegram_id, sex=sex, last_name=last, first_name=first, birth_date=birth,
                  height=height, body=Body(float(weight), waist, neck, hip), steps=rng.choice(STEPS),
                  sport=rng.choice(SPORTS), frequency=rng.choice(FREQUENCIES), goal=goal,
                  username=f"lt{telegram_id}", rng=rng)

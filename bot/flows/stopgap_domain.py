"""STOPGAP until bot/domain lands: the few pure pieces the flows need (codes, texts, rules, formulas).

Everything here belongs in bot/domain (choices, validation, formulas, progress, texts); the
flows import it through this one module so switching to bot/domain is an import change.
"""

from __future__ import annotations

import math
import re
from dataclasses import dataclass
from datetime import date

# --- choices: canonical codes and Russian labels, in the order the keyboards show them -------

CHOICES: dict[str, dict[str, str]] = {
    "sex": {"male": "👨 Мужской", "female": "👩 Женский"},
    "steps": {"0-3000": "0–3 000", "3000-5000": "3 000–5 000", "5000-8000": "5 000–8 000",
              "8000-10000": "8 000–10 000", "10000+": "10 000+"},
    "sport": {"none": "Не занимаюсь", "walking": "Ходьба", "running": "Бег", "strength": "Силовые (зал)",
              "yoga": "Йога / пилатес", "swimming": "Плавание", "cycling": "Велосипед",
              "team": "Командные виды"},
    "freq": {"1-2": "1–2 раза в неделю", "3-4": "3–4 раза в неделю", "5-6": "5–6 раз в неделю",
             "daily": "Каждый день"},
    "goal": {"healthy": "💚 Здоровое тело", "athletic": "💪 Спортивное тело", "lean": "🔥 Сухое тело"},
}
COLUMNS = {"sex": 2, "steps": 2, "sport": 2, "freq": 2, "goal": 1}


def callback_data(group: str, code: str) -> str:
    return f"{group}:v1:{code}"


def parse_callback(data: str) -> tuple[str, str] | None:
    parts = (data or "").split(":", 2)
    if len(parts) != 3 or parts[1] != "v1":
        return None
    return parts[0], parts[2]


def label(group: str, code: str | None) -> str:
    return CHOICES.get(group, {}).get(code or "", code or "—")


# --- validation -----------------------------------------------------------------------------

class InvalidInput(ValueError):
    """The reply cannot be used; the message says what is expected (Russian)."""

    def __init__(self, message_ru: str) -> None:
        super().__init__(message_ru)
        self.message_ru = message_ru


_WORD = re.compile(r"^[A-Za-zА-Яа-яЁё]+(?:-[A-Za-zА-Яа-яЁё]+)*$")


def parse_full_name(text: str) -> str:
    name = " ".join(text.split())
    words = name.split(" ")
    expected = ("Введите фамилию и имя (можно с отчеством) буквами, например: Иванов Иван. "
                "От 3 до 50 символов, каждое слово не короче 2 букв.")
    if not 3 <= len(name) <= 50 or len(words) < 2:
        raise InvalidInput(expected)
    for word in words:
        letters = word.replace("-", "")
        if not _WORD.match(word) or len(letters) < 2 or len(set(letters.lower())) == 1:
            raise InvalidInput(expected)
    return name


def parse_birth_date(text: str, today: date) -> date:
    expected = "Введите дату рождения в формате ДД.ММ.ГГГГ, например 05.03.1990."
    match = re.fullmatch(r"\s*(\d{1,2})\.(\d{1,2})\.(\d{4})\s*", text)
    if not match:
        raise InvalidInput(expected)
    try:
        born = date(int(match[3]), int(match[2]), int(match[1]))
    except ValueError:
        raise InvalidInput("Такой даты нет в календаре. " + expected) from None
    if born > today:
        raise InvalidInput("Дата рождения не может быть в будущем. " + expected)
    if not 10 <= age(born, today) <= 120:
        raise InvalidInput("Возраст должен быть от 10 до 120 лет. Проверьте год рождения.")
    return born


def _number(text: str, what: str, low: float, high: float, unit: str, integer: bool = False) -> float:
    raw = text.strip().replace(",", ".")
    expected = f"Введите {what} числом от {low:g} до {high:g} {unit}" + (" (целое число)." if integer else ".")
    try:
        value = int(raw) if integer else float(raw)
    except ValueError:
        raise InvalidInput(expected) from None
    if not math.isfinite(value) or not low <= value <= high:
        raise InvalidInput(expected)
    return value


def parse_height(text: str) -> int:
    return int(_number(text, "рост", 100, 250, "см", integer=True))


def parse_weight(text: str) -> float:
    return round(_number(text, "вес", 30, 300, "кг"), 1)


def parse_waist(text: str) -> float:
    return round(_number(text, "обхват талии", 50, 200, "см"), 1)


def parse_neck(text: str) -> float:
    return round(_number(text, "обхват шеи", 20, 100, "см"), 1)


def parse_hip(text: str) -> float:
    return round(_number(text, "обхват бёдер", 50, 200, "см"), 1)


def parse_likes(text: str) -> str:
    value = " ".join(text.split())
    if len(value) < 5:
        raise InvalidInput("Напишите хотя бы 5 символов: какие продукты и блюда вы любите.")
    return value


def parse_dislikes(text: str) -> str:
    value = " ".join(text.split())
    if value.lower() in ("-", "нет", "ничего"):
        return ""
    if len(value) < 3:
        raise InvalidInput("Напишите хотя бы 3 символа или «-», если таких продуктов нет.")
    return value


# --- formulas -------------------------------------------------------------------------------

STEP_MULTIPLIER = {"0-3000": 1.1, "3000-5000": 1.2, "5000-8000": 1.3, "8000-10000": 1.4, "10000+": 1.5}
SPORT_KCAL = {"none": 0, "walking": 200, "running": 400, "strength": 600, "yoga": 200, "swimming": 400,
              "cycling": 300, "team": 500}
GOAL_FACTOR = {"healthy": 1.00, "athletic": 1.05, "lean": 0.90}
LEAN_MIN_BODYFAT = 7.0


class ImpossibleMeasurements(ValueError):
    """Waist/neck/hip that give no body fat (the log of a non-positive number)."""


def body_fat(sex: str, height: float, waist: float, neck: float, hip: float | None = None) -> float:
    if sex == "female":
        span = waist + (hip or 0) - neck
        if span <= 0:
            raise ImpossibleMeasurements
        value = 163.205 * math.log10(span) - 97.684 * math.log10(height) - 78.387
    else:
        span = waist - neck
        if span <= 0:
            raise ImpossibleMeasurements
        value = 86.010 * math.log10(span) - 70.041 * math.log10(height) + 36.76
    return round(min(100.0, max(0.0, value)), 1)


@dataclass(frozen=True)
class Targets:
    calories: int
    protein: int
    fat: int
    carbs: int


def lean_refused(bodyfat: float | None, goal: str) -> bool:
    return goal == "lean" and bodyfat is not None and bodyfat < LEAN_MIN_BODYFAT


def daily_targets(weight: float, bodyfat: float, steps: str | None, sport: str | None, goal: str | None) -> Targets:
    lbm = weight * (1 - bodyfat / 100)
    bmr = 370 + 21.6 * lbm
    kcal = (bmr * STEP_MULTIPLIER.get(steps or "", 1.1) + SPORT_KCAL.get(sport or "", 0)) * GOAL_FACTOR.get(goal or "", 1.0)
    protein = min(2.2 * weight, 0.30 * kcal / 4)
    fat = 0.25 * kcal / 9
    carbs = max(100, (kcal - 4 * protein - 9 * fat) / 4)
    return Targets(round(kcal), round(protein), round(fat), round(carbs))


def age(born: date, today: date) -> int:
    return today.year - born.year - ((today.month, today.day) < (born.month, born.day))


# --- progress -------------------------------------------------------------------------------

def progress_message(first_date: date, first_weight: float, first_waist: float, first_neck: float,
                     last_date: date, last_weight: float, last_waist: float, last_neck: float) -> str:
    days = (last_date - first_date).days
    change = last_weight - first_weight
    period = f"с {first_date:%d.%m.%Y} по {last_date:%d.%m.%Y} ({days} дн.)"
    tier = "за короткий срок" if days <= 30 else "за пару месяцев" if days <= 90 else "за долгий путь"
    if change < -2:
        body = f"Вы сбросили {abs(change):.1f} кг {tier}! 🎉 Отличная работа, так держать."
    elif change > 2:
        body = f"Вес вырос на {change:.1f} кг {tier}. Если цель — набор, вы на верном пути 💪, если нет — давайте скорректируем питание."
    elif first_waist - last_waist > 3 or first_neck - last_neck > 2:
        body = "Вес стабилен, а объёмы уменьшились — вы теряете жир и сохраняете мышцы! 🔥"
    else:
        body = f"Вес стабилен ({change:+.1f} кг). Постоянство — тоже результат 👍"
    return f"📈 Ваш прогресс {period}:\n{body}\nБыло: {first_weight:g} кг → стало: {last_weight:g} кг."


# --- texts ----------------------------------------------------------------------------------

WELCOME = ("👋 Здравствуйте! Спасибо, что заглянули.\n\n"
           "Пройдите короткий тест — и я рассчитаю ваш процент жира в организме и дневную норму "
           "КБЖУ (калории, белки, жиры, углеводы) под вашу цель, а ещё дам полезные советы.")
START_TEST_BUTTON = "🚀 Начать тест"
ALREADY_REGISTERED = "Вы уже зарегистрированы 🙂 Выберите, что сделать:"
MENU = "📋 Главное меню — выберите действие:"
MENU_BUTTONS = {"data": "📊 Мои данные", "progress": "📈 Прогресс", "measure": "📏 Новые замеры",
                "goal": "🎯 Цель", "food": "🍽 Предпочтения в еде", "consult": "💬 Консультация"}
NOT_REGISTERED = "Сначала пройдите тест — отправьте /start 🙂"
CANCELLED = "Хорошо, отменил. Ничего не сохранено."
NOTHING_TO_CANCEL = "Сейчас нечего отменять."
HINT = "Я не понял сообщение 🤔 Выберите действие в меню:"
HINT_NEW = "Я не понял сообщение 🤔 Чтобы начать, отправьте /start."
USE_BUTTONS = "Пожалуйста, выберите вариант кнопкой под вопросом 👇"
OUTDATED_BUTTON = "Эта кнопка уже неактуальна"
UNAVAILABLE = "⏳ Сервис временно недоступен. Пожалуйста, попробуйте ещё раз через минуту."
APOLOGY = "😔 Что-то пошло не так. Попробуйте ещё раз или отправьте /menu."
CHECK_MEASUREMENTS = ("Похоже, в замерах ошибка: талия должна быть больше шеи (а для женщин — талия с "
                      "бёдрами больше шеи). Проверьте и введите обхват талии ещё раз.")
LEAN_REFUSED = ("Цель «Сухое тело» сейчас не подходит: ваш процент жира {bodyfat:g} % уже ниже 7 %, "
                "а дальнейшее снижение опасно для здоровья. Выберите другую цель 👇")
CONSULTATION = "💬 Запишитесь на консультацию {specialist} — разберём питание и поможем дойти до цели."
CONSULTATION_BUTTON = "Записаться на консультацию"
FUNNEL_CAPTION = ("🎁 Хотите результат быстрее? Персональная консультация {specialist}: меню под ваши "
                  "КБЖУ, разбор привычек и поддержка. Жмите кнопку 👇")
PROGRESS_NEED_TWO = "Для прогресса нужно минимум две записи в разные дни. Добавьте новые замеры через меню 📏"
FOOD_SAVED = "Сохранено ✅\n👍 Любите: {likes}\n👎 Не любите: {dislikes}"
FOOD_SHOW = "🍽 Ваши предпочтения:\n👍 Любите: {likes}\n👎 Не любите: {dislikes}"
FOOD_EDIT = "✏️ Изменить"
FOOD_CANCEL = "Отмена"
GOAL_ADVICE = {
    "healthy": "💚 Совет: держитесь нормы, больше овощей и сна — здоровье любит постоянство.",
    "athletic": "💪 Совет: добавьте силовые тренировки и следите за белком в каждом приёме пищи.",
    "lean": "🔥 Совет: небольшой дефицит калорий, высокий белок и регулярная активность.",
}
PROMPTS = {
    "full_name": "Как вас зовут? Напишите фамилию и имя (например: Иванов Иван).",
    "birth_date": "Введите дату рождения в формате ДД.ММ.ГГГГ.",
    "sex": "Укажите ваш пол:",
    "height": "Ваш рост в сантиметрах?",
    "weight": "Ваш вес в килограммах? (например 70,5)",
    "steps": "Сколько шагов в день вы обычно проходите?",
    "sport": "Каким спортом занимаетесь?",
    "freq": "Как часто тренируетесь?",
    "waist": "Обхват талии в сантиметрах (по пупку)?",
    "neck": "Обхват шеи в сантиметрах (под кадыком)?",
    "hip": "Обхват бёдер в сантиметрах (по самой широкой части)?",
    "goal": "Какая у вас цель?",
    "likes": "Какие продукты и блюда вы любите? Напишите через запятую.",
    "dislikes": "А что не любите или не едите? Если ничего — отправьте «-».",
}


def kbju_message(t: Targets, goal: str | None) -> str:
    return (f"🍽 Ваша дневная норма КБЖУ:\n"
            f"🔥 Калории: {t.calories} ккал\n🥩 Белки: {t.protein} г\n🧈 Жиры: {t.fat} г\n"
            f"🍞 Углеводы: {t.carbs} г\n\n{GOAL_ADVICE.get(goal or '', GOAL_ADVICE['healthy'])}")

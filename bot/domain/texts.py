"""Every Russian text the bot shows, as constants or pure functions of plain values (Telegram HTML).

Rules kept by every function here: user-provided strings (names, food texts, Telegram first names)
go through html.escape; a message stays within Telegram's limits (4096 characters of text, 1024 of a
photo caption, 200 of a callback-query answer), counted the way Telegram counts them (UTF-16 code
units of the visible text); nothing raises for a code outside the known domains (an imported NULL
or a legacy value shows as a dash).
"""

from __future__ import annotations

import html
from datetime import date
from decimal import ROUND_HALF_UP, Decimal

from bot.domain import choices

MESSAGE_LIMIT = 4096
CAPTION_LIMIT = 1024
CALLBACK_ANSWER_LIMIT = 200

NOT_SET = "—"


# --- Formatting helpers --------------------------------------------------------------------------


def escape(text: str) -> str:
    """Escape user text for Telegram HTML (quotes are safe outside attributes)."""
    return html.escape(text, quote=False)


def utf16_len(text: str) -> int:
    """Length as Telegram counts it."""
    return len(text.encode("utf-16-le")) // 2


def clip(text: str, limit: int) -> str:
    """Cut plain (not yet escaped) text to `limit` UTF-16 units, marking the cut with an ellipsis."""
    if utf16_len(text) <= limit:
        return text
    out: list[str] = []
    used = 1  # room for the ellipsis
    for char in text:
        size = 2 if ord(char) > 0xFFFF else 1
        if used + size > limit:
            break
        out.append(char)
        used += size
    return "".join(out) + "…"


def format_date(day: date) -> str:
    """DD.MM.YYYY (strftime would not zero-pad years below 1000)."""
    return f"{day.day:02d}.{day.month:02d}.{day.year:04d}"


def rounded(value: float | Decimal, digits: int = 1) -> Decimal:
    """`value` as a person rounds it: the shortest decimal that reads back as the stored float (what
    was typed: 90.55, which binary holds as 90.5499999…), rounded half up to `digits` decimals."""
    exact = value if isinstance(value, Decimal) else Decimal(repr(float(value)))
    return exact.quantize(Decimal(1).scaleb(-digits), rounding=ROUND_HALF_UP)


def format_number(value: float | Decimal, digits: int = 1) -> str:
    """Russian decimal comma, at most `digits` decimals (half up), no trailing zeros: 70.5 → "70,5",
    180.0 → "180", 90.55 → "90,6". Every number a person reads goes through here."""
    text = f"{rounded(value, digits):f}"
    if "." in text:
        text = text.rstrip("0").rstrip(".")
    if text in ("-0", ""):
        text = "0"
    return text.replace(".", ",")


def format_change(value: float | Decimal, digits: int = 1) -> str:
    """A signed difference: "+1,5", "−2", "0"."""
    text = format_number(abs(value), digits)
    if text == "0":
        return "0"
    return ("+" if value > 0 else "−") + text


def shown_change(first: float, last: float, digits: int = 1) -> Decimal:
    """The change between two numbers as shown: the difference of their rounded values, so that
    "90 → 90,2" reads "+0,2" whatever the hundredths were."""
    return rounded(last, digits) - rounded(first, digits)


def plural(n: int, one: str, few: str, many: str) -> str:
    """The Russian plural form for n: 1 день, 2 дня, 5 дней, 11 дней, 21 день."""
    n = abs(n)
    if n % 10 == 1 and n % 100 != 11:
        return one
    if 2 <= n % 10 <= 4 and not 12 <= n % 100 <= 14:
        return few
    return many


def _years(n: int) -> str:
    return f"{n} {plural(n, 'год', 'года', 'лет')}"


def _days(n: int) -> str:
    return f"{n} {plural(n, 'день', 'дня', 'дней')}"


def _label(choice_set: choices.ChoiceSet, code: str | None) -> str:
    return choice_set.label_or(code, NOT_SET)


def _cm(value: float | None) -> str:
    return NOT_SET if value is None else f"{format_number(value)} см"


def _kg(value: float | None) -> str:
    return NOT_SET if value is None else f"{format_number(value)} кг"


def _body_fat(value: float | None) -> str:
    return "не рассчитан" if value is None else f"{format_number(value)}%"


def _person_name(last_name: str | None, first_name: str | None) -> str:
    name = " ".join(part for part in (last_name, first_name) if part)
    return escape(clip(name, 100)) if name else NOT_SET


# --- Start -----------------------------------------------------------------------------------------

START_TEST_BUTTON = "🚀 Пройти тест"


def welcome(first_name: str | None = None, operator: str | None = None) -> str:
    """For someone who has not done the survey; `first_name` is Telegram's (user-provided), `operator`
    who keeps the data (OPERATOR_NAME): the welcome ends with the short privacy notice."""
    greeting = f"Привет, {escape(clip(first_name, 64))}! 👋" if first_name else "Привет! 👋"
    return (
        f"{greeting}\n\n"
        "Спасибо, что заглянули! Я помогу рассчитать вашу дневную норму <b>КБЖУ</b> — калории, "
        "белки, жиры и углеводы — и оценить <b>процент жира</b> в теле.\n\n"
        "Короткий тест займёт пару минут: несколько вопросов и два-три замера сантиметровой лентой. "
        "В конце — персональная норма и советы под вашу цель 💪\n\n"
        + privacy_short(operator)
    )


def already_registered(first_name: str | None = None) -> str:
    """For /start by someone registered; the menu keyboard goes with it."""
    who = f", {escape(clip(first_name, 64))}" if first_name else ""
    return f"С возвращением{who}! 🙌 Вы уже прошли тест — все ваши данные на месте.\n\n{MENU_TITLE}"


# --- Survey questions ------------------------------------------------------------------------------

ASK_FULL_NAME = (
    "Давайте знакомиться! Напишите <b>фамилию и имя</b> через пробел.\nНапример: <i>Иванова Анна</i>"
)
ASK_BIRTH_DATE = "📅 Ваша <b>дата рождения</b> в формате ДД.ММ.ГГГГ.\nНапример: <i>05.03.1990</i>"
ASK_SEX = "Укажите ваш <b>пол</b> — от него зависит формула расчёта:"
ASK_HEIGHT = "📏 Ваш <b>рост</b> в сантиметрах, целым числом.\nНапример: <i>172</i>"
ASK_WEIGHT = "⚖️ Ваш <b>вес</b> в килограммах.\nНапример: <i>68,5</i>"
ASK_STEPS = "👟 Сколько <b>шагов в день</b> вы в среднем проходите?"
ASK_SPORT_TYPE = "🏃 Какой <b>спорт</b> у вас основной?"
ASK_SPORT_FREQ = "🗓 Как <b>часто</b> вы тренируетесь?"
ASK_WAIST = (
    "📐 <b>Обхват талии</b> в сантиметрах.\n\n"
    "Как измерить: встаньте прямо, спокойно выдохните и не втягивайте живот. Проведите ленту "
    "горизонтально на уровне пупка — плотно, но не сдавливая.\n"
    "Например: <i>82</i> или <i>81,5</i>"
)
ASK_NECK = (
    "📐 <b>Обхват шеи</b> в сантиметрах.\n\n"
    "Ленту кладите горизонтально чуть ниже кадыка, не сдавливая шею.\nНапример: <i>36</i>"
)
ASK_HIP = (
    "📐 <b>Обхват бёдер</b> в сантиметрах — по самой выступающей точке ягодиц, ноги вместе.\n"
    "Например: <i>98</i>"
)

_GOAL_DESCRIPTIONS = {
    choices.HEALTHY: "поддерживать форму и хорошее самочувствие",
    choices.ATHLETIC: "набрать мышцы и стать сильнее",
    choices.LEAN: "снизить процент жира, сохранив мышцы",
}


def _goal_list() -> str:
    return "\n".join(f"• <b>{c.label}</b> — {_GOAL_DESCRIPTIONS[c.code]}" for c in choices.GOAL)


ASK_GOAL = f"🎯 И последний вопрос — ваша <b>цель</b>:\n\n{_goal_list()}"

# The question's name in the line that replaces an answered button question.
_FIELD_TITLES = {
    choices.SEX.field: "Пол",
    choices.STEPS.field: "Шаги в день",
    choices.SPORT_TYPE.field: "Спорт",
    choices.SPORT_FREQ.field: "Тренировки",
    choices.GOAL.field: "Цель",
}


def _answer_line(field: str, code: str) -> str:
    title = _FIELD_TITLES.get(field, "Ответ")
    choice_set = choices.CHOICE_SETS.get(field)
    label = choice_set.label_or(code, NOT_SET) if choice_set else NOT_SET
    return f"{title}: <b>{label}</b>"


def recorded_answer(field: str, code: str) -> str:
    """The text an answered button question is edited to, e.g. "Пол: <b>Мужской</b> ✅"."""
    return f"{_answer_line(field, code)} ✅"


def refused_answer(field: str, code: str) -> str:
    """The text a button question is edited to when its answer was not taken (the reason and the
    question again follow), e.g. "Цель: <b>Сухое тело</b> — не подходит ❌"."""
    return f"{_answer_line(field, code)} — не подходит ❌"


def survey_summary(
    *,
    last_name: str,
    first_name: str,
    birth_date: date,
    age: int,
    sex: str,
    height_cm: int,
    weight_kg: float,
    steps: str,
    sport_type: str,
    sport_freq: str,
    waist_cm: float,
    neck_cm: float,
    hip_cm: float | None,
    goal: str,
    body_fat: float,
) -> str:
    """The end-of-survey summary of every answer and the body fat %."""
    hip = f", бёдра {_cm(hip_cm)}" if hip_cm is not None else ""
    return (
        "✅ <b>Тест пройден!</b> Вот ваши данные:\n\n"
        f"👤 {_person_name(last_name, first_name)}\n"
        f"📅 Дата рождения: {format_date(birth_date)} ({_years(age)})\n"
        f"Пол: {_label(choices.SEX, sex)}\n"
        f"📏 Рост: {_cm(height_cm)}\n"
        f"⚖️ Вес: {_kg(weight_kg)}\n"
        f"👟 Шаги в день: {_label(choices.STEPS, steps)}\n"
        f"🏃 Спорт: {_label(choices.SPORT_TYPE, sport_type)}, "
        f"{_label(choices.SPORT_FREQ, sport_freq).lower()}\n"
        f"📐 Замеры: талия {_cm(waist_cm)}, шея {_cm(neck_cm)}{hip}\n"
        f"🎯 Цель: {_label(choices.GOAL, goal)}\n\n"
        f"Процент жира в теле: <b>{_body_fat(body_fat)}</b>"
    )


# --- KBJU ------------------------------------------------------------------------------------------

_GOAL_ADVICE = {
    choices.HEALTHY: (
        "💡 <b>Советы для здорового тела</b>\n"
        "• Держитесь нормы ± 100 ккал — без жёстких запретов.\n"
        "• В каждом приёме пищи — белок, половина тарелки — овощи.\n"
        "• 1,5–2 литра воды в день и 7–9 часов сна.\n"
        "• Делайте замеры раз в 1–2 недели, в одно и то же время."
    ),
    choices.ATHLETIC: (
        "💡 <b>Советы для спортивного тела</b>\n"
        "• Норма включает небольшой профицит — он нужен для роста мышц.\n"
        "• 3–4 силовые тренировки в неделю с постепенным ростом нагрузки.\n"
        "• Белок распределите на 3–5 приёмов пищи, углеводы — ближе к тренировке.\n"
        "• Следите за талией: если она растёт быстрее веса, уменьшите калории на 100–150 ккал."
    ),
    choices.LEAN: (
        "💡 <b>Советы для сухого тела</b>\n"
        "• Норма уже учитывает дефицит 10% — не урезайте калории сильнее, иначе уйдут мышцы.\n"
        "• Белок — ваш главный союзник: он сохраняет мышцы и дольше держит сытость.\n"
        "• Силовые тренировки и шаги важнее изнурительного кардио.\n"
        "• Ориентируйтесь на замеры талии: весы на сушке могут стоять из-за воды."
    ),
}


def kbju_message(goal: str | None, calories: int, protein_g: int, fat_g: int, carbs_g: int) -> str:
    """The daily KBJU with advice for the goal (an unknown goal gets the healthy-body advice)."""
    advice = _GOAL_ADVICE.get(goal or "", _GOAL_ADVICE[choices.HEALTHY])
    return (
        "🍽 <b>Ваша дневная норма КБЖУ</b>\n"
        f"Цель: {_label(choices.GOAL, goal)}\n\n"
        f"🔥 Калории: <b>{calories} ккал</b>\n"
        f"🥩 Белки: <b>{protein_g} г</b>\n"
        f"🥑 Жиры: <b>{fat_g} г</b>\n"
        f"🍚 Углеводы: <b>{carbs_g} г</b>\n\n"
        f"{advice}"
    )


# --- Funnel and consultation -------------------------------------------------------------------------

FUNNEL_BUTTON = "Записаться на консультацию"
CONSULT_BUTTON = "✍️ Написать специалисту"


def funnel_caption(specialist_name: str) -> str:
    """Caption of the funnel photo; `specialist_name` in the instrumental case ("с нашим специалистом")."""
    return (
        "Хотите прийти к цели быстрее и без срывов? 🚀\n\n"
        "Норма КБЖУ — это только начало. На персональной консультации с "
        f"{escape(clip(specialist_name, 200))} вы получите план питания под ваши вкусы и режим, "
        "разбор замеров и ответы на все вопросы.\n\n"
        "Записывайтесь — первый шаг вы уже сделали 💪"
    )


def consultation_message(specialist_name: str, url: str) -> str:
    """The menu's consultation text; the URL button (CONSULT_BUTTON) goes with it."""
    return (
        "💬 <b>Консультация</b>\n\n"
        f"Запишитесь на персональную консультацию с {escape(clip(specialist_name, 200))}: "
        "разберём ваши замеры, составим план питания под ваши вкусы и режим и ответим на вопросы.\n\n"
        f'Нажмите кнопку ниже или напишите по <a href="{html.escape(url, quote=True)}">ссылке</a> 👇'
    )


# --- Menu ------------------------------------------------------------------------------------------

MENU_TITLE = "📋 <b>Главное меню</b> — выберите, что сделать:"

MENU_BUTTONS: dict[str, str] = {
    choices.MENU_DATA: "📋 Мои данные",
    choices.MENU_PROGRESS: "📈 Прогресс",
    choices.MENU_MEASURE: "📏 Новые замеры",
    choices.MENU_GOAL: "🎯 Цель",
    choices.MENU_FOOD: "🥗 Пищевые предпочтения",
    choices.MENU_CONSULT: "💬 Консультация",
    choices.MENU_REMIND: "⏰ Напоминания",
}
assert tuple(MENU_BUTTONS) == choices.MENU_ACTIONS


def my_data(
    *,
    last_name: str | None,
    first_name: str | None,
    birth_date: date | None,
    sex: str | None,
    record_date: date | None = None,
    height_cm: int | None = None,
    steps: str | None = None,
    sport_type: str | None = None,
    sport_freq: str | None = None,
    weight_kg: float | None = None,
    waist_cm: float | None = None,
    neck_cm: float | None = None,
    hip_cm: float | None = None,
    goal: str | None = None,
    body_fat: float | None = None,
) -> str:
    """The "My data" screen: the person and their latest record (record_date None: no record yet)."""
    lines = [
        "📋 <b>Мои данные</b>\n",
        f"👤 {_person_name(last_name, first_name)}",
        f"📅 Дата рождения: {format_date(birth_date) if birth_date else NOT_SET}",
        f"Пол: {_label(choices.SEX, sex)}",
    ]
    if record_date is None:
        lines.append(f"\n{NO_RECORDS}")
        return "\n".join(lines)
    lines += [
        f"📏 Рост: {_cm(height_cm)}",
        f"👟 Шаги в день: {_label(choices.STEPS, steps)}",
        f"🏃 Спорт: {_label(choices.SPORT_TYPE, sport_type)}",
        f"🗓 Частота: {_label(choices.SPORT_FREQ, sport_freq)}",
        f"\n<b>Последний замер — {format_date(record_date)}</b>",
        f"⚖️ Вес: {_kg(weight_kg)}",
        f"📐 Талия: {_cm(waist_cm)}",
        f"📐 Шея: {_cm(neck_cm)}",
    ]
    if hip_cm is not None:
        lines.append(f"📐 Бёдра: {_cm(hip_cm)}")
    lines += [
        f"🎯 Цель: {_label(choices.GOAL, goal)}",
        f"Процент жира: <b>{_body_fat(body_fat)}</b>",
    ]
    return "\n".join(lines)


NO_RECORDS = "Замеров пока нет — добавьте их кнопкой «📏 Новые замеры»."


# --- Progress --------------------------------------------------------------------------------------

PROGRESS_NEED_MORE = (
    "📈 Для графика прогресса нужны хотя бы два замера в разные дни. Добавьте новые замеры кнопкой "
    "«📏 Новые замеры» — удобнее всего раз в неделю, утром натощак."
)

# (trend, tier) → the motivating line. Trends and tiers are progress.Trend / progress.Tier values.
_MOTIVATION = {
    ("lost", "short"): "🔥 Отличный старт! Вы уже сбросили {delta} кг. Держите ровный темп — так уходит "
    "жир, а мышцы остаются.",
    ("lost", "medium"): "💪 Вы на верном пути: минус {delta} кг. Такой темп — то, что нужно, чтобы "
    "результат остался с вами надолго.",
    ("lost", "long"): "🏆 Минус {delta} кг — это уже не случайность, а новые привычки. Вы доказали, что "
    "умеете держать курс!",
    ("gained", "short"): "Вес вырос на {delta} кг. Без паники: за короткий срок вес колеблется из-за воды "
    "и соли. Сверьтесь с нормой КБЖУ и продолжайте замеры 🙌",
    ("gained", "medium"): "Вес вырос на {delta} кг. Если вы набираете мышцы — отлично, просто следите, "
    "чтобы талия не росла. Если нет — вернитесь к норме КБЖУ и добавьте шагов 👟",
    ("gained", "long"): "За это время вес вырос на {delta} кг. Хороший повод пересмотреть рацион и "
    "активность — специалист на консультации поможет составить план именно для вас.",
    ("fat_loss", "short"): "✨ Вес почти не изменился, а объёмы уже уменьшаются — значит, уходит жир, "
    "а мышцы остаются. Лучший сценарий, продолжайте!",
    ("fat_loss", "medium"): "✨ Вес на месте, а талия и шея стали меньше: жира меньше, мышц не меньше. "
    "Весы этого не видят — а сантиметровая лента видит!",
    ("fat_loss", "long"): "✨ Вес стабилен, а объёмы заметно уменьшились — настоящая перестройка тела. "
    "Такой результат — признак правильного питания и тренировок.",
    ("stable", "short"): "Вес стабилен — для первых недель это нормально: тело привыкает к новому "
    "режиму. Продолжайте замеры раз в неделю 📏",
    ("stable", "medium"): "Вес держится на одном уровне. Если цель — поддерживать форму, вы молодец! "
    "Хотите перемен — сверьтесь с нормой КБЖУ и добавьте активности.",
    ("stable", "long"): "Вы долго и стабильно держите вес — это большое умение 👏 Хотите новую цель? "
    "Её можно сменить в меню «🎯 Цель».",
}


def progress_message(
    *,
    trend: str,
    tier: str,
    first_date: date,
    last_date: date,
    first_weight: float,
    last_weight: float,
    first_waist: float,
    last_waist: float,
    first_neck: float,
    last_neck: float,
) -> str:
    """The motivational comparison of the first and the last record (see progress.motivational_message)."""
    days = (last_date - first_date).days
    weight_change = shown_change(first_weight, last_weight)
    line = _MOTIVATION.get((trend, tier), _MOTIVATION[("stable", "medium")])
    return (
        f"📊 <b>Ваш прогресс</b> с {format_date(first_date)} по {format_date(last_date)} "
        f"({_days(days)})\n\n"
        f"⚖️ Вес: {format_number(first_weight)} → {format_number(last_weight)} кг "
        f"({format_change(weight_change)} кг)\n"
        f"📐 Талия: {format_number(first_waist)} → {format_number(last_waist)} см "
        f"({format_change(shown_change(first_waist, last_waist))} см)\n"
        f"📐 Шея: {format_number(first_neck)} → {format_number(last_neck)} см "
        f"({format_change(shown_change(first_neck, last_neck))} см)\n\n"
        + line.format(delta=format_number(abs(weight_change)))
    )


CHART_TITLE = "Вес, кг"  # drawn on the chart image (plain text, not HTML), above the weight panel
CHART_BODY_FAT_TITLE = "Жир в теле, %"  # above the body fat panel
CHART_NO_BODY_FAT = "Нет данных о проценте жира"  # the body fat panel of a history without any value


def chart_point_label(weight_kg: float, day: date) -> str:
    """The label drawn next to one point of the weight chart: its weight and date (plain text)."""
    return f"{format_number(weight_kg)} кг\n{format_date(day)}"


def chart_body_fat_label(percent: float) -> str:
    """The label drawn next to one point of the body fat chart (plain text)."""
    return f"{format_number(percent)} %"


def chart_caption(progress: str, count: int) -> str:
    """Caption of the chart: the progress message (progress_message) and what the chart shows."""
    return f"{progress}\n\n📈 На графике — вес и процент жира, {count} {plural(count, 'замер', 'замера', 'замеров')}"


# --- New measurements ------------------------------------------------------------------------------

MEASURE_INTRO = (
    "📏 <b>Новые замеры</b>\n"
    "Понадобятся сантиметровая лента и весы — точнее всего утром, натощак. Начнём с талии."
)
MEASURE_ASK_WEIGHT = "⚖️ Ваш <b>вес</b> сегодня, в килограммах.\nНапример: <i>68,5</i>"


def measurement_saved(
    *,
    record_date: date,
    weight_kg: float,
    waist_cm: float,
    neck_cm: float,
    hip_cm: float | None,
    steps: str,
    sport_type: str,
    sport_freq: str,
    body_fat: float | None,
    updated: bool = False,
) -> str:
    """The result of "new measurements"; `updated` when it replaced a record of the same day."""
    title = "Замер за сегодня обновлён" if updated else "Замер сохранён"
    hip = f"\n📐 Бёдра: {_cm(hip_cm)}" if hip_cm is not None else ""
    return (
        f"✅ <b>{title}</b> — {format_date(record_date)}\n\n"
        f"⚖️ Вес: {_kg(weight_kg)}\n"
        f"📐 Талия: {_cm(waist_cm)}\n"
        f"📐 Шея: {_cm(neck_cm)}{hip}\n"
        f"👟 Шаги в день: {_label(choices.STEPS, steps)}\n"
        f"🏃 Спорт: {_label(choices.SPORT_TYPE, sport_type)}, "
        f"{_label(choices.SPORT_FREQ, sport_freq).lower()}\n\n"
        f"Процент жира: <b>{_body_fat(body_fat)}</b>"
    )


# --- Goal ------------------------------------------------------------------------------------------


def goal_prompt(current_goal: str | None) -> str:
    return f"🎯 Сейчас ваша цель: <b>{_label(choices.GOAL, current_goal)}</b>.\nВыберите новую:\n\n{_goal_list()}"


def goal_changed(goal: str, calories: int, protein_g: int, fat_g: int, carbs_g: int) -> str:
    """Confirmation of a new goal with the KBJU recomputed from the latest record."""
    return f"✅ Цель обновлена: <b>{_label(choices.GOAL, goal)}</b>\n\n" + kbju_message(
        goal, calories, protein_g, fat_g, carbs_g
    )


def lean_refused(body_fat: float, min_body_fat: float) -> str:
    """Why "lean" is not offered below the threshold, and what to pick instead."""
    lean = choices.GOAL.label(choices.LEAN)
    return (
        f"⚠️ Цель «{lean}» сейчас не подойдёт: процент жира у вас {format_number(body_fat)}%, "
        f"а сушка безопасна, только если он не ниже {format_number(min_body_fat)}%. При меньшем "
        "запасе жира дефицит калорий бьёт по гормонам, иммунитету и мышцам.\n\n"
        f"Выберите «{choices.GOAL.label(choices.HEALTHY)}» — чтобы держать форму, или "
        f"«{choices.GOAL.label(choices.ATHLETIC)}» — чтобы набрать мышцы."
    )


# --- Food preferences ------------------------------------------------------------------------------

FOOD_EDIT_BUTTON = "✏️ Изменить"
FOOD_CANCEL_BUTTON = "↩️ Оставить как есть"
ASK_LIKES = (
    "🥗 Какие продукты и блюда вы <b>любите</b>? Напишите в свободной форме.\n"
    "Например: <i>курица, рыба, гречка, творог, ягоды</i>"
)
ASK_DISLIKES = (
    "🚫 А что вы <b>не едите</b> или не любите? Аллергии тоже сюда.\n"
    "Если ограничений нет — отправьте «-»."
)
FOOD_SAVED = "✅ Пищевые предпочтения сохранены — специалист учтёт их при составлении плана."
FOOD_KEPT = "Хорошо, оставляем как есть 👌"

_FOOD_PART_LIMIT = 1800  # two parts and the framing stay far below the 4096 limit


def food_preferences(likes: str, dislikes: str) -> str:
    """The saved preferences, shown with FOOD_EDIT_BUTTON / FOOD_CANCEL_BUTTON ('' dislikes: none)."""
    shown_dislikes = escape(clip(dislikes, _FOOD_PART_LIMIT)) if dislikes else "<i>ограничений нет</i>"
    return (
        "🥗 <b>Ваши пищевые предпочтения</b>\n\n"
        f"<b>Люблю:</b>\n{escape(clip(likes, _FOOD_PART_LIMIT))}\n\n"
        f"<b>Не ем:</b>\n{shown_dislikes}\n\n"
        "Изменить?"
    )


# --- Service messages ------------------------------------------------------------------------------

# /cancel: what follows is the menu for a registered person, REGISTER_FIRST for anyone else.
CANCELLED = "Отменено 👌 Начатые ответы не сохранены."
NOTHING_TO_CANCEL = "Сейчас нечего отменять 🙂"
# To a registered person only (the menu keyboard goes with it): /start would restart nothing.
UNKNOWN_TEXT = "Не совсем понял вас 🤔 Выберите, что сделать, в меню ниже или откройте его командой /menu."
REGISTER_FIRST = "Сначала пройдите короткий тест — это пара минут. Нажмите /start 🚀"
DB_UNAVAILABLE = "⏳ Сервис временно недоступен. Попробуйте, пожалуйста, через минуту."
GENERIC_ERROR = "😔 Что-то пошло не так. Попробуйте ещё раз — а если не выйдет, нажмите /start."
OUTDATED_BUTTON = "Эта кнопка устарела. Откройте меню заново: /menu"  # answerCallbackQuery: plain text
USE_BUTTONS = "Выберите, пожалуйста, вариант кнопкой под вопросом 👇"
TEXT_EXPECTED = "Здесь нужен ответ текстом ✍️ Напишите его обычным сообщением."


# --- Refusals raised by the domain (DomainError.message) ---------------------------------------------

_RECHECK = " Проверьте, пожалуйста, замеры и введите их ещё раз."
IMPOSSIBLE_MEASUREMENTS_MALE = (
    "🤔 Похоже, в замерах ошибка: обхват талии должен быть больше обхвата шеи, иначе процент жира "
    "не посчитать." + _RECHECK
)
IMPOSSIBLE_MEASUREMENTS_FEMALE = (
    "🤔 Похоже, в замерах ошибка: сумма обхватов талии и бёдер должна быть больше обхвата шеи, "
    "иначе процент жира не посчитать." + _RECHECK
)

_NAME_EXAMPLE = " Например: <i>Иванова Анна</i>"
NAME_NEEDS_TWO_WORDS = "Нужны фамилия и имя — хотя бы два слова через пробел." + _NAME_EXAMPLE
NAME_BAD_CHARACTERS = (
    "В имени можно использовать только русские или латинские буквы, пробелы и дефис внутри двойного "
    "имени — без цифр, точек и эмодзи. Например: <i>Римская-Корсакова Анна</i>"
)
NAME_WORD_TOO_SHORT = "Каждое слово имени должно быть не короче двух букв." + _NAME_EXAMPLE
NAME_REPEATED_LETTER = (
    "Похоже на случайный набор букв 🙂 Напишите, пожалуйста, настоящие фамилию и имя." + _NAME_EXAMPLE
)


def name_bad_length(low: int, high: int) -> str:
    return f"Фамилия и имя вместе — от {low} до {high} символов." + _NAME_EXAMPLE


_DATE_EXAMPLE = " Например: <i>05.03.1990</i>"
DATE_BAD_FORMAT = "Не получилось распознать дату. Напишите её в формате ДД.ММ.ГГГГ." + _DATE_EXAMPLE
DATE_DOES_NOT_EXIST = "Такой даты нет в календаре — проверьте день и месяц." + _DATE_EXAMPLE
DATE_IN_FUTURE = "Дата рождения не может быть в будущем — проверьте год." + _DATE_EXAMPLE


def date_age_out_of_range(low: int, high: int) -> str:
    return f"Бот рассчитан на возраст от {low} до {high} лет — проверьте год рождения." + _DATE_EXAMPLE


# field → (name in the nominative, unit, "in what units", example). All names are masculine.
_NUMBER_FIELDS = {
    "height": ("рост", "см", "в сантиметрах", "172"),
    "weight": ("вес", "кг", "в килограммах", "68,5"),
    "waist": ("обхват талии", "см", "в сантиметрах", "82"),
    "neck": ("обхват шеи", "см", "в сантиметрах", "36"),
    "hip": ("обхват бёдер", "см", "в сантиметрах", "98"),
}


def number_not_recognized(field: str) -> str:
    name, _, in_units, example = _NUMBER_FIELDS[field]
    return f"Не получилось распознать число. Напишите {name} {in_units} — только цифры. Например: <i>{example}</i>"


def number_not_whole(field: str) -> str:
    name, _, in_units, example = _NUMBER_FIELDS[field]
    return f"Укажите {name} {in_units} целым числом, без дробной части. Например: <i>{example}</i>"


def number_out_of_range(field: str, low: float, high: float) -> str:
    name, unit, _, example = _NUMBER_FIELDS[field]
    return (
        f"{name.capitalize()} должен быть от {format_number(low)} до {format_number(high)} {unit}. "
        f"Проверьте значение. Например: <i>{example}</i>"
    )


def _characters(n: int) -> str:
    return plural(n, "символ", "символа", "символов")


def likes_too_short(minimum: int) -> str:
    return (
        f"Напишите чуть подробнее — хотя бы {minimum} {_characters(minimum)}. "
        "Например: <i>курица, рыба, гречка, ягоды</i>"
    )


def dislikes_too_short(minimum: int) -> str:
    return f"Слишком коротко — нужно хотя бы {minimum} {_characters(minimum)}. Если ограничений нет, отправьте «-»."


def text_too_long(maximum: int) -> str:
    return f"Слишком длинный текст — максимум {maximum} {_characters(maximum)}. Сократите, пожалуйста."


TEXT_UNSUPPORTED_CHARACTERS = (
    "В тексте есть служебные символы, которые не получится сохранить. Уберите их и отправьте ещё раз."
)


# --- Privacy -------------------------------------------------------------------------------------------

DEFAULT_OPERATOR = "владелец этого бота"


def _operator(operator: str | None) -> str:
    return escape(clip(operator or DEFAULT_OPERATOR, 200))


def _first_upper(text: str) -> str:
    return text[:1].upper() + text[1:]


def privacy_short(operator: str | None = None) -> str:
    """The one paragraph of the welcome: what is stored, why, how to export and delete it."""
    return (
        f"🔒 Ваши ответы и замеры хранит {_operator(operator)} — только чтобы считать норму и показывать "
        "прогресс. Выгрузить их можно командой /export, удалить — /delete_me, подробнее — /privacy."
    )


def privacy_notice(operator: str | None = None, contact: str | None = None, backup_days: int = 14) -> str:
    """/privacy: the whole notice. `contact` (PRIVACY_CONTACT) is where to write; may be empty."""
    write_to = (f"\n\n✉️ Вопросы о ваших данных: {escape(clip(contact, 200))}" if contact else "")
    return (
        "🔒 <b>Как бот обращается с вашими данными</b>\n\n"
        f"<b>Кто хранит.</b> {_first_upper(_operator(operator)).rstrip('.')}.\n\n"
        "<b>Что хранится.</b> Имя и фамилия, дата рождения, пол, рост, вес, обхваты талии, шеи и бёдер, "
        "шаги, спорт и частота тренировок, цель, рассчитанный процент жира — по каждому дню замеров; "
        "пищевые предпочтения, если вы их указали; настройки напоминаний; ваш Telegram ID и имя "
        "пользователя; служебные отметки (на каком шаге теста вы сейчас, когда отправлено напоминание).\n\n"
        "<b>Зачем.</b> Чтобы рассчитать норму КБЖУ и процент жира, показывать прогресс, напоминать о "
        "замерах и передать специалисту ваши предпочтения, если вы запишетесь на консультацию. "
        "Данные не продаются и не передаются рекламным сетям.\n\n"
        "<b>Ваши права.</b> /export — прислать все ваши данные файлами (таблица CSV и отчёт PDF). "
        "/delete_me — удалить всё безвозвратно. После удаления данные остаются только в резервных "
        f"копиях и исчезают из них не позже чем через {backup_days} {plural(backup_days, 'день', 'дня', 'дней')}; "
        "при восстановлении из копии удаление повторяется автоматически."
        + write_to
    )


# --- My data: export and erasure -------------------------------------------------------------------------

DATA_EXPORT_BUTTON = "📤 Выгрузить мои данные"
DATA_ERASE_BUTTON = "🗑 Удалить мои данные"
DATA_PRIVACY_BUTTON = "🔒 Как хранятся данные"


def export_csv_caption(count: int) -> str:
    return (
        f"📄 Все ваши замеры — {count} {plural(count, 'запись', 'записи', 'записей')} — в таблице CSV. "
        "Она открывается в Excel, Numbers и Google Таблицах."
    )


EXPORT_REPORT_CAPTION = "📑 Отчёт на одну страницу: ваши данные, дневная норма КБЖУ и график прогресса."
EXPORT_DONE = "📤 Готово — это всё, что я о вас храню, в двух файлах выше."

ERASE_CONFIRM = (
    "🗑 <b>Удаление всех ваших данных</b>\n\n"
    "Я удалю всё, что храню о вас: имя, дату рождения, пол, все замеры и расчёты, пищевые предпочтения, "
    "напоминания, историю нашего диалога и запланированные сообщения. <b>Вернуть их будет нельзя.</b>\n\n"
    "Хотите сначала сохранить копию — нажмите «Нет» и затем /export.\n\n"
    "Удалить всё?"
)
ERASE_YES_BUTTON = "🗑 Да, удалить всё"
ERASE_NO_BUTTON = "↩️ Нет, оставить"
ERASE_ASKED = "Удаление данных: <b>подтверждено</b> ✅"
ERASE_DECLINED_LINE = "Удаление данных: <b>отменено</b>"
ERASE_KEPT = "Хорошо, ничего не удаляю 👌 Ваши данные на месте."
ERASE_ALREADY = "Ваших данных у меня уже нет."  # answerCallbackQuery: plain text
NOTHING_TO_ERASE = "У меня нет ваших данных — удалять нечего 🙂 Начать тест — /start."


def erased(backup_days: int) -> str:
    return (
        "✅ <b>Готово: все ваши данные удалены.</b>\n\n"
        f"В резервных копиях они хранятся ещё не больше {backup_days} "
        f"{plural(backup_days, 'дня', 'дней', 'дней')} и затем исчезают. Если захотите вернуться — "
        "нажмите /start, и начнём с чистого листа. Спасибо, что были с нами 🙏"
    )


# --- Reminders -------------------------------------------------------------------------------------------

_WEEKDAYS_PLURAL_DATIVE = ("понедельникам", "вторникам", "средам", "четвергам", "пятницам", "субботам",
                           "воскресеньям")
REMINDER_NO_BUTTON = "🙅 Нет, спасибо"
REMINDER_ZONES_BUTTON = "🌍 Другой часовой пояс"
REMINDER_CHANGE_BUTTON = "✏️ Изменить день и время"
REMINDER_OFF_BUTTON = "🔕 Выключить"
REMINDER_KEEP_BUTTON = "↩️ Оставить как есть"
REMINDER_NOT_NOW_BUTTON = "↩️ Не нужно"
REMINDER_MEASURE_BUTTON = "📏 Новые замеры"
REMINDER_SETTINGS_BUTTON = "⚙️ Настроить напоминания"

REMINDER_OFFER = (
    "⏰ <b>Напоминать о замерах?</b>\n\n"
    "Прогресс лучше всего виден, когда замеры делаются раз в неделю, в один день и примерно в одно "
    "время. Выберите день — и я буду напоминать:"
)
REMINDER_ASK_DAY = "📅 Выберите день недели для напоминаний:"
REMINDER_OFF_STATUS = (
    "⏰ <b>Напоминания выключены.</b>\n\n"
    "Хотите, я буду раз в неделю напоминать о замерах? Выберите день:"
)
REMINDER_ASK_ZONE = "🌍 Выберите ваш часовой пояс — напоминания придут по местному времени:"
REMINDER_DECLINED = (
    "Хорошо, без напоминаний 👌 Если передумаете — /reminders или кнопка «⏰ Напоминания» в меню."
)
REMINDER_KEPT = "Оставляем как есть 👌"
REMINDER_TURNED_OFF = "🔕 Напоминания выключены. Включить снова — /reminders или «⏰ Напоминания» в меню."


def _zone(zone: str) -> str:
    """A zone's label (or an IANA name from BOT_TIMEZONE), as shown."""
    return escape(clip(zone, 64))


def weekday_dative(day: int) -> str:
    """"по понедельникам" without the preposition."""
    return _WEEKDAYS_PLURAL_DATIVE[day]


def hour_range(hour: int) -> str:
    """9 → "9:00–10:00" (23 → "23:00–0:00")."""
    return f"{hour}:00–{(hour + 1) % 24}:00"


def reminder_ask_hour(day: int, zone: str) -> str:
    return (
        f"🕘 В какое время напоминать по {weekday_dative(day)}? Время — {_zone(zone)}.\n"
        "Напоминание придёт в течение выбранного часа."
    )


def reminder_day_chosen(day: int) -> str:
    return f"День напоминаний: <b>по {weekday_dative(day)}</b> ✅"


def reminder_hour_chosen(hour: int) -> str:
    return f"Время напоминаний: <b>{hour_range(hour)}</b> ✅"


def reminder_zone_chosen(zone: str) -> str:
    return f"Часовой пояс: <b>{_zone(zone)}</b> ✅"


REMINDER_ZONE_CHANGING = "Часовой пояс: <b>выбираю другой</b> 🌍"
REMINDER_DECLINED_LINE = "Напоминания: <b>не нужны</b>"
REMINDER_CHANGING_LINE = "Напоминания: <b>меняем</b> ✏️"
REMINDER_OFF_LINE = "Напоминания: <b>выключены</b> 🔕"
REMINDER_KEPT_LINE = "Напоминания: <b>без изменений</b> ✅"


def reminder_set(day: int, hour: int, zone: str, next_day: date) -> str:
    return (
        f"⏰ <b>Готово!</b> Буду напоминать о замерах по {weekday_dative(day)} между {hour}:00 и "
        f"{(hour + 1) % 24}:00, время — {_zone(zone)}. Ближайшее напоминание — {format_date(next_day)}.\n\n"
        "Если на этой неделе вы уже сделаете замеры, напоминать не стану. Изменить или выключить — "
        "/reminders или «⏰ Напоминания» в меню."
    )


def reminder_status(day: int, hour: int, zone: str, next_day: date) -> str:
    return (
        f"⏰ <b>Напоминания включены</b>: по {weekday_dative(day)}, {hour_range(hour)}, время — {_zone(zone)}.\n"
        f"Ближайшее — {format_date(next_day)}."
    )


REMINDER_MESSAGE = (
    "⏰ <b>Пора сделать замеры!</b>\n\n"
    "Прошла неделя — самое время встать на весы и снять мерки сантиметровой лентой. Пара минут, "
    "и вы увидите, как меняется тело. Точнее всего — утром, натощак.\n\n"
    "Нажмите «📏 Новые замеры» 👇"
)


# --- Statistics in «Прогресс» ------------------------------------------------------------------------------

WEEKS_SHOWN = 6  # the latest weeks listed one per line


def _per_week(value: float, unit: str) -> str:
    return f"{format_change(value)} {unit}/нед."


# (pace) → what it means, in plain words; {rate} is the weekly change of weight, {share} the
# same as a share of body weight.
_PACE = {
    "too_fast_lean": "Вы худеете на {rate} кг в неделю ({share}% веса) — это быстрее, чем нужно: при таком "
    "темпе вместе с жиром уходят мышцы. Добавьте 100–200 ккал к норме и не урезайте белок.",
    "on_track_lean": "Вы худеете на {rate} кг в неделю ({share}% веса) — идеальный темп для сухого тела: "
    "уходит жир, а мышцы остаются. Так держать! 💪",
    "slow_lean": "Вы худеете на {rate} кг в неделю ({share}% веса) — медленнее, чем можно. Проверьте, "
    "укладываетесь ли в норму КБЖУ, и добавьте шагов 👟",
    "fat_loss_lean": "Вес стоит, а талия уменьшается — значит, уходит жир. Отличная работа, продолжайте ✨",
    "standing_lean": "Вес пока стоит на месте. Для сухого тела нужен дефицит: сверьтесь с нормой КБЖУ и "
    "добавьте активности.",
    "wrong_way_lean": "Вес растёт на {rate} кг в неделю, а цель — сухое тело. Вернитесь к норме КБЖУ — "
    "на консультации специалист поможет найти, где прячутся лишние калории.",
    "too_fast_athletic": "Вы набираете {rate} кг в неделю ({share}% веса) — быстрее, чем растут мышцы: "
    "лишнее уходит в жир. Уменьшите калории на 100–150 ккал.",
    "on_track_athletic": "Вы набираете {rate} кг в неделю ({share}% веса) — хороший темп для роста мышц 💪",
    "standing_athletic": "Вес пока не растёт. Для набора мышц нужен небольшой профицит: добавьте "
    "100–200 ккал и не пропускайте силовые.",
    "wrong_way_athletic": "Вес снижается на {rate} кг в неделю, а цель — спортивное тело. Ешьте не меньше "
    "нормы КБЖУ и следите за белком.",
    "on_track_healthy": "Вес держится в пределах {rate} кг в неделю — для здорового тела то, что нужно 👌",
    "losing_healthy": "Вы худеете на {rate} кг в неделю ({share}% веса). Если вы этого и хотели — "
    "смените цель на «Сухое тело», чтобы норма это учитывала.",
    "gaining_healthy": "Вес растёт на {rate} кг в неделю ({share}% веса). Сверьтесь с нормой КБЖУ "
    "и добавьте шагов 👟",
}
PACE_UNKNOWN = "Темп появится, когда наберутся замеры хотя бы за две разные недели 📅"


def pace_line(pace: str, goal: str | None, weight_per_week: float | None, share_per_week: float | None) -> str:
    """The pace toward the goal (trends.Pace values) in plain words."""
    if pace == "unknown" or weight_per_week is None or share_per_week is None:
        return PACE_UNKNOWN
    kind = goal if goal in (choices.LEAN, choices.ATHLETIC) else choices.HEALTHY
    line = _PACE.get(f"{pace}_{kind}", PACE_UNKNOWN)
    return line.format(rate=format_number(abs(weight_per_week)), share=format_number(abs(share_per_week)))


def weekly_stats(weeks: list[tuple[date, int, float, float, float | None]], weight_trend: float | None,
                 waist_trend: float | None, fat_trend: float | None, pace: str) -> str:
    """Weekly averages (the newest WEEKS_SHOWN weeks: start, count, weight, waist, body fat), the trend
    per week, and the pace line (pace_line)."""
    lines = ["📅 <b>По неделям</b> (средние)"]
    for start, count, weight, waist, fat in weeks[-WEEKS_SHOWN:]:
        fat_text = f" · жир {format_number(fat)}%" if fat is not None else ""
        times = f" ({count} {plural(count, 'замер', 'замера', 'замеров')})" if count > 1 else ""
        lines.append(f"• с {format_date(start)}: {format_number(weight)} кг · талия {format_number(waist)} см"
                     f"{fat_text}{times}")
    parts = []
    if weight_trend is not None:
        parts.append(f"вес {_per_week(weight_trend, 'кг')}")
    if waist_trend is not None:
        parts.append(f"талия {_per_week(waist_trend, 'см')}")
    if fat_trend is not None:
        parts.append(f"жир {_per_week(fat_trend, '%')}")
    if parts:
        lines.append(f"\n📉 <b>Тренд</b>: {', '.join(parts)}")
    lines.append(f"\n🎯 <b>Темп</b>: {pace}")
    return "\n".join(lines)


# --- The one-page report (PDF; plain text, drawn by bot/report.py) ------------------------------------------

REPORT_TITLE = "KBJU Bot — отчёт о прогрессе"
REPORT_PERSON = "Данные"
REPORT_LATEST = "Последний замер"
REPORT_TARGETS = "Дневная норма КБЖУ"
REPORT_PROGRESS = "Прогресс"
REPORT_HISTORY = "Замеры"
REPORT_HISTORY_COLUMNS = ("Дата", "Вес, кг", "Талия, см", "Шея, см", "Бёдра, см", "Жир, %")
REPORT_NO_CHART = "Прогресс и график появятся со второго дня замеров."


def report_generated(day: date, operator: str | None) -> str:
    return f"Сформирован {format_date(day)}. Данные хранит {clip(operator or DEFAULT_OPERATOR, 200).rstrip('.')}."


def report_more_rows(shown: int, total: int) -> str:
    return f"Показаны последние {shown} из {total}; все замеры — в таблице CSV."

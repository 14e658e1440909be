"""The export files: the CSV byte for byte, read back; the report's content."""

from __future__ import annotations

from datetime import date

from bot.domain import export, texts

DATA = {
    "telegram_id": 42,
    "users": [{"telegram_id": 42, "last_name": "Петрова", "first_name": "Анна", "sex": "female",
               "date_of_birth": "1995-02-01", "created_at": "2026-11-02T09:00:00+00:00"}],
    "user_records": [
        {"id": 2, "date": "2026-11-09", "weight": 60.30000000000001, "waist": 69.5, "neck": 32, "hip": 95,
         "height": 165, "bodyfat": 24.2, "goal": "athletic", "steps": "5000-8000", "sport_type": "yoga",
         "sport_freq": "1-2", "legacy_goal": None, "legacy_steps": None, "legacy_sport_type": None,
         "legacy_sport_freq": None},
        {"id": 1, "date": "2026-11-02", "weight": 60.5, "waist": 70, "neck": 32, "hip": 96, "height": 165,
         "bodyfat": 25.1, "goal": None, "steps": "5000-8000", "sport_type": "yoga", "sport_freq": None,
         "legacy_goal": "maintain", "legacy_steps": None, "legacy_sport_type": None, "legacy_sport_freq": "2-3"},
    ],
}


def test_the_csv_is_for_a_russian_excel():
    data = export.csv_bytes(export.measurements(DATA))
    assert data == (
        "\ufeffДата;Вес, кг;Талия, см;Шея, см;Бёдра, см;Рост, см;Жир, %;Цель;Шаги в день;Спорт;Тренировки\r\n"
        "02.11.2026;60,5;70;32;96;165;25,1;maintain;5 000 – 8 000;Йога / пилатес;2-3\r\n"
        "09.11.2026;60,3;69,5;32;95;165;24,2;Спортивное тело;5 000 – 8 000;Йога / пилатес;1–2 раза в неделю\r\n"
    ).encode()
    rows = export.parse_csv(data)
    assert [(r["Дата"], export.parse_number(r["Вес, кг"])) for r in rows] == [("02.11.2026", 60.5),
                                                                              ("09.11.2026", 60.3)]


def test_the_report_names_the_person_targets_and_progress():
    rows = export.measurements(DATA)
    report = export.report(export.person(DATA), rows, date(2026, 11, 10), "ИП Иванов")
    assert report.title.endswith("Петрова Анна")
    headings = [heading for heading, _ in report.sections]
    assert headings == [texts.REPORT_PERSON, texts.REPORT_LATEST, texts.REPORT_TARGETS, texts.REPORT_PROGRESS]
    assert report.history[0][0] == "09.11.2026" and len(report.history) == 2  # newest first
    assert report.chart == ((date(2026, 11, 2), 60.5, 25.1), (date(2026, 11, 9), 60.30000000000001, 24.2))
    assert "ИП Иванов" in report.footer and "10.11.2026" in report.footer


def test_a_long_history_is_cut_on_the_page_not_in_the_csv():
    many = {**DATA, "user_records": [{**DATA["user_records"][0], "id": i, "date": f"2026-{1 + i // 28:02d}-"
                                      f"{1 + i % 28:02d}"} for i in range(40)]}
    rows = export.measurements(many)
    report = export.report(export.person(many), rows, date(2026, 12, 1), None)
    assert len(report.history) == export.REPORT_ROWS and "из 40" in report.history_note
    assert len(export.parse_csv(export.csv_bytes(rows))) == 40

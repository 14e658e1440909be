"""The migration's translation tables are the bot's own domains: one source of truth, tied by tests."""

from __future__ import annotations

import re

import psycopg
import pytest

from bot.domain import choices, validation
from kbjuctl.sqlite_migration import mapping


@pytest.mark.parametrize(("choice_set", "table"), [
    (choices.GOAL, mapping.GOAL), (choices.STEPS, mapping.STEPS), (choices.SPORT_TYPE, mapping.SPORT_TYPE),
    (choices.SPORT_FREQ, mapping.SPORT_FREQ),
])
def test_every_code_of_the_bot_migrates_as_itself_and_every_alias_names_one(choice_set, table):
    assert {code: table[code] for code in choice_set.codes} == {code: code for code in choice_set.codes}
    assert set(table.values()) <= set(choice_set.codes)
    assert set(choices.SEX.codes) == mapping.SEX


def test_an_alias_of_no_code_is_refused_when_the_module_loads():
    with pytest.raises(ValueError, match="no sport code"):
        mapping._translation(choices.SPORT_TYPE, {"бокс": "boxing"})


def test_a_record_of_each_sport_type_is_mapped_not_reported_unmapped():
    unmapped = mapping.Unmapped()
    mapper = mapping.RecordMapper(unmapped)
    for source_id, sport in enumerate(choices.SPORT_TYPE.codes, 1):
        row = (source_id, 1, "2025-01-01", 80.0, 90.0, 40.0, None, 180, "healthy", "0-3000", sport, "1-2", 1.1, 20.0)
        assert mapper.map(row)[9] == sport
    assert not unmapped.counts


def test_the_ranges_are_the_bots_bounds_and_the_schemas_checks(database_url):
    """validation's bounds, mapping.RANGES and user_records' CHECK constraints are the same numbers."""
    with psycopg.connect(database_url) as conn:
        checks = [row[0] for row in conn.execute(
            "SELECT pg_get_constraintdef(oid) FROM pg_constraint "
            "WHERE conrelid = 'user_records'::regclass AND contype = 'c'")]
    found = {}
    for check in checks:
        match = re.search(r"\((\w+) >= \(?([\d.]+)\)?.*AND \(\w+ <= \(?([\d.]+)\)?", check)
        if match:
            found[match[1]] = (float(match[2]), float(match[3]))
    for column, (low, high) in mapping.RANGES.items():
        assert found[column] == (low, high), (column, found.get(column))
    assert mapping.RANGES["weight"] == (validation.WEIGHT_MIN, validation.WEIGHT_MAX)
    assert mapping.RANGES["height"] == (validation.HEIGHT_MIN, validation.HEIGHT_MAX)

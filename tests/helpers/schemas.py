"""--json output checked against its documented JSON Schema (docs/schemas/<command>.schema.json)."""

from __future__ import annotations

import json
from pathlib import Path

import jsonschema

SCHEMAS = Path(__file__).resolve().parents[2] / "docs" / "schemas"


def validated(command: str, output: str | dict) -> dict:
    """The parsed output of `kbjuctl <command> --json` (command words joined by '-'), once it matches."""
    data = json.loads(output) if isinstance(output, str) else output
    schema = json.loads((SCHEMAS / f"{command}.schema.json").read_text())
    jsonschema.Draft202012Validator(schema, format_checker=jsonschema.FormatChecker()).validate(data)
    return data

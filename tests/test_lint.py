"""The lint rules pyproject.toml claims (line length, bugbear, pyupgrade, simplify) hold on the whole tree."""

from __future__ import annotations

import shutil
import subprocess
import sys
from pathlib import Path

import pytest

ROOT = Path(__file__).resolve().parents[1]


@pytest.mark.slow  # starts kbjuctl or another program
def test_ruff_finds_nothing():
    ruff = shutil.which("ruff", path=str(Path(sys.executable).parent)) or shutil.which("ruff")
    assert ruff, "ruff is part of the dev extra: ./scripts/test.sh installs it"
    result = subprocess.run([ruff, "check", "--no-cache", "--output-format", "concise", str(ROOT)],
                            capture_output=True, text=True, timeout=120, check=False)
    assert result.returncode == 0, result.stdout + result.stderr


def test_nothing_reads_outside_the_repository():
    """A user's clone has nothing beside it: no path to ../shared or to this machine's folders."""
    import re

    outside = re.compile(r"\.\./shared|/work/|parents?(\[\d\])?\s*/\s*[\"']shared")
    found = []
    for path in ROOT.rglob("*"):
        if path.suffix not in {".py", ".sh", ".toml", ".yml", ".yaml", ".cfg", ".ini"} and path.name != "run":
            continue
        if any(part in {".venv", ".git", "node_modules", ".kbju"} for part in path.relative_to(ROOT).parts):
            continue
        for number, line in enumerate(path.read_text(errors="replace").splitlines(), 1):
            if outside.search(line) and "test_lint.py" not in path.name:
                found.append(f"{path.relative_to(ROOT)}:{number}: {line.strip()}")
    assert not found, "\n".join(found)


def test_no_test_module_imports_another():
    """Shared test code lives in tests/helpers/, not in test modules."""
    import ast

    found = []
    for path in sorted((ROOT / "tests").rglob("*.py")):
        for node in ast.walk(ast.parse(path.read_text())):
            names = [node.module or ""] if isinstance(node, ast.ImportFrom) else \
                [a.name for a in node.names] if isinstance(node, ast.Import) else []
            found += [f"{path.name} imports {n}" for n in names if n.startswith("tests.test_")]
    assert not found, found

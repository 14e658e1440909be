"""Security scanners, run by the README's test command wherever they can run offline:

- bandit over the code: no finding of medium or high severity; each one silenced inline says why
  (`# nosec B608  # the reason`);
- shellcheck over every shell script of the repository, and the shell that docker-compose.yml runs;
- pip-audit of the dependencies against PyPI's vulnerability data: it needs the network, so it runs
  in CI (GITHUB_ACTIONS) or with KBJU_PIP_AUDIT=1, and is skipped with that message otherwise.
hadolint runs in tests/test_ops_docker.py (one test, on the Dockerfile)."""

from __future__ import annotations

import json
import os
import re
import shutil
import subprocess
import sys
from pathlib import Path

import pytest
import yaml

ROOT = Path(__file__).resolve().parents[1]
BIN = Path(sys.executable).parent
SCANNED = ("bot", "kbjuctl", "tgstandin", "loadtests", "benchmarks")
SKIP_DIRS = {".git", ".venv", ".kbju", "backups", "__pycache__", "node_modules", ".pytest_cache", ".ruff_cache",
             ".hypothesis"}
SHELLCHECK = shutil.which("shellcheck")


def _tool(name: str) -> str:
    path = BIN / name
    if not path.exists():
        pytest.fail(f"{name} is missing from {BIN}: ./scripts/test.sh installs the dev extra (pip install -e .[dev])")
    return str(path)


def _files() -> list[Path]:
    found = []
    for dirpath, dirnames, filenames in os.walk(ROOT):
        dirnames[:] = [d for d in dirnames if d not in SKIP_DIRS]
        found += [Path(dirpath) / name for name in filenames]
    return found


def test_bandit_finds_nothing_of_medium_or_high_severity():
    done = subprocess.run([_tool("bandit"), "-r", *SCANNED, "-ll", "-f", "json", "-q"], cwd=ROOT,
                          capture_output=True, text=True, timeout=300)
    report = json.loads(done.stdout)
    found = [f"{r['filename']}:{r['line_number']} {r['test_id']} {r['issue_severity']}: {r['issue_text']}"
             for r in report["results"]]
    assert found == [] and done.returncode == 0, "\n".join(found) or done.stderr


def test_every_silenced_bandit_finding_says_why():
    unexplained = []
    for path in _files():
        if path.suffix != ".py" or path.parts[len(ROOT.parts)] == "tests":
            continue
        for number, line in enumerate(path.read_text(errors="replace").splitlines(), 1):
            if "nosec" in line and not re.search(r"# nosec B\d{3}(, B\d{3})*  # \w", line):
                unexplained.append(f"{path.relative_to(ROOT)}:{number}: {line.strip()}")
    assert unexplained == []


def shell_scripts() -> list[Path]:
    """Every file that is a shell script: a .sh name or a sh/bash shebang."""
    scripts = []
    for path in _files():
        if path.suffix == ".sh":
            scripts.append(path)
            continue
        try:
            with path.open("rb") as f:
                head = f.read(64)
        except OSError:
            continue
        if re.match(rb"#!\s*(/usr)?/bin/(env\s+)?(ba)?sh\b", head):
            scripts.append(path)
    return sorted(scripts)


@pytest.mark.skipif(SHELLCHECK is None, reason="shellcheck missing (Debian package shellcheck): "
                                               "./scripts/system-deps.sh")
def test_shellcheck_finds_nothing_in_any_shell_script():
    scripts = shell_scripts()
    names = {str(p.relative_to(ROOT)) for p in scripts}
    assert {"scripts/test.sh", "scripts/system-deps.sh", ".ci/run",
            "deploy/proxy/haproxy/certbot-deploy-hook.sh"} <= names
    done = subprocess.run([SHELLCHECK, "--format=gcc", *map(str, scripts)], capture_output=True, text=True,
                          timeout=120, cwd=ROOT)
    assert done.returncode == 0, done.stdout + done.stderr


@pytest.mark.skipif(SHELLCHECK is None or shutil.which("docker-compose") is None,
                    reason="shellcheck or docker-compose missing: ./scripts/system-deps.sh")
def test_shellcheck_finds_nothing_in_the_shell_compose_runs(tmp_path):
    from tests.helpers.compose import compose_config, filled_env

    rendered = yaml.safe_load(compose_config(filled_env(tmp_path)).stdout)
    scripts = []
    for name, service in rendered["services"].items():
        entrypoint = service.get("entrypoint") or []
        if entrypoint[:2] == ["/bin/sh", "-c"]:
            script = tmp_path / f"{name}.sh"
            script.write_text("#!/bin/sh\n" + service["command"][0] + "\n")
            scripts.append(str(script))
    assert len(scripts) >= 2  # migrate and backup
    done = subprocess.run([SHELLCHECK, "--format=gcc", *scripts], capture_output=True, text=True, timeout=60)
    assert done.returncode == 0, done.stdout


def test_pip_audit_finds_no_known_vulnerability():
    if not (os.environ.get("GITHUB_ACTIONS") or os.environ.get("KBJU_PIP_AUDIT")):
        pytest.skip("pip-audit asks PyPI's vulnerability data (network): it runs in CI, or here with KBJU_PIP_AUDIT=1")
    locks = sorted((ROOT / "requirements").glob("*.txt")) if (ROOT / "requirements").is_dir() else []
    # The lock files (exactly what every install uses), else what the test command installed here.
    args = [arg for lock in locks for arg in ("-r", str(lock))] if locks else ["--skip-editable"]
    done = subprocess.run([_tool("pip-audit"), "--progress-spinner=off", *args], capture_output=True, text=True,
                          timeout=600, cwd=ROOT)
    assert done.returncode == 0, done.stdout + done.stderr

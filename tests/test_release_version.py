"""One version, from the package metadata: `kbjuctl --version`, and the revision beside it."""

from __future__ import annotations

import os
import subprocess
import sys
import tomllib

import pytest

from tests.helpers.bot_harness import ROOT

PYPROJECT_VERSION = tomllib.loads((ROOT / "pyproject.toml").read_text())["project"]["version"]


def kbjuctl_version(**env: str) -> subprocess.CompletedProcess:
    return subprocess.run([sys.executable, "-m", "kbjuctl", "--version"], capture_output=True, text=True,
                          timeout=30, check=False, env={**os.environ, **env}, cwd="/")


def head() -> str:
    return subprocess.run(["git", "-C", str(ROOT), "rev-parse", "HEAD"], capture_output=True, text=True,
                          check=True).stdout.strip()


@pytest.mark.slow  # starts kbjuctl or another program
def test_version_is_the_package_version_with_the_checkouts_revision():
    result = kbjuctl_version(KBJU_REVISION="")
    assert result.returncode == 0, result.stderr
    assert result.stdout.strip() == f"kbjuctl {PYPROJECT_VERSION} (revision {head()})"


@pytest.mark.slow  # starts kbjuctl or another program
def test_an_images_revision_build_argument_wins_over_git():
    result = kbjuctl_version(KBJU_REVISION="0123456789abcdef0123456789abcdef01234567")
    assert result.stdout.strip() == f"kbjuctl {PYPROJECT_VERSION} (revision 0123456789abcdef0123456789abcdef01234567)"


def test_the_version_is_semantic_for_vX_Y_Z_release_tags():
    parts = PYPROJECT_VERSION.split(".")
    assert len(parts) == 3 and all(p.isdigit() for p in parts), PYPROJECT_VERSION

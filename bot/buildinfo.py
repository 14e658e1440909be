"""Which build is running: the version from the package metadata, and its git revision when known.

One source for `kbjuctl --version`, the webhook's /healthz, the kbju_build_info metric and (through
the image's build arguments) its OCI labels. Releases are tagged vX.Y.Z with X.Y.Z the version of
pyproject.toml (docs/operations.md, "Releases").
"""

from __future__ import annotations

import functools
import os
import re
import subprocess
from importlib.metadata import PackageNotFoundError
from importlib.metadata import version as distribution_version
from pathlib import Path

DISTRIBUTION = "kbju-platform"
REVISION_ENV = "KBJU_REVISION"  # set in the image from its REVISION build argument
UNKNOWN = "unknown"
_CHECKOUT = Path(__file__).resolve().parents[1]
_SHA = re.compile(r"[0-9a-f]{40}")


@functools.cache
def version() -> str:
    try:
        return distribution_version(DISTRIBUTION)
    except PackageNotFoundError:
        return UNKNOWN


@functools.cache
def revision() -> str:
    """The commit this code was built from: $KBJU_REVISION (the image), else `git rev-parse HEAD` of
    the checkout it runs from (an editable install), else "unknown"."""
    given = os.environ.get(REVISION_ENV, "").strip()
    if given and given != UNKNOWN:
        return given
    if not (_CHECKOUT / ".git").exists():
        return UNKNOWN
    try:
        result = subprocess.run(["git", "-C", str(_CHECKOUT), "rev-parse", "HEAD"], capture_output=True, text=True,
                                timeout=5, check=False)
    except (OSError, subprocess.SubprocessError):
        return UNKNOWN
    sha = result.stdout.strip()
    return sha if result.returncode == 0 and _SHA.fullmatch(sha) else UNKNOWN


def describe(program: str) -> str:
    """`kbjuctl 0.2.0 (revision 1a2b...)`, or without the revision when it is unknown."""
    text = f"{program} {version()}"
    return text if revision() == UNKNOWN else f"{text} (revision {revision()})"

"""Source trees of other revisions: `git archive` of a revision exported into a folder.

Used where a command needs the code of a release other than the one running (its statement
catalogue, the old release of an upgrade drill). Nothing in the repository changes: no worktree is
registered, nothing is checked out.
"""

from __future__ import annotations

import io
import subprocess
import tarfile
from pathlib import Path

from kbjuctl.errors import BadInput

PROJECT_ROOT = Path(__file__).resolve().parents[1]


def _git(*args: str, cwd: Path) -> bytes:
    try:
        result = subprocess.run(["git", *args], cwd=cwd, capture_output=True, check=False, timeout=120)
    except FileNotFoundError:
        raise BadInput("git is not installed: it is needed to export another revision's source tree.") from None
    if result.returncode != 0:
        message = result.stderr.decode(errors="replace").strip().splitlines()
        raise BadInput(f"git {args[0]}: {message[-1] if message else 'failed'}")
    return result.stdout


def repository(start: Path | None = None) -> Path:
    """The top of the git repository this project was run from."""
    for candidate in (start, PROJECT_ROOT, Path.cwd()):
        if candidate is None:
            continue
        try:
            return Path(_git("rev-parse", "--show-toplevel", cwd=candidate).decode().strip())
        except BadInput:
            continue
    raise BadInput("Not in a git repository: give the other release's source tree as a folder instead.")


def resolve(rev: str, repo: Path | None = None) -> str:
    """The full commit id of a revision (tag, branch, commit)."""
    repo = repo or repository()
    try:
        return _git("rev-parse", "--verify", "--quiet", f"{rev}^{{commit}}", cwd=repo).decode().strip()
    except BadInput:
        raise BadInput(f"{rev}: no such revision in {repo} (a tag such as v0.1.0, a branch or a commit).") from None


def export(rev: str, into: Path, repo: Path | None = None) -> str:
    """Write the tree of `rev` into the folder `into` (created); returns the commit id."""
    repo = repo or repository()
    commit = resolve(rev, repo)
    archive = _git("archive", "--format=tar", commit, cwd=repo)
    into.mkdir(parents=True, exist_ok=True)
    with tarfile.open(fileobj=io.BytesIO(archive)) as tar:
        if hasattr(tarfile, "data_filter"):  # Python 3.11.4+
            tar.extractall(into, filter="data")
        else:
            tar.extractall(into)  # nosec B202  # git archive of our own repository: no links out, no absolute paths
    return commit


def latest_release_tag(repo: Path | None = None) -> str | None:
    """The newest vX.Y.Z tag reachable from HEAD, or None."""
    try:
        return _git("describe", "--tags", "--abbrev=0", "--match", "v[0-9]*", "HEAD",
                    cwd=repo or repository()).decode().strip() or None
    except BadInput:
        return None

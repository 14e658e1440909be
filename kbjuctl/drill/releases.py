"""The two releases of an upgrade drill: code trees that run side by side, one schema between them.

A release is a source tree of this project (a folder, or a git revision exported into the drill's
folder with `git archive`) and the Python that runs it: the tree's own .venv when it has one,
else this interpreter with the tree first on PYTHONPATH (the dependencies of the running install
then serve both; make a venv in the tree when they differ).

The new release's migrations are its sql/ folder; the ones the old tree lacks are "the next
release's migrations". With `demo_migration` the drill adds one more of its own, an expand
migration of the kind a release ships (a nullable column and an index on the conversations every
update writes), in a migrations folder of the drill's, so a release without a schema change still
drills the migration and its rollback under load. It never ships in sql/.
"""

from __future__ import annotations

import shutil
import sys
from dataclasses import dataclass
from pathlib import Path

from kbjuctl import gittree
from kbjuctl.compat.catalogue import running_version
from kbjuctl.errors import BadInput

DEMO_ID = "9000.drill-expand-conversations"
DEMO_SQL = """-- depends: {depends}
-- The upgrade drill's own expand migration (never in sql/): what a release adds while the previous
-- one still serves. A nullable column without a default is a catalog change only; the index is
-- built under a lock that holds writes to conversations for its (short) build.
ALTER TABLE conversations ADD COLUMN drill_note text;
CREATE INDEX conversations_drill_note_idx ON conversations (drill_note) WHERE drill_note IS NOT NULL;
"""
DEMO_ROLLBACK = """DROP INDEX IF EXISTS conversations_drill_note_idx;
ALTER TABLE conversations DROP COLUMN IF EXISTS drill_note;
"""


@dataclass(frozen=True)
class Release:
    label: str              # old / new
    tree: Path
    version: str
    revision: str | None    # the commit, when exported from git
    python: str
    sql_dir: Path           # the migrations this release applies and rolls back

    @property
    def name(self) -> str:
        if self.revision:
            return f"{self.version} ({self.revision[:10]})"
        return f"{self.version} ({'this tree' if self.tree == gittree.PROJECT_ROOT else self.tree})"

    def environment(self) -> dict[str, str]:
        """What a process of this release needs: its tree first on the path, its migrations folder."""
        return {"PYTHONPATH": str(self.tree), "KBJU_SQL_DIR": str(self.sql_dir)}

    def command(self, *args: str) -> list[str]:
        return [self.python, "-m", "kbjuctl", *args]


def migration_ids(sql_dir: Path) -> list[str]:
    """Migration ids of a folder, in file-name order (ours are numbered)."""
    return sorted(p.name.removesuffix(".sql") for p in sql_dir.glob("*.sql") if not p.name.endswith(".rollback.sql"))


def prepare(label: str, where: str | None, folder: Path) -> Release:
    """A release from a folder or a git revision (exported into folder/<label>); None: this tree."""
    revision = None
    if where is None:
        tree = gittree.PROJECT_ROOT
    elif Path(where).is_dir():
        tree = Path(where).resolve()
    else:
        tree = folder / label
        if tree.exists():
            shutil.rmtree(tree)
        revision = gittree.export(where, tree)
    if not (tree / "bot").is_dir() or not (tree / "kbjuctl").is_dir() or not (tree / "sql").is_dir():
        raise BadInput(f"{tree}: not a source tree of this project (bot/, kbjuctl/ and sql/ expected).")
    venv_python = tree / ".venv" / "bin" / "python"
    python = str(venv_python) if venv_python.is_file() else sys.executable
    return Release(label, tree, running_version(tree), revision, python, tree / "sql")


def with_demo_migration(release: Release, folder: Path) -> tuple[Release, str]:
    """The release with the drill's expand migration after its own, in a folder of the drill's."""
    target = folder / f"sql-{release.label}"
    if target.exists():
        shutil.rmtree(target)
    shutil.copytree(release.sql_dir, target, ignore=shutil.ignore_patterns("compat"))
    newest = migration_ids(target)[-1]
    (target / f"{DEMO_ID}.sql").write_text(DEMO_SQL.format(depends=newest))
    (target / f"{DEMO_ID}.rollback.sql").write_text(DEMO_ROLLBACK)
    return Release(release.label, release.tree, release.version, release.revision, release.python, target), DEMO_ID


def next_migrations(old: Release, new: Release) -> list[str]:
    """Migrations of the new release that the old one does not have (the upgrade applies them)."""
    known = set(migration_ids(old.sql_dir))
    return [m for m in migration_ids(new.sql_dir) if m not in known]

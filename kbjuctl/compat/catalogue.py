"""The catalogue of a release: every SQL statement its bot and kbjuctl send to PostgreSQL.

Collected from the source tree without importing it (so any revision's tree will do, e.g. one
exported with `git archive`): in every Python file under bot/ and kbjuctl/, each string literal
that begins with SELECT, INSERT, UPDATE, DELETE or WITH and has more than that one word. Its name
is the Query's (bot/db) or the constant's it is assigned to. psycopg's placeholders (`%s`,
`%(name)s`) become PostgreSQL's `$n`, so every statement can be PREPAREd as it is stored.

Not catalogued, and counted as such: statements built at run time (f-strings, psycopg.sql or
str.format templates: their table names are not known before they run) and the SQLite reader of
the old bot's file (`SQLITE_MODULES`), which never talks to PostgreSQL.

`kbjuctl db catalogue` writes one to sql/compat/<version>.json when a release is tagged.
"""

from __future__ import annotations

import ast
import json
import re
import tomllib
from dataclasses import asdict, dataclass, field
from pathlib import Path

from kbjuctl.errors import BadInput

PACKAGES = ("bot", "kbjuctl")
SQLITE_MODULES = frozenset({"kbjuctl/sqlite_migration/source.py"})
STATEMENT = re.compile(r"^\s*(SELECT|INSERT|UPDATE|DELETE|WITH)\s+\S", re.DOTALL)
TEMPLATE = re.compile(r"\{\w*\}")
PSYCOPG_PLACEHOLDER = re.compile(r"%%|%\((\w+)\)s|%s")
COMPAT_FOLDER = "compat"  # under the migrations folder: sql/compat/<version>.json


@dataclass(frozen=True)
class Statement:
    source: str          # path in the tree, e.g. bot/db/users.py
    name: str | None     # the Query's name or the constant's; None for a literal passed in place
    sql: str             # with $n placeholders

    @property
    def label(self) -> str:
        return f"{self.source}:{self.name}" if self.name else self.source


@dataclass
class Catalogue:
    version: str
    statements: list[Statement] = field(default_factory=list)
    not_catalogued: int = 0   # statements built at run time
    revision: str | None = None

    def as_dict(self) -> dict:
        return {"version": self.version, "revision": self.revision,
                "statements": [asdict(s) for s in self.statements], "not_catalogued": self.not_catalogued}

    def write(self, path: Path) -> None:
        path.parent.mkdir(parents=True, exist_ok=True)
        path.write_text(json.dumps(self.as_dict(), ensure_ascii=False, indent=1) + "\n", encoding="utf-8")


def read(path: Path) -> Catalogue:
    try:
        data = json.loads(path.read_text(encoding="utf-8"))
        return Catalogue(version=data["version"], revision=data.get("revision"),
                         statements=[Statement(s["source"], s.get("name"), s["sql"]) for s in data["statements"]],
                         not_catalogued=int(data.get("not_catalogued", 0)))
    except (OSError, ValueError, KeyError, TypeError) as exc:
        raise BadInput(f"{path}: not a statement catalogue ({type(exc).__name__}: {exc}).") from None


def tree_version(root: Path) -> str:
    """The version in a tree's pyproject.toml."""
    try:
        return tomllib.loads((root / "pyproject.toml").read_text(encoding="utf-8"))["project"]["version"]
    except (OSError, ValueError, KeyError) as exc:
        raise BadInput(f"{root}: no project version in pyproject.toml ({exc}).") from None


def running_version(root: Path) -> str:
    """The version of the code at root: its pyproject.toml, else (an installed package) the metadata."""
    if (root / "pyproject.toml").is_file():
        return tree_version(root)
    from importlib.metadata import PackageNotFoundError, version

    try:
        return version("kbju-platform")
    except PackageNotFoundError:
        raise BadInput(f"{root}: neither a pyproject.toml nor an installed kbju-platform says its version.") from None


def collect(root: Path, revision: str | None = None) -> Catalogue:
    """The catalogue of the tree at root."""
    if not all((root / package).is_dir() for package in PACKAGES):
        raise BadInput(f"{root}: not a source tree of this project (no {' or '.join(PACKAGES)} folder).")
    catalogue = Catalogue(version=running_version(root), revision=revision)
    seen: set[tuple[str, str]] = set()
    for package in PACKAGES:
        for path in sorted((root / package).rglob("*.py")):
            source = path.relative_to(root).as_posix()
            if source in SQLITE_MODULES:
                continue
            try:
                tree = ast.parse(path.read_text(encoding="utf-8"), filename=source)
            except (SyntaxError, UnicodeDecodeError) as exc:
                raise BadInput(f"{source}: cannot be parsed ({exc}).") from None
            for name, text in _literals(tree, catalogue):
                if TEMPLATE.search(text) or "?" in text.replace("?|", "").replace("?&", ""):
                    catalogue.not_catalogued += 1
                    continue
                sql = numbered(text.strip())
                if (source, sql) not in seen:
                    seen.add((source, sql))
                    catalogue.statements.append(Statement(source, name, sql))
    return catalogue


def _literals(tree: ast.AST, catalogue: Catalogue) -> list[tuple[str | None, str]]:
    """(name, text) of each statement literal; f-strings that build one are counted as not catalogued."""
    in_fstrings = {id(part) for node in ast.walk(tree) if isinstance(node, ast.JoinedStr) for part in node.values}
    names: dict[int, str] = {}
    for node in ast.walk(tree):
        if isinstance(node, ast.Call) and _called(node) == "Query" and len(node.args) >= 2 \
                and isinstance(node.args[0], ast.Constant) and isinstance(node.args[0].value, str):
            names[id(node.args[1])] = node.args[0].value
        elif isinstance(node, ast.Assign | ast.AnnAssign) and node.value is not None:
            targets = node.targets if isinstance(node, ast.Assign) else [node.target]
            if len(targets) == 1 and isinstance(targets[0], ast.Name):
                names.setdefault(id(node.value), targets[0].id)
    found = []
    for node in ast.walk(tree):
        if isinstance(node, ast.JoinedStr):
            prefix = "".join(p.value for p in node.values if isinstance(p, ast.Constant) and isinstance(p.value, str))
            if STATEMENT.match(prefix):
                catalogue.not_catalogued += 1
        elif isinstance(node, ast.Constant) and isinstance(node.value, str) and id(node) not in in_fstrings \
                and STATEMENT.match(node.value):
            found.append((names.get(id(node)), node.value))
    return found


def _called(call: ast.Call) -> str | None:
    func = call.func
    return func.id if isinstance(func, ast.Name) else func.attr if isinstance(func, ast.Attribute) else None


def numbered(sql: str) -> str:
    """psycopg's `%s` and `%(name)s` as `$1, $2, ...` (a name keeps its number), `%%` as `%`."""
    if not PSYCOPG_PLACEHOLDER.search(sql):
        return sql
    by_name: dict[str, int] = {}
    count = 0

    def replace(match: re.Match) -> str:
        nonlocal count
        if match.group(0) == "%%":
            return "%"
        name = match.group(1)
        if name is not None and name in by_name:
            return f"${by_name[name]}"
        count += 1
        if name is not None:
            by_name[name] = count
        return f"${count}"

    return PSYCOPG_PLACEHOLDER.sub(replace, sql)


# -- the catalogues kept in the repository ------------------------------------------------------------------

def folder(sql_dir: Path) -> Path:
    return sql_dir / COMPAT_FOLDER


def path_for(sql_dir: Path, version: str) -> Path:
    return folder(sql_dir) / f"{version}.json"


def version_key(version: str) -> tuple[int, ...]:
    """1.10.0 > 1.9.2; a pre-release such as 0.2.0.dev1 sorts as its numeric prefix minus a little."""
    parts = re.match(r"^(\d+(?:\.\d+)*)(.*)$", version)
    if parts is None:
        return (-1,)
    numbers = tuple(int(p) for p in parts.group(1).split("."))
    return (*numbers, 0 if parts.group(2) else 1)


def previous_release(sql_dir: Path, current: str) -> Path | None:
    """The catalogue of the newest release at or before `current` (the code in this tree runs
    beside that one during a rolling upgrade), or None when there is none."""
    candidates = [p for p in folder(sql_dir).glob("*.json") if version_key(p.stem) <= version_key(current)]
    return max(candidates, key=lambda p: version_key(p.stem), default=None)

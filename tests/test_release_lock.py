"""The lock files agree with pyproject.toml and drive every install; checked offline, in a second.

`./scripts/lock.sh` writes requirements/dev.txt (every extra) and requirements/runtime.txt (the
runtime dependencies, at the same versions). A dependency added to, dropped from or narrowed in
pyproject.toml without running it fails here, naming the command.
"""

from __future__ import annotations

import re
import shlex
import tomllib
from dataclasses import dataclass, field
from importlib import metadata
from pathlib import Path

import pytest
from packaging.markers import Marker
from packaging.requirements import Requirement
from packaging.utils import canonicalize_name
from packaging.version import Version

ROOT = Path(__file__).resolve().parents[1]
PYPROJECT = tomllib.loads((ROOT / "pyproject.toml").read_text())
LOCKS = {"dev": ROOT / "requirements" / "dev.txt", "runtime": ROOT / "requirements" / "runtime.txt"}
BUILD_IN = ROOT / "requirements" / "build.in"
REFRESH = "run ./scripts/lock.sh and commit requirements/"
PROJECT = canonicalize_name(PYPROJECT["project"]["name"])


@dataclass
class Pin:
    name: str
    version: Version
    marker: Marker | None
    hashes: list[str]
    via: list[str] = field(default_factory=list)


@dataclass
class Lock:
    command: list[str]
    pins: list[Pin]

    def versions(self, name: str) -> list[Pin]:
        return [p for p in self.pins if p.name == canonicalize_name(name)]


def read_lock(path: Path) -> Lock:
    """The pins of a `uv pip compile --generate-hashes` output: requirement lines (with their
    continued --hash lines), each followed by its `# via` annotation."""
    text = path.read_text()
    header = re.search(r"^#\s+(uv pip compile .*)$", text, re.MULTILINE)
    assert header, f"{path.name}: no `uv pip compile` header; {REFRESH}"
    pins: list[Pin] = []
    logical = re.sub(r"\\\n\s*", " ", text)  # join continuation lines
    for line in logical.splitlines():
        if not line.strip():
            continue
        if line.lstrip().startswith("#"):
            if pins and re.match(r"^\s+#", line):  # annotation of the pin above
                via = line.strip().lstrip("#").strip().removeprefix("via").strip()
                if via:
                    pins[-1].via.append(via)
            continue
        spec, *options = re.split(r"\s+--", line.strip())
        req = Requirement(spec)
        assert str(req.specifier).startswith("=="), f"{path.name}: {spec} is not pinned with =="
        pins.append(Pin(canonicalize_name(req.name), Version(str(req.specifier)[2:]), req.marker,
                        [o.removeprefix("hash=") for o in options if o.startswith("hash=")]))
    return Lock(shlex.split(header.group(1)), pins)


@pytest.fixture(scope="module")
def locks() -> dict[str, Lock]:
    return {name: read_lock(path) for name, path in LOCKS.items()}


def requirements(kind: str) -> list[Requirement]:
    """What pyproject.toml asks for: "runtime", "build", or every extra ("extras")."""
    if kind == "runtime":
        return [Requirement(r) for r in PYPROJECT["project"]["dependencies"]]
    if kind == "build":
        return [Requirement(r) for r in PYPROJECT["build-system"]["requires"]]
    return [Requirement(r) for reqs in PYPROJECT["project"]["optional-dependencies"].values() for r in reqs]


def test_every_pin_is_exact_and_carries_hashes(locks):
    for name, lock in locks.items():
        assert lock.pins, name
        for pin in lock.pins:
            assert pin.hashes and all(re.fullmatch(r"sha256:[0-9a-f]{64}", h) for h in pin.hashes), \
                f"{name}: {pin.name} has no sha256 hashes; {REFRESH}"


@pytest.mark.parametrize(("lock_name", "kinds"), [("dev", ("runtime", "extras", "build")),
                                                  ("runtime", ("runtime", "build"))])
def test_every_requirement_of_pyproject_is_pinned_within_its_range(locks, lock_name, kinds):
    lock = locks[lock_name]
    for kind in kinds:
        for req in requirements(kind):
            pins = lock.versions(req.name)
            assert pins, f"{req} ({kind}) is missing from requirements/{lock_name}.txt; {REFRESH}"
            for pin in pins:
                assert req.specifier.contains(pin.version, prereleases=True), \
                    f"requirements/{lock_name}.txt pins {pin.name}=={pin.version}, pyproject.toml asks {req}; {REFRESH}"


def test_no_pin_is_left_from_a_dependency_pyproject_no_longer_names(locks):
    """A direct dependency removed from pyproject.toml must leave the lock (unless another needs it)."""
    direct = {canonicalize_name(r.name) for kind in ("runtime", "extras") for r in requirements(kind)}
    for name, lock in locks.items():
        for pin in lock.pins:
            if any(v.startswith(f"{PROJECT} (pyproject.toml)") for v in pin.via) and len(pin.via) == 1:
                assert pin.name in direct, f"requirements/{name}.txt still pins {pin.name} for the project; {REFRESH}"


def test_the_lock_commands_cover_every_extra_and_python_version(locks):
    dev, runtime = locks["dev"].command, locks["runtime"].command
    for command in (dev, runtime):
        assert "pyproject.toml" in command and "requirements/build.in" in command
        assert {"--universal", "--generate-hashes"} <= set(command)
        lowest = re.search(r">=\s*([\d.]+)", PYPROJECT["project"]["requires-python"]).group(1)
        assert command[command.index("--python-version") + 1] == lowest
    assert "--all-extras" in dev, "the dev lock must hold every extra"
    assert not any(a.startswith("--extra") or a == "--all-extras" for a in runtime), "runtime holds no extra"
    assert runtime[runtime.index("-c") + 1] == "requirements/dev.txt"


def test_the_runtime_lock_is_the_dev_lock_restricted_to_the_runtime(locks):
    dev = {(p.name, p.version) for p in locks["dev"].pins}
    for pin in locks["runtime"].pins:
        assert (pin.name, pin.version) in dev, f"{pin.name}=={pin.version}: runtime and dev disagree; {REFRESH}"
    runtime = {p.name for p in locks["runtime"].pins}
    assert not {"pytest", "locust", "ruff"} & runtime


def test_build_in_asks_for_pyprojects_build_backend():
    wanted = {canonicalize_name(r.name): r.specifier for r in requirements("build")}
    lines = [ln.split("#")[0].strip() for ln in BUILD_IN.read_text().splitlines()]
    given = {canonicalize_name(r.name): r.specifier for r in map(Requirement, filter(None, lines))}
    for name, spec in wanted.items():
        assert given.get(name) == spec, f"requirements/build.in must ask for {name}{spec} as [build-system] does"


def test_this_environment_was_installed_from_the_dev_lock(locks):
    """The test command's .venv holds every applicable pin at its locked version: the lock drove it."""
    env = {"extra": ""}
    for pin in locks["dev"].pins:
        if pin.marker is not None and not pin.marker.evaluate(env):
            continue
        if pin.name in {"pip", "setuptools"}:
            continue  # a venv created elsewhere may keep its own; they only install the project
        installed = Version(metadata.version(pin.name))
        assert installed == pin.version, f"{pin.name}: {installed} installed, {pin.version} locked; ./scripts/test.sh"


def test_every_install_goes_through_a_lock_with_require_hashes():
    bootstrap = (ROOT / "scripts" / "bootstrap.sh").read_text()
    assert "--require-hashes -r \"$lock\"" in bootstrap
    assert "requirements/runtime.txt" in bootstrap and "requirements/dev.txt" in bootstrap
    assert "--no-deps --no-build-isolation -e" in bootstrap
    dockerfile = (ROOT / "Dockerfile").read_text()
    assert re.search(r"pip install .*--require-hashes -r requirements/runtime.txt", dockerfile)
    assert re.search(r"pip install .*--no-deps --no-build-isolation", dockerfile)
    for line in re.findall(r"pip install[^\n]*", dockerfile + bootstrap):
        assert "--require-hashes" in line or "--no-deps" in line, line
    assert "./scripts/test.sh" in (ROOT / ".ci" / "run").read_text()
    assert "bootstrap.sh" in (ROOT / "scripts" / "test.sh").read_text()
    assert "bootstrap.sh" in (ROOT / "scripts" / "run.sh").read_text()

"""Shared test fixtures: a real PostgreSQL (system or embedded), migrated databases, old-bot files.

A test that needs a database of its own gets one cloned from a template that has every migration
applied (`database_url`); data-layer tests share one database and roll their transaction back
(`rollback_database_url`). Old-bot SQLite files come from the project's own generator. Nothing here
mocks PostgreSQL or Telegram. The fast tier (`./scripts/test.sh --fast`) is every module listed
in FAST_MODULES, minus tests marked `slow`; a fast test that starts a process fails.
"""

from __future__ import annotations

import os
import tempfile
from collections.abc import Iterator
from pathlib import Path

import pytest

from kbjuctl import localpg, migrations

_server: dict[str, str] = {}

# The fast tier (`./scripts/test.sh --fast`, under a minute on 2 cores): modules of pure code, the
# data layer, the CLI's parsing and the configuration. Every other module is `slow` by default, so a
# new test module joins the full suite only until it is listed here; a test of a listed module that
# starts a process is marked `slow` itself (the guard below fails it otherwise).
FAST_MODULES = frozenset({
    "test_domain_choices", "test_domain_formulas", "test_domain_progress", "test_domain_texts",
    "test_domain_validation", "test_config", "test_db_repositories", "test_lint", "test_devdata",
    "test_docs_settings", "test_migrate_mapping", "test_schema_compat", "test_release_lock",
    "test_release_version", "test_multihost_url", "test_loadtest_consistency", "test_migrations",
    "test_cli", "test_log_format",
})


def pytest_collection_modifyitems(config, items) -> None:
    for item in items:
        if item.module.__name__.rsplit(".", 1)[-1] not in FAST_MODULES:
            item.add_marker(pytest.mark.slow)


@pytest.hookimpl(hookwrapper=True)
def pytest_runtest_call(item):
    """In the fast tier a test that starts a process fails, naming itself: it belongs to the full suite."""
    if os.environ.get("KBJU_TEST_TIER") != "fast":
        yield
        return
    import _posixsubprocess
    import subprocess

    real = (_posixsubprocess.fork_exec, subprocess._fork_exec, os.posix_spawn)

    def refuse(*_args, **_kwargs):
        raise AssertionError(f"{item.nodeid} is in the fast tier but starts a process: mark it "
                             "@pytest.mark.slow (tests/conftest.py, FAST_MODULES)")

    # subprocess keeps its own reference to fork_exec; multiprocessing calls _posixsubprocess's.
    _posixsubprocess.fork_exec = subprocess._fork_exec = os.posix_spawn = refuse
    try:
        yield
    finally:
        _posixsubprocess.fork_exec, subprocess._fork_exec, os.posix_spawn = real


def _admin_url() -> str:
    if "url" not in _server:
        data_dir = Path(os.environ.get("KBJU_TEST_PG_DIR", Path(tempfile.gettempdir()) / "kbju-test-pg"))
        url, description = localpg.server_for_tests(data_dir)
        _server.update(url=url, description=description)
    return _server["url"]


def pytest_report_header(config) -> str:
    _admin_url()
    return f"PostgreSQL for tests: {_server['description']}"


@pytest.fixture(scope="session")
def pg_admin_url() -> str:
    """Admin URL of the server tests run on (may create and drop databases)."""
    return _admin_url()


@pytest.fixture(scope="session")
def migrated_template(pg_admin_url: str) -> Iterator[str]:
    """Name of a database with every migration applied, cloned by `database_url`."""
    name = localpg.unique_name("kbju_tpl")
    url = localpg.create_database(pg_admin_url, name)
    migrations.upgrade(url)
    yield name
    localpg.drop_database(pg_admin_url, name)


# --- Both PostgreSQL majors ------------------------------------------------------------------------
# The suite's server is the system's (15 on Debian bookworm and in CI); compose, the image's own
# pg_dump and the CloudNativePG component run 16, the embedded server's major. Modules marked
# `both_pg_majors` (the data layer, migrations) run each test on both: [server] and [embedded].

def pytest_generate_tests(metafunc) -> None:
    if metafunc.definition.get_closest_marker("both_pg_majors") and \
            {"database_url", "empty_database_url", "rollback_database_url"} & set(metafunc.fixturenames):
        metafunc.parametrize("pg_target", ["server", "embedded"], indirect=True)


@pytest.fixture(scope="session")
def embedded_pg_admin_url(pg_admin_url: str) -> Iterator[str]:
    """Admin URL of an embedded PostgreSQL (pgserver) beside the suite's server, for the session."""
    if "embedded" in _server["description"]:
        pytest.skip("the suite's server is already the embedded one")
    data_dir = Path(tempfile.gettempdir()) / f"kbju-test-pg16-{os.getpid()}"
    url = localpg.embedded_admin_url(data_dir)
    yield url
    localpg.stop_embedded(data_dir)
    import shutil

    shutil.rmtree(localpg.real_embedded_dir(data_dir), ignore_errors=True)


@pytest.fixture(scope="session")
def embedded_migrated_template(embedded_pg_admin_url: str) -> Iterator[str]:
    name = localpg.unique_name("kbju_tpl")
    url = localpg.create_database(embedded_pg_admin_url, name)
    migrations.upgrade(url)
    yield name
    localpg.drop_database(embedded_pg_admin_url, name)


@pytest.fixture
def pg_target(request) -> tuple[str, str]:
    """(admin URL, name of the migrated template) of the server this test runs on."""
    if getattr(request, "param", "server") == "embedded":
        return request.getfixturevalue("embedded_pg_admin_url"), request.getfixturevalue("embedded_migrated_template")
    return request.getfixturevalue("pg_admin_url"), request.getfixturevalue("migrated_template")


@pytest.fixture
def database_url(pg_target: tuple[str, str]) -> Iterator[str]:
    """A fresh, fully migrated database for one test; dropped afterwards."""
    admin_url, template = pg_target
    name = localpg.unique_name("kbju_t")
    url = localpg.create_database(admin_url, name, template=template)
    yield url
    localpg.drop_database(admin_url, name)


def _rollback_database(admin_url: str, template: str) -> Iterator[str]:
    url = localpg.create_database(admin_url, localpg.unique_name("kbju_rb"), template=template)
    yield url
    localpg.drop_database(admin_url, url.rsplit("/", 1)[1])


@pytest.fixture(scope="session")
def _server_rollback_database(pg_admin_url: str, migrated_template: str) -> Iterator[str]:
    yield from _rollback_database(pg_admin_url, migrated_template)


@pytest.fixture(scope="session")
def _embedded_rollback_database(embedded_pg_admin_url: str, embedded_migrated_template: str) -> Iterator[str]:
    yield from _rollback_database(embedded_pg_admin_url, embedded_migrated_template)


@pytest.fixture
def rollback_database_url(request, pg_target: tuple[str, str]) -> str:
    """One migrated database per server for the whole session, shared by tests that run inside a
    transaction they roll back (tests/test_db_repositories.py `in_rollback`): no clone per test."""
    embedded = pg_target[0] != _admin_url()
    return request.getfixturevalue("_embedded_rollback_database" if embedded else "_server_rollback_database")


@pytest.fixture
def empty_database_url(pg_target: tuple[str, str]) -> Iterator[str]:
    """A fresh database with no schema at all."""
    admin_url, _template = pg_target
    name = localpg.unique_name("kbju_e")
    url = localpg.create_database(admin_url, name)
    yield url
    localpg.drop_database(admin_url, name)


# Old-bot databases made by the project's own generator (kbjuctl.devdata), once per run: small is
# the edge-case pack plus a few random people, medium a realistic crowd. Tests that change a file
# copy it first (`copy_of`).
SMALL = {"users": 60, "seed": 11}
MEDIUM = {"users": 5000, "seed": 22}


def _generated(factory, name: str, spec: dict):
    from kbjuctl.devdata import make_sqlite

    path = factory.mktemp("dev-sqlite") / f"{name}.db"
    return make_sqlite(path, spec["users"], spec["seed"])


@pytest.fixture(scope="session")
def small_facts(tmp_path_factory):
    """The facts of the session's small old-bot database (its `path` is read only for tests)."""
    return _generated(tmp_path_factory, "small", SMALL)


@pytest.fixture(scope="session")
def medium_facts(tmp_path_factory):
    return _generated(tmp_path_factory, "medium", MEDIUM)


@pytest.fixture
def small(small_facts, tmp_path) -> Path:
    """A copy of the small old-bot database, this test's own."""
    return copy_of(Path(small_facts.path), tmp_path)


@pytest.fixture
def medium(medium_facts, tmp_path) -> Path:
    return copy_of(Path(medium_facts.path), tmp_path)


def copy_of(path: Path, folder: Path) -> Path:
    import shutil

    target = folder / path.name
    shutil.copy(path, target)
    return target

"""Shared test fixtures: a real PostgreSQL (system or embedded), migrated databases per test.

Every test that needs a database gets its own, cloned from a template that has every migration
applied, so tests are independent and fast. Nothing here mocks PostgreSQL or Telegram.
"""

from __future__ import annotations

import os
import tempfile
from collections.abc import Iterator
from pathlib import Path

import pytest

from kbjuctl import localpg, migrations

SHARED = Path(__file__).resolve().parents[1].parent / "shared"
_server: dict[str, str] = {}


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
            {"database_url", "empty_database_url"} & set(metafunc.fixturenames):
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


@pytest.fixture
def empty_database_url(pg_target: tuple[str, str]) -> Iterator[str]:
    """A fresh database with no schema at all."""
    admin_url, _template = pg_target
    name = localpg.unique_name("kbju_e")
    url = localpg.create_database(admin_url, name)
    yield url
    localpg.drop_database(admin_url, name)


@pytest.fixture(scope="session")
def shared_dir() -> Path:
    """../shared beside the project (read only)."""
    if not SHARED.is_dir():
        pytest.fail(f"{SHARED} is missing: tests read the spec fixtures from ../shared")
    return SHARED

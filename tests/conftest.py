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


@pytest.fixture
def database_url(pg_admin_url: str, migrated_template: str) -> Iterator[str]:
    """A fresh, fully migrated database for one test; dropped afterwards."""
    name = localpg.unique_name("kbju_t")
    url = localpg.create_database(pg_admin_url, name, template=migrated_template)
    yield url
    localpg.drop_database(pg_admin_url, name)


@pytest.fixture
def empty_database_url(pg_admin_url: str) -> Iterator[str]:
    """A fresh database with no schema at all."""
    name = localpg.unique_name("kbju_e")
    url = localpg.create_database(pg_admin_url, name)
    yield url
    localpg.drop_database(pg_admin_url, name)


@pytest.fixture(scope="session")
def shared_dir() -> Path:
    """../shared beside the project (read only)."""
    if not SHARED.is_dir():
        pytest.fail(f"{SHARED} is missing: tests read the spec fixtures from ../shared")
    return SHARED

"""Fixtures for the labeling service: a database per test (SQLite, and PostgreSQL when up),
an app built from its own settings, and helpers to seed clips and sign users in."""

from __future__ import annotations

import os
import uuid
from collections.abc import Iterator
from pathlib import Path
from typing import Any

import pytest
from fastapi.testclient import TestClient
from service_helpers import make_settings

from smokewatch.labeling.app import create_app
from smokewatch.labeling.db import Database, open_database
from smokewatch.settings import Settings

PG_ADMIN_URL = os.environ.get("SMOKEWATCH_TEST_PG", "postgresql://postgres@127.0.0.1:5432/postgres")


def _pg_admin() -> Any:
    import psycopg

    return psycopg.connect(PG_ADMIN_URL, autocommit=True, connect_timeout=5)


@pytest.fixture(scope="session")
def pg_server() -> str:
    """The PostgreSQL server, or a skip — except in CI, where it must be there (fail)."""
    try:
        with _pg_admin():
            pass
    except Exception as exc:  # noqa: BLE001 (any connection failure means "not here")
        if os.environ.get("CI"):
            pytest.fail(f"PostgreSQL is not reachable in CI ({exc}); make test starts it")
        pytest.skip(f"PostgreSQL not reachable: {exc}")
    return PG_ADMIN_URL


@pytest.fixture
def pg_url(pg_server: str) -> Iterator[str]:
    """A throwaway PostgreSQL database for one test, dropped afterwards."""
    name = f"smokewatch_test_{uuid.uuid4().hex[:12]}"
    with _pg_admin() as conn:
        conn.execute(f'CREATE DATABASE "{name}"')
    try:
        yield f"postgresql+psycopg://postgres@127.0.0.1:5432/{name}"
    finally:
        with _pg_admin() as conn:
            conn.execute(f'DROP DATABASE IF EXISTS "{name}" WITH (FORCE)')


@pytest.fixture(params=["sqlite", "postgresql"])
def db_url(request: pytest.FixtureRequest, tmp_path: Path) -> str:
    if request.param == "sqlite":
        return f"sqlite:///{tmp_path / 'labels.db'}"
    return str(request.getfixturevalue("pg_url"))


@pytest.fixture
def settings(tmp_path: Path, db_url: str) -> Settings:
    return make_settings(tmp_path, db_url)


@pytest.fixture
def database(settings: Settings) -> Iterator[Database]:
    db = open_database(settings)
    yield db
    db.dispose()


@pytest.fixture
def client(settings: Settings, database: Database) -> Iterator[TestClient]:
    with TestClient(create_app(settings, database=database)) as c:
        yield c

"""Shared fixtures: the read-only shared/ folder and databases (SQLite always, PostgreSQL when reachable)."""

from __future__ import annotations

import os
import socket
import uuid
from collections.abc import Iterator
from pathlib import Path

import pytest

from brightline.store.db import Database

ROOT = Path(__file__).resolve().parent.parent
PG_HOST = os.environ.get("BRIGHTLINE_TEST_PG_HOST", "127.0.0.1")
PG_PORT = int(os.environ.get("BRIGHTLINE_TEST_PG_PORT", "5432"))
PG_DB = os.environ.get("BRIGHTLINE_TEST_PG_DB", "test")
PG_USER = os.environ.get("BRIGHTLINE_TEST_PG_USER", "postgres")


def shared_path() -> Path:
    """The shared/ folder (BRIGHTLINE_SHARED, default ../shared beside the repo)."""
    return Path(os.environ.get("BRIGHTLINE_SHARED", ROOT.parent / "shared")).resolve()


@pytest.fixture(scope="session")
def shared_dir() -> Path:
    path = shared_path()
    if not (path / "vectors").is_dir():
        pytest.fail(f"shared test data not found at {path}; set BRIGHTLINE_SHARED")
    return path


def _postgres_reachable() -> bool:
    try:
        with socket.create_connection((PG_HOST, PG_PORT), timeout=1.0):
            return True
    except OSError:
        return False


@pytest.fixture(scope="session")
def postgres_available() -> bool:
    ok = _postgres_reachable()
    if not ok and os.environ.get("CI", "").lower() == "true":
        pytest.fail(f"CI=true but PostgreSQL is not reachable at {PG_HOST}:{PG_PORT}")
    return ok


@pytest.fixture(params=["sqlite", "postgresql"])
def database_url(request: pytest.FixtureRequest, tmp_path: Path) -> Iterator[str]:
    """A fresh, empty database URL: a SQLite file, or a private schema on PostgreSQL."""
    if request.param == "sqlite":
        yield f"sqlite:///{tmp_path / 'test.db'}"
        return
    if not request.getfixturevalue("postgres_available"):
        pytest.skip("PostgreSQL not reachable")
    import sqlalchemy as sa

    schema = f"t_{uuid.uuid4().hex[:12]}"
    base = f"postgresql+psycopg://{PG_USER}@{PG_HOST}:{PG_PORT}/{PG_DB}"
    admin = sa.create_engine(base, isolation_level="AUTOCOMMIT")
    with admin.connect() as conn:
        conn.execute(sa.text(f'CREATE SCHEMA "{schema}"'))
    try:
        yield f"{base}?options=-csearch_path%3D{schema}"
    finally:
        with admin.connect() as conn:
            conn.execute(sa.text(f'DROP SCHEMA "{schema}" CASCADE'))
        admin.dispose()


@pytest.fixture
def db(database_url: str) -> Iterator[Database]:
    """A migrated database on each backend (test_store overrides it with an unmigrated one)."""
    database = Database(database_url)
    database.upgrade()
    try:
        yield database
    finally:
        database.dispose()

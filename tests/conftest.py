"""Shared fixtures. ``db_url`` runs a test on SQLite and on a real PostgreSQL server."""

from __future__ import annotations

import os
from pathlib import Path
from typing import Iterator

import pytest
from hypothesis import settings

from pgserver import PgServer

# HYPOTHESIS_PROFILE=mutation (scripts/mutation.sh): the same examples on every run and no
# example database, so a mutation score is reproducible.
settings.register_profile("mutation", derandomize=True, database=None, print_blob=False)
settings.load_profile(os.environ.get("HYPOTHESIS_PROFILE", "default"))

ROOT = Path(__file__).resolve().parent.parent
EXAMPLES = ROOT / "examples"


@pytest.fixture(scope="session")
def pg_server() -> Iterator[PgServer]:
    server = PgServer().start()
    try:
        yield server
    finally:
        server.stop()


@pytest.fixture(params=["sqlite", "postgresql"])
def db_url(request: pytest.FixtureRequest, tmp_path: Path) -> str:
    """An empty database URL (no schema yet) on each backend."""
    if request.param == "sqlite":
        return f"sqlite:///{tmp_path / 'practice.db'}"
    server: PgServer = request.getfixturevalue("pg_server")
    return server.create_database()


@pytest.fixture
def backend(db_url: str) -> str:
    return "postgresql" if db_url.startswith("postgresql") else "sqlite"

"""Shared fixtures. ``db_url`` runs a test on SQLite and on a real PostgreSQL server."""

from __future__ import annotations

import os
from pathlib import Path
from typing import Any, Iterator

import pytest
from constants import ROOT
from hypothesis import Phase, settings
from mariadb_server import MariaDbServer
from pgserver import PgServer

# HYPOTHESIS_PROFILE=mutation (scripts/mutation.sh): the same examples on every run and no
# example database, so a mutation score is reproducible; no shrinking (a failure is all a
# mutant needs, and shrinking one took a minute per mutant).
settings.register_profile(
    "mutation",
    derandomize=True,
    database=None,
    print_blob=False,
    phases=[Phase.explicit, Phase.reuse, Phase.generate],
)
settings.load_profile(os.environ.get("HYPOTHESIS_PROFILE", "default"))

EXAMPLES = ROOT / "examples"


@pytest.fixture(scope="session")
def pg_server() -> Iterator[PgServer]:
    server = PgServer().start()
    try:
        yield server
    finally:
        server.stop()


@pytest.fixture(scope="session")
def mariadb_server() -> Iterator[MariaDbServer]:
    """A real MariaDB for the OpenEMR target (tests/mariadb_server.py); started on first use only."""
    server = MariaDbServer().start()
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


@pytest.fixture
def engine(db_url: str) -> Iterator[Any]:
    """The sample practice (examples/practice.yaml) on each backend; disposed after the test.
    Test modules that need another starting state override it with their own ``engine``."""
    from test_executor_support import practice_db

    eng = practice_db(db_url)
    try:
        yield eng
    finally:
        eng.dispose()

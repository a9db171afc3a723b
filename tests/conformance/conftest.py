"""One server per backend per session, a fresh database per scenario (issue 9)."""

from __future__ import annotations

from pathlib import Path

import pytest

from .harnesses import NativeHarness, OpenEMRHarness

BACKENDS = ("native/sqlite", "native/postgresql", "openemr/mariadb")


@pytest.fixture(params=BACKENDS)
def harness(request: pytest.FixtureRequest, tmp_path: Path):  # type: ignore[no-untyped-def]
    """The harness of one backend. A server that cannot start fails the test: no skips."""
    if request.param == "native/sqlite":
        counter = iter(range(1_000_000))
        return NativeHarness("native/sqlite", lambda: f"sqlite:///{tmp_path / f'practice-{next(counter)}.db'}")
    if request.param == "native/postgresql":
        pg = request.getfixturevalue("pg_server")
        return NativeHarness("native/postgresql", pg.create_database)
    maria = request.getfixturevalue("mariadb_server")
    return OpenEMRHarness(maria.create_database)

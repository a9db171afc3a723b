from __future__ import annotations

from collections.abc import Iterator

import pytest
import sqlalchemy as sa
from openemr import fixture as fx
from sqlalchemy.pool import NullPool

from .oe import OE


def _engine(url: str) -> sa.Engine:
    return sa.create_engine(url, poolclass=NullPool)


@pytest.fixture
def oedb(mariadb_server) -> Iterator[tuple[str, OE]]:  # type: ignore[no-untyped-def]
    """A fresh OpenEMR database (OpenEMR 7's own table definitions, tests/openemr/schema.sql):
    (SQLAlchemy URL, row inserter). OpenEMR's table definitions must be unchanged when the
    test ends (SPEC §6)."""
    url = mariadb_server.create_database()
    engine = _engine(url)
    with engine.begin() as conn:
        fx.create_tables(conn)
    before = fx.table_definitions(engine)
    oe = OE(engine)
    yield url, oe
    oe.close()
    assert fx.table_definitions(engine) == before, "an OpenEMR table definition changed"
    engine.dispose()


@pytest.fixture
def oedb_raw(mariadb_server) -> Iterator[tuple[str, OE, str]]:  # type: ignore[no-untyped-def]
    """Like ``oedb`` for tests that alter OpenEMR's tables themselves (MyISAM)."""
    url = mariadb_server.create_database()
    engine = _engine(url)
    with engine.begin() as conn:
        fx.create_tables(conn)
    oe = OE(engine)
    yield url, oe, url
    oe.close()
    engine.dispose()

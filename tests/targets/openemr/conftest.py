from __future__ import annotations

from typing import Iterator

import pytest

from .oe import OE, MariaDB


@pytest.fixture(scope="session")
def mariadb() -> Iterator[MariaDB]:
    server = MariaDB().start()
    yield server
    server.stop()


@pytest.fixture
def oedb(mariadb: MariaDB) -> Iterator[tuple[str, OE]]:
    """A fresh OpenEMR database: (SQLAlchemy URL, row inserter)."""
    name = mariadb.create_database()
    conn = mariadb.raw(name)
    yield mariadb.url(name), OE(conn)
    conn.close()

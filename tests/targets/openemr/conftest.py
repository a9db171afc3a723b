from __future__ import annotations

import re
from typing import Iterator

import pytest

from .oe import OE, MariaDB

_AUTO_INC = re.compile(r" AUTO_INCREMENT=\d+")


@pytest.fixture(scope="session")
def mariadb() -> Iterator[MariaDB]:
    server = MariaDB().start()
    yield server
    server.stop()


def openemr_ddl(oe: OE) -> dict[str, str]:
    """``SHOW CREATE TABLE`` of every OpenEMR (non-reconciler) table, counters removed."""
    out = {}
    for (name,) in oe.q("SHOW TABLES"):
        if not name.startswith("reconciler_"):
            out[name] = _AUTO_INC.sub("", oe.q(f"SHOW CREATE TABLE `{name}`")[0][1])
    return out


class OEDB:
    def __init__(self, url: str, oe: OE) -> None:
        self.url, self.oe = url, oe
        self.ddl = openemr_ddl(oe)
        self.ddl_may_change = False


@pytest.fixture
def oedb(mariadb: MariaDB) -> Iterator[tuple[str, OE]]:
    """A fresh OpenEMR database: (SQLAlchemy URL, row inserter). OpenEMR's table
    definitions must be unchanged when the test ends (SPEC §6)."""
    name = mariadb.create_database()
    conn = mariadb.raw(name)
    db = OEDB(mariadb.url(name), OE(conn))
    yield db.url, db.oe
    assert openemr_ddl(db.oe) == db.ddl, "an OpenEMR table definition changed"
    conn.close()


@pytest.fixture
def oedb_raw(mariadb: MariaDB) -> Iterator[tuple[str, OE, str]]:
    """Like ``oedb`` for tests that alter OpenEMR's tables themselves (MyISAM)."""
    name = mariadb.create_database()
    conn = mariadb.raw(name)
    yield mariadb.url(name), OE(conn), name
    conn.close()

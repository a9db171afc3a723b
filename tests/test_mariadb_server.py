"""The MariaDB test server really runs, privately and with real grants.

A skip here would hide missing coverage of the OpenEMR target, so every check is a
plain assertion against the live server.
"""

from __future__ import annotations

import pymysql
import pytest
import sqlalchemy as sa
from mariadb_server import MariaDbServer


def test_server_answers_as_the_test_user_over_its_socket(mariadb_server: MariaDbServer) -> None:
    url = mariadb_server.create_database()
    dbname = sa.engine.make_url(url).database
    assert url.startswith(f"mysql+pymysql://{dbname}:") and f"unix_socket={mariadb_server.sock}" in url
    engine = sa.create_engine(url)
    try:
        with engine.connect() as conn:
            version, user, networking, mode = conn.execute(
                sa.text("select version(), current_user(), @@skip_networking, @@global.sql_mode")
            ).one()
    finally:
        engine.dispose()
    assert "MariaDB" in version
    major, minor = (int(p) for p in version.split(".")[:2])
    assert (major, minor) >= (10, 6), "SPEC §6 supports MariaDB 10.6+"
    assert user == f"{dbname}@localhost"
    assert networking == 1, "the test server must not listen on TCP"
    assert "STRICT_TRANS_TABLES" in mode, "the server default stays strict; OpenEMR's '' is per session"
    assert mariadb_server.start_seconds > 0


def test_test_user_needs_its_password_and_sees_only_its_database(mariadb_server: MariaDbServer) -> None:
    """Real grants: a wrong password is refused and another test's database is invisible."""
    mine = sa.engine.make_url(mariadb_server.create_database())
    other = sa.engine.make_url(mariadb_server.create_database())
    with pytest.raises(pymysql.err.OperationalError):
        pymysql.connect(unix_socket=str(mariadb_server.sock), user=mine.username, password="wrong")
    conn = pymysql.connect(
        unix_socket=str(mariadb_server.sock), user=mine.username, password=mine.password, database=mine.database
    )
    try:
        with conn.cursor() as cur:
            cur.execute("show databases")
            names = {row[0] for row in cur.fetchall()}
    finally:
        conn.close()
    assert mine.database in names
    assert other.database not in names

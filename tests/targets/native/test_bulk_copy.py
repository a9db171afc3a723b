"""PostgreSQL's bulk COPY: binary where psycopg has a binary dumper for every column,
storing exactly what SQLAlchemy's INSERT stores; the values go to it unconverted."""

from __future__ import annotations

import datetime as dt
from typing import Any, Iterator

import psycopg
import pytest
from dbhelpers import fresh_db
from sqlalchemy import (
    JSON,
    BigInteger,
    Boolean,
    Column,
    Date,
    DateTime,
    Integer,
    MetaData,
    Numeric,
    String,
    Table,
    Text,
    insert,
    select,
)
from sqlalchemy.engine import Engine

from reconciler.targets.native.bulkload import TABLES, binary_types, copy_psycopg, raw_converter
from reconciler.targets.native.schema import audit_t

T0 = dt.datetime(2026, 11, 24, 15, 0, 0, 123_456)

# Edge values per bulk table, in column order: NULLs, Unicode, microseconds, big ints,
# text that looks like a number, an empty string.
ROWS: dict[str, list[tuple[Any, ...]]] = {
    "clients": [
        ("C-1", "Zoë", "O'Brien", "active", "alee", 2**40, True, None, None),
        ("0", "", "\u4e2d", "deleted", None, -5, False, "C-1", T0),
    ],
    "series": [
        ("S-1", "C-1", "alee", "FREQ=WEEKLY;BYDAY=MO", T0, 50, None, True),
        ("S-2", "0", "alee", "FREQ=DAILY", T0 + dt.timedelta(days=1), 2**31 - 1, T0, False),
    ],
    "appointments": [
        ("A-1", "C-1", "alee", T0, T0 + dt.timedelta(minutes=50), "scheduled", "S-1", None, True),
        (
            "A-2",
            "0",
            "alee",
            dt.datetime(1970, 1, 1),
            dt.datetime(9999, 12, 31, 23, 59, 59),
            "cancelled",
            None,
            "0",
            False,
        ),
    ],
}


@pytest.fixture
def engine(db_url: str) -> Iterator[Engine]:
    """An empty practice database (the schema, no rows)."""
    eng = fresh_db(db_url)
    try:
        yield eng
    finally:
        eng.dispose()


def _practice(conn: Any) -> None:
    conn.exec_driver_sql(
        "INSERT INTO staff (id, name, role, access, active) VALUES ('alee', 'A', 'owner', 'entire_practice', true)"
    )


def _stored(engine: Engine) -> dict[str, list[tuple[Any, ...]]]:
    with engine.connect() as conn:
        return {s: [tuple(r) for r in conn.execute(select(TABLES[s]).order_by(TABLES[s].c.id))] for s in ROWS}


@pytest.fixture
def copies(monkeypatch: pytest.MonkeyPatch) -> list[str]:
    """The COPY statements psycopg is given."""
    seen: list[str] = []
    original = psycopg.Cursor.copy

    def copy(self: Any, statement: Any, *args: Any, **kwargs: Any) -> Any:
        seen.append(str(statement))
        return original(self, statement, *args, **kwargs)

    monkeypatch.setattr(psycopg.Cursor, "copy", copy)
    return seen


@pytest.mark.parametrize("db_url", ["postgresql"], indirect=True)
@pytest.mark.parametrize("validated", [True, False], ids=["binary", "text"])
def test_the_copy_stores_what_sqlalchemy_stores(engine: Engine, copies: list[str], validated: bool) -> None:
    with engine.begin() as conn:
        _practice(conn)
        for section, rows in ROWS.items():
            convert = raw_converter(section, conn.dialect)
            assert convert is not None and convert(rows) == rows  # nothing to convert on psycopg
            copy_psycopg(conn, TABLES[section], rows, convert, lambda n: None, validated=validated)
    assert len(copies) == len(ROWS)
    assert all(c.endswith(" FROM STDIN (FORMAT BINARY)") == validated for c in copies), copies
    copied = _stored(engine)
    with engine.begin() as conn:
        for section in reversed(ROWS):
            conn.execute(TABLES[section].delete())
        for section, rows in ROWS.items():
            names = [c.name for c in TABLES[section].columns]
            conn.execute(insert(TABLES[section]), [dict(zip(names, r)) for r in rows])
    assert _stored(engine) == copied
    assert copied["appointments"][1][3:5] == (dt.datetime(1970, 1, 1), dt.datetime(9999, 12, 31, 23, 59, 59))


@pytest.mark.parametrize("db_url", ["postgresql"], indirect=True)
def test_the_binary_copy_refuses_what_the_column_refuses(engine: Engine) -> None:
    """The server reads each binary field with the column's own type: a text too long
    for a VARCHAR(64), or a primary key twice, fails the COPY as it fails an INSERT."""
    too_long = [("C-" + "x" * 64, "A", "B", "active", None, 0, False, None, None)]
    twice = ROWS["clients"][:1] * 2
    for rows, error in ((too_long, "value too long"), (twice, "duplicate key")):
        with pytest.raises(Exception, match=error), engine.begin() as conn:
            _practice(conn)
            copy_psycopg(conn, TABLES["clients"], rows, lambda chunk: chunk, lambda n: None, validated=True)
    with engine.connect() as conn:
        assert conn.exec_driver_sql("SELECT count(*) FROM clients").scalar() == 0


@pytest.mark.parametrize("db_url", ["postgresql"], indirect=True)
def test_a_snapshot_load_copies_its_rows_in_binary_and_the_audit_trail_in_text(
    engine: Engine, copies: list[str]
) -> None:
    from dbhelpers import PRACTICE_YAML

    from reconciler.targets.native.queries import insert_audit
    from reconciler.targets.native.snapshot import load_snapshot

    load_snapshot(engine, PRACTICE_YAML)
    assert sorted(c.split()[1] for c in copies) == ["appointments", "clients", "series"]
    assert all(c.endswith("(FORMAT BINARY)") for c in copies)
    copies.clear()
    row = {"at": T0, "actor": "alee", "plan_id": "plan-0", "action_id": 1, "action_type": "staff.deactivate"}
    row |= {"target": "alee", "staff_id": "alee", "before": {"active": True}, "after": {"active": False}}
    row |= {"reason": "r", "signer": None, "prev_hash": "sha256:0", "hash": "sha256:1", "client_id": None}
    with engine.begin() as conn:
        insert_audit(conn, [row])
    assert len(copies) == 1 and copies[0].startswith("COPY audit_events") and "BINARY" not in copies[0]


def test_binary_types_name_a_dumper_for_every_column_or_none() -> None:
    assert binary_types(list(TABLES["appointments"].columns)) == [
        "text", "text", "text", "timestamp", "timestamp", "text", "text", "text", "bool",
    ]  # fmt: skip
    assert binary_types(list(TABLES["clients"].columns)) == [
        "text", "text", "text", "text", "text", "int8", "bool", "text", "timestamp",
    ]  # fmt: skip
    assert binary_types(list(TABLES["series"].columns))[5] == "int4"
    # JSON (the audit trail: its text is encoded already), or any type without a map: text COPY
    assert binary_types(list(audit_t.columns)) is None
    m = MetaData()
    t = Table(
        "t",
        m,
        Column("a", DateTime(timezone=True)),
        Column("b", Date),
        Column("c", Text),
        Column("d", String(3)),
        Column("e", Integer),
        Column("f", BigInteger),
        Column("g", Boolean),
    )
    assert binary_types(list(t.columns)) == ["timestamptz", "date", "text", "text", "int4", "int8", "bool"]
    assert binary_types([Column("x", Numeric)]) is None
    assert binary_types([Column("x", JSON)]) is None


def test_booleans_are_bound_as_each_dialect_binds_them() -> None:
    """A native boolean's bind processor only checks the type: the bulk rows skip it
    (they are validated); SQLite's turns them into 0/1, and still does."""
    from sqlalchemy.dialects import postgresql, sqlite

    rows = ROWS["appointments"]
    pg = raw_converter("appointments", postgresql.psycopg.dialect())
    assert pg is not None and pg(rows) == rows
    lite = raw_converter("appointments", sqlite.dialect())
    assert lite is not None
    assert [r[8] for r in lite(rows)] == [1, 0] and all(type(r[8]) is int for r in lite(rows))

"""The audit INSERT: SQLite's fast path (the column types' own bind processors and one
DB-API executemany) stores exactly what SQLAlchemy's executemany stores."""

from __future__ import annotations

import datetime as dt
from typing import Any

import pytest
from sqlalchemy import insert, select
from sqlalchemy.engine import Engine
from sqlalchemy.exc import StatementError

from reconciler.targets.native.queries import insert_audit
from reconciler.targets.native.schema import audit_t

WHEN = dt.datetime(2026, 12, 2, 15, 30, 0)


def _rows(n: int) -> list[dict[str, Any]]:
    rows = []
    for i in range(n):
        rows.append(
            {
                "at": WHEN,
                "actor": "alee",
                "plan_id": "plan-0123456789ab",
                "action_id": i + 1,
                "action_type": "client.reassign" if i % 2 else "appointment.cancel",
                "target": f"A-{i}",
                "staff_id": None if i == 3 else "c00001",
                # JSON values of every kind, 1 and True apart (equal in Python, not in JSON)
                "before": {"status": "scheduled", "n": 1, "flag": True, "none": None, "list": [1, "é"]},
                "after": None if i == 2 else {"status": "cancelled", "n": True, "x": 1.5, 'q"': "\\%"},
                "reason": "c00001 offboarding: future session cancelled",
                "signer": None,
                "prev_hash": "sha256:" + "0" * 64,
                "hash": "sha256:" + f"{i:064d}",
                "client_id": f"C-{i}",
            }
        )
    return rows


# What each backend stores, raw (SQLite: with the storage classes; PostgreSQL: the JSON
# columns' text and whether they are SQL NULL), then as SQLAlchemy reads it back (no id:
# PostgreSQL's sequence goes on counting after a DELETE).
_RAW = {
    "sqlite": "before, after, reason, signer, prev_hash, hash, client_id, typeof(at), typeof(before), typeof(after)",
    "postgresql": "before::text, after::text, reason, signer, prev_hash, hash, client_id, before IS NULL, after IS NULL",
}


def _stored(engine: Engine) -> list[tuple[Any, ...]]:
    with engine.connect() as conn:
        raw = conn.exec_driver_sql(
            "SELECT at, actor, plan_id, action_id, action_type, target, staff_id, "
            f"{_RAW[engine.dialect.name]} FROM audit_events ORDER BY id"
        ).all()
        typed = conn.execute(select(audit_t).order_by(audit_t.c.id)).all()
    return [tuple(r) for r in raw] + [tuple(r)[1:] for r in typed]


@pytest.mark.parametrize("db_url", ["sqlite"], indirect=True)
def test_the_sqlite_fast_path_stores_what_sqlalchemy_stores(engine: Engine, db_url: str) -> None:
    rows = _rows(7)
    with engine.begin() as conn:
        assert insert_audit(conn, rows) == 7
    fast = _stored(engine)
    with engine.begin() as conn:
        conn.exec_driver_sql("DELETE FROM audit_events")
        conn.execute(insert(audit_t), rows)
    assert _stored(engine) == fast
    assert fast[0][0] == "2026-12-02 15:30:00.000000" and fast[2][8] == "null"


def test_no_rows_insert_nothing_and_ragged_rows_fail_as_sqlalchemy_fails(engine: Engine) -> None:
    rows = _rows(3)
    del rows[1]["client_id"]  # rows naming different columns go to SQLAlchemy's executemany, which refuses them
    with engine.begin() as conn:
        assert insert_audit(conn, []) == 0
    with pytest.raises(StatementError, match="client_id"), engine.begin() as conn:
        insert_audit(conn, rows)
    with engine.connect() as conn:
        assert conn.execute(select(audit_t.c.id)).first() is None


@pytest.mark.parametrize("db_url", ["postgresql"], indirect=True)
def test_the_postgresql_copy_stores_what_sqlalchemy_stores(engine: Engine, db_url: str) -> None:
    rows = _rows(7)
    with engine.begin() as conn:
        assert insert_audit(conn, rows) == 7
        # in the order given: the ids number the chain
        assert [r.action_id for r in conn.execute(select(audit_t.c.action_id).order_by(audit_t.c.id))] == list(
            range(1, 8)
        )
    fast = _stored(engine)
    with engine.begin() as conn:
        conn.exec_driver_sql("DELETE FROM audit_events")
        conn.execute(insert(audit_t), rows)
    assert _stored(engine) == fast
    # The JSON text as json.dumps writes it; None is JSON null, not SQL NULL.
    assert fast[0][7] == r'{"status": "scheduled", "n": 1, "flag": true, "none": null, "list": [1, "\u00e9"]}'
    assert fast[2][8] == "null" and fast[2][15] is False
    with engine.begin() as conn:  # and rolled back with the transaction that made them
        insert_audit(conn, rows)
        conn.rollback()
    assert _stored(engine) == fast

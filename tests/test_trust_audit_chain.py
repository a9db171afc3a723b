"""SPEC §7.1 (issue 10) on SQLite and PostgreSQL: every apply links its audit events
into the hash chain; `reconciler audit verify` exits 0 with the count and head hash,
and exits 1 naming the first edited, removed or reordered event; migration 0003 chains
the events of a database at 0002 in place; a purge keeps the purged client's events."""

from __future__ import annotations

import json
from pathlib import Path
from typing import Any

import pytest
from sqlalchemy import text
from sqlalchemy.engine import Engine
from test_executor_support import AT, EXAMPLES, invoke, practice_db

from reconciler.security.chain import GENESIS

TRAVEL = ("--at", AT, "--allow-time-travel")


def applied(db_url: str, tmp_path: Path, example: str = "offboarding") -> Engine:
    engine = practice_db(db_url)
    res = invoke(
        db_url,
        "apply",
        "-c",
        str(EXAMPLES / example),
        "--auto-approve",
        "--export-dir",
        str(tmp_path / "exports"),
        *TRAVEL,
    )
    assert res.exit_code == 0, res.output
    return engine


def verify(db_url: str, *fmt: str) -> Any:
    return invoke(db_url, "audit", "verify", *fmt)


def events(engine: Engine) -> list[Any]:
    with engine.connect() as conn:
        return list(conn.execute(text("SELECT * FROM audit_events ORDER BY id")).mappings())


def test_apply_links_every_event_and_verify_prints_count_and_head(db_url: str, tmp_path: Path) -> None:
    engine = applied(db_url, tmp_path)
    rows = events(engine)
    assert rows[0]["prev_hash"] == GENESIS
    assert all(b["prev_hash"] == a["hash"] for a, b in zip(rows, rows[1:]))
    res = verify(db_url)
    assert res.exit_code == 0, res.output
    assert res.output == f"audit chain verified: {len(rows)} events, head {rows[-1]['hash']}\n"
    doc = json.loads(verify(db_url, "--format", "json").output)
    assert doc == {
        "ok": True,
        "count": len(rows),
        "head": rows[-1]["hash"],
        "failure": None,
    }
    # a second apply continues the chain from the head
    second = invoke(
        db_url,
        "apply",
        "-c",
        str(EXAMPLES / "clients"),
        "--auto-approve",
        "--export-dir",
        str(tmp_path / "exports"),
        *TRAVEL,
    )
    assert second.exit_code == 1  # it deletes a client: refused without approval, nothing written
    assert len(events(engine)) == len(rows)
    engine.dispose()


def test_an_empty_trail_verifies(db_url: str) -> None:
    practice_db(db_url).dispose()
    res = verify(db_url)
    assert res.exit_code == 0 and res.output == f"audit chain verified: 0 events, head {GENESIS}\n"


@pytest.mark.parametrize(
    "change,kind",
    [
        ("UPDATE audit_events SET actor = 'mallory' WHERE id = 3", "edited"),
        ("UPDATE audit_events SET after = NULL WHERE id = 3", "edited"),
        ("DELETE FROM audit_events WHERE id = 3", "removed"),
    ],
    ids=["actor-edited", "after-edited", "middle-event-deleted"],
)
def test_verify_names_the_first_broken_event(db_url: str, tmp_path: Path, change: str, kind: str) -> None:
    engine = applied(db_url, tmp_path)
    with engine.begin() as conn:
        conn.execute(text(change))
    res = verify(db_url)
    assert res.exit_code == 1
    want = 3 if kind == "edited" else 4
    assert res.stderr.startswith(f"Error: audit chain broken at audit event {want}: {kind}"), res.stderr
    doc = json.loads(verify(db_url, "--format", "json").output)
    assert doc["ok"] is False and doc["failure"]["kind"] == kind and doc["failure"]["event_id"] == want
    assert doc["count"] == 2  # events 1 and 2 still verify
    engine.dispose()


def test_verify_detects_reordered_events(db_url: str, tmp_path: Path) -> None:
    engine = applied(db_url, tmp_path)
    rows = events(engine)
    a, b = rows[2], rows[3]
    cols = [c for c in a.keys() if c != "id"]
    with engine.begin() as conn:  # swap the contents of events 3 and 4 (hashes included)
        for target, src in ((a["id"], b), (b["id"], a)):
            sets = ", ".join(f"{c} = :{c}" for c in cols)
            params = {c: (json.dumps(src[c]) if isinstance(src[c], (dict, list)) else src[c]) for c in cols}
            conn.execute(
                text(f"UPDATE audit_events SET {sets} WHERE id = :id"),
                {**params, "id": target},
            )
    res = verify(db_url)
    assert res.exit_code == 1 and "audit event 3: reordered" in res.stderr, res.stderr
    engine.dispose()


def test_migration_0003_chains_existing_events_in_place(db_url: str, tmp_path: Path) -> None:
    from alembic import command

    from reconciler.targets.native.engine import HEAD_REVISION
    from reconciler.targets.native.migrate import alembic_config, upgrade_db

    engine = applied(db_url, tmp_path)
    head_before = events(engine)[-1]["hash"]
    n = len(events(engine))
    with engine.begin() as conn:
        command.downgrade(alembic_config(conn), "0002")
    with engine.connect() as conn:
        cols = [r[0] for r in conn.execute(text("SELECT * FROM audit_events")).cursor.description]
    assert "hash" not in cols and "prev_hash" not in cols

    # through 0003 (the chain), 0004 (db_id) and 0005 (client_id backfilled, not hashed): the chain still verifies
    assert upgrade_db(engine) == HEAD_REVISION == "0005"
    rows = events(engine)
    assert len(rows) == n and rows[-1]["hash"] == head_before  # the same chain the writer made
    assert all(r["signer"] is None for r in rows)
    res = verify(db_url)
    assert res.exit_code == 0 and f"{n} events" in res.output
    engine.dispose()


def test_a_purge_keeps_the_purged_clients_events_and_the_chain(db_url: str, tmp_path: Path) -> None:
    engine = practice_db(db_url)
    import datetime as dt

    from reconciler.targets.native.schema import clients_t

    with engine.begin() as conn:  # C-1001 was deleted long ago: the next plan purges it
        conn.execute(
            clients_t.update()
            .where(clients_t.c.id == "C-1001")
            .values(
                status="deleted",
                primary_id=None,
                deleted_at=dt.datetime(2026, 9, 1, 12),
            )
        )
    cfg = tmp_path / "cfg"
    cfg.mkdir()
    (cfg / "practice.yaml").write_text((EXAMPLES / "clients" / "practice.yaml").read_text())
    res = invoke(
        db_url,
        "apply",
        "-c",
        str(cfg),
        "--auto-approve",
        "--export-dir",
        str(tmp_path / "e"),
        *TRAVEL,
    )
    assert res.exit_code == 0, res.output
    with engine.connect() as conn:
        assert conn.execute(text("SELECT count(*) FROM clients WHERE id = 'C-1001'")).scalar_one() == 0
    purged = [e for e in events(engine) if e["target"] == "C-1001"]
    assert [e["action_type"] for e in purged] == ["client.purge"]
    assert verify(db_url).exit_code == 0
    engine.dispose()

"""OpenEMR's ``log`` rows are written in multi-row INSERTs (the bench's hot spot) and each
``log_comment_encrypt`` row still names its own ``log`` row: its checksum is the one
OpenEMR's EventAuditLogger computes over that row. Both paths: consecutive ids (MariaDB's
default auto-increment lock mode) in several chunks, and one row at a time."""

from __future__ import annotations

import base64
import hashlib

import pytest

from reconciler.targets.openemr import audit

from .practice import LEAVE, build


def _implode(row: tuple) -> str:  # type: ignore[type-arg]
    return "".join(
        "" if v is None else (v.strftime("%Y-%m-%d %H:%M:%S") if hasattr(v, "strftime") else str(v)) for v in row
    )


@pytest.mark.parametrize("consecutive", [True, False], ids=["multi-row", "row-by-row"])
def test_log_rows_pair_with_their_checksums(oedb, tmp_path, monkeypatch, consecutive: bool) -> None:
    monkeypatch.setattr(audit, "LOG_CHUNK", 2)
    monkeypatch.setattr(audit, "consecutive_ids", lambda conn: consecutive)
    p = build(*oedb, tmp_path)
    plan = p.plan(LEAVE % "")
    assert len(plan.actions) >= 5
    p.apply(plan)
    logs = p.q(
        "SELECT id, date, event, category, user, groupname, comments, user_notes, patient_id, success, crt_user, "
        "log_from, menu_item_id, ccda_doc_id FROM log ORDER BY id"
    )
    sums = dict(p.q("SELECT log_id, checksum FROM log_comment_encrypt"))
    assert len(logs) == len(plan.actions) == len(sums)
    for row in logs:
        assert sums[row[0]] == hashlib.sha3_512(_implode(row[1:]).encode()).hexdigest()
    order = [base64.b64decode(r[6]).decode().split("#", 1)[1].split(":", 1)[0] for r in logs]
    assert order == [str(a.id) for a in plan.actions]  # one row per action, in plan order


def test_audit_events_round_trip_through_the_literal_insert(oedb, tmp_path, monkeypatch) -> None:
    """``reconciler_audit_events`` rows go in as multi-row INSERTs of literals escaped by the
    driver: quotes, backslashes, ``%`` (OpenEMR's own status letter), non-ASCII and NULLs come
    back exactly, over several chunks, and the chain still verifies."""
    import datetime as dt

    monkeypatch.setattr(audit, "AUDIT_CHUNK", 2)
    p = build(*oedb, tmp_path)
    nasty = "it's a \\ back'slash \"quoted\" 100% naïve; DROP TABLE log; --"
    rows = [
        {
            "at": dt.datetime(2026, 11, 24, 15, 0, i),
            "actor": "alee",
            "signer": None if i % 2 else "mkhan",
            "plan_id": "plan-000000000001",
            "action_id": i + 1,
            "action_type": "appointment.cancel",
            "target": str(100 + i),
            "staff_id": None,
            "client_id": "C-1",
            "before": {"status": "%", "note": nasty},
            "after": {} if i % 2 else {"status": "x"},
            "reason": nasty,
            "prev_hash": f"sha256:{i:064d}",
            "hash": f"sha256:{i + 1:064d}",
        }
        for i in range(5)
    ]
    with p.engine.begin() as conn:
        assert audit.write_audit(conn, rows) == 5
    got = p.target.read_audit("plan-000000000001")
    assert [(e["action_id"], e["before"], e["after"], e["reason"], e["signer"]) for e in got] == [
        (r["action_id"], r["before"], r["after"], r["reason"], r["signer"]) for r in rows
    ]
    assert [e["at"] for e in got] == [f"2026-11-24T15:00:0{i}Z" for i in range(5)]


def test_statements_are_made_ahead_on_a_worker_in_order() -> None:
    """``ahead``: the same items in the same order; the next one is made on another thread
    while the caller still holds the current one; an error making one is raised where the
    caller would have met it."""
    import threading

    made: list[tuple[int, str]] = []
    used: list[int] = []

    def items():  # type: ignore[no-untyped-def]
        for i in range(5):
            made.append((i, threading.current_thread().name))
            yield i

    for item in audit.ahead(items()):
        # While item i is used, item i + 1 is already being (or has been) made.
        threading.Event().wait(0.05)
        assert len(made) >= min(item + 2, 5)
        used.append(item)
    assert used == [0, 1, 2, 3, 4]
    assert all(name.startswith("reconciler-sql") for _i, name in made)
    assert threading.active_count() == 1 or not any(t.name.startswith("reconciler-sql") for t in threading.enumerate())

    def failing():  # type: ignore[no-untyped-def]
        yield 1
        raise ValueError("bad row")

    got: list[int] = []
    with pytest.raises(ValueError, match="bad row"):
        for item in audit.ahead(failing()):
            got.append(item)
    assert got == [1]

"""SPEC §7.3 (issue 10) on SQLite and PostgreSQL: `reconciler status --check` exits 1
listing every violation (one test per kind), 0 when there is none; with -c the config's
intent counts too; `watch` logs each violation as one structured event (ids only)."""

from __future__ import annotations

import datetime as dt
import json
from pathlib import Path
from typing import Any

import pytest
from sqlalchemy import text
from sqlalchemy.engine import Engine
from test_executor_support import AT, EXAMPLES, invoke, names_in, practice_db

AT_UTC = dt.datetime(2026, 11, 24, 17, 0, tzinfo=dt.timezone.utc)


def check(db_url: str, *extra: str) -> tuple[int, dict[str, Any]]:
    res = invoke(db_url, "status", "--check", "--at", AT, "--format", "json", *extra)
    assert not names_in(res.output)
    return res.exit_code, json.loads(res.output)


def kinds(doc: dict[str, Any]) -> list[tuple[str, str | None]]:
    return [(v["kind"], v.get("staff") or v.get("client")) for v in doc["violations"]]


@pytest.fixture
def engine(db_url: str) -> Engine:
    e = practice_db(db_url)
    with e.begin() as conn:  # the sample's drift (tnguyen left but still holds clients) is fixed first
        conn.execute(text("UPDATE clients SET primary_id = 'mkhan' WHERE primary_id = 'tnguyen'"))
        conn.execute(text("UPDATE appointments SET staff_id = 'mkhan' WHERE staff_id = 'tnguyen'"))
        conn.execute(text("UPDATE series SET staff_id = 'mkhan' WHERE staff_id = 'tnguyen'"))
    yield e
    e.dispose()


def test_a_compliant_practice_exits_0(engine: Engine, db_url: str) -> None:
    code, doc = check(db_url)
    assert (code, doc["violations"]) == (0, []), doc
    text_res = invoke(db_url, "status", "--check", "--at", AT)
    assert text_res.exit_code == 0 and "no violations" in text_res.output


def test_leave_date_passed_but_account_active(engine: Engine, db_url: str) -> None:
    with engine.begin() as conn:
        conn.execute(text("UPDATE staff SET deactivate_on = '2026-11-20' WHERE id = 'bsmith'"))
    code, doc = check(db_url)
    assert code == 1 and kinds(doc) == [("leave_date_passed", "bsmith")]
    res = invoke(db_url, "status", "--check", "--at", AT)
    assert res.exit_code == 1 and "leave date 2026-11-20 has passed" in res.output


def test_the_configs_intent_counts_with_c(engine: Engine, db_url: str, tmp_path: Path) -> None:
    assert check(db_url)[0] == 0
    code, doc = check(db_url, "-c", str(EXAMPLES / "offboarding"))  # bsmith: active false
    assert code == 1 and ("config_says_inactive", "bsmith") in kinds(doc)
    cfg = tmp_path / "cfg"
    cfg.mkdir()
    body = (
        (EXAMPLES / "clients" / "practice.yaml")
        .read_text()
        .replace(
            "{id: jdoe, name: Jon Doe, role: clinician}",
            "{id: jdoe, name: Jon Doe, role: clinician, deactivate_on: 2026-11-01, successor: egarcia}",
        )
    )
    (cfg / "practice.yaml").write_text(body)
    code, doc = check(db_url, "-c", str(cfg))
    assert code == 1 and ("leave_date_passed", "jdoe") in kinds(doc)
    assert next(v for v in doc["violations"] if v.get("staff") == "jdoe")["source"] == "config"


def test_an_inactive_professional_with_sessions_series_and_clients(engine: Engine, db_url: str) -> None:
    with engine.begin() as conn:
        conn.execute(text("UPDATE staff SET active = false WHERE id = 'bsmith'"))
    code, doc = check(db_url)
    assert code == 1
    assert [k for k, sid in kinds(doc) if sid == "bsmith"] == [
        "inactive_has_sessions",
        "inactive_has_series",
        "inactive_has_clients",
    ]
    sessions = next(v for v in doc["violations"] if v["kind"] == "inactive_has_sessions")
    assert "A-58" in sessions["ids"] and "A-13" not in sessions["ids"]  # A-13 started before AT
    clients = next(v for v in doc["violations"] if v["kind"] == "inactive_has_clients")
    assert clients["ids"][:2] == ["C-1001", "C-1002"]


def test_a_purge_overdue(engine: Engine, db_url: str) -> None:
    from reconciler.targets.native.schema import clients_t

    with engine.begin() as conn:
        conn.execute(
            clients_t.update()
            .where(clients_t.c.id.in_(["C-1008", "C-1009"]))
            .values(
                status="deleted",
                primary_id=None,
                deleted_at=dt.datetime(2026, 10, 1, 12),
            )
        )
        conn.execute(
            clients_t.update().where(clients_t.c.id == "C-1009").values(deleted_at=dt.datetime(2026, 11, 1, 12))
        )  # 23 days: not due yet
    code, doc = check(db_url)
    assert code == 1 and kinds(doc) == [("purge_overdue", "C-1008")]


def test_an_audit_chain_that_does_not_verify(engine: Engine, db_url: str, tmp_path: Path) -> None:
    res = invoke(
        db_url,
        "apply",
        "-c",
        str(EXAMPLES / "handover"),
        "--auto-approve",
        "--export-dir",
        str(tmp_path / "e"),
        "--at",
        AT,
        "--allow-time-travel",
    )
    assert res.exit_code == 0, res.output
    assert check(db_url)[0] == 0
    with engine.begin() as conn:
        conn.execute(text("UPDATE audit_events SET target = 'C-9999' WHERE id = 2"))
    code, doc = check(db_url)
    assert code == 1 and [v["kind"] for v in doc["violations"]] == ["audit_chain_broken"]
    assert doc["violations"][0]["event"] == 2


def test_watch_logs_each_violation_as_one_structured_event(
    engine: Engine, db_url: str, tmp_path: Path, capsys: pytest.CaptureFixture[str]
) -> None:
    from reconciler.app.watch import WatchCycle
    from reconciler.logs import configure
    from reconciler.targets.native.target import NativeTarget

    with engine.begin() as conn:
        conn.execute(text("UPDATE staff SET active = false WHERE id = 'bsmith'"))
        conn.execute(text("UPDATE staff SET deactivate_on = '2026-11-20' WHERE id = 'jdoe'"))
    import sys

    configure("json", sys.stderr)
    cycle = WatchCycle(
        EXAMPLES / "clients",
        NativeTarget(engine),
        auto_apply=False,
        actor="alee",
        export_dir=tmp_path / "e",
        now=lambda: AT_UTC,
        out=sys.stdout,
    )
    cycle("interval")
    err = capsys.readouterr().err
    events = [json.loads(line) for line in err.splitlines() if '"compliance.violation"' in line]
    got = sorted((e["kind"], e["staff"]) for e in events)
    assert got == [
        ("inactive_has_clients", "bsmith"),
        ("inactive_has_series", "bsmith"),
        ("inactive_has_sessions", "bsmith"),
        ("leave_date_passed", "jdoe"),
    ]
    assert not names_in(err)
    cycle("change")  # a config change replans; the check runs at start and every interval
    assert '"compliance.violation"' not in capsys.readouterr().err

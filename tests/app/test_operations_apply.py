"""SPEC §8.1–§8.3 applied on SQLite and PostgreSQL: practice.update (owner handover and
departure in one plan), client future_sessions: cancel, series.split on a scheduled
handover; each converges (the next plan is empty) and is in the audit trail."""

from __future__ import annotations

import datetime as dt
import shutil
from pathlib import Path

from sqlalchemy import select
from sqlalchemy.engine import Engine
from test_executor_support import EXAMPLES, NOW, plan_for

from reconciler.app.audit import read_audit
from reconciler.app.executor import apply_plan
from reconciler.model.actions import Plan
from reconciler.targets.native.schema import appointments_t, practice_t, series_t, staff_t
from reconciler.targets.native.target import NativeTarget


def apply(engine: Engine, plan: Plan, tmp_path: Path) -> None:
    apply_plan(
        NativeTarget(engine),
        plan,
        actor="alee",
        confirm_delete=(),
        export_dir=tmp_path / "exports",
        lock_timeout=5,
        progress=False,
        now=NOW,
    )


def test_owner_hands_over_and_leaves_in_one_apply(engine: Engine, tmp_path: Path) -> None:
    p = plan_for(engine, EXAMPLES / "ownership")
    assert [a.type.value for a in p.actions] == ["practice.update", "staff.deactivate"]
    apply(engine, p, tmp_path)
    with engine.connect() as conn:
        practice = conn.execute(select(practice_t)).one()
        alee = conn.execute(select(staff_t).where(staff_t.c.id == "alee")).one()
    assert (practice.owner_id, practice.client_plan_limit) == ("mkhan", 600)
    assert alee.active is False
    assert plan_for(engine, EXAMPLES / "ownership").is_empty
    events = read_audit(NativeTarget(engine), p.plan_id)
    assert events[0]["type"] == "practice.update"
    assert events[0]["before"]["owner"] == "alee" and events[0]["after"]["owner"] == "mkhan"


def test_practice_update_is_conditional_on_the_before_values(engine: Engine, tmp_path: Path) -> None:
    import pytest

    from reconciler.errors import ApplyFailed, StalePlan

    p = plan_for(engine, EXAMPLES / "ownership")
    with engine.begin() as conn:
        conn.execute(practice_t.update().values(owner_id="pmorgan"))
    with pytest.raises((ApplyFailed, StalePlan)):
        apply(engine, p, tmp_path)
    with engine.connect() as conn:
        assert conn.execute(select(staff_t.c.active).where(staff_t.c.id == "alee")).scalar_one() is True


def _config(tmp_path: Path, example: str, edit: tuple[str, str]) -> Path:
    cfg = tmp_path / "config"
    shutil.copytree(EXAMPLES / example, cfg)
    f = cfg / "practice.yaml"
    text = f.read_text(encoding="utf-8")
    assert edit[0] in text
    f.write_text(text.replace(edit[0], edit[1]), encoding="utf-8")
    return cfg


def test_client_future_sessions_cancel_is_applied_and_converges(engine: Engine, tmp_path: Path) -> None:
    cfg = tmp_path / "config"
    shutil.copytree(EXAMPLES / "ownership", cfg)
    with (cfg / "practice.yaml").open("a", encoding="utf-8") as fh:
        fh.write("clients:\n  - {id: C-1008, status: inactive, future_sessions: cancel}\n")
    p = plan_for(engine, cfg)
    mine = [a for a in p.actions if a.reason.startswith("explicit clients: entry")]
    assert mine and mine[-1].type.value == "client.inactivate"
    cancelled = [a.target for a in mine if a.type.value == "appointment.cancel"]
    assert not [w for w in p.warnings if "C-1008" in w]
    apply(engine, p, tmp_path)
    with engine.connect() as conn:
        rows = conn.execute(
            select(appointments_t.c.status, appointments_t.c.cancel_reason).where(appointments_t.c.id.in_(cancelled))
        ).all()
    assert rows and all(r.status == "cancelled" and r.cancel_reason == "Client is no longer in care" for r in rows)
    assert plan_for(engine, cfg).is_empty


def test_scheduled_handover_splits_series_and_converges(engine: Engine, tmp_path: Path) -> None:
    p = plan_for(engine, EXAMPLES / "scheduled")
    splits = [a for a in p.actions if a.type.value == "series.split"]
    assert splits and not [a for a in p.actions if a.type.value == "series.transfer"]
    apply(engine, p, tmp_path)
    with engine.connect() as conn:
        old = conn.execute(select(series_t).where(series_t.c.id == "S-11")).one()
        new = conn.execute(select(series_t).where(series_t.c.id == "S-11-20261231")).one()
    assert old.staff_id == "egarcia" and old.active is True
    assert old.until == dt.datetime(2026, 12, 31, 5, 0)
    assert (new.staff_id, new.rrule, new.client_id, new.active) == ("cdavis", old.rrule, old.client_id, True)
    assert new.start_at == dt.datetime(2027, 1, 4, 18, 0)  # Mon 13:00 EST, the first at/after the date
    assert plan_for(engine, EXAMPLES / "scheduled").is_empty
    # on the date egarcia leaves; the ended half is closed, the successor's half untouched
    on_date = plan_for(engine, EXAMPLES / "scheduled", at="2026-12-31T15:00:00Z")
    steps = [(a.type.value, a.target) for a in on_date.actions]
    assert ("series.end", "S-11") in steps and ("staff.deactivate", "egarcia") in steps
    assert not [s for s in steps if s[1] == "S-11-20261231"]

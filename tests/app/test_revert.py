"""`reconciler revert PLAN_ID` (SPEC §8.6) on SQLite and PostgreSQL, end to end: offboard
by mistake -> revert the config -> revert -> the next plan is empty, the future sessions
are scheduled again with their professional and the clients are back."""

from __future__ import annotations

import datetime as dt
import shutil
from pathlib import Path

import pytest
from sqlalchemy import select
from sqlalchemy.engine import Engine
from test_executor_support import EXAMPLES, NOW, full_state, invoke, plan_for

from reconciler.app.executor import apply_plan
from reconciler.app.revert import build_revert
from reconciler.config.loader import load_config
from reconciler.errors import PlanRefused
from reconciler.model.actions import Plan
from reconciler.targets.native.schema import appointments_t, clients_t, staff_t
from reconciler.targets.native.target import NativeTarget

AT = "2026-11-24T15:00:00Z"
AT_DT = dt.datetime(2026, 11, 24, 15, 0, tzinfo=dt.timezone.utc)
LEAVING = "    active: false\n    offboarding: standard\n"


def apply(engine: Engine, plan: Plan, tmp_path: Path) -> None:
    apply_plan(
        NativeTarget(engine),
        plan,
        actor="pmorgan",
        confirm_delete=(),
        export_dir=tmp_path / "exports",
        lock_timeout=5,
        progress=False,
        now=NOW,
    )


def _config(tmp_path: Path) -> Path:
    cfg = tmp_path / "practice"
    shutil.copytree(EXAMPLES / "offboarding", cfg)
    assert LEAVING in (cfg / "practice.yaml").read_text(encoding="utf-8")
    return cfg


def _revert_config(cfg: Path) -> None:
    f = cfg / "practice.yaml"
    f.write_text(f.read_text(encoding="utf-8").replace(LEAVING, "    offboarding: standard\n"), encoding="utf-8")


def _rows(engine: Engine) -> tuple[dict[str, tuple[str, str | None]], dict[str, tuple[str, str]], bool]:
    with engine.connect() as conn:
        clients = {r.id: (r.status, r.primary_id) for r in conn.execute(select(clients_t))}
        appts = {r.id: (r.status, r.staff_id) for r in conn.execute(select(appointments_t))}
        active = conn.execute(select(staff_t.c.active).where(staff_t.c.id == "bsmith")).scalar_one()
    return clients, appts, bool(active)


def test_offboard_by_mistake_then_revert(engine: Engine, tmp_path: Path) -> None:
    before = _rows(engine)
    cfg = _config(tmp_path)
    mistake = plan_for(engine, cfg)
    apply(engine, mistake, tmp_path)
    assert _rows(engine) != before
    # the config still asks for the offboarding: refused, nothing changes
    with pytest.raises(PlanRefused, match="the config still asks for it"):
        build_revert(NativeTarget(engine), mistake.plan_id, load_config(cfg), at=AT_DT)
    _revert_config(cfg)
    # a session the practice changed since is listed and left alone
    moved = next(a.target for a in mistake.actions if a.type.value == "appointment.cancel")
    with engine.begin() as conn:
        conn.execute(appointments_t.update().where(appointments_t.c.id == moved).values(cancel_reason="rebooked"))
    rev = build_revert(NativeTarget(engine), mistake.plan_id, load_config(cfg), at=AT_DT)
    assert rev.plan.actions[0].type.value == "staff.reactivate"  # the professional first
    assert any(moved in line and "changed since" in line for line in rev.left_alone)
    assert rev.plan.extra["revert_of"] == mistake.plan_id
    apply(engine, rev.plan, tmp_path)
    clients, appts, active = _rows(engine)
    assert active
    assert clients == before[0]  # every client back with its primary and status
    assert {k: v for k, v in appts.items() if k != moved} == {k: v for k, v in before[1].items() if k != moved}
    assert appts[moved] == ("cancelled", "bsmith")
    assert plan_for(engine, cfg).is_empty
    # reverting twice changes nothing more
    again = build_revert(NativeTarget(engine), mistake.plan_id, load_config(cfg), at=AT_DT)
    assert again.plan.is_empty
    snapshot = full_state(engine)
    apply(engine, again.plan, tmp_path)
    assert full_state(engine) == snapshot


def test_revert_cli_refuses_unknown_plan_and_prints_a_plan(engine: Engine, tmp_path: Path) -> None:
    url = engine.url.render_as_string(hide_password=False)
    cfg = _config(tmp_path)
    r = invoke(url, "revert", "plan-000000000000", "-c", str(cfg), "--at", AT)
    assert r.exit_code == 1 and "not in the audit trail" in r.output
    mistake = plan_for(engine, cfg)
    apply(engine, mistake, tmp_path)
    r = invoke(url, "revert", mistake.plan_id, "-c", str(cfg), "--at", AT)
    assert r.exit_code == 1 and "revert the config in git first" in r.output
    _revert_config(cfg)
    out = tmp_path / "revert.json"
    r = invoke(url, "revert", mistake.plan_id, "-c", str(cfg), "--at", AT, "--out", str(out))
    assert r.exit_code == 0, r.output
    assert "staff.reactivate" in r.output and "client.reactivate" in r.output and out.exists()
    assert _rows(engine)[2] is False  # saved, not applied


def test_a_saved_revert_plan_applies_once_and_only_while_it_is_true(engine: Engine, tmp_path: Path) -> None:
    """SPEC §7.4 for revert plans: `apply PLANFILE` re-plans the file as the revert of the
    same applied plan (not as a plan of the config, which would differ), so an authentic
    revert plan applies, once; an edited one or one made stale by a later change is refused
    and nothing changes; the audit chain verifies across the revert."""
    import json

    from reconciler.app.audit import verify_audit

    url = engine.url.render_as_string(hide_password=False)
    cfg = _config(tmp_path)
    mistake = plan_for(engine, cfg)
    apply(engine, mistake, tmp_path)
    _revert_config(cfg)
    out = tmp_path / "revert.json"
    r = invoke(url, "revert", mistake.plan_id, "-c", str(cfg), "--at", AT, "--out", str(out))
    assert r.exit_code == 0, r.output
    # an edited revert plan (one session fewer to restore) is refused before anything changes
    doc = json.loads(out.read_text(encoding="utf-8"))
    edited = tmp_path / "edited.json"
    doc["actions"] = [a for a in doc["actions"] if a["target"] != "A-5"]
    doc.pop("plan_id", None)
    edited.write_text(json.dumps(doc), encoding="utf-8")
    before = full_state(engine)
    r = invoke(url, "apply", str(edited), "-c", str(cfg), "--at", AT, "--allow-time-travel", "--auto-approve")
    assert r.exit_code == 1 and "edited plan" in r.output, r.output
    assert full_state(engine) == before
    # --at far from the clock needs --allow-time-travel for a revert that applies, as for apply
    r = invoke(url, "revert", mistake.plan_id, "-c", str(cfg), "--at", AT, "--auto-approve")
    assert r.exit_code == 1 and "--allow-time-travel" in r.output, r.output
    assert full_state(engine) == before
    r = invoke(url, "apply", str(out), "-c", str(cfg), "--at", AT, "--allow-time-travel", "--auto-approve")
    assert r.exit_code == 0, r.output
    assert _rows(engine)[2] is True
    r = invoke(url, "apply", str(out), "-c", str(cfg), "--at", AT, "--allow-time-travel", "--auto-approve")
    assert r.exit_code == 1 and "already applied" in r.output
    assert verify_audit(NativeTarget(engine)).failure is None
    r = invoke(url, "audit", "verify")
    assert r.exit_code == 0, r.output


def test_a_saved_revert_plan_is_stale_once_a_row_it_restores_changed(engine: Engine, tmp_path: Path) -> None:
    url = engine.url.render_as_string(hide_password=False)
    cfg = _config(tmp_path)
    mistake = plan_for(engine, cfg)
    apply(engine, mistake, tmp_path)
    _revert_config(cfg)
    out = tmp_path / "revert.json"
    assert invoke(url, "revert", mistake.plan_id, "-c", str(cfg), "--at", AT, "--out", str(out)).exit_code == 0
    moved = next(a.target for a in mistake.actions if a.type.value == "appointment.cancel")
    with engine.begin() as conn:  # the practice rebooks one of the sessions the revert would restore
        conn.execute(appointments_t.update().where(appointments_t.c.id == moved).values(cancel_reason="rebooked"))
    before = full_state(engine)
    r = invoke(url, "apply", str(out), "-c", str(cfg), "--at", AT, "--allow-time-travel", "--auto-approve")
    assert r.exit_code == 1 and "stale plan" in r.output, r.output
    assert full_state(engine) == before


def test_a_saved_revert_plan_names_the_database_it_was_made_against(engine: Engine, tmp_path: Path) -> None:
    """Like every plan (issue 11), a revert plan carries ``extra.db_id``: applied to another
    database it is refused as made against another database, not as stale."""
    import json

    url = engine.url.render_as_string(hide_password=False)
    cfg = _config(tmp_path)
    mistake = plan_for(engine, cfg)
    apply(engine, mistake, tmp_path)
    _revert_config(cfg)
    out = tmp_path / "revert.json"
    assert invoke(url, "revert", mistake.plan_id, "-c", str(cfg), "--at", AT, "--out", str(out)).exit_code == 0
    with NativeTarget(engine).reading() as session:
        here = session.database_id()
    assert here and json.loads(out.read_text(encoding="utf-8"))["extra"]["db_id"] == here

"""`apply` (SPEC §3.5, §4 "Saved plans and safety") through the library, on SQLite and
PostgreSQL: converge, stale plans, deletion rules, exports first, all or nothing."""

from __future__ import annotations

import dataclasses
import datetime as dt
import json
import stat
from pathlib import Path

import pytest
from sqlalchemy import func, select
from sqlalchemy.engine import Engine
from test_executor_support import EXAMPLES, NOW, full_state, names_in, plan_for

from reconciler.app.audit import format_audit, read_audit
from reconciler.app.executor import ApplyResult, apply_plan
from reconciler.errors import ApplyFailed, ExportError, PlanRefused, StalePlan
from reconciler.model.actions import ActionType, Plan
from reconciler.targets.native.schema import appointments_t, audit_t, clients_t, seats_t, series_t
from reconciler.targets.native.target import NativeTarget

OFFBOARDING = EXAMPLES / "offboarding"  # bsmith leaves, standard policy
HANDOVER = EXAMPLES / "handover"  # cdavis -> jdoe, FHIR export first
CLIENTS = EXAMPLES / "clients"  # housekeeping incl. deleting C-1013


def apply(
    engine: Engine, plan: Plan, tmp_path: Path, actor: str = "alee", confirm: tuple[str, ...] = ()
) -> ApplyResult:
    return apply_plan(
        NativeTarget(engine),
        plan,
        actor=actor,
        confirm_delete=confirm,
        export_dir=tmp_path / "exports",
        lock_timeout=5,
        progress=False,
        now=NOW,
    )


def book(engine: Engine, staff: str, client: str, start: dt.datetime, id_: str = "A-900") -> None:
    """The practice's own application books a session (outside the reconciler)."""
    with engine.begin() as conn:
        conn.execute(
            appointments_t.insert().values(
                id=id_,
                client_id=client,
                staff_id=staff,
                start_at=start,
                end_at=start + dt.timedelta(minutes=50),
                status="scheduled",
                telehealth=False,
            )
        )


# ---------------------------------------------------------------- converge
@pytest.mark.parametrize("config", [OFFBOARDING, HANDOVER, EXAMPLES / "scheduled"], ids=lambda p: p.name)
def test_apply_then_plan_again_is_empty(engine: Engine, tmp_path: Path, config: Path) -> None:
    plan = plan_for(engine, config)
    assert not plan.is_empty
    result = apply(engine, plan, tmp_path)
    assert (result.actions, result.audit_events) == (len(plan.actions), len(plan.actions))
    assert result.summary_line().startswith(
        f"Apply complete: {len(plan.actions)} actions, {len(plan.actions)} audit events (plan {plan.plan_id})"
    )
    assert plan_for(engine, config).actions == ()


def test_offboarding_writes_one_audit_event_per_action_and_a_seat_event(engine: Engine, tmp_path: Path) -> None:
    plan = plan_for(engine, OFFBOARDING)
    apply(engine, plan, tmp_path)
    events = read_audit(NativeTarget(engine), plan_id=plan.plan_id)
    assert [(e["action_id"], e["type"], e["target"]) for e in events] == [
        (a.id, a.type.value, a.target) for a in plan.actions
    ]
    assert {e["actor"] for e in events} == {"alee"}
    with engine.connect() as conn:
        seats = conn.execute(
            select(seats_t.c.staff_id, seats_t.c.kind, seats_t.c.plan_id, seats_t.c.credit_cents).order_by(seats_t.c.id)
        ).all()
    credit = next(c["credit_cents"] for c in plan.extra["seat_credits"] if c["staff"] == "bsmith")
    assert [tuple(s) for s in seats] == [("bsmith", "deactivated", plan.plan_id, credit)]


def test_a_saved_plan_applies_at_most_once(engine: Engine, tmp_path: Path) -> None:
    plan = plan_for(engine, OFFBOARDING)
    apply(engine, plan, tmp_path)
    after = full_state(engine)
    with pytest.raises(StalePlan, match="re-run plan"):
        apply(engine, plan, tmp_path)
    assert full_state(engine) == after


# ---------------------------------------------------------------- stale plans
def test_session_booked_with_the_leaving_professional_makes_the_plan_stale(engine: Engine, tmp_path: Path) -> None:
    plan = plan_for(engine, OFFBOARDING)
    book(engine, "bsmith", "C-1004", dt.datetime(2026, 12, 10, 15, 0))
    before = full_state(engine)
    with pytest.raises(StalePlan) as err:
        apply(engine, plan, tmp_path)
    assert "stale plan" in str(err.value) and "re-run plan" in str(err.value)
    assert full_state(engine) == before


@pytest.mark.parametrize("change", ["booking-with-another-professional", "edit-of-an-unrelated-client"])
def test_unrelated_activity_does_not_make_the_plan_stale(engine: Engine, tmp_path: Path, change: str) -> None:
    plan = plan_for(engine, OFFBOARDING)
    if change == "booking-with-another-professional":
        book(engine, "jdoe", "C-1008", dt.datetime(2026, 12, 10, 15, 0))
    else:
        with engine.begin() as conn:
            conn.execute(clients_t.update().where(clients_t.c.id == "C-1020").values(balance_cents=999))
    apply(engine, plan, tmp_path)
    assert plan_for(engine, OFFBOARDING).actions == ()


def test_plan_without_a_read_scope_is_refused(engine: Engine, tmp_path: Path) -> None:
    plan = dataclasses.replace(plan_for(engine, OFFBOARDING), scope={})
    before = full_state(engine)
    with pytest.raises(PlanRefused, match="re-run plan"):
        apply(engine, plan, tmp_path)
    assert full_state(engine) == before


# ---------------------------------------------------------------- all or nothing
def test_a_failing_write_rolls_everything_back_and_removes_this_applys_export(engine: Engine, tmp_path: Path) -> None:
    plan = plan_for(engine, HANDOVER)
    last = plan.actions[-1]
    assert last.type is ActionType.STAFF_DEACTIVATE
    # A conditional write that cannot match (the plan says cdavis is inactive already).
    broken = dataclasses.replace(last, changes={**last.changes, "active": (False, False)})
    plan = dataclasses.replace(plan, actions=plan.actions[:-1] + (broken,))
    before = full_state(engine)
    with pytest.raises(ApplyFailed, match="staff.deactivate cdavis.*rolled back"):
        apply(engine, plan, tmp_path)
    assert full_state(engine) == before
    assert list((tmp_path / "exports").iterdir()) == []


# ---------------------------------------------------------------- exports
def test_export_is_written_first_mode_0600_with_the_state_before(engine: Engine, tmp_path: Path) -> None:
    plan = plan_for(engine, HANDOVER)
    assert plan.actions[0].type is ActionType.EXPORT_WRITE
    result = apply(engine, plan, tmp_path)
    (path,) = result.exports
    assert path.parent == tmp_path / "exports" and path.name == plan.actions[0].changes["file"][1]
    assert stat.S_IMODE(path.stat().st_mode) == 0o600
    doc = json.loads(path.read_text())
    practitioners = [e["resource"] for e in doc["entry"] if e["resource"]["resourceType"] == "Practitioner"]
    appts = [e["resource"] for e in doc["entry"] if e["resource"]["resourceType"] == "Appointment"]
    # Written before the transfer: cdavis still active, every session still hers.
    assert next(p for p in practitioners if p["id"] == "cdavis")["active"] is True
    booked = [a for a in appts if a["status"] == "booked"]
    assert booked and all(a["participant"][1]["actor"]["identifier"]["value"] == "cdavis" for a in booked)


def test_export_file_exists_before_the_transaction_starts(
    engine: Engine, tmp_path: Path, monkeypatch: pytest.MonkeyPatch
) -> None:
    import reconciler.targets.native.lock as lock

    plan = plan_for(engine, HANDOVER)
    export = tmp_path / "exports" / plan.actions[0].changes["file"][1]
    seen: list[bool] = []
    real = lock.locked_transaction

    def spy(*args: object, **kwargs: object) -> object:
        seen.append(export.exists())
        return real(*args, **kwargs)  # type: ignore[arg-type]

    monkeypatch.setattr(lock, "locked_transaction", spy)
    apply(engine, plan, tmp_path)
    assert seen == [True]


def test_a_stale_plan_with_an_export_writes_no_file(engine: Engine, tmp_path: Path) -> None:
    plan = plan_for(engine, HANDOVER)
    book(engine, "cdavis", "C-1015", dt.datetime(2027, 1, 4, 15, 0))
    with pytest.raises(StalePlan):
        apply(engine, plan, tmp_path)
    assert not (tmp_path / "exports").exists() or not any((tmp_path / "exports").iterdir())


def test_existing_export_file_refuses_the_apply_and_changes_nothing(engine: Engine, tmp_path: Path) -> None:
    plan = plan_for(engine, HANDOVER)
    target = tmp_path / "exports" / plan.actions[0].changes["file"][1]
    target.parent.mkdir()
    target.write_text("an older export")
    before = full_state(engine)
    with pytest.raises(ExportError, match="already exists"):
        apply(engine, plan, tmp_path)
    assert full_state(engine) == before
    assert target.read_text() == "an older export"


# ---------------------------------------------------------------- deletion rules
@pytest.mark.parametrize(
    "actor, confirm, why",
    [
        ("alee", (), "--confirm-delete C-1013"),
        ("alee", ("C-9999",), "--confirm-delete C-1013"),
        ("jdoe", ("C-1013",), "staff jdoe is a clinician with assigned_clients access"),
        ("rbill", ("C-1013",), "staff rbill is a biller"),
        ("tnguyen", ("C-1013",), "staff tnguyen is inactive"),
        ("root", ("C-1013",), "'root' is not a staff id"),
    ],
    ids=["no-confirmation", "other-client-confirmed", "clinician", "biller", "inactive-staff", "not-a-staff-id"],
)
def test_deletion_is_refused_before_any_write(
    engine: Engine, tmp_path: Path, actor: str, confirm: tuple[str, ...], why: str
) -> None:
    plan = plan_for(engine, CLIENTS)
    before = full_state(engine)
    with pytest.raises(PlanRefused) as err:
        apply(engine, plan, tmp_path, actor=actor, confirm=confirm)
    assert why in str(err.value)
    assert full_state(engine) == before
    assert not (tmp_path / "exports").exists() or list((tmp_path / "exports").iterdir()) == []


@pytest.mark.parametrize("actor", ["alee", "pmorgan", "mkhan"], ids=["owner", "practice-manager", "entire-practice"])
def test_authorised_confirmed_deletion_exports_first_then_soft_deletes(
    engine: Engine, tmp_path: Path, actor: str
) -> None:
    plan = plan_for(engine, CLIENTS)
    kinds = [a.type for a in plan.actions]
    assert kinds.index(ActionType.EXPORT_WRITE) < kinds.index(ActionType.CLIENT_DELETE)
    result = apply(engine, plan, tmp_path, actor=actor, confirm=("C-1013",))
    (path,) = result.exports
    doc = json.loads(path.read_text())
    assert [e["resource"]["id"] for e in doc["entry"] if e["resource"]["resourceType"] == "Patient"] == ["C-1013"]
    with engine.connect() as conn:
        row = conn.execute(select(clients_t).where(clients_t.c.id == "C-1013")).one()
    assert (row.status, row.primary_id, row.deleted_at) == ("deleted", None, dt.datetime(2026, 11, 24, 17, 0))


def test_purge_after_30_days_removes_rows_and_the_audit_keeps_ids(engine: Engine, tmp_path: Path) -> None:
    apply(engine, plan_for(engine, CLIENTS), tmp_path, confirm=("C-1013",))
    assert [a.type for a in plan_for(engine, CLIENTS, at="2026-12-20").actions] == []  # 26 days: kept
    purge = plan_for(engine, CLIENTS, at="2026-12-25T12:00:00-05:00")
    assert [(a.type, a.target) for a in purge.actions] == [(ActionType.CLIENT_PURGE, "C-1013")]
    apply(engine, purge, tmp_path)
    with engine.connect() as conn:
        assert conn.execute(select(clients_t.c.id).where(clients_t.c.id == "C-1013")).first() is None
        for table in (appointments_t, series_t):
            assert (
                conn.execute(select(func.count()).select_from(table).where(table.c.client_id == "C-1013")).scalar_one()
                == 0
            )
        targets = (
            conn.execute(select(audit_t.c.action_type).where(audit_t.c.target == "C-1013").order_by(audit_t.c.id))
            .scalars()
            .all()
        )
    assert targets == ["client.delete", "client.purge"] or targets[-2:] == ["client.delete", "client.purge"]
    assert plan_for(engine, CLIENTS, at="2026-12-25T12:00:00-05:00").actions == ()


# ---------------------------------------------------------------- PHI
@pytest.mark.parametrize("config", [OFFBOARDING, HANDOVER, CLIENTS], ids=lambda p: p.name)
def test_audit_trail_and_progress_log_hold_no_client_names(
    engine: Engine, tmp_path: Path, config: Path, capsys: pytest.CaptureFixture[str], monkeypatch: pytest.MonkeyPatch
) -> None:
    import reconciler.progress

    monkeypatch.setattr(reconciler.progress, "bar_wanted", lambda enabled, stream=None: enabled)  # a terminal
    plan = plan_for(engine, config)
    apply_plan(
        NativeTarget(engine),
        plan,
        actor="alee",
        confirm_delete=("C-1013",),
        export_dir=tmp_path / "exports",
        progress=True,
        now=NOW,
    )
    log = capsys.readouterr()
    assert f"Applying {plan.plan_id}" in log.err  # the progress bar was drawn
    events = read_audit(NativeTarget(engine))
    assert events
    for text in (format_audit(events, "text"), format_audit(events, "json"), log.out, log.err):
        assert names_in(text) == []


def test_apply_to_an_uninitialised_database_says_how_to_fix_it(
    engine: Engine, tmp_path: Path, backend: str, request: pytest.FixtureRequest
) -> None:
    from reconciler.errors import DatabaseError
    from reconciler.targets.native.engine import make_engine

    plan = plan_for(engine, OFFBOARDING)
    empty = (
        f"sqlite:///{tmp_path / 'empty.db'}"
        if backend == "sqlite"
        else request.getfixturevalue("pg_server").create_database()
    )
    with pytest.raises(DatabaseError, match="not initialised: run `reconciler db init`"):
        apply(make_engine(empty), plan, tmp_path)

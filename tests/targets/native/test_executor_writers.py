"""The set-based writers (reconciler.targets.native.write): one per action type, conditional on
the state the plan saw, on SQLite and PostgreSQL."""

from __future__ import annotations

import datetime as dt
from typing import Any

import pytest
from sqlalchemy import func, select
from sqlalchemy.engine import Engine

from reconciler.errors import ApplyFailed
from reconciler.model.actions import Action, ActionType
from reconciler.targets.native.schema import appointments_t, clients_t, seats_t, series_t, staff_t
from reconciler.targets.native.write import WRITERS, WriteContext, write_group

AS_OF = "2026-11-24T17:00:00Z"
AS_OF_DT = dt.datetime(2026, 11, 24, 17, 0)  # naive UTC, the storage convention
CTX = WriteContext(
    plan_id="plan-test", as_of=dt.datetime(2026, 11, 24, 17, tzinfo=dt.timezone.utc), seat_credits={"bsmith": 1200}
)
REASON = "Provider is no longer with the practice"


def act(i: int, t: ActionType, target: str, by: str | None = None, /, **changes: tuple[Any, Any]) -> Action:
    """An action by hand; ``by`` is the professional it is grouped under."""
    return Action(id=i, type=t, target=target, staff=by, changes=changes, reason="test")


def row(engine: Engine, table: Any, id_: str) -> Any:
    with engine.connect() as conn:
        return conn.execute(select(table).where(table.c.id == id_)).first()


def run(engine: Engine, actions: list[Action]) -> int:
    with engine.begin() as conn:
        return write_group(conn, actions, CTX)


def test_every_action_type_has_a_writer() -> None:
    assert set(WRITERS) == set(ActionType)


def test_writer_runs_join_consecutive_actions_of_one_writer_on_distinct_rows() -> None:
    from reconciler.targets.native.write import writer_groups

    plan = [
        act(1, ActionType.APPOINTMENT_CANCEL, "A-5"),
        act(2, ActionType.APPOINTMENT_TRANSFER, "A-6"),
        act(3, ActionType.SERIES_END, "S-1"),
        act(4, ActionType.CLIENT_REASSIGN, "C-1"),
        act(5, ActionType.CLIENT_INACTIVATE, "C-2"),
        act(6, ActionType.CLIENT_REASSIGN, "C-3"),
        act(7, ActionType.CLIENT_DELETE, "C-1"),
        act(8, ActionType.STAFF_DEACTIVATE, "bsmith"),
        act(9, ActionType.STAFF_UPDATE, "jdoe"),
    ]
    assert [[a.id for a in run] for run in writer_groups(plan)] == [[1, 2], [3], [4, 5, 6], [7], [8], [9]]


# (action, table, id, expected column values after)
CASES = [
    pytest.param(
        act(
            1,
            ActionType.APPOINTMENT_CANCEL,
            "A-5",
            "bsmith",
            status=("scheduled", "cancelled"),
            cancel_reason=(None, REASON),
        ),
        appointments_t,
        "A-5",
        {"status": "cancelled", "cancel_reason": REASON},
        id="appointment.cancel",
    ),
    pytest.param(
        act(1, ActionType.APPOINTMENT_TRANSFER, "A-5", "bsmith", staff=("bsmith", "jdoe")),
        appointments_t,
        "A-5",
        {"staff_id": "jdoe"},
        id="appointment.transfer",
    ),
    pytest.param(
        act(1, ActionType.SERIES_END, "S-1", "bsmith", active=(True, False), until=(None, AS_OF)),
        series_t,
        "S-1",
        {"active": False, "until": AS_OF_DT},
        id="series.end",
    ),
    pytest.param(
        act(1, ActionType.SERIES_TRANSFER, "S-1", "bsmith", staff=("bsmith", "jdoe")),
        series_t,
        "S-1",
        {"staff_id": "jdoe"},
        id="series.transfer",
    ),
    pytest.param(
        act(1, ActionType.CLIENT_REASSIGN, "C-1002", "bsmith", primary=("bsmith", "mkhan")),
        clients_t,
        "C-1002",
        {"primary_id": "mkhan", "status": "active"},
        id="client.reassign",
    ),
    pytest.param(
        act(
            1,
            ActionType.CLIENT_INACTIVATE,
            "C-1003",
            "bsmith",
            status=("active", "inactive"),
            primary=("bsmith", None),
            portal_access=(True, False),
        ),
        clients_t,
        "C-1003",
        {"status": "inactive", "primary_id": None, "portal_access": False},
        id="client.inactivate",
    ),
    pytest.param(
        act(1, ActionType.CLIENT_REACTIVATE, "C-1030", "mkhan", status=("inactive", "active"), primary=(None, "mkhan")),
        clients_t,
        "C-1030",
        {"status": "active", "primary_id": "mkhan"},
        id="client.reactivate",
    ),
    pytest.param(
        act(
            1,
            ActionType.CLIENT_MARK_DUPLICATE,
            "C-1012",
            "jdoe",
            status=("active", "inactive"),
            duplicate_of=(None, "C-1011"),
            primary=("jdoe", None),
            portal_access=(True, False),
        ),
        clients_t,
        "C-1012",
        {"status": "inactive", "duplicate_of": "C-1011", "primary_id": None},
        id="client.mark_duplicate",
    ),
    pytest.param(
        act(
            1,
            ActionType.CLIENT_DELETE,
            "C-1013",
            "jdoe",
            status=("active", "deleted"),
            deleted_at=(None, AS_OF),
            primary=("jdoe", None),
            portal_access=(False, False),
        ),
        clients_t,
        "C-1013",
        {"status": "deleted", "deleted_at": AS_OF_DT, "primary_id": None},
        id="client.delete",
    ),
    pytest.param(
        act(
            1,
            ActionType.STAFF_UPDATE,
            "jdoe",
            "jdoe",
            role=("clinician", "clinical_director"),
            max_caseload=(40, 50),
            settings=(None, {"messaging_enabled": False}),
        ),
        staff_t,
        "jdoe",
        {"role": "clinical_director", "max_caseload": 50, "settings": {"messaging_enabled": False}},
        id="staff.update",
    ),
    pytest.param(
        act(1, ActionType.STAFF_SCHEDULE_DEACTIVATION, "egarcia", "egarcia", deactivate_on=(None, "2026-12-31")),
        staff_t,
        "egarcia",
        {"deactivate_on": dt.date(2026, 12, 31)},
        id="staff.schedule_deactivation",
    ),
    pytest.param(
        act(1, ActionType.STAFF_DEACTIVATE, "bsmith", "bsmith", active=(True, False), deactivated_at=(None, AS_OF)),
        staff_t,
        "bsmith",
        {"active": False, "deactivated_at": AS_OF_DT},
        id="staff.deactivate",
    ),
    pytest.param(
        act(1, ActionType.STAFF_REACTIVATE, "tnguyen", "tnguyen", active=(False, True), deactivated_at=(None, None)),
        staff_t,
        "tnguyen",
        {"active": True},
        id="staff.reactivate",
    ),
    pytest.param(
        act(
            1,
            ActionType.STAFF_CREATE,
            "nnew",
            "nnew",
            name=(None, "Nia New"),
            role=(None, "clinician"),
            access=(None, "assigned_clients"),
            active=(None, True),
            max_caseload=(None, 30),
        ),
        staff_t,
        "nnew",
        {"name": "Nia New", "role": "clinician", "active": True, "max_caseload": 30},
        id="staff.create",
    ),
]


@pytest.mark.parametrize("action, table, id_, want", CASES)
def test_writer_applies_after_values(
    engine: Engine, action: Action, table: Any, id_: str, want: dict[str, Any]
) -> None:
    assert run(engine, [action]) == 1
    got = row(engine, table, id_)
    assert {k: getattr(got, k) for k in want} == want


STALE = [
    pytest.param(
        act(
            1,
            ActionType.APPOINTMENT_CANCEL,
            "A-1",
            "bsmith",
            status=("scheduled", "cancelled"),
            cancel_reason=(None, REASON),
        ),
        id="cancel-a-session-no-longer-scheduled",
    ),
    pytest.param(
        act(1, ActionType.APPOINTMENT_TRANSFER, "A-5", "bsmith", staff=("jdoe", "cdavis")),
        id="transfer-from-the-wrong-professional",
    ),
    pytest.param(
        act(1, ActionType.CLIENT_REASSIGN, "C-1002", "bsmith", primary=("jdoe", "mkhan")),
        id="reassign-a-client-who-moved",
    ),
    pytest.param(
        act(1, ActionType.STAFF_DEACTIVATE, "tnguyen", "tnguyen", active=(True, False), deactivated_at=(None, AS_OF)),
        id="deactivate-inactive-staff",
    ),
    pytest.param(
        act(1, ActionType.STAFF_UPDATE, "bsmith", "bsmith", settings=({"x": 1}, {"x": 2})), id="json-settings-changed"
    ),
    pytest.param(
        act(
            1,
            ActionType.STAFF_CREATE,
            "bsmith",
            "bsmith",
            name=(None, "B"),
            role=(None, "clinician"),
            access=(None, "assigned_clients"),
            active=(None, True),
        ),
        id="create-existing-staff",
    ),
    pytest.param(
        act(1, ActionType.CLIENT_PURGE, "C-1001", None, deleted_at=(AS_OF, None), exists=(True, False)),
        id="purge-a-client-not-deleted",
    ),
    pytest.param(
        act(1, ActionType.SERIES_END, "S-1", "bsmith", active=(True, False), nickname=(None, "x")), id="unknown-field"
    ),
]


@pytest.mark.parametrize("action", STALE)
def test_writer_refuses_rows_not_as_planned_and_changes_nothing(engine: Engine, action: Action) -> None:
    from reconciler.targets.native.snapshot import dump_snapshot

    before = dump_snapshot(engine, "json")
    with pytest.raises(ApplyFailed) as err:
        run(engine, [action])
    assert action.target in str(err.value)
    assert dump_snapshot(engine, "json") == before


def test_one_stale_row_fails_the_whole_group_and_names_it(engine: Engine) -> None:
    from reconciler.targets.native.snapshot import dump_snapshot

    before = dump_snapshot(engine, "json")
    group = [
        act(
            i,
            ActionType.APPOINTMENT_CANCEL,
            a,
            "bsmith",
            status=("scheduled", "cancelled"),
            cancel_reason=(None, REASON),
        )
        for i, a in enumerate(["A-5", "A-6", "A-1", "A-7"], 1)
    ]
    with pytest.raises(ApplyFailed, match=r"appointment.cancel A-1\b"):
        run(engine, group)
    assert dump_snapshot(engine, "json") == before


def test_group_with_different_changes_uses_one_statement_per_kind(engine: Engine) -> None:
    group = [
        act(1, ActionType.CLIENT_REASSIGN, "C-1002", "bsmith", primary=("bsmith", "mkhan")),
        act(2, ActionType.CLIENT_REASSIGN, "C-1001", "bsmith", primary=("bsmith", "jdoe")),
        act(3, ActionType.CLIENT_REASSIGN, "C-1005", "bsmith", primary=("bsmith", "mkhan")),
    ]
    assert run(engine, group) == 3
    assert [row(engine, clients_t, c).primary_id for c in ("C-1001", "C-1002", "C-1005")] == ["jdoe", "mkhan", "mkhan"]


def test_same_target_twice_in_a_group_is_refused(engine: Engine) -> None:
    a = act(1, ActionType.CLIENT_REASSIGN, "C-1002", "bsmith", primary=("bsmith", "mkhan"))
    with pytest.raises(ApplyFailed, match="twice"):
        run(engine, [a, act(2, a.type, a.target, a.staff, primary=("bsmith", "jdoe"))])


def test_large_groups_are_chunked(engine: Engine, monkeypatch: pytest.MonkeyPatch) -> None:
    import reconciler.targets.native.write as write_mod

    monkeypatch.setattr(write_mod, "CHUNK", 3)
    with engine.connect() as conn:
        ids = list(
            conn.execute(
                select(appointments_t.c.id)
                .where(appointments_t.c.staff_id == "bsmith", appointments_t.c.status == "scheduled")
                .order_by(appointments_t.c.id)
            ).scalars()
        )
    assert len(ids) > 6
    group = [act(i, ActionType.APPOINTMENT_TRANSFER, a, "bsmith", staff=("bsmith", "jdoe")) for i, a in enumerate(ids)]
    assert run(engine, group) == len(ids)
    with engine.connect() as conn:
        left = conn.execute(
            select(func.count())
            .select_from(appointments_t)
            .where(appointments_t.c.staff_id == "bsmith", appointments_t.c.status == "scheduled")
        ).scalar_one()
    assert left == 0


@pytest.mark.parametrize(
    "kind, action",
    [
        (
            "deactivated",
            act(1, ActionType.STAFF_DEACTIVATE, "bsmith", "bsmith", active=(True, False), deactivated_at=(None, AS_OF)),
        ),
        (
            "activated",
            act(
                1, ActionType.STAFF_REACTIVATE, "tnguyen", "tnguyen", active=(False, True), deactivated_at=(None, None)
            ),
        ),
        (
            "activated",
            act(
                1,
                ActionType.STAFF_CREATE,
                "nnew",
                "nnew",
                name=(None, "N"),
                role=(None, "clinician"),
                access=(None, "assigned_clients"),
                active=(None, True),
            ),
        ),
    ],
    ids=["deactivate-releases-a-seat", "reactivate-adds-a-seat", "create-adds-a-seat"],
)
def test_seat_changes_write_seat_events(engine: Engine, kind: str, action: Action) -> None:
    run(engine, [action])
    with engine.connect() as conn:
        events = conn.execute(select(seats_t).order_by(seats_t.c.id)).all()
    assert [(e.staff_id, e.kind, e.at, e.plan_id) for e in events] == [(action.target, kind, AS_OF_DT, "plan-test")]
    assert events[0].credit_cents == (1200 if kind == "deactivated" else None)


def test_purge_removes_client_appointments_and_series(engine: Engine) -> None:
    deleted_at = "2026-10-01T12:00:00Z"
    run(
        engine,
        [
            act(
                1,
                ActionType.CLIENT_DELETE,
                "C-1001",
                "bsmith",
                status=("active", "deleted"),
                deleted_at=(None, deleted_at),
                primary=("bsmith", None),
                portal_access=(False, False),
            )
        ],
    )
    assert (
        run(
            engine,
            [act(2, ActionType.CLIENT_PURGE, "C-1001", None, deleted_at=(deleted_at, None), exists=(True, False))],
        )
        == 1
    )
    with engine.connect() as conn:
        assert (
            conn.execute(
                select(func.count()).select_from(appointments_t).where(appointments_t.c.client_id == "C-1001")
            ).scalar_one()
            == 0
        )
        assert (
            conn.execute(
                select(func.count()).select_from(series_t).where(series_t.c.client_id == "C-1001")
            ).scalar_one()
            == 0
        )
    assert row(engine, clients_t, "C-1001") is None
    assert row(engine, clients_t, "C-1002") is not None

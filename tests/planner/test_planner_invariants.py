"""SPEC §3.6 invariants, §3.8 blast-radius guard, §3.9 drift, seats (pure)."""

from __future__ import annotations

import dataclasses
import datetime as dt
from typing import Any

import pytest
from planner_builders import AT, TZ, appt, client, one, practice, series, steps, world, world_desired

from reconciler.errors import PlanRefused, ValidationFailed
from reconciler.model.actions import Plan
from reconciler.model.actual import ActualState
from reconciler.model.desired import DesiredState
from reconciler.planner import plan
from reconciler.planner.seats import prorated_credit_cents


def P(d: DesiredState, a: ActualState | None = None, **kw: Any) -> Plan:
    kw.setdefault("allow_mass_change", True)
    return plan(d, a if a is not None else world(), AT, **kw)


def failure(d: DesiredState, a: ActualState | None = None) -> ValidationFailed:
    with pytest.raises(ValidationFailed) as exc:
        P(d, a)
    return exc.value


def test_active_client_without_primary_is_an_error_naming_the_clients() -> None:
    err = failure(world_desired(), world(extra_clients=[client("C-U1", None), client("C-U2", None)]))
    assert {p.location.entity for p in err.problems} == {"client C-U1", "client C-U2"}
    assert all("without a primary" in p.message for p in err.problems)


def test_unassigned_client_with_an_entry_is_assigned() -> None:
    p = P(world_desired(clients=[{"id": "C-U1", "primary": "jdoe"}]), world(extra_clients=[client("C-U1", None)]))
    assert steps(p) == [("client.reassign", "C-U1")]


def test_client_explicitly_assigned_to_a_leaving_professional_is_an_error() -> None:
    err = failure(world_desired({"bsmith": {"active": False}}, clients=[{"id": "C-1", "primary": "bsmith"}]))
    assert "client C-1" in str(err) and "bsmith" in str(err)


DRIFT_CASES = [
    (
        "client of an inactive professional, no balance -> inactivated",
        [client("C-T", "tnguyen")],
        [],
        [],
        [("client.inactivate", "C-T")],
    ),
    (
        "client of an inactive professional with balance -> clinical director",
        [client("C-T", "tnguyen", balance_cents=10)],
        [],
        [],
        [("client.reassign", "C-T")],
    ),
    (
        "future session with an inactive professional -> cancelled",
        [],
        [
            appt("A-T", "C-3", "tnguyen", "2026-12-01T15:00:00Z"),
            appt("A-TPAST", "C-3", "tnguyen", "2026-11-01T15:00:00Z"),
        ],
        [],
        [("appointment.cancel", "A-T")],
    ),
    (
        "active series of an inactive professional -> ended",
        [],
        [],
        [series("S-T", "C-3", "tnguyen")],
        [("series.end", "S-T")],
    ),
]


@pytest.mark.parametrize(
    "clients,appts,series_rows,expected", [c[1:] for c in DRIFT_CASES], ids=[c[0] for c in DRIFT_CASES]
)
def test_drift_is_planned_back_and_marked(
    clients: list[Any], appts: list[Any], series_rows: list[Any], expected: list[tuple[str, str]]
) -> None:
    p = P(world_desired(), world(extra_clients=clients, extra_appts=appts, extra_series=series_rows))
    assert steps(p) == expected
    assert all(
        a.drift and a.staff == "tnguyen" and a.reason.startswith("drift: tnguyen is inactive (policy standard)")
        for a in p.actions
    )


def test_drift_with_a_policy_that_needs_an_absent_successor_is_flagged() -> None:
    d = world_desired({"tnguyen": {"offboarding": "handover"}})
    err = failure(d, world(extra_clients=[client("C-T", "tnguyen")]))
    assert "staff tnguyen" in str(err)


def test_max_caseload_is_checked_after_transfers() -> None:
    d = world_desired(
        {"bsmith": {"active": False, "offboarding": "handover", "successor": "jdoe"}, "jdoe": {"max_caseload": 2}}
    )
    err = failure(d)
    assert "staff jdoe would have 3 active clients, above max_caseload 2" in str(err)
    ok = world_desired(
        {"bsmith": {"active": False, "offboarding": "handover", "successor": "jdoe"}, "jdoe": {"max_caseload": 3}}
    )
    assert P(ok).actions


def test_client_plan_limit() -> None:
    a = world(extra_clients=[client("C-IN", None, status="inactive")])
    d = world_desired(clients=[{"id": "C-IN", "status": "active", "primary": "jdoe"}], client_plan_limit=4)
    assert "above the client plan limit 4" in str(failure(d, a))
    assert P(
        world_desired(clients=[{"id": "C-IN", "status": "active", "primary": "jdoe"}], client_plan_limit=5), a
    ).actions


GUARD_CASES = [
    ("one of four clients inactivated (25 %) is refused", {"bsmith": {"active": False}}, {}, True),
    ("bound raised to 30 % passes", {"bsmith": {"active": False}}, {"max_change_percent": 30}, False),
    (
        "two of five staff (40 %) is refused",
        {"bsmith": {"active": False, "offboarding": "keep"}, "cdavis": {"active": False, "offboarding": "keep"}},
        {"max_change_percent": 30},
        True,
    ),
]


@pytest.mark.parametrize(
    "overrides,practice_kw,is_refused", [c[1:] for c in GUARD_CASES], ids=[c[0] for c in GUARD_CASES]
)
def test_blast_radius_guard(overrides: dict[str, Any], practice_kw: dict[str, Any], is_refused: bool) -> None:
    keep = {"name": "keep", "other_clients": "transfer", "clients_with_balance": "clinical_director"}
    d = world_desired(overrides, policies=[keep], **practice_kw)
    d = dataclasses.replace(
        d,
        **{
            "staff": tuple(
                dataclasses.replace(s, **{"successor": "jdoe"}) if s.id in ("bsmith", "cdavis") else s for s in d.staff
            )
        },
    )
    if is_refused:
        with pytest.raises(PlanRefused) as exc:
            P(d, allow_mass_change=False)
        assert "--allow-mass-change" in str(exc.value)
        assert P(d, allow_mass_change=True).actions  # the flag lifts the guard
    else:
        assert P(d, allow_mass_change=False).actions


def test_seats_and_prorated_credit() -> None:
    a = world(practice_row=practice(seat_price_cents=3000, billing_cycle_day=1))
    p = P(world_desired({"bsmith": {"active": False}}), a)
    assert p.seats == {"before": 5, "after": 4}
    deact = one(p, "staff.deactivate", "bsmith")
    # November has 30 days; 2026-11-24 counts, so 7 days remain: 3000 * 7 // 30.
    assert p.extra["seat_credits"] == [{"staff": "bsmith", "action": deact.id, "credit_cents": 700}]


@pytest.mark.parametrize(
    "price,day,at,expected",
    [
        (3000, 1, "2026-11-24T15:00:00+00:00", 700),
        (3000, 1, "2026-11-01T05:00:00+00:00", 3000),  # first day of the cycle (00:00 local)
        (3000, 1, "2026-11-01T03:00:00+00:00", 96),  # still 2026-10-31 in New York: 1 of 31 days
        (3100, 15, "2026-12-20T12:00:00+00:00", 2600),  # cycle Dec 15 - Jan 15 (31 days), 26 remain
        (999, 28, "2026-03-01T12:00:00+00:00", 963),  # cycle Feb 28 - Mar 28 (28 days), 27 remain
    ],
    ids=["mid-cycle", "cycle-start", "timezone-date", "cycle-over-new-year", "short-february"],
)
def test_prorated_credit_cents(price: int, day: int, at: str, expected: int) -> None:
    assert prorated_credit_cents(price, day, dt.datetime.fromisoformat(at), TZ) == expected


def test_plan_is_deterministic_and_ids_follow_dependencies() -> None:
    d = world_desired(
        {"bsmith": {"active": False, "offboarding": "handover", "successor": "jdoe"}},
        clients=[{"id": "C-3", "status": "deleted"}],
    )
    first, second = P(d).dumps(), P(d).dumps()
    assert first == second
    p = P(d)
    assert [a.id for a in p.actions] == list(range(1, len(p.actions) + 1))
    assert all(dep < a.id for a in p.actions for dep in a.depends_on)


def test_plan_records_scope_and_fingerprint() -> None:
    p = P(world_desired({"bsmith": {"active": False}}))
    assert p.scope["now_staff"] == ["bsmith", "tnguyen"]
    assert p.db_fingerprint == world().fingerprint()
    assert p.as_of == "2026-11-24T15:00:00Z"


def test_a_fingerprint_computed_elsewhere_is_recorded_as_given_and_asked_for_once() -> None:
    asked: list[int] = []

    def given() -> str:
        asked.append(1)
        return "sha256:computed-elsewhere"

    d = world_desired({"bsmith": {"active": False}})
    p = P(d, fingerprint=given)
    assert p.db_fingerprint == "sha256:computed-elsewhere" and asked == [1]
    assert P(d, fingerprint=None).db_fingerprint == world().fingerprint()
    assert p.actions == P(d).actions


def test_plan_reports_the_validators_problems_in_its_words() -> None:
    """One validator: plan() reports a config fact with validate's code and wording."""
    from reconciler.planner.validator import check_desired

    d = world_desired({"bsmith": {"active": False, "offboarding": "nope"}, "alee": {"active": False}})
    with pytest.raises(ValidationFailed) as exc:
        plan(d, world(), AT)
    planned = {(p.code, p.message) for p in exc.value.problems}
    validated = {(p.code, p.message) for p in check_desired(d, today=AT.date())}
    assert validated <= planned
    text = "\n".join(m for _, m in planned)
    assert "unknown policy 'nope'" in text and "alee is the practice owner" in text


def test_plan_checks_the_projected_database_too() -> None:
    with pytest.raises(ValidationFailed) as exc:
        plan(world_desired(), world(extra_clients=[client("C-U", None)]), AT, allow_mass_change=True)
    assert [p.location.entity for p in exc.value.problems] == ["client C-U"]
